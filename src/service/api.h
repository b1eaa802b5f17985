/*
 * api.h - the HTTP API, independent of how requests arrive.
 *
 * A front end (digits_fcgi.c for FastCGI and CGI; tests/test_api.c with
 * fake requests) describes a request in a struct api_request, including a
 * function that reads its body, and calls api_handle: the API checks the
 * Content-Length against its limits, reads the body, routes, parses
 * (multipart, raw image, JSON with base64), runs the model and fills the
 * struct api_response.  The front end sends that, then calls api_finish,
 * the one place where a request is counted in the metrics and written to
 * the request log, whatever happened to it (a body too large or cut short
 * included).  Every failure is answered with {"error": {"status", "code",
 * "message"}} and a stable code (the table is in README.md).
 *
 * Errors.  Functions that can fail return 0, or -1 with a struct dg_error
 * filled (digits.h); a request never fails: its problems become the
 * answer.  json-c: builders never add into a container json-c could not
 * allocate, a leaf it could not allocate becomes JSON null, and the
 * serialisation is checked: a document json-c cannot produce is answered
 * with a fixed 500 "internal" body (answer.h says the same for the CLI and
 * the log).
 *
 * Memory: everything a request needs comes from the context's arena (the
 * body, decoded base64, the preview, the metrics text) or from fixed
 * per-context arrays sized at start from the limits; api_finish frees the
 * response's JSON and resets the arena.  So a process's memory is bounded
 * by its limits, whatever requests arrive.  A context serves one request
 * at a time.
 */
#ifndef API_H
#define API_H

#include <stdbool.h>
#include <stddef.h>

#include "digits.h"
#include "image/image.h"

struct api_ctx; /* opaque: api.c */
struct registry;
struct json_object;

#define API_MAX_BODY_LIMIT (1L << 30) /* the largest DIGITS_MAX_BODY accepted */
#define API_PATH_MAX       512        /* route paths are cut to this, with the NUL */

struct api_config {
	size_t max_body; /* request body bytes (DIGITS_MAX_BODY, default 8 MiB) */
	int max_images;  /* images per request (DIGITS_MAX_IMAGES, default 16) */
	/* Declared pixels of all images of one request (DIGITS_MAX_PIXELS,
	 * default 4096 x 4096): decoding costs time and memory by the pixel, so
	 * a request may cost what one largest picture costs, not max_images. */
	unsigned long max_pixels;
	struct image_limits image;
	bool log; /* one JSON line per request on stderr (default true) */
};

void api_config_default(struct api_config *c);
/* Defaults overridden by DIGITS_MAX_BODY, DIGITS_MAX_IMAGES,
 * DIGITS_MAX_PIXELS and DIGITS_MAX_SIDE (largest declared width or height). */
int api_config_from_env(struct api_config *c, struct dg_error *err);

/* A context answers with the models of reg (borrowed; it may hold none:
 * then predictions are 503 and health says unavailable). */
int api_ctx_create(struct api_ctx **out, const struct api_config *cfg, struct registry *reg,
                   struct dg_error *err);
void api_ctx_free(struct api_ctx *ctx);

/* Read up to len bytes of the body into buf: how many were read, 0 at its
 * end, or -1 if reading failed. */
typedef long api_read_fn(void *source, unsigned char *buf, size_t len);

/* The strings must stay valid until api_finish. */
struct api_request {
	const char *method;
	const char *path; /* route path, no query string (api_route_path) */
	const char *query;
	const char *content_type;
	const char *content_length; /* as sent; NULL if absent */
	const char *request_id;     /* X-Request-Id as sent; NULL if absent */
	api_read_fn *read;          /* NULL: the request has no body to read */
	void *source;               /* read's first argument */
};

struct api_response {
	int status;
	const char *reason;       /* "Not Found" for 404 */
	const char *content_type; /* "application/json", ... */
	const char *allow;        /* Allow header value for 405, else NULL */
	const char *body;
	size_t len;
	char id[65];      /* the request id: send it as X-Request-Id */
	const char *code; /* error code, NULL on success */
	/* Owned; freed by api_finish. */
	struct json_object *doc;
};

/* Answer req into res (which api_handle initialises). */
void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *res);
/* After res was sent (sent: every byte written) or given up: count the
 * request in the metrics, log it, free what res owns and ready the context
 * for the next request.  A res that api_handle never filled is only
 * cleared. */
void api_finish(struct api_ctx *ctx, struct api_response *res, bool sent);

/* The route path from CGI variables: the first of REQUEST_URI (without
 * its query), PATH_INFO and SCRIPT_NAME + PATH_INFO that is one of our
 * routes, else the first non-empty one (for the 404 message). */
void api_route_path(const char *path_info, const char *request_uri, const char *script_name,
                    char *out, size_t cap);

#endif
