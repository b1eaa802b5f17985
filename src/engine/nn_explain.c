/*
 * nn_explain.c - why the network answered what it did: Grad-CAM maps, and
 * input-gradient saliency for graphs without a convolution.
 *
 * Grad-CAM (Selvaraju et al., 2017) weighs each channel of the last
 * convolution's output by the mean gradient of the class score over that
 * channel, sums the weighted channels, keeps the positive part and scales
 * the coarse map up to the input.  On a 28x28 input the last convolution
 * of "cnn" is 7x7 and of "lenet5" 10x10, so a map says which region
 * mattered, not which pixel.  A graph without a convolution ("mlp") has no
 * such layer: its map is the magnitude of the class score's gradient at
 * each input pixel.
 */
#include <math.h>
#include <string.h>

#include "nn.h"

/* The largest map explained, in cells (64x64): a 28x28 input's
 * convolutions are far smaller; larger inputs would want a scratch area. */
#define CAM_CELLS 4096

/* The node Grad-CAM reads: after the last conv2d, the last node that still
 * has a spatial map and is the convolution's own output (its relu, or a
 * concat of branches), before pooling or a dense layer takes it. */
void nn_explain_info(const struct nn_graph *g, struct nn_explain_info *info)
{
	int last_conv = -1, node = -1;

	for (int i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].op == NN_CONV2D)
			last_conv = i;
	for (int i = last_conv; i >= 0 && i < g->n_nodes; i++) {
		const struct nn_node *n = &g->nodes[i];

		if (n->op == NN_DENSE || n->op == NN_MAXPOOL || n->h * n->w < 2)
			break;
		if (n->op == NN_CONV2D || n->op == NN_RELU || n->op == NN_CONCAT)
			node = i;
	}
	info->method = node < 0 ? NN_EXPLAIN_SALIENCY : NN_EXPLAIN_GRADCAM;
	info->node = node < 0 ? 0 : node;
	info->map_h = g->nodes[info->node].h;
	info->map_w = g->nodes[info->node].w;
}

const char *nn_explain_method_name(enum nn_explain_method m)
{
	return m == NN_EXPLAIN_GRADCAM ? "grad-cam" : "saliency";
}

/* Bilinear, cell centres on cell centres: map cell (i, j) covers the
 * input's block (i h / mh .. (i + 1) h / mh). */
static void upsample(const float *m, int mh, int mw, float *out, int h, int w)
{
	for (int y = 0; y < h; y++) {
		float fy = (y + 0.5f) * mh / h - 0.5f;
		int y0 = fy < 0 ? 0 : (int)fy, y1 = y0 + 1 < mh ? y0 + 1 : mh - 1;
		float ty = fy < 0 ? 0 : fy - y0;

		for (int x = 0; x < w; x++) {
			float fx = (x + 0.5f) * mw / w - 0.5f;
			int x0 = fx < 0 ? 0 : (int)fx, x1 = x0 + 1 < mw ? x0 + 1 : mw - 1;
			float tx = fx < 0 ? 0 : fx - x0;
			float top = m[y0 * mw + x0] * (1 - tx) + m[y0 * mw + x1] * tx;
			float bot = m[y1 * mw + x0] * (1 - tx) + m[y1 * mw + x1] * tx;

			out[y * w + x] = top * (1 - ty) + bot * ty;
		}
	}
}

static void scale_to_unit(float *v, size_t n)
{
	float top = 0;

	for (size_t i = 0; i < n; i++)
		top = v[i] > top ? v[i] : top;
	for (size_t i = 0; i < n; i++)
		v[i] = top > 0 ? v[i] / top : 0.0f;
}

int nn_explain(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
               const float *input, int cls, float *map, float *probs, struct dg_error *err)
{
	const struct nn_node *in = &g->nodes[0];
	const size_t pixels = (size_t)in->h * in->w;
	struct nn_explain_info info;
	const float *grad, *act;

	nn_explain_info(g, &info);
	if (nn_class_gradient(g, params, ws, input, cls, info.node, &grad, err))
		return -1;
	if (probs)
		memcpy(probs, nn_activation(ws, g->n_nodes - 1), sizeof(float) * g->n_classes);
	if (info.method == NN_EXPLAIN_SALIENCY) {
		/* Every input channel's magnitude, summed per pixel. */
		memset(map, 0, sizeof(float) * pixels);
		for (int c = 0; c < in->c; c++)
			for (size_t p = 0; p < pixels; p++)
				map[p] += fabsf(grad[c * pixels + p]);
		scale_to_unit(map, pixels);
		return 0;
	}

	const struct nn_node *n = &g->nodes[info.node];
	const size_t plane = (size_t)n->h * n->w;
	float cam[CAM_CELLS];

	if (plane > CAM_CELLS)
		return dg_fail(err, DG_ERR_INVALID,
		               "graph \"%s\": node \"%s\" has a %dx%d map, "
		               "larger than an explanation takes",
		               g->name, n->name, n->h, n->w);
	act = nn_activation(ws, info.node);
	memset(cam, 0, sizeof(float) * plane);
	for (int c = 0; c < n->c; c++) {
		double mean = 0;

		for (size_t p = 0; p < plane; p++)
			mean += grad[c * plane + p];
		mean /= (double)plane;
		for (size_t p = 0; p < plane; p++)
			cam[p] += (float)mean * act[c * plane + p];
	}
	for (size_t p = 0; p < plane; p++)
		cam[p] = cam[p] > 0 ? cam[p] : 0;
	upsample(cam, n->h, n->w, map, in->h, in->w);
	scale_to_unit(map, pixels);
	return 0;
}
