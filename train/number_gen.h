/*
 * number_gen.h - pictures of whole numbers written with MNIST digits, made
 * at test time for the reading tests and tests/read_eval (test digits),
 * and for digits-train --fit-reading (training digits, never test ones).
 *
 * A number is 1 to 12 MNIST digits placed
 * left to right on one line: each scaled to a common height with its own
 * size and baseline jitter, the whole line slanted, the gaps between
 * neighbours either apart (a clear gap, from narrow to wide) or touching
 * (ink boxes meeting, or overlapping by up to a tenth of the height, so
 * strokes run into each other); then rendered on paper of uneven light and
 * grain, dark ink on light or (one in six) light on dark, and encoded as
 * PNG or JPEG.  Everything is decided by a 64-bit seed through
 * train/rng.h, so the set is the same bytes on every machine with the same
 * libpng/libjpeg.
 */
#ifndef NUMBER_GEN_H
#define NUMBER_GEN_H

#include <stddef.h>
#include <stdint.h>

#define NUMBER_MAX 12

enum number_gap { NUMBER_APART, NUMBER_TOUCHING };

struct number_opts {
	int ndigits;        /* 1 .. NUMBER_MAX */
	double touching;    /* chance that a gap is touching (0 .. 1) */
	int width, height;  /* of the picture; 0: from the digits' size */
	int clean;          /* 1: no paper effects, PNG, dark on white */
	const double *gaps; /* if set: ndigits - 1 gaps in text heights (< 0 overlaps) */
	const int *broken;  /* if set: per digit, 1 draws it in two pieces */
};

struct number {
	unsigned char *bytes; /* PNG or JPEG, malloc'ed */
	size_t len;
	int width, height, jpeg, inverted;
	char text[NUMBER_MAX + 1];
	enum number_gap gap[NUMBER_MAX]; /* gap[i]: between digit i and i + 1 */
	int box[NUMBER_MAX][4]; /* x, y, w, h of the pixels each digit inks most, at least half */
	int index[NUMBER_MAX];  /* which of the images each digit is */
};

/* Render a number of MNIST test digits (images[n][784], labels[n]) chosen
 * by seed, as o asks.  0, or -1 when out of memory or encoding failed. */
int number_render(const uint8_t *images, const uint8_t *labels, int n, const struct number_opts *o,
                  uint64_t seed, struct number *out);

/* The same with the digits given: index[ndigits] into images. */
int number_render_digits(const uint8_t *images, const uint8_t *labels, const int *index,
                         const struct number_opts *o, uint64_t seed, struct number *out);

void number_free(struct number *nb);

#endif
