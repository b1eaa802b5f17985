/*
 * rng.h - the trainer's random numbers: small, seeded, and addressable.
 *
 * Every random choice the trainer makes (the shuffle of an epoch, the
 * distortion of one image, the dropout masks of one step) draws from a
 * generator seeded by hashing (run seed, what, which), never from a stream
 * shared between threads.  So the result does not depend on how OpenMP
 * schedules the work, and a resumed run can recreate any generator from its
 * coordinates alone.
 */
#ifndef TRAIN_RNG_H
#define TRAIN_RNG_H

#include <stdint.h>

struct train_rng {
	uint64_t state;
};

/* SplitMix64 (Steele, Lea, Flood 2014): one step, a good 64-bit mixer. */
static inline uint64_t train_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A seed for the generator at coordinates (seed, a, b). */
static inline uint64_t train_seed3(uint64_t seed, uint64_t a, uint64_t b)
{
	return train_mix64(train_mix64(train_mix64(seed) ^ a) ^ b);
}

static inline void train_rng_init(struct train_rng *r, uint64_t seed)
{
	r->state = seed;
}

static inline uint64_t train_rng_next(struct train_rng *r)
{
	r->state += 0x9e3779b97f4a7c15ull;
	uint64_t z = r->state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1), 53 bits. */
static inline double train_rng_uniform(struct train_rng *r)
{
	return (double)(train_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [lo, hi). */
static inline double train_rng_range(struct train_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * train_rng_uniform(r);
}

/* Uniform integer in [0, n), n > 0; Lemire's multiply-shift, bias < 2^-32
 * for the sizes we use (n <= 60000). */
static inline uint32_t train_rng_below(struct train_rng *r, uint32_t n)
{
	return (uint32_t)(((train_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

#endif
