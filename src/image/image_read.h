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
 * plus the classifier's score that the piece is one whole digit (or,
 * without one, hand-set priors on its width, height and cuts).  A piece is
 * a run of up to 8 atoms, or a whole group however wide; it keeps only its
 * own ink, less a neighbour's scraps at its cut sides, and is normalised
 * exactly as a single upload is (image_box_to_mnist: longer side 20,
 * centre of mass in 28x28); all candidate pieces go through the
 * classifier in batches.
 *
 * The image module knows no model: the caller hands in a classifier.
 */
#ifndef IMAGE_READ_H
#define IMAGE_READ_H

#include "image.h"

/* The most digits an answer holds, and the most atoms looked at. */
#define IMAGE_READ_MAX_DIGITS 32
#define IMAGE_READ_MAX_ATOMS  96

/*
 * What the reader knows of a candidate piece besides its picture, for a
 * learned "this piece is one whole digit" score: its ink box in the
 * picture's pixels, and its shape in units of the text height H:
 *   0 width / H, 1 height / H, 2 width / height, 3 (width / H)^2,
 *   4, 5 ink the cut on its left, right goes through, in stroke widths
 *        (0 at a gap), 6, 7 whether its left, right side is a cut,
 *   8 atoms in it, 9 groups of ink in it less one, 10 the widest gap
 *   between its groups / H, 11 its middle's height over the line's middle
 *   / H.
 */
#define IMAGE_READ_SHAPE 12

struct image_read_piece {
	int x, y, w, h;
	float shape[IMAGE_READ_SHAPE];
	/* The atoms [first, end) it spans, left to right over the line:
	 * pieces come in order of first, then end, so a fit can rebuild the
	 * choice's lattice of segmentations. */
	int first, end;
};

/* Classify n 28x28 pictures (n <= max_batch) of the pieces described by
 * piece[n]: out gets n x n_classes probabilities, or n x (n_classes + 1)
 * values with_piece_score.  Returns 0 or -1 with err filled. */
typedef int (*image_classify_fn)(void *ctx, const float *pixels,
                                 const struct image_read_piece *piece, int n, float *out,
                                 struct dg_error *err);

struct image_reader {
	image_classify_fn classify;
	void *ctx;
	int n_classes; /* 10, or more: digits are the first 10 */
	int max_batch;
	/* When set, classify fills n_classes + 1 values per piece: the
	 * probabilities, then a log-probability that the piece is one whole
	 * digit (0 when it cannot say), added to the piece's score: the
	 * slice of a wide digit and two digits together are not one, which
	 * is what the probabilities alone cannot say. */
	int with_piece_score;
	/* When set, the reader leaves out its own hand-set priors (pieces
	 * too wide, too low, narrow but no 1, cutting through ink): for a
	 * piece score that has learnt them. */
	int no_priors;
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
