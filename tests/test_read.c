/*
 * test_read.c - reading numbers (image_read through reading_run, as the
 * server does) on crafted pictures of MNIST test digits from
 * train/number_gen.c, clean (dark on white, PNG), exact text asserted;
 * the refusals: no ink, not an image; and the "one whole digit" score's
 * block in the model file's header (training.reading): read, a file
 * without it still reads numbers, bad blocks refused naming the file.
 */
#include <json-c/json.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "idx.h"
#include "number_gen.h"
#include "service/reading.h"
#include "tap.h"

static struct registry *reg;
static struct idx_set test;
static struct image_read_result rr;

/* The first test image of each digit, so the text is known in advance. */
static int first_of[10];

static const char *read_text(const void *data, size_t len, struct dg_error *err)
{
	static char text[IMAGE_READ_MAX_DIGITS + 1];
	struct image_info info;

	if (reading_run(reg, 0, data, len, NULL, &rr, &info, NULL, err) < 0)
		return NULL;
	for (int i = 0; i < rr.n; i++)
		text[i] = (char)('0' + rr.digit[i].digit);
	text[rr.n] = '\0';
	return text;
}

/* The first test image of digit d whose ink is at least min_aspect times
 * wider than tall, or -1. */
static int wide_one(int d, double min_aspect)
{
	for (int i = 0; i < test.n; i++) {
		const uint8_t *px = test.pixels + (size_t)i * 784;
		int x0 = 28, x1 = -1, y0 = 28, y1 = -1;

		if (test.labels[i] != d)
			continue;
		for (int y = 0; y < 28; y++)
			for (int x = 0; x < 28; x++)
				if (px[y * 28 + x] >= 32) {
					x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
					y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
				}
		if (x1 >= 0 && x1 - x0 + 1 >= min_aspect * (y1 - y0 + 1))
			return i;
	}
	return -1;
}

/* Render digits (test images index[], or the first of each digit when
 * index is NULL) as o asks, clean, and read them. */
static void check_images(const char *name, const char *digits, const int *images,
                         const double *gaps, const int *broken)
{
	struct number_opts o = {
	    .ndigits = (int)strlen(digits), .clean = 1, .gaps = gaps, .broken = broken};
	int index[NUMBER_MAX];
	struct number nb;
	struct dg_error err = {0};
	const char *got;

	for (int i = 0; i < o.ndigits; i++)
		index[i] = images ? images[i] : first_of[digits[i] - '0'];
	if (number_render_digits(test.pixels, test.labels, index, &o, 1, &nb) < 0) {
		ok(0, "%s: rendered", name);
		return;
	}
	got = read_text(nb.bytes, nb.len, &err);
	if (!got)
		diag("%s", err.msg);
	is_str(got, digits, "%s: %s read exactly", name, digits);
	number_free(&nb);
}

static void check(const char *name, const char *digits, const double *gaps, const int *broken)
{
	check_images(name, digits, NULL, gaps, broken);
}

/* shipped's training metadata with training.reading changed by edit,
 * read as the registry reads it; 0 or -1 with err. */
static int read_block(const struct model *shipped, void (*edit)(struct json_object *reading),
                      struct reading_whole *w, struct dg_error *err)
{
	struct json_object *t = NULL, *reading;
	struct confidence_params cp;
	int rc;

	if (json_object_deep_copy(shipped->training, &t, NULL) < 0 ||
	    !json_object_object_get_ex(t, "reading", &reading))
		return dg_fail(err, DG_ERR_NOMEM, "no copy");
	edit(reading);
	rc = confidence_from_training(t, shipped->graph, &cp, err) < 0
	         ? -1
	         : reading_whole_from_training(t, shipped->graph, &cp, w, err);
	json_object_put(t);
	return rc;
}

static struct json_object *whole_digit(struct json_object *reading)
{
	return json_object_object_get(reading, "whole_digit");
}

static void edit_none(struct json_object *reading)
{
	(void)reading;
}

static void edit_short(struct json_object *reading)
{
	struct json_object *w = json_object_object_get(whole_digit(reading), "weights");

	json_object_array_del_idx(w, json_object_array_length(w) - 1, 1);
}

static void edit_nan(struct json_object *reading)
{
	json_object_array_put_idx(json_object_object_get(whole_digit(reading), "weights"), 7,
	                          json_object_new_double(NAN));
}

static void edit_inf_bias(struct json_object *reading)
{
	json_object_object_add(whole_digit(reading), "bias", json_object_new_double(INFINITY));
}

static void edit_string(struct json_object *reading)
{
	json_object_array_put_idx(json_object_object_get(whole_digit(reading), "weights"), 0,
	                          json_object_new_string("0.5"));
}

static void edit_node(struct json_object *reading)
{
	json_object_object_add(whole_digit(reading), "node", json_object_new_string("relu_fc1"));
}

static void edit_no_whole(struct json_object *reading)
{
	json_object_object_del(reading, "whole_digit");
}

/* The shipped cnn's block, and what is refused. */
static void check_block(const char *path)
{
	struct model *m = NULL;
	struct reading_whole w;
	struct dg_error err = {0};
	const struct registry_model_info *info = registry_model_info(reg, 0);
	static const struct {
		const char *name, *says;
		void (*edit)(struct json_object *);
	} bad[] = {
	    {"one weight short", "not an array of 201 numbers", edit_short},
	    {"a NaN weight", "out of range", edit_nan},
	    {"an infinite bias", "bias", edit_inf_bias},
	    {"a weight that is a string", "not a number", edit_string},
	    {"another layer", "relu_fc2", edit_node},
	    {"no whole_digit", "whole_digit", edit_no_whole},
	};

	ok(info->reading.fitted && info->reading.n_features == 201,
	   "shipped cnn: training.reading read (%d weights)", info->reading.n_features);
	if (model_load(&m, path, &err) < 0) {
		ok(0, "%s: %s", path, err.msg);
		return;
	}
	ok(read_block(m, edit_none, &w, &err) == 0 && w.fitted && w.bias == info->reading.bias &&
	       w.weight[200] == info->reading.weight[200],
	   "the block read again alike");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = '\0';
		ok(read_block(m, bad[i].edit, &w, &err) < 0 && strstr(err.msg, bad[i].says) &&
		       strstr(err.msg, "training.reading") && !w.fitted,
		   "%s: refused (%s)", bad[i].name, err.msg);
	}
	model_free(m);
}

/* The shipped cnn saved to dir without training.reading, or with edit
 * made to it; the path written, or NULL. */
static const char *save_variant(const char *shipped, const char *dir, const char *name,
                                void (*edit)(struct json_object *reading))
{
	static char path[1024];
	struct model *m = NULL;
	struct json_object *t = NULL, *reading;
	struct dg_error err;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (model_load(&m, shipped, &err) == 0 &&
	    json_object_deep_copy(m->training, &t, NULL) == 0 &&
	    json_object_object_get_ex(t, "reading", &reading)) {
		if (edit)
			edit(reading);
		else
			json_object_object_del(t, "reading");
		rc = model_save(path, m->graph, m->params, t, &err);
	}
	json_object_put(t);
	model_free(m);
	return rc == 0 ? path : NULL;
}

int main(void)
{
	const char *env = getenv("DIGITS_MNIST_DIR"), *build = getenv("top_builddir");
	const char *src = getenv("top_srcdir");
	char dir[1024], model[1024];
	struct dg_error err;
	static const double apart3[] = {0.3, 0.3}, touch[] = {-0.03}, overlap[] = {-0.08};
	static const double wide_gap[] = {1.4}, broken_gap[] = {0.3, 0.3};
	static const int broken_one[] = {1}, broken_middle[] = {0, 1, 0};
	int wide_index;
	static const double twelve[] = {0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3};
	uint8_t blank[64 * 32];
	png_image img = {
	    .version = PNG_IMAGE_VERSION, .width = 64, .height = 32, .format = PNG_FORMAT_GRAY};
	unsigned char png[4096];
	png_alloc_size_t size = sizeof(png);

	snprintf(dir, sizeof(dir), "%s/data/mnist", build ? build : ".");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	snprintf(model, sizeof(model), "%s/models/cnn.model", src ? src : DIGITS_SRCDIR);
	if (registry_create(&reg, 16, &err) < 0 || registry_add_file(reg, model, &err) < 0) {
		ok(0, "load %s: %s", model, err.msg);
		return tap_done();
	}

	/* No ink: a blank white PNG is refused as EMPTY (422 no_digit). */
	memset(blank, 255, sizeof(blank));
	ok(png_image_write_to_memory(&img, png, &size, 0, blank, 0, NULL), "blank PNG written");
	ok(read_text(png, size, &err) == NULL && err.code == DG_ERR_EMPTY,
	   "no ink: refused as empty (%s)", err.msg);
	ok(read_text("not an image", 12, &err) == NULL && err.code == DG_ERR_UNSUPPORTED,
	   "not an image: refused as unsupported");

	if (!idx_mnist_present(dir, "t10k") || idx_load_mnist(&test, dir, "t10k", &err) < 0) {
		skip(12, "MNIST test set not present (make data)");
		registry_free(reg);
		return tap_done();
	}
	for (int d = 0, found = 0; d < 10; d++)
		for (int i = 0; i < test.n && !(found & 1 << d); i++)
			if (test.labels[i] == d)
				first_of[d] = i, found |= 1 << d;

	/* The "one whole digit" score lives in the model file. */
	check_block(model);
	{
		char tmp[] = "/tmp/test_read.XXXXXX";
		const char *tmpdir = mkdtemp(tmp), *path;
		struct registry *shipped = reg, *other = NULL;

		/* Without the block (a retrained network before
		 * --fit-reading): the file loads and still reads numbers. */
		path = tmpdir ? save_variant(model, tmpdir, "cnn.model", NULL) : NULL;
		ok(path && registry_create(&other, 16, &err) == 0 &&
		       registry_add_file(other, path, &err) == 0 &&
		       !registry_model_info(other, 0)->reading.fitted,
		   "without training.reading: loads, unfitted");
		if (other) {
			reg = other;
			check("without the block, three apart", "204", apart3, NULL);
			check("without the block, touching pair", "20", touch, NULL);
			reg = shipped;
			registry_free(other);
			other = NULL;
		}
		if (path)
			unlink(path);
		/* A bad block: the file is refused, named. */
		path = tmpdir ? save_variant(model, tmpdir, "cnn.model", edit_short) : NULL;
		ok(path && registry_create(&other, 16, &err) == 0 &&
		       registry_add_file(other, path, &err) < 0 && strstr(err.msg, path) &&
		       strstr(err.msg, "training.reading.whole_digit.weights"),
		   "a bad block: the file is refused (%s)", err.msg);
		registry_free(other);
		if (path)
			unlink(path);
		if (tmpdir)
			rmdir(tmpdir);
	}

	check("one digit", "7", NULL, NULL);
	check("three apart", "204", apart3, NULL);
	check("touching pair", "20", touch, NULL);
	check("overlapping pair", "20", overlap, NULL);
	check("touching pair of narrow digits", "17", touch, NULL);
	/* The bar of a 5 drawn apart from its body: two pieces of ink, one
	 * digit, alone and between neighbours. */
	check("broken 5", "5", NULL, broken_one);
	check("broken 5 in a number", "358", broken_gap, broken_middle);
	/* A gap wider than a digit is still no digit. */
	check("wide gap", "38", wide_gap, NULL);
	is_int(rr.n, 2, "wide gap: two boxes");
	/* A 0 a fifth wider than tall is one digit, not two halves.  (The
	 * widest of the test set, 1.8 times, is still read as "57".) */
	wide_index = wide_one(0, 1.2);
	ok(wide_index >= 0, "a test 0 1.2 times wider than tall: image %d", wide_index);
	check_images("wide single digit", "0", &wide_index, NULL, NULL);
	is_int(rr.n, 1, "wide single digit: one box");
	/* A 2 with a long tail, wider than tall, likewise. */
	wide_index = wide_one(2, 1.2);
	ok(wide_index >= 0, "a test 2 1.2 times wider than tall: image %d", wide_index);
	check_images("wide single 2", "2", &wide_index, NULL, NULL);
	check("twelve digits", "123456789012", twelve, NULL);
	is_int(rr.n, 12, "twelve digits: twelve boxes");

	idx_free(&test);
	registry_free(reg);
	return tap_done();
}
