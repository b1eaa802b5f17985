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

int main(void)
{
	const char *env = getenv("BENCH_THREADS"), *envs = getenv("BENCH_SECONDS");
	int threads = env ? atoi(env) : 2;
	double budget = envs ? atof(envs) : 3.0;
	struct augment_params aug;
	struct train_rng r;
	uint8_t *src = malloc((size_t)BATCH * AUGMENT_PIXELS), labels[BATCH];
	float *input = malloc((size_t)BATCH * AUGMENT_PIXELS * sizeof(float));

	if (threads < 1)
		threads = 1;
	omp_set_num_threads(threads);
	augment_defaults(&aug);
	train_rng_init(&r, 42);
	for (int i = 0; i < BATCH; i++) {
		fake_digit(src + (size_t)i * AUGMENT_PIXELS, &r);
		labels[i] = (uint8_t)(i % 10);
	}
	printf("training speed: batch %d, %d threads, augmentation on; epoch = %d images;\n"
	       "augment/forward/backwrd/adam: ms per step; on a busy machine OpenMP\n"
	       "threads wait for each other, so run it on an idle one\n\n",
	       BATCH, threads, EPOCH_IMAGES);
	printf("%-8s %8s %8s %6s %8s %7s %7s %7s %7s %8s %8s %10s\n", "model", "params", "MMAC/img",
	       "steps", "ms/step", "augment", "forward", "backwrd", "adam", "img/s", "s/epoch",
	       "eval img/s");
	for (int k = 0; nn_zoo_names[k]; k++) {
		struct dg_error err = {0};
		struct nn_graph *g;
		if (nn_zoo_build(&g, nn_zoo_names[k], &err) < 0) {
			fprintf(stderr, "bench_train: %s\n", err.msg);
			return 1;
		}
		float *params = malloc(g->n_params * sizeof(float));
		float *grads = malloc(g->n_params * sizeof(float));
		struct adam *adam = adam_create(g, 0);
		struct nn_workspace *ws, *ev = NULL;
		float *evin = calloc((size_t)250 * AUGMENT_PIXELS, sizeof(float));
		if (nn_workspace_create(&ws, g, BATCH, true, &err) ||
		    nn_workspace_create(&ev, g, 250, false, &err)) {
			fprintf(stderr, "bench_train: %s\n", err.msg);
			return 1;
		}
		if (!params || !grads || !adam || !evin) {
			fprintf(stderr, "bench_train: out of memory\n");
			return 1;
		}
		nn_params_init(g, params, 1);
		int steps = 0;
		double t0 = 0, t = 0, part[4] = {0}; /* augment, forward, backward, adam */
		for (int s = 0;; s++) {
			double a = dg_seconds(), b, c, d, e;
			if (s == 3) {
				t0 = a; /* after warm-up */
				memset(part, 0, sizeof(part));
			}
#pragma omp parallel for schedule(static)
			for (int i = 0; i < BATCH; i++)
				augment_image(&aug, src + (size_t)i * AUGMENT_PIXELS,
				              input + (size_t)i * AUGMENT_PIXELS,
				              train_seed3(1, (uint64_t)s, (uint64_t)i));
			memset(grads, 0, g->n_params * sizeof(float));
			nn_workspace_seed(ws, (uint64_t)s);
			b = dg_seconds();
			nn_forward(g, params, ws, input, BATCH);
			c = dg_seconds();
			float loss;
			if (nn_backward(g, params, grads, ws, labels, BATCH, &loss, &err)) {
				fprintf(stderr, "bench_train: %s\n", err.msg);
				return 1;
			}
			d = dg_seconds();
			adam_step(adam, params, grads, 0.0f);
			e = dg_seconds();
			part[0] += b - a, part[1] += c - b, part[2] += d - c, part[3] += e - d;
			if (s >= 3)
				steps++;
			t = e;
			if (s >= 3 && ((t - t0 >= budget && steps >= 10) || steps >= 2000))
				break;
		}
		double step_s = (t - t0) / steps;
		for (int i = 0; i < 250; i++)
			augment_plain(src + (size_t)(i % BATCH) * AUGMENT_PIXELS,
			              evin + (size_t)i * AUGMENT_PIXELS, AUGMENT_PIXELS);
		int evals = 0;
		double e0 = dg_seconds(), e;
		do {
			nn_forward(g, params, ev, evin, 250);
			evals++;
			e = dg_seconds();
		} while (e - e0 < budget / 3 && evals < 1000);
		printf("%-8s %8zu %8.2f %6d %8.2f %7.2f %7.2f %7.2f %7.2f %8.0f %8.1f %10.0f\n",
		       g->name, g->n_params, g->n_macs / 1e6, steps, step_s * 1e3,
		       part[0] / steps * 1e3, part[1] / steps * 1e3, part[2] / steps * 1e3,
		       part[3] / steps * 1e3, BATCH / step_s,
		       step_s * ((EPOCH_IMAGES + BATCH - 1) / BATCH), 250.0 * evals / (e - e0));
		fflush(stdout);
		free(params);
		free(grads);
		free(evin);
		adam_free(adam);
		nn_workspace_free(ws);
		nn_workspace_free(ev);
		nn_graph_free(g);
	}
	free(src);
	free(input);
	return 0;
}
