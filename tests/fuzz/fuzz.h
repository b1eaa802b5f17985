/*
 * fuzz.h - what the libFuzzer harnesses share.
 *
 * Each tests/fuzz/fuzz_<target>.c defines LLVMFuzzerTestOneInput over one of
 * the project's real entry points.  Built with clang -fsanitize=fuzzer it is
 * a libFuzzer program (make fuzz); linked with tests/fuzz/replay.c it is a
 * TAP test that runs the committed corpus and regression files through the
 * same function (make check, with any compiler).
 *
 * A harness must not fail on any input: the entry point's answer (0, or -1
 * with a struct dg_error) is the behaviour under test, and only a crash, a
 * sanitizer report, a leak or a broken promise of the API (checked with
 * fuzz_check) counts as a finding.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A promise the entry point broke: say which, then abort so libFuzzer keeps
 * the input as a crash file and the replay test fails. */
#define fuzz_check(cond, what)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: broken: %s\n", __FILE__, __LINE__, what);          \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The entry points that take a path (model_load, the IDX reader) get the
 * input as an anonymous in-memory file: nothing is written to disk.
 * Returns the descriptor (close it when done) and "/proc/self/fd/N" in
 * path, or -1. */
int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t cap);

#endif
