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
 * Newton steps) is fitted on four numbers in five and judged on the fifth.
 * The model must have a not-a-digit head (digits-train --fit-confidence
 * first), whose layer the score reads.
 */
#ifndef READ_FIT_H
#define READ_FIT_H

#include <stdint.h>

#include "digits.h"
#include "service/reading_whole.h"

#define READ_FIT_TOLERANCE 0.15 /* of the text height: a side this close is the digit's */
#define READ_FIT_PER       60   /* numbers of each length, by default */
#define READ_FIT_SEED      7    /* their seed, by default */

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
	struct reading_whole w;
};

/* Fit the score for model file path on MNIST training digits in data_dir
 * and rewrite path's header atomically with it. */
int read_fit_model_file(const char *path, const char *data_dir, const struct read_fit_opts *o,
                        struct read_fit_report *rep, struct dg_error *err);

#endif
