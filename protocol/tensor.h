/* tensor.h: dtypes, roles and the tensor descriptor shared by the model, the
 * blob codec, the engine and the wire. A tensor never owns its bytes: they
 * live in its model's payload arena at `offset` (see model.h). */
#ifndef PSYNC_TENSOR_H
#define PSYNC_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PSYNC_MAX_RANK 8
#define PSYNC_NAME_MAX 64 /* including the terminating NUL */
#define PSYNC_ALIGN 64    /* payload and every tensor offset are multiples */

typedef enum psync_dtype {
    PSYNC_DTYPE_F32 = 1,
    PSYNC_DTYPE_F64 = 2,
    PSYNC_DTYPE_I32 = 3,
    PSYNC_DTYPE_I64 = 4,
    PSYNC_DTYPE_U8 = 5,
} psync_dtype;

typedef enum psync_role {
    PSYNC_ROLE_PARAM = 1,  /* trained weight: merged by the daemon */
    PSYNC_ROLE_SLOT = 2,   /* optimizer slot (momentum, adam m/v) of a param */
    PSYNC_ROLE_BUFFER = 3, /* other state (running stats, ...); not trained */
} psync_role;

typedef struct psync_tensor {
    char name[PSYNC_NAME_MAX];
    psync_role role;
    psync_dtype dtype;
    uint32_t rank;
    uint64_t shape[PSYNC_MAX_RANK];
    uint64_t offset; /* byte offset in the payload, multiple of PSYNC_ALIGN */
    uint64_t nbytes; /* elements * dtype size */
    void *data;      /* = payload + offset; valid while the model lives */
} psync_tensor;

/* "f32", "f64", "i32", "i64", "u8"; NULL for an unknown value. */
const char *psync_dtype_name(psync_dtype dt);
/* Parses a dtype name; PSYNC_EDTYPE if unknown. */
psync_err psync_dtype_parse(const char *name, psync_dtype *out);
/* Size of one element in bytes; 0 for an unknown dtype. */
size_t psync_dtype_size(psync_dtype dt);
/* "param", "slot", "buffer"; NULL for an unknown value. */
const char *psync_role_name(psync_role role);
psync_err psync_role_parse(const char *name, psync_role *out);

/* Number of elements (product of the shape; 1 for rank 0). Returns
 * PSYNC_ELIMIT if the product or its byte size overflows 2^62. */
psync_err psync_shape_count(uint32_t rank, const uint64_t *shape, psync_dtype dt, uint64_t *elems,
                            uint64_t *nbytes);

/* Writes a shape as "[3,4]" ("[]" for rank 0) into buf[cap], truncating if
 * needed; returns buf. For messages and printing. */
const char *psync_shape_str(char *buf, size_t cap, uint32_t rank, const uint64_t *shape);

/* Element count of a described tensor (no overflow check: descriptors are
 * validated when created or decoded). */
uint64_t psync_tensor_elems(const psync_tensor *t);

/* Rounds n up to the next multiple of PSYNC_ALIGN. */
static inline uint64_t psync_align_up(uint64_t n)
{
    return (n + (PSYNC_ALIGN - 1)) & ~(uint64_t)(PSYNC_ALIGN - 1);
}

#endif
