/*
 * idx.h - the MNIST IDX files: read, check, and hold a labelled image set.
 *
 * IDX (LeCun's format): a big-endian u32 magic 0x000008NN (unsigned bytes,
 * NN dimensions), NN big-endian u32 sizes, then the bytes.  Images are
 * 0x00000803 (count, rows, cols), labels 0x00000801 (count).  Files may be
 * gzip-compressed (read through zlib, which also reads plain files), and
 * the checksums are of the uncompressed bytes, so "train-images-idx3-ubyte"
 * and its ".gz" have the same sha256.
 *
 * Everything that could be wrong with a file is refused with a message that
 * names it: bad magic, zero sizes, short or overlong data, labels above 9,
 * and image and label files that disagree on the count.
 */
#ifndef TRAIN_IDX_H
#define TRAIN_IDX_H

#include <stdbool.h>
#include <stdint.h>

#include "digits.h"
#include "sha256.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_SIDE         28                   /* what idx_load accepts: the models' input */
#define IDX_MAX_BYTES    (512u * 1024 * 1024) /* uncompressed; MNIST train is 47 MB */

/* A labelled image set; owns everything it points to. */
struct idx_set {
	int n;           /* images, equal to labels */
	int rows, cols;  /* IDX_SIDE x IDX_SIDE */
	uint8_t *pixels; /* n x rows x cols, row-major; 0 = background, 255 = ink */
	uint8_t *labels; /* n digits 0-9 */
	char *images_path, *labels_path;
	char images_sha256[SHA256_HEX_LEN + 1], labels_sha256[SHA256_HEX_LEN + 1];
};

/* One images file: *pixels (malloc'ed, caller frees) holds n x rows x cols. */
int idx_read_images(const char *path, uint8_t **pixels, int *n, int *rows, int *cols,
                    char sha256[SHA256_HEX_LEN + 1], struct dg_error *err);
/* One labels file: *labels (malloc'ed) holds n digits 0-9. */
int idx_read_labels(const char *path, uint8_t **labels, int *n, char sha256[SHA256_HEX_LEN + 1],
                    struct dg_error *err);

/* An images file and its labels file, which must agree on the count; the
 * images must be IDX_SIDE x IDX_SIDE.  On failure *set is left empty. */
int idx_load(struct idx_set *set, const char *images_path, const char *labels_path,
             struct dg_error *err);

/* The MNIST split "train" or "t10k" from dir: <split>-images-idx3-ubyte and
 * <split>-labels-idx1-ubyte, each plain or with ".gz". */
int idx_load_mnist(struct idx_set *set, const char *dir, const char *split, struct dg_error *err);
/* Whether dir holds both files of the split (plain or ".gz"). */
bool idx_mnist_present(const char *dir, const char *split);

void idx_free(struct idx_set *set);

#endif
