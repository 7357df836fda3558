/* mpread.h: a bounded msgpack reader for untrusted bytes. A cursor walks a
 * buffer it never owns; every length and count is checked against the bytes
 * remaining (and the caller's maximum) BEFORE the caller can allocate, and
 * containers nest at most max_depth deep. Nothing is allocated here.
 *
 * Usage: psync_mp_init(&mp, buf, len, 16); psync_mp_read_map(&mp, &n, 64);
 * then for each of n entries read a key (psync_mp_read_key) and a value
 * (psync_mp_read_uint, ..., or psync_mp_skip); then psync_mp_end(&mp).
 * Every failure returns a psync_err with a detail giving the byte offset;
 * callers usually prefix it with the field name (psync_mp_wrap). */
#ifndef PSYNC_MPREAD_H
#define PSYNC_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PSYNC_MP_DEPTH_MAX 64 /* hard cap on max_depth */

typedef struct psync_mp {
    const uint8_t *buf;
    size_t len;     /* total bytes */
    size_t pos;     /* next byte to read */
    uint32_t depth; /* containers entered and not yet ended */
    uint32_t max_depth;
} psync_mp;

/* Kinds of msgpack values, as seen by psync_mp_peek. */
typedef enum psync_mp_kind {
    PSYNC_MP_NIL = 1,
    PSYNC_MP_BOOL,
    PSYNC_MP_UINT,  /* positive fixint, uint8..uint64 */
    PSYNC_MP_INT,   /* negative fixint, int8..int64 (any sign) */
    PSYNC_MP_FLOAT, /* float32 or float64 */
    PSYNC_MP_STR,
    PSYNC_MP_BIN,
    PSYNC_MP_ARRAY,
    PSYNC_MP_MAP,
    PSYNC_MP_EXT, /* fixext, ext8..ext32 (timestamps included) */
} psync_mp_kind;

/* Starts a cursor over buf[0..len). max_depth is clamped to
 * PSYNC_MP_DEPTH_MAX; the buffer must outlive the cursor. */
void psync_mp_init(psync_mp *mp, const void *buf, size_t len, uint32_t max_depth);

/* Bytes not yet consumed. */
static inline size_t psync_mp_remaining(const psync_mp *mp)
{
    return mp->len - mp->pos;
}

/* Kind of the next value without consuming it; PSYNC_ETRUNC at the end,
 * PSYNC_EFORMAT for the reserved byte 0xc1. */
psync_err psync_mp_peek(const psync_mp *mp, psync_mp_kind *out);
/* Name of a kind for messages ("str", "map", ...). */
const char *psync_mp_kind_name(psync_mp_kind k);

/* Scalars. Each consumes one value of the expected kind or fails with
 * PSYNC_EFORMAT (wrong kind) / PSYNC_ETRUNC (input ends) without consuming.
 * read_uint accepts any non-negative integer; read_int any integer that
 * fits int64 (a uint64 above INT64_MAX is PSYNC_ELIMIT); read_double
 * accepts float32, float64 and integers (converted). */
psync_err psync_mp_read_nil(psync_mp *mp);
psync_err psync_mp_read_bool(psync_mp *mp, bool *out);
psync_err psync_mp_read_uint(psync_mp *mp, uint64_t *out);
psync_err psync_mp_read_int(psync_mp *mp, int64_t *out);
psync_err psync_mp_read_double(psync_mp *mp, double *out);

/* A str: *s points into the buffer (NOT NUL-terminated), *n its length,
 * already checked to fit in the remaining input. */
psync_err psync_mp_read_str(psync_mp *mp, const char **s, uint32_t *n);
/* A str copied NUL-terminated into dst[cap]: PSYNC_ELIMIT if it has cap or
 * more bytes, PSYNC_EFORMAT if it contains a NUL byte. */
psync_err psync_mp_read_str_copy(psync_mp *mp, char *dst, size_t cap);
/* A map key: same as read_str_copy (keys are short strings). */
psync_err psync_mp_read_key(psync_mp *mp, char *dst, size_t cap);
/* A bin: *p points into the buffer, *n its checked length. */
psync_err psync_mp_read_bin(psync_mp *mp, const uint8_t **p, uint32_t *n);

/* Container headers. *n is the element (array) or pair (map) count, checked
 * against max (PSYNC_ELIMIT) and against the remaining input, since every
 * element needs at least one byte (PSYNC_ETRUNC). Entering a container adds
 * one to the depth (PSYNC_ELIMIT past max_depth); call psync_mp_end after
 * reading its elements. */
psync_err psync_mp_read_array(psync_mp *mp, uint32_t *n, uint32_t max);
psync_err psync_mp_read_map(psync_mp *mp, uint32_t *n, uint32_t max);
/* Leaves the container entered last. */
void psync_mp_end(psync_mp *mp);

/* Skips one complete value of any kind (nested containers included)
 * without recursion, respecting max_depth and the input length. */
psync_err psync_mp_skip(psync_mp *mp);

/* Reading a map of named fields. Each field has a handler that reads its
 * value at the cursor; path is the field's full name for error details
 * ("graph.output"), and the handler should prefix its errors with it. */
typedef psync_err (*psync_mp_field_fn)(psync_mp *mp, void *ctx, const char *path);
typedef struct psync_mp_field {
    const char *key;
    psync_mp_field_fn read;
    bool optional;
} psync_mp_field;

#define PSYNC_MP_FIELDS_MAX 32

/* Reads a map header (at most max entries), then psync_mp_read_fields_body. */
psync_err psync_mp_read_fields(psync_mp *mp, uint32_t max, const psync_mp_field *fields,
                               unsigned nfields, void *ctx, const char *path);
/* Reads n key/value entries of an already-entered map (and ends it): each
 * key must be a str; a known key calls its handler, a repeated known key is
 * PSYNC_EFORMAT, an unknown key's value is skipped (bounded, for forward
 * compatibility); afterwards a missing non-optional field is PSYNC_EFORMAT.
 * nfields <= PSYNC_MP_FIELDS_MAX. */
psync_err psync_mp_read_fields_body(psync_mp *mp, uint32_t n, const psync_mp_field *fields,
                                    unsigned nfields, void *ctx, const char *path);

/* Re-records the current error detail prefixed with a field path
 * ("graph.nodes[3].op: ...") and returns err; PSYNC_OK passes through. */
psync_err psync_mp_wrap(psync_err err, const char *field);

#endif
