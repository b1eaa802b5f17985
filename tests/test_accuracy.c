/*
 * test_accuracy.c - the shipped models reach their accuracy on MNIST test.
 *
 * For each models/<name>.model in the source tree: load it (validated),
 * classify the 10000 MNIST test images, and require cnn >= 99.5 %,
 * lenet5 >= 99.0 %, mlp >= 98.3 %, the same of their int8 models, and
 * each int8 model within 0.5 point of its float one.  Also checks that the accuracy the
 * model file claims in its training metadata is the one measured here.
 * And that uploads lose nothing: each test digit, saved as a dark-on-light
 * PNG and sent through image_to_mnist() as the server does, must keep the
 * cnn's accuracy within 0.1 point of feeding the raw pixels.  Needs MNIST (make data, or
 * DIGITS_MNIST_DIR); skips with the reason otherwise.
 */
#include <gd.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "idx.h"
#include "image/image.h"
#include "engine/model.h"
#include "tap.h"
#include "train.h"

static const struct {
	const char *name;
	double min_accuracy;
	bool pipeline; /* also sent through the upload pipeline */
	int from;      /* int8: index of its float model here, else -1 */
} shipped[] = {
    {"cnn", 0.995, true, -1},     {"lenet5", 0.990, false, -1},     {"mlp", 0.983, false, -1},
    {"cnn-int8", 0.995, true, 0}, {"lenet5-int8", 0.990, false, 1}, {"mlp-int8", 0.983, false, 2},
};

#define N_SHIPPED (int)(sizeof(shipped) / sizeof(shipped[0]))
#define CHECKS    4 /* per model; one more with pipeline, one more for int8 */
/* An int8 model keeps its float model's accuracy within this many points. */
#define INT8_MAX_LOSS 0.5

static int extra_checks(int i)
{
	return shipped[i].pipeline + (shipped[i].from >= 0);
}

/* Correct answers of m on the test set sent as PNG uploads, or -1. */
static int pipeline_correct(const struct model *m, const struct idx_set *test)
{
	enum { BATCH = 100 };
	struct image_limits lim;
	struct nn_workspace *ws;
	float *batch = malloc(sizeof(float) * BATCH * IMAGE_PIXELS);
	int correct = 0;

	nn_workspace_create(&ws, m->graph, BATCH, false, NULL);
	image_limits_default(&lim);
	for (int i0 = 0; ws && batch && i0 < test->n; i0 += BATCH) {
		int n = test->n - i0 < BATCH ? test->n - i0 : BATCH;

		for (int b = 0; b < n; b++) {
			const uint8_t *px = test->pixels + (size_t)(i0 + b) * IMAGE_PIXELS;
			gdImagePtr im = gdImageCreateTrueColor(IMAGE_SIDE, IMAGE_SIDE);
			struct dg_error err;
			int size;

			for (int y = 0; y < IMAGE_SIDE; y++)
				for (int x = 0; x < IMAGE_SIDE; x++) {
					int v = 255 - px[y * IMAGE_SIDE + x]; /* ink on paper */
					gdImageSetPixel(im, x, y, gdTrueColor(v, v, v));
				}
			void *png = gdImagePngPtr(im, &size);
			gdImageDestroy(im);
			int rc = image_to_mnist(png, (size_t)size, &lim, batch + b * IMAGE_PIXELS,
			                        NULL, &err);
			gdFree(png);
			if (rc) {
				diag("test image %d: %s", i0 + b, err.msg);
				correct = -1;
				goto out;
			}
		}
		const float *probs = nn_forward(m->graph, m->params, ws, batch, n);
		for (int b = 0; b < n; b++) {
			int best = 0;
			for (int c = 1; c < 10; c++)
				if (probs[b * 10 + c] > probs[b * 10 + best])
					best = c;
			correct += best == test->labels[i0 + b];
		}
	}
out:
	free(batch);
	nn_workspace_free(ws);
	return correct;
}

int main(void)
{
	const char *src = getenv("top_srcdir"), *build = getenv("top_builddir");
	const char *env = getenv("DIGITS_MNIST_DIR");
	char dir[4096], path[4096], why[4200];
	struct idx_set test;
	struct dg_error err = {0};

	if (!src)
		src = ".";
	if (!build)
		build = ".";
	snprintf(dir, sizeof(dir), "%s/data/mnist", build);
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	if (!idx_mnist_present(dir, "t10k")) {
		snprintf(why, sizeof(why), "MNIST test set not in %s (run make data)", dir);
		int n = 1;
		for (int i = 0; i < N_SHIPPED; i++)
			n += CHECKS + extra_checks(i);
		skip(n, why);
		return tap_done();
	}
	if (!ok(idx_load_mnist(&test, dir, "t10k", &err) == 0, "load MNIST test set from %s",
	        dir)) {
		diag("%s", err.msg);
		return tap_done();
	}
	is_int(test.n, 10000, "MNIST test set has 10000 images");

	int correct[N_SHIPPED];
	for (int i = 0; i < N_SHIPPED; i++) {
		correct[i] = -1;
		struct model *m = NULL;
		struct train_eval ev;
		struct json_object *v;

		snprintf(path, sizeof(path), "%s/models/%s.model", src, shipped[i].name);
		if (access(path, F_OK) != 0) {
			snprintf(why, sizeof(why), "%s not shipped", path);
			skip(CHECKS + extra_checks(i), why);
			continue;
		}
		if (!ok(model_load(&m, path, &err) == 0, "%s loads", path)) {
			diag("%s", err.msg);
			skip(CHECKS - 1 + extra_checks(i), "model did not load");
			continue;
		}
		is_str(model_name(m), shipped[i].name, "%s holds the %s network", path,
		       shipped[i].name);
		if (train_evaluate(m->graph, m->params, test.pixels, test.labels, test.n, &ev,
		                   &err) < 0) {
			ok(0, "%s evaluates", path);
			diag("%s", err.msg);
			skip(CHECKS - 3 + extra_checks(i), "evaluation failed");
			model_free(m);
			continue;
		}
		double acc = (double)ev.correct / ev.n;
		correct[i] = ev.correct;
		if (!ok(acc >= shipped[i].min_accuracy, "%s: test accuracy %.2f%% >= %.1f%%",
		        shipped[i].name, 100 * acc, 100 * shipped[i].min_accuracy))
			diag("%d of %d correct", ev.correct, ev.n);
		v = NULL;
		if (m->training)
			json_object_object_get_ex(m->training, "test_correct", &v);
		is_int(v ? json_object_get_int(v) : -1, ev.correct,
		       "%s: the model file's recorded test_correct is what we measure",
		       shipped[i].name);
		if (shipped[i].from >= 0) {
			int f = correct[shipped[i].from];
			ok(f >= 0 && 100.0 * (f - ev.correct) / ev.n <= INT8_MAX_LOSS,
			   "%s: %.2f%% within %.1f point of %s's %.2f%%", shipped[i].name,
			   100 * acc, INT8_MAX_LOSS, shipped[shipped[i].from].name,
			   100.0 * f / ev.n);
		}
		if (shipped[i].pipeline) {
			int piped = pipeline_correct(m, &test);
			if (!ok(piped >= 0 && abs(piped - ev.correct) <= test.n / 1000,
			        "%s: test digits uploaded as dark-on-light PNGs: %d correct, "
			        "raw pixels %d (within 0.1 point)",
			        shipped[i].name, piped, ev.correct))
				diag("the image pipeline changes what the model sees");
		}
		model_free(m);
	}
	idx_free(&test);
	return tap_done();
}
