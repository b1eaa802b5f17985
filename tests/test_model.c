/*
 * test_model.c - model files: bit-exact round trip, and every kind of
 * damage refused with a message that names the file and the problem.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/model.h"
#include "tap.h"

static char dir[] = "/tmp/test_model.XXXXXX";

static char *path_in_dir(const char *name)
{
	static char buf[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? n : 1);
	*len = fread(buf, 1, n, f);
	fclose(f);
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v, p[1] = v >> 8, p[2] = v >> 16, p[3] = v >> 24;
}

/* Recompute the trailing CRC after editing a file image. */
static void fix_crc(unsigned char *buf, size_t len)
{
	put32(buf + len - 4, (uint32_t)crc32(crc32(0, Z_NULL, 0), buf, (uInt)(len - 4)));
}

/* A model file with the given header text and weights, built by hand. */
static size_t craft(unsigned char **out, const char *header, const float *params, size_t n)
{
	size_t hlen = strlen(header), data = (16 + hlen + 63) / 64 * 64, len = data + 4 * n + 4;
	unsigned char *buf = calloc(1, len);

	memcpy(buf, MODEL_MAGIC, 8);
	put32(buf + 8, MODEL_VERSION);
	put32(buf + 12, (uint32_t)hlen);
	memcpy(buf + 16, header, hlen);
	memcpy(buf + data, params, 4 * n);
	fix_crc(buf, len);
	*out = buf;
	return len;
}

/* Load must fail with this code and a message holding the path and want. */
static void refused(const char *path, enum dg_code code, const char *want, const char *what)
{
	struct model *m = (struct model *)1;
	struct dg_error err = {0};
	int rc = model_load(&m, path, &err);

	if (!ok(rc == -1 && m == NULL && err.code == code && strstr(err.msg, path) &&
	            strstr(err.msg, want),
	        "%s is refused: \"%s\"", what, want))
		diag("  rc %d, code %s, message: %s", rc, dg_code_name(err.code), err.msg);
	if (rc == 0)
		model_free(m);
}

int main(void)
{
	struct nn_graph *g;
	struct dg_error err;
	struct model *m;

	if (!mkdtemp(dir))
		return 1;
	nn_zoo_build(&g, "cnn", &err);
	float *params = malloc(g->n_params * sizeof(float));
	nn_params_init(g, params, 1);
	params[g->n_params - 1] = -0.0f; /* signed zero must survive too */

	struct json_object *meta = json_tokener_parse("{\"seed\": 1, \"test_accuracy\": 0.9951}");
	const char *good = path_in_dir("good.model");
	ok(model_save(good, g, params, meta, &err) == 0, "save a cnn model");

	/* Round trip. */
	if (ok(model_load(&m, good, &err) == 0, "load it back")) {
		ok(memcmp(m->params, params, g->n_params * sizeof(float)) == 0,
		   "weights round-trip bit for bit");
		ok(((uintptr_t)m->params & 63) == 0, "weights are 64-byte aligned in the mapping");
		is_str(model_name(m), "cnn", "graph name kept");
		is_int(m->graph->n_params, g->n_params, "graph kept");
		ok(m->training && json_object_equal(m->training, meta), "training metadata kept");
		const char *again = path_in_dir("again.model");
		model_save(again, m->graph, m->params, m->training, &err);
		size_t la, lb;
		unsigned char *a = read_file(good, &la), *b = read_file(again, &lb);
		ok(la == lb && memcmp(a, b, la) == 0,
		   "re-saving a loaded model gives the same bytes");
		free(a), free(b);
		model_free(m);
	} else {
		diag("%s", err.msg);
	}
	/* Header only (plain CGI's lazy registry): what it says, without the
	 * weights; corrupt weights pass it and fail the whole read. */
	if (ok(model_load_header(&m, good, &err) == 0, "model_load_header reads the header")) {
		struct model *full = NULL;

		model_load(&full, good, &err);
		ok(m->params == NULL, "model_load_header reads no weights");
		is_str(model_name(m), "cnn", "header only: graph name");
		is_int(m->graph->n_params, g->n_params, "header only: graph");
		ok(m->training && json_object_equal(m->training, meta), "header only: training");
		ok(full && m->crc == full->crc, "header only: the checksum the file states");
		model_free(full);
		model_free(m);
	} else {
		diag("%s", err.msg);
	}
	{
		size_t len;
		unsigned char *bytes = read_file(good, &len);
		const char *flipped = path_in_dir("flipped.model");

		bytes[len - 100] ^= 0x40; /* a weight, not the checksum */
		write_file(flipped, bytes, len);
		ok(model_load_header(&m, flipped, &err) == 0,
		   "a weight changed on disk: the header still reads");
		model_free(m);
		refused(flipped, DG_ERR_FORMAT, "checksum mismatch", "a weight changed on disk");
		write_file(flipped, bytes, len - 64);
		m = NULL;
		ok(model_load_header(&m, flipped, &err) == -1 && m == NULL &&
		       strstr(err.msg, "(truncated)") && strstr(err.msg, flipped),
		   "header only: a truncated file is refused, naming it");
		write_file(flipped, bytes, 20);
		ok(model_load_header(&m, flipped, &err) == -1 && strstr(err.msg, "header length"),
		   "header only: a header longer than the file is refused");
		unlink(flipped);
		free(bytes);
	}
	ok(access(path_in_dir("good.model.tmp"), F_OK) != 0, "no temporary file left behind");
	ok(model_save("/nonexistent-dir/x.model", g, params, NULL, &err) == -1 &&
	       err.code == DG_ERR_IO && strstr(err.msg, "/nonexistent-dir/x.model"),
	   "save into a missing directory fails with the path in the message");

	size_t len;
	unsigned char *file = read_file(good, &len), *buf = malloc(len);
	const char *bad = path_in_dir("bad.model");

	/* Truncated at many cut points: always refused, never a crash. */
	size_t hlen = file[12] | file[13] << 8 | file[14] << 16 | (size_t)file[15] << 24;
	size_t cuts[] = {0,
	                 1,
	                 8,
	                 15,
	                 16,
	                 19,
	                 20,
	                 100,
	                 16 + hlen / 2,
	                 16 + hlen,
	                 16 + hlen + 40,
	                 len / 2,
	                 len - 5,
	                 len - 4,
	                 len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char what[64];
		const char *want = cuts[i] < 20              ? "too short"
		                   : cuts[i] < 16 + hlen + 4 ? "does not fit"
		                                             : "truncated";
		snprintf(what, sizeof(what), "file cut at byte %zu of %zu", cuts[i], len);
		write_file(bad, file, cuts[i]);
		refused(bad, DG_ERR_FORMAT, want, what);
	}

	memcpy(buf, file, len);
	buf[0] = 'X';
	write_file(bad, buf, len);
	refused(bad, DG_ERR_FORMAT, "bad magic", "bad magic");

	memcpy(buf, file, len);
	put32(buf + 8, MODEL_VERSION + 1);
	fix_crc(buf, len);
	write_file(bad, buf, len);
	refused(bad, DG_ERR_UNSUPPORTED, "format version 3", "unknown format version");

	/* A float model is still version 1, and version 2 reads it too. */
	ok(file[8] == 1, "a float model is written as format version 1");
	memcpy(buf, file, len);
	put32(buf + 8, 2);
	fix_crc(buf, len);
	write_file(bad, buf, len);
	if (ok(model_load(&m, bad, &err) == 0, "a float model marked version 2 loads"))
		model_free(m);
	else
		diag("%s", err.msg);

	memcpy(buf, file, len);
	buf[len - 100] ^= 0x40;
	write_file(bad, buf, len);
	refused(bad, DG_ERR_FORMAT, "checksum mismatch", "a flipped bit in the weights");

	memcpy(buf, file, len);
	buf[len - 1] ^= 1;
	write_file(bad, buf, len);
	refused(bad, DG_ERR_FORMAT, "checksum mismatch", "a damaged checksum");

	/* Appending bytes is damage too. */
	write_file(bad, file, len);
	{
		FILE *f = fopen(bad, "ab");
		fputs("junk", f);
		fclose(f);
	}
	refused(bad, DG_ERR_FORMAT, "its header implies", "trailing bytes");

	/* Headers edited by hand (with a valid checksum). */
	char *header = strndup((const char *)file + 16, hlen);
	struct {
		const char *from, *to, *want, *what;
	} edits[] = {
	    {"\"shape\":[256]", "\"shape\":[255]", "tensor fc1.bias: shape is [ 255 ]",
	     "a tensor shape that disagrees with the graph"},
	    {"\"name\":\"fc2.weight\"", "\"name\":\"fc9.weight\"", "tensor fc2.weight: name",
	     "a tensor listed under the wrong name"},
	    {"\"units\":256", "\"units\":255", "n_params", "a graph that needs other weights"},
	    {"\"op\":\"maxpool\"", "\"op\":\"avgpool\"", "unknown or missing \"op\"",
	     "a graph with an unknown op"},
	    {"{\"format\"", "[\"format\"", "not valid JSON", "a header that is not JSON"},
	    {"\"digits-model\"", "\"other-model\"", "\"format\": \"digits-model\"",
	     "a header of another format"},
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *at = strstr(header, edits[i].from);
		if (!at) {
			ok(0, "%s: header has %s", edits[i].what, edits[i].from);
			continue;
		}
		char *h2 = malloc(strlen(header) + 64);
		sprintf(h2, "%.*s%s%s", (int)(at - header), header, edits[i].to,
		        at + strlen(edits[i].from));
		unsigned char *crafted;
		size_t clen = craft(&crafted, h2, params, g->n_params);
		write_file(bad, crafted, clen);
		refused(bad, DG_ERR_FORMAT, edits[i].want, edits[i].what);
		free(crafted), free(h2);
	}

	/* Non-finite weights, named by tensor. */
	float saved = params[g->nodes[nn_graph_find(g, "conv3_2")].weight + 5];
	params[g->nodes[nn_graph_find(g, "conv3_2")].weight + 5] = NAN;
	model_save(bad, g, params, NULL, &err);
	refused(bad, DG_ERR_FORMAT,
	        "tensor conv3_2.weight holds a non-finite value (nan) at index 5", "a NaN weight");
	params[g->nodes[nn_graph_find(g, "conv3_2")].weight + 5] = saved;
	params[g->nodes[nn_graph_find(g, "fc2")].bias + 3] = -INFINITY;
	model_save(bad, g, params, NULL, &err);
	refused(bad, DG_ERR_FORMAT, "tensor fc2.bias holds a non-finite value (-inf) at index 3",
	        "an infinite bias");

	write_file(bad, "", 0);
	refused(bad, DG_ERR_FORMAT, "0 bytes is too short", "an empty file");
	refused(dir, DG_ERR_IO, "is a directory", "a directory");
	refused(path_in_dir("missing.model"), DG_ERR_IO, "No such file", "a missing file");

	free(header), free(file), free(buf), free(params);
	json_object_put(meta);
	nn_graph_free(g);
	unlink(path_in_dir("good.model"));
	unlink(path_in_dir("again.model"));
	unlink(bad);
	rmdir(dir);
	return tap_done();
}
