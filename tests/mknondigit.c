/*
 * mknondigit.c - write a picture that is not a digit, for the integration
 * tests:
 *
 *   mknondigit stroke OUT        the draw pad's horizontal stroke: 280x280
 *                                white, one black line 100 px long and
 *                                18 px thick across the middle
 *   mknondigit dash OUT          the same, 60 px long
 *   mknondigit letter C OUT      letter C of libgd's giant bitmap font,
 *                                scaled to 108x180 px in the middle of a
 *                                280x280 white pad
 *   mknondigit SEED INDEX OUT    picture INDEX of the seeded non-digits
 *                                (train/nondigit.h)
 */
#include <gd.h>
#include <gdfontg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nondigit.h"

static int write_png(gdImagePtr im, const char *out)
{
	FILE *f = fopen(out, "wb");

	if (!f) {
		perror(out);
		gdImageDestroy(im);
		return 1;
	}
	gdImagePng(im, f);
	gdImageDestroy(im);
	return fclose(f) == 0 ? 0 : 1;
}

/* A horizontal line of length px, 18 px thick, across the pad's middle. */
static int write_line(int length, const char *out)
{
	gdImagePtr im = gdImageCreateTrueColor(280, 280);

	if (!im)
		return 1;
	gdImageFilledRectangle(im, 0, 0, 279, 279, gdTrueColor(255, 255, 255));
	gdImageSetThickness(im, 18);
	gdImageLine(im, 140 - length / 2, 140, 140 + length / 2, 140, gdTrueColor(0, 0, 0));
	return write_png(im, out);
}

static int write_letter(int ch, const char *out)
{
	gdFontPtr font = gdFontGetGiant();
	gdImagePtr glyph = gdImageCreateTrueColor(font->w, font->h);
	gdImagePtr im = gdImageCreateTrueColor(280, 280);
	int w = font->w * 12, h = font->h * 12;

	if (!glyph || !im)
		return 1;
	gdImageFilledRectangle(glyph, 0, 0, font->w, font->h, gdTrueColor(255, 255, 255));
	gdImageChar(glyph, font, 0, 0, ch, gdTrueColor(0, 0, 0));
	gdImageFilledRectangle(im, 0, 0, 279, 279, gdTrueColor(255, 255, 255));
	gdImageCopyResampled(im, glyph, 140 - w / 2, 140 - h / 2, 0, 0, w, h, font->w, font->h);
	gdImageDestroy(glyph);
	return write_png(im, out);
}

int main(int argc, char **argv)
{
	struct dg_error err;
	unsigned char *png;
	size_t len;
	FILE *f;

	if (argc == 3 && strcmp(argv[1], "stroke") == 0)
		return write_line(100, argv[2]);
	if (argc == 3 && strcmp(argv[1], "dash") == 0)
		return write_line(60, argv[2]);
	if (argc == 4 && strcmp(argv[1], "letter") == 0 && strlen(argv[2]) == 1)
		return write_letter((unsigned char)argv[2][0], argv[3]);
	if (argc != 4) {
		fprintf(stderr, "usage: mknondigit stroke|dash OUT | mknondigit letter C OUT | "
		                "mknondigit SEED INDEX OUT\n");
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
