/*
 * bench_engine.c - `make bench`: how fast the engine runs each model.
 *
 * Prints the machine, then per model: single-image latency (median and
 * p99) at 1 and 2 threads, batch-256 throughput, and the multiply-adds per
 * second that implies against the machine's limit; then where a single
 * "cnn" image spends its time, node by node.  Random weights: speed does
 * not depend on their values.  Tables, never a pass/fail.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "engine/model.h"
#include "engine/nn.h"
#include "engine/nn_kernels.h"

#ifndef DIGITS_SRCDIR
#define DIGITS_SRCDIR "."
#endif

/* Weights on a cache line, as model_load maps them from a model file: a
 * malloc'd block's alignment depends on what the heap held before, and
 * once made mlp's row of this table 35 % slower for no reason in the
 * engine. */
static float *params_alloc(const struct nn_graph *g)
{
	size_t bytes = (sizeof(float) * g->n_params + 63) / 64 * 64;

	return aligned_alloc(64, bytes);
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
	struct nn_workspace *ws;
	nn_workspace_create(&ws, g, 1, false, NULL);
	for (int i = 0; i < 200; i++) /* warm caches and the thread pool */
		nn_forward(g, params, ws, x, 1);
	for (int i = 0; i < RUNS; i++) {
		double t0 = bench_now_ms();
		nn_forward(g, params, ws, x + (i % 64) * 784, 1);
		t[i] = bench_now_ms() - t0;
	}
	qsort(t, RUNS, sizeof(double), bench_cmp_double);
	*median = t[RUNS / 2];
	*p99 = t[RUNS * 99 / 100];
	nn_workspace_free(ws);
}

static double throughput(const struct nn_graph *g, const float *params, const float *x, int threads,
                         int batch)
{
	omp_set_num_threads(threads);
	struct nn_workspace *ws;
	nn_workspace_create(&ws, g, batch, false, NULL);
	double best = 0;

	nn_forward(g, params, ws, x, batch);
	/* The best of 30 batches: the machine is shared, and a batch another
	 * process interrupts measures that process. */
	for (int r = 0; r < 30; r++) {
		double t0 = bench_now_ms();

		nn_forward(g, params, ws, x, batch);
		double rate = batch / ((bench_now_ms() - t0) * 1e-3);
		best = rate > best ? rate : best;
	}
	nn_workspace_free(ws);
	return best;
}

/* Multiply-adds of one image in node i (0 for parameter-free ops). */
static double node_macs(const struct nn_graph *g, int i)
{
	const struct nn_node *n = &g->nodes[i];

	return n->op == NN_CONV2D || n->op == NN_DENSE || n->op == NN_CONV2D_Q8 ||
	               n->op == NN_DENSE_Q8
	           ? (double)n->n_macs
	           : 0;
}

/* Per-node time of one image: each node's median over 2000 forwards, so a
 * forward that another process interrupts does not count (the machine is
 * shared).  The medians need not add up to the median forward. */
static void node_times(const struct nn_graph *g, const float *params, const float *x, int threads,
                       double *us)
{
	enum { RUNS = 2000 };
	double *sec = calloc(g->n_nodes, sizeof(double));
	double *samples = malloc(sizeof(double) * RUNS * g->n_nodes);

	omp_set_num_threads(threads);
	struct nn_workspace *ws;
	nn_workspace_create(&ws, g, 1, false, NULL);
	for (int i = 0; i < 200; i++)
		nn_forward(g, params, ws, x, 1);
	nn_workspace_profile(ws, sec);
	for (int r = 0; r < RUNS; r++) {
		memset(sec, 0, sizeof(double) * g->n_nodes);
		nn_forward(g, params, ws, x + (r % 64) * 784, 1);
		for (int i = 0; i < g->n_nodes; i++)
			samples[(size_t)i * RUNS + r] = sec[i];
	}
	for (int i = 0; i < g->n_nodes; i++) {
		qsort(samples + (size_t)i * RUNS, RUNS, sizeof(double), bench_cmp_double);
		us[i] = samples[(size_t)i * RUNS + RUNS / 2] * 1e6;
	}
	nn_workspace_free(ws);
	free(samples);
	free(sec);
}

static void layer_table(const struct nn_graph *g, const float *params, const float *x)
{
	const char *model = g->name;
	double *us1 = calloc(g->n_nodes, sizeof(double)), *us2 = calloc(g->n_nodes, sizeof(double));
	double sum1 = 0, sum2 = 0, macs = 0;

	node_times(g, params, x, 1, us1);
	node_times(g, params, x, 2, us2);
	printf("\n%s, one image, median per node (a relu fused into its conv/dense: 0)\n", model);
	printf("%-9s %-10s %-10s %8s | %8s %8s | %8s %8s\n", "node", "op", "output", "MMAC",
	       "1t us", "GMAC/s", "2t us", "GMAC/s");
	for (int i = 0; i < g->n_nodes; i++) {
		const struct nn_node *n = &g->nodes[i];
		double m = node_macs(g, i) / 1e6;
		char shape[32];

		snprintf(shape, sizeof(shape), "%dx%dx%d", n->c, n->h, n->w);
		printf("%-9s %-10s %-10s %8.3f | %8.2f %8.1f | %8.2f %8.1f\n", n->name,
		       nn_op_name(n->op), shape, m, us1[i], m > 0 ? m / us1[i] * 1e3 : 0.0, us2[i],
		       m > 0 ? m / us2[i] * 1e3 : 0.0);
		sum1 += us1[i], sum2 += us2[i], macs += m;
	}
	printf("%-9s %-10s %-10s %8.3f | %8.2f %8.1f | %8.2f %8.1f\n", "sum", "", "", macs, sum1,
	       macs / sum1 * 1e3, sum2, macs / sum2 * 1e3);
	free(us1), free(us2);
}

/* Median ms of one explanation (forward + the class's gradient down to
 * the explained layer + the map) on one thread, beside the plain forward. */
static void explain_table(const float *x)
{
	enum { RUNS = 2000 };
	static double t[RUNS];

	omp_set_num_threads(1);
	printf("\nexplanations, one image, 1 thread (nn_explain: forward, gradient, map)\n");
	printf("%-7s %-9s %10s %10s %8s\n", "model", "method", "forward", "explain", "ratio");
	printf("%-7s %-9s %10s %10s %8s\n", "", "", "ms", "ms", "");
	for (int m = 0; nn_zoo_names[m]; m++) {
		struct nn_graph *g;
		struct nn_workspace *ws;
		struct nn_explain_info info;
		double med1, p99, med;
		float map[784];

		if (nn_zoo_build(&g, nn_zoo_names[m], NULL))
			continue;
		float *params = params_alloc(g);
		nn_params_init(g, params, 1);
		latency(g, params, x, 1, &med1, &p99);
		nn_workspace_create_explain(&ws, g, NULL);
		for (int i = 0; i < 200; i++)
			nn_explain(g, params, ws, x, i % 10, map, NULL, NULL);
		for (int i = 0; i < RUNS; i++) {
			double t0 = bench_now_ms();
			nn_explain(g, params, ws, x + (i % 64) * 784, i % 10, map, NULL, NULL);
			t[i] = bench_now_ms() - t0;
		}
		qsort(t, RUNS, sizeof(double), bench_cmp_double);
		med = t[RUNS / 2];
		nn_explain_info(g, &info);
		printf("%-7s %-9s %10.3f %10.3f %8.1f\n", g->name,
		       nn_explain_method_name(info.method), med1, med, med / med1);
		nn_workspace_free(ws);
		free(params);
		nn_graph_free(g);
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The arithmetic limit of the int8 kernel, measured: the clock from a
 * chain of dependent adds (one a cycle), and vpdpbusd on zmm registers
 * from 12 independent chains (enough to hide its latency); each the best
 * of many short runs, so the other tenants of a shared machine do not
 * count.  Returns G int8 multiply-adds per second, 0 without VNNI. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double vnni_chains(long n)
{
	__m512i acc[12], x = _mm512_set1_epi32(0x01010101), w = _mm512_set1_epi32(0x01020304);
	double t0 = bench_now_ms();
	int sum = 0;

	for (int i = 0; i < 12; i++)
		acc[i] = _mm512_set1_epi32(i);
	for (long k = 0; k < n; k++) {
		_Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) acc[i] =
		    _mm512_dpbusd_epi32(acc[i], x, w);
		__asm__ volatile("" : "+v"(x)); /* keep the loop */
	}
	t0 = bench_now_ms() - t0;
	for (int i = 0; i < 12; i++)
		sum += _mm512_reduce_add_epi32(acc[i]);
	__asm__ volatile("" ::"r"(sum));
	return 12.0 * n / (t0 * 1e-3);
}

static double int8_limit(double *ghz)
{
	double best_add = 0, best_dp = 0;

	*ghz = 0;
	if (!__builtin_cpu_supports("avx512vnni"))
		return 0;
	for (int r = 0; r < 500; r++) {
		long n = 1000000;
		unsigned long x = 0;
		double t0 = bench_now_ms();

		__asm__ volatile("1: add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n"
		                 " sub $1, %1\n jnz 1b"
		                 : "+r"(x), "+r"(n));
		t0 = bench_now_ms() - t0;
		best_add = 4e6 / (t0 * 1e-3) > best_add ? 4e6 / (t0 * 1e-3) : best_add;
		double dp = vnni_chains(250000);
		best_dp = dp > best_dp ? dp : best_dp;
	}
	*ghz = best_add / 1e9;
	return best_dp * 64 / 1e9;
}
#else
static double int8_limit(double *ghz)
{
	*ghz = 0;
	return 0;
}
#endif

/* The shipped float and int8 model files side by side (their own
 * weights: int8 layers' speed does not depend on them either, but the
 * files are what is served), then the int8 kernel variants on cnn-int8. */
static void int8_table(const float *x, int batch)
{
	static const char *const names[] = {"cnn", "lenet5", "mlp"};
	struct model *f[3] = {0}, *q[3] = {0};
	struct dg_error err;
	char path[4096];

	double ghz, limit = int8_limit(&ghz);

	if (limit > 0)
		printf("\nint8 limit, measured: clock %.2f GHz, vpdpbusd zmm %.2f a cycle = %.0f G "
		       "int8 multiply-adds/s a core (cnn's 6.38 M: %.1f us)\n",
		       ghz, limit / 64 / ghz, limit, 6.375e6 / limit / 1e3);
	printf("\nfloat32 vs int8, the shipped model files (int8 kernel: %s)\n", nn_q8_kernel());
	printf("%-12s %9s %9s | %11s %11s | %9s %8s %8s\n", "model", "b1 1t", "b1 2t", "b256 img/s",
	       "b256 img/s", "file", "b1 1t", "b256 2t");
	printf("%-12s %9s %9s | %11s %11s | %9s %8s %8s\n", "", "ms", "ms", "1 thread", "2 threads",
	       "KB", "speed-up", "speed-up");
	for (int m = 0; m < 3; m++) {
		double med[2][2], p99, rate[2][2];

		for (int v = 0; v < 2; v++) {
			struct model **mm = v ? &q[m] : &f[m];

			snprintf(path, sizeof(path), "%s/models/%s%s.model", DIGITS_SRCDIR,
			         names[m], v ? "-int8" : "");
			if (model_load(mm, path, &err)) {
				printf("%s\n", err.msg);
				break;
			}
			latency((*mm)->graph, (*mm)->params, x, 1, &med[v][0], &p99);
			latency((*mm)->graph, (*mm)->params, x, 2, &med[v][1], &p99);
			rate[v][0] = throughput((*mm)->graph, (*mm)->params, x, 1, batch);
			rate[v][1] = throughput((*mm)->graph, (*mm)->params, x, 2, batch);
			printf("%-12s %9.3f %9.3f | %11.0f %11.0f | %9.0f", model_name(*mm),
			       med[v][0], med[v][1], rate[v][0], rate[v][1],
			       (*mm)->file_size / 1024.0);
			if (v)
				printf(" %8.2f %8.2f", med[0][0] / med[1][0],
				       rate[1][1] / rate[0][1]);
			printf("\n");
		}
	}
	if (!q[0])
		goto out;
	printf("\ncnn-int8 by int8 kernel variant (identical logits; speed only)\n");
	printf("%-12s %9s %11s %11s\n", "kernel", "b1 1t ms", "b256 1t/s", "b256 2t/s");
	for (const char *const *v = nn_q8_kernel_names; *v; v++) {
		double med, p99;

		if (nn_q8_kernel_use(*v) < 0) {
			printf("%-12s this CPU cannot run it\n", *v);
			continue;
		}
		latency(q[0]->graph, q[0]->params, x, 1, &med, &p99);
		printf("%-12s %9.3f %11.0f %11.0f\n", *v, med,
		       throughput(q[0]->graph, q[0]->params, x, 1, batch),
		       throughput(q[0]->graph, q[0]->params, x, 2, batch));
	}
	for (const char *const *v = nn_q8_kernel_names; *v; v++)
		if (nn_q8_kernel_use(*v) == 0)
			break;
	layer_table(q[0]->graph, q[0]->params, x);
out:
	for (int m = 0; m < 3; m++)
		model_free(f[m]), model_free(q[m]);
}

/* `bench_engine int8`: only the float vs int8 tables. */
int main(int argc, char **argv)
{
	const int batch = 256;
	float *x = malloc(sizeof(float) * batch * 784);

	for (int i = 0; i < batch * 784; i++)
		x[i] = (float)((i * 2654435761u >> 16) % 256) / 255.0f;
	print_machine();
	if (argc > 1 && strcmp(argv[1], "int8") == 0) {
		int8_table(x, batch);
		free(x);
		return 0;
	}
	printf(
	    "limit: ~80 G multiply-adds/s per core (AVX-512 FMA); cnn needs 6.38 M per image\n\n");
	printf("%-7s %9s %9s | %9s %9s | %9s %9s | %11s %11s %9s\n", "model", "1t med", "1t p99",
	       "2t med", "2t p99", "MMAC/img", "GMAC/s 1t", "b256 img/s", "b256 img/s", "GMAC/s");
	printf("%-7s %9s %9s | %9s %9s | %9s %9s | %11s %11s %9s\n", "", "ms", "ms", "ms", "ms", "",
	       "", "1 thread", "2 threads", "2t");
	for (int m = 0; nn_zoo_names[m]; m++) {
		struct nn_graph *g;
		struct dg_error err;
		double med1, p991, med2, p992;

		if (nn_zoo_build(&g, nn_zoo_names[m], &err)) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		float *params = params_alloc(g);
		nn_params_init(g, params, 1);
		latency(g, params, x, 1, &med1, &p991);
		latency(g, params, x, 2, &med2, &p992);
		double rate1 = throughput(g, params, x, 1, batch);
		double rate = throughput(g, params, x, 2, batch);
		double mmac = g->n_macs / 1e6;
		printf("%-7s %9.3f %9.3f | %9.3f %9.3f | %9.2f %9.1f | %11.0f %11.0f %9.1f\n",
		       g->name, med1, p991, med2, p992, mmac, mmac / med1, rate1, rate,
		       rate * mmac / 1e3);
		free(params);
		nn_graph_free(g);
	}
	explain_table(x);
	{
		struct nn_graph *g;

		if (nn_zoo_build(&g, "cnn", NULL) == 0) {
			float *params = params_alloc(g);

			nn_params_init(g, params, 1);
			layer_table(g, params, x);
			free(params);
			nn_graph_free(g);
		}
	}
	int8_table(x, batch);
	free(x);
	return 0;
}
