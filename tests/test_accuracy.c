/*
 * test_accuracy.c - the shipped models reach their accuracy on MNIST test.
 *
 * For each models/<name>.model in the source tree: load it (validated),
 * classify the 10000 MNIST test images, and require cnn >= 99.5 %,
 * lenet5 >= 99.0 %, mlp >= 98.3 %.  Also checks that the accuracy the
 * model file claims in its training metadata is the one measured here.
 * Needs MNIST (make data, or DIGITS_MNIST_DIR); skips with the reason
 * otherwise.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "idx.h"
#include "model.h"
#include "tap.h"
#include "train.h"

static const struct {
	const char *name;
	double min_accuracy;
} shipped[] = {
    {"cnn", 0.995},
    {"lenet5", 0.990},
    {"mlp", 0.983},
};

#define N_SHIPPED (int)(sizeof(shipped) / sizeof(shipped[0]))
#define CHECKS    4 /* per model */

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
		skip(N_SHIPPED * CHECKS, why);
		return tap_done();
	}
	if (!ok(idx_load_mnist(&test, dir, "t10k", &err) == 0, "load MNIST test set from %s",
	        dir)) {
		diag("%s", err.msg);
		return tap_done();
	}
	is_int(test.n, 10000, "MNIST test set has 10000 images");

	for (int i = 0; i < N_SHIPPED; i++) {
		struct model *m = NULL;
		struct train_eval ev;
		struct json_object *v;

		snprintf(path, sizeof(path), "%s/models/%s.model", src, shipped[i].name);
		if (access(path, F_OK) != 0) {
			snprintf(why, sizeof(why), "%s not shipped", path);
			skip(CHECKS, why);
			continue;
		}
		if (!ok(model_load(&m, path, &err) == 0, "%s loads", path)) {
			diag("%s", err.msg);
			skip(CHECKS - 1, "model did not load");
			continue;
		}
		is_str(model_name(m), shipped[i].name, "%s holds the %s network", path,
		       shipped[i].name);
		if (train_evaluate(m->graph, m->params, test.pixels, test.labels, test.n, &ev,
		                   &err) < 0) {
			ok(0, "%s evaluates", path);
			diag("%s", err.msg);
			skip(CHECKS - 3, "evaluation failed");
			model_free(m);
			continue;
		}
		double acc = (double)ev.correct / ev.n;
		if (!ok(acc >= shipped[i].min_accuracy, "%s: test accuracy %.2f%% >= %.1f%%",
		        shipped[i].name, 100 * acc, 100 * shipped[i].min_accuracy))
			diag("%d of %d correct", ev.correct, ev.n);
		v = NULL;
		if (m->training)
			json_object_object_get_ex(m->training, "test_correct", &v);
		is_int(v ? json_object_get_int(v) : -1, ev.correct,
		       "%s: the model file's recorded test_correct is what we measure",
		       shipped[i].name);
		model_free(m);
	}
	idx_free(&test);
	return tap_done();
}
