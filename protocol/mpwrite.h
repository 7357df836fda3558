/* mpwrite.h: sinks that let msgpack-c's msgpack_packer write straight into a
 * caller's fixed buffer, only count bytes, or feed an FNV-1a hash, so the
 * same packing code serves encode, exact sizing and hashing. */
#ifndef PSYNC_MPWRITE_H
#define PSYNC_MPWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* A fixed output buffer. buf may be NULL (cap 0) to only count bytes. Once a
 * write does not fit, overflow is set and nothing more is written; len
 * still counts every byte asked for. */
typedef struct psync_mpbuf {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;
    bool hash; /* feed bytes into fnv instead of buf */
    uint64_t fnv;
} psync_mpbuf;

/* Initialises pk to write into b (buf/cap; NULL/0 just counts). */
void psync_mpbuf_packer(msgpack_packer *pk, psync_mpbuf *b, void *buf, size_t cap);
/* Initialises pk to hash every byte written (FNV-1a 64 from the offset
 * basis); the hash is in b->fnv afterwards. */
void psync_mpbuf_hasher(msgpack_packer *pk, psync_mpbuf *b);

/* Packs a NUL-terminated string as a msgpack str. */
void psync_mp_pack_cstr(msgpack_packer *pk, const char *s);

#endif
