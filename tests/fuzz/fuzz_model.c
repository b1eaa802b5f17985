/*
 * fuzz_model.c - the model loader (model_load: magic, version, JSON header,
 * graph, tensor table, CRC, values) on a file of arbitrary bytes.  A model
 * file is not sent by users, but the server must refuse a damaged one with a
 * message rather than serve garbage or crash, and the trainer reads back its
 * own checkpoints through the same code.
 *
 * The CRC-32 at the end would stop nearly every mutation at the checksum,
 * so the harness rewrites it when the input's last byte is odd: half the
 * inputs reach the header and tensor checks, half test the checksum.
 *
 * Checked beyond the sanitizers: a refusal names the file; a loaded model
 * has a graph and every float weight finite.
 */
#include "fuzz.h"

#include <math.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m;
	struct dg_error err = {0};
	char path[64];
	uint8_t *copy;
	int fd;

	if (size < 4 || !(copy = malloc(size)))
		return 0;
	memcpy(copy, data, size);
	if (data[size - 1] & 1) {
		unsigned long crc = crc32(0, copy, (uInt)(size - 4));

		for (int i = 0; i < 4; i++)
			copy[size - 4 + i] = (uint8_t)(crc >> (8 * i));
	}
	fd = fuzz_memfd(copy, size, path, sizeof(path));
	free(copy);
	if (fd < 0)
		return 0;
	if (model_load(&m, path, &err) < 0) {
		fuzz_check(strstr(err.msg, path) != NULL, "a refusal names the file");
	} else {
		fuzz_check(m->graph != NULL && m->params != NULL, "a loaded model has a graph");
		/* Float tensors only: int8 and int32 ones share the buffer. */
		for (int i = 0; i < m->graph->n_nodes; i++) {
			struct nn_tensor t[NN_MAX_TENSORS];
			int count = nn_node_tensors(m->graph, i, t);

			for (int k = 0; k < count; k++)
				for (size_t e = 0; e < t[k].count && t[k].dtype == NN_F32; e++)
					fuzz_check(isfinite(m->params[t[k].offset + e]),
					           "every float weight finite");
		}
		model_free(m);
	}
	close(fd);
	return 0;
}
