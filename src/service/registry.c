/*
 * registry.c - load the model directory once per process, or its headers
 * once and each model on first use (see registry.h).
 */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/model.h"
#include "engine/nn.h"
#include "image/image.h"

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

/* One loaded model: what callers see, and what only registry.c touches. */
struct registry_model {
	struct registry_model_info info;
	struct model *model;
	struct nn_workspace *ws;
	struct nn_workspace *explain_ws; /* made on the first explanation */
	float *hidden; /* max_batch x the head's n_hidden: registry_hidden's floats */
};

struct registry {
	int n;
	int max_batch;
	bool lazy;         /* models read on first use (registry_load_lazy) */
	int default_index; /* REGISTRY_DEFAULT_NAME if present, else the first by name */
	struct registry_model models[REGISTRY_MAX_MODELS];
};

int registry_create(struct registry **out, int max_batch, struct dg_error *err)
{
	*out = NULL;
	if (max_batch < 1)
		return dg_fail(err, DG_ERR_INVALID, "registry: batch of %d images", max_batch);
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return dg_fail(err, DG_ERR_NOMEM, "registry: out of memory");
	(*out)->max_batch = max_batch;
	return 0;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n; i++) {
		nn_workspace_free(r->models[i].ws);
		nn_workspace_free(r->models[i].explain_ws);
		free(r->models[i].hidden);
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

/* The service feeds every model what image_to_mnist makes. */
static int check_input(const struct nn_graph *g, const char *path, struct dg_error *err)
{
	const struct nn_node *in = &g->nodes[0];

	if (in->op != NN_INPUT || in->c * in->h * in->w != IMAGE_PIXELS)
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "%s: the model takes %dx%dx%d inputs, the service makes 1x%dx%d",
		               path, in->c, in->h, in->w, IMAGE_SIDE, IMAGE_SIDE);
	return 0;
}

static void set_info(struct registry_model_info *info, int index, const struct model *m,
                     const char *path)
{
	const char *base = strrchr(path, '/');

	memset(info, 0, sizeof(*info));
	info->index = index;
	snprintf(info->name, sizeof(info->name), "%s", model_name(m));
	snprintf(info->file, sizeof(info->file), "%s", base ? base + 1 : path);
	snprintf(info->version, sizeof(info->version), "%08lx", m->crc & 0xffffffffUL);
	info->test_accuracy = training_accuracy(m);
	info->n_classes = m->graph->n_classes;
	info->n_macs = m->graph->n_macs;
	snprintf(info->precision, sizeof(info->precision), "%s", nn_graph_precision(m->graph));
	info->explainable = strcmp(info->precision, "float32") == 0;
	/* Values, not buffer slots: an int8 tensor packs four in a float. */
	for (int i = 0; i < m->graph->n_nodes; i++) {
		struct nn_tensor t[NN_MAX_TENSORS];
		int count = nn_node_tensors(m->graph, i, t);

		for (int k = 0; k < count; k++)
			info->n_params += t[k].count;
	}
}

int registry_add_file(struct registry *r, const char *path, struct dg_error *err)
{
	struct registry_model *rm;
	struct confidence_params conf;
	struct reading_whole reading;
	struct dg_error inner;
	struct model *m;

	if (r->n == REGISTRY_MAX_MODELS)
		return dg_fail(err, DG_ERR_TOO_LARGE, "%s: more than %d models", path,
		               REGISTRY_MAX_MODELS);
	if ((r->lazy ? model_load_header(&m, path, err) : model_load(&m, path, err)) < 0)
		return -1;
	for (int i = 0; i < r->n; i++) {
		if (strcmp(r->models[i].info.name, model_name(m)) == 0) {
			dg_fail(err, DG_ERR_INVALID, "%s: model \"%s\" is already loaded from %s",
			        path, model_name(m), r->models[i].info.file);
			model_free(m);
			return -1;
		}
	}
	if (check_input(m->graph, path, err) < 0) {
		model_free(m);
		return -1;
	}
	if (confidence_from_training(m->training, m->graph, &conf, &inner) < 0 ||
	    reading_whole_from_training(m->training, m->graph, &conf, &reading, &inner) < 0) {
		model_free(m);
		return dg_fail(err, inner.code, "%s: %s", path, inner.msg);
	}
	rm = &r->models[r->n];
	memset(rm, 0, sizeof(*rm));
	rm->model = m;
	set_info(&rm->info, r->n, m, path);
	rm->info.confidence = conf;
	rm->info.reading = reading;
	if (conf.head.fitted &&
	    !(rm->hidden =
	          malloc((size_t)r->max_batch * (size_t)conf.head.n_hidden * sizeof(float)))) {
		model_free(m);
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	}
	if (!r->lazy && nn_workspace_create(&rm->ws, m->graph, r->max_batch, false, &inner) < 0) {
		free(rm->hidden);
		rm->hidden = NULL;
		model_free(m);
		return dg_fail(err, inner.code, "%s: %s", path, inner.msg);
	}
	r->n++;
	if (strcmp(rm->info.name, REGISTRY_DEFAULT_NAME) == 0 || r->n == 1)
		r->default_index = r->n - 1;
	for (int i = 0; i < r->n; i++)
		r->models[i].info.is_default = i == r->default_index;
	return 0;
}

/* By name without ".model", so a model comes before its variants: cnn,
 * cnn-int8, lenet5 ("cnn-int8.model" sorts before "cnn.model"). */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	size_t la = strlen((*a)->d_name) - 6, lb = strlen((*b)->d_name) - 6;
	int c = strncmp((*a)->d_name, (*b)->d_name, la < lb ? la : lb);

	return c ? c : (la > lb) - (la < lb);
}

static int is_model_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 6 && strcmp(d->d_name + n - 6, ".model") == 0;
}

static int load_dir(struct registry **out, const char *dir, int max_batch, bool lazy,
                    struct dg_error *err)
{
	struct dirent **names;
	struct registry *r;
	int n, rc = 0;

	*out = NULL;
	n = scandir(dir, &names, is_model_file, by_name);
	if (n < 0)
		return dg_fail(err, DG_ERR_IO, "%s: %s", dir, strerror(errno));
	rc = registry_create(&r, max_batch, err);
	if (rc == 0)
		r->lazy = lazy;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];

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

int registry_load(struct registry **out, const char *dir, int max_batch, struct dg_error *err)
{
	return load_dir(out, dir, max_batch, false, err);
}

int registry_load_lazy(struct registry **out, const char *dir, int max_batch, struct dg_error *err)
{
	return load_dir(out, dir, max_batch, true, err);
}

/*
 * A lazy registry's model index, read whole and given its workspace on
 * first use.  The file must still be the one whose header was read: the
 * same checksum, else the answer would not be the model the registry
 * describes.
 */
static int ensure_loaded(struct registry *r, int index, struct dg_error *err)
{
	struct registry_model *rm = &r->models[index];
	struct dg_error inner;
	struct model *m;

	if (rm->model->params)
		return 0;
	if (model_load(&m, rm->model->path, &inner) < 0)
		return dg_fail(err, inner.code, "model \"%s\" cannot be read: %s", rm->info.name,
		               inner.msg);
	if (m->crc != rm->model->crc || strcmp(model_name(m), rm->info.name) != 0) {
		dg_fail(err, DG_ERR_INVALID, "model \"%s\": %s changed since it was listed",
		        rm->info.name, m->path);
		model_free(m);
		return -1;
	}
	if (nn_workspace_create(&rm->ws, m->graph, r->max_batch, false, &inner) < 0) {
		model_free(m);
		return dg_fail(err, inner.code, "model \"%s\": %s", rm->info.name, inner.msg);
	}
	model_free(rm->model);
	rm->model = m;
	return 0;
}

int registry_count(const struct registry *r)
{
	return r ? r->n : 0;
}

int registry_max_batch(const struct registry *r)
{
	return r->max_batch;
}

int registry_find(const struct registry *r, const char *name)
{
	if (!r || r->n == 0)
		return -1;
	if (!name || !*name)
		return r->default_index;
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->models[i].info.name, name) == 0)
			return i;
	return -1;
}

const struct registry_model_info *registry_model_info(const struct registry *r, int index)
{
	return r && index >= 0 && index < r->n ? &r->models[index].info : NULL;
}

int registry_predict(struct registry *r, int index, const float *pixels, int n, const float **probs,
                     struct dg_error *err)
{
	struct registry_model *rm;

	*probs = NULL;
	if (!registry_model_info(r, index))
		return dg_fail(err, DG_ERR_INVALID, "no model number %d", index);
	if (n < 1 || n > r->max_batch)
		return dg_fail(err, DG_ERR_INVALID, "%s: batch of %d images, want 1 to %d",
		               r->models[index].info.name, n, r->max_batch);
	if (ensure_loaded(r, index, err) < 0)
		return -1;
	rm = &r->models[index];
	*probs = nn_forward(rm->model->graph, rm->model->params, rm->ws, pixels, n);
	if (!*probs)
		return dg_fail(err, DG_ERR_INVALID, "%s: forward pass failed", rm->info.name);
	return 0;
}

const float *registry_hidden(const struct registry *r, int index, int k)
{
	const struct registry_model_info *info = registry_model_info(r, index);
	const struct registry_model *rm;
	float *out;

	if (!info || !info->confidence.head.fitted || k < 0 || k >= r->max_batch ||
	    !r->models[index].ws || !r->models[index].hidden)
		return NULL;
	/* Read as floats (an int8 model's bytes dequantised) into the
	 * model's own buffer: one small vector per image. */
	rm = &r->models[index];
	out = rm->hidden + (size_t)k * (size_t)info->confidence.head.n_hidden;
	return nn_activation_floats(rm->model->graph, rm->ws, info->confidence.head.node, k, out) ==
	               0
	           ? out
	           : NULL;
}

int registry_explain(struct registry *r, int index, const float *pixels, int cls, float *map,
                     float *probs, struct registry_explanation *ex, struct dg_error *err)
{
	struct registry_model *rm;
	struct nn_explain_info info;

	if (!registry_model_info(r, index))
		return dg_fail(err, DG_ERR_INVALID, "no model number %d", index);
	rm = &r->models[index];
	if (rm->info.explainable && ensure_loaded(r, index, err) < 0)
		return -1;
	if (!rm->info.explainable)
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "model \"%s\" is %s and cannot be explained; explain with a float "
		               "model",
		               rm->info.name, rm->info.precision);
	/* One more workspace per model, and only for processes that explain:
	 * explanations then allocate nothing per request either.  It is not
	 * the forward workspace, whose probabilities of a whole batch the
	 * caller may still be reading. */
	if (!rm->explain_ws && nn_workspace_create_explain(&rm->explain_ws, rm->model->graph, err))
		return -1;
	if (cls < 0) {
		const float *p =
		    nn_forward(rm->model->graph, rm->model->params, rm->explain_ws, pixels, 1);

		cls = 0;
		for (int c = 1; c < rm->info.n_classes; c++)
			cls = p[c] > p[cls] ? c : cls;
	}
	if (nn_explain(rm->model->graph, rm->model->params, rm->explain_ws, pixels, cls, map, probs,
	               err))
		return -1;
	nn_explain_info(rm->model->graph, &info);
	ex->cls = cls;
	ex->method = nn_explain_method_name(info.method);
	ex->map_h = info.map_h;
	ex->map_w = info.map_w;
	return 0;
}
