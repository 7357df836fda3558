/* wire_fuzz.c: fuzzes the wire header decoder (and the chunk check) with
 * arbitrary bytes: the first two bytes (little endian) give the header
 * frame's length, the header follows, the rest is a chunk payload. A header that decodes must
 * re-encode and decode to the same bytes. With -DPSYNC_FUZZ=ON this is a libFuzzer harness;
 * otherwise fuzz_replay.c replays the corpus files given as arguments (tests/fuzz/corpus/wire). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    psync_wire_hdr h, again;
    unsigned char buf[PSYNC_WIRE_MAX_HEADER], buf2[PSYNC_WIRE_MAX_HEADER];
    size_t len, len2;
    if (size < 2) return 0;
    size_t hl = (size_t)data[0] | (size_t)data[1] << 8;
    hl = hl > size - 2 ? size - 2 : hl;
    if (psync_wire_decode(data + 2, hl, &h)) return 0;
    if (psync_wire_encode(&h, buf, sizeof buf, &len) || psync_wire_decode(buf, len, &again) ||
        psync_wire_encode(&again, buf2, sizeof buf2, &len2) || len != len2 ||
        memcmp(buf, buf2, len))
        abort();
    if (psync_wire_msg(h.t)->payload == PSYNC_PL_CHUNK)
        (void)psync_wire_chunk_check(&h, data + 2 + hl, size - 2 - hl, 64, 1u << 20);
    return 0;
}
