/*
 * nn_zoo.c - the built-in architectures, each one JSON description.
 *
 * These are the only place a model's shape is written down; the trainer
 * builds from them and stores the same description in the model file, so
 * the server never needs this table.  Widths of "cnn" follow DESIGN.md:
 * 385,674 parameters, 6,375,168 multiply-adds per image.  Input statistics
 * are MNIST's training-set mean and standard deviation.
 */
#include <string.h>

#include "nn.h"

#define INPUT                                                                                    \
	"{\"name\": \"input\", \"op\": \"input\", \"shape\": [1, 28, 28],"                       \
	" \"mean\": 0.1307, \"std\": 0.3081}"

/* conv1 -> pool -> two branches (conv2_x -> pool -> conv3_x) -> concat ->
 * pool -> fc1 -> fc2 -> 10-way softmax; ReLU after every conv and hidden fc. */
static const char cnn[] =
	"{\"name\": \"cnn\", \"nodes\": [" INPUT ","
	"{\"name\": \"conv1\", \"op\": \"conv2d\", \"in\": \"input\", \"filters\": 32, \"kernel\": 5, \"pad\": 2},"
	"{\"name\": \"relu1\", \"op\": \"relu\", \"in\": \"conv1\"},"
	"{\"name\": \"pool1\", \"op\": \"maxpool\", \"in\": \"relu1\", \"kernel\": 2},"
	"{\"name\": \"conv2_1\", \"op\": \"conv2d\", \"in\": \"pool1\", \"filters\": 32, \"kernel\": 3, \"pad\": 1},"
	"{\"name\": \"relu2_1\", \"op\": \"relu\", \"in\": \"conv2_1\"},"
	"{\"name\": \"pool2_1\", \"op\": \"maxpool\", \"in\": \"relu2_1\", \"kernel\": 2},"
	"{\"name\": \"conv3_1\", \"op\": \"conv2d\", \"in\": \"pool2_1\", \"filters\": 64, \"kernel\": 3, \"pad\": 1},"
	"{\"name\": \"relu3_1\", \"op\": \"relu\", \"in\": \"conv3_1\"},"
	"{\"name\": \"conv2_2\", \"op\": \"conv2d\", \"in\": \"pool1\", \"filters\": 32, \"kernel\": 3, \"pad\": 1},"
	"{\"name\": \"relu2_2\", \"op\": \"relu\", \"in\": \"conv2_2\"},"
	"{\"name\": \"pool2_2\", \"op\": \"maxpool\", \"in\": \"relu2_2\", \"kernel\": 2},"
	"{\"name\": \"conv3_2\", \"op\": \"conv2d\", \"in\": \"pool2_2\", \"filters\": 64, \"kernel\": 3, \"pad\": 1},"
	"{\"name\": \"relu3_2\", \"op\": \"relu\", \"in\": \"conv3_2\"},"
	"{\"name\": \"conv3\", \"op\": \"concat\", \"in\": [\"relu3_1\", \"relu3_2\"]},"
	"{\"name\": \"pool3\", \"op\": \"maxpool\", \"in\": \"conv3\", \"kernel\": 2},"
	"{\"name\": \"drop3\", \"op\": \"dropout\", \"in\": \"pool3\", \"rate\": 0.25},"
	"{\"name\": \"fc1\", \"op\": \"dense\", \"in\": \"drop3\", \"units\": 256},"
	"{\"name\": \"relu_fc1\", \"op\": \"relu\", \"in\": \"fc1\"},"
	"{\"name\": \"drop_fc1\", \"op\": \"dropout\", \"in\": \"relu_fc1\", \"rate\": 0.5},"
	"{\"name\": \"fc2\", \"op\": \"dense\", \"in\": \"drop_fc1\", \"units\": 128},"
	"{\"name\": \"relu_fc2\", \"op\": \"relu\", \"in\": \"fc2\"},"
	"{\"name\": \"logits\", \"op\": \"dense\", \"in\": \"relu_fc2\", \"units\": 10},"
	"{\"name\": \"output\", \"op\": \"softmax\", \"in\": \"logits\"}]}";

/* LeNet-5 (LeCun et al. 1998) with ReLU and max-pool: 28x28 padded to keep
 * the classic 32x32 geometry of the first convolution. */
static const char lenet5[] =
	"{\"name\": \"lenet5\", \"nodes\": [" INPUT ","
	"{\"name\": \"c1\", \"op\": \"conv2d\", \"in\": \"input\", \"filters\": 6, \"kernel\": 5, \"pad\": 2},"
	"{\"name\": \"relu1\", \"op\": \"relu\", \"in\": \"c1\"},"
	"{\"name\": \"s2\", \"op\": \"maxpool\", \"in\": \"relu1\", \"kernel\": 2},"
	"{\"name\": \"c3\", \"op\": \"conv2d\", \"in\": \"s2\", \"filters\": 16, \"kernel\": 5},"
	"{\"name\": \"relu3\", \"op\": \"relu\", \"in\": \"c3\"},"
	"{\"name\": \"s4\", \"op\": \"maxpool\", \"in\": \"relu3\", \"kernel\": 2},"
	"{\"name\": \"f5\", \"op\": \"dense\", \"in\": \"s4\", \"units\": 120},"
	"{\"name\": \"relu5\", \"op\": \"relu\", \"in\": \"f5\"},"
	"{\"name\": \"f6\", \"op\": \"dense\", \"in\": \"relu5\", \"units\": 84},"
	"{\"name\": \"relu6\", \"op\": \"relu\", \"in\": \"f6\"},"
	"{\"name\": \"logits\", \"op\": \"dense\", \"in\": \"relu6\", \"units\": 10},"
	"{\"name\": \"output\", \"op\": \"softmax\", \"in\": \"logits\"}]}";

/* 784-512-256-10 with ReLU, dropout on the hidden layers while training. */
static const char mlp[] =
	"{\"name\": \"mlp\", \"nodes\": [" INPUT ","
	"{\"name\": \"fc1\", \"op\": \"dense\", \"in\": \"input\", \"units\": 512},"
	"{\"name\": \"relu1\", \"op\": \"relu\", \"in\": \"fc1\"},"
	"{\"name\": \"drop1\", \"op\": \"dropout\", \"in\": \"relu1\", \"rate\": 0.2},"
	"{\"name\": \"fc2\", \"op\": \"dense\", \"in\": \"drop1\", \"units\": 256},"
	"{\"name\": \"relu2\", \"op\": \"relu\", \"in\": \"fc2\"},"
	"{\"name\": \"drop2\", \"op\": \"dropout\", \"in\": \"relu2\", \"rate\": 0.2},"
	"{\"name\": \"logits\", \"op\": \"dense\", \"in\": \"drop2\", \"units\": 10},"
	"{\"name\": \"output\", \"op\": \"softmax\", \"in\": \"logits\"}]}";

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
		return dg_fail(err, DG_ERR_INVALID, "unknown architecture \"%s\" (cnn, lenet5, mlp)",
			       name ? name : "");
	return nn_graph_parse(out, desc, err);
}
