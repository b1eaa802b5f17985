/*
 * image_read.h - a line of handwritten digits read as a number.
 *
 * The ink is found as image_to_mnist finds it (polarity, paper, stretch,
 * ruled lines); then it is over-segmented into atoms (connected pieces,
 * pieces that overlap horizontally merged, wide pieces cut at columns
 * where the vertical ink profile is low and at even spacings), and the
 * segmentation chosen is the run of atoms per digit whose pieces the
 * classifier reads most confidently: dynamic programming over the cut
 * points maximising the summed log-probability of each piece's best digit
 * plus a prior on its width and height.  Each piece is normalised exactly
 * as a single upload is (image_box_to_mnist: longer side 20, centre of
 * mass in 28x28), and all candidate pieces go through the classifier in
 * batches.
 *
 * The image module knows no model: the caller hands in a classifier.
 */
#ifndef IMAGE_READ_H
#define IMAGE_READ_H

#include "image.h"

/* The most digits an answer holds, and the most atoms looked at. */
#define IMAGE_READ_MAX_DIGITS 32
#define IMAGE_READ_MAX_ATOMS  96

/* Classify n 28x28 pictures (n <= max_batch): probs gets n x n_classes.
 * Returns 0 or -1 with err filled. */
typedef int (*image_classify_fn)(void *ctx, const float *pixels, int n, float *probs,
                                 struct dg_error *err);

struct image_reader {
	image_classify_fn classify;
	void *ctx;
	int n_classes; /* 10, or more: digits are the first 10 */
	int max_batch;
	/* When set, classify fills n_classes + 1 values per picture: the
	 * probabilities, then how likely the picture is a digit at all (a
	 * not-a-digit score); the slice of a digit is not one, which is what
	 * the probabilities alone cannot say. */
	int with_digitness;
};

struct image_read_digit {
	int digit;
	int x, y, w, h;             /* box in the picture's pixels (after EXIF rotation) */
	float probs[16];            /* the classifier's, first n_classes */
	float pixels[IMAGE_PIXELS]; /* what the classifier saw */
};

struct image_read_result {
	int n;
	struct image_read_digit digit[IMAGE_READ_MAX_DIGITS];
	int pieces; /* candidate pieces classified */
	int atoms;  /* after over-segmentation */
};

/* Decode data (as image_to_mnist does, same limits and errors) and read
 * the number in it into *res (caller-owned; large, keep it off small
 * stacks).  info may be NULL.  Errors: those of image_to_mnist; EMPTY when
 * no ink; INVALID when more than IMAGE_READ_MAX_ATOMS pieces or
 * IMAGE_READ_MAX_DIGITS digits; the classifier's. */
int image_read(const void *data, size_t len, const struct image_limits *lim,
               const struct image_reader *rd, struct image_read_result *res,
               struct image_info *info, struct dg_error *err);

/* The same from luminance lum[h][w] (0 = black, any polarity) in memory;
 * boxes in lum's pixels scaled by sx, sy. */
int image_read_luminance(const float *lum, int w, int h, double sx, double sy,
                         const struct image_reader *rd, struct image_read_result *res,
                         int *inverted, struct dg_error *err);

#endif
