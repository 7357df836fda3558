/* kernels.c: the f32 inner loops of the merge engine. Plain restrict loops
 * the compiler vectorises; callers block them over cache-sized ranges so a
 * merge runs near memory bandwidth. */
#include <string.h>

#include "daemon.h"
#include "kernels.h"

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

uint32_t psd_k_average(float *restrict d, const psd_f32u *const *x, const float *w, uint32_t nx,
                       uint64_t n, uint64_t block, uint32_t crc, bool *finite, uint32_t *xcrc)
{
    block = block ? block : PSD_K_BLOCK_FLOATS;
    for (uint64_t b = 0; b < n && nx; b += block) {
        uint64_t m = n - b < block ? n - b : block;
        psd_k_scale(d + b, x[0] + b, w[0], m);
        if (xcrc) xcrc[0] = psync_wire_crc_update(xcrc[0], x[0] + b, m * 4);
        for (uint32_t i = 1; i < nx; i++) {
            psd_k_axpy(d + b, x[i] + b, w[i], m);
            if (xcrc) xcrc[i] = psync_wire_crc_update(xcrc[i], x[i] + b, m * 4);
        }
        crc = psync_wire_crc_finite(crc, d + b, m * 4, finite); /* the block is in L1 */
    }
    return crc;
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
