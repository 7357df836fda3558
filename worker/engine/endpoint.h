/* endpoint.h: where a frozen model blob comes from or goes to, without ever
 * touching a temporary file: "-" (stdin/stdout), "fd:N" (an inherited pipe or
 * socket) or "unix:PATH" (connect to a listening Unix socket). Reading also
 * accepts a plain file path (a blob someone saved). */
#ifndef PSYNC_ENDPOINT_H
#define PSYNC_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

/* Reads everything from src until EOF into a new 64-byte-aligned buffer
 * (*buf, free() by the caller). PSYNC_ELIMIT past max bytes, PSYNC_EIO /
 * PSYNC_ENOTFOUND with errno text, PSYNC_EINVAL on a malformed endpoint. */
psync_err psync_endpoint_read(const char *src, uint64_t max, void **buf, size_t *len);

/* Writes len bytes of buf to dst ("-", "fd:N" or "unix:PATH"; plain paths
 * are refused: redirect stdout instead). A unix: connection is closed after
 * the write; "-" and fd: stay open (several blobs go back to back). */
psync_err psync_endpoint_write(const char *dst, const void *buf, size_t len);

/* Thaws a model from src: reads the whole blob and decodes it (the model
 * takes the buffer). Blob errors as psync_blob_decode. *out owned by the
 * caller. */
psync_err psync_model_thaw(const char *src, psync_model **out);

/* Freezes m into one blob and writes it to dst; *len (optional) gets its
 * size. Writes in place from the model's headroom (psync_blob_freeze, no
 * payload copy) when it can, else through one encoded copy. */
psync_err psync_model_freeze(psync_model *m, const char *dst, size_t *len);

#endif
