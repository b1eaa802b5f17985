/* config.h - what configure finds on a host, fixed for WebAssembly: a
 * little-endian 32-bit machine with nothing optional (model.c reads
 * WORDS_BIGENDIAN, left undefined). */
#ifndef DIGITS_WASM_CONFIG_H
#define DIGITS_WASM_CONFIG_H
#endif
