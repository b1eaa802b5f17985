/*
 * train.h - the training run: its configuration, its state, and the loop.
 *
 * The state is everything a run needs to continue: the parameters, the
 * best parameters so far, the Adam moments, how many steps and epochs are
 * done and the running sums of the epoch in progress.  Every random choice
 * is derived from (seed, epoch, step, image index) (see rng.h), so saving
 * this state and loading it again gives the same model, bit for bit, as a
 * run that was never interrupted, whatever the thread count of either (the
 * engine's results do not depend on it; only the header records it).
 *
 * Data: images [0, n_train) of the training file are trained on, the
 * following n_val are held out for choosing the best epoch.
 */
#ifndef TRAIN_TRAIN_H
#define TRAIN_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "augment.h"
#include "digits.h"
#include "idx.h"
#include "engine/nn.h"
#include "optim.h"

#define TRAIN_CLASSES     10
#define TRAIN_MAX_EPOCHS  10000
#define TRAIN_MAX_BATCH   4096     /* images per step */
#define TRAIN_MAX_IMAGES  10000000 /* --val, --limit */
#define TRAIN_MAX_THREADS 1024
#define TRAIN_MAX_WARMUP  100000000 /* steps */

struct train_config {
	char model[NN_NAME_MAX]; /* zoo name: cnn, lenet5, mlp */
	int epochs, batch, threads;
	double lr, weight_decay;
	enum optim_schedule schedule;
	long warmup_steps; /* -1: automatic (see train_warmup_steps) */
	uint64_t seed;
	int val;   /* held-out images */
	int limit; /* training images used, validation included; 0 = all */
	bool augment;
	struct augment_params aug;
	char out[4096]; /* model file; the checkpoint is <out>.ckpt */
	/* Not part of a checkpoint: how this process reports and stops. */
	bool quiet;
	long stop_after; /* > 0: checkpoint and stop after this many steps */
};

struct train_epoch {
	double train_loss, train_acc; /* over the epoch's (augmented) batches */
	double val_loss, val_acc;     /* 0 when there is no validation set */
	double lr;                    /* at the epoch's last step */
	double seconds;               /* wall clock: reports only, never the model file */
};

struct train_eval {
	int n, correct;
	double loss;                                 /* mean cross-entropy */
	int confusion[TRAIN_CLASSES][TRAIN_CLASSES]; /* [true][predicted] */
};

struct train_state {
	int epoch;       /* epochs completed */
	long step;       /* optimiser steps taken */
	double loss_sum; /* the epoch in progress: summed batch loss x images */
	long correct, seen;
	double seconds; /* wall clock spent in the epoch in progress */
	int best_epoch; /* 1-based; 0 before the first epoch ends */
	double best_val_acc, best_val_loss;
	struct train_epoch *history; /* cfg->epochs entries, epoch of them valid */
	float *params, *best;        /* n_params each */
	struct adam *adam;
};

/* Fresh state: parameters initialised from cfg->seed. */
int train_state_init(struct train_state *st, const struct train_config *cfg,
                     const struct nn_graph *g, struct dg_error *err);
void train_state_free(struct train_state *st);

long train_steps_per_epoch(const struct train_config *cfg, int n_train);
/* cfg->warmup_steps (at most total_steps), or when it is -1 the automatic
 * warm-up: total_steps / TRAIN_WARMUP_DIVISOR, at most TRAIN_WARMUP_MAX. */
#define TRAIN_WARMUP_DIVISOR 20 /* 5 % of the steps */
#define TRAIN_WARMUP_MAX     1000
long train_warmup_steps(const struct train_config *cfg, long total_steps);

/* Train until cfg->epochs are done (returns 0) or *stop is set / the
 * --stop-after step is reached (checkpoint written to <out>.ckpt, returns
 * 1).  A checkpoint is also written after every epoch.  -1 on error. */
int train_run(const struct train_config *cfg, const struct nn_graph *g, struct train_state *st,
              const struct idx_set *data, int n_train, int n_val, volatile sig_atomic_t *stop,
              struct dg_error *err);

/* Accuracy, loss and confusion matrix of params on n images (no
 * augmentation, no dropout). */
int train_evaluate(const struct nn_graph *g, const float *params, const uint8_t *pixels,
                   const uint8_t *labels, int n, struct train_eval *ev, struct dg_error *err);

/* Checkpoint: config, state and arrays, written atomically; CRC-checked on
 * load.  Loading fills *cfg (except quiet, stop_after) and *st; the graph
 * must be the one the checkpoint names (checked). */
int train_checkpoint_save(const char *path, const struct train_config *cfg,
                          const struct nn_graph *g, const struct train_state *st,
                          struct dg_error *err);
int train_checkpoint_read_config(const char *path, struct train_config *cfg, struct dg_error *err);
int train_checkpoint_load(const char *path, const struct train_config *cfg,
                          const struct nn_graph *g, struct train_state *st, struct dg_error *err);

/* "<out>.ckpt", malloc'ed; NULL when out of memory. */
char *train_checkpoint_path(const char *out);

/* Write len bytes to path atomically: temp file, fsync, rename. */
int train_write_atomic(const char *path, const void *data, size_t len, struct dg_error *err);

#endif
