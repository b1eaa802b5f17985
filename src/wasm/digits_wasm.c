/*
 * digits_wasm.c - the engine in the browser: what www/js/local.js calls in
 * www/wasm/digits.wasm (emscripten).
 *
 * The same model files and the same code as the server: a model's bytes,
 * fetched by the page, go through model_load (written to emscripten's
 * in-memory file system first, so every check of the server's loader runs:
 * sizes, tensor table, checksum, finite weights), and a picture goes
 * through image_normalise and nn_forward.  Only the decoding differs: the
 * browser decodes the file (canvas getImageData gives RGBA) and
 * dw_predict turns those pixels into the work picture through the same
 * code as the server's image_decode.c turns what libpng or libjpeg gave
 * it (image_work.c), so the same pixels give the same answer.
 *
 * Errors: a function that fails returns a negative value or NULL, and
 * dw_error() says why, naming the model or the picture.
 * Single-threaded, as the page calls it: one model, one workspace each.
 */
#include <emscripten.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digits.h"
#include "digits_wasm.h"
#include "engine/confidence.h"
#include "engine/model.h"
#include "engine/nn.h"
#include "image/image.h"
#include "image/image_work.h"

/* The server's default limit on a side (DIGITS_MAX_SIDE). */
#define MAX_SIDE 4096

struct dw_model {
	struct model *model;
	struct nn_workspace *ws;
	struct confidence_params confidence; /* the file's; .fitted false if none */
	struct confidence_judgement judged;  /* of the last dw_predict */
	struct nn_workspace *explain_ws;     /* made on the first dw_explain */
	float last[IMAGE_PIXELS];            /* the last picture seen, for dw_bench_forward */
};

static struct dg_error last_error;

EMSCRIPTEN_KEEPALIVE const char *dw_error(void)
{
	return last_error.msg;
}

/* A model name the page gives becomes a file name: letters, digits, '-'
 * and '_' only. */
static int name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_'))
			return 0;
	return 1;
}

static int write_file(const char *path, const unsigned char *bytes, size_t len)
{
	FILE *f = fopen(path, "wb");
	size_t done;

	if (!f)
		return dg_fail(&last_error, DG_ERR_NOMEM, "%s: cannot create", path);
	done = fwrite(bytes, 1, len, f);
	if (fclose(f) || done != len) {
		unlink(path);
		return dg_fail(&last_error, DG_ERR_NOMEM, "%s: cannot write %zu bytes", path, len);
	}
	return 0;
}

/* The model file models/<name>.model from its bytes (the caller keeps
 * them).  NULL on failure, with the loader's own message. */
EMSCRIPTEN_KEEPALIVE struct dw_model *dw_model_load(const char *name, const unsigned char *bytes,
                                                    size_t len)
{
	char path[96];
	struct dw_model *m;
	int rc;

	if (!name_ok(name)) {
		dg_fail(&last_error, DG_ERR_INVALID, "bad model name");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		dg_fail(&last_error, DG_ERR_NOMEM, "%s: out of memory", name);
		return NULL;
	}
	mkdir("models", 0755);
	snprintf(path, sizeof(path), "models/%s.model", name);
	if (write_file(path, bytes, len)) {
		free(m);
		return NULL;
	}
	/* model_load keeps its own copy: the file goes at once, so the page's
	 * memory holds each model once. */
	rc = model_load(&m->model, path, &last_error);
	unlink(path);
	if (rc ||
	    confidence_from_training(m->model->training, m->model->graph, &m->confidence,
	                             &last_error) ||
	    nn_workspace_create(&m->ws, m->model->graph, 1, false, &last_error)) {
		model_free(m->model);
		free(m);
		return NULL;
	}
	return m;
}

EMSCRIPTEN_KEEPALIVE void dw_model_free(struct dw_model *m)
{
	if (!m)
		return;
	nn_workspace_free(m->ws);
	nn_workspace_free(m->explain_ws);
	model_free(m->model);
	free(m);
}

EMSCRIPTEN_KEEPALIVE const char *dw_model_name(const struct dw_model *m)
{
	return model_name(m->model);
}

EMSCRIPTEN_KEEPALIVE const char *dw_model_precision(const struct dw_model *m)
{
	return nn_graph_precision(m->model->graph);
}

EMSCRIPTEN_KEEPALIVE int dw_model_classes(const struct dw_model *m)
{
	return m->model->graph->n_classes;
}

/* RGBA pixels to the 28x28 the model sees (as image_to_mnist does after
 * decoding); *inverted as in struct image_info. */
static int rgba_to_mnist(const uint8_t *rgba, int W, int H, float out[IMAGE_PIXELS], int *inverted,
                         struct dg_error *err)
{
	struct image_luminance l;
	struct dg_error e = {0};
	int rc;

	if (W < 1 || H < 1 || W > MAX_SIDE || H > MAX_SIDE)
		return dg_fail(err, DG_ERR_TOO_LARGE, "picture of %dx%d pixels, the limit is %dx%d",
		               W, H, MAX_SIDE, MAX_SIDE);
	if (image_luminance_from_rgba(rgba, W, H, &l, err) < 0)
		return -1;
	rc = image_luminance_to_mnist(&l, out, inverted, &e);
	image_luminance_free(&l);
	if (rc < 0)
		return dg_fail(err, e.code, "%dx%d: %s", W, H, e.msg);
	return 0;
}

/*
 * Recognise one picture: rgba[H][W][4] in, the digit out (negative on
 * failure, -(dg_code) so the page can tell "no digit" from the rest).
 * seen receives the 784 floats the model saw, probs the model's
 * n_classes probabilities, ms {normalise, forward} in milliseconds, and
 * *inverted whether the picture was dark ink on light ground.
 */
EMSCRIPTEN_KEEPALIVE int dw_predict(struct dw_model *m, const uint8_t *rgba, int W, int H,
                                    float *seen, float *probs, double *ms, int *inverted)
{
	double t0 = dg_seconds(), t1;
	const float *p;
	int best = 0, n;

	*inverted = 0;
	if (rgba_to_mnist(rgba, W, H, seen, inverted, &last_error))
		return -(int)last_error.code;
	t1 = dg_seconds();
	p = nn_forward(m->model->graph, m->model->params, m->ws, seen, 1);
	if (!p) {
		dg_fail(&last_error, DG_ERR_INVALID, "%s: forward pass failed",
		        model_name(m->model));
		return -(int)last_error.code;
	}
	n = m->model->graph->n_classes;
	memcpy(probs, p, (size_t)n * sizeof(float));
	/* As the server's answer_confidence: the not-a-digit head reads the
	 * activations this forward pass left. */
	if (m->confidence.fitted) {
		/* An int8 model's bytes read as floats, as registry_hidden does. */
		float hidden[NOT_A_DIGIT_MAX_FEATURES];
		bool read = m->confidence.head.fitted &&
		            nn_activation_floats(m->model->graph, m->ws, m->confidence.head.node, 0,
		                                 hidden) == 0;

		confidence_judge_input(&m->confidence, p, n, read ? hidden : NULL, seen,
		                       &m->judged);
	}
	for (int i = 1; i < n; i++)
		if (p[i] > p[best])
			best = i;
	memcpy(m->last, seen, sizeof(m->last));
	ms[0] = (t1 - t0) * 1e3;
	ms[1] = (dg_seconds() - t1) * 1e3;
	return best;
}

EMSCRIPTEN_KEEPALIVE int dw_explain(struct dw_model *m, int cls, int scale, float *map,
                                    unsigned char *rgb)
{
	const struct nn_graph *g = m->model->graph;
	int best = 0;

	if (strcmp(nn_graph_precision(g), "float32") != 0)
		return dg_fail(&last_error, DG_ERR_UNSUPPORTED,
		               "model \"%s\" is %s and cannot be explained", model_name(m->model),
		               nn_graph_precision(g));
	if (scale < 1 || scale > IMAGE_HEATMAP_MAX_SCALE)
		return dg_fail(&last_error, DG_ERR_INVALID, "heat map scale %d, want 1..%d", scale,
		               IMAGE_HEATMAP_MAX_SCALE);
	if (!m->explain_ws && nn_workspace_create_explain(&m->explain_ws, g, &last_error))
		return -1;
	if (cls < 0) {
		const float *p = nn_forward(g, m->model->params, m->explain_ws, m->last, 1);

		for (int c = 1; p && c < g->n_classes; c++)
			best = p[c] > p[best] ? c : best;
		cls = best;
	}
	if (nn_explain(g, m->model->params, m->explain_ws, m->last, cls, map, NULL, &last_error))
		return -1;
	image_heatmap_rgb(m->last, map, scale, rgb);
	return cls;
}

EMSCRIPTEN_KEEPALIVE const char *dw_explain_method(const struct dw_model *m)
{
	struct nn_explain_info info;

	nn_explain_info(m->model->graph, &info);
	return nn_explain_method_name(info.method);
}

EMSCRIPTEN_KEEPALIVE int dw_judgement(const struct dw_model *m, double *confidence)
{
	if (!m->confidence.fitted)
		return -1;
	*confidence = m->judged.confidence;
	return (int)m->judged.verdict;
}

/* The browser's clock is coarse (0.1 ms in Chromium without cross-origin
 * isolation): the forward pass alone, runs times on the last picture, in
 * milliseconds per picture, for the page's benchmark. */
EMSCRIPTEN_KEEPALIVE double dw_bench_forward(struct dw_model *m, int runs)
{
	double t0 = dg_seconds();

	for (int i = 0; i < runs; i++)
		if (!nn_forward(m->model->graph, m->model->params, m->ws, m->last, 1))
			return -1.0;
	return runs > 0 ? (dg_seconds() - t0) * 1e3 / runs : 0.0;
}
