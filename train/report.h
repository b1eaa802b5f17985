/*
 * report.h - what a training run leaves behind besides the weights: the
 * "training" metadata stored in the model file, the model card (the same
 * metadata plus wall-clock facts) and two plots drawn with libgd.
 *
 * The model file's metadata holds no wall-clock value (no date, no
 * seconds), so two runs with the same seed and options write byte-identical
 * model files (the weights do not depend on the thread count either; the
 * metadata records it, so only that field then differs); dates and timings
 * go in the card.
 */
#ifndef TRAIN_REPORT_H
#define TRAIN_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "idx.h"
#include "train.h"

struct json_object;

/* Everything known at the end of a run. */
struct report_run {
	const struct train_config *cfg;
	const struct train_state *st;
	const struct nn_graph *g;
	const struct idx_set *train, *test;
	int n_train, n_val;
	struct train_eval val; /* of the chosen parameters; val.n == 0: no validation set */
	struct train_eval test_eval;
	const char *command;    /* canonical command reproducing the run */
	const char *invocation; /* the command line as typed; card only */
	const char *date;       /* UTC ISO-8601; card only */
	double total_seconds;   /* card only */
};

/* The "training" object (new reference).  wallclock adds the date and
 * timings (for the card, never for the model file). */
struct json_object *report_training_json(const struct report_run *r, bool wallclock);

/* The model card: {"format", "model", "file", "n_params", "n_macs",
 * "architecture", "training"} written atomically to path. */
int report_write_card(const char *path, const struct report_run *r, struct dg_error *err);

/* Loss and accuracy per epoch (train and validation), best epoch marked. */
int report_curves_png(const char *path, const struct report_run *r, struct dg_error *err);

/* 10x10 heat map of the test confusion matrix with counts. */
int report_confusion_png(const char *path, const char *title, const struct train_eval *ev,
                         struct dg_error *err);

/* The command line as typed, shell-quoted where needed (malloc'ed; for
 * the card). */
char *report_command_line(int argc, char **argv);
/* The options that determine the result, as a command reproducing it:
 * canonical, so it does not depend on how the run was typed, resumed or
 * where its data and output were (for the model file).  The longest
 * (a model name of NN_NAME_MAX, every number at its widest) is well
 * under REPORT_COMMAND_MAX; a smaller size cuts it. */
#define REPORT_COMMAND_MAX 512
void report_canonical_command(char *buf, size_t size, const struct train_config *c);

/* "accuracy 99.21% (9921/10000), loss 0.0254" and the matrix, as text. */
void report_print_eval(FILE *f, const char *label, const struct train_eval *ev);

#endif
