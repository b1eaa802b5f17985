/*
 * model.c - reading and writing model files (format in model.h).
 *
 * A model file comes from disk, so nothing in it is trusted: every length
 * is checked against the file size before it is used, the header's graph
 * goes through the same validation as any description, the tensor table
 * must match the graph exactly, and the weights must all be finite.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "config.h"

#define PREAMBLE   16 /* magic + version + header length */
#define ALIGN      64 /* weights start on a cache line */
#define MAX_HEADER (16u << 20)
/* The header length is stored as a u32 and parsed by json-c with an int. */
_Static_assert(MAX_HEADER <= INT_MAX, "the header length must fit an int and a u32");

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff, p[1] = (v >> 8) & 0xff, p[2] = (v >> 16) & 0xff, p[3] = v >> 24;
}

static size_t align_up(size_t n)
{
	return (n + ALIGN - 1) / ALIGN * ALIGN;
}

/* The tensor table a graph implies: names, shapes, offsets, in order. */
static struct json_object *tensor_table(const struct nn_graph *g)
{
	struct json_object *table = json_object_new_array();

	for (int i = 0; i < g->n_nodes; i++) {
		struct nn_tensor t[NN_MAX_TENSORS];
		int count = nn_node_tensors(g, i, t);

		for (int k = 0; k < count; k++) {
			struct json_object *o = json_object_new_object();
			struct json_object *shape = json_object_new_array();
			char name[NN_NAME_MAX + 8];

			snprintf(name, sizeof(name), "%s.%s", g->nodes[i].name, t[k].suffix);
			for (int d = 0; d < t[k].n_dims; d++)
				json_object_array_add(shape, json_object_new_int(t[k].dims[d]));
			json_object_object_add(o, "name", json_object_new_string(name));
			json_object_object_add(o, "shape", shape);
			json_object_object_add(o, "offset",
			                       json_object_new_int64((int64_t)t[k].offset));
			json_object_object_add(o, "count",
			                       json_object_new_int64((int64_t)t[k].count));
			/* Absent for float32, so version 1 tables stay as they were. */
			if (t[k].dtype != NN_F32)
				json_object_object_add(
				    o, "dtype",
				    json_object_new_string(t[k].dtype == NN_I8 ? "int8" : "int32"));
			json_object_array_add(table, o);
		}
	}
	return table;
}

/* Version 1 files hold float32 tensors only; a graph with int8 ones is
 * written as MODEL_VERSION, so float models stay byte-identical. */
static uint32_t model_version_for(const struct nn_graph *g)
{
	return strcmp(nn_graph_precision(g), "float32") ? MODEL_VERSION : 1;
}

/* Refuse a non-finite weight, naming its tensor and index in it. */
static int check_finite(const struct model *m, struct dg_error *err)
{
	const struct nn_graph *g = m->graph;

	for (int i = 0; i < g->n_nodes; i++) {
		struct nn_tensor t[NN_MAX_TENSORS];
		int count = nn_node_tensors(g, i, t);

		for (int k = 0; k < count; k++)
			for (size_t e = 0; e < t[k].count && t[k].dtype == NN_F32; e++)
				if (!isfinite(m->params[t[k].offset + e]))
					return dg_fail(err, DG_ERR_FORMAT,
					               "%s: tensor %s.%s holds a non-finite value "
					               "(%g) at index %zu",
					               m->path, g->nodes[i].name, t[k].suffix,
					               (double)m->params[t[k].offset + e], e);
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, uLong *crc, const char *path,
                     struct dg_error *err)
{
	const unsigned char *p = buf;

	*crc = crc32_z(*crc, p, len);
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return dg_fail(err, DG_ERR_IO, "%s: write failed: %s", path,
			               strerror(errno));
		p += w, len -= (size_t)w;
	}
	return 0;
}

int model_save(const char *path, const struct nn_graph *g, const float *params,
               struct json_object *training, struct dg_error *err)
{
	struct json_object *hdr = json_object_new_object();
	char *tmp = NULL;
	int fd = -1, rc = -1;
	uLong crc = crc32(0L, Z_NULL, 0);

	json_object_object_add(hdr, "format", json_object_new_string("digits-model"));
	json_object_object_add(hdr, "graph", nn_graph_to_json(g));
	json_object_object_add(hdr, "n_params", json_object_new_int64((int64_t)g->n_params));
	json_object_object_add(hdr, "tensors", tensor_table(g));
	if (training)
		json_object_object_add(hdr, "training", json_object_get(training));

	const char *text = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN |
	                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t hlen = text ? strlen(text) : 0, data = align_up(PREAMBLE + hlen);
	unsigned char pre[PREAMBLE], pad[ALIGN] = {0}, tail[4];

	if (!text) {
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory for the header", path);
		goto out;
	}
	if (hlen > MAX_HEADER) {
		dg_fail(err, DG_ERR_TOO_LARGE, "%s: header of %zu bytes, at most %u", path, hlen,
		        MAX_HEADER);
		goto out;
	}
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		tmp = NULL;
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		dg_fail(err, DG_ERR_IO, "%s: cannot create temporary file: %s", path,
		        strerror(errno));
		goto out;
	}
	memcpy(pre, MODEL_MAGIC, 8);
	put_le32(pre + 8, model_version_for(g));
	put_le32(pre + 12, (uint32_t)hlen);
	if (write_all(fd, pre, PREAMBLE, &crc, path, err) ||
	    write_all(fd, text, hlen, &crc, path, err) ||
	    write_all(fd, pad, data - PREAMBLE - hlen, &crc, path, err))
		goto out;
	/* Weights in little-endian, a chunk at a time. */
	for (size_t i = 0; i < g->n_params;) {
		unsigned char buf[4096];
		size_t n = 0;

		for (; i < g->n_params && n < sizeof(buf); i++, n += 4) {
			uint32_t bits;
			memcpy(&bits, &params[i], 4);
			put_le32(buf + n, bits);
		}
		if (write_all(fd, buf, n, &crc, path, err))
			goto out;
	}
	put_le32(tail, (uint32_t)crc);
	uLong ignored = 0;
	if (write_all(fd, tail, 4, &ignored, path, err))
		goto out;
	if (fchmod(fd, 0644) || fsync(fd)) {
		dg_fail(err, DG_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		dg_fail(err, DG_ERR_IO, "%s: close failed: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path)) {
		dg_fail(err, DG_ERR_IO, "%s: rename from %s failed: %s", path, tmp,
		        strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	free(tmp);
	json_object_put(hdr);
	return rc;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	free(m->map);
	free(m->copy);
	nn_graph_free(m->graph);
	json_object_put(m->header);
	free(m->path);
	free(m);
}

const char *model_name(const struct model *m)
{
	return m->graph->name;
}

/* The header's tensor table must be exactly the one the graph implies. */
static int check_tensors(const struct model *m, struct json_object *table, struct dg_error *err)
{
	struct json_object *want = tensor_table(m->graph);
	size_t n = json_object_array_length(want);
	int rc = 0;

	if (!table || !json_object_is_type(table, json_type_array)) {
		rc = dg_fail(err, DG_ERR_FORMAT, "%s: header has no tensor table", m->path);
	} else if (json_object_array_length(table) != n) {
		rc = dg_fail(err, DG_ERR_FORMAT, "%s: %zu tensors listed, graph \"%s\" has %zu",
		             m->path, json_object_array_length(table), m->graph->name, n);
	} else {
		for (size_t i = 0; i < n && !rc; i++) {
			struct json_object *w = json_object_array_get_idx(want, i);
			struct json_object *h = json_object_array_get_idx(table, i);
			const char *keys[] = {"name", "shape", "offset", "count", "dtype"};

			for (size_t k = 0; k < 5 && !rc; k++) {
				struct json_object *wv = NULL, *hv = NULL;
				/* "dtype" is absent on both sides for float32. */
				bool optional = k == 4;

				json_object_object_get_ex(w, keys[k], &wv);
				if (!json_object_is_type(h, json_type_object) ||
				    (!json_object_object_get_ex(h, keys[k], &hv) && !optional) ||
				    !json_object_equal(wv, hv))
					rc = dg_fail(err, DG_ERR_FORMAT,
					             "%s: tensor %s: %s is %s, graph needs %s",
					             m->path,
					             json_object_get_string(
					                 json_object_object_get(w, "name")),
					             keys[k],
					             h ? json_object_to_json_string(
					                     json_object_object_get(h, keys[k]))
					               : "missing",
					             wv ? json_object_to_json_string(wv) : "none");
			}
		}
	}
	json_object_put(want);
	return rc;
}

static int parse_header(struct model *m, const unsigned char *base, uint32_t hlen,
                        struct dg_error *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *v;

	if (!tok)
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", m->path);
	m->header = json_tokener_parse_ex(tok, (const char *)base + PREAMBLE, (int)hlen);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!m->header || jerr != json_tokener_success || used != hlen)
		return dg_fail(err, DG_ERR_FORMAT, "%s: header is not valid JSON: %s", m->path,
		               json_tokener_error_desc(jerr));
	if (!json_object_is_type(m->header, json_type_object) ||
	    !json_object_object_get_ex(m->header, "format", &v) ||
	    strcmp(json_object_get_string(v), "digits-model") != 0)
		return dg_fail(err, DG_ERR_FORMAT, "%s: header lacks \"format\": \"digits-model\"",
		               m->path);
	if (!json_object_object_get_ex(m->header, "graph", &v))
		return dg_fail(err, DG_ERR_FORMAT, "%s: header has no graph", m->path);
	if (nn_graph_from_json(&m->graph, v, err)) {
		char inner[DG_ERROR_MAX];
		snprintf(inner, sizeof(inner), "%s", err ? err->msg : "");
		return dg_fail(err, DG_ERR_FORMAT, "%s: %s", m->path, inner);
	}
	if (!json_object_object_get_ex(m->header, "n_params", &v) ||
	    json_object_get_int64(v) != (int64_t)m->graph->n_params)
		return dg_fail(err, DG_ERR_FORMAT, "%s: n_params %s, graph \"%s\" needs %zu",
		               m->path, v ? json_object_get_string(v) : "missing", m->graph->name,
		               m->graph->n_params);
	if (json_object_object_get_ex(m->header, "training", &v) &&
	    json_object_is_type(v, json_type_object))
		m->training = v;
	return check_tensors(m, json_object_object_get(m->header, "tensors"), err);
}

/* The preamble and header at base (at least PREAMBLE bytes, and the header
 * once hlen is checked) against the file's size: everything but the
 * weights and the checksum. */
static int validate_header(struct model *m, const unsigned char *base, struct dg_error *err)
{
	size_t size = m->file_size;

	if (size < PREAMBLE + 4)
		return dg_fail(err, DG_ERR_FORMAT, "%s: %zu bytes is too short for a model file",
		               m->path, size);
	if (memcmp(base, MODEL_MAGIC, 8) != 0)
		return dg_fail(err, DG_ERR_FORMAT, "%s: not a digits model file (bad magic)",
		               m->path);
	uint32_t version = get_le32(base + 8), hlen = get_le32(base + 12);
	if (version < 1 || version > MODEL_VERSION)
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "%s: format version %u, this build reads versions 1..%d", m->path,
		               version, MODEL_VERSION);
	if (hlen == 0 || hlen > MAX_HEADER || PREAMBLE + (size_t)hlen + 4 > size)
		return dg_fail(err, DG_ERR_FORMAT,
		               "%s: header length %u does not fit in a %zu-byte file (truncated?)",
		               m->path, hlen, size);
	if (parse_header(m, base, hlen, err))
		return -1;
	if (version < model_version_for(m->graph))
		return dg_fail(err, DG_ERR_FORMAT,
		               "%s: format version %u cannot hold int8 tensors (version %d can)",
		               m->path, version, MODEL_VERSION);

	size_t data = align_up(PREAMBLE + hlen), want = data + m->graph->n_params * 4 + 4;
	if (size != want)
		return dg_fail(err, DG_ERR_FORMAT,
		               "%s: file is %zu bytes, its header implies %zu%s", m->path, size,
		               want, size < want ? " (truncated)" : "");
	return 0;
}

static int validate(struct model *m, const unsigned char *base, struct dg_error *err)
{
	size_t size = m->file_size, data;

	if (validate_header(m, base, err))
		return -1;
	data = align_up(PREAMBLE + get_le32(base + 12));
	uLong crc = crc32_z(crc32(0L, Z_NULL, 0), base, size - 4);
	if (crc != get_le32(base + size - 4))
		return dg_fail(err, DG_ERR_FORMAT,
		               "%s: checksum mismatch (file says %08x, contents give %08lx)",
		               m->path, get_le32(base + size - 4), crc);
	m->crc = crc;

#ifdef WORDS_BIGENDIAN
	/* The swap below is per 32-bit word: it would scramble int8 tensors. */
	if (model_version_for(m->graph) > 1)
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "%s: int8 models are read on little-endian hosts only", m->path);
	m->copy = malloc(m->graph->n_params * sizeof(float));
	if (!m->copy)
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", m->path);
	for (size_t i = 0; i < m->graph->n_params; i++) {
		uint32_t bits = get_le32(base + data + 4 * i);
		memcpy(&m->copy[i], &bits, 4);
	}
	m->params = m->copy;
#else
	m->params = (const float *)(base + data);
#endif
	if (check_finite(m, err))
		return -1;
	if (nn_graph_check_params(m->graph, m->params, err)) {
		char inner[DG_ERROR_MAX];
		snprintf(inner, sizeof(inner), "%s", err ? err->msg : "");
		return dg_fail(err, DG_ERR_FORMAT, "%s: %s", m->path, inner);
	}
	return 0;
}

/* len bytes at offset off of fd into buf, all of them. */
static int read_at(struct model *m, int fd, void *buf, size_t len, size_t off, struct dg_error *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dg_fail(err, DG_ERR_IO, "%s: %s", m->path, strerror(errno));
		if (n == 0)
			return dg_fail(err, DG_ERR_FORMAT, "%s: shrank to %zu bytes while read",
			               m->path, off + done);
		done += (size_t)n;
	}
	return 0;
}

/* The whole file into m->map, 64-byte aligned like the weights inside it
 * (the data offset is a multiple of ALIGN; the kernels are faster on a
 * cache-line boundary).  A copy, not a mapping: a file truncated or
 * rewritten in place while a process serves it would otherwise fault the
 * process (SIGBUS) or change its weights under it.  A file that changes
 * while it is read fails here or at the checksum. */
static int read_file(struct model *m, int fd, struct dg_error *err)
{
	m->map = aligned_alloc(ALIGN, align_up(m->file_size));
	if (!m->map)
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory for %zu bytes", m->path,
		               m->file_size);
	return read_at(m, fd, m->map, m->file_size, 0, err);
}

/* A new model for path, its file opened (returned, or -1) and its size
 * checked to be a regular file's of at least the smallest model's. */
static int open_model(struct model **out, const char *path, struct dg_error *err)
{
	struct model *m;
	struct stat st;
	int fd;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->path = strdup(path))) {
		free(m);
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		dg_fail(err, DG_ERR_IO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st)) {
		dg_fail(err, DG_ERR_IO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		dg_fail(err, DG_ERR_IO, "%s: %s", path,
		        S_ISDIR(st.st_mode) ? "is a directory, not a model file"
		                            : "not a regular file");
		goto fail;
	}
	m->file_size = (size_t)st.st_size;
	if (m->file_size < PREAMBLE + 4) {
		dg_fail(err, DG_ERR_FORMAT, "%s: %zu bytes is too short for a model file", path,
		        m->file_size);
		goto fail;
	}
	*out = m;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	model_free(m);
	return -1;
}

int model_load(struct model **out, const char *path, struct dg_error *err)
{
	struct model *m;
	int fd, rc;

	*out = NULL;
	fd = open_model(&m, path, err);
	if (fd < 0)
		return -1;
	rc = read_file(m, fd, err);
	close(fd);
	if (rc < 0 || validate(m, m->map, err)) {
		model_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

int model_load_header(struct model **out, const char *path, struct dg_error *err)
{
	unsigned char pre[PREAMBLE], tail[4], *head = NULL;
	struct model *m;
	uint32_t hlen;
	int fd, rc;

	*out = NULL;
	fd = open_model(&m, path, err);
	if (fd < 0)
		return -1;
	rc = read_at(m, fd, pre, PREAMBLE, 0, err);
	hlen = rc ? 0 : get_le32(pre + 12);
	/* validate_header reads the header only once its length fits the
	 * file, so a bad length is refused with its own message. */
	if (!rc && hlen > 0 && hlen <= MAX_HEADER && PREAMBLE + (size_t)hlen + 4 <= m->file_size) {
		head = malloc(PREAMBLE + (size_t)hlen);
		if (!head)
			rc = dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
		else
			rc = read_at(m, fd, head + PREAMBLE, hlen, PREAMBLE, err);
		if (head)
			memcpy(head, pre, PREAMBLE);
	}
	if (!rc)
		rc = validate_header(m, head ? head : pre, err);
	if (!rc)
		rc = read_at(m, fd, tail, 4, m->file_size - 4, err);
	close(fd);
	free(head);
	if (rc) {
		model_free(m);
		return -1;
	}
	m->crc = get_le32(tail);
	*out = m;
	return 0;
}
