/* rng.h - xorshift64*, a fixed-seed PRNG for the unit tests' randomized cases, so that
 * every run draws the same values. One state per test program (each includes this once). */
#ifndef SG_TEST_RNG_H
#define SG_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static inline void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

static inline uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static inline size_t rng_below(size_t n)
{
	return (size_t)(rng_next() % n);
}

#endif
