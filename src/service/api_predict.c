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
 */
#include "api.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/nn.h"

struct params {
	char model[API_PARAM_MAX];
	int top;     /* 0: no "top" list */
	int preview; /* 1: add a PNG of what the model saw */
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
};

static int set_param(struct params *p, const char *key, const char *val, struct api_response *res)
{
	long v;

	if (strcmp(key, "model") == 0) {
		snprintf(p->model, sizeof(p->model), "%s", val);
	} else if (strcmp(key, "top") == 0) {
		if (span_to_long(span_cstr(val), 1, 10, &v) < 0) {
			api_error(res, 400, "invalid_parameter",
			          "top must be an integer from 1 to 10, not \"%.32s\"", val);
			return -1;
		}
		p->top = (int)v;
	} else if (strcmp(key, "preview") == 0) {
		if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || *val == '\0') {
			p->preview = 1;
		} else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0) {
			p->preview = 0;
		} else {
			api_error(res, 400, "invalid_parameter",
			          "preview must be 1, 0, true or false, not \"%.32s\"", val);
			return -1;
		}
	} else if (strcmp(key, "explain") == 0) {
		api_error(res, 400, "invalid_parameter",
		          "explain is not implemented by this server yet");
		return -1;
	}
	/* Other names are ignored, so clients may send extra fields. */
	return 0;
}

static int query_params(const char *query, struct params *p, struct api_response *res)
{
	struct span rest = span_cstr(query), k, v;
	char key[API_PARAM_MAX], val[API_PARAM_MAX];
	struct dg_error err;

	while (req_query_next(&rest, &k, &v)) {
		if (req_url_decode(k, key, sizeof(key), &err) < 0)
			continue; /* not one of ours */
		if (strcmp(key, "model") && strcmp(key, "top") && strcmp(key, "preview") &&
		    strcmp(key, "explain"))
			continue;
		if (req_url_decode(v, val, sizeof(val), &err) < 0) {
			api_error(res, 400, "invalid_parameter", "parameter %s: %s", key, err.msg);
			return -1;
		}
		if (set_param(p, key, val, res) < 0)
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
		if (set_param(&job->p, key, val, res) < 0)
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
	return set_param(p, key, val, res);
}

static int from_json(struct api_ctx *ctx, struct span body, struct job *job,
                     struct json_object **docp, struct api_response *res)
{
	static const char *const keys[] = {"model", "top", "preview", "explain"};
	struct json_tokener *tok = json_tokener_new_ex(8);
	struct json_object *doc, *image, *images;
	struct dg_error err;
	enum json_tokener_error jerr;
	size_t used;

	if (!tok) {
		api_error(res, 500, "internal", "out of memory");
		return -1;
	}
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
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_param(doc, keys[i], &job->p, res) < 0)
			return -1;
	if (json_object_object_get_ex(doc, "images", &images)) {
		if (!json_object_is_type(images, json_type_array)) {
			api_error(res, 400, "bad_json", "\"images\" must be an array of strings");
			return -1;
		}
		job->list = true;
		for (size_t i = 0; i < json_object_array_length(images); i++) {
			struct json_object *s = json_object_array_get_idx(images, i);
			struct span data = SPAN_NULL;

			if (!json_object_is_type(s, json_type_string)) {
				api_error(res, 400, "bad_json", "images[%zu] is not a string", i);
				return -1;
			}
			if (add_image(ctx, job, data, res) < 0)
				return -1;
			if (decode_base64(ctx, s, &job->in[job->n - 1].data, &err) < 0) {
				job->in[job->n - 1].status = 400;
				job->in[job->n - 1].code = "bad_base64";
				ctx->img_err[job->n - 1] = err;
			}
		}
		return 0;
	}
	if (!json_object_object_get_ex(doc, "image", &image) ||
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
static void image_status(enum dg_code c, int *status, const char **code)
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

static struct json_object *error_json(int status, const char *code, const char *msg)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(e, "status", json_object_new_int(status));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "error", e);
	return o;
}

struct json_object *api_prediction_json(const float *probs, int n_classes, int top)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	int best = 0;

	for (int c = 0; c < n_classes; c++) {
		if (probs[c] > probs[best])
			best = c;
		json_object_array_add(arr, api_json_double(probs[c], "%.6g"));
	}
	json_object_object_add(o, "digit", json_object_new_int(best));
	json_object_object_add(o, "probability", api_json_double(probs[best], "%.6g"));
	json_object_object_add(o, "probabilities", arr);
	if (top > 0) {
		struct json_object *list = json_object_new_array();
		bool used[64] = {false};

		for (int k = 0; k < top && k < n_classes && k < 64; k++) {
			struct json_object *e = json_object_new_object();
			int b = -1;

			for (int c = 0; c < n_classes && c < 64; c++)
				if (!used[c] && (b < 0 || probs[c] > probs[b]))
					b = c;
			used[b] = true;
			json_object_object_add(e, "digit", json_object_new_int(b));
			json_object_object_add(e, "probability", api_json_double(probs[b], "%.6g"));
			json_object_array_add(list, e);
		}
		json_object_object_add(o, "top", list);
	}
	return o;
}

static struct json_object *preview_json(struct api_ctx *ctx, const float *pixels)
{
	static const char prefix[] = "data:image/png;base64,";
	unsigned char *png;
	struct dg_error err;
	size_t len;
	char *text;
	struct json_object *o;

	if (image_preview_png(pixels, &png, &len, &err) < 0)
		return NULL;
	text = req_arena_alloc(&ctx->arena, sizeof(prefix) + 4 * ((len + 2) / 3) + 1);
	if (!text) {
		free(png);
		return NULL;
	}
	memcpy(text, prefix, sizeof(prefix) - 1);
	req_base64_encode(png, len, text + sizeof(prefix) - 1);
	free(png);
	o = json_object_new_string(text);
	return o;
}

static struct json_object *image_json(const struct image_info *info)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "format",
	                       json_object_new_string(image_format_name(info->format)));
	json_object_object_add(o, "width", json_object_new_int(info->width));
	json_object_object_add(o, "height", json_object_new_int(info->height));
	json_object_object_add(o, "inverted", json_object_new_boolean(info->inverted));
	return o;
}

static int collect(struct api_ctx *ctx, const struct api_request *req, struct job *job,
                   struct json_object **json_doc, struct api_response *res)
{
	struct span body = {(const char *)req->body, req->body_len};
	struct req_content_type ct;
	struct dg_error err;

	if (req->body_len == 0) {
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

void api_predict(struct api_ctx *ctx, const struct api_request *req, struct api_response *res)
{
	struct input in[ctx->cfg.max_images];
	struct job job = {.in = in};
	struct json_object *json_doc = NULL, *doc, *list = NULL, *t;
	struct registry_model *rm;
	const float *probs = NULL;
	int slot[ctx->cfg.max_images], n_ok = 0, status;
	double t0 = dg_seconds(), t1, t2;

	if (query_params(req->query, &job.p, res) < 0 ||
	    collect(ctx, req, &job, &json_doc, res) < 0)
		goto out;
	if (job.n == 0) {
		api_error(res, 400, "missing_image",
		          "no image in the request (multipart field "
		          "\"image\", or JSON \"image\" / \"images\")");
		goto out;
	}
	rm = registry_find(ctx->reg, job.p.model);
	if (!rm) {
		api_error(res, ctx->reg && ctx->reg->n ? 400 : 503,
		          ctx->reg && ctx->reg->n ? "unknown_model" : "unavailable",
		          "no model \"%.40s\" (GET /api/v1/models lists them)", job.p.model);
		goto out;
	}
	res->model = rm->name;
	res->images = job.n;

	/* Decode every image into consecutive rows of the batch. */
	for (int i = 0; i < job.n; i++) {
		slot[i] = -1;
		if (job.in[i].status)
			continue;
		if (image_to_mnist(job.in[i].data.p, job.in[i].data.n, &ctx->cfg.image,
		                   ctx->pixels + (size_t)n_ok * IMAGE_PIXELS, &ctx->info[i],
		                   &ctx->img_err[i]) < 0) {
			image_status(ctx->img_err[i].code, &job.in[i].status, &job.in[i].code);
			continue;
		}
		slot[i] = n_ok++;
	}
	t1 = dg_seconds();
	if (n_ok)
		probs = nn_forward(rm->model->graph, rm->model->params, rm->ws, ctx->pixels, n_ok);
	t2 = dg_seconds();
	res->decode_ms = (t1 - t0) * 1e3;
	res->inference_ms = (t2 - t1) * 1e3;
	metrics_predictions(&ctx->metrics, (int)(rm - ctx->reg->models), n_ok, job.n - n_ok,
	                    t1 - t0, t2 - t1);

	if (!job.list && job.in[0].status) {
		api_error(res, job.in[0].status, job.in[0].code, "image: %s", ctx->img_err[0].msg);
		goto out;
	}
	doc = job.list ? json_object_new_object() : NULL;
	if (job.list)
		list = json_object_new_array();
	for (int i = 0; i < job.n; i++) {
		struct json_object *o;
		int c = rm->model->graph->n_classes;

		if (slot[i] < 0) {
			o = error_json(job.in[i].status, job.in[i].code, ctx->img_err[i].msg);
		} else {
			o = api_prediction_json(probs + (size_t)slot[i] * c, c, job.p.top);
			json_object_object_add(o, "image", image_json(&ctx->info[i]));
			if (job.p.preview)
				json_object_object_add(
				    o, "preview",
				    preview_json(ctx,
				                 ctx->pixels + (size_t)slot[i] * IMAGE_PIXELS));
			if (res->digit < 0)
				res->digit =
				    json_object_get_int(json_object_object_get(o, "digit"));
		}
		if (list)
			json_object_array_add(list, o);
		else
			doc = o;
	}
	if (list)
		json_object_object_add(doc, "predictions", list);
	json_object_object_add(doc, "model", api_model_json(rm));
	t = json_object_new_object();
	json_object_object_add(t, "decode", api_json_double(res->decode_ms, "%.3f"));
	json_object_object_add(t, "inference", api_json_double(res->inference_ms, "%.3f"));
	json_object_object_add(t, "total", api_json_double((dg_seconds() - t0) * 1e3, "%.3f"));
	json_object_object_add(doc, "timing_ms", t);
	status = 200;
	api_set_json(res, status, doc);
out:
	if (json_doc)
		json_object_put(json_doc);
}
