/*
 * registry.h - the models one server process serves.
 *
 * At start the process loads every "*.model" file of the model directory
 * with model_load (mmap'ed, validated) and makes one forward workspace per
 * model for up to max_batch images.  A model that fails to load fails the whole registry: the
 * server refuses to start rather than serve without it.  After loading, the registry is read-only
 * except for the workspaces, which a process uses for one request at a time.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include "digits.h"

struct model;
struct nn_workspace;

#define REGISTRY_MAX_MODELS 16

struct registry_model {
	char name[32];        /* graph name: "cnn" */
	char file[64];        /* base name: "cnn.model" */
	char version[9];      /* file CRC-32 as 8 hex digits */
	double test_accuracy; /* from the training metadata; < 0 if unknown */
	struct model *model;
	struct nn_workspace *ws;
};

struct registry {
	int n;
	int max_batch;
	int default_index; /* "cnn" if present, else the first by name */
	struct registry_model models[REGISTRY_MAX_MODELS];
};

/* The model directory: $DIGITS_MODEL_DIR, else the installed one
 * ($pkgdatadir/models) if it exists, else the source tree's models/. */
const char *registry_default_dir(void);

/* Load every *.model file in dir (in name order).  No models, a bad file,
 * or two files with the same model name are errors. */
int registry_load(struct registry **out, const char *dir, int max_batch, struct dg_error *err);
/* Add one model file (the registry takes nothing from path). */
int registry_add_file(struct registry *r, const char *path, struct dg_error *err);
struct registry *registry_create(int max_batch);
void registry_free(struct registry *r);

/* The model called name, or the default for NULL / "", or NULL. */
struct registry_model *registry_find(struct registry *r, const char *name);

#endif
