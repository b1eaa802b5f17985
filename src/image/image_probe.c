/*
 * image_probe.c - what an uploaded file claims to be, read from its bytes
 * alone: the format from the magic numbers, the declared width and height
 * from the header, and the EXIF orientation of a JPEG.
 *
 * This runs on untrusted bytes before any decoder does, so that a picture
 * declaring more pixels than the limits is refused without allocating them.
 * Every read is bounds-checked against len; nothing is allocated.  JPEG and
 * GIF are also walked to the end of their first picture, because their
 * decoders return a partial picture from truncated data instead of failing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdint.h>
#include <string.h>

#include "image.h"

void image_limits_default(struct image_limits *lim)
{
	lim->max_bytes = 8u << 20;
	lim->max_width = 4096;
	lim->max_height = 4096;
}

static const char *const format_names[] = {
    [IMAGE_UNKNOWN] = "unknown", [IMAGE_PNG] = "png",   [IMAGE_JPEG] = "jpeg",
    [IMAGE_GIF] = "gif",         [IMAGE_BMP] = "bmp",   [IMAGE_WEBP] = "webp",
    [IMAGE_TIFF] = "tiff",       [IMAGE_HEIF] = "heif", [IMAGE_AVIF] = "avif",
};

const char *image_format_name(enum image_format f)
{
	if ((unsigned)f >= sizeof(format_names) / sizeof(format_names[0]))
		return "unknown";
	return format_names[f];
}

/* Bounds-checked little/big-endian reads: callers check the length first. */
static unsigned rd16(const unsigned char *p, int le)
{
	return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1];
}

static unsigned long rd32(const unsigned char *p, int le)
{
	return le ? (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 |
	                (unsigned long)p[3] << 24
	          : (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	                (unsigned long)p[2] << 8 | p[3];
}

/* ISO base media (HEIF, AVIF): "ftyp" box first; brand decides which. */
static enum image_format isobmff_brand(const unsigned char *d, size_t len)
{
	size_t box;

	if (len < 16 || memcmp(d + 4, "ftyp", 4) != 0)
		return IMAGE_UNKNOWN;
	box = rd32(d, 0);
	if (box < 16 || box > len)
		box = len;
	if (!memcmp(d + 8, "avif", 4) || !memcmp(d + 8, "avis", 4))
		return IMAGE_AVIF;
	if (!memcmp(d + 8, "heic", 4) || !memcmp(d + 8, "heix", 4) || !memcmp(d + 8, "heim", 4) ||
	    !memcmp(d + 8, "heis", 4) || !memcmp(d + 8, "hevc", 4) || !memcmp(d + 8, "hevx", 4))
		return IMAGE_HEIF;
	if (!memcmp(d + 8, "mif1", 4) || !memcmp(d + 8, "msf1", 4)) {
		/* Generic brand: the compatible brands tell AV1 from HEVC. */
		for (size_t p = 16; p + 4 <= box; p += 4)
			if (!memcmp(d + p, "avif", 4))
				return IMAGE_AVIF;
		return IMAGE_HEIF;
	}
	return IMAGE_UNKNOWN;
}

enum image_format image_detect(const void *data, size_t len)
{
	const unsigned char *d = data;

	if (!d)
		return IMAGE_UNKNOWN;
	if (len >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8))
		return IMAGE_PNG;
	if (len >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
		return IMAGE_JPEG;
	if (len >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6)))
		return IMAGE_GIF;
	if (len >= 2 && d[0] == 'B' && d[1] == 'M')
		return IMAGE_BMP;
	if (len >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4))
		return IMAGE_WEBP;
	if (len >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4)))
		return IMAGE_TIFF;
	return isobmff_brand(d, len);
}

#define TRUNC(what) dg_fail(err, DG_ERR_FORMAT, "%s: header truncated or corrupt", what)

static int probe_png(const unsigned char *d, size_t len, struct image_header *h,
                     struct dg_error *err)
{
	if (len < 8 + 8 + 13 + 4 || rd32(d + 8, 0) != 13 || memcmp(d + 12, "IHDR", 4) != 0)
		return TRUNC("png");
	h->width = rd32(d + 16, 0);
	h->height = rd32(d + 20, 0);
	return 0;
}

/* The Orientation tag (0x0112) of IFD0 in an APP1 "Exif" segment; 1 if none. */
static int exif_orientation(const unsigned char *s, size_t n)
{
	const unsigned char *t = s + 6;
	size_t tl, ifd, count;
	int le;

	if (n < 6 + 8 || memcmp(s, "Exif\0\0", 6) != 0)
		return 1;
	tl = n - 6;
	if (!memcmp(t, "II", 2))
		le = 1;
	else if (!memcmp(t, "MM", 2))
		le = 0;
	else
		return 1;
	if (rd16(t + 2, le) != 42)
		return 1;
	ifd = rd32(t + 4, le);
	if (ifd > tl - 2)
		return 1;
	count = rd16(t + ifd, le);
	for (size_t i = 0; i < count; i++) {
		size_t e = ifd + 2 + 12 * i;
		unsigned v;

		if (e + 12 > tl)
			break;
		if (rd16(t + e, le) != 0x0112 || rd16(t + e + 2, le) != 3)
			continue;
		v = rd16(t + e + 8, le);
		return v >= 1 && v <= 8 ? (int)v : 1;
	}
	return 1;
}

/* Walk the marker segments to the first scan: the frame header (SOFn) gives
 * the size, APP1 the orientation.  libjpeg fills a truncated scan with grey
 * and calls it a warning, so we insist on an EOI marker after the scans. */
static int probe_jpeg(const unsigned char *d, size_t len, struct image_header *h,
                      struct dg_error *err)
{
	size_t p = 2;
	int have_sof = 0;

	for (;;) {
		unsigned m, seg;

		if (p >= len || d[p] != 0xff)
			return TRUNC("jpeg");
		while (p < len && d[p] == 0xff)
			p++;
		if (p >= len)
			return TRUNC("jpeg");
		m = d[p++];
		if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7))
			continue; /* markers without a length */
		if (m == 0xd9 || p + 2 > len)
			return TRUNC("jpeg");
		seg = rd16(d + p, 0);
		if (seg < 2 || p + seg > len)
			return TRUNC("jpeg");
		if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
			if (seg < 2 + 5)
				return TRUNC("jpeg");
			h->height = rd16(d + p + 3, 0);
			h->width = rd16(d + p + 5, 0);
			have_sof = 1;
		} else if (m == 0xe1 && h->orientation == 1) {
			h->orientation = exif_orientation(d + p + 2, seg - 2);
		} else if (m == 0xda) {
			if (!have_sof)
				return TRUNC("jpeg");
			if (!memmem(d + p + seg, len - p - seg, "\xff\xd9", 2))
				return dg_fail(err, DG_ERR_FORMAT,
				               "jpeg: data ends before the "
				               "end-of-image marker (truncated)");
			return 0;
		}
		p += seg;
	}
}

/* Data sub-blocks (length byte, bytes, ..., 0); -1 if the data stops first. */
static int gif_skip_blocks(const unsigned char *d, size_t len, size_t *p)
{
	for (;;) {
		if (*p >= len)
			return -1;
		if (d[*p] == 0) {
			(*p)++;
			return 0;
		}
		*p += 1 + (size_t)d[*p];
	}
}

/* libgd decodes the first frame only, at the size of its image descriptor;
 * we check the logical screen too and require that frame to be complete,
 * because the GIF reader returns a partial picture on truncated data. */
static int probe_gif(const unsigned char *d, size_t len, struct image_header *h,
                     struct dg_error *err)
{
	size_t p = 13;

	if (len < 13)
		return TRUNC("gif");
	h->width = rd16(d + 6, 1);
	h->height = rd16(d + 8, 1);
	if (d[10] & 0x80)
		p += (size_t)3 << ((d[10] & 7) + 1);
	for (;;) {
		if (p >= len)
			return TRUNC("gif");
		if (d[p] == 0x21) { /* extension: label, sub-blocks */
			p += 2;
			if (gif_skip_blocks(d, len, &p) < 0)
				return TRUNC("gif");
		} else if (d[p] == 0x2c) { /* image descriptor */
			unsigned fw, fh, fl;

			if (p + 10 > len)
				return TRUNC("gif");
			fw = rd16(d + p + 5, 1);
			fh = rd16(d + p + 7, 1);
			fl = d[p + 9];
			if (fw > h->width)
				h->width = fw;
			if (fh > h->height)
				h->height = fh;
			p += 10;
			if (fl & 0x80)
				p += (size_t)3 << ((fl & 7) + 1);
			p++; /* LZW minimum code size */
			if (gif_skip_blocks(d, len, &p) < 0)
				return TRUNC("gif");
			return 0;
		} else {
			return dg_fail(err, DG_ERR_FORMAT, "gif: no picture before byte %zu", p);
		}
	}
}

static int probe_bmp(const unsigned char *d, size_t len, struct image_header *h,
                     struct dg_error *err)
{
	unsigned long dib;
	long long w, hh;

	if (len < 14 + 4 + 4)
		return TRUNC("bmp");
	dib = rd32(d + 14, 1);
	if (dib == 12) { /* OS/2 BITMAPCOREHEADER: 16-bit sizes */
		w = rd16(d + 18, 1);
		hh = rd16(d + 20, 1);
	} else if (dib >= 40 && len >= 14 + 12) {
		w = (int32_t)rd32(d + 18, 1);
		hh = (int32_t)rd32(d + 22, 1);
		if (hh < 0) /* top-down rows */
			hh = -hh;
	} else {
		return TRUNC("bmp");
	}
	if (w < 0)
		return dg_fail(err, DG_ERR_FORMAT, "bmp: negative width");
	h->width = (unsigned long)w;
	h->height = (unsigned long)hh;
	return 0;
}

static int probe_webp(const unsigned char *d, size_t len, struct image_header *h,
                      struct dg_error *err)
{
	if (len < 30)
		return TRUNC("webp");
	if (!memcmp(d + 12, "VP8 ", 4)) { /* lossy: keyframe start code, 14-bit sizes */
		if (d[23] != 0x9d || d[24] != 0x01 || d[25] != 0x2a)
			return TRUNC("webp");
		h->width = rd16(d + 26, 1) & 0x3fff;
		h->height = rd16(d + 28, 1) & 0x3fff;
	} else if (!memcmp(d + 12, "VP8L", 4)) { /* lossless: 14-bit sizes minus one */
		unsigned long b = rd32(d + 21, 1);

		if (d[20] != 0x2f)
			return TRUNC("webp");
		h->width = (b & 0x3fff) + 1;
		h->height = ((b >> 14) & 0x3fff) + 1;
	} else if (!memcmp(d + 12, "VP8X", 4)) { /* extended: 24-bit canvas minus one */
		h->width = (d[24] | d[25] << 8 | (unsigned long)d[26] << 16) + 1;
		h->height = (d[27] | d[28] << 8 | (unsigned long)d[29] << 16) + 1;
	} else {
		return TRUNC("webp");
	}
	return 0;
}

static int probe_tiff(const unsigned char *d, size_t len, struct image_header *h,
                      struct dg_error *err)
{
	int le = d[0] == 'I';
	size_t ifd, count;

	if (len < 8)
		return TRUNC("tiff");
	ifd = rd32(d + 4, le);
	if (ifd < 8 || ifd > len - 2)
		return TRUNC("tiff");
	count = rd16(d + ifd, le);
	if (count > (len - ifd - 2) / 12)
		return TRUNC("tiff");
	for (size_t i = 0; i < count; i++) {
		const unsigned char *e = d + ifd + 2 + 12 * i;
		unsigned tag = rd16(e, le), type = rd16(e + 2, le);
		unsigned long v;

		if (tag != 256 && tag != 257)
			continue;
		if (type == 3)
			v = rd16(e + 8, le);
		else if (type == 4)
			v = rd32(e + 8, le);
		else
			return TRUNC("tiff");
		if (tag == 256)
			h->width = v;
		else
			h->height = v;
	}
	return 0;
}

/* HEIF/AVIF: the largest "ispe" (image spatial extents) property inside
 * meta/iprp/ipco, so a grid of tiles is bounded by its full size. */
static int probe_isobmff(const unsigned char *d, size_t len, const char *what,
                         struct image_header *h, struct dg_error *err)
{
	static const char *const path[] = {"meta", "iprp", "ipco", "ispe"};
	size_t lo = 0, hi = len;
	int depth = 0;

	while (lo + 8 <= hi) {
		size_t box = rd32(d + lo, 0), head = 8;

		if (box == 1 && lo + 16 <= hi) { /* 64-bit size */
			if (rd32(d + lo + 8, 0) != 0)
				return TRUNC(what);
			box = rd32(d + lo + 12, 0);
			head = 16;
		} else if (box == 0) {
			box = hi - lo;
		}
		if (box < head || box > hi - lo)
			return TRUNC(what);
		if (!memcmp(d + lo + 4, path[depth], 4)) {
			if (depth == 3) {
				if (box < head + 12)
					return TRUNC(what);
				if (rd32(d + lo + head + 4, 0) > h->width)
					h->width = rd32(d + lo + head + 4, 0);
				if (rd32(d + lo + head + 8, 0) > h->height)
					h->height = rd32(d + lo + head + 8, 0);
			} else {
				/* descend; "meta" is a full box (4 bytes version/flags) */
				hi = lo + box;
				lo += head + (depth == 0 ? 4 : 0);
				depth++;
				continue;
			}
		}
		lo += box;
	}
	if (!h->width || !h->height)
		return dg_fail(err, DG_ERR_FORMAT, "%s: no image size (ispe) in the header", what);
	return 0;
}

int image_probe(const void *data, size_t len, struct image_header *hdr, struct dg_error *err)
{
	const unsigned char *d = data;
	int rc;

	memset(hdr, 0, sizeof(*hdr));
	hdr->orientation = 1;
	hdr->format = image_detect(data, len);
	switch (hdr->format) {
	case IMAGE_PNG:
		rc = probe_png(d, len, hdr, err);
		break;
	case IMAGE_JPEG:
		rc = probe_jpeg(d, len, hdr, err);
		break;
	case IMAGE_GIF:
		rc = probe_gif(d, len, hdr, err);
		break;
	case IMAGE_BMP:
		rc = probe_bmp(d, len, hdr, err);
		break;
	case IMAGE_WEBP:
		rc = probe_webp(d, len, hdr, err);
		break;
	case IMAGE_TIFF:
		rc = probe_tiff(d, len, hdr, err);
		break;
	case IMAGE_HEIF:
	case IMAGE_AVIF:
		rc = probe_isobmff(d, len, image_format_name(hdr->format), hdr, err);
		break;
	default:
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "not a picture in a known format (%zu bytes)", len);
	}
	if (rc == 0 && (hdr->width == 0 || hdr->height == 0))
		return dg_fail(err, DG_ERR_FORMAT, "%s: header declares a %lux%lu picture",
		               image_format_name(hdr->format), hdr->width, hdr->height);
	return rc;
}
