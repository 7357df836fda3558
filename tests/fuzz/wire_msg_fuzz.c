/* wire_msg_fuzz.c: per-message-type fuzzing of the wire codec. The first
 * byte picks the message type (every type of messages.def in turn), the
 * next bytes fill that type's header fields (numbers, bools, strings of
 * any length and content); a header that encodes must decode and encode to
 * the same bytes, and the encoded header, XOR-ed with the remaining input,
 * must decode or be refused without harm. Complements wire_fuzz (raw bytes
 * into the decoder). libFuzzer with -DPSYNC_FUZZ=ON, else fuzz_replay.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

typedef struct wm_in {
    const uint8_t *p;
    size_t n;
} wm_in;

static uint8_t wm_byte(wm_in *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static uint64_t wm_u64(wm_in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)wm_byte(in) << (8 * i);
    return v;
}

static void wm_str(wm_in *in, char *dst, size_t hi)
{
    size_t len = wm_byte(in) % (hi + 1);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = wm_byte(in);
        dst[i] = (char)(c ? c : 'x'); /* NUL ends a C string; the rest any byte */
    }
    dst[len] = 0;
}

#define WM_FILL_U64(id, hi) h.id = wm_u64(&in);
#define WM_FILL_I64(id, hi) h.id = (int64_t)wm_u64(&in);
#define WM_FILL_F64(id, hi)                                                                        \
    {                                                                                              \
        uint64_t b = wm_u64(&in);                                                                  \
        memcpy(&h.id, &b, sizeof b);                                                               \
    }
#define WM_FILL_BOOL(id, hi) h.id = wm_byte(&in) & 1;
#define WM_FILL_STR(id, hi) wm_str(&in, h.id, hi);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wm_in in = {data, size};
    psync_wire_hdr h, again;
    unsigned char buf[PSYNC_WIRE_MAX_HEADER], buf2[PSYNC_WIRE_MAX_HEADER];
    size_t len = 0, len2 = 0;
    psync_wire_init(&h, (psync_msg_type)(1 + wm_byte(&in) % (PSYNC_MSG_COUNT_ - 1)), wm_u64(&in));
#define PSYNC_WIRE_FIELD(id, kind, lo, hi, doc) WM_FILL_##kind(id, hi)
#include "messages.def"
#undef PSYNC_WIRE_FIELD
    if (psync_wire_encode(&h, buf, sizeof buf, &len)) return 0; /* out of bounds: never sent */
    if (psync_wire_decode(buf, len, &again) ||
        psync_wire_encode(&again, buf2, sizeof buf2, &len2) || len2 != len ||
        memcmp(buf, buf2, len))
        abort();
    for (size_t i = 0; i < len && in.n; i++)
        buf[i] ^= wm_byte(&in);
    (void)psync_wire_decode(buf, len, &again);
    return 0;
}
