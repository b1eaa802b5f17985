/*
 * read_eval.c - how well POST /api/v1/read reads numbers: the generated
 * set of train/number_gen.c (MNIST test digits only) through reading_run,
 * exactly as the server reads an upload, printed as tables.
 *
 *   read_eval [--n N] [--seed S] [--model FILE] [--touching P] [--broken Q]
 *             [--dump DIR] [--train]
 *
 * N numbers of each length 1..12 (default 100), each gap touching with
 * chance P (default 0.3), each digit drawn in two pieces with chance Q
 * (default 0; only 4s and 5s, see render()).  Prints whole-number exact accuracy and digit
 * accuracy (length minus edit distance, over the length) by number length
 * and by gap kind, then the median time to read a 1200x400 photo of six
 * digits on one core.  Beside the reader, two bounds: the oracle (below),
 * and the ceiling, the numbers whose every digit the model reads right
 * as the MNIST test image it was drawn from (no cut, no paper): what
 * the network's own errors leave.  --dump writes the misread pictures to DIR as
 * <i>-<truth>-as-<read>.png|jpg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "idx.h"
#include "number_gen.h"
#include "rng.h"
#include "service/reading.h"

struct tally {
	int n, exact, digits, digits_right;
};

static int edit_distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b), d[IMAGE_READ_MAX_DIGITS + 2][NUMBER_MAX + 2];

	for (int i = 0; i <= la; i++)
		d[i][0] = i;
	for (int j = 0; j <= lb; j++)
		d[0][j] = j;
	for (int i = 1; i <= la; i++) {
		for (int j = 1; j <= lb; j++) {
			int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;

			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	}
	return d[la][lb];
}

static void add(struct tally *t, const char *truth, const char *got)
{
	int len = (int)strlen(truth), right = len - edit_distance(got, truth);

	t->n++;
	t->exact += strcmp(truth, got) == 0;
	t->digits += len;
	t->digits_right += right > 0 ? right : 0;
}

static void row(const char *name, const struct tally *t)
{
	printf("  %-10s %6d  %7.2f %%  %7.2f %%\n", name, t->n, t->n ? 100.0 * t->exact / t->n : 0,
	       t->digits ? 100.0 * t->digits_right / t->digits : 0);
}

/*
 * The oracle: the reader with a classifier that knows where the digits
 * are (number_gen's ink boxes), so the segmentation it picks is the true
 * one whenever the candidate pieces hold it.  What it reads wrong is lost
 * before the choice (the cuts or the network); what only the real reader
 * reads wrong is lost in the choice.
 */
struct oracle {
	struct registry *reg;
	const struct number *nb;
	int n_classes;
};

static int oracle_classify(void *ctx, const float *pixels, const struct image_read_piece *piece,
                           int n, float *out, struct dg_error *err)
{
	struct oracle *o = ctx;
	const int nd = (int)strlen(o->nb->text);
	double height = 0;
	const float *p;

	if (registry_predict(o->reg, 0, pixels, n, &p, err) < 0)
		return -1;
	for (int i = 0; i < nd; i++)
		height = o->nb->box[i][3] > height ? o->nb->box[i][3] : height;
	for (int k = 0; k < n; k++) {
		float *row = out + (size_t)k * (o->n_classes + 1);
		int whole = 0;

		for (int i = 0; i < nd; i++) {
			const int *t = o->nb->box[i];

			whole |= abs(piece[k].x - t[0]) <= 0.15 * height &&
			         abs(piece[k].x + piece[k].w - t[0] - t[2]) <= 0.15 * height;
		}
		memcpy(row, p + (size_t)k * o->n_classes, (size_t)o->n_classes * sizeof(float));
		row[o->n_classes] = whole ? 0.0f : -100.0f;
	}
	return 0;
}

static void oracle_read(struct registry *reg, const struct number *nb, struct image_read_result *rr,
                        char *got)
{
	struct oracle o = {reg, nb, registry_model_info(reg, 0)->n_classes};
	const struct image_reader rd = {oracle_classify,         &o, o.n_classes,
	                                registry_max_batch(reg), 1,  1};
	struct dg_error err;

	got[0] = '\0';
	if (image_read(nb->bytes, nb->len, NULL, &rd, rr, NULL, &err) < 0)
		return;
	for (int d = 0; d < rr->n; d++)
		got[d] = (char)('0' + rr->digit[d].digit);
	got[rr->n] = '\0';
}

/* Whether the model reads test image i right by itself, for every image
 * (n bytes, malloc'ed; the caller frees), or NULL. */
static unsigned char *read_alone(struct registry *reg, const struct idx_set *test,
                                 struct dg_error *err)
{
	const int batch = registry_max_batch(reg), nc = registry_model_info(reg, 0)->n_classes;
	unsigned char *right = malloc((size_t)test->n);
	float *px = malloc((size_t)batch * IMAGE_PIXELS * sizeof(float));
	const float *p;

	for (int i0 = 0; right && px && i0 < test->n; i0 += batch) {
		int n = test->n - i0 < batch ? test->n - i0 : batch;

		for (size_t q = 0; q < (size_t)n * IMAGE_PIXELS; q++)
			px[q] = test->pixels[(size_t)i0 * IMAGE_PIXELS + q] / 255.0f;
		if (registry_predict(reg, 0, px, n, &p, err) < 0) {
			free(right);
			right = NULL;
			break;
		}
		for (int k = 0; k < n; k++) {
			int best = 0;

			for (int c = 1; c < nc; c++)
				best = p[(size_t)k * nc + c] > p[(size_t)k * nc + best] ? c : best;
			right[i0 + k] = best == test->labels[i0 + k];
		}
	}
	free(px);
	return right;
}

/* Number k of length len of the set.  With broken > 0, each 4 and 5 in it
 * (the examples: the bar of a 5, a 4 in two strokes) is drawn in
 * two pieces with that chance, from a draw of its own, so the numbers
 * are the same ones with and without. */
static int render(const struct idx_set *test, uint64_t seed, int len, int k, double touching,
                  double broken, struct number *nb)
{
	struct number_opts o = {.ndigits = len, .touching = touching};
	const uint64_t s = seed * 1000003u + (uint64_t)len * 100000u + (uint64_t)k;
	struct train_rng r;
	int pieces[NUMBER_MAX], any = 0;

	if (number_render(test->pixels, test->labels, test->n, &o, s, nb) < 0)
		return -1;
	if (broken <= 0)
		return 0;
	train_rng_init(&r, train_seed3(seed, 0x62726b, (uint64_t)len * 1000u + (uint64_t)k));
	for (int d = 0; d < len; d++) {
		pieces[d] =
		    (nb->text[d] == '4' || nb->text[d] == '5') && train_rng_uniform(&r) < broken;
		any |= pieces[d];
	}
	if (!any)
		return 0;
	number_free(nb);
	o.broken = pieces;
	return number_render(test->pixels, test->labels, test->n, &o, s, nb);
}

static int cmp_double(const void *a, const void *b)
{
	return (*(const double *)a > *(const double *)b) -
	       (*(const double *)a < *(const double *)b);
}

static int dump(const char *dir, int i, const struct number *nb, const char *got)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d-%s-as-%s.%s", dir, i, nb->text, *got ? got : "none",
	         nb->jpeg ? "jpg" : "png");
	f = fopen(path, "wb");
	if (!f || fwrite(nb->bytes, 1, nb->len, f) != nb->len || fclose(f) != 0) {
		fprintf(stderr, "read_eval: %s: cannot write\n", path);
		return -1;
	}
	return 0;
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Median milliseconds to read a 1200x400 photo of six digits: wall time,
 * and the CPU time this process spent (one thread), which other work on a
 * shared machine does not inflate. */
static void time_six(struct registry *reg, const struct idx_set *test, uint64_t seed)
{
	struct number_opts o = {.ndigits = 6, .touching = 0.3, .width = 1200, .height = 400};
	struct image_read_result *rr = malloc(sizeof(*rr));
	double wall[60], cpu[60];
	int n = 0;

	for (int i = 0; rr && i < 60; i++) {
		struct number nb;
		struct image_info info;
		struct dg_error err;
		double t0, c0;

		if (number_render(test->pixels, test->labels, test->n, &o, seed + 7919u * i, &nb) <
		    0)
			break;
		t0 = dg_seconds();
		c0 = cpu_seconds();
		if (reading_run(reg, 0, nb.bytes, nb.len, NULL, rr, &info, NULL, &err) == 0) {
			cpu[n] = (cpu_seconds() - c0) * 1e3;
			wall[n++] = (dg_seconds() - t0) * 1e3;
		}
		number_free(&nb);
	}
	free(rr);
	if (n == 0) {
		printf("\n1200x400 photo of 6 digits: none read\n");
		return;
	}
	qsort(wall, (size_t)n, sizeof(double), cmp_double);
	qsort(cpu, (size_t)n, sizeof(double), cmp_double);
	printf(
	    "\n1200x400 photo of 6 digits, median of %d on one core: %.1f ms wall, %.1f ms CPU\n",
	    n, wall[n / 2], cpu[n / 2]);
}

int main(int argc, char **argv)
{
	const char *env = getenv("DIGITS_MNIST_DIR"), *build = getenv("top_builddir");
	const char *src = getenv("top_srcdir"), *model = NULL, *dumpdir = NULL;
	char dir[1024], path[1024];
	int per = 100, refused = 0;
	unsigned long long seed = 2026;
	double touching = 0.3, broken = 0;
	struct idx_set test;
	struct registry *reg;
	struct dg_error err;
	struct tally by_len[NUMBER_MAX + 1] = {{0}}, apart = {0}, touch = {0}, all = {0};
	struct tally oracle = {0};
	int ceiling = 0;
	unsigned char *alone;
	/* Misread numbers: read with more digits, fewer, as many; and of
	 * each, how many the oracle reads right (lost in the choice). */
	int longer = 0, shorter = 0, same = 0, longer_choice = 0, shorter_choice = 0,
	    same_choice = 0, single_split = 0;
	const char *split = "test";
	struct image_read_result *rr = malloc(sizeof(*rr));

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
			per = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
			model = argv[++i];
		else if (strcmp(argv[i], "--touching") == 0 && i + 1 < argc)
			touching = atof(argv[++i]);
		else if (strcmp(argv[i], "--broken") == 0 && i + 1 < argc)
			broken = atof(argv[++i]);
		else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
			dumpdir = argv[++i];
		else if (strcmp(argv[i], "--train") == 0)
			split = "train";
		else {
			fprintf(stderr, "usage: read_eval [--n N] [--seed S] [--model FILE] "
			                "[--touching P] [--broken Q] [--dump DIR] [--train]\n");
			return 2;
		}
	}
#ifdef _OPENMP
	omp_set_num_threads(1); /* the target is per core */
#endif
	snprintf(dir, sizeof(dir), "%s/data/mnist", build ? build : ".");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	if (!model) {
		snprintf(path, sizeof(path), "%s/models/cnn.model", src ? src : DIGITS_SRCDIR);
		model = path;
	}
	if (!idx_mnist_present(dir, strcmp(split, "test") ? "train" : "t10k")) {
		printf("read_eval: MNIST test set not in %s (run make data); skipped\n", dir);
		return 0;
	}
	if (!rr || idx_load_mnist(&test, dir, strcmp(split, "test") ? "train" : "t10k", &err) < 0 ||
	    registry_create(&reg, 64, &err) < 0 || registry_add_file(reg, model, &err) < 0) {
		fprintf(stderr, "read_eval: %s\n", rr ? err.msg : "out of memory");
		return 1;
	}
	if (!(alone = read_alone(reg, &test, &err))) {
		fprintf(stderr, "read_eval: reading the digits alone: %s\n", err.msg);
		return 1;
	}
	for (int len = 1; len <= NUMBER_MAX; len++) {
		for (int k = 0; k < per; k++) {
			struct number nb;
			struct image_info info;
			char got[IMAGE_READ_MAX_DIGITS + 1] = "", best[IMAGE_READ_MAX_DIGITS + 1];
			int has_touch = 0;

			if (render(&test, seed, len, k, touching, broken, &nb) < 0) {
				fprintf(stderr, "read_eval: cannot render number %d of length %d\n",
				        k, len);
				return 1;
			}
			if (reading_run(reg, 0, nb.bytes, nb.len, NULL, rr, &info, NULL, &err) ==
			    0) {
				for (int d = 0; d < rr->n; d++)
					got[d] = (char)('0' + rr->digit[d].digit);
				got[rr->n] = '\0';
			} else {
				refused++;
			}
			for (int g = 0; g + 1 < len; g++)
				has_touch |= nb.gap[g] == NUMBER_TOUCHING;
			add(&by_len[len], nb.text, got);
			add(has_touch ? &touch : &apart, nb.text, got);
			add(&all, nb.text, got);
			oracle_read(reg, &nb, rr, best);
			add(&oracle, nb.text, best);
			for (int d = 0; d < len && alone[nb.index[d]]; d++)
				ceiling += d == len - 1;
			if (strcmp(got, nb.text) != 0) {
				int lost_in_choice = strcmp(best, nb.text) == 0;

				if (strlen(got) > strlen(nb.text))
					longer++, longer_choice += lost_in_choice;
				else if (strlen(got) < strlen(nb.text))
					shorter++, shorter_choice += lost_in_choice;
				else
					same++, same_choice += lost_in_choice;
				single_split += len == 1 && strlen(got) > 1;
			}
			if (dumpdir && strcmp(got, nb.text) != 0 &&
			    dump(dumpdir, (len - 1) * per + k, &nb, got) < 0)
				return 1;
			number_free(&nb);
		}
	}
	printf("Numbers of MNIST %s digits read by /api/v1/read: %d per length, seed %llu, "
	       "model %s, touching gaps %.0f %%, broken digits %.0f %%\n\n",
	       split, per, seed, model, touching * 100, broken * 100);
	printf("  %-10s %6s  %9s  %9s\n", "length", "n", "exact", "digits");
	for (int len = 1; len <= NUMBER_MAX; len++) {
		char name[16];

		snprintf(name, sizeof(name), "%d", len);
		row(name, &by_len[len]);
	}
	printf("\n  %-10s %6s  %9s  %9s\n", "gaps", "n", "exact", "digits");
	row("all apart", &apart);
	row("touching", &touch);
	printf("\n");
	row("overall", &all);
	if (refused)
		printf("  (%d pictures refused, counted as read as nothing)\n", refused);
	row("oracle", &oracle);
	printf("  (the oracle picks the true segmentation when the candidates hold it)\n");
	printf("  %-10s %6d  %7.2f %%\n", "ceiling", all.n, all.n ? 100.0 * ceiling / all.n : 0);
	printf("  (numbers whose every digit the model reads right as its own MNIST image)\n");
	printf("\n  %-22s %6s  %s\n", "misread numbers", "n", "oracle right (lost in the choice)");
	printf("  %-22s %6d  %d\n", "more digits than true", longer, longer_choice);
	printf("  %-22s %6d  %d\n", "fewer digits", shorter, shorter_choice);
	printf("  %-22s %6d  %d\n", "as many, some wrong", same, same_choice);
	printf("  (single digits read as several: %d)\n", single_split);
	time_six(reg, &test, seed);
	free(rr);
	free(alone);
	registry_free(reg);
	idx_free(&test);
	return 0;
}
