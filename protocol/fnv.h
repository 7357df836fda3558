/* fnv.h: 64-bit FNV-1a, the one hash behind psync's graph hash and layout
 * hash (docs/blob-format.md defines exactly which bytes are hashed). Stable
 * across processes and hosts: it depends only on the bytes fed in. */
#ifndef PSYNC_FNV_H
#define PSYNC_FNV_H

#include <stddef.h>
#include <stdint.h>

#define PSYNC_FNV_OFFSET 0xcbf29ce484222325ULL
#define PSYNC_FNV_PRIME 0x100000001b3ULL

/* Continues hash h over n bytes at p; start with PSYNC_FNV_OFFSET. */
static inline uint64_t psync_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= PSYNC_FNV_PRIME;
    }
    return h;
}

/* Continues h over v as 8 little-endian bytes. */
static inline uint64_t psync_fnv1a64_u64(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (uint8_t)(v >> (8 * i));
        h *= PSYNC_FNV_PRIME;
    }
    return h;
}

#endif
