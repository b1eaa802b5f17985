/*
 * mknondigit.c - write a picture that is not a digit, for the integration
 * tests:
 *
 *   mknondigit stroke OUT        the draw pad's horizontal stroke: 280x280
 *                                white, one black line 100 px long and
 *                                18 px thick across the middle
 *   mknondigit SEED INDEX OUT    picture INDEX of the seeded non-digits
 *                                (train/nondigit.h)
 */
#include <gd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nondigit.h"

static int write_stroke(const char *out)
{
	gdImagePtr im = gdImageCreateTrueColor(280, 280);
	FILE *f = fopen(out, "wb");

	if (!im || !f) {
		perror(out);
		return 1;
	}
	gdImageFilledRectangle(im, 0, 0, 279, 279, gdTrueColor(255, 255, 255));
	gdImageSetThickness(im, 18);
	gdImageLine(im, 90, 140, 190, 140, gdTrueColor(0, 0, 0));
	gdImagePng(im, f);
	gdImageDestroy(im);
	return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct dg_error err;
	unsigned char *png;
	size_t len;
	FILE *f;

	if (argc == 3 && strcmp(argv[1], "stroke") == 0)
		return write_stroke(argv[2]);
	if (argc != 4) {
		fprintf(stderr, "usage: mknondigit stroke OUT | mknondigit SEED INDEX OUT\n");
		return 2;
	}
	if (nondigit_png(strtoull(argv[1], NULL, 10), atoi(argv[2]), &png, &len, &err) < 0) {
		fprintf(stderr, "mknondigit: %s\n", err.msg);
		return 1;
	}
	f = fopen(argv[3], "wb");
	if (!f || fwrite(png, 1, len, f) != len || fclose(f) != 0) {
		perror(argv[3]);
		free(png);
		return 1;
	}
	free(png);
	return 0;
}
