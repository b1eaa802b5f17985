/*
 * digits_cli.c - main of `digits`: the engine from the command line.
 *
 *   digits predict [--model M] [--json] [--top N] FILE...   ("-" is stdin)
 *   digits models [--json]
 *
 * Files go through the same image_to_mnist and nn_forward as the server,
 * in batches.  One line (or one JSON object) per file on stdout, in the
 * order given; a file that cannot be read or recognised is reported on
 * stderr with its name, and the exit status is then 1.  Usage errors exit 2.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/api.h"
#include "engine/model.h"
#include "engine/nn.h"

#define BATCH 16

static void usage(FILE *f)
{
	fputs("usage: digits predict [--model NAME] [--json] [--top N] FILE...\n"
	      "       digits models [--json]\n"
	      "       digits --help\n"
	      "\n"
	      "predict  recognise the digit in each image file (PNG, JPEG, GIF, BMP, WebP,\n"
	      "         ...; \"-\" reads stdin): one line \"FILE DIGIT PROBABILITY\" per file,\n"
	      "         or with --json one JSON object per line, as the HTTP API answers.\n"
	      "         --top N adds the N most likely digits.\n"
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
	int json, top;
	struct image_limits lim;
	size_t max_bytes;
};

static void print_result(const struct opts *o, struct registry_model *rm, const char *file,
                         const float *p, const struct image_info *info)
{
	int c = rm->model->graph->n_classes, best = 0;

	if (o->json) {
		struct json_object *j = api_prediction_json(p, c, o->top), *im;

		json_object_object_add(j, "file", json_object_new_string(file));
		im = json_object_new_object();
		json_object_object_add(im, "format",
		                       json_object_new_string(image_format_name(info->format)));
		json_object_object_add(im, "width", json_object_new_int(info->width));
		json_object_object_add(im, "height", json_object_new_int(info->height));
		json_object_object_add(j, "image", im);
		json_object_object_add(j, "model", api_model_json(rm));
		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
		                                           JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
		return;
	}
	for (int k = 1; k < c; k++)
		if (p[k] > p[best])
			best = k;
	printf("%s %d %.4f", file, best, p[best]);
	if (o->top > 0) {
		float q[64];

		memcpy(q, p, sizeof(float) * (size_t)(c < 64 ? c : 64));
		printf(" top:");
		for (int t = 0; t < o->top && t < c && t < 64; t++) {
			int b = 0;

			for (int k = 1; k < c && k < 64; k++)
				if (q[k] > q[b])
					b = k;
			printf(" %d=%.4f", b, q[b]);
			q[b] = -1;
		}
	}
	putchar('\n');
}

static int predict(struct registry *reg, const struct opts *o, char **files, int n_files)
{
	struct registry_model *rm = registry_find(reg, o->model);
	static float pixels[BATCH * IMAGE_PIXELS];
	struct image_info info[BATCH];
	const char *names[BATCH];
	int failed = 0;

	if (!rm) {
		fprintf(stderr, "digits: no model \"%s\" (try: digits models)\n", o->model);
		return 2;
	}
	for (int i = 0; i < n_files;) {
		int n = 0;

		/* Decode up to a batch of files, then run them together. */
		for (; i < n_files && n < BATCH; i++) {
			unsigned char *data = NULL;
			size_t len = 0;
			struct dg_error err = {0};
			int rc;

			if (read_file(files[i], o->max_bytes, &data, &len, &err) == 0) {
				rc = image_to_mnist(data, len, &o->lim,
				                    pixels + (size_t)n * IMAGE_PIXELS, &info[n],
				                    &err);
				free(data);
			} else {
				rc = -1;
			}
			if (rc < 0) {
				fprintf(stderr, "digits: %s: %s\n", files[i], err.msg);
				failed = 1;
				continue;
			}
			names[n++] = files[i];
		}
		if (n) {
			const float *p =
			    nn_forward(rm->model->graph, rm->model->params, rm->ws, pixels, n);
			int c = rm->model->graph->n_classes;

			for (int k = 0; k < n; k++)
				print_result(o, rm, names[k], p + (size_t)k * c, &info[k]);
		}
	}
	fflush(stdout);
	return failed;
}

static int list_models(struct registry *reg, int json)
{
	struct registry_model *def = registry_find(reg, NULL);

	if (!json)
		printf("%-8s %-8s %10s %12s %9s  %s\n", "model", "version", "params", "macs/image",
		       "test acc", "file");
	for (int i = 0; i < reg->n; i++) {
		struct registry_model *rm = &reg->models[i];
		char acc[16] = "-";

		if (json) {
			struct json_object *j = api_model_json(rm);

			json_object_object_add(j, "default", json_object_new_boolean(rm == def));
			json_object_object_add(j, "file", json_object_new_string(rm->file));
			json_object_object_add(
			    j, "params",
			    json_object_new_int64((int64_t)rm->model->graph->n_params));
			json_object_object_add(
			    j, "macs", json_object_new_int64((int64_t)rm->model->graph->n_macs));
			puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
			json_object_put(j);
			continue;
		}
		if (rm->test_accuracy >= 0)
			snprintf(acc, sizeof(acc), "%.2f%%", rm->test_accuracy * 100);
		printf("%-8s %-8s %10zu %12zu %9s  %s%s\n", rm->name, rm->version,
		       rm->model->graph->n_params, rm->model->graph->n_macs, acc, rm->file,
		       rm == def ? " (default)" : "");
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {.model = NULL};
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
	if (strcmp(cmd, "predict") != 0 && strcmp(cmd, "models") != 0) {
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
		} else if (strcmp(argv[i], "--top") == 0 && i + 1 < argc &&
		           span_to_long(span_cstr(argv[i + 1]), 1, 10, &v) == 0) {
			o.top = (int)v;
			i++;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "digits: bad option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (strcmp(cmd, "predict") == 0 && i == argc) {
		fprintf(stderr, "digits: predict needs at least one FILE\n");
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
	else
		rc = predict(reg, &o, argv + i, argc - i);
	registry_free(reg);
	return rc;
}
