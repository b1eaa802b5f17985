/*
 * digits_cli.c - main of `digits`: the engine from the command line.
 *
 *   digits predict [--model M] [--json] [--top N] FILE...   ("-" is stdin)
 *   digits read [--model M] [--json] FILE...
 *   digits explain [--model M] [--class C] [--json] FILE -o MAP.png
 *   digits models [--json]
 *
 * Files go through the same image_to_mnist and registry_predict as the server,
 * in batches.  One line (or one JSON object) per file on stdout, in the
 * order given; a file that cannot be read or recognised is reported on
 * stderr with its name, and the exit status is then 1.  Usage errors exit 2.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "service/answer.h"
#include "service/api.h"
#include "service/reading.h"
#include "service/registry.h"
#include "service/request.h"

#define BATCH 16 /* images per forward pass */

static void usage(FILE *f)
{
	fputs("usage: digits predict [--model NAME] [--json] [--top N] FILE...\n"
	      "       digits read [--model NAME] [--json] FILE...\n"
	      "       digits explain [--model NAME] [--class C] [--json] FILE -o MAP.png\n"
	      "       digits models [--json]\n"
	      "       digits --help\n"
	      "\n"
	      "predict  recognise the digit in each image file (PNG, JPEG, GIF, BMP, WebP,\n"
	      "         ...; \"-\" reads stdin): one line \"FILE DIGIT PROBABILITY\" per file,\n"
	      "         or with --json one JSON object per line, as the HTTP API answers.\n"
	      "         --top N adds the N most likely digits.\n"
	      "read     read the number (one line of 1 to 12 digits) in each image file:\n"
	      "         \"FILE TEXT CONFIDENCE\" per file, or with --json the reading with each\n"
	      "         digit's box, as POST /api/v1/read answers.\n"
	      "explain  why the model reads FILE as it does: its Grad-CAM map (saliency for\n"
	      "         mlp) for the digit it reads, or for --class C, over the 28x28 it saw,\n"
	      "         written as a PNG; prints \"FILE DIGIT PROBABILITY\" and the method.\n"
	      "models   list the models found.\n"
	      "\n"
	      "Options: --models DIR (default $DIGITS_MODEL_DIR, else the installed models).\n"
	      "Exit status: 0 if every file was recognised, 1 if any failed, 2 on usage errors.\n",
	      f);
}

/* The whole file (at most max bytes) into a malloc'ed buffer. */
static int read_file(const char *path, size_t max, unsigned char **out, size_t *len,
                     struct dg_error *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 0, n = 0, got;
	unsigned char *buf = NULL;
	int rc = 0;

	if (!f)
		return dg_fail(err, DG_ERR_IO, "%s", strerror(errno));
	do {
		if (n == cap) {
			unsigned char *b = realloc(buf, cap ? cap * 2 : 65536);

			if (!b) {
				rc = dg_fail(err, DG_ERR_NOMEM, "out of memory");
				break;
			}
			buf = b;
			cap = cap ? cap * 2 : 65536;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n > max)
			rc = dg_fail(err, DG_ERR_TOO_LARGE, "larger than %zu bytes", max);
		else if (got == 0 && ferror(f))
			rc = dg_fail(err, DG_ERR_IO, "read error");
	} while (rc == 0 && got > 0);
	if (f != stdin)
		fclose(f);
	if (rc < 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
}

struct opts {
	const char *model;
	const char *out; /* explain: the PNG to write */
	int json, top, cls;
	struct image_limits lim;
	size_t max_bytes;
};

/* The line is printed, or stdout failed: false. */
static bool print_json(struct json_object *j)
{
	size_t len;
	const char *text = answer_text(j, &len);
	bool ok = text && fwrite(text, 1, len, stdout) == len && putchar('\n') != EOF;

	json_object_put(j);
	return ok;
}

/* p, hidden and pixels: the image's probabilities, activations
 * (registry_hidden) and input. */
static bool print_result(const struct opts *o, const struct registry_model_info *m,
                         const char *file, const float *p, const float *hidden, const float *pixels,
                         const struct image_info *info)
{
	int order[ANSWER_TOP_MAX];
	int k;

	if (o->json) {
		struct json_object *j = answer_prediction(p, m->n_classes, o->top);

		if (!j)
			return false;
		answer_confidence(j, p, m->n_classes, &m->confidence, hidden, pixels);
		json_object_object_add(j, "file", json_object_new_string(file));
		json_object_object_add(j, "image", answer_image(info, false));
		json_object_object_add(j, "model", answer_model(m));
		return print_json(j);
	}
	/* --top is at most ANSWER_TOP_MAX (main checks it). */
	k = answer_top_classes(p, m->n_classes, o->top > 0 ? o->top : 1, order);
	printf("%s %d %.4f", file, order[0], p[order[0]]);
	if (o->top > 0) {
		printf(" top:");
		for (int t = 0; t < k; t++)
			printf(" %d=%.4f", order[t], p[order[t]]);
	}
	return putchar('\n') != EOF;
}

/* Decode files[*i...] until a batch is full; the failures said on stderr
 * (*failed set).  Returns how many were decoded. */
static int decode_batch(const struct opts *o, char **files, int n_files, int *i, float *pixels,
                        struct image_info *info, const char **names, int *failed)
{
	int n = 0;

	for (; *i < n_files && n < BATCH; (*i)++) {
		unsigned char *data = NULL;
		size_t len = 0;
		struct dg_error err = {0};
		int rc = read_file(files[*i], o->max_bytes, &data, &len, &err);

		if (rc == 0) {
			rc = image_to_mnist(data, len, &o->lim, pixels + (size_t)n * IMAGE_PIXELS,
			                    &info[n], &err);
			free(data);
		}
		if (rc < 0) {
			fprintf(stderr, "digits: %s: %s\n", files[*i], err.msg);
			*failed = 1;
			continue;
		}
		names[n++] = files[*i];
	}
	return n;
}

static int predict(struct registry *reg, const struct opts *o, char **files, int n_files)
{
	const struct registry_model_info *m =
	    registry_model_info(reg, registry_find(reg, o->model));
	static float pixels[BATCH * IMAGE_PIXELS];
	struct image_info info[BATCH];
	const char *names[BATCH];
	int failed = 0;

	if (!m) {
		fprintf(stderr, "digits: no model \"%s\" (try: digits models)\n", o->model);
		return 2;
	}
	for (int i = 0; i < n_files;) {
		int n = decode_batch(o, files, n_files, &i, pixels, info, names, &failed);
		const float *p;
		struct dg_error err;

		if (n == 0)
			continue;
		if (registry_predict(reg, m->index, pixels, n, &p, &err) < 0) {
			fprintf(stderr, "digits: %s\n", err.msg);
			return 1;
		}
		for (int k = 0; k < n; k++) {
			if (!print_result(o, m, names[k], p + (size_t)k * (size_t)m->n_classes,
			                  registry_hidden(reg, m->index, k),
			                  pixels + (size_t)k * IMAGE_PIXELS, &info[k])) {
				fprintf(stderr, "digits: %s: cannot write the result\n", names[k]);
				return 1;
			}
		}
	}
	return failed;
}

/* One reading per file, in order; a file that cannot be read on stderr. */
static int read_numbers(struct registry *reg, const struct opts *o, char **files, int n_files)
{
	const struct registry_model_info *m =
	    registry_model_info(reg, registry_find(reg, o->model));
	struct image_read_result *rr = malloc(sizeof(*rr));
	int failed = 0;

	if (!m) {
		fprintf(stderr, "digits: no model \"%s\" (try: digits models)\n", o->model);
		free(rr);
		return 2;
	}
	if (!rr) {
		fprintf(stderr, "digits: out of memory\n");
		return 1;
	}
	for (int i = 0; i < n_files; i++) {
		unsigned char *data = NULL;
		size_t len = 0;
		struct dg_error err = {0};
		struct image_info info;
		int rc = read_file(files[i], o->max_bytes, &data, &len, &err);
		bool printed;

		if (rc == 0)
			rc = reading_run(reg, m->index, data, len, &o->lim, rr, &info, NULL, &err);
		free(data);
		if (rc < 0) {
			fprintf(stderr, "digits: %s: %s\n", files[i], err.msg);
			failed = 1;
			continue;
		}
		if (o->json) {
			struct json_object *j = reading_json(reg, rr, &info, m, false);

			if (j) {
				json_object_object_add(j, "file", json_object_new_string(files[i]));
				json_object_object_add(j, "model", answer_model(m));
			}
			printed = j && print_json(j);
		} else {
			struct json_object *j = reading_json(reg, rr, &info, m, false), *c;

			printed =
			    j &&
			    printf("%s %s", files[i],
			           json_object_get_string(json_object_object_get(j, "text"))) > 0;
			if (printed && json_object_object_get_ex(j, "confidence", &c))
				printf(" %.4f", json_object_get_double(c));
			printed = printed && putchar('\n') != EOF;
			json_object_put(j);
		}
		if (!printed) {
			fprintf(stderr, "digits: %s: cannot write the result\n", files[i]);
			free(rr);
			return 1;
		}
	}
	free(rr);
	return failed;
}

/* The heat map's pixels per input pixel: 28 -> 280. */
#define EXPLAIN_SCALE 10

static int write_file(const char *path, const unsigned char *data, size_t n, struct dg_error *err)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return dg_fail(err, DG_ERR_IO, "%s: %s", path, strerror(errno));
	if (fwrite(data, 1, n, f) != n || fclose(f) != 0)
		return dg_fail(err, DG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
	return 0;
}

static bool print_explanation(const struct opts *o, const struct registry_model_info *m,
                              const char *file, const float *p,
                              const struct registry_explanation *ex)
{
	int digit = 0;

	for (int c = 1; c < m->n_classes; c++)
		digit = p[c] > p[digit] ? c : digit;
	if (o->json) {
		struct json_object *j = json_object_new_object();

		if (!j)
			return false;
		json_object_object_add(j, "file", json_object_new_string(file));
		json_object_object_add(j, "digit", json_object_new_int(digit));
		json_object_object_add(j, "probability", json_object_new_double(p[digit]));
		json_object_object_add(j, "explained_class", json_object_new_int(ex->cls));
		json_object_object_add(j, "method", json_object_new_string(ex->method));
		json_object_object_add(j, "map_file", json_object_new_string(o->out));
		json_object_object_add(j, "model", answer_model(m));
		return print_json(j);
	}
	return printf("%s %d %.4f explained %d by %s (%dx%d) in %s\n", file, digit, p[digit],
	              ex->cls, ex->method, ex->map_h, ex->map_w, o->out) > 0;
}

static int explain(struct registry *reg, const struct opts *o, const char *file)
{
	const struct registry_model_info *m =
	    registry_model_info(reg, registry_find(reg, o->model));
	float pixels[IMAGE_PIXELS], map[IMAGE_PIXELS], *probs;
	struct registry_explanation ex;
	struct dg_error err = {0};
	unsigned char *data = NULL, *png = NULL;
	size_t len = 0, png_len = 0;
	int rc;

	if (!m) {
		fprintf(stderr, "digits: no model \"%s\" (try: digits models)\n", o->model);
		return 2;
	}
	probs = malloc(sizeof(float) * m->n_classes);
	rc = probs ? read_file(file, o->max_bytes, &data, &len, &err)
	           : dg_fail(&err, DG_ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = image_to_mnist(data, len, &o->lim, pixels, NULL, &err);
	free(data);
	if (rc == 0)
		rc = registry_explain(reg, m->index, pixels, o->cls, map, probs, &ex, &err);
	if (rc == 0)
		rc = image_heatmap_png(pixels, map, EXPLAIN_SCALE, &png, &png_len, &err);
	if (rc == 0)
		rc = write_file(o->out, png, png_len, &err);
	free(png);
	if (rc < 0)
		fprintf(stderr, "digits: %s: %s\n", file, err.msg);
	else if (!print_explanation(o, m, file, probs, &ex))
		rc = -1, fprintf(stderr, "digits: %s: cannot write the result\n", file);
	free(probs);
	return rc < 0 ? 1 : 0;
}

static int list_models(struct registry *reg, int json)
{
	if (!json)
		printf("%-8s %-8s %10s %12s %9s  %s\n", "model", "version", "params", "macs/image",
		       "test acc", "file");
	for (int i = 0; i < registry_count(reg); i++) {
		const struct registry_model_info *m = registry_model_info(reg, i);
		char acc[16] = "-";

		if (json) {
			if (!print_json(answer_model_card(m))) {
				fprintf(stderr, "digits: %s: cannot write the model card\n",
				        m->name);
				return 1;
			}
			continue;
		}
		if (m->test_accuracy >= 0)
			snprintf(acc, sizeof(acc), "%.2f%%", m->test_accuracy * 100);
		printf("%-8s %-8s %10zu %12zu %9s  %s%s\n", m->name, m->version, m->n_params,
		       m->n_macs, acc, m->file, m->is_default ? " (default)" : "");
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {.model = NULL, .cls = -1};
	const char *dir = NULL, *cmd;
	struct registry *reg;
	struct dg_error err;
	struct api_config cfg;
	int i = 1, rc;
	long v;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[i++];
	if (strcmp(cmd, "predict") != 0 && strcmp(cmd, "read") != 0 &&
	    strcmp(cmd, "explain") != 0 && strcmp(cmd, "models") != 0) {
		fprintf(stderr, "digits: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--json") == 0) {
			o.json = 1;
		} else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
			o.model = argv[++i];
		} else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
			if (span_to_long(span_cstr(argv[++i]), 1, ANSWER_TOP_MAX, &v) < 0) {
				fprintf(stderr, "digits: --top %s: want an integer from 1 to %d\n",
				        argv[i], ANSWER_TOP_MAX);
				return 2;
			}
			o.top = (int)v; /* <= ANSWER_TOP_MAX */
		} else if (strcmp(argv[i], "--class") == 0 && i + 1 < argc) {
			if (span_to_long(span_cstr(argv[++i]), 0, 9, &v) < 0) {
				fprintf(stderr, "digits: --class %s: want a digit from 0 to 9\n",
				        argv[i]);
				return 2;
			}
			o.cls = (int)v;
		} else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) &&
		           i + 1 < argc) {
			o.out = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "digits: bad option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if ((strcmp(cmd, "predict") == 0 || strcmp(cmd, "read") == 0) && i == argc) {
		fprintf(stderr, "digits: %s needs at least one FILE\n", cmd);
		return 2;
	}
	/* explain FILE -o MAP.png: the output may also follow the file. */
	if (strcmp(cmd, "explain") == 0 && i + 3 == argc &&
	    (strcmp(argv[i + 1], "-o") == 0 || strcmp(argv[i + 1], "--output") == 0)) {
		o.out = argv[i + 2];
		argc = i + 1;
	}
	if (strcmp(cmd, "explain") == 0 && (i + 1 != argc || !o.out)) {
		fprintf(stderr, "digits: explain needs one FILE and -o MAP.png\n");
		return 2;
	}
	if (api_config_from_env(&cfg, &err) < 0) {
		fprintf(stderr, "digits: %s\n", err.msg);
		return 2;
	}
	o.lim = cfg.image;
	o.max_bytes = cfg.max_body;
	if (registry_load(&reg, dir ? dir : registry_default_dir(), BATCH, &err) < 0) {
		fprintf(stderr, "digits: %s\n", err.msg);
		return 1;
	}
	if (strcmp(cmd, "models") == 0)
		rc = list_models(reg, o.json);
	else if (strcmp(cmd, "explain") == 0)
		rc = explain(reg, &o, argv[i]);
	else if (strcmp(cmd, "read") == 0)
		rc = read_numbers(reg, &o, argv + i, argc - i);
	else
		rc = predict(reg, &o, argv + i, argc - i);
	registry_free(reg);
	if (fflush(stdout) != 0 && rc != 2) {
		fprintf(stderr, "digits: stdout: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}
