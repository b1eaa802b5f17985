/*
 * api.h - the HTTP API, independent of how requests arrive.
 *
 * The FastCGI/CGI front end (digits_fcgi.c) fills a struct api_request from
 * its environment and body and sends back the struct api_response; unit
 * tests do the same with fake requests.  api_handle routes, parses the body
 * (multipart, raw image, JSON with base64), runs the model and answers
 * JSON.  Every failure becomes {"error": {"status", "code", "message"}} with
 * a stable code (the table is in api.c and README.md).
 *
 * Memory: everything a request needs comes from the context's arena (the
 * body, decoded base64, the preview) or from fixed per-context arrays sized
 * at start from the limits; json-c documents are freed by
 * api_response_free, which also resets the arena.  So a process's memory
 * is bounded by its limits, whatever requests arrive.
 */
#ifndef API_H
#define API_H

#include <stdbool.h>
#include <stddef.h>

#include "digits.h"
#include "image/image.h"
#include "metrics.h"
#include "registry.h"
#include "request.h"

struct json_object;

struct api_config {
	size_t max_body; /* request body bytes (DIGITS_MAX_BODY, default 8 MiB) */
	int max_images;  /* images per request (DIGITS_MAX_IMAGES, default 16) */
	struct image_limits image;
};

void api_config_default(struct api_config *c);
/* Defaults overridden by DIGITS_MAX_BODY, DIGITS_MAX_IMAGES and
 * DIGITS_MAX_SIDE (largest declared width or height). */
int api_config_from_env(struct api_config *c, struct dg_error *err);

struct api_ctx {
	struct api_config cfg;
	struct registry *reg; /* borrowed */
	struct metrics metrics;
	struct req_arena arena;
	double started; /* monotonic seconds at init */
	/* Per-request scratch, sized by cfg.max_images. */
	float *pixels;            /* max_images x IMAGE_PIXELS */
	struct image_info *info;  /* max_images */
	struct dg_error *img_err; /* max_images */
	struct req_part *parts;   /* API_MAX_PARTS */
};

#define API_MAX_PARTS 64
#define API_PARAM_MAX 64 /* longest parameter value */

int api_ctx_init(struct api_ctx *ctx, const struct api_config *cfg, struct registry *reg,
                 struct dg_error *err);
void api_ctx_free(struct api_ctx *ctx);

struct api_request {
	const char *method;
	const char *path; /* route path, no query string */
	const char *query;
	const char *content_type;
	const char *content_length; /* as sent; NULL if absent */
	const unsigned char *body;
	size_t body_len;
};

struct api_response {
	int status;
	const char *content_type;
	const char *allow; /* Allow header value for 405, else NULL */
	const char *body;
	size_t len;
	/* For the request log. */
	const char *code; /* error code, NULL on success */
	const char *model;
	int digit; /* first prediction, -1 if none */
	int images;
	double decode_ms, inference_ms, total_ms;
	/* Owned. */
	struct json_object *doc;
};

/* Before reading a body: how many bytes to read (0 for GET), or -1 with
 * res holding the error (411 length_required, 413 payload_too_large, 400
 * for a malformed Content-Length). */
int api_body_length(struct api_ctx *ctx, const struct api_request *req, size_t *len,
                    struct api_response *res);
/* Room for the body: len <= cfg.max_body bytes from the arena. */
unsigned char *api_body_buffer(struct api_ctx *ctx, size_t len);

void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *res);
/* The predict endpoint itself (api_handle routes POST /api/v1/predict and
 * /recognize.json here; api_predict.c). */
void api_predict(struct api_ctx *ctx, const struct api_request *req, struct api_response *res);
/* Make doc (consumed) the response. */
void api_set_json(struct api_response *res, int status, struct json_object *doc);
/* Make res the JSON error document. */
void api_error(struct api_response *res, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Free what res owns and reset the context's arena for the next request. */
void api_response_free(struct api_ctx *ctx, struct api_response *res);

/* "Not Found" for 404, ... */
const char *api_status_text(int status);

/* The route path from CGI variables: the first of REQUEST_URI (without
 * its query), PATH_INFO and SCRIPT_NAME + PATH_INFO that is one of our
 * routes, else the first non-empty one (for the 404 message). */
void api_route_path(const char *path_info, const char *request_uri, const char *script_name,
                    char *out, size_t cap);

/* One prediction as the API answers it (digit, probability,
 * probabilities, top if top > 0).  For the CLI's --json too. */
struct json_object *api_prediction_json(const float *probs, int n_classes, int top);
/* {"name", "version", "test_accuracy"} */
struct json_object *api_model_json(const struct registry_model *rm);
/* A number with a fixed printed form ("%.6g", "%.3f"). */
struct json_object *api_json_double(double v, const char *fmt);

#endif
