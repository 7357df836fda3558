/* decode_limits.h: the hard limits applied to everything decoded from untrusted
 * bytes (blobs, wire messages). Counts and lengths read from input are
 * checked against these and against the bytes remaining BEFORE allocating. */
#ifndef PSYNC_LIMITS_H
#define PSYNC_LIMITS_H

#include <stdint.h>

typedef struct psync_limits {
    uint64_t max_blob_bytes;   /* whole blob / model size */
    uint32_t max_tensors;      /* entries in the tensor table */
    uint32_t max_rank;         /* <= PSYNC_MAX_RANK */
    uint64_t max_dim;          /* any one dimension */
    uint32_t max_nodes;        /* graph nodes */
    uint32_t max_depth;        /* msgpack nesting depth */
    uint64_t max_header_bytes; /* msgpack header before the payload */
} psync_limits;

/* Safe defaults: 4 GiB blob, 4096 tensors, rank 8, dim 2^31, 4096 nodes,
 * depth 16, 16 MiB header. */
extern const psync_limits psync_default_limits;

#endif
