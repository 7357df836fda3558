/* blob_fuzz.c: fuzzes the blob decoder with arbitrary bytes. With
 * -DPSYNC_FUZZ=ON it is a libFuzzer harness; otherwise fuzz_replay.c replays
 * every file of the corpus directories/files given as arguments as a test.
 * A successful decode must re-encode and decode again to the same layout. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "mpread.h"

/* Checks the invariants of a model that decoded successfully. */
static void fuzz_roundtrip(const psync_model *m)
{
    size_t size = 0, len = 0;
    if (psync_blob_size(m, &size)) abort();
    void *buf = NULL;
    if (posix_memalign(&buf, PSYNC_ALIGN, size ? size : 1)) return;
    psync_model *again = NULL;
    if (psync_blob_encode_into(m, buf, size, &len) || len != size ||
        psync_blob_decode(buf, len, NULL, 0, &again) ||
        psync_model_layout_hash(again) != psync_model_layout_hash(m) ||
        again->payload_len != m->payload_len ||
        (m->payload_len && memcmp(again->payload, m->payload, m->payload_len)))
        abort();
    psync_model_destroy(&again);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = NULL;
    if (posix_memalign(&buf, PSYNC_ALIGN, size ? size : 1)) return 0;
    if (size) memcpy(buf, data, size);
    psync_mp mp;
    psync_mp_init(&mp, buf, size, 16);
    (void)psync_mp_skip(&mp);
    uint64_t off, plen;
    (void)psync_blob_payload(buf, size, &off, &plen);
    psync_model *m = NULL;
    if (!psync_blob_decode(buf, size, NULL, 0, &m)) {
        (void)psync_model_check_finite(m, ~0u);
        fuzz_roundtrip(m);
        psync_model_destroy(&m);
    }
    free(buf);
    return 0;
}
