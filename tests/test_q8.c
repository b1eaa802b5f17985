/*
 * test_q8.c - the int8 engine: the kernels against a naive sum, the same
 * logits from every kernel variant and thread count, int8 logits close to
 * the float model's, and int8 model files refused when damaged; the
 * activations the not-a-digit head reads, dequantised, close to the float
 * model's, its head loaded, and a head on bytes with no scale refused.
 *
 * Uses the shipped models/<name>-int8.model files and MNIST test digits
 * (make data, or DIGITS_MNIST_DIR); skips with the reason when absent.
 */
#include <json-c/json.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/confidence.h"
#include "engine/model.h"
#include "engine/nn_kernels.h"
#include "idx.h"
#include "tap.h"

#define N_IMAGES 64

static const char *const int8_models[] = {"cnn-int8", "lenet5-int8", "mlp-int8"};
#define N_MODELS 3

/* ---- the kernel ---------------------------------------------------------- */

static void gemm_ref(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			int32_t s = 0;
			for (int k = 0; k < Kp; k++)
				s += A[i * Kp + k] * B[((k / 4) * N + j) * 4 + k % 4];
			C[i * N + j] = s;
		}
}

/* Odd sizes, random values, and the extremes (127 x 127, 127 x -127 over a
 * whole row: what would saturate vpmaddubsw if activations were 8 bits). */
static void test_kernels(void)
{
	enum { M = 7, N = 80, KP = 196 };
	static uint8_t A[M * KP];
	static int8_t B[N * KP];
	static int32_t want[M * N], got[M * N];
	uint32_t r = 12345;

	for (int i = 0; i < M * KP; i++)
		A[i] = (uint8_t)((r = r * 1103515245 + 12345) >> 16) % 128;
	for (int i = 0; i < N * KP; i++)
		B[i] = (int8_t)((int)((r = r * 1103515245 + 12345) >> 16) % 255 - 127);
	memset(A, 127, KP); /* row 0: all 127 */
	for (int k = 0; k < KP; k++) {
		B[((k / 4) * N + 0) * 4 + k % 4] = 127;  /* column 0: all 127 */
		B[((k / 4) * N + 1) * 4 + k % 4] = -127; /* column 1: all -127 */
	}
	gemm_ref(M, N, KP, A, B, want);
	for (const char *const *v = nn_q8_kernel_names; *v; v++) {
		if (nn_q8_kernel_use(*v) < 0) {
			skip(1, "this CPU cannot run this int8 kernel");
			diag("not run here: %s", *v);
			continue;
		}
		memset(got, 0xa5, sizeof(got));
		nn_q8_gemm(M, N, KP, A, B, got, N);
		ok(memcmp(got, want, sizeof(want)) == 0 && got[0] == 127 * 127 * KP &&
		       got[1] == -127 * 127 * KP,
		   "int8 kernel %s: %dx%dx%d product equals the naive sum, extremes included", *v,
		   M, N, KP);
	}
}

/* The convolution form: rows where they lie, several taps, a row read
 * at uneven offsets (as a channels-last input is), against the naive sum;
 * then the requantisation against the formula in 64-bit integers, with
 * sums and biases at the extremes and every shift from 1 to 62. */
static void test_rows_and_requant(void)
{
	enum { M = 29, N = 48, TAPS = 3, GPT = 5, BUF = 4096 };
	static uint8_t buf[BUF];
	static int8_t B[TAPS * GPT * N * 4];
	static int32_t want[M * N], got[M * N];
	const int toff[TAPS] = {0, 211, 977};
	const uint8_t *rows[M];
	uint32_t r = 777;

	for (int i = 0; i < BUF; i++)
		buf[i] = (uint8_t)((r = r * 1103515245 + 12345) >> 16) % 128;
	for (size_t i = 0; i < sizeof(B); i++)
		B[i] = (int8_t)((int)((r = r * 1103515245 + 12345) >> 16) % 255 - 127);
	for (int i = 0; i < M; i++)
		rows[i] = buf + 37 * i + (i % 3);
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			int32_t sum = 0;

			for (int t = 0; t < TAPS; t++)
				for (int k = 0; k < 4 * GPT; k++)
					sum += rows[i][toff[t] + k] *
					       B[((t * GPT + k / 4) * N + j) * 4 + k % 4];
			want[i * N + j] = sum;
		}

	enum { RM = 37, RN = 62 };
	static int32_t sums[RM * RN], bias[RN], mult[RN], shift[RN];
	static uint8_t rq_want[RM * RN], rq_got[RM * RN];
	for (int j = 0; j < RN; j++) {
		shift[j] = j + 1;
		mult[j] = (int32_t)((1u << 30) + ((r = r * 1103515245 + 12345) >> 2) % (1u << 30));
		bias[j] = (int32_t)((r = r * 1103515245 + 12345) >> 2) - (1 << 29);
		bias[j] = j % 5 == 0 ? (1 << 30) : j % 5 == 1 ? -(1 << 30) : bias[j] >> (j % 20);
	}
	/* Random sums, the extremes, and sums that land on every level
	 * (those whose level q over the multiplier fits). */
	for (int i = 0; i < RM * RN; i++) {
		const int j = i % RN;
		const int64_t v = (int32_t)(r = r * 1103515245 + 12345) >> (i % 31 + 1);
		const int64_t at =
		    (int64_t)((double)(i % 131) * ldexp(1.0, shift[j]) / mult[j]) - bias[j];

		sums[i] = i % 7 == 0   ? 127 * 127 * (NN_Q8_MAX_K / 2)
		          : i % 7 == 1 ? -(1 << 30)
		          : i % 7 < 5 && at > -(1 << 30) && at < (1 << 30) ? (int32_t)at
		                                                           : (int32_t)v;
	}
	for (int i = 0; i < RM; i++)
		for (int j = 0; j < RN; j++) {
			int64_t p = (int64_t)(sums[i * RN + j] + bias[j]) * mult[j] +
			            ((int64_t)1 << (shift[j] - 1));

			p >>= shift[j];
			rq_want[i * RN + j] = (uint8_t)(p < 0 ? 0 : p > 127 ? 127 : p);
		}
	int spread[128] = {0}, levels = 0;
	for (int i = 0; i < RM * RN; i++)
		levels += !spread[rq_want[i]]++;

	for (const char *const *v = nn_q8_kernel_names; *v; v++) {
		if (nn_q8_kernel_use(*v) < 0) {
			skip(2, "this CPU cannot run this int8 kernel");
			continue;
		}
		memset(got, 0xa5, sizeof(got));
		nn_q8_gemm_rows(M, N, TAPS, toff, GPT, rows, B, got, N);
		ok(memcmp(got, want, sizeof(want)) == 0,
		   "int8 kernel %s: %d rows x %d outputs x %d taps read in place equal the naive "
		   "sum",
		   *v, M, N, TAPS);
		memset(rq_got, 0xa5, sizeof(rq_got));
		nn_q8_requantise(RM, RN - 3, sums, RN, bias, mult, shift, rq_got, RN);
		int same = 1;
		for (int i = 0; i < RM; i++)
			same &= memcmp(rq_got + i * RN, rq_want + i * RN, RN - 3) == 0 &&
			        rq_got[i * RN + RN - 3] == 0xa5;
		ok(same && spread[0] && spread[127] && levels > 20,
		   "int8 kernel %s: requantisation of %dx%d sums equals the 64-bit formula (%d "
		   "levels, 0 and 127 among them), nothing written past the outputs",
		   *v, RM, RN - 3, levels);
	}
	for (const char *const *v = nn_q8_kernel_names; *v; v++)
		if (nn_q8_kernel_use(*v) == 0)
			break;
}

/* ---- one model: variants, threads, float ------------------------------------ */

/* The logits of n images (the node before the softmax), copied to out. */
static int logits(const struct model *m, const float *pix, int n, int threads, float *out)
{
	struct nn_workspace *ws;
	const struct nn_graph *g = m->graph;
	const int node = g->nodes[g->n_nodes - 1].inputs[0];

	omp_set_num_threads(threads);
	if (nn_workspace_create(&ws, g, n, false, NULL))
		return -1;
	nn_forward(g, m->params, ws, pix, n);
	memcpy(out, nn_activation(ws, node), sizeof(float) * n * g->n_classes);
	nn_workspace_free(ws);
	return 0;
}

/* models/NAME.model (an int8 model, "x-int8") into *m and the float model
 * it was quantised from into *f; -1 (one failing TAP result, nothing
 * loaded) when either does not load. */
static int load_pair(const char *src, const char *name, struct model **m, struct model **f)
{
	char path[4096], fpath[4096];
	struct dg_error err;

	snprintf(path, sizeof(path), "%s/models/%s.model", src, name);
	snprintf(fpath, sizeof(fpath), "%s/models/%.*s.model", src, (int)(strlen(name) - 5), name);
	if (!ok(model_load(m, path, &err) == 0 && model_load(f, fpath, &err) == 0,
	        "%s and its float model load", path)) {
		diag("%s", err.msg);
		model_free(*m);
		*m = NULL;
		return -1;
	}
	return 0;
}

static void test_model(const char *src, const char *name, const float *pix, const uint8_t *labels)
{
	struct model *m = NULL, *f = NULL;
	float ref[N_IMAGES * 10], got[N_IMAGES * 10], fl[N_IMAGES * 10];

	if (load_pair(src, name, &m, &f) < 0)
		return;
	is_str(nn_graph_precision(m->graph), "int8", "%s is int8", name);
	nn_q8_kernel_use("portable");
	logits(m, pix, N_IMAGES, 1, ref);
	for (const char *const *v = nn_q8_kernel_names; *v; v++) {
		if (nn_q8_kernel_use(*v) < 0) {
			skip(2, "this CPU cannot run this int8 kernel");
			diag("not run here: %s", *v);
			continue;
		}
		for (int t = 1; t <= 2; t++) {
			int same = logits(m, pix, N_IMAGES, t, got) == 0 &&
			           memcmp(got, ref, sizeof(got)) == 0;
			/* One image at a time takes other paths (branches, splits). */
			for (int b = 0; same && b < N_IMAGES; b += 9)
				same = logits(m, pix + (size_t)b * 784, 1, t, got) == 0 &&
				       memcmp(got, ref + b * 10, sizeof(float) * 10) == 0;
			ok(same,
			   "%s: kernel %s, %d thread(s), batch %d and 1: logits identical to "
			   "portable C on 1 thread",
			   name, *v, t, N_IMAGES);
		}
	}
	nn_q8_kernel_use(nn_q8_kernel_names[0]);
	/* Back to what start-up would choose. */
	for (const char *const *v = nn_q8_kernel_names; *v; v++)
		if (nn_q8_kernel_use(*v) == 0)
			break;

	logits(f, pix, N_IMAGES, 2, fl);
	double worst = 0, range = 0;
	int agree = 0, right = 0;
	for (int b = 0; b < N_IMAGES; b++) {
		int bq = 0, bf = 0;
		for (int c = 0; c < 10; c++) {
			worst = fmax(worst, fabs(ref[b * 10 + c] - fl[b * 10 + c]));
			range = fmax(range, fabs(fl[b * 10 + c]));
			bq = ref[b * 10 + c] > ref[b * 10 + bq] ? c : bq;
			bf = fl[b * 10 + c] > fl[b * 10 + bf] ? c : bf;
		}
		agree += bq == bf;
		right += bq == labels[b];
	}
	ok(agree == N_IMAGES && right >= N_IMAGES - 1,
	   "%s: the first %d test digits get the float model's digit (%d) and are right (%d)", name,
	   N_IMAGES, agree, right);
	if (!ok(worst <= 0.05 * range,
	        "%s: logits within 5%% of the float logits' range (worst %.3f of %.2f)", name,
	        worst, range))
		diag("int8 and float logits differ more than rounding explains");
	model_free(m);
	model_free(f);
}

/* ---- activations as floats (the not-a-digit head's input) ------------------- */

static size_t node_size(const struct nn_graph *g, int i)
{
	return i >= 0 ? (size_t)g->nodes[i].c * g->nodes[i].h * g->nodes[i].w : 0;
}

/* Node `node` of int8 model m and node `fnode` of its float model f on n
 * images, read as floats: the worst and the mean difference, over the
 * float activations' largest value. */
static int compare_floats(const struct model *m, int node, const struct model *f, int fnode,
                          const float *pix, int n, double *worst, double *mean, double *top)
{
	struct nn_workspace *wq, *wf;
	const size_t size = node_size(m->graph, node);
	float *a = malloc(size * sizeof(float)), *b = malloc(size * sizeof(float));
	int rc = -1;

	*worst = *mean = *top = 0;
	if (!a || !b || size != node_size(f->graph, fnode) ||
	    nn_workspace_create(&wq, m->graph, n, false, NULL)) {
		free(a);
		free(b);
		return -1;
	}
	if (nn_workspace_create(&wf, f->graph, n, false, NULL) == 0) {
		nn_forward(m->graph, m->params, wq, pix, n);
		nn_forward(f->graph, f->params, wf, pix, n);
		rc = 0;
		for (int k = 0; k < n && rc == 0; k++) {
			rc = nn_activation_floats(m->graph, wq, node, k, a) |
			     nn_activation_floats(f->graph, wf, fnode, k, b);
			for (size_t i = 0; i < size; i++) {
				*worst = fmax(*worst, fabs(a[i] - b[i]));
				*mean += fabs(a[i] - b[i]) / ((double)size * n);
				*top = fmax(*top, fabs(b[i]));
			}
		}
		nn_workspace_free(wf);
	}
	nn_workspace_free(wq);
	free(a);
	free(b);
	return rc;
}

/* Float node name's counterpart in the int8 graph: a layer's fused relu is
 * the layer itself (relu_fc2 -> fc2, relu6 -> f6). */
static int int8_node_of(const struct model *m, const struct model *f, int fnode)
{
	const struct nn_node *n = &f->graph->nodes[fnode];

	if (n->op == NN_RELU)
		n = &f->graph->nodes[n->inputs[0]];
	return nn_graph_find(m->graph, n->name);
}

static void test_head_input(const char *src, const char *name, const float *pix)
{
	struct model *m = NULL, *f = NULL;
	struct dg_error err;
	struct confidence_params cp;
	double worst, mean, top;

	if (load_pair(src, name, &m, &f) < 0)
		return;
	const int fnode = not_a_digit_node(f->graph), node = not_a_digit_node(m->graph);
	ok(fnode >= 0 && node >= 0 && node == int8_node_of(m, f, fnode),
	   "%s: the head reads \"%s\", the int8 form of float \"%s\"", name,
	   node >= 0 ? m->graph->nodes[node].name : "-",
	   fnode >= 0 ? f->graph->nodes[fnode].name : "-");
	if (node >= 0 && fnode >= 0) {
		int rc = compare_floats(m, node, f, fnode, pix, N_IMAGES, &worst, &mean, &top);

		ok(rc == 0 && worst <= 0.05 * top && mean <= 0.005 * top,
		   "%s: \"%s\" dequantised within 5%% (worst %.3f) and on average 0.5%% (%.4f) of "
		   "the float activations' largest (%.2f), %d images",
		   name, m->graph->nodes[node].name, worst, mean, top, N_IMAGES);
	}
	/* A pooled convolution's bytes are channels last; read channels first. */
	const int fpool = nn_graph_find(f->graph, strcmp(name, "cnn-int8") ? "s4" : "pool3");
	if (fpool >= 0) {
		int rc = compare_floats(m, nn_graph_find(m->graph, f->graph->nodes[fpool].name), f,
		                        fpool, pix, N_IMAGES, &worst, &mean, &top);

		ok(rc == 0 && worst <= 0.05 * top && mean <= 0.005 * top,
		   "%s: \"%s\" (channels last, a max-pool of a %s) dequantised channels first "
		   "within 5%% (worst %.3f) and on average 0.5%% (%.4f) of %.2f",
		   name, f->graph->nodes[fpool].name,
		   strcmp(name, "cnn-int8") ? "convolution" : "concat", worst, mean, top);
	}
	ok(confidence_from_training(m->training, m->graph, &cp, &err) == 0 && cp.head.fitted &&
	       cp.head.node == node,
	   "%s: its file has a not-a-digit head on \"%s\"", name,
	   node >= 0 ? m->graph->nodes[node].name : "-");
	model_free(m);
	model_free(f);
}

/* A head over bytes whose scale the graph does not record (an int8 file
 * quantised before it was) is refused, and they are not read. */
static void test_head_refused(const char *src)
{
	char path[4096];
	struct model *m = NULL;
	struct nn_graph *g = NULL;
	struct json_object *desc, *nodes;
	struct confidence_params cp;
	struct dg_error err;

	snprintf(path, sizeof(path), "%s/models/mlp-int8.model", src);
	if (!ok(model_load(&m, path, &err) == 0, "%s loads", path))
		return;
	desc = nn_graph_to_json(m->graph);
	json_object_object_get_ex(desc, "nodes", &nodes);
	for (size_t i = 0; i < json_object_array_length(nodes); i++)
		json_object_object_del(json_object_array_get_idx(nodes, i), "scale");
	json_object_object_add(json_object_array_get_idx(nodes, 1), "scale",
	                       json_object_new_double(m->graph->nodes[1].scale));
	if (ok(nn_graph_from_json(&g, desc, &err) == 0,
	       "mlp-int8 without its layers' scales parses")) {
		ok(not_a_digit_node(g) < 0 && !nn_activation_readable(g, nn_graph_find(g, "fc2")) &&
		       nn_activation_readable(g, nn_graph_find(g, "quant")),
		   "without a scale, fc2's bytes are not read as floats (the quantize node's are)");
		ok(confidence_from_training(m->training, g, &cp, &err) == -1 &&
		       strstr(err.msg, "no recorded scale"),
		   "its head is refused: \"%s\"", err.msg);
	}
	nn_graph_free(g);
	json_object_put(desc);
	model_free(m);
}

/* ---- damaged int8 files ----------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc(n > 0 ? n : 1);
	*len = fread(buf, 1, n, fp);
	fclose(fp);
	return buf;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v, p[1] = v >> 8, p[2] = v >> 16, p[3] = v >> 24;
}

static void write_fixed(const char *path, unsigned char *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	put32(buf + len - 4, (uint32_t)crc32(crc32(0, Z_NULL, 0), buf, (uInt)(len - 4)));
	fwrite(buf, 1, len, fp);
	fclose(fp);
}

static void refused(const char *path, const char *want, const char *what)
{
	struct model *m = NULL;
	struct dg_error err = {0};
	int rc = model_load(&m, path, &err);

	if (!ok(rc == -1 && strstr(err.msg, path) && strstr(err.msg, want), "%s is refused: \"%s\"",
	        what, want))
		diag("rc %d: %s", rc, err.msg);
	model_free(m);
}

/* Byte offset of value e of tensor `suffix` of node `node` in the file. */
static size_t value_at(const struct model *m, size_t data, const char *node, const char *suffix,
                       size_t e)
{
	struct nn_tensor t[NN_MAX_TENSORS];
	int count = nn_node_tensors(m->graph, nn_graph_find(m->graph, node), t);

	for (int k = 0; k < count; k++)
		if (strcmp(t[k].suffix, suffix) == 0)
			return data + 4 * t[k].offset + (t[k].dtype == NN_I8 ? e : 4 * e);
	return 0;
}

static void test_damage(const char *src)
{
	char path[4096], bad[] = "/tmp/test_q8.XXXXXX";
	struct model *m = NULL;
	struct dg_error err;
	size_t len;
	int fd = mkstemp(bad);

	snprintf(path, sizeof(path), "%s/models/cnn-int8.model", src);
	unsigned char *file = slurp(path, &len), *buf = malloc(len);
	if (fd < 0 || !file || model_load(&m, path, &err)) {
		ok(0, "read %s", path);
		return;
	}
	close(fd);
	is_int(file[8], 2, "an int8 model is format version 2");
	size_t hlen = file[12] | file[13] << 8 | file[14] << 16 | (size_t)file[15] << 24;
	size_t data = (16 + hlen + 63) / 64 * 64;
	const struct {
		const char *node, *suffix;
		size_t index;
		uint32_t value;
		const char *want, *what;
	} edits[] = {
	    {"conv2_1", "scale", 3, 0, "tensor conv2_1.scale holds 0 at index 3", "a zero scale"},
	    {"fc1", "scale", 0, 0xbf800000u, "tensor fc1.scale holds -1 at index 0",
	     "a negative scale"},
	    {"logits", "scale", 9, 0x7fc00000u, "tensor logits.scale holds a non-finite value",
	     "a NaN scale"},
	    {"conv1", "shift", 5, 0, "tensor conv1.shift holds 0 at index 5, must be 1..62",
	     "a shift of 0"},
	    {"fc2", "shift", 1, 63, "tensor fc2.shift holds 63 at index 1", "a shift of 63"},
	    {"conv3_2", "multiplier", 2, 1000, "tensor conv3_2.multiplier holds 1000 at index 2",
	     "a multiplier under 2^30"},
	    {"fc1", "multiplier", 7, 0x7ffffff0u, "multiplier and shift give",
	     "a multiplier that disagrees with its scale"},
	    {"conv1", "bias", 0, 0x7fffffffu, "tensor conv1.bias holds 2147483647",
	     "a bias beyond 2^30"},
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		size_t at = value_at(m, data, edits[i].node, edits[i].suffix, edits[i].index);
		memcpy(buf, file, len);
		put32(buf + at, edits[i].value);
		write_fixed(bad, buf, len);
		refused(bad, edits[i].want, edits[i].what);
	}
	memcpy(buf, file, len);
	buf[value_at(m, data, "conv2_2", "weight", 40)] = 0x80;
	write_fixed(bad, buf, len);
	refused(bad, "tensor conv2_2.weight holds -128 at index 40", "an int8 weight of -128");
	/* conv1 reads 5 of each kernel row's 8 bytes (K*C = 5*1): input 5 of
	 * output 0 is group 1, lane 0, byte 1 ([Kp/4][32][4]). */
	memcpy(buf, file, len);
	buf[value_at(m, data, "conv1", "weight", (1 * 32 + 0) * 4 + 1)] = 3;
	write_fixed(bad, buf, len);
	refused(bad, "tensor conv1.weight holds 3 at index 129, a padding position",
	        "a weight where a kernel row is padded");
	memcpy(buf, file, len);
	char *layout = memmem(buf + 16, hlen, "\"layout\":\"hwc\"", 14);
	if (ok(layout != NULL, "the header gives the convolutions' weight layout")) {
		memcpy(layout, "\"layout\":\"chw\"", 14);
		write_fixed(bad, buf, len);
		refused(bad, "int8 convolution weights must be in \"layout\": \"hwc\"",
		        "a convolution in the first int8 files' weight order");
	}

	memcpy(buf, file, len);
	put32(buf + 8, 1);
	write_fixed(bad, buf, len);
	refused(bad, "format version 1 cannot hold int8 tensors", "an int8 model marked version 1");
	put32(buf + 8, 3);
	write_fixed(bad, buf, len);
	refused(bad, "format version 3", "format version 3");

	/* The header's dtype must be what the graph implies. */
	memcpy(buf, file, len);
	char *at = memmem(buf + 16, hlen, "\"dtype\":\"int8\"", 14);
	if (at) {
		memcpy(at, "\"dtype\":\"in32\"", 14);
		write_fixed(bad, buf, len);
		refused(bad, "dtype is \"in32\", graph needs \"int8\"",
		        "a tensor of the wrong dtype");
	} else {
		ok(0, "the header lists int8 tensors");
	}

	/* Truncated anywhere: refused, never a crash. */
	const size_t cuts[] = {20, 16 + hlen / 2, data + 100, len / 2, len - 5, len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char what[64];
		FILE *fp = fopen(bad, "wb");

		fwrite(file, 1, cuts[i], fp);
		fclose(fp);
		snprintf(what, sizeof(what), "an int8 file cut at byte %zu of %zu", cuts[i], len);
		refused(bad, cuts[i] < 16 + hlen + 4 ? "does not fit" : "truncated", what);
	}
	unlink(bad);
	free(buf);
	free(file);
	model_free(m);
}

int main(void)
{
	const char *src = getenv("top_srcdir"), *build = getenv("top_builddir");
	const char *env = getenv("DIGITS_MNIST_DIR");
	char dir[4096], path[4096];
	struct idx_set test;
	struct dg_error err;

	src = src ? src : ".";
	build = build ? build : ".";
	snprintf(dir, sizeof(dir), "%s/data/mnist", build);
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	diag("int8 kernel chosen at start-up: %s", nn_q8_kernel());
	test_kernels();
	test_rows_and_requant();
	snprintf(path, sizeof(path), "%s/models/cnn-int8.model", src);
	if (access(path, F_OK) != 0) {
		skip(1, "models/cnn-int8.model not shipped");
		return tap_done();
	}
	test_damage(src);
	if (!idx_mnist_present(dir, "t10k") || idx_load_mnist(&test, dir, "t10k", &err)) {
		skip(1, "MNIST test set not found (run make data)");
		return tap_done();
	}
	float *pix = malloc(sizeof(float) * N_IMAGES * 784);
	for (int i = 0; i < N_IMAGES * 784; i++)
		pix[i] = test.pixels[i] / 255.0f;
	for (int i = 0; i < N_MODELS; i++)
		test_model(src, int8_models[i], pix, test.labels);
	for (int i = 0; i < N_MODELS; i++)
		test_head_input(src, int8_models[i], pix);
	test_head_refused(src);
	free(pix);
	idx_free(&test);
	return tap_done();
}
