/*
 * api_priv.h - what api.c and api_predict.c share inside the API: the
 * context, the record of the request being answered, and the helpers that
 * set a response.  Nothing outside src/service/api*.c includes it.
 */
#ifndef API_PRIV_H
#define API_PRIV_H

#include "answer.h"
#include "api.h"
#include "metrics.h"
#include "registry.h"
#include "request.h"

#define API_MAX_PARTS   64
#define API_PARAM_MAX   64    /* longest parameter value */
#define API_PREVIEW_MAX 16384 /* arena room for one preview: a 28x28 PNG as a data: URL */
/* A JSON body: one object of a few parameters and at most max_images
 * (<= 256) strings, so 1024 values leave room for extra members a client
 * adds while bounding what json-c allocates to a few hundred KB besides the
 * strings themselves. */
#define API_JSON_DEPTH  8
#define API_JSON_VALUES 1024

/* What the request being answered did, for api_finish. */
struct api_call {
	enum metrics_endpoint endpoint;
	const char *method, *path; /* the request's, borrowed */
	size_t bytes;              /* body length accepted */
	int model;                 /* registry index of the model that ran, or -1 */
	int images;                /* images in the request */
	unsigned long pixels;      /* declared by them, in all */
	int n_ok, n_failed;        /* images answered and refused (once a model ran) */
	int digit;                 /* first prediction, -1 if none */
	double decode_ms, inference_ms, total_ms;
	struct image_warnings warnings; /* the decoders', all images together */
};

struct api_ctx {
	struct api_config cfg;
	struct registry *reg; /* borrowed */
	struct metrics metrics;
	struct req_arena arena;
	double started; /* dg_seconds() at creation */
	struct api_call call;
	/* Per-request scratch, sized by cfg.max_images. */
	float *pixels;            /* max_images x IMAGE_PIXELS */
	struct image_info *info;  /* max_images */
	struct dg_error *img_err; /* max_images */
	struct req_part *parts;   /* API_MAX_PARTS */
};

/* The predict endpoint (api_handle routes POST /api/v1/predict and
 * /recognize.json here; api_predict.c). */
void api_predict(struct api_ctx *ctx, const struct api_request *req, struct span body,
                 struct api_response *res);
/* POST /api/v1/read: the request collected as predict's (api_predict.c),
 * then each image read as a number by api_read_answer (api_read.c). */
void api_read(struct api_ctx *ctx, const struct api_request *req, struct span body,
              struct api_response *res);
/* One image of a read request: its bytes, or the error it already has
 * (status 0 if none; its message in ctx->img_err). */
struct api_read_image {
	struct span data;
	int status;
	const char *code;
};
/* Read n images with model index and make the answer: one reading, or
 * {"readings": [...]} when list. */
void api_read_answer(struct api_ctx *ctx, int model, const struct api_read_image *img, int n,
                     bool list, double t0, struct api_response *res);
/* HTTP status and code for an image_to_mnist / image_read failure. */
void api_image_status(enum dg_code c, int *status, const char **code);
/* Make doc (consumed; may be NULL) the response; a document json-c cannot
 * serialise becomes the fixed 500 answer. */
void api_set_json(struct api_response *res, int status, struct json_object *doc);
/* Make res the JSON error document. */
void api_error(struct api_response *res, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
