/*
 * read_fit.c - digits-train --fit-reading with its fitting set chosen, for
 * experiments with the reader: fits the "one whole digit" score of MODEL
 * on N numbers of each length of MNIST *training* digits drawn with seed S
 * (train/read_fit.c) and writes it into MODEL's header.
 *
 *   read_fit [--n N] [--seed S] MODEL
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_fit.h"

int main(int argc, char **argv)
{
	const char *env = getenv("DIGITS_MNIST_DIR"), *build = getenv("top_builddir");
	const char *model = NULL;
	struct read_fit_opts o = {READ_FIT_PER, READ_FIT_SEED};
	struct read_fit_report rep;
	struct dg_error err;
	char dir[1024];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
			o.per = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			o.seed = strtoull(argv[++i], NULL, 10);
		else if (argv[i][0] != '-' && !model)
			model = argv[i];
		else
			model = NULL, i = argc;
	}
	if (!model) {
		fprintf(stderr, "usage: read_fit [--n N] [--seed S] MODEL\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/data/mnist", build ? build : ".");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	if (read_fit_model_file(model, dir, &o, &rep, &err) < 0) {
		fprintf(stderr, "read_fit: %s\n", err.msg);
		return 1;
	}
	for (int h = 0; h < 2; h++)
		fprintf(stderr,
		        "read_fit: %s: %d pieces, %d whole digits: %.2f %% right (%d whole called "
		        "not, %d not called whole), log-loss %.4f\n",
		        h ? "held out" : "fitted on", rep.pieces[h], rep.whole[h],
		        100 * rep.right[h], rep.whole_called_not[h], rep.not_called_whole[h],
		        rep.log_loss[h]);
	for (int h = 0; h < 2; h++)
		fprintf(stderr,
		        "read_fit: %s numbers: true segmentation chosen %.2f %% (per-piece fit "
		        "%.2f %%), log Z - log Z(true) %.4f (%.4f)\n",
		        h ? "held-out" : "fitted-on", 100 * rep.choice_right[h],
		        100 * rep.piece_choice_right[h], rep.choice_loss[h],
		        rep.piece_choice_loss[h]);
	printf("%s: training.reading written (%d features, %d numbers, seed %llu)\n", model,
	       rep.w.n_features, rep.numbers, (unsigned long long)o.seed);
	return 0;
}
