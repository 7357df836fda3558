/* blob.h: the model blob codec. A blob is ONE contiguous byte string that is
 * a single valid msgpack map (see docs/blob-format.md): header fields, then
 * a padding entry, then the payload as a bin whose first byte sits at a
 * multiple of 64 from the blob start. Decoding is zero-copy: the model's
 * arena points into the blob's payload. */
#ifndef PSYNC_BLOB_H
#define PSYNC_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "decode_limits.h"
#include "model.h"

#define PSYNC_BLOB_FORMAT "psync.model"
#define PSYNC_BLOB_VERSION 1

/* Exact encoded size of m. */
psync_err psync_blob_size(const psync_model *m, size_t *out);

/* Encodes m into buf (cap bytes; buf should be 64-byte aligned for the
 * payload to be aligned in memory). *len receives the size written.
 * PSYNC_ELIMIT if cap is too small. Reuse one buffer across calls to avoid
 * first-touch page faults. */
psync_err psync_blob_encode_into(const psync_model *m, void *buf, size_t cap, size_t *len);

/* Encodes only the bytes of m's blob before its payload (header, pad and
 * the payload's bin32 prefix: *head bytes, a multiple of 64) into buf (cap
 * bytes); the blob is those bytes followed by m->payload_len payload bytes,
 * which are not read. Lets a sender stream the payload from where it lies.
 * PSYNC_ELIMIT if cap is too small or the payload exceeds 4 GiB. */
psync_err psync_blob_encode_head(const psync_model *m, void *buf, size_t cap, size_t *head);

/* Encodes into a new 64-byte-aligned buffer; caller frees *out with free(). */
psync_err psync_blob_encode(const psync_model *m, void **out, size_t *len);

/* Freezes m into one contiguous blob WITHOUT copying the payload: the header
 * is written into the headroom just before m's payload. Never moves the
 * payload (engines keep pointers into it): PSYNC_ELIMIT if the headroom is
 * too small or not the model's to write (a borrowed buffer); then call
 * psync_model_reserve_headroom (which may move it) or use
 * psync_blob_encode. *blob points into m: valid and unchanged until m is next
 * modified, re-frozen or destroyed; never free it. Same bytes as
 * psync_blob_encode. */
psync_err psync_blob_freeze(psync_model *m, const void **blob, size_t *len);

enum {
    PSYNC_DECODE_TAKE = 1u << 0, /* model takes buf (free() on destroy), on success only */
    PSYNC_DECODE_COPY = 1u << 1, /* copy the payload into an owned arena */
};

/* Decodes an untrusted blob. Every count and length is checked against the
 * remaining input and lim (NULL: psync_default_limits) before allocating; the
 * graph is validated; non-finite params are allowed here (see
 * psync_model_check_finite). Zero-copy by default: the model borrows buf,
 * which must outlive it (or use PSYNC_DECODE_TAKE / _COPY). If buf+payload is
 * not aligned for the dtypes the payload is copied. Errors: PSYNC_ETRUNC,
 * PSYNC_EFORMAT, PSYNC_EVERSION, PSYNC_ELIMIT, PSYNC_EDTYPE, PSYNC_ESHAPE,
 * PSYNC_EGRAPH, PSYNC_ENOMEM, each with a detail naming the field. */
psync_err psync_blob_decode(void *buf, size_t len, const psync_limits *lim, unsigned flags,
                            psync_model **out);

/* Locates the payload of a blob without decoding tensors (cheap header
 * walk): offset and length of the payload bin inside buf. */
psync_err psync_blob_payload(const void *buf, size_t len, uint64_t *offset, uint64_t *plen);

#endif
