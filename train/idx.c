/*
 * idx.c - reading MNIST IDX files (see idx.h).
 *
 * A file is read whole into memory through zlib's gzread (which passes
 * plain files through unchanged), hashed, then parsed; the header sizes are
 * checked against the actual length before any pixel is touched, so a
 * short or lying file can never make us read past the buffer.
 */
#include "idx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The buffer grows by doubling from 1 MiB until it reaches IDX_MAX_BYTES,
 * so it never exceeds 2 * IDX_MAX_BYTES: what gzread may ask for (an
 * unsigned length, an int result) always fits. */
_Static_assert(2ull * IDX_MAX_BYTES <= INT_MAX, "gzread lengths must fit an int");

/* The uncompressed content of path, malloc'ed, in *data and *len. */
static int slurp(const char *path, uint8_t **data, size_t *len, struct dg_error *err)
{
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf;
	gzFile f;
	int got, zerr;

	*data = NULL;
	*len = 0;
	errno = 0;
	f = gzopen(path, "rb");
	if (!f)
		return dg_fail(err, errno ? DG_ERR_IO : DG_ERR_NOMEM, "%s: cannot open: %s", path,
		               errno ? strerror(errno) : "out of memory");
	gzbuffer(f, 1 << 17);
	buf = malloc(cap);
	if (!buf) {
		gzclose(f);
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	}
	for (;;) {
		if (n == cap) {
			uint8_t *bigger;
			if (cap >= IDX_MAX_BYTES) {
				gzclose(f);
				free(buf);
				return dg_fail(err, DG_ERR_TOO_LARGE,
				               "%s: more than %u bytes uncompressed", path,
				               IDX_MAX_BYTES);
			}
			cap *= 2;
			bigger = realloc(buf, cap);
			if (!bigger) {
				gzclose(f);
				free(buf);
				return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
			}
			buf = bigger;
		}
		got = gzread(f, buf + n, (unsigned)(cap - n));
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	if (got < 0) {
		const char *msg = gzerror(f, &zerr);
		int code = zerr == Z_ERRNO ? DG_ERR_IO : DG_ERR_FORMAT;
		char why[160];

		snprintf(why, sizeof(why), "%s", zerr == Z_ERRNO ? strerror(errno) : msg);
		gzclose(f);
		free(buf);
		return dg_fail(err, code, "%s: cannot read: %s", path, why);
	}
	/* zlib reports a gzip stream cut short only here, as Z_BUF_ERROR. */
	zerr = gzclose(f);
	if (zerr != Z_OK) {
		free(buf);
		return dg_fail(err, DG_ERR_FORMAT, "%s: truncated or corrupt gzip data", path);
	}
	*data = buf;
	*len = n;
	return 0;
}

/* Check the header of an IDX file with the given magic; the sizes it
 * declares go to dims[0..ndims-1], and the data starts at the returned
 * offset.  Returns 0, or -1 with the reason. */
static int parse_header(const char *path, const uint8_t *data, size_t len, uint32_t magic,
                        const char *what, uint32_t *dims, size_t *offset, struct dg_error *err)
{
	int ndims = (int)(magic & 0xff);
	size_t hdr = 4 + 4 * (size_t)ndims;

	if (len < 4 || be32(data) != magic) {
		if (len < 4)
			return dg_fail(err, DG_ERR_FORMAT,
			               "%s: truncated: %zu bytes, not an IDX %s file", path, len,
			               what);
		return dg_fail(err, DG_ERR_FORMAT,
		               "%s: bad magic 0x%08x, not an IDX %s file (want 0x%08x)", path,
		               be32(data), what, magic);
	}
	if (len < hdr)
		return dg_fail(err, DG_ERR_FORMAT, "%s: truncated: %zu bytes, the header needs %zu",
		               path, len, hdr);
	for (int i = 0; i < ndims; i++) {
		dims[i] = be32(data + 4 + 4 * i);
		if (dims[i] == 0 || dims[i] > 0x7fffffffu)
			return dg_fail(err, DG_ERR_FORMAT, "%s: dimension %d is %u", path, i + 1,
			               dims[i]);
	}
	*offset = hdr;
	return 0;
}

/* The data after the header must be exactly want bytes. */
static int check_length(const char *path, size_t have, size_t want, const char *what,
                        struct dg_error *err)
{
	if (have < want)
		return dg_fail(err, DG_ERR_FORMAT,
		               "%s: truncated: %s need %zu bytes of data, the file has %zu", path,
		               what, want, have);
	if (have > want)
		return dg_fail(err, DG_ERR_FORMAT,
		               "%s: %zu bytes of trailing garbage after %s (%zu bytes of data)",
		               path, have - want, what, want);
	return 0;
}

/* The data size dims[] declare (1 dimension: count; 3: count x rows x
 * cols), described in what[WHAT_MAX] for messages; 0 if implausible. */
#define WHAT_MAX 64
static size_t declared_size(const char *path, const char *kind, int ndims, const uint32_t *dims,
                            char *what, struct dg_error *err)
{
	size_t need = (size_t)dims[0] * dims[1] * dims[2];

	if (ndims == 1) {
		snprintf(what, WHAT_MAX, "%u %s", dims[0], kind);
		return dims[0];
	}
	if (dims[1] > 65535 || dims[2] > 65535 || need / dims[0] != (size_t)dims[1] * dims[2]) {
		dg_fail(err, DG_ERR_FORMAT, "%s: %u %s of %ux%u is not a plausible size", path,
		        dims[0], kind, dims[1], dims[2]);
		return 0;
	}
	snprintf(what, WHAT_MAX, "%u %s of %ux%u", dims[0], kind, dims[1], dims[2]);
	return need;
}

/* An IDX file with the given magic (kind names it in messages), read
 * whole and checked: dims[] from its header, *body (malloc'ed, caller
 * frees) its data, exactly as many bytes as the header declares; the
 * sha256 of the whole file. */
static int read_idx(const char *path, uint32_t magic, const char *kind, uint32_t dims[3],
                    uint8_t **body, char sha256[SHA256_HEX_LEN + 1], struct dg_error *err)
{
	const int ndims = (int)(magic & 0xff);
	uint8_t *data;
	size_t len, off = 0, need;
	char what[WHAT_MAX];

	*body = NULL;
	dims[1] = dims[2] = 1;
	if (slurp(path, &data, &len, err) < 0)
		return -1;
	if (parse_header(path, data, len, magic, kind, dims, &off, err) < 0 ||
	    !(need = declared_size(path, kind, ndims, dims, what, err)) ||
	    check_length(path, len - off, need, what, err) < 0) {
		free(data);
		return -1;
	}
	if (sha256)
		sha256_hex(data, len, sha256);
	/* Keep the buffer: move the data to its start rather than copy 47 MB. */
	memmove(data, data + off, need);
	*body = data;
	return 0;
}

int idx_read_images(const char *path, uint8_t **pixels, int *n, int *rows, int *cols,
                    char sha256[SHA256_HEX_LEN + 1], struct dg_error *err)
{
	uint32_t dims[3];

	if (read_idx(path, IDX_MAGIC_IMAGES, "images", dims, pixels, sha256, err) < 0)
		return -1;
	*n = (int)dims[0];
	*rows = (int)dims[1];
	*cols = (int)dims[2];
	return 0;
}

int idx_read_labels(const char *path, uint8_t **labels, int *n, char sha256[SHA256_HEX_LEN + 1],
                    struct dg_error *err)
{
	uint32_t dims[3];

	if (read_idx(path, IDX_MAGIC_LABELS, "labels", dims, labels, sha256, err) < 0)
		return -1;
	for (uint32_t i = 0; i < dims[0]; i++) {
		if ((*labels)[i] > 9) {
			dg_fail(err, DG_ERR_FORMAT, "%s: label %u at index %u is not a digit 0-9",
			        path, (*labels)[i], i);
			free(*labels);
			*labels = NULL;
			if (sha256)
				sha256[0] = '\0';
			return -1;
		}
	}
	*n = (int)dims[0];
	return 0;
}

int idx_load(struct idx_set *set, const char *images_path, const char *labels_path,
             struct dg_error *err)
{
	int n_labels;

	memset(set, 0, sizeof(*set));
	if (idx_read_images(images_path, &set->pixels, &set->n, &set->rows, &set->cols,
	                    set->images_sha256, err) < 0)
		goto fail;
	if (set->rows != IDX_SIDE || set->cols != IDX_SIDE) {
		dg_fail(err, DG_ERR_FORMAT, "%s: images are %dx%d, the models need %dx%d",
		        images_path, set->rows, set->cols, IDX_SIDE, IDX_SIDE);
		goto fail;
	}
	if (idx_read_labels(labels_path, &set->labels, &n_labels, set->labels_sha256, err) < 0)
		goto fail;
	if (n_labels != set->n) {
		dg_fail(err, DG_ERR_FORMAT, "%s has %d images but %s has %d labels", images_path,
		        set->n, labels_path, n_labels);
		goto fail;
	}
	set->images_path = strdup(images_path);
	set->labels_path = strdup(labels_path);
	if (!set->images_path || !set->labels_path) {
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", images_path);
		goto fail;
	}
	return 0;
fail:
	idx_free(set);
	return -1;
}

/* dir/<split>-<kind>, or with ".gz" if only that exists; into buf. */
static bool find_file(char *buf, size_t size, const char *dir, const char *split, const char *kind)
{
	struct stat st;

	snprintf(buf, size, "%s/%s-%s", dir, split, kind);
	if (stat(buf, &st) == 0)
		return true;
	snprintf(buf, size, "%s/%s-%s.gz", dir, split, kind);
	if (stat(buf, &st) == 0)
		return true;
	snprintf(buf, size, "%s/%s-%s", dir, split, kind);
	return false;
}

bool idx_mnist_present(const char *dir, const char *split)
{
	char a[4096], b[4096];

	return find_file(a, sizeof(a), dir, split, "images-idx3-ubyte") &&
	       find_file(b, sizeof(b), dir, split, "labels-idx1-ubyte");
}

int idx_load_mnist(struct idx_set *set, const char *dir, const char *split, struct dg_error *err)
{
	char images[4096], labels[4096];

	memset(set, 0, sizeof(*set));
	if (!find_file(images, sizeof(images), dir, split, "images-idx3-ubyte"))
		return dg_fail(err, DG_ERR_IO, "%s: no %s-images-idx3-ubyte (or .gz)", dir, split);
	if (!find_file(labels, sizeof(labels), dir, split, "labels-idx1-ubyte"))
		return dg_fail(err, DG_ERR_IO, "%s: no %s-labels-idx1-ubyte (or .gz)", dir, split);
	return idx_load(set, images, labels, err);
}

void idx_free(struct idx_set *set)
{
	free(set->pixels);
	free(set->labels);
	free(set->images_path);
	free(set->labels_path);
	memset(set, 0, sizeof(*set));
}
