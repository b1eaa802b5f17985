/*
 * reading.h - a number read from an image with a model of the registry
 * (image_read with registry_predict as its classifier), and the reading as
 * JSON: {"text", "confidence", "uncertain", "digits": [{"digit",
 * "probability", "probabilities", "confidence", "uncertain", "box": {"x",
 * "y", "w", "h"}}, ...], "image"}.
 */
#ifndef READING_H
#define READING_H

#include <stdbool.h>

#include "image/image_read.h"
#include "registry.h"

/* The "one whole digit" features (reading_whole.h) of piece k of the
 * batch just run through model by registry_predict (probs and pixels:
 * that piece's), into out (READING_MAX_FEATURES).  Returns how many, or
 * -1 when the model has no not-a-digit head (whose hidden layer they
 * read). */
int reading_piece_features(struct registry *reg, int model, int k, const float *probs,
                           const float *pixels, const struct image_read_piece *piece, double *out);

/* Read data (an encoded picture, limits lim) with model index into *rr;
 * the seconds spent in the network are added to *seconds (may be NULL).
 * Errors: image_read's. */
int reading_run(struct registry *reg, int model, const void *data, size_t len,
                const struct image_limits *lim, struct image_read_result *rr,
                struct image_info *info, double *seconds, struct dg_error *err);

/* rr as JSON ("image" with "inverted" if with_inverted), NULL when json-c
 * runs out of memory.  Each digit's confidence, from model m of reg, also
 * asks the model's not-a-digit head (one more forward pass per digit). */
struct json_object *reading_json(struct registry *reg, const struct image_read_result *rr,
                                 const struct image_info *info, const struct registry_model_info *m,
                                 bool with_inverted);

#endif
