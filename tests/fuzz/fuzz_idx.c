/*
 * fuzz_idx.c - the trainer's MNIST IDX reader (train/idx.c), plain or
 * gzip-compressed, on a file of arbitrary bytes, read both as an images
 * file and as a labels file.  The trainer reads what `make data` or a user
 * puts in its data directory; a damaged download must be refused with a
 * message, not crash a training run.
 *
 * Checked beyond the sanitizers: a refusal names the file; what is accepted
 * has the sizes it declares (every byte of them readable) and labels 0-9.
 */
#include "fuzz.h"

#include <string.h>
#include <unistd.h>

#include "idx.h"

static volatile uint8_t sink; /* keeps the read of every pixel */

static void images(const char *path)
{
	char sha[SHA256_HEX_LEN + 1];
	struct dg_error err = {0};
	uint8_t *pixels, sum = 0;
	int n, rows, cols;

	if (idx_read_images(path, &pixels, &n, &rows, &cols, sha, &err) < 0) {
		fuzz_check(strstr(err.msg, path) != NULL, "a refusal names the file");
		return;
	}
	fuzz_check(n > 0 && rows > 0 && cols > 0, "positive sizes");
	for (size_t i = 0; i < (size_t)n * (size_t)rows * (size_t)cols; i++)
		sum ^= pixels[i]; /* every declared byte is there */
	fuzz_check(strlen(sha) == SHA256_HEX_LEN, "a checksum");
	sink = sum;
	free(pixels);
}

static void labels(const char *path)
{
	char sha[SHA256_HEX_LEN + 1];
	struct dg_error err = {0};
	uint8_t *lab;
	int n;

	if (idx_read_labels(path, &lab, &n, sha, &err) < 0) {
		fuzz_check(strstr(err.msg, path) != NULL, "a refusal names the file");
		return;
	}
	fuzz_check(n > 0, "a positive count");
	for (int i = 0; i < n; i++)
		fuzz_check(lab[i] <= 9, "labels are digits");
	free(lab);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	images(path);
	labels(path);
	close(fd);
	return 0;
}
