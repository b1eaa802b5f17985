/*
 * quantize.h - digits-train --quantize: post-training int8 quantisation of
 * a float model file into an int8 one (the ops of engine/nn_q8.c).
 *
 *   weights      per output channel, symmetric: scale = max |w| / 127,
 *                w8 = round(w / scale) in -127..127.
 *   activations  one scale per tensor: the largest value each takes over
 *                the first n_calibrate MNIST *training* images (never the
 *                test set), / 127; the bytes are 0..127.  Inputs of a
 *                concat share the largest of their scales.  The pixels are
 *                quantised with a zero level so that the normalised input,
 *                negative on the background, fits 0..127.
 *   biases       int32 at scale_in * scale_w, minus zero * sum(w8).
 *   requantise   multiplier (31-bit) and shift from scale_in * scale_w /
 *                scale_out, so the run is integer arithmetic to the logits.
 *
 * The float graph must be made of input, conv2d and dense each followed by
 * a relu (the last dense excepted), maxpool, concat, dropout and softmax:
 * the three built-in networks are.
 */
#ifndef TRAIN_QUANTIZE_H
#define TRAIN_QUANTIZE_H

#include "digits.h"

#define QUANTIZE_MAX_CALIBRATE 55000

struct quantize_report {
	int n_calibrate;
	int n_test;
	int float_correct, int8_correct; /* on the MNIST test set */
	double seconds;
};

/* Quantise float model file in_path (calibrated on MNIST in data_dir) and
 * write the int8 model, named "<name>-int8", to out_path. */
int quantize_model_file(const char *in_path, const char *out_path, const char *data_dir,
                        int n_calibrate, struct quantize_report *rep, struct dg_error *err);

#endif
