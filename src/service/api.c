/*
 * api.c - routing, the small endpoints, limits and error documents.
 *
 * Routes (exact paths; anything else under the API is 404 not_found):
 *   POST     /api/v1/predict, /recognize.json   api_predict (api_predict.c)
 *   GET/HEAD /api/v1/models, /api/v1/health, /api/v1/metrics
 * A known path with another method is 405 method_not_allowed with Allow.
 */
#include "api.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/nn.h"

#define METRICS_TEXT_MAX (64 * 1024)

void api_config_default(struct api_config *c)
{
	c->max_body = 8 * 1024 * 1024;
	c->max_images = 16;
	image_limits_default(&c->image);
	c->image.max_bytes = c->max_body;
}

static int env_long(const char *name, long min, long max, long *out, struct dg_error *err)
{
	const char *s = getenv(name);

	if (!s || !*s)
		return 0;
	if (span_to_long(span_cstr(s), min, max, out) < 0)
		return dg_fail(err, DG_ERR_INVALID, "%s=%s: want an integer in [%ld, %ld]", name, s,
		               min, max);
	return 1;
}

int api_config_from_env(struct api_config *c, struct dg_error *err)
{
	long v;
	int r;

	api_config_default(c);
	if ((r = env_long("DIGITS_MAX_BODY", 1024, 1L << 30, &v, err)) < 0)
		return -1;
	if (r)
		c->max_body = c->image.max_bytes = (size_t)v;
	if ((r = env_long("DIGITS_MAX_IMAGES", 1, 256, &v, err)) < 0)
		return -1;
	if (r)
		c->max_images = (int)v;
	if ((r = env_long("DIGITS_MAX_SIDE", 28, 65535, &v, err)) < 0)
		return -1;
	if (r)
		c->image.max_width = c->image.max_height = (int)v;
	return 0;
}

int api_ctx_init(struct api_ctx *ctx, const struct api_config *cfg, struct registry *reg,
                 struct dg_error *err)
{
	size_t n = (size_t)cfg->max_images;

	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = *cfg;
	ctx->reg = reg;
	ctx->started = dg_seconds();
	metrics_init(&ctx->metrics, reg);
	ctx->pixels = calloc(n * IMAGE_PIXELS, sizeof(float));
	ctx->info = calloc(n, sizeof(*ctx->info));
	ctx->img_err = calloc(n, sizeof(*ctx->img_err));
	ctx->parts = calloc(API_MAX_PARTS, sizeof(*ctx->parts));
	if (!ctx->pixels || !ctx->info || !ctx->img_err || !ctx->parts) {
		api_ctx_free(ctx);
		return dg_fail(err, DG_ERR_NOMEM, "out of memory for %zu images", n);
	}
	/* The body, plus its base64 decoding (at most 3/4 of it), plus a
	 * preview per image and the metrics text. */
	if (req_arena_init(&ctx->arena,
	                   cfg->max_body + cfg->max_body / 4 * 3 + n * 16384 + METRICS_TEXT_MAX +
	                       4096,
	                   err) < 0) {
		api_ctx_free(ctx);
		return -1;
	}
	return 0;
}

void api_ctx_free(struct api_ctx *ctx)
{
	free(ctx->pixels);
	free(ctx->info);
	free(ctx->img_err);
	free(ctx->parts);
	req_arena_free(&ctx->arena);
	ctx->pixels = NULL;
	ctx->info = NULL;
	ctx->img_err = NULL;
	ctx->parts = NULL;
}

const char *api_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	}
	return "Error";
}

struct json_object *api_json_double(double v, const char *fmt)
{
	char s[40];

	snprintf(s, sizeof(s), fmt, v);
	return json_object_new_double_s(v, s);
}

void api_set_json(struct api_response *res, int status, struct json_object *doc)
{
	if (res->doc)
		json_object_put(res->doc);
	res->doc = doc;
	res->status = status;
	res->content_type = "application/json";
	res->body = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
	                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
	res->len = strlen(res->body);
}

void api_error(struct api_response *res, int status, const char *code, const char *fmt, ...)
{
	struct json_object *doc = json_object_new_object(), *e = json_object_new_object();
	char msg[DG_ERROR_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "status", json_object_new_int(status));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(doc, "error", e);
	api_set_json(res, status, doc);
	res->code = code;
	res->allow = NULL;
}

void api_response_free(struct api_ctx *ctx, struct api_response *res)
{
	if (res->doc)
		json_object_put(res->doc);
	memset(res, 0, sizeof(*res));
	res->digit = -1;
	req_arena_reset(&ctx->arena);
}

int api_body_length(struct api_ctx *ctx, const struct api_request *req, size_t *len,
                    struct api_response *res)
{
	long v;

	*len = 0;
	if (!req->content_length || !*req->content_length) {
		if (req->method && strcmp(req->method, "POST") == 0) {
			api_error(res, 411, "length_required",
			          "POST needs a Content-Length header (chunked bodies are "
			          "buffered by the web server)");
			return -1;
		}
		return 0;
	}
	if (span_to_long(span_cstr(req->content_length), 0, 1L << 62, &v) < 0) {
		api_error(res, 400, "bad_request", "malformed Content-Length \"%.32s\"",
		          req->content_length);
		return -1;
	}
	if ((unsigned long)v > ctx->cfg.max_body) {
		api_error(res, 413, "payload_too_large",
		          "request body of %ld bytes exceeds the limit of %zu bytes", v,
		          ctx->cfg.max_body);
		return -1;
	}
	*len = (size_t)v;
	return 0;
}

unsigned char *api_body_buffer(struct api_ctx *ctx, size_t len)
{
	if (len > ctx->cfg.max_body)
		return NULL;
	return req_arena_alloc(&ctx->arena, len ? len : 1);
}

struct json_object *api_model_json(const struct registry_model *rm)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(rm->name));
	json_object_object_add(o, "version", json_object_new_string(rm->version));
	json_object_object_add(o, "test_accuracy",
	                       rm->test_accuracy >= 0 ? api_json_double(rm->test_accuracy, "%.4f")
	                                              : NULL);
	return o;
}

static void models(struct api_ctx *ctx, struct api_response *res)
{
	struct json_object *doc = json_object_new_object(), *list = json_object_new_array();
	struct registry_model *def = registry_find(ctx->reg, NULL);

	for (int i = 0; ctx->reg && i < ctx->reg->n; i++) {
		struct registry_model *rm = &ctx->reg->models[i];
		struct json_object *o = api_model_json(rm);

		json_object_object_add(o, "default", json_object_new_boolean(rm == def));
		json_object_object_add(o, "file", json_object_new_string(rm->file));
		json_object_object_add(o, "params",
		                       json_object_new_int64((int64_t)rm->model->graph->n_params));
		json_object_object_add(o, "macs",
		                       json_object_new_int64((int64_t)rm->model->graph->n_macs));
		json_object_object_add(o, "classes",
		                       json_object_new_int(rm->model->graph->n_classes));
		json_object_array_add(list, o);
	}
	json_object_object_add(doc, "models", list);
	json_object_object_add(doc, "default", def ? json_object_new_string(def->name) : NULL);
	api_set_json(res, 200, doc);
}

static void health(struct api_ctx *ctx, struct api_response *res)
{
	struct json_object *doc = json_object_new_object(), *list = json_object_new_array();
	int ok = ctx->reg && ctx->reg->n > 0;

	for (int i = 0; ctx->reg && i < ctx->reg->n; i++)
		json_object_array_add(list, json_object_new_string(ctx->reg->models[i].name));
	json_object_object_add(doc, "status", json_object_new_string(ok ? "ok" : "unavailable"));
	json_object_object_add(doc, "models", list);
	json_object_object_add(doc, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(doc, "uptime_s", api_json_double(dg_seconds() - ctx->started, "%.3f"));
	json_object_object_add(doc, "requests",
	                       json_object_new_int64((int64_t)ctx->metrics.requests_total + 1));
	api_set_json(res, ok ? 200 : 503, doc);
	if (!ok)
		res->code = "unavailable";
}

static void metrics(struct api_ctx *ctx, struct api_response *res)
{
	struct dg_error err;
	char *buf = req_arena_alloc(&ctx->arena, METRICS_TEXT_MAX);
	size_t len;

	if (!buf || metrics_render(&ctx->metrics, buf, METRICS_TEXT_MAX, &len, &err) < 0) {
		api_error(res, 500, "internal", "metrics: %s", buf ? err.msg : "no memory");
		return;
	}
	res->status = 200;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	res->body = buf;
	res->len = len;
}

struct route {
	const char *path;
	enum metrics_endpoint endpoint;
	const char *allow;
};

static const struct route routes[] = {
    {"/api/v1/predict", METRICS_PREDICT, "POST"},
    {"/recognize.json", METRICS_RECOGNIZE, "POST"},
    {"/api/v1/models", METRICS_MODELS, "GET, HEAD"},
    {"/api/v1/health", METRICS_HEALTH, "GET, HEAD"},
    {"/api/v1/metrics", METRICS_METRICS, "GET, HEAD"},
};

static const struct route *route_find(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (path && strcmp(path, routes[i].path) == 0)
			return &routes[i];
	return NULL;
}

/* Servers split a URL into SCRIPT_NAME and PATH_INFO differently (lighttpd
 * by its fastcgi.server prefix, a shared host by the script's location),
 * so try each reading and keep the first that names a route. */
void api_route_path(const char *path_info, const char *request_uri, const char *script_name,
                    char *out, size_t cap)
{
	char cand[3][512] = {"", "", ""};
	struct span uri = span_cstr(request_uri), path;

	span_cut(&uri, '?', &path);
	snprintf(cand[0], sizeof(cand[0]), "%.*s", (int)(path.n < 511 ? path.n : 511), path.p);
	snprintf(cand[1], sizeof(cand[1]), "%s", path_info ? path_info : "");
	snprintf(cand[2], sizeof(cand[2]), "%s%s", script_name ? script_name : "",
	         path_info ? path_info : "");
	for (int i = 0; i < 3; i++) {
		if (route_find(cand[i])) {
			snprintf(out, cap, "%s", cand[i]);
			return;
		}
	}
	for (int i = 0; i < 3; i++) {
		if (cand[i][0]) {
			snprintf(out, cap, "%s", cand[i]);
			return;
		}
	}
	snprintf(out, cap, "/");
}

void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *res)
{
	const struct route *r;
	const char *method = req->method ? req->method : "";
	double t0 = dg_seconds();
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	res->digit = -1;
	r = route_find(req->path);
	if (!r) {
		api_error(res, 404, "not_found", "no endpoint %.200s", req->path ? req->path : "");
	} else if (strcmp(r->allow, "POST") == 0 ? strcmp(method, "POST") != 0 : !get) {
		api_error(res, 405, "method_not_allowed", "%.200s accepts %s, not %.16s", r->path,
		          r->allow, method);
		res->allow = r->allow;
	} else if (r->endpoint == METRICS_MODELS) {
		models(ctx, res);
	} else if (r->endpoint == METRICS_HEALTH) {
		health(ctx, res);
	} else if (r->endpoint == METRICS_METRICS) {
		metrics(ctx, res);
	} else {
		api_predict(ctx, req, res);
	}
	res->total_ms = (dg_seconds() - t0) * 1e3;
	metrics_request(&ctx->metrics, r ? r->endpoint : METRICS_OTHER, res->status,
	                res->total_ms / 1e3);
}
