/*
 * nn_zoo.c - the built-in architectures, each one JSON description.
 *
 * These are the only place a model's shape is written down; the trainer
 * builds from them and stores the same description in the model file, so
 * the server never needs this table.  The macros below only spell JSON
 * nodes ({"name", "op", "in", ...}) without a wall of escaped quotes.
 * Widths of "cnn" follow DESIGN.md: 385,674 parameters, 6,375,168
 * multiply-adds per image.
 */
#include <string.h>

#include "nn.h"

/* Every network's input: a 28x28 MNIST-style image, normalised by the
 * mean and standard deviation of MNIST's training pixels (in [0, 1]). */
#define MNIST_SIDE "28"
#define MNIST_MEAN "0.1307"
#define MNIST_STD  "0.3081"

#define Q(s)               "\"" s "\""
#define NODE(name, op, in) "{\"name\": " Q(name) ", \"op\": " Q(op) ", \"in\": " in
#define GRAPH(name, nodes)                                                                         \
	"{\"name\": " Q(name) ", \"nodes\": [{\"name\": \"input\", \"op\": \"input\", "            \
	                      "\"shape\": [1, " MNIST_SIDE ", " MNIST_SIDE                         \
	                      "], \"mean\": " MNIST_MEAN ", \"std\": " MNIST_STD "}, " nodes "]}"

#define CONV(name, in, filters, kernel, pad)                                                       \
	NODE(name, "conv2d", Q(in))                                                                \
	", \"filters\": " #filters ", \"kernel\": " #kernel ", \"pad\": " #pad "}, "
#define POOL(name, in)          NODE(name, "maxpool", Q(in)) ", \"kernel\": 2}, "
#define RELU(name, in)          NODE(name, "relu", Q(in)) "}, "
#define DENSE(name, in, units)  NODE(name, "dense", Q(in)) ", \"units\": " #units "}, "
#define DROPOUT(name, in, rate) NODE(name, "dropout", Q(in)) ", \"rate\": " #rate "}, "
#define CONCAT(name, a, b)      NODE(name, "concat", "[" Q(a) ", " Q(b) "]") "}, "
#define SOFTMAX(name, in)       NODE(name, "softmax", Q(in)) "}"

/* clang-format off */

/* conv1 -> pool -> two branches (conv2_x -> pool -> conv3_x) -> concat ->
 * pool -> fc1 -> fc2 -> 10-way softmax; ReLU after every conv and hidden fc. */
static const char cnn[] = GRAPH("cnn",
	CONV("conv1", "input", 32, 5, 2)	RELU("relu1", "conv1")
	POOL("pool1", "relu1")
	CONV("conv2_1", "pool1", 32, 3, 1)	RELU("relu2_1", "conv2_1")
	POOL("pool2_1", "relu2_1")
	CONV("conv3_1", "pool2_1", 64, 3, 1)	RELU("relu3_1", "conv3_1")
	CONV("conv2_2", "pool1", 32, 3, 1)	RELU("relu2_2", "conv2_2")
	POOL("pool2_2", "relu2_2")
	CONV("conv3_2", "pool2_2", 64, 3, 1)	RELU("relu3_2", "conv3_2")
	CONCAT("conv3", "relu3_1", "relu3_2")
	POOL("pool3", "conv3")			DROPOUT("drop3", "pool3", 0.25)
	DENSE("fc1", "drop3", 256)		RELU("relu_fc1", "fc1")
	DROPOUT("drop_fc1", "relu_fc1", 0.5)
	DENSE("fc2", "drop_fc1", 128)		RELU("relu_fc2", "fc2")
	DENSE("logits", "relu_fc2", 10)		SOFTMAX("output", "logits"));

/* LeNet-5 (LeCun et al. 1998) with ReLU and max-pool; the first convolution
 * pads 28x28 to keep the classic 32x32 geometry. */
static const char lenet5[] = GRAPH("lenet5",
	CONV("c1", "input", 6, 5, 2)		RELU("relu1", "c1")
	POOL("s2", "relu1")
	CONV("c3", "s2", 16, 5, 0)		RELU("relu3", "c3")
	POOL("s4", "relu3")
	DENSE("f5", "s4", 120)			RELU("relu5", "f5")
	DENSE("f6", "relu5", 84)		RELU("relu6", "f6")
	DENSE("logits", "relu6", 10)		SOFTMAX("output", "logits"));

/* 784-512-256-10 with ReLU, dropout on the hidden layers while training. */
static const char mlp[] = GRAPH("mlp",
	DENSE("fc1", "input", 512)		RELU("relu1", "fc1")
	DROPOUT("drop1", "relu1", 0.2)
	DENSE("fc2", "drop1", 256)		RELU("relu2", "fc2")
	DROPOUT("drop2", "relu2", 0.2)
	DENSE("logits", "drop2", 10)		SOFTMAX("output", "logits"));

/* clang-format on */

const char *const nn_zoo_names[] = {"cnn", "lenet5", "mlp", NULL};

const char *nn_zoo_description(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "cnn") == 0)
		return cnn;
	if (strcmp(name, "lenet5") == 0)
		return lenet5;
	if (strcmp(name, "mlp") == 0)
		return mlp;
	return NULL;
}

int nn_zoo_build(struct nn_graph **out, const char *name, struct dg_error *err)
{
	const char *desc = nn_zoo_description(name);

	if (!desc)
		return dg_fail(err, DG_ERR_INVALID,
		               "unknown architecture \"%s\" (cnn, lenet5, mlp)", name ? name : "");
	return nn_graph_parse(out, desc, err);
}
