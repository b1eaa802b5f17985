/*
 * image_heatmap.c - an explanation as a picture: the map in a perceptual
 * colour scale laid over what the model saw, as a PNG.
 *
 * The model sees light ink on black (MNIST's convention); that stays the
 * picture's grey base, so the colours sit on the strokes they explain.
 * The colour scale is viridis (van der Walt and Smith, matplotlib): its
 * lightness rises evenly from dark violet to yellow, so brighter always
 * means more, also in grey print and for colour-blind readers.  The
 * pixels only: image_heatmap_png (image_decode.c) encodes them, and the
 * browser's build (src/wasm/) hands them to a canvas.
 */
#include "image.h"

/* viridis at 0, 1/8, ..., 1 (sRGB), interpolated linearly between. */
static const unsigned char viridis[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                            {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                            {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};

/* How much of a pixel is the map's colour; the rest is the grey base. */
#define MAP_OPACITY 0.6f

static void colour(float v, float rgb[3])
{
	float t = (v < 0 ? 0 : v > 1 ? 1 : v) * 8;
	int i = t >= 8 ? 7 : (int)t;
	float f = t - i;

	for (int k = 0; k < 3; k++)
		rgb[k] = viridis[i][k] * (1 - f) + viridis[i + 1][k] * f;
}

void image_heatmap_rgb(const float seen[IMAGE_PIXELS], const float map[IMAGE_PIXELS], int scale,
                       unsigned char *rgb)
{
	const int side = IMAGE_SIDE * scale;

	for (int y = 0; y < side; y++)
		for (int x = 0; x < side; x++) {
			int i = (y / scale) * IMAGE_SIDE + x / scale;
			float grey = 255 * (seen[i] < 0 ? 0 : seen[i] > 1 ? 1 : seen[i]), c[3];
			unsigned char *o = rgb + ((size_t)y * side + x) * 3;

			colour(map[i], c);
			for (int k = 0; k < 3; k++)
				o[k] = (unsigned char)(grey * (1 - MAP_OPACITY) +
				                       c[k] * MAP_OPACITY + 0.5f);
		}
}
