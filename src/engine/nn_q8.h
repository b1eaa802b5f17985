/*
 * nn_q8.h - what the quantiser (train/quantize.c) needs to know of the
 * int8 ops' storage (nn_q8.c): where a weight goes.
 */
#ifndef NN_Q8_H
#define NN_Q8_H

#include <stddef.h>

#include "nn.h"

/* Byte index, in int8 node n's weight tensor, of the weight output o
 * gives input k, k counted in the float layer's order: (c*K + ky)*K + kx
 * for a convolution, the flattened (channels first) input for a dense
 * layer. */
size_t nn_q8_weight_at(const struct nn_graph *g, const struct nn_node *n, int k, int o);

#endif
