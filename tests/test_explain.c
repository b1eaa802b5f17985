/*
 * test_explain.c - explanations: the class gradient against finite
 * differences, Grad-CAM maps that sit on the ink, differ between digits,
 * and are the same bits for 1 and 2 threads; bad requests refused.
 *
 * Uses the shipped models (models/) and MNIST test digits (make data, or
 * DIGITS_MNIST_DIR); skips with the reason otherwise.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/nn.h"
#include "idx.h"
#include "image/image.h"
#include "image_fixtures.h"
#include "tap.h"

#define PIX IMAGE_PIXELS

static const char *const names[] = {"cnn", "lenet5", "mlp"};
#define N_MODELS 3

static void to_float(const uint8_t *px, float *x)
{
	for (int i = 0; i < PIX; i++)
		x[i] = px[i] / 255.0f;
}

/* The logit of class c for x, from an inference workspace. */
static float logit(const struct model *m, struct nn_workspace *ws, const float *x, int c)
{
	const struct nn_graph *g = m->graph;

	nn_forward(g, m->params, ws, x, 1);
	return nn_activation(ws, g->nodes[g->n_nodes - 1].inputs[0])[c];
}

static int argmax(const float *p, int n)
{
	int best = 0;

	for (int i = 1; i < n; i++)
		best = p[i] > p[best] ? i : best;
	return best;
}

/* d(logit)/d(pixel) against central differences on 24 pixels of x. */
static void check_input_gradient(const struct model *m, const float *x0)
{
	struct nn_workspace *ex, *ws;
	const float *grad;
	float x[PIX], top = 0;
	int agree = 0, c;
	const float h = 2e-3f;

	nn_workspace_create_explain(&ex, m->graph, NULL);
	nn_workspace_create(&ws, m->graph, 1, false, NULL);
	/* A digit on a faint random ground: MNIST's exact zeros put many
	 * ReLUs and max-pools exactly on their kinks, where no derivative
	 * exists for a difference to agree with. */
	for (int i = 0; i < PIX; i++)
		x[i] = 0.05f + 0.9f * x0[i] + 0.05f * (float)((i * 2654435761u >> 7) % 1000) / 1000;
	c = argmax(nn_forward(m->graph, m->params, ws, x, 1), 10);
	nn_class_gradient(m->graph, m->params, ex, x, c, 0, &grad, NULL);
	for (int i = 0; i < PIX; i++)
		top = fabsf(grad[i]) > top ? fabsf(grad[i]) : top;
	for (int k = 0; k < 24; k++) {
		int i = 200 + k * 17; /* through the middle rows, where the ink is */
		float keep = x[i], up, down, fd;

		x[i] = keep + h, up = logit(m, ws, x, c);
		x[i] = keep - h, down = logit(m, ws, x, c);
		x[i] = keep;
		fd = (up - down) / (2 * h);
		if (fabsf(fd - grad[i]) <= 0.05f * top + 1e-3f)
			agree++;
		else
			diag("%s: pixel %d: gradient %.5f, central difference %.5f", m->graph->name,
			     i, grad[i], fd);
	}
	ok(top > 0 && agree >= 22,
	   "%s: class %d's input gradient matches central differences "
	   "at %d of 24 pixels (largest %.4g)",
	   m->graph->name, c, agree, top);
	nn_workspace_free(ex);
	nn_workspace_free(ws);
}

/* At the explained layer: for a small input step, the change of the
 * logit is the gradient there dotted with the change of the layer's
 * activation (first order).  Three directions. */
static void check_layer_gradient(const struct model *m, const float *x0)
{
	const struct nn_graph *g = m->graph;
	struct nn_explain_info info;
	struct nn_workspace *ex, *ws;
	const float *grad;
	float x[PIX], *a0, *dl = NULL;
	int good = 0, c;
	size_t n;

	nn_explain_info(g, &info);
	n = (size_t)g->nodes[info.node].c * info.map_h * info.map_w;
	nn_workspace_create_explain(&ex, g, NULL);
	nn_workspace_create(&ws, g, 1, false, NULL);
	a0 = malloc(sizeof(float) * n * 2);
	c = argmax(nn_forward(g, m->params, ws, x0, 1), 10);
	nn_class_gradient(g, m->params, ex, x0, c, info.node, &grad, NULL);
	/* Node 0's gradient is the pixels' (nn_class_gradient), so there the
	 * change is the pixels'. */
	memcpy(a0, info.node ? nn_activation(ex, info.node) : x0, sizeof(float) * n);
	dl = a0 + n;
	memcpy(dl, grad, sizeof(float) * n);
	for (int d = 0; d < 3; d++) {
		double predicted = 0, l0 = logit(m, ws, x0, c), l1;
		const float *a1;

		for (int i = 0; i < PIX; i++)
			x[i] = x0[i] + 1e-3f * (float)(((i * 7919 + d * 104729) % 201) - 100) / 100;
		l1 = logit(m, ws, x, c);
		nn_forward(g, m->params, ex, x, 1);
		a1 = info.node ? nn_activation(ex, info.node) : x;
		for (size_t i = 0; i < n; i++)
			predicted += (double)dl[i] * (a1[i] - a0[i]);
		good += fabs((l1 - l0) - predicted) <= 0.05 * fabs(l1 - l0) + 1e-4;
		diag("%s: direction %d: logit moved %.6f, gradient at %s predicts %.6f", g->name, d,
		     l1 - l0, g->nodes[info.node].name, predicted);
	}
	ok(good >= 2, "%s: the gradient at %s predicts the logit's change (%d of 3 directions)",
	   g->name, g->nodes[info.node].name, good);
	free(a0);
	nn_workspace_free(ex);
	nn_workspace_free(ws);
}

/* Share of the map's mass on the ink (pixels above 0.1, grown by two
 * pixels: a 7x7 map cannot be sharper) and the share of the picture that
 * region covers. */
static void mass_on_ink(const float *px, const float *map, double *mass, double *area)
{
	double on = 0, all = 0;
	int cells = 0;

	for (int y = 0; y < IMAGE_SIDE; y++)
		for (int x = 0; x < IMAGE_SIDE; x++) {
			int near = 0;

			for (int dy = -2; dy <= 2 && !near; dy++)
				for (int dx = -2; dx <= 2 && !near; dx++) {
					int yy = y + dy, xx = x + dx;

					near = yy >= 0 && yy < IMAGE_SIDE && xx >= 0 &&
					       xx < IMAGE_SIDE && px[yy * IMAGE_SIDE + xx] > 0.1f;
				}
			all += map[y * IMAGE_SIDE + x];
			on += near ? map[y * IMAGE_SIDE + x] : 0;
			cells += near;
		}
	*mass = all > 0 ? on / all : 0;
	*area = (double)cells / PIX;
}

/* A 7 drawn small in the top-left corner of an 800x600 page. */
static void check_corner_digit(const struct model *m)
{
	gdImagePtr im = digit_image('7', 800, 600, 30, 20, 120, 14, BLACK, WHITE);
	struct blob b = encode(im, E_PNG);
	struct image_limits lim;
	struct nn_workspace *ex;
	struct image_info info;
	float px[PIX], map[PIX], probs[10];
	double mass, area;
	struct dg_error err;

	image_limits_default(&lim);
	nn_workspace_create_explain(&ex, m->graph, NULL);
	if (!ok(image_to_mnist(b.p, (size_t)b.n, &lim, px, &info, &err) == 0,
	        "%s: the corner 7 normalises", m->graph->name))
		diag("%s", err.msg);
	nn_explain(m->graph, m->params, ex, px, 7, map, probs, NULL);
	mass_on_ink(px, map, &mass, &area);
	is_int(argmax(probs, 10), 7, "%s: the corner 7 is read as 7", m->graph->name);
	/* Grad-CAM localises: most of its mass on the ink, at least 1.5 times
	 * as dense there as over the picture.  Saliency (mlp) spreads over
	 * every pixel the dense layers read; it must still be denser on the
	 * ink than off it. */
	struct nn_explain_info ei;
	nn_explain_info(m->graph, &ei);
	if (ei.method == NN_EXPLAIN_GRADCAM)
		ok(mass > 0.5 && mass >= 1.5 * area,
		   "%s: %.0f %% of the map lies on the ink, which covers %.0f %%", m->graph->name,
		   100 * mass, 100 * area);
	else
		ok(mass > area, "%s: the saliency is denser on the ink (%.0f %% of it on %.0f %%)",
		   m->graph->name, 100 * mass, 100 * area);
	nn_workspace_free(ex);
	gdFree(b.p);
	gdImageDestroy(im);
}

/* The first test digit of label d that m reads right. */
static int first_right(const struct model *m, const struct idx_set *t, int d, float *x)
{
	struct nn_workspace *ws;
	int found = -1;

	nn_workspace_create(&ws, m->graph, 1, false, NULL);
	for (int i = 0; i < t->n && found < 0; i++) {
		if (t->labels[i] != d)
			continue;
		to_float(t->pixels + (size_t)i * PIX, x);
		if (argmax(nn_forward(m->graph, m->params, ws, x, 1), 10) == d)
			found = i;
	}
	nn_workspace_free(ws);
	return found;
}

/* A 1 and an 8 are explained differently, and most where their strokes
 * differ. */
static void check_one_and_eight(const struct model *m, const struct idx_set *t)
{
	float one[PIX], eight[PIX], m1[PIX], m8[PIX];
	double diff = 0, where = 0, nowhere = 0;
	int n_where = 0, n_nowhere = 0;
	struct nn_workspace *ex;

	nn_workspace_create_explain(&ex, m->graph, NULL);
	first_right(m, t, 1, one);
	first_right(m, t, 8, eight);
	nn_explain(m->graph, m->params, ex, one, 1, m1, NULL, NULL);
	nn_explain(m->graph, m->params, ex, eight, 8, m8, NULL, NULL);
	for (int i = 0; i < PIX; i++) {
		double d = fabs(m1[i] - m8[i]);
		int a = one[i] > 0.3f, b = eight[i] > 0.3f;

		diff += d;
		if (a != b)
			where += d, n_where++;
		else if (!a)
			nowhere += d, n_nowhere++;
	}
	diff /= PIX, where /= n_where, nowhere /= n_nowhere;
	ok(diff >= 0.05, "%s: the maps of a 1 and an 8 differ (mean %.3f)", m->graph->name, diff);
	ok(where > nowhere, "%s: most where the strokes differ (%.3f there, %.3f off the ink)",
	   m->graph->name, where, nowhere);
	nn_workspace_free(ex);
}

static void check_threads(const struct model *m, const float *x)
{
	struct nn_workspace *one, *two;
	float a[PIX], b[PIX], c[PIX];

	omp_set_num_threads(1);
	nn_workspace_create_explain(&one, m->graph, NULL);
	omp_set_num_threads(2);
	nn_workspace_create_explain(&two, m->graph, NULL);
	nn_explain(m->graph, m->params, one, x, 3, a, NULL, NULL);
	nn_explain(m->graph, m->params, two, x, 3, b, NULL, NULL);
	nn_explain(m->graph, m->params, one, x, 3, c, NULL, NULL);
	ok(memcmp(a, b, sizeof(a)) == 0 && memcmp(a, c, sizeof(a)) == 0,
	   "%s: the map is the same bits for 1 and 2 threads, and again", m->graph->name);
	nn_workspace_free(one);
	nn_workspace_free(two);
}

static void check_refusals(const struct model *m, const float *x)
{
	struct nn_workspace *ex, *ws;
	struct dg_error err = {0};
	float map[PIX];

	nn_workspace_create_explain(&ex, m->graph, NULL);
	nn_workspace_create(&ws, m->graph, 1, false, NULL);
	ok(nn_explain(m->graph, m->params, ex, x, 10, map, NULL, &err) < 0 &&
	       strstr(err.msg, "class 10"),
	   "%s: class 10 refused: %s", m->graph->name, err.msg);
	ok(nn_explain(m->graph, m->params, ex, x, -1, map, NULL, &err) < 0 &&
	       strstr(err.msg, "class -1"),
	   "%s: class -1 refused: %s", m->graph->name, err.msg);
	ok(nn_explain(m->graph, m->params, ws, x, 1, map, NULL, &err) < 0 &&
	       strstr(err.msg, "explanation workspace"),
	   "%s: an inference workspace refused: %s", m->graph->name, err.msg);
	nn_workspace_free(ex);
	nn_workspace_free(ws);
}

static void check_info(const struct model *m)
{
	static const struct {
		const char *model, *method, *node;
		int side;
	} want[] = {{"cnn", "grad-cam", "conv3", 7},
	            {"lenet5", "grad-cam", "relu3", 10},
	            {"mlp", "saliency", "input", 28}};
	struct nn_explain_info info;

	nn_explain_info(m->graph, &info);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strcmp(want[i].model, m->graph->name) == 0)
			ok(strcmp(nn_explain_method_name(info.method), want[i].method) == 0 &&
			       strcmp(m->graph->nodes[info.node].name, want[i].node) == 0 &&
			       info.map_h == want[i].side && info.map_w == want[i].side,
			   "%s: %s on %s, %dx%d", m->graph->name,
			   nn_explain_method_name(info.method), m->graph->nodes[info.node].name,
			   info.map_h, info.map_w);
}

#define CHECKS 13 /* per model, its loading included */

int main(void)
{
	const char *src = getenv("top_srcdir"), *build = getenv("top_builddir");
	const char *env = getenv("DIGITS_MNIST_DIR");
	char dir[4096], path[4200];
	struct idx_set test;
	struct dg_error err = {0};

	snprintf(dir, sizeof(dir), "%s/data/mnist", build ? build : ".");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	if (!idx_mnist_present(dir, "t10k")) {
		skip(N_MODELS * CHECKS, "MNIST test set not in data/mnist (run make data)");
		return tap_done();
	}
	if (idx_load_mnist(&test, dir, "t10k", &err)) {
		diag("%s", err.msg);
		skip(N_MODELS * CHECKS, "MNIST test set did not load");
		return tap_done();
	}
	for (int i = 0; i < N_MODELS; i++) {
		struct model *m;
		float x[PIX];

		snprintf(path, sizeof(path), "%s/models/%s.model", src ? src : ".", names[i]);
		if (!ok(model_load(&m, path, &err) == 0, "%s loads", path)) {
			diag("%s", err.msg);
			skip(CHECKS - 1, "no model");
			continue;
		}
		to_float(test.pixels, x); /* the first test digit, a 7 */
		check_info(m);
		check_input_gradient(m, x);
		check_layer_gradient(m, x);
		check_corner_digit(m);
		check_one_and_eight(m, &test);
		check_threads(m, x);
		check_refusals(m, x);
		model_free(m);
	}
	idx_free(&test);
	return tap_done();
}
