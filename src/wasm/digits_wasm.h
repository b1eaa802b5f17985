/*
 * digits_wasm.h - what www/wasm/digits.wasm exports to the page
 * (www/js/local.js calls these through emscripten's Module._dw_*).
 *
 * A function that fails returns NULL or a negative value; dw_error() then
 * says why, naming the model or the picture.
 */
#ifndef DIGITS_WASM_H
#define DIGITS_WASM_H

#include <stddef.h>
#include <stdint.h>

struct dw_model;

/* The last failure's message. */
const char *dw_error(void);

/* A model from the bytes of its file (models/<name>.model, as served),
 * checked as the server's loader checks it; the caller keeps the bytes. */
struct dw_model *dw_model_load(const char *name, const unsigned char *bytes, size_t len);
void dw_model_free(struct dw_model *m);
const char *dw_model_name(const struct dw_model *m);
const char *dw_model_precision(const struct dw_model *m); /* "float32" or "int8" */
int dw_model_classes(const struct dw_model *m);

/* One picture, rgba[H][W][4] as canvas getImageData gives it: the digit,
 * or -(enum dg_code) on failure (-DG_ERR_EMPTY: no ink found).  seen gets
 * the 784 floats the model saw, probs its dw_model_classes()
 * probabilities, ms {normalise, forward} in milliseconds, *inverted 1 for
 * dark ink on light ground. */
int dw_predict(struct dw_model *m, const uint8_t *rgba, int W, int H, float *seen, float *probs,
               double *ms, int *inverted);

/* The last dw_predict judged as the server judges its answers (the
 * model's temperature, margin and not-a-digit head): 0 sure, 1 not a
 * digit, 2 ambiguous (enum confidence_verdict), *confidence the calibrated
 * probability of the digit; -1 when the model file has no confidence
 * block. */
int dw_judgement(const struct dw_model *m, double *confidence);

/* Explain the last dw_predict as the server's explain=1 does (float
 * models only): class cls (-1: the predicted one), the map (784 floats in
 * 0..1) into map and the heat map over what the model saw, (28 scale)^2
 * RGB triples, into rgb.  Returns the class explained, or -1.  The
 * method's name ("grad-cam", "saliency"): dw_explain_method. */
int dw_explain(struct dw_model *m, int cls, int scale, float *map, unsigned char *rgb);
const char *dw_explain_method(const struct dw_model *m);

/* For benchmarks: the forward pass alone, runs times on the picture of
 * the last dw_predict; milliseconds per picture (-1 on failure). */
double dw_bench_forward(struct dw_model *m, int runs);

#endif
