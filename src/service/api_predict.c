/*
 * api_predict.c - POST /api/v1/predict (and /recognize.json).
 *
 * A request carries images in one of three ways, told apart by its
 * Content-Type (never by sniffing the body):
 *   multipart/form-data           parts named "image" (one or many); the
 *                                 fields model, top, preview, explain
 *   image/<any>, application/octet-stream   the body is one image
 *   application/json              {"image": "<base64 or data: URL>"} or
 *                                 {"images": [...]}, plus the same fields
 * Parameters may also come in the query string; form or JSON fields win.
 *
 * The answer is a single prediction, or {"predictions": [...]} when the
 * request sent several images or used "images" (then an image that cannot
 * be used gets its own error object and the status stays 200).  All images
 * of a request go through the network as one batch.
 *
 * POST /api/v1/read takes the same requests (api_read below collects them
 * here) and answers with api_read.c.
 */
#include "api_priv.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct params {
	char model[API_PARAM_MAX];
	int top;           /* 0: no "top" list */
	int preview;       /* 1: add a PNG of what the model saw */
	int explain;       /* 1: add the explanation of explain_class */
	int explain_class; /* -1: the predicted digit */
};

struct input {
	struct span data;
	int status; /* 0, or the error for this image */
	const char *code;
};

/* Everything one prediction request collects before running the model. */
struct job {
	struct params p;
	struct input *in; /* ctx->cfg.max_images */
	int n;
	bool list; /* answer {"predictions": [...]} */
	int model; /* registry index */
	int *slot; /* per image: its row of the batch, or -1 */
	int n_ok;  /* rows in the batch */
	double t0; /* when the request reached api_predict */
};

/* The parameters, each with the function that checks and sets it.  A
 * query string, a form field and a JSON member all go through param_set. */
static int set_model(struct params *p, const char *val, struct api_response *res)
{
	(void)res;
	snprintf(p->model, sizeof(p->model), "%s", val);
	return 0;
}

static int set_top(struct params *p, const char *val, struct api_response *res)
{
	long v;

	if (span_to_long(span_cstr(val), 1, ANSWER_TOP_MAX, &v) < 0) {
		api_error(res, 400, "invalid_parameter",
		          "top must be an integer from 1 to %d, not \"%.32s\"", ANSWER_TOP_MAX,
		          val);
		return -1;
	}
	p->top = (int)v; /* <= ANSWER_TOP_MAX */
	return 0;
}

/* A yes/no parameter: 1, true or empty (present), 0 or false. */
static int set_flag(int *flag, const char *name, const char *val, struct api_response *res)
{
	if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || *val == '\0') {
		*flag = 1;
	} else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0) {
		*flag = 0;
	} else {
		api_error(res, 400, "invalid_parameter",
		          "%s must be 1, 0, true or false, not \"%.32s\"", name, val);
		return -1;
	}
	return 0;
}

static int set_preview(struct params *p, const char *val, struct api_response *res)
{
	return set_flag(&p->preview, "preview", val, res);
}

static int set_explain(struct params *p, const char *val, struct api_response *res)
{
	return set_flag(&p->explain, "explain", val, res);
}

static int set_explain_class(struct params *p, const char *val, struct api_response *res)
{
	long v;

	if (span_to_long(span_cstr(val), 0, 9, &v) < 0) {
		api_error(res, 400, "invalid_parameter",
		          "explain_class must be a digit from 0 to 9, not \"%.32s\"", val);
		return -1;
	}
	p->explain_class = (int)v; /* 0..9 */
	p->explain = 1;            /* asking for a class's map asks for the map */
	return 0;
}

static const struct param {
	const char *name;
	int (*set)(struct params *p, const char *val, struct api_response *res);
} params_table[] = {
    {"model", set_model},
    {"top", set_top},
    {"preview", set_preview},
    {"explain", set_explain},
    {"explain_class", set_explain_class},
};

#define N_PARAMS (sizeof(params_table) / sizeof(params_table[0]))

static const struct param *param_find(const char *name)
{
	for (size_t i = 0; i < N_PARAMS; i++)
		if (strcmp(name, params_table[i].name) == 0)
			return &params_table[i];
	return NULL;
}

/* Other names are ignored, so clients may send extra fields. */
static int param_set(struct params *p, const char *key, const char *val, struct api_response *res)
{
	const struct param *def = param_find(key);

	return def ? def->set(p, val, res) : 0;
}

static int query_params(const char *query, struct params *p, struct api_response *res)
{
	struct span rest = span_cstr(query), k, v;
	char key[API_PARAM_MAX], val[API_PARAM_MAX];
	struct dg_error err;

	while (req_query_next(&rest, &k, &v)) {
		if (req_url_decode(k, key, sizeof(key), &err) < 0 || !param_find(key))
			continue; /* not one of ours */
		if (req_url_decode(v, val, sizeof(val), &err) < 0) {
			api_error(res, 400, "invalid_parameter", "parameter %s: %s", key, err.msg);
			return -1;
		}
		if (param_set(p, key, val, res) < 0)
			return -1;
	}
	return 0;
}

static int add_image(struct api_ctx *ctx, struct job *job, struct span data,
                     struct api_response *res)
{
	if (job->n == ctx->cfg.max_images) {
		api_error(res, 413, "too_many_images", "more than %d images in one request",
		          ctx->cfg.max_images);
		return -1;
	}
	job->in[job->n++] = (struct input){data, 0, NULL};
	return 0;
}

static int from_multipart(struct api_ctx *ctx, struct span body, struct span boundary,
                          struct job *job, struct api_response *res)
{
	struct dg_error err;
	int n;

	if (boundary.n == 0) {
		api_error(res, 400, "bad_multipart", "multipart/form-data without a boundary");
		return -1;
	}
	if (req_multipart(body, boundary, ctx->parts, API_MAX_PARTS, &n, &err) < 0) {
		if (err.code == DG_ERR_TOO_LARGE)
			api_error(res, 413, "too_many_images", "%s", err.msg);
		else
			api_error(res, 400, "bad_multipart", "%s", err.msg);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct req_part *part = &ctx->parts[i];
		char key[API_PARAM_MAX], val[API_PARAM_MAX];

		if (span_eq(part->name, "image")) {
			/* A form's file input left empty sends an empty part. */
			if (part->data.n && add_image(ctx, job, part->data, res) < 0)
				return -1;
			continue;
		}
		if (part->has_filename || span_copy(part->name, key, sizeof(key)) < 0)
			continue;
		if (span_copy(part->data, val, sizeof(val)) < 0 ||
		    memchr(part->data.p, '\0', part->data.n)) {
			api_error(res, 400, "invalid_parameter", "form field %s is too long", key);
			return -1;
		}
		if (param_set(&job->p, key, val, res) < 0)
			return -1;
	}
	job->list = job->n > 1;
	return 0;
}

/* Base64 (or a data: URL) into arena memory. */
static int decode_base64(struct api_ctx *ctx, struct json_object *s, struct span *out,
                         struct dg_error *err)
{
	struct span text = {json_object_get_string(s), (size_t)json_object_get_string_len(s)};
	struct span payload;
	unsigned char *buf;
	size_t len;

	if (req_data_url(text, &payload, err) < 0)
		return -1;
	buf = req_arena_alloc(&ctx->arena, req_base64_max(payload.n));
	if (!buf)
		return dg_fail(err, DG_ERR_TOO_LARGE, "no room to decode the base64");
	if (req_base64_decode(payload, buf, req_base64_max(payload.n), &len, err) < 0)
		return -1;
	*out = (struct span){(const char *)buf, len};
	return 0;
}

static int json_param(struct json_object *doc, const char *key, struct params *p,
                      struct api_response *res)
{
	struct json_object *v;
	char val[API_PARAM_MAX];

	if (!json_object_object_get_ex(doc, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_boolean))
		snprintf(val, sizeof(val), "%s", json_object_get_boolean(v) ? "1" : "0");
	else if (json_object_is_type(v, json_type_int))
		snprintf(val, sizeof(val), "%lld", (long long)json_object_get_int64(v));
	else if (json_object_is_type(v, json_type_string))
		snprintf(val, sizeof(val), "%s", json_object_get_string(v));
	else
		snprintf(val, sizeof(val), "(%s)", json_type_to_name(json_object_get_type(v)));
	return param_set(p, key, val, res);
}

/* The body as one JSON object into *docp (owned by the caller, even on
 * failure). */
static int parse_json(struct span body, struct json_object **docp, struct api_response *res)
{
	struct json_tokener *tok = json_tokener_new_ex(API_JSON_DEPTH);
	enum json_tokener_error jerr;
	struct json_object *doc;
	struct dg_error err;
	size_t used;

	*docp = NULL;
	/* json-c builds the whole document before anything can look at it, and
	 * an empty array costs it ~150 bytes where the body spent 3: checked
	 * first, a body can only make it build what the schema could use. */
	if (req_json_check(body, API_JSON_DEPTH, API_JSON_VALUES, &err) < 0) {
		json_tokener_free(tok);
		api_error(res, 400, "bad_json", "request body is not one JSON document: %s",
		          err.msg);
		return -1;
	}
	if (!tok) {
		api_error(res, 500, "internal", "out of memory");
		return -1;
	}
	/* body.n <= cfg.max_body <= API_MAX_BODY_LIMIT (api_config_from_env). */
	_Static_assert(API_MAX_BODY_LIMIT <= INT_MAX, "a body's length must fit json-c's int");
	doc = json_tokener_parse_ex(tok, body.p, (int)body.n);
	jerr = json_tokener_get_error(tok);
	used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	*docp = doc;
	while (doc && used < body.n && strchr(" \t\r\n", body.p[used]))
		used++;
	if (!doc || jerr != json_tokener_success || used != body.n) {
		api_error(res, 400, "bad_json", "request body is not one JSON document: %s",
		          jerr != json_tokener_success ? json_tokener_error_desc(jerr)
		                                       : "data after the end");
		return -1;
	}
	if (!json_object_is_type(doc, json_type_object)) {
		api_error(res, 400, "bad_json", "request body must be a JSON object");
		return -1;
	}
	return 0;
}

/* "images": [...]: a string that is not base64 gets its own error. */
static int json_images(struct api_ctx *ctx, struct json_object *images, struct job *job,
                       struct api_response *res)
{
	struct dg_error err;

	if (!json_object_is_type(images, json_type_array)) {
		api_error(res, 400, "bad_json", "\"images\" must be an array of strings");
		return -1;
	}
	job->list = true;
	for (size_t i = 0; i < json_object_array_length(images); i++) {
		struct json_object *s = json_object_array_get_idx(images, i);

		if (!json_object_is_type(s, json_type_string)) {
			api_error(res, 400, "bad_json", "images[%zu] is not a string", i);
			return -1;
		}
		if (add_image(ctx, job, SPAN_NULL, res) < 0)
			return -1;
		if (decode_base64(ctx, s, &job->in[job->n - 1].data, &err) < 0) {
			job->in[job->n - 1].status = 400;
			job->in[job->n - 1].code = "bad_base64";
			ctx->img_err[job->n - 1] = err;
		}
	}
	return 0;
}

static int from_json(struct api_ctx *ctx, struct span body, struct job *job,
                     struct json_object **docp, struct api_response *res)
{
	struct json_object *image, *images;
	struct dg_error err;

	if (parse_json(body, docp, res) < 0)
		return -1;
	for (size_t i = 0; i < N_PARAMS; i++)
		if (json_param(*docp, params_table[i].name, &job->p, res) < 0)
			return -1;
	if (json_object_object_get_ex(*docp, "images", &images))
		return json_images(ctx, images, job, res);
	if (!json_object_object_get_ex(*docp, "image", &image) ||
	    json_object_is_type(image, json_type_null))
		return 0;
	if (!json_object_is_type(image, json_type_string)) {
		api_error(res, 400, "bad_json", "\"image\" must be a base64 string");
		return -1;
	}
	if (add_image(ctx, job, SPAN_NULL, res) < 0)
		return -1;
	if (decode_base64(ctx, image, &job->in[0].data, &err) < 0) {
		api_error(res, 400, "bad_base64", "image: %s", err.msg);
		return -1;
	}
	return 0;
}

/* HTTP status and code for an image_to_mnist failure (see image.h). */
void api_image_status(enum dg_code c, int *status, const char **code)
{
	switch (c) {
	case DG_ERR_UNSUPPORTED:
		*status = 415, *code = "unsupported_image";
		break;
	case DG_ERR_FORMAT:
		*status = 422, *code = "corrupt_image";
		break;
	case DG_ERR_TOO_LARGE:
		*status = 413, *code = "image_too_large";
		break;
	case DG_ERR_EMPTY:
		*status = 422, *code = "no_digit";
		break;
	default:
		*status = 500, *code = "internal";
	}
}

/* A PNG as a data: URL in the request's arena. */
static struct json_object *png_data_url(struct api_ctx *ctx, unsigned char *png, size_t len)
{
	static const char prefix[] = "data:image/png;base64,";
	char *text = req_arena_alloc(&ctx->arena, sizeof(prefix) + 4 * ((len + 2) / 3) + 1);

	if (!text) {
		free(png);
		return NULL;
	}
	memcpy(text, prefix, sizeof(prefix) - 1);
	req_base64_encode(png, len, text + sizeof(prefix) - 1);
	free(png);
	return json_object_new_string(text);
}

static struct json_object *preview_json(struct api_ctx *ctx, const float *pixels)
{
	unsigned char *png;
	struct dg_error err;
	size_t len;

	if (image_preview_png(pixels, &png, &len, &err) < 0)
		return NULL;
	return png_data_url(ctx, png, len);
}

/* The heat map's pixels per input pixel in the answer's PNG: 28 -> 224. */
#define EXPLAIN_PNG_SCALE 8

/* {"method", "class", "map_size": [h, w], "map": 28 rows of 28 numbers in
 * 0..1, "png": the map over what the model saw}, or NULL. */
static struct json_object *explanation_json(struct api_ctx *ctx, const struct job *job,
                                            const float *pixels)
{
	float map[IMAGE_PIXELS];
	struct registry_explanation ex;
	struct json_object *o, *rows, *size;
	unsigned char *png;
	struct dg_error err;
	size_t len;

	if (registry_explain(ctx->reg, job->model, pixels, job->p.explain_class, map, NULL, &ex,
	                     &err) < 0 ||
	    image_heatmap_png(pixels, map, EXPLAIN_PNG_SCALE, &png, &len, &err) < 0)
		return NULL;
	o = json_object_new_object();
	rows = json_object_new_array();
	size = json_object_new_array();
	if (!o || !rows || !size) {
		json_object_put(o), json_object_put(rows), json_object_put(size);
		free(png);
		return NULL;
	}
	json_object_object_add(o, "method", json_object_new_string(ex.method));
	json_object_object_add(o, "class", json_object_new_int(ex.cls));
	json_object_array_add(size, json_object_new_int(ex.map_h));
	json_object_array_add(size, json_object_new_int(ex.map_w));
	json_object_object_add(o, "map_size", size);
	for (int y = 0; y < IMAGE_SIDE; y++) {
		struct json_object *row = json_object_new_array();

		for (int x = 0; row && x < IMAGE_SIDE; x++)
			json_object_array_add(row, answer_number(map[y * IMAGE_SIDE + x], "%.3f"));
		json_object_array_add(rows, row);
	}
	json_object_object_add(o, "map", rows);
	json_object_object_add(o, "png", png_data_url(ctx, png, len));
	return o;
}

static int collect(struct api_ctx *ctx, const struct api_request *req, struct span body,
                   struct job *job, struct json_object **json_doc, struct api_response *res)
{
	struct req_content_type ct;
	struct dg_error err;

	if (body.n == 0) {
		api_error(res, 400, "empty_body", "the request has no body: send an image");
		return -1;
	}
	if (!req->content_type || !*req->content_type) {
		api_error(res, 415, "unsupported_media_type",
		          "no Content-Type: send multipart/form-data, image/*, "
		          "application/octet-stream or application/json");
		return -1;
	}
	if (req_content_type(req->content_type, &ct, &err) < 0) {
		bool multipart = span_istarts(span_cstr(req->content_type), "multipart/");

		api_error(res, multipart ? 400 : 415,
		          multipart ? "bad_multipart" : "unsupported_media_type",
		          "Content-Type: %s", err.msg);
		return -1;
	}
	if (span_ieq(ct.type, "multipart/form-data"))
		return from_multipart(ctx, body, ct.boundary, job, res);
	if (span_ieq(ct.type, "application/json"))
		return from_json(ctx, body, job, json_doc, res);
	if (span_istarts(ct.type, "image/") || span_ieq(ct.type, "application/octet-stream"))
		return add_image(ctx, job, body, res);
	api_error(res, 415, "unsupported_media_type",
	          "Content-Type %.*s is not accepted: send multipart/form-data, image/*, "
	          "application/octet-stream or application/json",
	          (int)(ct.type.n > 64 ? 64 : ct.type.n), ct.type.p);
	return -1;
}

/* The pixels the images declare, in all, against cfg.max_pixels: read
 * from the headers (image_probe allocates nothing), so a request of many
 * small files declaring large pictures is refused before any is decoded.
 * An image the probe refuses, or above the per-image limits, is left to
 * image_to_mnist, which gives it its own error without decoding it. */
static int request_pixels(struct api_ctx *ctx, const struct job *job, struct api_response *res)
{
	const struct image_limits *lim = &ctx->cfg.image;
	unsigned long total = 0;

	for (int i = 0; i < job->n; i++) {
		struct image_header h;
		struct dg_error err;

		if (job->in[i].status ||
		    image_probe(job->in[i].data.p, job->in[i].data.n, &h, &err) < 0 ||
		    h.width > (unsigned long)lim->max_width ||
		    h.height > (unsigned long)lim->max_height)
			continue;
		total += h.width * h.height; /* each <= 65535^2 */
	}
	ctx->call.pixels = total;
	if (total > ctx->cfg.max_pixels) {
		api_error(res, 413, "too_many_pixels",
		          "the images declare %lu pixels in all (%d image%s), the limit per "
		          "request is %lu",
		          total, job->n, job->n == 1 ? "" : "s", ctx->cfg.max_pixels);
		return -1;
	}
	return 0;
}

/* Parameters, images and the model: everything before decoding. */
static int prepare(struct api_ctx *ctx, const struct api_request *req, struct span body,
                   struct job *job, struct json_object **json_doc, struct api_response *res)
{
	bool have_models = registry_count(ctx->reg) > 0;

	if (query_params(req->query, &job->p, res) < 0 ||
	    collect(ctx, req, body, job, json_doc, res) < 0)
		return -1;
	if (job->n == 0) {
		api_error(res, 400, "missing_image",
		          "no image in the request (multipart field "
		          "\"image\", or JSON \"image\" / \"images\")");
		return -1;
	}
	job->model = registry_find(ctx->reg, job->p.model);
	if (job->model < 0) {
		api_error(res, have_models ? 400 : 503,
		          have_models ? "unknown_model" : "unavailable",
		          "no model \"%.40s\" (GET /api/v1/models lists them)", job->p.model);
		return -1;
	}
	if (job->p.explain && !registry_model_info(ctx->reg, job->model)->explainable) {
		const struct registry_model_info *m = registry_model_info(ctx->reg, job->model);

		api_error(res, 400, "explain_unsupported",
		          "model \"%s\" is %s and cannot be explained: explain=1 needs a "
		          "float32 model (GET /api/v1/models lists them)",
		          m->name, m->precision);
		return -1;
	}
	ctx->call.model = job->model;
	ctx->call.images = job->n;
	return request_pixels(ctx, job, res);
}

/* Decode every usable image into consecutive rows of the batch and run
 * them through the model together. */
static int run_batch(struct api_ctx *ctx, struct job *job, const float **probs,
                     struct api_response *res)
{
	struct dg_error err;
	double t1, t2;
	int rc = 0;

	job->n_ok = 0;
	for (int i = 0; i < job->n; i++) {
		job->slot[i] = -1;
		if (job->in[i].status)
			continue;
		int failed = image_to_mnist(job->in[i].data.p, job->in[i].data.n, &ctx->cfg.image,
		                            ctx->pixels + (size_t)job->n_ok * IMAGE_PIXELS,
		                            &ctx->info[i], &ctx->img_err[i]) < 0;

		image_warnings_merge(&ctx->call.warnings, &ctx->info[i].warnings); /* for the log */
		if (failed) {
			api_image_status(ctx->img_err[i].code, &job->in[i].status,
			                 &job->in[i].code);
			continue;
		}
		job->slot[i] = job->n_ok++;
	}
	t1 = dg_seconds();
	*probs = NULL;
	if (job->n_ok &&
	    registry_predict(ctx->reg, job->model, ctx->pixels, job->n_ok, probs, &err) < 0) {
		api_error(res, 500, "internal", "%s", err.msg);
		rc = -1;
	}
	t2 = dg_seconds();
	ctx->call.decode_ms = (t1 - job->t0) * 1e3;
	ctx->call.inference_ms = (t2 - t1) * 1e3;
	ctx->call.n_ok = job->n_ok;
	ctx->call.n_failed = job->n - job->n_ok;
	return rc;
}

/* Image i's answer: its prediction, or its own error. */
static struct json_object *image_answer(struct api_ctx *ctx, const struct job *job, int i,
                                        const float *probs, int n_classes)
{
	const float *p;
	struct json_object *o;

	if (job->slot[i] < 0)
		return answer_error(job->in[i].status, job->in[i].code, ctx->img_err[i].msg);
	p = probs + (size_t)job->slot[i] * (size_t)n_classes;
	o = answer_prediction(p, n_classes, job->p.top);
	if (!o)
		return NULL;
	answer_confidence(o, p, n_classes, &registry_model_info(ctx->reg, job->model)->confidence,
	                  registry_hidden(ctx->reg, job->model, job->slot[i]),
	                  ctx->pixels + (size_t)job->slot[i] * IMAGE_PIXELS);
	json_object_object_add(o, "image", answer_image(&ctx->info[i], true));
	if (job->p.preview)
		json_object_object_add(
		    o, "preview",
		    preview_json(ctx, ctx->pixels + (size_t)job->slot[i] * IMAGE_PIXELS));
	if (job->p.explain)
		json_object_object_add(
		    o, "explanation",
		    explanation_json(ctx, job, ctx->pixels + (size_t)job->slot[i] * IMAGE_PIXELS));
	if (ctx->call.digit < 0)
		answer_top_classes(p, n_classes, 1, &ctx->call.digit);
	return o;
}

static void respond(struct api_ctx *ctx, const struct job *job, const float *probs,
                    struct api_response *res)
{
	const struct registry_model_info *m = registry_model_info(ctx->reg, job->model);
	struct json_object *doc = NULL, *list = NULL;

	if (!job->list && job->in[0].status) {
		api_error(res, job->in[0].status, job->in[0].code, "image: %s",
		          ctx->img_err[0].msg);
		return;
	}
	if (job->list) {
		doc = json_object_new_object();
		list = json_object_new_array();
		if (!answer_both(doc, list)) {
			api_set_json(res, 500, NULL);
			return;
		}
		json_object_object_add(doc, "predictions", list);
	}
	for (int i = 0; i < job->n; i++) {
		struct json_object *o = image_answer(ctx, job, i, probs, m->n_classes);

		if (list)
			json_object_array_add(list, o);
		else
			doc = o;
	}
	if (doc) {
		json_object_object_add(doc, "model", answer_model(m));
		json_object_object_add(doc, "timing_ms",
		                       answer_timings(ctx->call.decode_ms, ctx->call.inference_ms,
		                                      (dg_seconds() - job->t0) * 1e3));
	}
	api_set_json(res, 200, doc);
}

void api_predict(struct api_ctx *ctx, const struct api_request *req, struct span body,
                 struct api_response *res)
{
	struct input in[ctx->cfg.max_images];
	int slot[ctx->cfg.max_images];
	struct job job = {.in = in, .slot = slot, .t0 = dg_seconds(), .p.explain_class = -1};
	struct json_object *json_doc = NULL;
	const float *probs;

	if (prepare(ctx, req, body, &job, &json_doc, res) == 0 &&
	    run_batch(ctx, &job, &probs, res) == 0)
		respond(ctx, &job, probs, res);
	json_object_put(json_doc);
}

void api_read(struct api_ctx *ctx, const struct api_request *req, struct span body,
              struct api_response *res)
{
	struct input in[ctx->cfg.max_images];
	int slot[ctx->cfg.max_images];
	struct api_read_image img[ctx->cfg.max_images];
	struct job job = {.in = in, .slot = slot, .t0 = dg_seconds(), .p.explain_class = -1};
	struct json_object *json_doc = NULL;

	if (prepare(ctx, req, body, &job, &json_doc, res) == 0) {
		for (int i = 0; i < job.n; i++)
			img[i] = (struct api_read_image){in[i].data, in[i].status, in[i].code};
		api_read_answer(ctx, job.model, img, job.n, job.list, job.t0, res);
	}
	json_object_put(json_doc);
}
