/* rng.h: psync's one pseudo-random generator, xoshiro256** over a
 * uint64_t[4] state seeded with splitmix64. The state lives in the model
 * (psync_train_state.rng), so dropout masks, shuffles and initialisation
 * continue bit-exactly when a model is frozen and thawed elsewhere. */
#ifndef PSYNC_RNG_H
#define PSYNC_RNG_H

#include <stdint.h>

/* Fills s from a 64-bit seed with splitmix64 (never the all-zero state). */
void psync_rng_seed(uint64_t s[4], uint64_t seed);
/* Next 64 random bits; advances s. */
uint64_t psync_rng_next(uint64_t s[4]);
/* Uniform float in [0, 1) with 24 random bits; advances s. */
float psync_rng_uniform_f32(uint64_t s[4]);
/* Unbiased uniform integer in [0, n) (rejection sampling); 0 when n == 0. */
uint64_t psync_rng_below(uint64_t s[4], uint64_t n);

#endif
