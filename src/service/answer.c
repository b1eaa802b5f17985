/*
 * answer.c - the parts every answer is made of (see answer.h).
 */
#include "answer.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "image/image.h"
#include "registry.h"

static const struct {
	int status;
	const char *text;
} status_table[ANSWER_N_STATUS] = {
    {200, "OK"},
    {400, "Bad Request"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {411, "Length Required"},
    {413, "Payload Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {500, "Internal Server Error"},
    {503, "Service Unavailable"},
};

int answer_status(int index)
{
	return index >= 0 && index < ANSWER_N_STATUS ? status_table[index].status : 0;
}

int answer_status_index(int status)
{
	for (int i = 0; i < ANSWER_N_STATUS; i++)
		if (status_table[i].status == status)
			return i;
	return -1;
}

const char *answer_status_text(int status)
{
	int i = answer_status_index(status);

	return i < 0 ? "Error" : status_table[i].text;
}

int answer_top_classes(const float *probs, int n, int k, int *out)
{
	if (k > n)
		k = n;
	for (int i = 0; i < k; i++) {
		int best = -1;

		for (int c = 0; c < n; c++) {
			bool taken = false;

			for (int j = 0; j < i; j++)
				taken |= out[j] == c;
			if (!taken && (best < 0 || probs[c] > probs[best]))
				best = c;
		}
		out[i] = best;
	}
	return k;
}

bool answer_both(struct json_object *a, struct json_object *b)
{
	if (a && b)
		return true;
	json_object_put(a);
	json_object_put(b);
	return false;
}

struct json_object *answer_number(double v, const char *fmt)
{
	char s[40];

	snprintf(s, sizeof(s), fmt, v);
	return json_object_new_double_s(v, s);
}

struct json_object *answer_timings(double decode_ms, double inference_ms, double total_ms)
{
	struct json_object *t = json_object_new_object();

	if (!t)
		return NULL;
	json_object_object_add(t, "decode", answer_number(decode_ms, "%.3f"));
	json_object_object_add(t, "inference", answer_number(inference_ms, "%.3f"));
	json_object_object_add(t, "total", answer_number(total_ms, "%.3f"));
	return t;
}

struct json_object *answer_error(int status, const char *code, const char *message)
{
	struct json_object *doc = json_object_new_object(), *e = json_object_new_object();

	if (!answer_both(doc, e))
		return NULL;
	json_object_object_add(e, "status", json_object_new_int(status));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(doc, "error", e);
	return doc;
}

static struct json_object *top_list(const float *probs, int n_classes, int top)
{
	struct json_object *list = json_object_new_array();
	int order[ANSWER_TOP_MAX];
	int k = answer_top_classes(probs, n_classes, top < ANSWER_TOP_MAX ? top : ANSWER_TOP_MAX,
	                           order);

	for (int i = 0; list && i < k; i++) {
		struct json_object *e = json_object_new_object();

		if (!e)
			break;
		json_object_object_add(e, "digit", json_object_new_int(order[i]));
		json_object_object_add(e, "probability", answer_number(probs[order[i]], "%.6g"));
		json_object_array_add(list, e);
	}
	return list;
}

struct json_object *answer_prediction(const float *probs, int n_classes, int top)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	int best;

	if (!answer_both(o, arr))
		return NULL;
	answer_top_classes(probs, n_classes, 1, &best);
	for (int c = 0; c < n_classes; c++)
		json_object_array_add(arr, answer_number(probs[c], "%.6g"));
	json_object_object_add(o, "digit", json_object_new_int(best));
	json_object_object_add(o, "probability", answer_number(probs[best], "%.6g"));
	json_object_object_add(o, "probabilities", arr);
	if (top > 0)
		json_object_object_add(o, "top", top_list(probs, n_classes, top));
	return o;
}

void answer_confidence(struct json_object *o, const float *probs, int n_classes,
                       const struct confidence_params *cp, const float *hidden, const float *pixels)
{
	struct confidence_judgement j;

	if (!o || !cp->fitted)
		return;
	confidence_judge_input(cp, probs, n_classes, hidden, pixels, &j);
	json_object_object_add(o, "confidence", answer_number(j.confidence, "%.6g"));
	json_object_object_add(o, "uncertain",
	                       json_object_new_boolean(j.verdict != CONFIDENCE_SURE));
	if (j.verdict != CONFIDENCE_SURE)
		json_object_object_add(o, "uncertain_reason",
		                       json_object_new_string(confidence_reason(j.verdict)));
}

struct json_object *answer_image(const struct image_info *info, bool with_inverted)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "format",
	                       json_object_new_string(image_format_name(info->format)));
	json_object_object_add(o, "width", json_object_new_int(info->width));
	json_object_object_add(o, "height", json_object_new_int(info->height));
	if (with_inverted)
		json_object_object_add(o, "inverted", json_object_new_boolean(info->inverted));
	return o;
}

struct json_object *answer_model(const struct registry_model_info *m)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "version", json_object_new_string(m->version));
	json_object_object_add(o, "test_accuracy",
	                       m->test_accuracy >= 0 ? answer_number(m->test_accuracy, "%.4f")
	                                             : NULL);
	return o;
}

struct json_object *answer_model_card(const struct registry_model_info *m)
{
	struct json_object *o = answer_model(m);

	if (!o)
		return NULL;
	json_object_object_add(o, "default", json_object_new_boolean(m->is_default));
	json_object_object_add(o, "file", json_object_new_string(m->file));
	json_object_object_add(o, "params", json_object_new_int64((int64_t)m->n_params));
	json_object_object_add(o, "macs", json_object_new_int64((int64_t)m->n_macs));
	json_object_object_add(o, "precision", json_object_new_string(m->precision));
	return o;
}

const char *answer_text(struct json_object *doc, size_t *len)
{
	const char *s = doc ? json_object_to_json_string_ext(
	                          doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
	                    : NULL;

	*len = s ? strlen(s) : 0;
	return s;
}
