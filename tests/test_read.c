/*
 * test_read.c - reading numbers (image_read through reading_run, as the
 * server does) on crafted pictures of MNIST test digits from
 * tests/number_gen.c, clean (dark on white, PNG), exact text asserted;
 * and the refusals: no ink, not an image.
 */
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

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
