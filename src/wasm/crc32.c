/* crc32.c - zlib's CRC-32 for the WebAssembly build (see zlib.h beside it).
 * A byte at a time from a table made on first use: a model file is checked
 * once, when it is loaded, so speed hardly matters. */
#include "zlib.h"

#include <stdint.h>

static uint32_t table[256];

static void make_table(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[n] = c;
	}
}

uLong crc32_z(uLong crc, const Bytef *buf, size_t len)
{
	uint32_t c = (uint32_t)crc ^ 0xffffffffu;

	if (!buf)
		return 0;
	if (!table[1])
		make_table();
	while (len--)
		c = table[(c ^ *buf++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

uLong crc32(uLong crc, const Bytef *buf, uInt len)
{
	return crc32_z(crc, buf, len);
}
