/*
 * registry.h - the models one server process serves, and the only door
 * from the service to the engine.
 *
 * At start the process loads every "*.model" file of the model directory
 * with model_load (read into memory, validated) and makes one forward workspace per
 * model for up to max_batch images.  A model that fails to load fails the
 * whole registry: the server refuses to start rather than serve without it.
 * After loading, the registry is read-only except for the workspaces, which
 * a process uses for one request at a time.  A plain CGI process, which
 * answers one request, reads the headers only and the model it runs when it
 * runs it (registry_load_lazy).
 *
 * A model is named by its index (0 .. registry_count - 1, in file-name
 * order), which is also its slot in the metrics.  Callers see a model
 * through registry_model_info and run it through registry_predict; the
 * graph, the weights and the workspace stay inside registry.c.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "digits.h"
#include "engine/confidence.h"
#include "engine/nn.h"
#include "reading_whole.h"

#define REGISTRY_MAX_MODELS   16
#define REGISTRY_FILE_MAX     64    /* longest file base name kept, with its NUL */
#define REGISTRY_DEFAULT_NAME "cnn" /* the default model when it is loaded */

struct registry;

/* What the API, the metrics and the CLI say about a model. */
struct registry_model_info {
	int index;
	bool is_default;
	char name[NN_NAME_MAX];       /* graph name: "cnn" */
	char file[REGISTRY_FILE_MAX]; /* base name: "cnn.model" */
	char version[9];              /* file CRC-32 as 8 hex digits */
	double test_accuracy;         /* from the training metadata; < 0 if unknown */
	int n_classes;                /* probabilities per image */
	size_t n_params;              /* weights: floats, or int8 / int32 values */
	char precision[8];            /* "float32" or "int8" */
	bool explainable;             /* false for int8: its ops have no backward pass */
	size_t n_macs;                /* multiply-adds per image */
	/* training.confidence; .fitted is false when the file has none */
	struct confidence_params confidence;
	/* training.reading; .fitted is false when the file has none */
	struct reading_whole reading;
};

/* The model directory: $DIGITS_MODEL_DIR, else the installed one
 * ($pkgdatadir/models) if it exists, else the source tree's models/. */
const char *registry_default_dir(void);

/* An empty registry whose models will take batches of up to max_batch. */
int registry_create(struct registry **out, int max_batch, struct dg_error *err);
/* Load every *.model file in dir (in name order).  No models, a bad file,
 * or two files with the same model name are errors. */
int registry_load(struct registry **out, const char *dir, int max_batch, struct dg_error *err);
/* As registry_load, but only each file's header is read and checked
 * (model_load_header): a model's weights are read, checked and given a
 * workspace on the first registry_predict or registry_explain that uses
 * it, which then fails if the file no longer reads or has changed.  For
 * a process that answers one request (plain CGI): it pays for the one
 * model it runs, not for all. */
int registry_load_lazy(struct registry **out, const char *dir, int max_batch, struct dg_error *err);
/* Add one model file (the registry takes nothing from path). */
int registry_add_file(struct registry *r, const char *path, struct dg_error *err);
void registry_free(struct registry *r);

int registry_count(const struct registry *r); /* 0 for NULL */
/* The most images one registry_predict takes. */
int registry_max_batch(const struct registry *r);
/* Index of the model called name, of the default for NULL / "", or -1. */
int registry_find(const struct registry *r, const char *name);
/* Model index, or NULL if there is no such index. */
const struct registry_model_info *registry_model_info(const struct registry *r, int index);

/* Run n images (1 <= n <= max_batch, each IMAGE_PIXELS floats as
 * image_to_mnist makes them) through model index.  *probs gets n x
 * n_classes probabilities, owned by the registry and valid until the next
 * registry_predict on that model. */
int registry_predict(struct registry *r, int index, const float *pixels, int n, const float **probs,
                     struct dg_error *err);

/* After registry_predict on model index: image k's activations of the
 * layer its not-a-digit head reads (confidence.head), as floats (an int8
 * model's bytes dequantised), with the same lifetime as the
 * probabilities; NULL when the model has no head.  Each call fills image
 * k's slot of a buffer the registry keeps per model. */
const float *registry_hidden(const struct registry *r, int index, int k);

/* What an explanation explained, and how. */
struct registry_explanation {
	int cls;            /* the class explained */
	const char *method; /* "grad-cam" or "saliency" (static) */
	int map_h, map_w;   /* the map's size before it was scaled to the input */
};

/* Explain one image (IMAGE_PIXELS floats) with model index for class cls
 * (-1: the class it predicts): map gets IMAGE_PIXELS floats in 0..1,
 * probs (if not NULL) the n_classes probabilities. */
int registry_explain(struct registry *r, int index, const float *pixels, int cls, float *map,
                     float *probs, struct registry_explanation *ex, struct dg_error *err);

#endif
