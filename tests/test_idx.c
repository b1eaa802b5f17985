/*
 * test_idx.c - the IDX reader: good files (plain and gzip) read exactly,
 * and every kind of malformed file refused with its exact message.  Also
 * SHA-256 against the FIPS 180-2 examples.  Files are written to a
 * temporary directory at test time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"
#include "sha256.h"
#include "tap.h"

static char dir[256];
static char path_buf[8][512];
static int path_next;

/* dir/name, in one of a few rotating buffers. */
static const char *at(const char *name)
{
	char *p = path_buf[path_next++ % 8];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

static void write_gz(const char *path, const void *data, size_t len)
{
	gzFile f = gzopen(path, "wb");

	if (!f || gzwrite(f, data, (unsigned)len) != (int)len || gzclose(f) != Z_OK) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

/* An images file: n images of rows x cols, pixel (i, k) = (i * 31 + k) & 255,
 * with extra bytes of data added (or removed, if negative). */
static size_t make_images(uint8_t *buf, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                          long extra)
{
	size_t len = 16 + (size_t)n * rows * cols;

	put32(buf, magic);
	put32(buf + 4, n);
	put32(buf + 8, rows);
	put32(buf + 12, cols);
	for (size_t k = 16; k < len + (extra > 0 ? (size_t)extra : 0); k++)
		buf[k] = (uint8_t)((k - 16) * 31 + (k - 16) / 784);
	return (size_t)((long)len + extra);
}

static size_t make_labels(uint8_t *buf, uint32_t magic, uint32_t n, const uint8_t *labels)
{
	put32(buf, magic);
	put32(buf + 4, n);
	memcpy(buf + 8, labels, n);
	return 8 + n;
}

/* Loading images_name + labels_name fails with exactly want. */
static void refuses(const char *images, const char *labels, const char *want, const char *what)
{
	struct idx_set set;
	struct dg_error err = {0};
	int rc = idx_load(&set, at(images), at(labels), &err);

	ok(rc == -1 && set.pixels == NULL && set.labels == NULL, "%s: refused", what);
	is_str(err.msg, want, "%s: message", what);
}

static void test_sha256(void)
{
	char hex[SHA256_HEX_LEN + 1];
	static char million[1000000];
	struct sha256 s;
	uint8_t d[32];

	sha256_hex("", 0, hex);
	is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "sha256 of the empty string");
	sha256_hex("abc", 3, hex);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "sha256 of \"abc\"");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	       "sha256 of the 448-bit example (padding spills into a second block)");
	memset(million, 'a', sizeof(million));
	sha256_init(&s);
	for (size_t k = 0; k < sizeof(million); k += 997) /* odd chunks cross block edges */
		sha256_update(&s, million + k,
		              sizeof(million) - k < 997 ? sizeof(million) - k : 997);
	sha256_final(&s, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       "sha256 of a million 'a' fed in 997-byte pieces");
}

int main(void)
{
	static uint8_t img[16 + 5 * 32 * 32 + 64], lab[64];
	static const uint8_t digits[3] = {7, 0, 9}, bad_digits[3] = {7, 12, 9};
	char want[1024], hex[SHA256_HEX_LEN + 1];
	struct idx_set set;
	struct dg_error err = {0};
	size_t n;

	test_sha256();

	snprintf(dir, sizeof(dir), "%s/test_idx.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp %s\n", dir);
		return 1;
	}

	/* Good files, plain. */
	n = make_images(img, IDX_MAGIC_IMAGES, 3, 28, 28, 0);
	write_file(at("good-images-idx3-ubyte"), img, n);
	sha256_hex(img, n, hex);
	n = make_labels(lab, IDX_MAGIC_LABELS, 3, digits);
	write_file(at("good-labels-idx1-ubyte"), lab, n);
	if (ok(idx_load_mnist(&set, dir, "good", &err) == 0, "plain IDX pair loads")) {
		is_int(set.n, 3, "3 images");
		is_int(set.rows * 100 + set.cols, 2828, "28x28");
		ok(memcmp(set.pixels, img + 16, 3 * 784) == 0, "pixels are the file's bytes");
		ok(memcmp(set.labels, digits, 3) == 0, "labels are 7 0 9");
		is_str(set.images_sha256, hex, "images sha256 is that of the file");
		is_str(set.images_path, at("good-images-idx3-ubyte"), "path recorded");
		idx_free(&set);
	} else {
		diag("%s", err.msg);
	}

	/* The same, gzip-compressed only: same content, same checksums. */
	n = make_images(img, IDX_MAGIC_IMAGES, 3, 28, 28, 0);
	write_gz(at("gz-images-idx3-ubyte.gz"), img, n);
	write_gz(at("gz-labels-idx1-ubyte.gz"), lab, 11);
	ok(idx_mnist_present(dir, "gz"), "a .gz pair counts as present");
	ok(!idx_mnist_present(dir, "none"), "a missing pair does not");
	if (ok(idx_load_mnist(&set, dir, "gz", &err) == 0, "gzip IDX pair loads")) {
		is_int(set.n, 3, "3 images from .gz");
		ok(memcmp(set.pixels, img + 16, 3 * 784) == 0, "gz pixels are the same");
		ok(memcmp(set.labels, digits, 3) == 0, "gz labels are 7 0 9");
		is_str(set.images_sha256, hex, "gz sha256 is of the uncompressed bytes");
		is_str(set.images_path, at("gz-images-idx3-ubyte.gz"), "the .gz path is recorded");
		idx_free(&set);
	} else {
		diag("%s", err.msg);
	}

	/* Malformations, one per file. */
	write_file(at("labels"), lab, 11);
	write_file(at("tiny"), img, 2);
	snprintf(want, sizeof(want), "%s: truncated: 2 bytes, not an IDX images file", at("tiny"));
	refuses("tiny", "labels", want, "2-byte file");

	n = make_images(img, IDX_MAGIC_IMAGES, 3, 28, 28, 0);
	write_file(at("short-header"), img, 10);
	snprintf(want, sizeof(want), "%s: truncated: 10 bytes, the header needs 16",
	         at("short-header"));
	refuses("short-header", "labels", want, "header cut short");

	n = make_images(img, 0x00000801, 3, 28, 28, 0);
	write_file(at("bad-magic"), img, n);
	snprintf(want, sizeof(want),
	         "%s: bad magic 0x00000801, not an IDX images file (want 0x00000803)",
	         at("bad-magic"));
	refuses("bad-magic", "labels", want, "labels magic in an images file");

	write_file(at("labels-as-images"), lab, 11);
	snprintf(want, sizeof(want),
	         "%s: bad magic 0x00000801, not an IDX images file (want 0x00000803)",
	         at("labels-as-images"));
	refuses("labels-as-images", "labels", want, "labels file given as images");

	n = make_images(img, IDX_MAGIC_IMAGES, 3, 28, 28, 0);
	snprintf(want, sizeof(want),
	         "%s: bad magic 0x00000803, not an IDX labels file (want 0x00000801)",
	         at("good-images-idx3-ubyte"));
	refuses("good-images-idx3-ubyte", "good-images-idx3-ubyte", want,
	        "images file given as labels");

	n = make_images(img, IDX_MAGIC_IMAGES, 0, 28, 28, 0);
	write_file(at("zero"), img, n);
	snprintf(want, sizeof(want), "%s: dimension 1 is 0", at("zero"));
	refuses("zero", "labels", want, "zero images");

	n = make_images(img, IDX_MAGIC_IMAGES, 3, 32, 32, 0);
	write_file(at("dims"), img, n);
	snprintf(want, sizeof(want), "%s: images are 32x32, the models need 28x28", at("dims"));
	refuses("dims", "labels", want, "32x32 images");

	n = make_images(img, IDX_MAGIC_IMAGES, 3, 28, 28, -392);
	write_file(at("truncated"), img, n);
	snprintf(want, sizeof(want),
	         "%s: truncated: 3 images of 28x28 need 2352 bytes of data, the file has 1960",
	         at("truncated"));
	refuses("truncated", "labels", want, "pixels cut short");

	n = make_images(img, IDX_MAGIC_IMAGES, 3, 28, 28, 5);
	write_file(at("trailing"), img, n);
	snprintf(want, sizeof(want),
	         "%s: 5 bytes of trailing garbage after 3 images of 28x28 (2352 bytes of data)",
	         at("trailing"));
	refuses("trailing", "labels", want, "bytes after the pixels");

	n = make_labels(lab, IDX_MAGIC_LABELS, 2, digits);
	write_file(at("two-labels"), lab, n);
	snprintf(want, sizeof(want), "%s has 3 images but %s has 2 labels",
	         at("good-images-idx3-ubyte"), at("two-labels"));
	refuses("good-images-idx3-ubyte", "two-labels", want, "count mismatch");

	n = make_labels(lab, IDX_MAGIC_LABELS, 3, bad_digits);
	write_file(at("bad-label"), lab, n);
	snprintf(want, sizeof(want), "%s: label 12 at index 1 is not a digit 0-9", at("bad-label"));
	refuses("good-images-idx3-ubyte", "bad-label", want, "label 12");

	n = make_labels(lab, IDX_MAGIC_LABELS, 3, digits);
	write_file(at("short-labels"), lab, n - 1);
	snprintf(want, sizeof(want), "%s: truncated: 3 labels need 3 bytes of data, the file has 2",
	         at("short-labels"));
	refuses("good-images-idx3-ubyte", "short-labels", want, "labels cut short");

	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", at("nope"));
	refuses("nope", "labels", want, "missing file");

	/* A gzip stream cut in half. */
	{
		uint8_t *gz;
		FILE *f;
		long len;
		n = make_images(img, IDX_MAGIC_IMAGES, 3, 28, 28, 0);
		write_gz(at("cut.gz"), img, n);
		f = fopen(at("cut.gz"), "rb");
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		gz = malloc((size_t)len);
		fseek(f, 0, SEEK_SET);
		if (fread(gz, 1, (size_t)len, f) != (size_t)len)
			len = 0;
		fclose(f);
		write_file(at("cut.gz"), gz, (size_t)len / 2);
		free(gz);
		snprintf(want, sizeof(want), "%s: truncated or corrupt gzip data", at("cut.gz"));
		refuses("cut.gz", "labels", want, "gzip stream cut short");
	}

	/* Error codes: I/O for a missing file, format for a bad one. */
	memset(&err, 0, sizeof(err));
	idx_load(&set, at("nope"), at("labels"), &err);
	is_int(err.code, DG_ERR_IO, "missing file: DG_ERR_IO");
	idx_load(&set, at("bad-magic"), at("labels"), &err);
	is_int(err.code, DG_ERR_FORMAT, "bad magic: DG_ERR_FORMAT");
	idx_load_mnist(&set, dir, "t10k", &err);
	snprintf(want, sizeof(want), "%s: no t10k-images-idx3-ubyte (or .gz)", dir);
	is_str(err.msg, want, "missing split: names the directory and file");

	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return tap_done();
}
