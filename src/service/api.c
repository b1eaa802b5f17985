/*
 * api.c - the context, limits, reading the body, routing, the small
 * endpoints, and api_finish, where every request is counted and logged.
 *
 * Routes (exact paths; anything else under the API is 404 not_found):
 *   POST     /api/v1/predict, /recognize.json   api_predict (api_predict.c)
 *   POST     /api/v1/read                        api_read (api_predict.c, api_read.c)
 *   GET/HEAD /api/v1/models, /api/v1/health, /api/v1/metrics
 * A known path with another method is 405 method_not_allowed with Allow.
 * A new endpoint is one entry of routes[] below and its function.
 */
#include "api_priv.h"

#include <json-c/json.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define METRICS_TEXT_MAX (64 * 1024) /* arena room for the metrics text */
#define ARENA_SLACK      4096        /* for the 16-byte rounding of each allocation */
#define READ_CHUNK       (1 << 20)   /* body bytes asked of the front end at a time */
/* After a request this big (body bytes, or declared pixels), api_finish
 * hands the freed heap back to the kernel (see there). */
#define TRIM_BYTES  (1u << 20)
#define TRIM_PIXELS (1u << 20)

void api_config_default(struct api_config *c)
{
	c->max_body = 8 * 1024 * 1024;
	c->max_images = 16;
	image_limits_default(&c->image);
	c->max_pixels = (unsigned long)c->image.max_width * (unsigned long)c->image.max_height;
	c->image.max_bytes = c->max_body;
	c->log = true;
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
	if ((r = env_long("DIGITS_MAX_BODY", 1024, API_MAX_BODY_LIMIT, &v, err)) < 0)
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
	if ((r = env_long("DIGITS_MAX_PIXELS", IMAGE_PIXELS, 1L << 32, &v, err)) < 0)
		return -1;
	if (r)
		c->max_pixels = (unsigned long)v;
	return 0;
}

int api_ctx_create(struct api_ctx **out, const struct api_config *cfg, struct registry *reg,
                   struct dg_error *err)
{
	size_t n = (size_t)cfg->max_images;
	struct api_ctx *ctx = calloc(1, sizeof(*ctx));

	*out = NULL;
	if (!ctx)
		return dg_fail(err, DG_ERR_NOMEM, "out of memory for the API context");
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
	                   cfg->max_body + cfg->max_body / 4 * 3 + n * API_PREVIEW_MAX +
	                       METRICS_TEXT_MAX + ARENA_SLACK,
	                   err) < 0) {
		api_ctx_free(ctx);
		return -1;
	}
	*out = ctx;
	return 0;
}

void api_ctx_free(struct api_ctx *ctx)
{
	if (!ctx)
		return;
	free(ctx->pixels);
	free(ctx->info);
	free(ctx->img_err);
	free(ctx->parts);
	req_arena_free(&ctx->arena);
	free(ctx);
}

void api_set_json(struct api_response *res, int status, struct json_object *doc)
{
	static const char oom[] =
	    "{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"out of memory\"}}";

	json_object_put(res->doc);
	res->doc = doc;
	res->status = status;
	res->content_type = "application/json";
	res->body = answer_text(doc, &res->len);
	if (!res->body) {
		res->status = 500;
		res->code = "internal";
		res->allow = NULL;
		res->body = oom;
		res->len = sizeof(oom) - 1;
	}
}

void api_error(struct api_response *res, int status, const char *code, const char *fmt, ...)
{
	char msg[DG_ERROR_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	res->code = code;
	res->allow = NULL;
	api_set_json(res, status, answer_error(status, code, msg));
}

/* How many body bytes to read (0 for GET), or -1 with res holding the
 * error (411 length_required, 413 payload_too_large, 400 for a malformed
 * Content-Length). */
static int body_length(struct api_ctx *ctx, const struct api_request *req, size_t *len,
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

/* The whole body into arena memory, in pieces of at most a MiB. */
static int read_body(struct api_ctx *ctx, const struct api_request *req, struct span *body,
                     struct api_response *res)
{
	unsigned char *buf;
	size_t len, got = 0;

	*body = SPAN_NULL;
	if (body_length(ctx, req, &len, res) < 0)
		return -1;
	ctx->call.bytes = len;
	if (len == 0)
		return 0;
	buf = req_arena_alloc(&ctx->arena, len);
	if (!buf) {
		api_error(res, 500, "internal", "no memory for a %zu-byte body", len);
		return -1;
	}
	while (got < len && req->read) {
		size_t want = len - got > READ_CHUNK ? READ_CHUNK : len - got;
		long n = req->read(req->source, buf + got, want);

		if (n <= 0)
			break;
		got += (size_t)n < want ? (size_t)n : want;
	}
	if (got < len) {
		api_error(res, 400, "truncated_body", "body ended after %zu of %zu bytes", got,
		          len);
		return -1;
	}
	*body = (struct span){(const char *)buf, len};
	return 0;
}

static void models(struct api_ctx *ctx, const struct api_request *req, struct span body,
                   struct api_response *res)
{
	struct json_object *doc = json_object_new_object(), *list = json_object_new_array();
	const struct registry_model_info *def =
	    registry_model_info(ctx->reg, registry_find(ctx->reg, NULL));

	(void)req, (void)body;
	if (!answer_both(doc, list)) {
		api_set_json(res, 500, NULL);
		return;
	}
	for (int i = 0; i < registry_count(ctx->reg); i++) {
		const struct registry_model_info *m = registry_model_info(ctx->reg, i);
		struct json_object *o = answer_model_card(m);

		if (o)
			json_object_object_add(o, "classes", json_object_new_int(m->n_classes));
		json_object_array_add(list, o);
	}
	json_object_object_add(doc, "models", list);
	json_object_object_add(doc, "default", def ? json_object_new_string(def->name) : NULL);
	api_set_json(res, 200, doc);
}

static void health(struct api_ctx *ctx, const struct api_request *req, struct span body,
                   struct api_response *res)
{
	struct json_object *doc = json_object_new_object(), *list = json_object_new_array();
	int n = registry_count(ctx->reg);

	(void)req, (void)body;
	if (!answer_both(doc, list)) {
		api_set_json(res, 500, NULL);
		return;
	}
	for (int i = 0; i < n; i++)
		json_object_array_add(
		    list, json_object_new_string(registry_model_info(ctx->reg, i)->name));
	json_object_object_add(doc, "status", json_object_new_string(n ? "ok" : "unavailable"));
	json_object_object_add(doc, "models", list);
	json_object_object_add(doc, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(doc, "uptime_s", answer_number(dg_seconds() - ctx->started, "%.3f"));
	json_object_object_add(doc, "requests",
	                       json_object_new_int64((int64_t)ctx->metrics.requests_total + 1));
	api_set_json(res, n ? 200 : 503, doc);
	if (!n && res->status == 503)
		res->code = "unavailable";
}

static void metrics(struct api_ctx *ctx, const struct api_request *req, struct span body,
                    struct api_response *res)
{
	struct dg_error err;
	char *buf = req_arena_alloc(&ctx->arena, METRICS_TEXT_MAX);
	size_t len;

	(void)req, (void)body;
	if (!buf || metrics_render(&ctx->metrics, buf, METRICS_TEXT_MAX, &len, &err) < 0) {
		api_error(res, 500, "internal", "metrics: %s", buf ? err.msg : "no memory");
		return;
	}
	res->status = 200;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	res->body = buf;
	res->len = len;
}

/* An endpoint: a path, the methods it takes (Allow), its metrics label and
 * the function that answers it. */
struct route {
	const char *path;
	const char *allow; /* "POST" or "GET, HEAD" */
	enum metrics_endpoint endpoint;
	void (*answer)(struct api_ctx *ctx, const struct api_request *req, struct span body,
	               struct api_response *res);
};

static const struct route routes[] = {
    {"/api/v1/predict", "POST", METRICS_PREDICT, api_predict},
    {"/recognize.json", "POST", METRICS_RECOGNIZE, api_predict},
    {"/api/v1/read", "POST", METRICS_READ, api_read},
    {"/api/v1/models", "GET, HEAD", METRICS_MODELS, models},
    {"/api/v1/health", "GET, HEAD", METRICS_HEALTH, health},
    {"/api/v1/metrics", "GET, HEAD", METRICS_METRICS, metrics},
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
	char cand[3][API_PATH_MAX] = {"", "", ""};
	struct span uri = span_cstr(request_uri), path;

	span_cut(&uri, '?', &path);
	snprintf(cand[0], sizeof(cand[0]), "%.*s",
	         (int)(path.n < API_PATH_MAX - 1 ? path.n : API_PATH_MAX - 1), path.p);
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

static void route(struct api_ctx *ctx, const struct route *r, const struct api_request *req,
                  struct span body, struct api_response *res)
{
	const char *method = req->method ? req->method : "";
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	if (!r) {
		api_error(res, 404, "not_found", "no endpoint %.200s", req->path ? req->path : "");
	} else if (strcmp(r->allow, "POST") == 0 ? strcmp(method, "POST") != 0 : !get) {
		api_error(res, 405, "method_not_allowed", "%.200s accepts %s, not %.16s", r->path,
		          r->allow, method);
		res->allow = r->allow;
	} else {
		r->answer(ctx, req, body, res);
	}
}

void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *res)
{
	const struct route *r = route_find(req->path);
	struct span body;

	memset(res, 0, sizeof(*res));
	ctx->call = (struct api_call){
	    .endpoint = r ? r->endpoint : METRICS_OTHER,
	    .method = req->method,
	    .path = req->path,
	    .model = -1,
	    .digit = -1,
	};
	log_request_id(req->request_id, res->id);
	if (read_body(ctx, req, &body, res) == 0) {
		double t0 = dg_seconds();

		route(ctx, r, req, body, res);
		ctx->call.total_ms = (dg_seconds() - t0) * 1e3;
	}
	res->reason = answer_status_text(res->status);
}

void api_finish(struct api_ctx *ctx, struct api_response *res, bool sent)
{
	const struct api_call *c = &ctx->call;
	const struct registry_model_info *m = registry_model_info(ctx->reg, c->model);

	if (res->status) {
		metrics_request(&ctx->metrics, c->endpoint, res->status, c->total_ms / 1e3);
		if (m)
			metrics_predictions(&ctx->metrics, c->model, c->n_ok, c->n_failed,
			                    c->decode_ms / 1e3, c->inference_ms / 1e3);
		if (ctx->cfg.log)
			log_request(&(struct log_entry){
			    .id = res->id,
			    .method = c->method,
			    .path = c->path,
			    .status = res->status,
			    .code = res->code,
			    .model = m ? m->name : NULL,
			    .digit = c->digit,
			    .images = c->images,
			    .bytes = c->bytes,
			    .decode_ms = c->decode_ms,
			    .inference_ms = c->inference_ms,
			    .total_ms = c->total_ms,
			    .unsent = !sent,
			    .warnings = &c->warnings,
			});
	}
	json_object_put(res->doc);
	memset(res, 0, sizeof(*res));
	/* Our own request memory is the arena (reset below gives its big
	 * pages back), but libgd, the image libraries and json-c allocate with
	 * malloc, and glibc keeps what they free in its free lists: a
	 * progressive JPEG decoded after two AVIFs left a process 22 MB larger
	 * for good (test_limits.sh).  Fixed buffers cannot replace libraries'
	 * allocations, so malloc_trim(0) returns every free page of every
	 * arena (OpenMP threads have their own).  It walks the free lists, so
	 * only after requests that could have grown them. */
	if (c->bytes >= TRIM_BYTES || c->pixels >= TRIM_PIXELS)
		malloc_trim(0);
	ctx->call = (struct api_call){.model = -1, .digit = -1};
	req_arena_reset(&ctx->arena);
}
