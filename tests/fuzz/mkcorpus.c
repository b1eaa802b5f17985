/*
 * mkcorpus.c - write the committed seed corpus: mkcorpus DIR fills
 * DIR/<target>/ for every fuzz target.  Run once by hand (the corpus is
 * committed; fuzzing grows its own copy under the build tree):
 *
 *   make tests/fuzz/mkcorpus && tests/fuzz/mkcorpus $srcdir/tests/fuzz/corpus
 *
 * Seeds are small valid inputs plus a few near misses, so the fuzzer starts
 * past the magic numbers: a "7" in every format this libgd writes (the
 * formats the tests draw, with image_fixtures.h), requests of every kind the
 * API takes around a tiny PNG, a small model of every op, and IDX files.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../image_fixtures.h"
#include "engine/model.h"
#include "service/request.h"

static const char *top;

static int put(const char *target, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", top, target);
	if (mkdir(path, 0777) < 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s", top, target, name);
	if (!(f = fopen(path, "wb")) || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "mkcorpus: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

/* The image target: one small "7" per format; *png keeps the PNG. */
static int images(struct blob *png)
{
	static const char *const file[E_N] = {"7.png",  "7.jpg",        "7.gif",
	                                      "7.bmp",  "7-lossy.webp", "7-lossless.webp",
	                                      "7.tiff", "7.heif",       "7.avif"};
	gdImagePtr im = digit_image('7', 24, 32, 6, 4, 24, 4, BLACK, WHITE);

	for (int e = 0; e < E_N; e++) {
		struct blob b = encode(im, (enum enc)e);

		if (!b.p) {
			fprintf(stderr, "mkcorpus: this libgd cannot write %s, left out\n",
			        file[e]);
			continue;
		}
		if (put("image", file[e], b.p, (size_t)b.n) < 0)
			return -1;
		if (e == E_PNG)
			*png = b;
		else
			gdFree(b.p);
	}
	gdImageDestroy(im);
	return png->p ? 0 : -1;
}

/* A request for fuzz_api: seven header lines, then the body. */
static int request(const char *name, const char *head, const void *body, size_t len)
{
	size_t hn = strlen(head);
	char *buf = malloc(hn + len + 1);
	int rc;

	if (!buf)
		return -1;
	memcpy(buf, head, hn);
	memcpy(buf + hn, body, len);
	rc = put("api", name, buf, hn + len);
	free(buf);
	return rc;
}

static int api(struct blob png)
{
	char mp[8192], json[8192], b64[4096], head[512];
	int n;

	req_base64_encode(png.p, (size_t)png.n, b64);
	n = snprintf(
	    mp, sizeof(mp),
	    "--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nlenet5\r\n"
	    "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"7.png\"\r\n"
	    "Content-Type: image/png\r\n\r\n");
	memcpy(mp + n, png.p, (size_t)png.n);
	n += png.n + snprintf(mp + n + png.n, sizeof(mp) - (size_t)(n + png.n), "\r\n--XyZ--\r\n");
	snprintf(head, sizeof(head),
	         "POST\n/api/v1/predict\n\ntop=3\n"
	         "multipart/form-data; boundary=XyZ\n%d\nseed-1\n",
	         n);
	if (request("predict-multipart", head, mp, (size_t)n) < 0)
		return -1;
	snprintf(head, sizeof(head),
	         "POST\n/recognize.json\n\n\nmultipart/form-data; boundary=XyZ\n%d\n\n", n);
	if (request("recognize-multipart", head, mp, (size_t)n) < 0)
		return -1;
	snprintf(head, sizeof(head),
	         "POST\n/api/v1/predict?model=mlp\n\nmodel=mlp&preview=1\nimage/png\n%d\n\n",
	         png.n);
	if (request("predict-raw", head, png.p, (size_t)png.n) < 0)
		return -1;
	n = snprintf(json, sizeof(json), "{\"image\": \"%s\", \"top\": 2, \"model\": \"mlp\"}",
	             b64);
	snprintf(head, sizeof(head), "POST\n\n/api/v1/predict\n\napplication/json\n%d\n\n", n);
	if (request("predict-json", head, json, (size_t)n) < 0)
		return -1;
	n = snprintf(json, sizeof(json), "{\"images\": [\"data:image/png;base64,%s\", \"%s\"]}",
	             b64, b64);
	snprintf(head, sizeof(head), "POST\n/api/v1/predict\n\n\napplication/json\n%d\n\n", n);
	if (request("predict-json-list", head, json, (size_t)n) < 0)
		return -1;
	return request("models", "GET\n/api/v1/models\n\n\n\n\n\n", "", 0) ||
	       request("health", "HEAD\n/api/v1/health?x=1\n\n\n\n\n\n", "", 0) ||
	       request("metrics", "GET\n/api/v1/metrics\n\n\n\n\n\n", "", 0) ||
	       request("wrong-method", "DELETE\n/api/v1/predict\n\n\n\n\n\n", "", 0) ||
	       request("short-body", "POST\n/api/v1/predict\n\n\nimage/png\n100\n\n", "\x89PNG", 4);
}

/* The multipart target: the API's multipart requests as header + body. */
static int multipart(struct blob png)
{
	static const char two[] =
	    "multipart/form-data; boundary=\"a b\"\n"
	    "preamble\r\n--a b\r\nContent-Disposition: form-data; name=\"image\"; "
	    "filename=\"1\"\r\n"
	    "\r\n1\r\n--a b\r\nContent-Disposition: form-data; name=\"image\"\r\n"
	    "Content-Type: image/gif\r\n\r\n2\r\n--a b--\r\nepilogue";
	static const char empty[] =
	    "Multipart/Form-Data; charset=utf-8; boundary=-\n---\r\n"
	    "Content-Disposition: form-data; name=\"image\"; filename=\"\"\r\n\r\n\r\n-----\r\n";
	char buf[8192];
	int n = snprintf(
	    buf, sizeof(buf),
	    "multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: "
	    "form-data; name=\"image\"; filename=\"7.png\"\r\nContent-Type: image/png\r\n\r\n");

	memcpy(buf + n, png.p, (size_t)png.n);
	n +=
	    png.n + snprintf(buf + n + png.n, sizeof(buf) - (size_t)(n + png.n), "\r\n--XyZ--\r\n");
	return put("multipart", "one-png", buf, (size_t)n) ||
	       put("multipart", "two-quoted", two, sizeof(two) - 1) ||
	       put("multipart", "empty-file", empty, sizeof(empty) - 1);
}

/* The model target: every op in a graph small enough to mutate. */
static int model(void)
{
	static const char graph[] =
	    "{\"name\": \"tiny\", \"nodes\": ["
	    "{\"name\": \"input\", \"op\": \"input\", \"shape\": [1, 28, 28], \"mean\": 0.1307, "
	    "\"std\": 0.3081},"
	    "{\"name\": \"c1\", \"op\": \"conv2d\", \"in\": \"input\", \"filters\": 2, \"kernel\": "
	    "5, "
	    "\"pad\": 0},"
	    "{\"name\": \"r1\", \"op\": \"relu\", \"in\": \"c1\"},"
	    "{\"name\": \"p1\", \"op\": \"maxpool\", \"in\": \"r1\", \"kernel\": 2},"
	    "{\"name\": \"c2\", \"op\": \"conv2d\", \"in\": \"p1\", \"filters\": 1, \"kernel\": 3, "
	    "\"pad\": 1},"
	    "{\"name\": \"p2\", \"op\": \"maxpool\", \"in\": \"c2\", \"kernel\": 2},"
	    "{\"name\": \"p3\", \"op\": \"maxpool\", \"in\": \"p1\", \"kernel\": 2},"
	    "{\"name\": \"cat\", \"op\": \"concat\", \"in\": [\"p2\", \"p3\"]},"
	    "{\"name\": \"drop\", \"op\": \"dropout\", \"in\": \"cat\", \"rate\": 0.25},"
	    "{\"name\": \"logits\", \"op\": \"dense\", \"in\": \"drop\", \"units\": 10},"
	    "{\"name\": \"output\", \"op\": \"softmax\", \"in\": \"logits\"}]}";
	struct json_object *meta = json_tokener_parse("{\"seed\": 1, \"test_accuracy\": 0.1}");
	struct nn_graph *g;
	struct dg_error err;
	char path[4096];
	float *params;
	int rc = -1;

	if (nn_graph_parse(&g, graph, &err) < 0) {
		fprintf(stderr, "mkcorpus: %s\n", err.msg);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/model", top);
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/model/tiny.model", top);
	if ((params = malloc(g->n_params * sizeof(float)))) {
		nn_params_init(g, params, 1);
		rc = model_save(path, g, params, meta, &err);
		if (rc < 0)
			fprintf(stderr, "mkcorpus: %s\n", err.msg);
	}
	free(params);
	json_object_put(meta);
	nn_graph_free(g);
	return rc;
}

/* The IDX target: two 28x28 images, their labels, and the images gzipped. */
static int idx(void)
{
	unsigned char img[16 + 2 * 784] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28};
	unsigned char lab[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 1};
	char path[4096];
	gzFile gz;

	for (int i = 0; i < 2 * 784; i++)
		img[16 + i] = (unsigned char)((i % 28 > 10 && i % 28 < 16) ? 255 : 0);
	if (put("idx", "images", img, sizeof(img)) || put("idx", "labels", lab, sizeof(lab)))
		return -1;
	snprintf(path, sizeof(path), "%s/idx/images.gz", top);
	if (!(gz = gzopen(path, "wb9")) || gzwrite(gz, img, sizeof(img)) != (int)sizeof(img) ||
	    gzclose(gz) != Z_OK)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct blob png = {NULL, 0};

	if (argc != 2) {
		fprintf(stderr, "usage: mkcorpus DIR\n");
		return 2;
	}
	top = argv[1];
	if (mkdir(top, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "mkcorpus: cannot create %s: %s\n", top, strerror(errno));
		return 1;
	}
	if (images(&png) || api(png) || multipart(png) || model() || idx())
		return 1;
	gdFree(png.p);
	return 0;
}
