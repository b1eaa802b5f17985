/*
 * photos.c - how the upload path reads phone photos of handwritten digits:
 * the seeded photo set of photo_gen.c (MNIST test digits under shadows,
 * vignetting, glare, ruled and squared paper, boxes, underlines, small in a
 * big picture, noise, pencil, heavy JPEG, blur; alone and combined), each
 * sent through image_to_mnist() and a model as the server does.  Prints a
 * table by effect; asserts nothing (test_photos does).  `make bench` runs it
 * with the defaults: the standard 1000-picture set.
 *
 * Usage: photos [--n N] [--seed S] [--model FILE] [--dump DIR] [--effect NAME]
 *   MNIST from $DIGITS_MNIST_DIR, else $top_builddir/data/mnist, else
 *   data/mnist; the model defaults to $top_srcdir/models/cnn.model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "photo_gen.h"

#define DEFAULT_N    1000
#define DEFAULT_SEED 20240601u

static double pct(int a, int n)
{
	return n ? 100.0 * a / n : 0;
}

static void row(const char *name, const struct photo_tally *t)
{
	if (!t->n) {
		printf("  %-12s %5d\n", name, 0);
		return;
	}
	printf("  %-12s %5d  %6.1f %%  %6.1f %%  %6.1f %%\n", name, t->n, pct(t->right, t->n),
	       pct(t->refused, t->n), pct(t->wrong, t->n));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: photos [--n N] [--seed S] [--model FILE] [--dump DIR] "
	           "[--effect NAME]\neffects:");
	for (int e = 0; e < PHOTO_N_EFFECTS; e++)
		fprintf(f, " %s", photo_effect_name(e));
	fprintf(f, "\n");
}

int main(int argc, char **argv)
{
	const char *src = getenv("top_srcdir"), *build = getenv("top_builddir");
	const char *env = getenv("DIGITS_MNIST_DIR"), *model_path = NULL;
	struct photo_eval_opts o = {.n = DEFAULT_N, .seed = DEFAULT_SEED};
	char dir[4096], path[4096], fx[160];
	struct dg_error err = {0};
	struct idx_set test;
	struct model *m = NULL;
	struct photo_eval ev;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--n")) {
			o.n = atoi(v);
		} else if (!strcmp(a, "--seed")) {
			o.seed = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--model")) {
			model_path = v;
		} else if (!strcmp(a, "--dump")) {
			o.dump = v;
		} else if (!strcmp(a, "--effect")) {
			int e = photo_effect_by_name(v);
			if (e < 0) {
				fprintf(stderr, "photos: no effect called %s\n", v);
				usage(stderr);
				return 2;
			}
			o.only |= 1u << e;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (o.n < 1 || o.n > 1000000) {
		fprintf(stderr, "photos: --n must be 1..1000000\n");
		return 2;
	}

	snprintf(dir, sizeof(dir), "%s/data/mnist", build ? build : ".");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	if (!model_path) {
		snprintf(path, sizeof(path), "%s/models/cnn.model", src ? src : ".");
		model_path = path;
	}
	if (!idx_mnist_present(dir, "t10k")) {
		/* make bench on a machine without MNIST: say so, do not fail */
		printf("photos: MNIST test set not in %s (run make data); skipped\n", dir);
		return 0;
	}
	if (idx_load_mnist(&test, dir, "t10k", &err) || model_load(&m, model_path, &err)) {
		fprintf(stderr, "photos: %s\n", err.msg);
		return 1;
	}
	if (photo_evaluate(m, test.pixels, test.labels, test.n, &o, &ev, &err)) {
		fprintf(stderr, "photos: %s\n", err.msg);
		return 1;
	}

	printf("Phone photos of MNIST test digits: %d pictures, seed %llu, model %s%s%s\n",
	       ev.all.n, (unsigned long long)o.seed, model_path, o.only ? ", only " : "",
	       o.only ? photo_effects_str(o.only, fx, sizeof(fx)) : "");
	printf("(the first %d of the set have one effect each, the rest 2-4 combined)\n\n",
	       photo_alone_count(o.n));
	printf("  %-12s %5s  %8s  %8s  %8s\n", "alone", "n", "right", "no digit", "wrong");
	for (int e = 0; e < PHOTO_N_EFFECTS; e++)
		row(photo_effect_name(e), &ev.alone[e]);
	row("all alone", &ev.alone_all);
	printf("\n  %-12s %5s  %8s  %8s  %8s\n", "combined", "n", "right", "no digit", "wrong");
	for (int e = 0; e < PHOTO_N_EFFECTS; e++)
		row(photo_effect_name(e), &ev.combined[e]);
	row("all combined", &ev.combined_all);
	printf("\n");
	row("overall", &ev.all);
	if (ev.errors)
		printf("  (%d refusals were errors other than 'no digit')\n", ev.errors);

	printf("\nwrong answers by the digit given:");
	for (int d = 0; d < 10; d++)
		printf(" %d:%d", d, ev.wrong_as[d]);
	printf("\n\nimage_to_mnist, median by long side:");
	static const char *const size_names[PHOTO_N_SIZES] = {"<=800", "<=1600", "<3000", ">=3000"};
	for (int c = 0; c < PHOTO_N_SIZES; c++)
		if (ev.sized[c])
			printf("  %s: %.1f ms (%d)", size_names[c], ev.median_ms[c], ev.sized[c]);
	printf("\nphoto_render, median: %.1f ms\n", ev.render_ms);

	model_free(m);
	idx_free(&test);
	return 0;
}
