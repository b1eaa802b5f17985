/*
 * read_fit.h - digits-train --fit-reading: fit the reader's "this piece is
 * one whole digit" score (src/service/reading_whole.h) for one model file
 * and write it into the file's header (training.reading), weights
 * unchanged.
 *
 * It is fitted on numbers of MNIST *training* digits (train/number_gen.c,
 * never the test digits tests/read_eval measures on): per numbers of each
 * length 1..12, read by the reader with a classifier that records every
 * candidate piece's features and box.  A piece is one whole digit when its
 * box's left and right sides are within READ_FIT_TOLERANCE text heights of
 * one digit's ink box; slices of a digit, two digits, a digit and a scrap
 * are not.  A logistic regression (features standardised, a little L2,
 * Newton steps) is fitted on four numbers in five and judged on the fifth;
 * then its weights are refitted for the choice they make: each number's
 * candidates (the atoms each spans, from image_read_piece) rebuilt into
 * the reader's lattice of segmentations, scored as the reader scores them
 * (log P of the digit + READING_WHOLE_BONUS + READING_WHOLE_WEIGHT x the
 * score), and the log-probability of the true segmentation among them
 * maximised (a CRF; the per-piece fit is where it starts).
 * The model must have a not-a-digit head (digits-train --fit-confidence
 * first), whose layer the score reads.
 */
#ifndef READ_FIT_H
#define READ_FIT_H

#include <stdint.h>

#include "digits.h"
#include "service/reading_whole.h"

#define READ_FIT_TOLERANCE 0.15 /* of the text height: a side this close is the digit's */
#define READ_FIT_PER       120  /* numbers of each length, by default */
#define READ_FIT_SEED      7    /* their seed, by default */
/* The second stage, the score refitted for the choice (full-batch Adam
 * steps, rate, L2 on standardised weights, per number): held-out loss and
 * read_eval on both seeds chose 100 steps at 0.01 with 3e-2 (1e-3 and
 * 1e-2 fit the training numbers' segmentations and lose held-out ones). */
#define READ_FIT_CHOICE_STEPS 100
#define READ_FIT_CHOICE_RATE  0.01
#define READ_FIT_CHOICE_L2    3e-2

struct read_fit_opts {
	int per;       /* numbers of each length 1..12 */
	uint64_t seed; /* of the numbers */
};

/* How the fit went, on the pieces fitted on ([0]) and held out ([1]). */
struct read_fit_report {
	int numbers;
	int pieces[2], whole[2];
	int whole_called_not[2], not_called_whole[2];
	double right[2], log_loss[2]; /* share judged right; mean log-loss */
	/* Of the numbers whose candidates hold the true segmentation: the
	 * mean of log Z - log Z(true) and the share whose best segmentation
	 * is the true one, with the per-piece fit and the final score. */
	double piece_choice_loss[2], piece_choice_right[2];
	double choice_loss[2], choice_right[2];
	struct reading_whole w;
};

/* Fit the score for model file path on MNIST training digits in data_dir
 * and rewrite path's header atomically with it. */
int read_fit_model_file(const char *path, const char *data_dir, const struct read_fit_opts *o,
                        struct read_fit_report *rep, struct dg_error *err);

#endif
