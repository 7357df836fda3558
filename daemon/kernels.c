/* kernels.c: the f32 inner loops of the merge engine. Plain restrict loops
 * the compiler vectorises; callers block them over cache-sized ranges so a
 * merge runs near memory bandwidth. */
#include <string.h>

#include "daemon.h"

/* The default build is -O2, whose cost model skips loops of unknown length. */
#pragma GCC optimize("O3")

void psd_k_scale(float *restrict d, const psd_f32u *restrict x, float a, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        d[i] = a * x[i];
}

void psd_k_axpy(float *restrict d, const psd_f32u *restrict x, float a, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        d[i] += a * x[i];
}

void psd_k_lerp(float *restrict d, const float *restrict c, const psd_f32u *restrict x, float a,
                uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        d[i] = c[i] + a * (x[i] - c[i]);
}

typedef uint32_t psd_u32u __attribute__((aligned(1)));

bool psd_k_finite(const void *x, uint64_t n)
{
    /* NaN and Inf have all exponent bits set; an integer OR-reduction of
     * that test vectorises (a float one would need -ffast-math). */
    const psd_u32u *restrict u = x;
    uint32_t bad = 0;
    for (uint64_t i = 0; i < n; i++)
        bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
    return !bad;
}
