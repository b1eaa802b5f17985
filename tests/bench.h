/*
 * bench.h - the clock and the sort order the benchmark and evaluation
 * programs share (tests/bench_*.c, tests/photo_gen.c).
 */
#ifndef TESTS_BENCH_H
#define TESTS_BENCH_H

#include "digits.h"

/* Monotonic time in milliseconds: only differences mean anything. */
static inline double bench_now_ms(void)
{
	return dg_seconds() * 1e3;
}

/* qsort order for doubles, ascending (for medians and percentiles). */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#endif
