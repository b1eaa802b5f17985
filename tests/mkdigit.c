/*
 * mkdigit.c - write image N of the MNIST test set as a picture a person
 * might upload, and print its label: the integration tests' real digits.
 *
 *   mkdigit [--invert] [--blank] [--scale K] INDEX FORMAT OUT
 *                                              FORMAT: png jpeg gif bmp webp
 *
 * --invert draws dark ink on white paper (the way people write), --scale
 * enlarges each pixel K times, --blank leaves only the background (an image
 * with no digit).  The MNIST directory is $DIGITS_MNIST_DIR,
 * else $top_builddir/data/mnist, else $top_srcdir/data/mnist.  Exit 77 when
 * the data set is not there (the caller skips), 1 on other errors.
 */
#include <gd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *open_data(const char *name, char *path, size_t cap)
{
	const char *dirs[3] = {getenv("DIGITS_MNIST_DIR"), getenv("top_builddir"),
	                       getenv("top_srcdir")};
	const char *sub[3] = {"", "/data/mnist", "/data/mnist"};

	for (int i = 0; i < 3; i++) {
		FILE *f;

		if (!dirs[i] || !*dirs[i])
			continue;
		snprintf(path, cap, "%s%s/%s", dirs[i], sub[i], name);
		if ((f = fopen(path, "rb")))
			return f;
	}
	return NULL;
}

static unsigned long be32(const unsigned char *p)
{
	return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 |
	       p[3];
}

int main(int argc, char **argv)
{
	unsigned char hdr[16], px[784], label;
	int invert = 0, blank = 0, scale = 1, i = 1, size = 0;
	char path[4096];
	long index;
	void *data = NULL;
	FILE *fi, *fl, *out;
	gdImagePtr im;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--invert") == 0)
			invert = 1;
		else if (strcmp(argv[i], "--blank") == 0)
			blank = 1;
		else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
			scale = atoi(argv[++i]);
	}
	if (argc - i != 3 || scale < 1 || scale > 146) {
		fprintf(stderr,
		        "usage: mkdigit [--invert] [--blank] [--scale K] INDEX FORMAT OUT\n");
		return 1;
	}
	index = atol(argv[i]);
	fi = open_data("t10k-images-idx3-ubyte", path, sizeof(path));
	fl = open_data("t10k-labels-idx1-ubyte", path, sizeof(path));
	if (!fi || !fl) {
		fprintf(stderr, "mkdigit: no MNIST test set (set DIGITS_MNIST_DIR or make data)\n");
		return 77;
	}
	if (fread(hdr, 1, 16, fi) != 16 || be32(hdr) != 0x803 || index < 0 ||
	    (unsigned long)index >= be32(hdr + 4) || fseek(fi, 16 + index * 784L, SEEK_SET) ||
	    fread(px, 1, 784, fi) != 784 || fseek(fl, 8 + index, SEEK_SET) ||
	    fread(&label, 1, 1, fl) != 1) {
		fprintf(stderr, "mkdigit: cannot read test image %ld\n", index);
		return 1;
	}
	im = gdImageCreateTrueColor(28 * scale, 28 * scale);
	for (int y = 0; y < 28; y++)
		for (int x = 0; x < 28; x++) {
			int ink = blank ? 0 : px[y * 28 + x], v = invert ? 255 - ink : ink;

			gdImageFilledRectangle(im, x * scale, y * scale, x * scale + scale - 1,
			                       y * scale + scale - 1, gdTrueColor(v, v, v));
		}
	if (strcmp(argv[i + 1], "png") == 0)
		data = gdImagePngPtr(im, &size);
	else if (strcmp(argv[i + 1], "jpeg") == 0)
		data = gdImageJpegPtr(im, &size, 92);
	else if (strcmp(argv[i + 1], "gif") == 0)
		data = gdImageGifPtr(im, &size);
	else if (strcmp(argv[i + 1], "bmp") == 0)
		data = gdImageBmpPtr(im, &size, 0);
	else if (strcmp(argv[i + 1], "webp") == 0)
		data = gdImageWebpPtrEx(im, &size, 95);
	gdImageDestroy(im);
	if (!data) {
		fprintf(stderr, "mkdigit: cannot encode %s\n", argv[i + 1]);
		return 1;
	}
	out = fopen(argv[i + 2], "wb");
	if (!out || fwrite(data, 1, (size_t)size, out) != (size_t)size || fclose(out)) {
		fprintf(stderr, "mkdigit: cannot write %s\n", argv[i + 2]);
		return 1;
	}
	gdFree(data);
	printf("%d\n", label);
	return 0;
}
