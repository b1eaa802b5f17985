/*
 * zlib.h - the one zlib function the engine calls (model.c's checksum),
 * for the WebAssembly build only: emscripten's zlib is a port it would
 * download, and CI downloads nothing.  Same names and types as zlib's.
 */
#ifndef DIGITS_ZLIB_SUBSET_H
#define DIGITS_ZLIB_SUBSET_H

#include <stddef.h>

typedef unsigned long uLong;
typedef unsigned int uInt;
typedef unsigned char Bytef;
#define Z_NULL 0

/* CRC-32 (ISO 3309, zlib's) of buf[0, len) continuing from crc; crc32(0,
 * Z_NULL, 0) is the initial value. */
uLong crc32_z(uLong crc, const Bytef *buf, size_t len);
uLong crc32(uLong crc, const Bytef *buf, uInt len);

#endif
