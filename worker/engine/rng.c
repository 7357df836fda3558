/* rng.c: xoshiro256** (Blackman and Vigna) with splitmix64 seeding. All
 * state is the caller's uint64_t[4]; nothing here is global. */
#include "rng.h"

static uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Seeds s from seed; splitmix64 output is never all zero for 4 words. */
void psync_rng_seed(uint64_t s[4], uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s[i] = rng_splitmix64(&x);
}

/* Returns the next 64-bit output and advances s. */
uint64_t psync_rng_next(uint64_t s[4])
{
    const uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* Returns a float in [0, 1) from the top 24 bits of the next output. */
float psync_rng_uniform_f32(uint64_t s[4])
{
    return (float)(psync_rng_next(s) >> 40) * (1.0f / 16777216.0f);
}

/* Returns an unbiased integer in [0, n): rejects the low 2^64 mod n values
 * so every residue is equally likely. */
uint64_t psync_rng_below(uint64_t s[4], uint64_t n)
{
    if (n == 0) return 0;
    const uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = psync_rng_next(s);
        if (r >= threshold) return r % n;
    }
}
