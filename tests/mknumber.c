/*
 * mknumber.c - a clean picture (PNG, dark on white) of a number written
 * with the first MNIST test image of each of its digits, gaps of a third
 * of the height, for the shell tests of reading.
 *
 *   mknumber DIGITS FILE       exit 0, 77 when MNIST is absent, 1 on error
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "number_gen.h"

int main(int argc, char **argv)
{
	const char *env = getenv("DIGITS_MNIST_DIR"), *build = getenv("top_builddir");
	double gaps[NUMBER_MAX];
	int index[NUMBER_MAX], n;
	struct idx_set test;
	struct dg_error err;
	struct number nb;
	char dir[1024];
	FILE *f;

	if (argc != 3 || (n = (int)strlen(argv[1])) < 1 || n > NUMBER_MAX ||
	    strspn(argv[1], "0123456789") != (size_t)n) {
		fprintf(stderr, "usage: mknumber DIGITS FILE (1 to %d digits)\n", NUMBER_MAX);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/data/mnist", build ? build : ".");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	if (!idx_mnist_present(dir, "t10k"))
		return 77;
	if (idx_load_mnist(&test, dir, "t10k", &err) < 0) {
		fprintf(stderr, "mknumber: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		index[i] = 0;
		while (index[i] < test.n && test.labels[index[i]] != argv[1][i] - '0')
			index[i]++;
		gaps[i] = 0.33;
	}
	if (number_render_digits(test.pixels, test.labels, index,
	                         &(struct number_opts){.ndigits = n, .clean = 1, .gaps = gaps}, 1,
	                         &nb) < 0) {
		fprintf(stderr, "mknumber: cannot render %s\n", argv[1]);
		return 1;
	}
	f = fopen(argv[2], "wb");
	if (!f || fwrite(nb.bytes, 1, nb.len, f) != nb.len || fclose(f) != 0) {
		fprintf(stderr, "mknumber: %s: cannot write\n", argv[2]);
		return 1;
	}
	number_free(&nb);
	idx_free(&test);
	return 0;
}
