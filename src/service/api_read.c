/*
 * api_read.c - the answer of POST /api/v1/read: each image read as a
 * number (image_read.c) with the model the request chose.
 *
 * One image answers
 *   {"text": "2026", "confidence", "uncertain", "digits": [{"digit",
 *    "probability", "probabilities", "confidence", "uncertain", "box":
 *    {"x", "y", "w", "h"}}, ...], "image", "model", "timing_ms"}
 * and several {"readings": [...], "model", "timing_ms"}, an image that
 * cannot be read getting its own error object, as predict does.  Boxes
 * are in the uploaded picture's pixels after EXIF rotation (reading.c
 * builds a reading, shared with the CLI).
 */
#include "api_priv.h"

#include <json-c/json.h>
#include <stdlib.h>

#include "image/image_read.h"
#include "reading.h"

/* Image i read into *rr, or its error status, code and message. */
static int read_one(struct api_ctx *ctx, int model, const struct api_read_image *img, int i,
                    struct image_read_result *rr, double *seconds, int *status, const char **code)
{
	int rc;

	*status = img->status, *code = img->code;
	if (img->status)
		return -1;
	rc = reading_run(ctx->reg, model, img->data.p, img->data.n, &ctx->cfg.image, rr,
	                 &ctx->info[i], seconds, &ctx->img_err[i]);
	image_warnings_merge(&ctx->call.warnings, &ctx->info[i].warnings); /* for the log */
	if (rc == 0)
		return 0;
	if (ctx->img_err[i].code == DG_ERR_INVALID) /* more digits than one line holds */
		*status = 422, *code = "too_many_digits";
	else
		api_image_status(ctx->img_err[i].code, status, code);
	return -1;
}

void api_read_answer(struct api_ctx *ctx, int model, const struct api_read_image *img, int n,
                     bool list, double t0, struct api_response *res)
{
	const struct registry_model_info *m = registry_model_info(ctx->reg, model);
	double seconds = 0;
	struct image_read_result *rr = malloc(sizeof(*rr));
	struct json_object *doc = NULL, *arr = NULL;
	int n_ok = 0;

	if (!rr) {
		api_error(res, 500, "internal", "out of memory");
		return;
	}
	if (list) {
		doc = json_object_new_object();
		arr = json_object_new_array();
		if (!answer_both(doc, arr)) {
			free(rr);
			api_set_json(res, 500, NULL);
			return;
		}
		json_object_object_add(doc, "readings", arr);
	}
	for (int i = 0; i < n; i++) {
		struct json_object *o;
		const char *code;
		int status;

		if (read_one(ctx, model, &img[i], i, rr, &seconds, &status, &code) < 0) {
			if (status >= 500 || !list) {
				json_object_put(doc);
				free(rr);
				api_error(res, status, code, "image: %s", ctx->img_err[i].msg);
				return;
			}
			json_object_array_add(arr, answer_error(status, code, ctx->img_err[i].msg));
			continue;
		}
		n_ok++;
		if (ctx->call.digit < 0 && rr->n > 0)
			ctx->call.digit = rr->digit[0].digit;
		o = reading_json(ctx->reg, rr, &ctx->info[i], m, true);
		if (list)
			json_object_array_add(arr, o);
		else
			doc = o;
	}
	free(rr);
	ctx->call.inference_ms = seconds * 1e3;
	ctx->call.decode_ms = (dg_seconds() - t0) * 1e3 - ctx->call.inference_ms;
	ctx->call.n_ok = n_ok;
	ctx->call.n_failed = n - n_ok;
	if (doc) {
		json_object_object_add(doc, "model", answer_model(m));
		json_object_object_add(doc, "timing_ms",
		                       answer_timings(ctx->call.decode_ms, ctx->call.inference_ms,
		                                      (dg_seconds() - t0) * 1e3));
	}
	api_set_json(res, 200, doc);
}
