/*
 * fuzz_api.c - a whole request through the API, as digits.fcgi hands it
 * over: the route from the CGI path variables (api_route_path), method,
 * query string, Content-Type, Content-Length, X-Request-Id, and a body read
 * through an api_read_fn.  So this target reaches routing, query and form
 * parameters, multipart, raw image bodies, JSON with base64 and data: URLs,
 * image decoding and the models, the metrics text and the error answers.
 *
 * Input: seven newline-terminated lines (method, REQUEST_URI, PATH_INFO,
 * query, Content-Type, Content-Length, X-Request-Id; an empty line is an
 * absent variable), then the body.  A Content-Length that disagrees with
 * the body is kept: the API must refuse it, not trust it.
 *
 * Checked beyond the sanitizers: every answer has a status the API
 * documents, a JSON answer parses, and an error's JSON carries the same
 * status and a code.  FUZZ_VERBOSE=1 prints each answer.
 */
#include "fuzz.h"

#include <json-c/json.h>
#include <omp.h>
#include <string.h>

#include "service/api.h"
#include "service/registry.h"

#define N_FIELDS 7

struct body {
	const uint8_t *p;
	size_t len, at;
};

static long read_body(void *source, unsigned char *buf, size_t len)
{
	struct body *b = source;
	size_t n = b->len - b->at < len ? b->len - b->at : len;

	memcpy(buf, b->p + b->at, n);
	b->at += n;
	return (long)n;
}

/* One context for the whole run, as one FastCGI process keeps one; the
 * shipped models, so predictions run for real. */
static struct api_ctx *context(void)
{
	static struct api_ctx *ctx;
	static struct registry *reg;
	struct api_config cfg;
	struct dg_error err;

	if (ctx)
		return ctx;
	omp_set_num_threads(1); /* one core per fuzzing process */
	api_config_default(&cfg);
	cfg.log = false;
	if (registry_load(&reg, registry_default_dir(), cfg.max_images, &err) < 0 ||
	    api_ctx_create(&ctx, &cfg, reg, &err) < 0) {
		fprintf(stderr, "fuzz_api: %s\n", err.msg);
		abort();
	}
	return ctx;
}

/* Split off the next line as a C string: NULL for an empty line; -1 when
 * the input ends first or the line holds a NUL (no CGI variable can). */
static int next_line(const uint8_t **p, size_t *left, char *out, size_t cap, const char **field)
{
	const uint8_t *nl = memchr(*p, '\n', *left);
	size_t n;

	if (!nl || (n = (size_t)(nl - *p)) >= cap || memchr(*p, '\0', n))
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*field = n ? out : NULL;
	*left -= n + 1;
	*p = nl + 1;
	return 0;
}

static void check_answer(const struct api_request *req, const struct api_response *res)
{
	static const int statuses[] = {200, 400, 404, 405, 411, 413, 415, 422, 500, 503};
	struct json_object *doc, *e, *v;
	int known = 0;
	char *text;

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		known |= res->status == statuses[i];
	fuzz_check(known, "a documented HTTP status");
	fuzz_check(res->body && res->content_type && res->reason, "a body, its type and a reason");
	fuzz_check((res->status >= 400) == (res->code != NULL), "an error code exactly on errors");
	fuzz_check(res->status != 405 || res->allow, "405 says what is allowed");
	if (strcmp(res->content_type, "application/json") != 0)
		return;
	text = strndup(res->body, res->len);
	fuzz_check(text != NULL, "memory for the answer");
	doc = json_tokener_parse(text);
	free(text);
	fuzz_check(doc != NULL, "a JSON answer parses");
	if (res->status >= 400) {
		fuzz_check(json_object_object_get_ex(doc, "error", &e) &&
		               json_object_object_get_ex(e, "status", &v) &&
		               json_object_get_int(v) == res->status,
		           "the error document repeats the status");
		fuzz_check(json_object_object_get_ex(e, "code", &v) &&
		               strcmp(json_object_get_string(v), res->code) == 0,
		           "the error document carries the code");
	}
	json_object_put(doc);
	(void)req;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char lines[N_FIELDS][API_PATH_MAX * 2];
	const char *f[N_FIELDS];
	char path[API_PATH_MAX];
	struct api_ctx *ctx = context();
	struct api_response res;
	struct body body;

	for (int i = 0; i < N_FIELDS; i++)
		if (next_line(&data, &size, lines[i], sizeof(lines[i]), &f[i]) < 0)
			return 0;
	api_route_path(f[2], f[1], NULL, path, sizeof(path));
	body = (struct body){data, size, 0};
	struct api_request req = {
	    .method = f[0],
	    .path = path,
	    .query = f[3],
	    .content_type = f[4],
	    .content_length = f[5],
	    .request_id = f[6],
	    .read = read_body,
	    .source = &body,
	};
	api_handle(ctx, &req, &res);
	if (getenv("FUZZ_VERBOSE")) /* what an input does, when triaging one */
		fprintf(stderr, "%s %s: %d %.*s\n", f[0] ? f[0] : "-", path, res.status,
		        (int)(res.len < 300 ? res.len : 300), res.body);
	check_answer(&req, &res);
	api_finish(ctx, &res, true);
	return 0;
}
