/*
 * test_nn.c - the engine against deliberately naive references, gradients
 * against central finite differences, and thread-count independence.
 */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/nn.h"
#include "engine/nn_kernels.h"
#include "engine/nn_layers.h"
#include <json-c/json.h>

#include "tap.h"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rng_state = 42;

static float frand(void) /* uniform in [-1, 1) */
{
	rng_state = nn_hash64(rng_state, 1);
	return (float)((rng_state >> 40) / 8388608.0 - 1.0);
}

static float *rand_buf(size_t n)
{
	float *p = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = frand();
	return p;
}

static float *zeros(size_t n)
{
	return calloc(n, sizeof(float));
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs((double)a[i] - b[i]));
	return m;
}

static double dot(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* Norm-wise relative error between analytic and numeric gradient vectors. */
static double rel_err(const double *a, const double *n, size_t count)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < count; i++) {
		num += (a[i] - n[i]) * (a[i] - n[i]);
		den += (a[i] + n[i]) * (a[i] + n[i]) / 4;
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* ---- naive references ---------------------------------------------------- */

static void gemm_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc, bool acc)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double s = acc ? C[i * ldc + j] : 0;
			for (int k = 0; k < K; k++)
				s += (double)A[i * lda + k] * B[k * ldb + j];
			C[i * ldc + j] = (float)s;
		}
}

static void conv_ref(float *out, const float *in, const float *w, const float *b, int B,
                     const struct nn_conv_geom *g)
{
	for (int n = 0; n < B; n++)
		for (int o = 0; o < g->oc; o++)
			for (int oy = 0; oy < g->oh; oy++)
				for (int ox = 0; ox < g->ow; ox++) {
					double s = b[o];
					for (int c = 0; c < g->c; c++)
						for (int ky = 0; ky < g->k; ky++)
							for (int kx = 0; kx < g->k; kx++) {
								int y =
								    oy * g->stride - g->pad + ky;
								int x =
								    ox * g->stride - g->pad + kx;
								if (y < 0 || y >= g->h || x < 0 ||
								    x >= g->w)
									continue;
								s +=
								    (double)
								        w[((o * g->c + c) * g->k +
								           ky) *
								              g->k +
								          kx] *
								    in[((n * g->c + c) * g->h + y) *
								           g->w +
								       x];
							}
					out[((n * g->oc + o) * g->oh + oy) * g->ow + ox] = (float)s;
				}
}

static void maxpool_ref(float *out, const float *in, int B, int C, int H, int W, int k, int s,
                        int OH, int OW)
{
	for (int n = 0; n < B * C; n++)
		for (int oy = 0; oy < OH; oy++)
			for (int ox = 0; ox < OW; ox++) {
				float m = -INFINITY;
				for (int y = 0; y < k; y++)
					for (int x = 0; x < k; x++)
						m = fmaxf(
						    m, in[(n * H + oy * s + y) * W + ox * s + x]);
				out[(n * OH + oy) * OW + ox] = m;
			}
}

static void dense_ref(float *out, const float *in, const float *w, const float *b, int B, int I,
                      int O)
{
	for (int n = 0; n < B; n++)
		for (int o = 0; o < O; o++) {
			double s = b[o];
			for (int i = 0; i < I; i++)
				s += (double)in[n * I + i] * w[i * O + o];
			out[n * O + o] = (float)s;
		}
}

/* ---- kernels ------------------------------------------------------------- */

static void gemm_cases(const int (*sizes)[3], size_t n_sizes)
{
	for (size_t t = 0; t < n_sizes; t++) {
		int M = sizes[t][0], N = sizes[t][1], K = sizes[t][2];
		int lda = K + 3, ldb = N + 5, ldc = N + 2;
		float *A = rand_buf((size_t)M * lda), *B = rand_buf((size_t)K * ldb);
		float *C = rand_buf((size_t)M * ldc), *R = malloc(sizeof(float) * M * ldc);

		for (int acc = 0; acc < 2; acc++) {
			memcpy(R, C, sizeof(float) * M * ldc);
			gemm_ref(M, N, K, A, lda, B, ldb, R, ldc, acc);
			nn_gemm(M, N, K, A, lda, B, ldb, C, ldc, acc);
			double e = 0;
			for (int i = 0; i < M; i++)
				e = fmax(e, max_abs_diff(C + i * ldc, R + i * ldc, N));
			ok(e < 1e-4 * sqrt(K) + 1e-6,
			   "gemm %dx%dx%d %s matches naive (max err %.2g)", M, N, K,
			   acc ? "accumulate" : "overwrite", e);
		}
		free(A), free(B), free(C), free(R);
	}
}

static void test_gemm(void)
{
	static const int sizes[][3] = {{1, 1, 1},      {8, 16, 5},    {7, 17, 3},   {9, 33, 1},
	                               {32, 196, 288}, {64, 49, 288}, {3, 10, 128}, {13, 100, 37}};
	gemm_cases(sizes, sizeof(sizes) / sizeof(sizes[0]));
	diag("gemm kernel variant: %s", nn_kernels_isa());
}

/* Small M takes the wide tiles (4 vectors up to 4 rows, 2 up to 7); N % 16
 * the zero-padded tail, K > 128 its second chunk. */
static void test_gemm_shapes(void)
{
	static const int sizes[][3] = {{1, 256, 1152}, {1, 71, 300},  {3, 200, 29},  {4, 64, 1},
	                               {5, 97, 17},    {7, 160, 130}, {17, 45, 300}, {2, 128, 256}};
	gemm_cases(sizes, sizeof(sizes) / sizeof(sizes[0]));
}

static void test_im2col_adjoint(void)
{
	/* <col2im(y), x> == <y, im2col(x)> proves the two are adjoint. */
	const int C = 3, H = 9, W = 7, K = 3, S = 2, P = 1;
	const int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
	size_t nx = C * H * W, ny = (size_t)C * K * K * OH * OW;
	float *x = rand_buf(nx), *y = rand_buf(ny), *col = zeros(ny), *img = zeros(nx);

	nn_im2col(col, x, C, H, W, K, S, P, OH, OW, 0, C);
	nn_col2im_add(img, y, C, H, W, K, S, P, OH, OW);
	is_near(dot(img, x, nx), dot(y, col, ny), 1e-4, "col2im is the adjoint of im2col");
	free(x), free(y), free(col), free(img);
}

/* ---- layer forward vs reference ----------------------------------------- */

static const struct nn_conv_geom conv_cases[] = {
    {.c = 1, .h = 28, .w = 28, .oc = 32, .k = 5, .stride = 1, .pad = 2},
    {.c = 3, .h = 14, .w = 14, .oc = 5, .k = 3, .stride = 1, .pad = 1},
    {.c = 2, .h = 9, .w = 11, .oc = 9, .k = 3, .stride = 2, .pad = 0},
    {.c = 4, .h = 7, .w = 7, .oc = 17, .k = 1, .stride = 1, .pad = 0},
    {.c = 3, .h = 6, .w = 5, .oc = 3, .k = 4, .stride = 3, .pad = 2},
};

static struct nn_conv_geom geom(struct nn_conv_geom g)
{
	g.oh = (g.h + 2 * g.pad - g.k) / g.stride + 1;
	g.ow = (g.w + 2 * g.pad - g.k) / g.stride + 1;
	return g;
}

static void test_conv_forward(void)
{
	for (size_t t = 0; t < sizeof(conv_cases) / sizeof(conv_cases[0]); t++) {
		struct nn_conv_geom g = geom(conv_cases[t]);
		for (int B = 1; B <= 3; B += 2)
			for (int threads = 1; threads <= 2; threads++) {
				size_t nin = (size_t)B * g.c * g.h * g.w;
				size_t nout = (size_t)B * g.oc * g.oh * g.ow;
				float *in = rand_buf(nin),
				      *w = rand_buf((size_t)g.oc * g.c * g.k * g.k);
				float *b = rand_buf(g.oc), *out = zeros(nout), *ref = zeros(nout);
				float *scratch = zeros(nn_conv2d_scratch(&g, B, threads, false));

				nn_conv2d_forward(out, in, w, b, B, &g, scratch, threads, false);
				conv_ref(ref, in, w, b, B, &g);
				double e = max_abs_diff(out, ref, nout);
				ok(e < 1e-4,
				   "conv2d %dx%dx%d k%d s%d p%d -> %d, batch %d, %d thread(s) (err "
				   "%.2g)",
				   g.c, g.h, g.w, g.k, g.stride, g.pad, g.oc, B, threads, e);
				free(in), free(w), free(b), free(out), free(ref), free(scratch);
			}
	}
}

static void test_pool_dense_forward(void)
{
	const int pools[][6] = {{2, 3, 8, 8, 2, 2}, {1, 2, 7, 7, 2, 2}, {2, 1, 7, 9, 3, 2}};
	for (size_t t = 0; t < 3; t++) {
		int B = pools[t][0], C = pools[t][1], H = pools[t][2], W = pools[t][3];
		int k = pools[t][4], s = pools[t][5], OH = (H - k) / s + 1, OW = (W - k) / s + 1;
		size_t n = (size_t)B * C * OH * OW;
		float *in = rand_buf((size_t)B * C * H * W), *out = zeros(n), *ref = zeros(n);

		struct nn_pool_geom pg = {C, H, W, k, s, OH, OW};
		nn_maxpool_forward(out, in, B, &pg, 2);
		maxpool_ref(ref, in, B, C, H, W, k, s, OH, OW);
		ok(max_abs_diff(out, ref, n) == 0, "maxpool %dx%d k%d s%d matches naive", H, W, k,
		   s);
		free(in), free(out), free(ref);
	}

	const int denses[][3] = {{1, 784, 512}, {5, 1152, 256}, {3, 37, 10}, {64, 128, 10}};
	for (size_t t = 0; t < 4; t++) {
		int B = denses[t][0], I = denses[t][1], O = denses[t][2];
		float *in = rand_buf((size_t)B * I), *w = rand_buf((size_t)I * O), *b = rand_buf(O);
		float *out = zeros((size_t)B * O), *ref = zeros((size_t)B * O);

		nn_dense_forward(out, in, w, b, B, I, O, 2, false);
		dense_ref(ref, in, w, b, B, I, O);
		double e = max_abs_diff(out, ref, (size_t)B * O);
		ok(e < 1e-4 * sqrt(I), "dense %d -> %d, batch %d matches naive (err %.2g)", I, O, B,
		   e);
		free(in), free(w), free(b), free(out), free(ref);
	}

	float x[6] = {1, 2, 3, -1, 0, 1000}, p[6];
	nn_softmax_forward(p, x, 2, 3);
	double e = 0;
	for (int b = 0; b < 2; b++) {
		double z = 0;
		for (int i = 0; i < 3; i++)
			z += exp(x[b * 3 + i] - x[b * 3 + 2]);
		for (int i = 0; i < 3; i++)
			e = fmax(e, fabs(p[b * 3 + i] - exp(x[b * 3 + i] - x[b * 3 + 2]) / z));
	}
	ok(e < 1e-6 && isfinite(p[5]), "softmax matches exp/sum and survives large logits");

	float r_in[4] = {-2, -0.5f, 0, 3}, r_out[4];
	nn_relu_forward(r_out, r_in, 4);
	ok(r_out[0] == 0 && r_out[1] == 0 && r_out[2] == 0 && r_out[3] == 3, "relu clamps below 0");

	/* Concat: [b][a0 a1][b0] from inputs of 2 and 1 channels. */
	float a[2 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, c1[2 * 1 * 2] = {9, 10, 11, 12}, out[12];
	const float *ins[2] = {a, c1};
	int chans[2] = {2, 1};
	nn_concat_forward(out, ins, chans, 2, 2, 2);
	const float want[12] = {1, 2, 3, 4, 9, 10, 5, 6, 7, 8, 11, 12};
	ok(memcmp(out, want, sizeof(want)) == 0, "concat stacks channels image by image");

	size_t n = 100000, dropped = 0;
	float *ones = malloc(n * sizeof(float)), *mask = malloc(n * sizeof(float));
	float *o1 = malloc(n * sizeof(float)), *o2 = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		ones[i] = 1.0f;
	nn_dropout_forward(o1, mask, ones, n, 0.25f, 7);
	nn_dropout_forward(o2, mask, ones, n, 0.25f, 7);
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		dropped += o1[i] == 0;
		sum += o1[i];
	}
	ok(memcmp(o1, o2, n * sizeof(float)) == 0, "dropout is a function of its seed");
	is_near((double)dropped / n, 0.25, 0.01, "dropout drops its rate of units");
	is_near(sum / n, 1.0, 0.01, "inverted dropout keeps the expected value");
	free(ones), free(mask), free(o1), free(o2);
}

/* The stride-1 kernel against the naive convolution: Wp a multiple of 16
 * (whole-vector stores) and not, kernels 1 to 5, channel counts that are
 * not multiples of the 8-row tile, ReLU on and off. */
static void test_conv_direct(void)
{
	static const struct nn_conv_geom cases[] = {
	    {.c = 1, .h = 28, .w = 28, .oc = 32, .k = 5, .pad = 2},
	    {.c = 32, .h = 14, .w = 14, .oc = 32, .k = 3, .pad = 1},
	    {.c = 32, .h = 7, .w = 7, .oc = 64, .k = 3, .pad = 1},
	    {.c = 3, .h = 5, .w = 13, .oc = 11, .k = 3, .pad = 1},
	    {.c = 6, .h = 14, .w = 14, .oc = 16, .k = 5, .pad = 0},
	    {.c = 2, .h = 9, .w = 30, .oc = 5, .k = 3, .pad = 1},
	    {.c = 5, .h = 1, .w = 1, .oc = 3, .k = 1, .pad = 0},
	    {.c = 2, .h = 3, .w = 4, .oc = 9, .k = 4, .pad = 2},
	};
	for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
		struct nn_conv_geom g = cases[t];
		g.stride = 1;
		g = geom(g);
		size_t nin = (size_t)g.c * g.h * g.w, nout = (size_t)g.oc * g.oh * g.ow;
		float *in = rand_buf(nin), *w = rand_buf((size_t)g.oc * g.c * g.k * g.k);
		float *b = rand_buf(g.oc), *ref = zeros(nout);
		float *pad = rand_buf(nn_conv_padded_floats(g.c, g.h, g.w, g.k, g.pad));
		/* Guard floats after the output catch a store past the plane. */
		float *out = rand_buf(nout + 16), *split = rand_buf(nout + 16);

		conv_ref(ref, in, w, b, 1, &g);
		nn_conv_pad(pad, in, g.c, g.h, g.w, g.k, g.pad, 0, g.c);
		for (int relu = 0; relu < 2; relu++) {
			float guard[16];
			memcpy(guard, out + nout, sizeof(guard));
			nn_conv_direct(out, pad, w, b, g.c, g.h, g.w, g.k, g.pad, 0, g.oc, relu);
			/* Odd channel ranges, as threads might split them. */
			for (int o = 0; o < g.oc; o += 3)
				nn_conv_direct(split, pad, w, b, g.c, g.h, g.w, g.k, g.pad, o,
				               o + 3 < g.oc ? o + 3 : g.oc, relu);
			double e = 0;
			for (size_t i = 0; i < nout; i++)
				e = fmax(e, fabs(out[i] - (relu ? fmax(ref[i], 0) : ref[i])));
			ok(e < 1e-4,
			   "direct conv %dx%dx%d k%d p%d -> %d%s matches naive (err %.2g)", g.c,
			   g.h, g.w, g.k, g.pad, g.oc, relu ? " + relu" : "", e);
			ok(memcmp(out, split, sizeof(float) * nout) == 0 &&
			       memcmp(guard, out + nout, sizeof(guard)) == 0,
			   "direct conv %dx%dx%d k%d: channel blocks of 3 give the same bits, "
			   "nothing written past the output",
			   g.c, g.h, g.w, g.k);
		}
		free(in), free(w), free(b), free(ref), free(pad), free(out), free(split);
	}
}

/* Layers with a fused ReLU equal the layer followed by nn_relu_forward. */
static void test_fused_relu(void)
{
	for (size_t t = 0; t < sizeof(conv_cases) / sizeof(conv_cases[0]); t++) {
		struct nn_conv_geom g = geom(conv_cases[t]);
		const int B = 3;
		size_t nin = (size_t)B * g.c * g.h * g.w, nout = (size_t)B * g.oc * g.oh * g.ow;
		float *in = rand_buf(nin), *w = rand_buf((size_t)g.oc * g.c * g.k * g.k);
		float *b = rand_buf(g.oc), *plain = zeros(nout), *fused = zeros(nout);
		float *scratch = zeros(nn_conv2d_scratch(&g, B, 2, false));
		int same = 1;

		for (int threads = 1; threads <= 2; threads++)
			for (int n = 1; n <= B; n += B - 1) {
				nn_conv2d_forward(plain, in, w, b, n, &g, scratch, threads, false);
				nn_relu_forward(plain, plain, nout);
				nn_conv2d_forward(fused, in, w, b, n, &g, scratch, threads, true);
				same &= memcmp(plain, fused, sizeof(float) * n * nout / B) == 0;
			}
		ok(same, "conv2d k%d s%d p%d with fused relu equals conv2d then relu", g.k,
		   g.stride, g.pad);
		free(in), free(w), free(b), free(plain), free(fused), free(scratch);
	}

	const int B = 2, I = 100, O = 70;
	float *in = rand_buf(B * I), *w = rand_buf(I * O), *b = rand_buf(O);
	float *plain = zeros(B * O), *fused = zeros(B * O);
	nn_dense_forward(plain, in, w, b, B, I, O, 2, false);
	nn_relu_forward(plain, plain, B * O);
	nn_dense_forward(fused, in, w, b, B, I, O, 2, true);
	ok(memcmp(plain, fused, sizeof(float) * B * O) == 0,
	   "dense with fused relu equals dense then relu");
	free(in), free(w), free(b), free(plain), free(fused);
}

/* An inference workspace (fused plan) against a training one (every node
 * on its own) with dropout at rate 0: the same probabilities, bit for bit,
 * and the relu nodes' activations too. */
static void test_fused_graph(void)
{
	static const char *const names[] = {"cnn", "lenet5", "mlp"};
	const int B = 3;
	float *x = rand_buf(B * 784);

	for (size_t m = 0; m < 3; m++) {
		struct nn_graph *g;
		struct dg_error err;
		nn_zoo_build(&g, names[m], &err);
		for (int i = 0; i < g->n_nodes; i++)
			g->nodes[i].rate = 0.0f;
		float *params = malloc(g->n_params * sizeof(float));
		nn_params_init(g, params, 9);
		for (size_t i = 0; i < g->n_params; i++)
			if (params[i] == 0)
				params[i] = 0.05f * frand();
		struct nn_workspace *inf, *tr;
		nn_workspace_create(&inf, g, B, false, &err);
		nn_workspace_create(&tr, g, B, true, &err);
		int same = memcmp(nn_forward(g, params, inf, x, B), nn_forward(g, params, tr, x, B),
		                  sizeof(float) * B * 10) == 0;
		int relus = 0, relus_same = 0;

		for (int i = 0; i < g->n_nodes; i++) {
			const struct nn_node *n = &g->nodes[i];
			if (n->op != NN_RELU)
				continue;
			relus++;
			relus_same += memcmp(nn_activation(inf, i), nn_activation(tr, i),
			                     sizeof(float) * B * n->c * n->h * n->w) == 0;
		}
		ok(same && relus == relus_same,
		   "%s: fused inference equals the unfused walk (output and %d relu activations)",
		   names[m], relus);
		nn_workspace_free(inf);
		nn_workspace_free(tr);
		free(params);
		nn_graph_free(g);
	}
	free(x);
}

/* Three branches (one of them a bare relu) between a fork and a concat:
 * a single image on two threads runs them as parallel chains, and must
 * give the bits of one thread and of the plain node-by-node walk. */
static void test_branches(void)
{
	static const char desc[] =
	    "{\"name\": \"branches\", \"nodes\": ["
	    "{\"name\": \"input\", \"op\": \"input\", \"shape\": [1, 28, 28]},"
	    "{\"name\": \"c0\", \"op\": \"conv2d\", \"in\": \"input\", \"filters\": 5, "
	    "\"kernel\": 3, \"pad\": 1},"
	    "{\"name\": \"a1\", \"op\": \"conv2d\", \"in\": \"c0\", \"filters\": 9, \"kernel\": 3, "
	    "\"pad\": 1},"
	    "{\"name\": \"b1\", \"op\": \"relu\", \"in\": \"c0\"},"
	    "{\"name\": \"a2\", \"op\": \"relu\", \"in\": \"a1\"},"
	    "{\"name\": \"c1\", \"op\": \"conv2d\", \"in\": \"c0\", \"filters\": 3, \"kernel\": 5, "
	    "\"pad\": 2},"
	    "{\"name\": \"a3\", \"op\": \"conv2d\", \"in\": \"a2\", \"filters\": 4, \"kernel\": 1},"
	    "{\"name\": \"cat\", \"op\": \"concat\", \"in\": [\"a3\", \"b1\", \"c1\"]},"
	    "{\"name\": \"pool\", \"op\": \"maxpool\", \"in\": \"cat\", \"kernel\": 2},"
	    "{\"name\": \"fc\", \"op\": \"dense\", \"in\": \"pool\", \"units\": 10},"
	    "{\"name\": \"out\", \"op\": \"softmax\", \"in\": \"fc\"}]}";
	struct nn_graph *g;
	struct dg_error err;
	float out[3][10];

	if (!ok(nn_graph_parse(&g, desc, &err) == 0, "three-branch graph parses")) {
		diag("%s", err.msg);
		return;
	}
	float *params = rand_buf(g->n_params), *x = rand_buf(784);
	for (int t = 0; t < 3; t++) {
		omp_set_num_threads(t == 1 ? 2 : 1);
		struct nn_workspace *ws;
		nn_workspace_create(&ws, g, 1, t == 2, &err);
		memcpy(out[t], nn_forward(g, params, ws, x, 1), sizeof(out[t]));
		nn_workspace_free(ws);
	}
	omp_set_num_threads(2);
	ok(memcmp(out[0], out[1], sizeof(out[0])) == 0 &&
	       memcmp(out[0], out[2], sizeof(out[0])) == 0,
	   "three branches: 1 thread, 2 threads (parallel chains) and the plain walk agree");
	free(params), free(x);
	nn_graph_free(g);
}

/* ---- gradients against finite differences ------------------------------- */

/* L = sum(r . f(x)) for a layer f; dL/dx = backward(dout = r). */
#define FD_EPS 1e-2

static void check_grad(const char *what, float *x, size_t n, const float *analytic,
                       double (*loss)(void *), void *ctx, double tol)
{
	size_t samples = n < 64 ? n : 64;
	double *a = malloc(samples * sizeof(double)), *num = malloc(samples * sizeof(double));

	for (size_t s = 0; s < samples; s++) {
		size_t i = n <= 64 ? s : (size_t)(nn_hash64(n, s) % n);
		float save = x[i];
		x[i] = save + FD_EPS;
		double lp = loss(ctx);
		x[i] = save - FD_EPS;
		double lm = loss(ctx);
		x[i] = save;
		num[s] = (lp - lm) / (2 * FD_EPS);
		a[s] = analytic[i];
	}
	double e = rel_err(a, num, samples);
	ok(e < tol, "%s: gradient matches finite differences (rel err %.2g)", what, e);
	free(a), free(num);
}

struct conv_ctx {
	struct nn_conv_geom g;
	int B;
	float *in, *w, *b, *out, *r, *scratch;
};

static double conv_loss(void *p)
{
	struct conv_ctx *c = p;
	size_t nout = (size_t)c->B * c->g.oc * c->g.oh * c->g.ow;
	nn_conv2d_forward(c->out, c->in, c->w, c->b, c->B, &c->g, c->scratch, 2, false);
	return dot(c->r, c->out, nout);
}

static void test_conv_backward(void)
{
	for (size_t t = 1; t < sizeof(conv_cases) / sizeof(conv_cases[0]); t++) {
		struct conv_ctx c = {.g = geom(conv_cases[t]), .B = 2};
		size_t nin = (size_t)c.B * c.g.c * c.g.h * c.g.w;
		size_t nw = (size_t)c.g.oc * c.g.c * c.g.k * c.g.k;
		size_t nout = (size_t)c.B * c.g.oc * c.g.oh * c.g.ow;
		c.in = rand_buf(nin), c.w = rand_buf(nw), c.b = rand_buf(c.g.oc);
		c.out = zeros(nout), c.r = rand_buf(nout);
		c.scratch = zeros(nn_conv2d_scratch(&c.g, c.B, 2, true));
		float *din = zeros(nin), *dw = zeros(nw), *db = zeros(c.g.oc);

		nn_conv2d_backward(din, dw, db, c.r, c.in, c.w, c.B, &c.g, c.scratch, 2);
		char what[96];
		snprintf(what, sizeof(what), "conv2d k%d s%d p%d", c.g.k, c.g.stride, c.g.pad);
		check_grad(what, c.in, nin, din, conv_loss, &c, 1e-3);
		check_grad(what, c.w, nw, dw, conv_loss, &c, 1e-3);
		check_grad(what, c.b, c.g.oc, db, conv_loss, &c, 1e-3);
		free(c.in), free(c.w), free(c.b), free(c.out), free(c.r), free(c.scratch);
		free(din), free(dw), free(db);
	}
}

struct dense_ctx {
	int B, I, O;
	float *in, *w, *b, *out, *r;
};

static double dense_loss(void *p)
{
	struct dense_ctx *c = p;
	nn_dense_forward(c->out, c->in, c->w, c->b, c->B, c->I, c->O, 2, false);
	return dot(c->r, c->out, (size_t)c->B * c->O);
}

static void test_dense_backward(void)
{
	struct dense_ctx c = {.B = 3, .I = 70, .O = 19};
	c.in = rand_buf(c.B * c.I), c.w = rand_buf(c.I * c.O), c.b = rand_buf(c.O);
	c.out = zeros(c.B * c.O), c.r = rand_buf(c.B * c.O);
	float *din = zeros(c.B * c.I), *dw = zeros(c.I * c.O), *db = zeros(c.O);
	float *scratch = zeros(nn_dense_scratch(c.B, c.I, c.O));

	nn_dense_backward(din, dw, db, c.r, c.in, c.w, c.B, c.I, c.O, scratch, 2);
	check_grad("dense input", c.in, c.B * c.I, din, dense_loss, &c, 1e-3);
	check_grad("dense weight", c.w, c.I * c.O, dw, dense_loss, &c, 1e-3);
	check_grad("dense bias", c.b, c.O, db, dense_loss, &c, 1e-3);
	free(c.in), free(c.w), free(c.b), free(c.out), free(c.r), free(din), free(dw), free(db);
	free(scratch);
}

struct pw_ctx { /* pointwise-ish layers: maxpool, relu, softmax, dropout, concat */
	int kind;
	float *in, *in2, *out, *r, *mask;
	size_t n_out;
};

static double pw_loss(void *p)
{
	struct pw_ctx *c = p;
	switch (c->kind) {
	case 0:
		nn_maxpool_forward(c->out, c->in, 2, &(struct nn_pool_geom){3, 6, 6, 2, 2, 3, 3},
		                   1);
		break;
	case 1:
		nn_relu_forward(c->out, c->in, c->n_out);
		break;
	case 2:
		nn_softmax_forward(c->out, c->in, 3, 10);
		break;
	case 3:
		nn_dropout_forward(c->out, c->mask, c->in, c->n_out, 0.3f, 99);
		break;
	case 4: {
		const float *ins[2] = {c->in, c->in2};
		int chans[2] = {2, 3};
		nn_concat_forward(c->out, ins, chans, 2, 2, 4);
		break;
	}
	}
	return dot(c->r, c->out, c->n_out);
}

static void test_other_backward(void)
{
	/* maxpool: distinct values 0.05 apart, so +-eps never changes a max. */
	struct pw_ctx c = {.kind = 0, .n_out = 2 * 3 * 3 * 3};
	size_t nin = 2 * 3 * 6 * 6;
	c.in = zeros(nin), c.out = zeros(c.n_out), c.r = rand_buf(c.n_out);
	for (size_t i = 0; i < nin; i++)
		c.in[i] = 0.05f * (float)(nn_hash64(3, i) % 1000);
	for (size_t i = 0; i < nin; i++) /* make them unique */
		c.in[i] += 0.05f * 1000 * (float)i / nin * 0;
	float *din = zeros(nin);
	nn_maxpool_backward(din, c.r, c.in, 2, &(struct nn_pool_geom){3, 6, 6, 2, 2, 3, 3}, 1);
	check_grad("maxpool", c.in, nin, din, pw_loss, &c, 1e-3);
	free(c.in), free(c.out), free(c.r), free(din);

	/* relu: inputs kept away from the kink at 0. */
	c = (struct pw_ctx){.kind = 1, .n_out = 50};
	c.in = rand_buf(50), c.out = zeros(50), c.r = rand_buf(50), din = zeros(50);
	for (int i = 0; i < 50; i++)
		c.in[i] += c.in[i] > 0 ? 0.1f : -0.1f;
	pw_loss(&c);
	nn_relu_backward(din, c.r, c.out, 50);
	check_grad("relu", c.in, 50, din, pw_loss, &c, 1e-3);
	free(c.in), free(c.out), free(c.r), free(din);

	c = (struct pw_ctx){.kind = 2, .n_out = 30};
	c.in = rand_buf(30), c.out = zeros(30), c.r = rand_buf(30), din = zeros(30);
	pw_loss(&c);
	nn_softmax_backward(din, c.r, c.out, 3, 10);
	check_grad("softmax", c.in, 30, din, pw_loss, &c, 1e-3);
	free(c.in), free(c.out), free(c.r), free(din);

	c = (struct pw_ctx){.kind = 3, .n_out = 40};
	c.in = rand_buf(40), c.out = zeros(40), c.r = rand_buf(40), din = zeros(40);
	c.mask = zeros(40);
	pw_loss(&c);
	nn_dropout_backward(din, c.r, c.mask, 40);
	check_grad("dropout", c.in, 40, din, pw_loss, &c, 1e-3);
	free(c.in), free(c.out), free(c.r), free(din), free(c.mask);

	c = (struct pw_ctx){.kind = 4, .n_out = 2 * 5 * 4};
	c.in = rand_buf(16), c.in2 = rand_buf(24), c.out = zeros(40), c.r = rand_buf(40);
	float *d1 = zeros(16), *d2 = zeros(24);
	float *dins[2] = {d1, d2};
	int chans[2] = {2, 3};
	nn_concat_backward(dins, c.r, chans, 2, 2, 4);
	check_grad("concat first input", c.in, 16, d1, pw_loss, &c, 1e-3);
	check_grad("concat second input", c.in2, 24, d2, pw_loss, &c, 1e-3);
	free(c.in), free(c.in2), free(c.out), free(c.r), free(d1), free(d2);

	/* Fused softmax + cross-entropy equals the composed backward. */
	float logits[20], probs[20], fused[20] = {0}, composed[20] = {0}, dprob[20] = {0};
	uint8_t labels[2] = {3, 9};
	for (int i = 0; i < 20; i++)
		logits[i] = 2 * frand();
	nn_softmax_forward(probs, logits, 2, 10);
	nn_softmax_xent_backward(fused, probs, labels, 2, 10);
	for (int b = 0; b < 2; b++)
		dprob[b * 10 + labels[b]] = -1.0f / probs[b * 10 + labels[b]] / 2;
	nn_softmax_backward(composed, dprob, probs, 2, 10);
	ok(max_abs_diff(fused, composed, 20) < 1e-6, "fused softmax cross-entropy gradient");
}

/* ---- whole graphs --------------------------------------------------------- */

static void test_zoo(void)
{
	static const struct {
		const char *name;
		size_t params, macs;
	} want[] = {{"cnn", 385674, 6375168}, {"lenet5", 61706, 416520}, {"mlp", 535818, 535040}};
	for (size_t i = 0; i < 3; i++) {
		struct nn_graph *g;
		struct dg_error err;
		if (!ok(nn_zoo_build(&g, want[i].name, &err) == 0, "build %s", want[i].name)) {
			diag("%s", err.msg);
			continue;
		}
		is_int(g->n_params, want[i].params, "%s has %zu parameters", want[i].name,
		       want[i].params);
		is_int(g->n_macs, want[i].macs, "%s needs %zu multiply-adds per image",
		       want[i].name, want[i].macs);
		is_int(g->n_classes, 10, "%s has 10 classes", want[i].name);

		/* The description survives a round trip through JSON. */
		struct json_object *j = nn_graph_to_json(g);
		struct nn_graph *g2;
		ok(nn_graph_from_json(&g2, j, &err) == 0 && g2->n_params == g->n_params &&
		       g2->n_nodes == g->n_nodes,
		   "%s description round-trips", want[i].name);
		nn_graph_free(g2);
		json_object_put(j);
		nn_graph_free(g);
	}
}

static void test_graph_errors(void)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
	    {"[1,2]", "expected {"},
	    {"{\"nodes\": [{\"name\": \"input\", \"op\": \"input\", \"shape\": [1,4,4]},"
	     " {\"name\": \"x\", \"op\": \"warp\", \"in\": \"input\"}]}",
	     "unknown or missing \"op\""},
	    {"{\"nodes\": [{\"name\": \"input\", \"op\": \"input\", \"shape\": [1,4,4]},"
	     " {\"name\": \"s\", \"op\": \"softmax\", \"in\": \"later\"}]}",
	     "not an earlier node"},
	    {"{\"nodes\": [{\"name\": \"input\", \"op\": \"input\", \"shape\": [1,4,4]},"
	     " {\"name\": \"input\", \"op\": \"softmax\", \"in\": \"input\"}]}",
	     "used twice"},
	    {"{\"nodes\": [{\"name\": \"input\", \"op\": \"input\", \"shape\": [1,4,4]},"
	     " {\"name\": \"c\", \"op\": \"conv2d\", \"in\": \"input\", \"kernel\": 3}]}",
	     "missing \"filters\""},
	    {"{\"nodes\": [{\"name\": \"input\", \"op\": \"input\", \"shape\": [1,4,4]},"
	     " {\"name\": \"c\", \"op\": \"conv2d\", \"in\": \"input\", \"filters\": 2, "
	     "\"kernel\": 9}]}",
	     "larger than padded input"},
	    {"{\"nodes\": [{\"name\": \"input\", \"op\": \"input\", \"shape\": [1,4,4]},"
	     " {\"name\": \"r\", \"op\": \"relu\", \"in\": \"input\"}]}",
	     "last node must be a softmax"},
	    {"{\"nodes\": [{\"name\": \"input\", \"op\": \"input\", \"shape\": [1,4,4]},"
	     " {\"name\": \"p\", \"op\": \"maxpool\", \"in\": \"input\", \"kernel\": 2},"
	     " {\"name\": \"c\", \"op\": \"concat\", \"in\": [\"input\", \"p\"]},"
	     " {\"name\": \"s\", \"op\": \"softmax\", \"in\": \"c\"}]}",
	     "is 2x2"},
	    {"{\"nodes\": [{\"name\": \"input\", \"op\": \"input\", \"shape\": [1,4,4]},"
	     " {\"name\": \"d\", \"op\": \"dropout\", \"in\": \"input\", \"rate\": 1.5},"
	     " {\"name\": \"s\", \"op\": \"softmax\", \"in\": \"d\"}]}",
	     "\"rate\" is 1.5"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nn_graph *g = NULL;
		struct dg_error err = {0};
		int rc = nn_graph_parse(&g, cases[i].json, &err);
		if (!ok(rc == -1 && !g && err.code == DG_ERR_FORMAT &&
		            strstr(err.msg, cases[i].want),
		        "bad graph %zu refused: \"%s\"", i, cases[i].want))
			diag("  message was: %s", err.msg);
	}
}

#ifndef GRAPH_EPS
#define GRAPH_EPS 3e-3f
#endif

struct graph_ctx {
	struct nn_graph *g;
	float *params;
	struct nn_workspace *ws;
	float *x;
	uint8_t labels[3];
	int B;
};

static double graph_loss(void *p)
{
	struct graph_ctx *c = p;
	const float *probs;
	double loss = 0;

	nn_workspace_seed(c->ws, 5); /* same dropout masks every evaluation */
	probs = nn_forward(c->g, c->params, c->ws, c->x, c->B);
	for (int b = 0; b < c->B; b++)
		loss -= log(probs[b * 10 + c->labels[b]]);
	return loss / c->B;
}

static void test_graph_backward(const char *name)
{
	struct graph_ctx c = {.B = 3, .labels = {1, 7, 4}};
	struct dg_error err;

	nn_zoo_build(&c.g, name, &err);
	c.params = malloc(c.g->n_params * sizeof(float));
	nn_params_init(c.g, c.params, 11);
	for (size_t i = 0; i < c.g->n_params; i++) /* non-zero biases exercise them */
		if (c.params[i] == 0)
			c.params[i] = 0.05f * frand();
	nn_workspace_create(&c.ws, c.g, c.B, true, &err);
	c.x = zeros(c.B * 784);
	/* Dense random pixels: zero regions would make max-pool windows tie,
	 * where the function has no derivative for differences to find. */
	for (int i = 0; i < c.B * 784; i++)
		c.x[i] = 0.5f + 0.5f * frand();

	float *grads = zeros(c.g->n_params);
	graph_loss(&c);
	float loss;
	nn_backward(c.g, c.params, grads, c.ws, c.labels, c.B, &loss, &err);

	/* For every tensor (both branches included), the directional
	 * derivative along a random direction v: (L(p + eps v) - L(p - eps v))
	 * / 2 eps against <grad, v>.  One parameter at a time would drown in
	 * float rounding of the loss; a unit direction sums a tensor's worth of
	 * gradient and stands well above it. */
	double worst = 0;
	int tensors = 0;
	for (int i = 0; i < c.g->n_nodes; i++) {
		const struct nn_node *n = &c.g->nodes[i];
		if (!n->n_weight)
			continue;
		for (int t = 0; t < 2; t++) {
			size_t off = t ? n->bias : n->weight, cnt = t ? n->n_bias : n->n_weight;
			float *save = malloc(cnt * sizeof(float)), *v = rand_buf(cnt);
			double analytic = 0, norm = sqrt(dot(v, v, cnt));

			for (size_t k = 0; k < cnt; k++) /* a unit step, whatever the size */
				v[k] /= (float)norm;

			memcpy(save, c.params + off, cnt * sizeof(float));
			for (size_t k = 0; k < cnt; k++) {
				analytic += (double)grads[off + k] * v[k];
				c.params[off + k] = save[k] + GRAPH_EPS * v[k];
			}
			double lp = graph_loss(&c);
			for (size_t k = 0; k < cnt; k++)
				c.params[off + k] = save[k] - GRAPH_EPS * v[k];
			double lm = graph_loss(&c);
			memcpy(c.params + off, save, cnt * sizeof(float));
			double numeric = (lp - lm) / (2 * GRAPH_EPS);
			double e =
			    fabs(analytic - numeric) / fmax(fabs(analytic) + fabs(numeric), 1e-6);
			if (e > worst)
				worst = e;
			if (e >= 1e-2)
				diag("  %s.%s: analytic %.6g, numeric %.6g", n->name,
				     t ? "bias" : "weight", analytic, numeric);
			tensors++;
			free(save), free(v);
		}
	}
	/* Per layer the match is 1e-3 (above); through a whole float network
	 * the loss's own rounding and ReLU/max-pool kinks crossed inside the
	 * step leave a few percent, shrinking with eps as it should. */
	ok(worst < 5e-2,
	   "%s: gradients of all %d tensors match finite differences through the whole graph "
	   "(worst rel err %.2g)",
	   name, tensors, worst);
	free(grads), free(c.params), free(c.x);
	nn_workspace_free(c.ws);
	nn_graph_free(c.g);
}

/* ---- threads ----------------------------------------------------------------- */

static void test_threads(void)
{
	struct nn_graph *g;
	struct dg_error err;
	const int B = 7;
	nn_zoo_build(&g, "cnn", &err);
	float *params = malloc(g->n_params * sizeof(float)), *x = rand_buf(B * 784);
	float *out[2], *grads[2], *single[2];
	uint8_t labels[7] = {0, 1, 2, 3, 4, 5, 6};
	nn_params_init(g, params, 3);

	for (int t = 0; t < 2; t++) {
		omp_set_num_threads(t + 1);
		struct nn_workspace *ws, *inf;
		nn_workspace_create(&ws, g, B, true, &err);
		nn_workspace_create(&inf, g, 1, false, &err);
		out[t] = malloc(sizeof(float) * B * 10);
		grads[t] = zeros(g->n_params);
		single[t] = malloc(sizeof(float) * 10);
		nn_workspace_seed(ws, 1);
		memcpy(out[t], nn_forward(g, params, ws, x, B), sizeof(float) * B * 10);
		float loss;
		nn_backward(g, params, grads[t], ws, labels, B, &loss, &err);
		memcpy(single[t], nn_forward(g, params, inf, x, 1), sizeof(float) * 10);
		nn_workspace_free(ws);
		nn_workspace_free(inf);
	}
	omp_set_num_threads(2);
	ok(memcmp(out[0], out[1], sizeof(float) * B * 10) == 0,
	   "batch forward: 1 and 2 threads give identical probabilities");
	ok(memcmp(single[0], single[1], sizeof(float) * 10) == 0,
	   "single-image forward: 1 and 2 threads give identical probabilities");
	ok(memcmp(grads[0], grads[1], sizeof(float) * g->n_params) == 0,
	   "backward: 1 and 2 threads give identical gradients");
	for (int t = 0; t < 2; t++)
		free(out[t]), free(grads[t]), free(single[t]);
	free(params), free(x);
	nn_graph_free(g);
}

int main(void)
{
	test_gemm();
	test_im2col_adjoint();
	test_conv_forward();
	test_pool_dense_forward();
	test_conv_backward();
	test_dense_backward();
	test_other_backward();
	test_zoo();
	test_graph_errors();
	test_graph_backward("cnn");
	test_graph_backward("lenet5");
	test_graph_backward("mlp");
	test_threads();
	/* The optimised paths; last, so the tests above draw the same random
	 * numbers as they always have. */
	test_gemm_shapes();
	test_conv_direct();
	test_fused_relu();
	test_fused_graph();
	test_branches();
	return tap_done();
}
