/*
 * model.h - the model file: a trained graph and its weights, self-describing.
 *
 * Layout (all integers little-endian):
 *   0   magic "DIGITSNN" (8 bytes)
 *   8   u32 format version (MODEL_VERSION)
 *   12  u32 header length H
 *   16  H bytes of JSON header, then NUL padding to a 64-byte boundary D
 *   D   n_params 32-bit slots, little-endian, in the graph's parameter order:
 *       float32, or (version 2) int32, or four int8 in a slot
 *   end u32 CRC-32 (zlib) of every byte before it
 *
 * The header holds {"format": "digits-model", "graph": {...the description
 * nn_graph_from_json reads...}, "tensors": [{"name", "shape", "offset",
 * "count", and "dtype": "int8" | "int32" where not float32}...],
 * "n_params", "training": {...free-form metadata: dataset
 * checksums, seed, epochs, accuracy, confusion matrix, history...}}.  No
 * wall-clock values: the same training run gives the same file, byte for
 * byte (dates and timings go in the model card beside it).
 *
 * Loading checks every size, offset, shape (against the graph), the
 * checksum and every value (no NaN or Inf; the int8 ops' own rules for
 * theirs, nn_graph_check_params), and names the file and the
 * problem when it refuses.  The file is read into memory once, not mapped:
 * a model file replaced on disk, even rewritten in place, never changes or
 * faults a process already serving it (each process holds its own copy,
 * 5.0 MB for the six shipped models).  Saving writes a temp file, fsyncs
 * it and renames it over the target.
 */
#ifndef MODEL_H
#define MODEL_H

#include <stddef.h>

#include "digits.h"
#include "nn.h"

#define MODEL_MAGIC "DIGITSNN"
/* Version 2 adds int8 and int32 tensors ("dtype" in the tensor table);
 * float models are still written, and read, as version 1. */
#define MODEL_VERSION 2

struct model {
	char *path;                   /* as given to model_load */
	struct nn_graph *graph;       /* owned */
	const float *params;          /* graph->n_params floats, read-only */
	struct json_object *header;   /* the whole parsed header, owned */
	struct json_object *training; /* header's "training" object, borrowed from header */
	size_t file_size;
	unsigned long crc; /* the file's checksum, as a version tag */
	void *map;         /* the whole file, read into aligned memory; owned */
	float *copy;       /* weights copied (big-endian hosts), or NULL */
};

/* Read and validate a model file.  *out is owned by the caller. */
int model_load(struct model **out, const char *path, struct dg_error *err);

/* Read a model file's header only: what model_load checks of the preamble,
 * the header and the file's size, but not the weights, which are not read
 * (params is NULL), nor the checksum, which is taken as the file states it
 * (crc).  For a process that answers one request and exits (plain CGI):
 * model_load the model it uses, and compare the crc.  *out is owned by the
 * caller. */
int model_load_header(struct model **out, const char *path, struct dg_error *err);
void model_free(struct model *m);

/* Write graph + params (+ training metadata, may be NULL; not consumed)
 * atomically to path. */
int model_save(const char *path, const struct nn_graph *g, const float *params,
               struct json_object *training, struct dg_error *err);

/* Model name from the graph ("cnn"). */
const char *model_name(const struct model *m);

#endif
