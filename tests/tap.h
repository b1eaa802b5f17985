/*
 * tap.h - the Test Anything Protocol for our C tests, header-only.
 *
 *   int main(void) {
 *           ok(1 + 1 == 2, "arithmetic");
 *           is_int(f(), 7, "f gives 7");
 *           return tap_done();      // prints the plan, exit status 1 on failure
 *   }
 *
 * The plan is printed at the end ("1..N"), so tests need not count ahead.
 * DIGITS_REQUIRE_ALL=1 (set by CI) turns every skip into a failure, so a
 * missing dependency cannot make CI green by skipping.
 */
#ifndef TAP_H
#define TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

static inline __attribute__((format(printf, 2, 3))) int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

/* Diagnostics, shown by the TAP driver in the log. */
static inline __attribute__((format(printf, 1, 2))) void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline int tap_require_all(void)
{
	const char *s = getenv("DIGITS_REQUIRE_ALL");

	return s && *s && strcmp(s, "0") != 0;
}

/* Skip n tests with a reason (or fail them when DIGITS_REQUIRE_ALL is set). */
static inline void skip(int n, const char *why)
{
	for (int i = 0; i < n; i++) {
		if (tap_require_all()) {
			printf("not ok %d - required but skipped: %s\n", ++tap_count, why);
			tap_failed++;
		} else {
			printf("ok %d # SKIP %s\n", ++tap_count, why);
		}
	}
	fflush(stdout);
}

#define is_int(got, want, ...)                                                                     \
	do {                                                                                       \
		long long g_ = (got), w_ = (want);                                                 \
		if (!ok(g_ == w_, __VA_ARGS__))                                                    \
			diag("  got %lld, want %lld", g_, w_);                                     \
	} while (0)

#define is_str(got, want, ...)                                                                     \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))                             \
			diag("  got \"%s\", want \"%s\"", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
	} while (0)

#define is_near(got, want, tol, ...)                                                               \
	do {                                                                                       \
		double g_ = (got), w_ = (want);                                                    \
		if (!ok(fabs(g_ - w_) <= (tol), __VA_ARGS__))                                      \
			diag("  got %.9g, want %.9g (tolerance %g)", g_, w_, (double)(tol));       \
	} while (0)

/* Print the plan; the exit status tells make check whether all passed. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
