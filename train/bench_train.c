/*
 * bench_train.c - make bench: training speed of each zoo network.
 *
 * Times whole training steps (augmentation of the batch, forward, backward,
 * Adam) at batch 64 on 2 OpenMP threads (override: BENCH_THREADS,
 * BENCH_SECONDS), and evaluation throughput, then extrapolates to one epoch
 * of 55000 images (MNIST minus the 5000 held out).  Inputs are synthetic
 * strokes: speed does not depend on the pixel values.  The learning rate
 * is 0 (Adam still does all its arithmetic): learning 64 fixed images
 * would drive the gradients into denormal floats, which are slow and
 * unlike real training.  Prints a table.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "augment.h"
#include "engine/nn.h"
#include "optim.h"
#include "rng.h"

#define BATCH        64
#define EPOCH_IMAGES 55000
#define EVAL_BATCH   250
#define WARMUP_STEPS 3 /* untimed, before the clock starts */
#define MIN_STEPS    10
#define MAX_STEPS    2000

/* A crude digit: a thick random line segment on black. */
static void fake_digit(uint8_t *img, struct train_rng *r)
{
	double x0 = train_rng_range(r, 6, 22), y0 = train_rng_range(r, 4, 10);
	double x1 = train_rng_range(r, 6, 22), y1 = train_rng_range(r, 18, 24);

	memset(img, 0, AUGMENT_PIXELS);
	for (int i = 0; i <= 64; i++) {
		int x = (int)(x0 + (x1 - x0) * i / 64), y = (int)(y0 + (y1 - y0) * i / 64);
		for (int dy = -1; dy <= 1; dy++)
			for (int dx = -1; dx <= 1; dx++)
				img[(y + dy) * AUGMENT_SIDE + x + dx] = 255;
	}
}

/* The synthetic batch every network trains on. */
struct bench_batch {
	struct augment_params aug;
	uint8_t src[BATCH * AUGMENT_PIXELS], labels[BATCH];
	float input[BATCH * AUGMENT_PIXELS];
};

/* Train g on the batch until budget seconds (and MIN_STEPS steps) have
 * passed after WARMUP_STEPS untimed ones, or MAX_STEPS.  Seconds per
 * timed step in *step_s, split into augment, forward, backward, Adam in
 * part[4]; returns the number of timed steps, or -1. */
static int time_steps(const struct nn_graph *g, float *params, struct bench_batch *bb,
                      double budget, double *step_s, double part[4], struct dg_error *err)
{
	float *grads = malloc(g->n_params * sizeof(float));
	struct adam *adam = NULL;
	struct nn_workspace *ws = NULL;
	double t0 = 0, t = 0;
	int steps = 0;

	if (!grads) {
		steps = dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", g->name);
		goto out;
	}
	if (adam_create(&adam, g, 0, err) || nn_workspace_create(&ws, g, BATCH, true, err)) {
		steps = -1;
		goto out;
	}
	for (int s = 0;; s++) {
		double a = dg_seconds(), b, c, d, e;
		float loss;

		if (s == WARMUP_STEPS) {
			t0 = a;
			memset(part, 0, 4 * sizeof(double));
		}
#pragma omp parallel for schedule(static)
		for (int i = 0; i < BATCH; i++)
			augment_image(&bb->aug, bb->src + (size_t)i * AUGMENT_PIXELS,
			              bb->input + (size_t)i * AUGMENT_PIXELS,
			              train_seed3(1, (uint64_t)s, (uint64_t)i));
		memset(grads, 0, g->n_params * sizeof(float));
		nn_workspace_seed(ws, (uint64_t)s);
		b = dg_seconds();
		nn_forward(g, params, ws, bb->input, BATCH);
		c = dg_seconds();
		if (nn_backward(g, params, grads, ws, bb->labels, BATCH, &loss, err)) {
			steps = -1;
			goto out;
		}
		d = dg_seconds();
		adam_step(adam, params, grads, 0.0f);
		e = dg_seconds();
		part[0] += b - a, part[1] += c - b, part[2] += d - c, part[3] += e - d;
		if (s >= WARMUP_STEPS)
			steps++;
		t = e;
		if (s >= WARMUP_STEPS &&
		    ((t - t0 >= budget && steps >= MIN_STEPS) || steps >= MAX_STEPS))
			break;
	}
	*step_s = (t - t0) / steps;
out:
	free(grads);
	adam_free(adam);
	nn_workspace_free(ws);
	return steps;
}

/* Evaluation throughput of g in images per second (budget / 3 seconds of
 * EVAL_BATCH forwards), or -1. */
static double eval_rate(const struct nn_graph *g, const float *params, const uint8_t *src,
                        double budget, struct dg_error *err)
{
	float *in = calloc((size_t)EVAL_BATCH * AUGMENT_PIXELS, sizeof(float));
	struct nn_workspace *ws = NULL;
	double e0, e, rate = -1;
	int evals = 0;

	if (!in) {
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", g->name);
		return -1;
	}
	if (nn_workspace_create(&ws, g, EVAL_BATCH, false, err) == 0) {
		for (int i = 0; i < EVAL_BATCH; i++)
			augment_plain(src + (size_t)(i % BATCH) * AUGMENT_PIXELS,
			              in + (size_t)i * AUGMENT_PIXELS, AUGMENT_PIXELS);
		e0 = dg_seconds();
		do {
			nn_forward(g, params, ws, in, EVAL_BATCH);
			evals++;
			e = dg_seconds();
		} while (e - e0 < budget / 3 && evals < 1000);
		rate = (double)EVAL_BATCH * evals / (e - e0);
	}
	nn_workspace_free(ws);
	free(in);
	return rate;
}

/* One row of the table. */
static int bench_model(const char *name, struct bench_batch *bb, double budget)
{
	struct dg_error err = {0};
	struct nn_graph *g = NULL;
	float *params = NULL;
	double step_s = 0, part[4] = {0}, rate;
	int steps, rc = -1;

	if (nn_zoo_build(&g, name, &err) < 0)
		goto out;
	if (!(params = malloc(g->n_params * sizeof(float)))) {
		dg_fail(&err, DG_ERR_NOMEM, "%s: out of memory", name);
		goto out;
	}
	nn_params_init(g, params, 1);
	if ((steps = time_steps(g, params, bb, budget, &step_s, part, &err)) < 0 ||
	    (rate = eval_rate(g, params, bb->src, budget, &err)) < 0)
		goto out;
	printf("%-8s %8zu %8.2f %6d %8.2f %7.2f %7.2f %7.2f %7.2f %8.0f %8.1f %10.0f\n", g->name,
	       g->n_params, g->n_macs / 1e6, steps, step_s * 1e3, part[0] / steps * 1e3,
	       part[1] / steps * 1e3, part[2] / steps * 1e3, part[3] / steps * 1e3, BATCH / step_s,
	       step_s * ((EPOCH_IMAGES + BATCH - 1) / BATCH), rate);
	fflush(stdout);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench_train: %s\n", err.msg);
	free(params);
	nn_graph_free(g);
	return rc;
}

int main(void)
{
	const char *env = getenv("BENCH_THREADS"), *envs = getenv("BENCH_SECONDS");
	int threads = env ? atoi(env) : 2;
	double budget = envs ? atof(envs) : 3.0;
	struct bench_batch *bb = malloc(sizeof(*bb));
	struct train_rng r;

	if (!bb) {
		fprintf(stderr, "bench_train: out of memory\n");
		return 1;
	}
	if (threads < 1)
		threads = 1;
	omp_set_num_threads(threads);
	augment_defaults(&bb->aug);
	train_rng_init(&r, 42);
	for (int i = 0; i < BATCH; i++) {
		fake_digit(bb->src + (size_t)i * AUGMENT_PIXELS, &r);
		bb->labels[i] = (uint8_t)(i % 10);
	}
	printf("training speed: batch %d, %d threads, augmentation on; epoch = %d images;\n"
	       "augment/forward/backwrd/adam: ms per step; on a busy machine OpenMP\n"
	       "threads wait for each other, so run it on an idle one\n\n",
	       BATCH, threads, EPOCH_IMAGES);
	printf("%-8s %8s %8s %6s %8s %7s %7s %7s %7s %8s %8s %10s\n", "model", "params", "MMAC/img",
	       "steps", "ms/step", "augment", "forward", "backwrd", "adam", "img/s", "s/epoch",
	       "eval img/s");
	for (int k = 0; nn_zoo_names[k]; k++)
		if (bench_model(nn_zoo_names[k], bb, budget) < 0) {
			free(bb);
			return 1;
		}
	free(bb);
	return 0;
}
