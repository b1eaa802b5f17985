/*
 * bench_engine.c - `make bench`: how fast the engine runs each model.
 *
 * Prints the machine, then per model: single-image latency (median and
 * p99) at 1 and 2 threads, batch-256 throughput, and the multiply-adds per
 * second that implies against the machine's limit.  Random weights: speed
 * does not depend on their values.  A table, never a pass/fail.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"
#include "nn_kernels.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void print_machine(void)
{
	char line[256], model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0) {
			char *v = strchr(line, ':');
			snprintf(model, sizeof(model), "%s", v ? v + 2 : line);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	printf("machine: %s, %d logical CPUs, GEMM kernel: %s\n", model, omp_get_num_procs(),
	       nn_kernels_isa());
}

/* Median and p99 of single-image forward latency, in ms. */
static void latency(const struct nn_graph *g, const float *params, const float *x, int threads,
                    double *median, double *p99)
{
	enum { RUNS = 2000 };
	static double t[RUNS];

	omp_set_num_threads(threads);
	struct nn_workspace *ws = nn_workspace_create(g, 1, false);
	for (int i = 0; i < 200; i++) /* warm caches and the thread pool */
		nn_forward(g, params, ws, x, 1);
	for (int i = 0; i < RUNS; i++) {
		double t0 = now();
		nn_forward(g, params, ws, x + (i % 64) * 784, 1);
		t[i] = (now() - t0) * 1e3;
	}
	qsort(t, RUNS, sizeof(double), cmp_double);
	*median = t[RUNS / 2];
	*p99 = t[RUNS * 99 / 100];
	nn_workspace_free(ws);
}

static double throughput(const struct nn_graph *g, const float *params, const float *x, int threads,
                         int batch)
{
	omp_set_num_threads(threads);
	struct nn_workspace *ws = nn_workspace_create(g, batch, false);
	double best = 0;

	nn_forward(g, params, ws, x, batch);
	for (int r = 0; r < 5; r++) { /* best of 5: the machine is shared */
		double t0 = now();
		for (int i = 0; i < 4; i++)
			nn_forward(g, params, ws, x, batch);
		double rate = 4.0 * batch / (now() - t0);
		best = rate > best ? rate : best;
	}
	nn_workspace_free(ws);
	return best;
}

int main(void)
{
	const int batch = 256;
	float *x = malloc(sizeof(float) * batch * 784);

	for (int i = 0; i < batch * 784; i++)
		x[i] = (float)((i * 2654435761u >> 16) % 256) / 255.0f;
	print_machine();
	printf(
	    "limit: ~80 G multiply-adds/s per core (AVX-512 FMA); cnn needs 6.38 M per image\n\n");
	printf("%-7s %9s %9s | %9s %9s | %9s %9s | %11s %9s\n", "model", "1t med", "1t p99",
	       "2t med", "2t p99", "MMAC/img", "GMAC/s 1t", "b256 img/s", "GMAC/s");
	printf("%-7s %9s %9s | %9s %9s | %9s %9s | %11s %9s\n", "", "ms", "ms", "ms", "ms", "", "",
	       "2 threads", "2t");
	for (int m = 0; nn_zoo_names[m]; m++) {
		struct nn_graph *g;
		struct dg_error err;
		double med1, p991, med2, p992;

		if (nn_zoo_build(&g, nn_zoo_names[m], &err)) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		float *params = malloc(sizeof(float) * g->n_params);
		nn_params_init(g, params, 1);
		latency(g, params, x, 1, &med1, &p991);
		latency(g, params, x, 2, &med2, &p992);
		double rate = throughput(g, params, x, 2, batch);
		double mmac = g->n_macs / 1e6;
		printf("%-7s %9.3f %9.3f | %9.3f %9.3f | %9.2f %9.1f | %11.0f %9.1f\n", g->name,
		       med1, p991, med2, p992, mmac, mmac / med1, rate, rate * mmac / 1e3);
		free(params);
		nn_graph_free(g);
	}
	free(x);
	return 0;
}
