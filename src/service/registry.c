/*
 * registry.c - load the model directory once per process (see registry.h).
 */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/model.h"
#include "engine/nn.h"

#ifndef DIGITS_PKGDATADIR
#define DIGITS_PKGDATADIR "/usr/local/share/digits"
#endif
#ifndef DIGITS_SRCDIR
#define DIGITS_SRCDIR "."
#endif

const char *registry_default_dir(void)
{
	const char *env = getenv("DIGITS_MODEL_DIR");
	struct stat st;

	if (env && *env)
		return env;
	if (stat(DIGITS_PKGDATADIR "/models", &st) == 0 && S_ISDIR(st.st_mode))
		return DIGITS_PKGDATADIR "/models";
	return DIGITS_SRCDIR "/models";
}

struct registry *registry_create(int max_batch)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (r)
		r->max_batch = max_batch;
	return r;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n; i++) {
		nn_workspace_free(r->models[i].ws);
		model_free(r->models[i].model);
	}
	free(r);
}

/* The trainer records training.test_accuracy as a fraction; -1 if absent. */
static double training_accuracy(const struct model *m)
{
	struct json_object *v;

	if (m->training && json_object_object_get_ex(m->training, "test_accuracy", &v) &&
	    (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		return json_object_get_double(v);
	return -1;
}

int registry_add_file(struct registry *r, const char *path, struct dg_error *err)
{
	struct registry_model *rm;
	const char *base = strrchr(path, '/');
	struct model *m;

	if (r->n == REGISTRY_MAX_MODELS)
		return dg_fail(err, DG_ERR_TOO_LARGE, "%s: more than %d models", path,
		               REGISTRY_MAX_MODELS);
	if (model_load(&m, path, err) < 0)
		return -1;
	for (int i = 0; i < r->n; i++) {
		if (strcmp(r->models[i].name, model_name(m)) == 0) {
			dg_fail(err, DG_ERR_INVALID, "%s: model \"%s\" is already loaded from %s",
			        path, model_name(m), r->models[i].file);
			model_free(m);
			return -1;
		}
	}
	rm = &r->models[r->n];
	memset(rm, 0, sizeof(*rm));
	rm->model = m;
	snprintf(rm->name, sizeof(rm->name), "%s", model_name(m));
	snprintf(rm->file, sizeof(rm->file), "%s", base ? base + 1 : path);
	snprintf(rm->version, sizeof(rm->version), "%08lx", m->crc & 0xffffffffUL);
	rm->test_accuracy = training_accuracy(m);
	if (nn_workspace_create(&rm->ws, m->graph, r->max_batch, false, err)) {
		char inner[DG_ERROR_MAX];

		snprintf(inner, sizeof(inner), "%s", err ? err->msg : "");
		model_free(m);
		return dg_fail(err, err ? err->code : DG_ERR_NOMEM, "%s: %s", path, inner);
	}
	r->n++;
	if (strcmp(rm->name, "cnn") == 0 || r->n == 1)
		r->default_index = r->n - 1;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_model_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 6 && strcmp(d->d_name + n - 6, ".model") == 0;
}

int registry_load(struct registry **out, const char *dir, int max_batch, struct dg_error *err)
{
	struct dirent **names;
	struct registry *r;
	int n, rc = 0;

	*out = NULL;
	n = scandir(dir, &names, is_model_file, by_name);
	if (n < 0)
		return dg_fail(err, DG_ERR_IO, "%s: %s", dir, strerror(errno));
	r = registry_create(max_batch);
	if (!r)
		rc = dg_fail(err, DG_ERR_NOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		char path[4096];

		if (rc == 0 && (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		                                names[i]->d_name) >= sizeof(path))
			rc = dg_fail(err, DG_ERR_INVALID, "%s: path too long", dir);
		if (rc == 0)
			rc = registry_add_file(r, path, err);
		free(names[i]);
	}
	free(names);
	if (rc == 0 && r->n == 0)
		rc = dg_fail(err, DG_ERR_EMPTY, "%s: no *.model files", dir);
	if (rc < 0) {
		registry_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

struct registry_model *registry_find(struct registry *r, const char *name)
{
	if (!r || r->n == 0)
		return NULL;
	if (!name || !*name)
		return &r->models[r->default_index];
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->models[i].name, name) == 0)
			return &r->models[i];
	return NULL;
}
