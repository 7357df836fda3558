/* tensor.c: dtype and role names and sizes, and overflow-checked shape
 * arithmetic for tensor descriptors (see tensor.h). */
#include "tensor.h"

#include <stdio.h>
#include <string.h>

static const char *const tensor_dtype_names[] = {NULL, "f32", "f64", "i32", "i64", "u8"};
static const size_t tensor_dtype_sizes[] = {0, 4, 8, 4, 8, 1};
static const char *const tensor_role_names[] = {NULL, "param", "slot", "buffer"};

#define TENSOR_NDTYPES (sizeof tensor_dtype_names / sizeof tensor_dtype_names[0])
#define TENSOR_NROLES (sizeof tensor_role_names / sizeof tensor_role_names[0])
#define TENSOR_MAX_BYTES (1ULL << 62)

const char *psync_dtype_name(psync_dtype dt)
{
    return (unsigned)dt < TENSOR_NDTYPES ? tensor_dtype_names[dt] : NULL;
}

psync_err psync_dtype_parse(const char *name, psync_dtype *out)
{
    for (unsigned i = 1; i < TENSOR_NDTYPES; i++) {
        if (!strcmp(name, tensor_dtype_names[i])) {
            *out = (psync_dtype)i;
            return PSYNC_OK;
        }
    }
    return psync_fail(PSYNC_EDTYPE, "unknown dtype '%s' (f32, f64, i32, i64 or u8)", name);
}

size_t psync_dtype_size(psync_dtype dt)
{
    return (unsigned)dt < TENSOR_NDTYPES ? tensor_dtype_sizes[dt] : 0;
}

const char *psync_role_name(psync_role role)
{
    return (unsigned)role < TENSOR_NROLES ? tensor_role_names[role] : NULL;
}

psync_err psync_role_parse(const char *name, psync_role *out)
{
    for (unsigned i = 1; i < TENSOR_NROLES; i++) {
        if (!strcmp(name, tensor_role_names[i])) {
            *out = (psync_role)i;
            return PSYNC_OK;
        }
    }
    return psync_fail(PSYNC_EFORMAT, "unknown role '%s' (param, slot or buffer)", name);
}

psync_err psync_shape_count(uint32_t rank, const uint64_t *shape, psync_dtype dt, uint64_t *elems,
                            uint64_t *nbytes)
{
    size_t size = psync_dtype_size(dt);
    if (!size) return psync_fail(PSYNC_EDTYPE, "unknown dtype %d", (int)dt);
    if (rank > PSYNC_MAX_RANK)
        return psync_fail(PSYNC_ELIMIT, "rank %u exceeds %d", rank, PSYNC_MAX_RANK);
    uint64_t n = 1;
    for (uint32_t i = 0; i < rank; i++) {
        if (shape[i] && n > TENSOR_MAX_BYTES / shape[i])
            return psync_fail(PSYNC_ELIMIT, "shape product overflows at dimension %u", i);
        n *= shape[i];
    }
    if (n > TENSOR_MAX_BYTES / size)
        return psync_fail(PSYNC_ELIMIT, "tensor of %llu elements is too large",
                          (unsigned long long)n);
    if (elems) *elems = n;
    if (nbytes) *nbytes = n * size;
    return PSYNC_OK;
}

uint64_t psync_tensor_elems(const psync_tensor *t)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->rank && i < PSYNC_MAX_RANK; i++)
        n *= t->shape[i];
    return n;
}

const char *psync_shape_str(char *buf, size_t cap, uint32_t rank, const uint64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < rank && i < PSYNC_MAX_RANK && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", i ? "," : "",
                              (unsigned long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}
