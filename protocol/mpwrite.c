/* mpwrite.c: msgpack_packer write callbacks for a fixed buffer, a byte
 * counter and an FNV-1a hash (see mpwrite.h). */
#include "mpwrite.h"

#include <string.h>

#include "fnv.h"

static int mpbuf_write(void *data, const char *p, size_t n)
{
    psync_mpbuf *b = data;
    if (b->hash) {
        b->fnv = psync_fnv1a64(b->fnv, p, n);
    } else if (b->buf && !b->overflow) {
        if (n > b->cap - b->len)
            b->overflow = true;
        else if (n)
            memcpy(b->buf + b->len, p, n);
    }
    b->len += n;
    return 0;
}

void psync_mpbuf_packer(msgpack_packer *pk, psync_mpbuf *b, void *buf, size_t cap)
{
    memset(b, 0, sizeof *b);
    b->buf = buf;
    b->cap = buf ? cap : 0;
    msgpack_packer_init(pk, b, mpbuf_write);
}

void psync_mpbuf_hasher(msgpack_packer *pk, psync_mpbuf *b)
{
    memset(b, 0, sizeof *b);
    b->hash = true;
    b->fnv = PSYNC_FNV_OFFSET;
    msgpack_packer_init(pk, b, mpbuf_write);
}

void psync_mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}
