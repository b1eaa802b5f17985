/*
 * fuzz_image.c - the image pipeline from uploaded bytes: image_probe (the
 * header check that runs before any decoding) and image_to_mnist (libgd
 * decode, then the MNIST-style normalisation), with the service's default
 * limits.
 *
 * Checked beyond the sanitizers: probe and decode agree on the format; a
 * refusal has a code image.h documents and a message; an accepted picture
 * is within the limits and gives 784 values in [0, 1].
 */
#include "fuzz.h"

#include <math.h>

#include "image/image.h"

static void check_refusal(const struct dg_error *err)
{
	fuzz_check(err->code == DG_ERR_UNSUPPORTED || err->code == DG_ERR_FORMAT ||
	               err->code == DG_ERR_TOO_LARGE || err->code == DG_ERR_EMPTY ||
	               err->code == DG_ERR_NOMEM,
	           "a refusal with a documented code");
	fuzz_check(err->msg[0] != '\0', "a refusal says why");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_limits lim;
	struct image_header hdr;
	struct image_info info;
	struct dg_error err = {0};
	float out[IMAGE_PIXELS];

	image_limits_default(&lim);
	if (image_probe(data, size, &hdr, &err) == 0)
		fuzz_check(hdr.format == image_detect(data, size), "probe and detect agree");
	if (image_to_mnist(data, size, &lim, out, &info, &err) < 0) {
		check_refusal(&err);
		return 0;
	}
	fuzz_check(info.format == image_detect(data, size), "decoded the detected format");
	fuzz_check(info.width >= 1 && info.height >= 1 && info.width <= lim.max_width &&
	               info.height <= lim.max_height,
	           "a decoded size within the limits");
	for (int i = 0; i < IMAGE_PIXELS; i++)
		fuzz_check(isfinite(out[i]) && out[i] >= 0.0f && out[i] <= 1.0f,
		           "pixels in [0, 1]");
	return 0;
}
