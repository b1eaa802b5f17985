/*
 * answer.h - what the service's answers are made of, written once for the
 * HTTP API, the request log, the metrics and the CLI: the HTTP statuses the
 * API answers, the error document, a prediction (argmax, top-k), the image
 * and model objects, numbers with a fixed printed form, and the one way a
 * document becomes text.
 *
 * json-c and memory.  The builders here never add into a container json-c
 * could not allocate: they return NULL instead.  A leaf json-c could not
 * allocate is added as JSON null (json-c stores a NULL value as null); small
 * allocations do not fail on the systems we run on, so leaves are not
 * checked one by one.  What is checked is the end: answer_text returns NULL
 * for a NULL document or when json-c cannot serialise it, and every caller
 * handles that (the API answers its static 500, the log writes a shorter
 * line, the CLI fails the file).
 */
#ifndef ANSWER_H
#define ANSWER_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct image_info;
struct registry_model_info;
struct confidence_params;

/* The statuses the API answers; the metrics count by their index. */
#define ANSWER_N_STATUS 10
/* The status at index 0 .. ANSWER_N_STATUS - 1 (200 first), else 0. */
int answer_status(int index);
/* Index of status in answer_statuses, or -1. */
int answer_status_index(int status);
/* "Not Found" for 404, ...; "Error" for a status we never answer. */
const char *answer_status_text(int status);

/* The most classes a "top" list names (the top parameter's maximum). */
#define ANSWER_TOP_MAX 10
/* The k most probable of n classes, best first (of equal ones the lower
 * class first), into out[k]; returns min(k, n).  out[0] is the argmax. */
int answer_top_classes(const float *probs, int n, int k, int *out);

/* Whether two new containers were both allocated; if not, the one that was
 * is freed, so the caller only has to give up. */
bool answer_both(struct json_object *a, struct json_object *b);
/* A number with a fixed printed form ("%.6g", "%.3f"). */
struct json_object *answer_number(double v, const char *fmt);
/* {"decode", "inference", "total"} in milliseconds, "%.3f". */
struct json_object *answer_timings(double decode_ms, double inference_ms, double total_ms);
/* {"error": {"status", "code", "message"}} */
struct json_object *answer_error(int status, const char *code, const char *message);
/* {"digit", "probability", "probabilities", "top" if top > 0} for one
 * image's n_classes probabilities; top <= ANSWER_TOP_MAX. */
struct json_object *answer_prediction(const float *probs, int n_classes, int top);
/* Into a prediction o: "confidence" (the digit's calibrated probability),
 * "uncertain" and, when uncertain, "uncertain_reason" ("not_a_digit" or
 * "ambiguous"), judged with the model's fitted confidence cp on the
 * image's probabilities, its hidden activations (registry_hidden; NULL
 * without a not-a-digit head) and its input pixels.  A model without a
 * fit (cp->fitted false) adds nothing: no flag is better than a made-up
 * one. */
void answer_confidence(struct json_object *o, const float *probs, int n_classes,
                       const struct confidence_params *cp, const float *hidden,
                       const float *pixels);
/* {"format", "width", "height", and "inverted" if asked} */
struct json_object *answer_image(const struct image_info *info, bool with_inverted);
/* {"name", "version", "test_accuracy"}: the model that answered. */
struct json_object *answer_model(const struct registry_model_info *m);
/* The same plus "default", "file", "params", "macs": a models listing. */
struct json_object *answer_model_card(const struct registry_model_info *m);

/* doc as compact JSON (no escaped slashes), owned by doc; NULL if doc is
 * NULL or json-c runs out of memory. */
const char *answer_text(struct json_object *doc, size_t *len);

#endif
