/* decode_limits.c: psync's default decode limits (see decode_limits.h). */
#include "decode_limits.h"

#include "tensor.h"

const psync_limits psync_default_limits = {
    .max_blob_bytes = 4ULL << 30,
    .max_tensors = 4096,
    .max_rank = PSYNC_MAX_RANK,
    .max_dim = 1ULL << 31,
    .max_nodes = 4096,
    .max_depth = 16,
    .max_header_bytes = 16ULL << 20,
};
