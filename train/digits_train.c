/*
 * digits_train.c - digits-train: train a zoo network on MNIST and write the
 * model file, its card and plots; or evaluate a model file (--eval).
 *
 * A thin main over train.h (the loop), idx.h (data), report.h (outputs):
 * it parses options, finds the data, and decides what to print and how to
 * exit.  Exit status: 0 done, 1 error, 2 bad usage, 130 interrupted (a
 * checkpoint was written; --resume continues it).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calibrate.h"
#include "idx.h"
#include "nondigit.h"
#include "quantize.h"
#include "read_fit.h"
#include "engine/model.h"
#include "report.h"
#include "train.h"

/* --out leaves this much of train_config.out for what is named after it
 * (".ckpt", ".card.json", ...). */
#define OUT_SUFFIX_ROOM 16

#ifndef TRAIN_DATADIR
#define TRAIN_DATADIR "data/mnist"
#endif

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Every option: its name, its argument, its help line and whether it is
 * a training option (fixed by a checkpoint: refused with --eval and
 * --resume).  Indexed by enum opt, so the entries cannot fall out of step
 * with it; --help prints them in this order. */
enum opt {
	OPT_MODEL,
	OPT_EPOCHS,
	OPT_BATCH,
	OPT_LR,
	OPT_SCHEDULE,
	OPT_WARMUP,
	OPT_WD,
	OPT_AUGMENT,
	OPT_ARTEFACTS,
	OPT_SEED,
	OPT_THREADS,
	OPT_VAL,
	OPT_LIMIT,
	OPT_DATA,
	OPT_OUT,
	OPT_RESUME,
	OPT_EVAL,
	OPT_FIT_CONFIDENCE,
	OPT_FIT_READING,
	OPT_QUANTIZE,
	OPT_CALIBRATE,
	OPT_STOP_AFTER,
	OPT_QUIET,
	OPT_HELP,
	OPT_VERSION,
	N_OPTS
};

/* getopt_long returns OPT_BASE + enum opt: clear of '?' and ':'. */
#define OPT_BASE 256

struct opt_def {
	const char *name;
	const char *arg;  /* its argument in --help, NULL: takes none */
	const char *help; /* NULL: not listed (--help, --version) */
	bool training;
};

static const struct opt_def opt_defs[N_OPTS] = {
    [OPT_MODEL] = {"model", "NAME", "cnn (default), lenet5 or mlp", true},
    [OPT_EPOCHS] = {"epochs", "N", "passes over the training images (default 10)", true},
    [OPT_BATCH] = {"batch", "N", "images per step (default 64)", true},
    [OPT_LR] = {"lr", "X", "peak learning rate of Adam (default 0.001)", true},
    [OPT_SCHEDULE] = {"schedule", "S", "cosine (default), step or constant, after warm-up", true},
    [OPT_WARMUP] = {"warmup", "N", "warm-up steps (default 5% of the steps, at most 1000)", true},
    [OPT_WD] = {"weight-decay", "X", "decoupled weight decay on weights (default 0)", true},
    [OPT_AUGMENT] = {"augment", NULL, "random rotation/scale/shear/shift/thickness", true},
    [OPT_ARTEFACTS] = {"artefacts", "P",
                       "with --augment: probability of photo artefacts\n"
                       "(line stubs, lines taken out, glare, specks, blur)",
                       true},
    [OPT_SEED] = {"seed", "N", "seed of every random choice (default 1)", true},
    [OPT_THREADS] = {"threads", "N",
                     "OpenMP threads (default: all cores); the weights are\n"
                     "bit-identical for the same seed, whatever the count",
                     false},
    [OPT_VAL] = {"val", "N",
                 "training images held out to pick the best epoch\n"
                 "(default 5000; 0: keep the last epoch)",
                 true},
    [OPT_LIMIT] = {"limit", "N", "use only the first N training images", true},
    [OPT_DATA] = {"data", "DIR",
                  "MNIST IDX files (plain or .gz); default\n"
                  "$DIGITS_MNIST_DIR, ./data/mnist, then " TRAIN_DATADIR,
                  false},
    [OPT_OUT] = {"out", "FILE",
                 "model file (default models/<model>.model); the card\n"
                 "and plots go next to it: <base>.card.json,\n"
                 "<base>.curves.png, <base>.confusion.png",
                 true},
    [OPT_RESUME] = {"resume", "FILE", "continue from a checkpoint (<out>.ckpt)", false},
    [OPT_EVAL] = {"eval", "FILE", "print a model's test accuracy and confusion matrix", false},
    [OPT_FIT_CONFIDENCE] = {"fit-confidence", "FILE",
                            "fit a model's temperature, \"uncertain\" thresholds\n"
                            "and learned not-a-digit score on its training and\n"
                            "validation images and generated non-digits, and\n"
                            "write them into its header (weights unchanged)",
                            false},
    [OPT_FIT_READING] = {"fit-reading", "FILE",
                         "fit how `digits read` tells one whole digit from\n"
                         "a slice or a pair, for a model with a not-a-digit\n"
                         "score (after --fit-confidence), on numbers of\n"
                         "training digits; write it into its header",
                         false},
    [OPT_QUANTIZE] = {"quantize", "FILE",
                      "write an int8 model of a float model file to --out\n"
                      "(default: <base>-int8.model beside it)",
                      false},
    [OPT_CALIBRATE] = {"calibrate", "N",
                       "--quantize: activation ranges from the first N\n"
                       "MNIST training images (default 2000)",
                       false},
    [OPT_STOP_AFTER] = {"stop-after", "N", "checkpoint and stop after N steps, as on Ctrl-C",
                        false},
    [OPT_QUIET] = {"quiet", NULL, "no progress output", false},
    [OPT_HELP] = {"help", NULL, NULL, false},
    [OPT_VERSION] = {"version", NULL, NULL, false},
};

/* Columns of --help: options from 2, their text from HELP_COLUMN. */
#define HELP_COLUMN 22

static void usage(FILE *f)
{
	fputs("usage: digits-train [options]            train a network on MNIST\n"
	      "       digits-train --eval MODEL         test accuracy of a model file\n"
	      "       digits-train --fit-confidence MODEL  calibrate a model file\n"
	      "       digits-train --fit-reading MODEL  fit its number reading\n"
	      "       digits-train --quantize MODEL --calibrate N --out FILE  int8 model\n"
	      "       digits-train --resume CHECKPOINT  continue an interrupted run\n"
	      "\n",
	      f);
	for (int i = 0; i < N_OPTS; i++) {
		const struct opt_def *o = &opt_defs[i];
		char left[HELP_COLUMN];

		if (!o->help)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
		         o->arg ? o->arg : "");
		/* A name too long for its column gets a line of its own. */
		if ((int)strlen(left) >= HELP_COLUMN - 3)
			fprintf(f, "  %s\n%*s", left, HELP_COLUMN, "");
		else
			fprintf(f, "  %-*s", HELP_COLUMN - 2, left);
		for (const char *p = o->help; *p; p++) {
			fputc(*p, f);
			if (*p == '\n')
				fprintf(f, "%*s", HELP_COLUMN, "");
		}
		fputc('\n', f);
	}
	fputs("\nCtrl-C writes <out>.ckpt and exits; run digits-train --resume <out>.ckpt.\n", f);
}

static int fail_usage(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "digits-train: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\nTry 'digits-train --help'.\n");
	return 2;
}

/* A whole number in [lo, hi], or -1 with a message. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "digits-train: --%s: '%s' is not a whole number in [%ld, %ld]\n",
		        opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* The same for an int field (hi <= INT_MAX). */
static int parse_int(const char *opt, const char *s, int lo, int hi, int *out)
{
	long v;

	if (parse_long(opt, s, lo, hi, &v) < 0)
		return -1;
	*out = (int)v; /* in [lo, hi] */
	return 0;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "digits-train: --%s: '%s' is not a number in [%g, %g]\n", opt, s,
		        lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* The directory holding MNIST: --data, else $DIGITS_MNIST_DIR (either
 * must hold it), else the first of ./data/mnist and TRAIN_DATADIR that
 * does.  NULL with the reason in err. */
static const char *find_data(const char *given, struct dg_error *err)
{
	const char *env = getenv("DIGITS_MNIST_DIR");
	const char *where[2] = {"data/mnist", TRAIN_DATADIR};

	if (!given && env && *env)
		given = env;
	if (given) {
		if (idx_mnist_present(given, "train") && idx_mnist_present(given, "t10k"))
			return given;
		dg_fail(err, DG_ERR_IO,
		        "%s: no MNIST IDX files ({train,t10k}-{images-idx3,labels-idx1}-ubyte, "
		        "plain or .gz); run 'make data' to fetch them",
		        given);
		return NULL;
	}
	for (int i = 0; i < 2; i++)
		if (idx_mnist_present(where[i], "train") && idx_mnist_present(where[i], "t10k"))
			return where[i];
	dg_fail(err, DG_ERR_IO,
	        "MNIST not found in ./data/mnist or %s; run 'make data' to fetch it, or pass "
	        "--data DIR or set DIGITS_MNIST_DIR",
	        TRAIN_DATADIR);
	return NULL;
}

/* <out> without ".model", plus suffix; malloc'ed. */
static char *sibling(const char *out, const char *suffix)
{
	size_t n = strlen(out), m = strlen(".model");
	char *s;

	if (n > m && strcmp(out + n - m, ".model") == 0)
		n -= m;
	s = malloc(n + strlen(suffix) + 1);
	if (s) {
		memcpy(s, out, n);
		strcpy(s + n, suffix);
	}
	return s;
}

/* Create the output's directory if missing and check we may write there,
 * before hours of training rather than after. */
static int check_out_dir(const char *out, struct dg_error *err)
{
	char dir[4096];
	const char *slash = strrchr(out, '/');

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - out) > 0 ? (int)(slash - out) : 1,
		         out);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return dg_fail(err, DG_ERR_IO, "%s: cannot create directory: %s", dir,
		               strerror(errno));
	if (access(dir, W_OK) < 0)
		return dg_fail(err, DG_ERR_IO, "%s: not writable: %s", dir, strerror(errno));
	return 0;
}

/* Make out absolute, so that a checkpoint resumed from another directory
 * still writes where the run was told to. */
static int absolute_out(char *out, size_t size, struct dg_error *err)
{
	char cwd[4096], abs[8192];
	int n;

	if (out[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return dg_fail(err, DG_ERR_IO, "cannot get the current directory: %s",
		               strerror(errno));
	n = snprintf(abs, sizeof(abs), "%s/%s", cwd, out);
	if (n < 0 || (size_t)n >= size - OUT_SUFFIX_ROOM)
		return dg_fail(err, DG_ERR_INVALID, "%s/%s: path too long", cwd, out);
	memcpy(out, abs, (size_t)n + 1);
	return 0;
}

static int evaluate_file(const char *path, const char *data_opt)
{
	struct dg_error err = {0};
	struct model *m = NULL;
	struct idx_set test = {0};
	struct train_eval ev;
	const char *dir;
	int rc = 1;

	if (model_load(&m, path, &err) < 0)
		goto out;
	if (!(dir = find_data(data_opt, &err)) || idx_load_mnist(&test, dir, "t10k", &err) < 0)
		goto out;
	if (train_evaluate(m->graph, m->params, test.pixels, test.labels, test.n, &ev, &err) < 0)
		goto out;
	printf("model: %s (%s, %zu parameters)\n", path, model_name(m), m->graph->n_params);
	report_print_eval(stdout, "test", &ev);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "digits-train: %s\n", err.msg);
	idx_free(&test);
	model_free(m);
	return rc;
}

/* --fit-confidence: fit, rewrite the file, and say what was found. */
static int fit_confidence(const char *path, const char *data_opt)
{
	struct dg_error err = {0};
	struct calibrate_report rep;
	const char *dir = find_data(data_opt, &err);

	if (!dir || calibrate_model_file(path, dir, &rep, &err) < 0) {
		fprintf(stderr, "digits-train: %s\n", err.msg);
		return 1;
	}
	printf("model: %s\n"
	       "temperature: %.4f (validation NLL %.4f at T=1, %.4f at T; %d images)\n"
	       "ambiguous_margin: %.4f  reject_below: %.4f\n"
	       "validation digits flagged: %.2f%%\n"
	       "non-digits of seed %d caught: %.1f%% (%d pictures with ink)\n",
	       path, rep.cp.temperature, rep.nll_before, rep.nll_after, rep.n_val,
	       rep.cp.ambiguous_margin, rep.cp.reject_below, 100 * rep.val_flagged,
	       NONDIGIT_FIT_SEED, 100 * rep.nondigits_caught, rep.n_nondigits);
	if (rep.cp.head.fitted)
		printf("not_a_digit head: %d features, %d relu units, threshold %.4f (fitted on %d "
		       "training digits and %d non-digits of seed %d)\n",
		       rep.cp.head.n_features, rep.cp.head.n_units, rep.cp.head.threshold,
		       rep.n_head_digits, rep.n_head_nondigits, NONDIGIT_FIT_SEED);
	else
		printf("no not_a_digit head: the graph does not end in dense -> softmax, or it is "
		       "int8 with no recorded output scales (quantise it again)\n");
	return 0;
}

/* --fit-reading: fit, rewrite the file, and say how well it judges the
 * pieces it did not see. */
static int fit_reading(const char *path, const char *data_opt)
{
	struct dg_error err = {0};
	struct read_fit_report rep;
	const struct read_fit_opts o = {READ_FIT_PER, READ_FIT_SEED};
	const char *dir = find_data(data_opt, &err);

	if (!dir || read_fit_model_file(path, dir, &o, &rep, &err) < 0) {
		fprintf(stderr, "digits-train: %s\n", err.msg);
		return 1;
	}
	printf("model: %s\n"
	       "reading: \"one whole digit\" score over %d features, fitted on %d candidate "
	       "pieces of four in five of %d numbers of training digits (seed %d)\n"
	       "held out (the fifth): %d pieces, %d whole digits: %.2f%% judged right (%d whole "
	       "called not, %d not called whole); true segmentation chosen for %.2f%% of its "
	       "numbers (%.2f%% with the per-piece fit alone)\n",
	       path, rep.w.n_features, rep.pieces[0], rep.numbers, READ_FIT_SEED, rep.pieces[1],
	       rep.whole[1], 100 * rep.right[1], rep.whole_called_not[1], rep.not_called_whole[1],
	       100 * rep.choice_right[1], 100 * rep.piece_choice_right[1]);
	return 0;
}

/* Model file, card and plots, then the summary on stdout. */
static int finish(struct report_run *r, struct dg_error *err)
{
	const struct train_config *cfg = r->cfg;
	char *card = sibling(cfg->out, ".card.json"), *curves = sibling(cfg->out, ".curves.png");
	char *conf = sibling(cfg->out, ".confusion.png"), title[128];
	struct json_object *meta = report_training_json(r, false);
	int rc = -1;

	if (!card || !curves || !conf || !meta) {
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", cfg->out);
		goto out;
	}
	snprintf(title, sizeof(title), "%s: MNIST test, accuracy %.2f%% (%d images)", cfg->model,
	         100.0 * r->test_eval.correct / r->test_eval.n, r->test_eval.n);
	if (model_save(cfg->out, r->g, r->st->best, meta, err) < 0 ||
	    report_write_card(card, r, err) < 0 || report_curves_png(curves, r, err) < 0 ||
	    report_confusion_png(conf, title, &r->test_eval, err) < 0)
		goto out;
	printf("model: %s -> %s (best epoch %d of %d)\n", cfg->model, cfg->out, r->st->best_epoch,
	       cfg->epochs);
	printf("card: %s, %s, %s\n", card, curves, conf);
	if (r->val.n)
		printf("validation: accuracy %.2f%% (%d/%d), loss %.4f\n",
		       100.0 * r->val.correct / r->val.n, r->val.correct, r->val.n, r->val.loss);
	report_print_eval(stdout, "test", &r->test_eval);
	rc = 0;
out:
	json_object_put(meta);
	free(card);
	free(curves);
	free(conf);
	return rc;
}

/* What the command line asked for. */
struct cli {
	struct train_config cfg;
	const char *resume, *eval, *fit_confidence, *fit_reading, *quantize, *data;
	int calibrate;            /* --quantize: calibration images */
	const char *other_opt;    /* the last training option other than --out, or NULL */
	const char *training_opt; /* the last training option given, or NULL */
	bool threads_given;
};

/* Apply option id with argument arg (NULL if it takes none) to cli.
 * Returns -1 to go on, else the exit status (help, version, bad usage). */
static int apply_option(struct cli *cli, enum opt id, const char *arg)
{
	struct train_config *cfg = &cli->cfg;
	const char *name = opt_defs[id].name;
	long v;
	double d;

	if (opt_defs[id].training)
		cli->training_opt = name;
	if (opt_defs[id].training && id != OPT_OUT)
		cli->other_opt = name;
	switch (id) {
	case OPT_MODEL:
		if (!nn_zoo_description(arg))
			return fail_usage("--model: unknown network '%s'%s", arg,
			                  " (cnn, lenet5, mlp)");
		snprintf(cfg->model, sizeof(cfg->model), "%s", arg);
		break;
	case OPT_EPOCHS:
		if (parse_int(name, arg, 1, TRAIN_MAX_EPOCHS, &cfg->epochs) < 0)
			return 2;
		break;
	case OPT_BATCH:
		if (parse_int(name, arg, 1, TRAIN_MAX_BATCH, &cfg->batch) < 0)
			return 2;
		break;
	case OPT_LR:
		if (parse_double(name, arg, 1e-7, 1.0, &cfg->lr) < 0)
			return 2;
		break;
	case OPT_SCHEDULE:
		if (optim_schedule_parse(arg, &cfg->schedule) < 0)
			return fail_usage("--schedule: unknown '%s'%s", arg,
			                  " (cosine, step, constant)");
		break;
	case OPT_WARMUP:
		if (parse_long(name, arg, 0, TRAIN_MAX_WARMUP, &cfg->warmup_steps) < 0)
			return 2;
		break;
	case OPT_WD:
		if (parse_double(name, arg, 0, 1, &d) < 0)
			return 2;
		cfg->weight_decay = d;
		break;
	case OPT_AUGMENT:
		cfg->augment = true;
		break;
	case OPT_ARTEFACTS:
		if (parse_double(name, arg, 0, 1, &d) < 0)
			return 2;
		cfg->aug.artefacts = (float)d;
		break;
	case OPT_SEED:
		if (parse_long(name, arg, 0, LONG_MAX, &v) < 0)
			return 2;
		cfg->seed = (uint64_t)v;
		break;
	case OPT_THREADS:
		if (parse_int(name, arg, 1, TRAIN_MAX_THREADS, &cfg->threads) < 0)
			return 2;
		cli->threads_given = true;
		break;
	case OPT_VAL:
		if (parse_int(name, arg, 0, TRAIN_MAX_IMAGES, &cfg->val) < 0)
			return 2;
		break;
	case OPT_LIMIT:
		if (parse_int(name, arg, 1, TRAIN_MAX_IMAGES, &cfg->limit) < 0)
			return 2;
		break;
	case OPT_DATA:
		cli->data = arg;
		break;
	case OPT_OUT:
		if (!*arg || strlen(arg) >= sizeof(cfg->out) - OUT_SUFFIX_ROOM)
			return fail_usage("--out: bad file name '%s'%s", arg, "");
		snprintf(cfg->out, sizeof(cfg->out), "%s", arg);
		break;
	case OPT_RESUME:
		cli->resume = arg;
		break;
	case OPT_EVAL:
		cli->eval = arg;
		break;
	case OPT_FIT_CONFIDENCE:
		cli->fit_confidence = arg;
		break;
	case OPT_FIT_READING:
		cli->fit_reading = arg;
		break;
	case OPT_QUANTIZE:
		cli->quantize = arg;
		break;
	case OPT_CALIBRATE:
		if (parse_int(name, arg, 1, QUANTIZE_MAX_CALIBRATE, &cli->calibrate) < 0)
			return 2;
		break;
	case OPT_STOP_AFTER:
		if (parse_long(name, arg, 1, LONG_MAX, &cfg->stop_after) < 0)
			return 2;
		break;
	case OPT_QUIET:
		cfg->quiet = true;
		break;
	case OPT_HELP:
		usage(stdout);
		return 0;
	case OPT_VERSION:
		printf("digits-train (%s)\n", PACKAGE_STRING);
		return 0;
	case N_OPTS:
		break;
	}
	return -1;
}

/* The command line into cli (defaults first).  Returns -1 to go on, else
 * the exit status. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	struct option longopts[N_OPTS + 1] = {{0}};
	int c, rc;

	*cli = (struct cli){.cfg = {.epochs = 10,
	                            .batch = 64,
	                            .lr = 1e-3,
	                            .schedule = OPTIM_COSINE,
	                            .warmup_steps = -1,
	                            .seed = 1,
	                            .val = 5000}};
	snprintf(cli->cfg.model, sizeof(cli->cfg.model), "cnn");
	augment_defaults(&cli->cfg.aug);
	for (int i = 0; i < N_OPTS; i++)
		longopts[i] = (struct option){opt_defs[i].name,
		                              opt_defs[i].arg ? required_argument : no_argument,
		                              NULL, OPT_BASE + i};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c < OPT_BASE || c >= OPT_BASE + N_OPTS) {
			usage(stderr);
			return 2;
		}
		if ((rc = apply_option(cli, (enum opt)(c - OPT_BASE), optarg)) >= 0)
			return rc;
	}
	if (optind < argc)
		return fail_usage("unexpected argument '%s'%s", argv[optind], "");
	if (cli->eval && (cli->resume || cli->training_opt))
		return fail_usage("--eval takes no training options%s%s", "", "");
	if (cli->fit_confidence && (cli->eval || cli->resume || cli->training_opt))
		return fail_usage("--fit-confidence takes no other mode or training option%s%s", "",
		                  "");
	if (cli->fit_reading &&
	    (cli->eval || cli->resume || cli->fit_confidence || cli->training_opt))
		return fail_usage("--fit-reading takes no other mode or training option%s%s", "",
		                  "");
	if (cli->quantize &&
	    (cli->eval || cli->resume || cli->fit_confidence || cli->fit_reading || cli->other_opt))
		return fail_usage("--quantize takes only --calibrate, --out, --data and "
		                  "--threads%s%s",
		                  "", "");
	if (cli->calibrate && !cli->quantize)
		return fail_usage("--calibrate goes with --quantize%s%s", "", "");
	if (cli->resume && cli->training_opt)
		return fail_usage("--resume continues a run as it was configured; "
		                  "--%s cannot change%s",
		                  cli->training_opt, "");
	return -1;
}

/* The run's configuration: the checkpoint's when resuming (the thread
 * count excepted, if given), else the command line's with the defaults
 * that depend on it; then the output made absolute and checked. */
static int settle_config(struct cli *cli, struct dg_error *err)
{
	struct train_config *cfg = &cli->cfg;

	if (cli->resume) {
		struct train_config saved = *cfg;
		if (train_checkpoint_read_config(cli->resume, &saved, err) < 0)
			return -1;
		if (cli->threads_given && cfg->threads != saved.threads)
			fprintf(stderr,
			        "digits-train: note: the run used %d threads, resuming with %d: "
			        "the weights are the same bits, the header records %d threads\n",
			        saved.threads, cfg->threads, cfg->threads);
		if (!cli->threads_given)
			omp_set_num_threads(saved.threads);
		else
			saved.threads = cfg->threads;
		*cfg = saved;
	} else {
		if (!cfg->out[0])
			snprintf(cfg->out, sizeof(cfg->out), "models/%s.model", cfg->model);
		if (!cli->threads_given)
			cfg->threads = omp_get_max_threads();
	}
	if (check_out_dir(cfg->out, err) < 0 || absolute_out(cfg->out, sizeof(cfg->out), err) < 0)
		return -1;
	return 0;
}

/* MNIST's training and test sets; *n_used: the training images in use
 * (--limit), of which the last cfg->val are held out. */
static int load_data(const struct cli *cli, struct idx_set *train, struct idx_set *test,
                     int *n_used, struct dg_error *err)
{
	const struct train_config *cfg = &cli->cfg;
	const char *dir;

	if (!(dir = find_data(cli->data, err)) || idx_load_mnist(train, dir, "train", err) < 0 ||
	    idx_load_mnist(test, dir, "t10k", err) < 0)
		return -1;
	*n_used = cfg->limit && cfg->limit < train->n ? cfg->limit : train->n;
	if (cfg->val >= *n_used)
		return dg_fail(err, DG_ERR_INVALID,
		               "--val %d leaves no training images (%d in use; see --limit)",
		               cfg->val, *n_used);
	return 0;
}

/* The graph and the state to start from: fresh, or the checkpoint's. */
static int prepare_state(const struct cli *cli, int n_train, struct nn_graph **g,
                         struct train_state *st, struct dg_error *err)
{
	const struct train_config *cfg = &cli->cfg;

	if (nn_zoo_build(g, cfg->model, err) < 0)
		return -1;
	if (cli->resume ? train_checkpoint_load(cli->resume, cfg, *g, st, err)
	                : train_state_init(st, cfg, *g, err))
		return -1;
	if (st->step > train_steps_per_epoch(cfg, n_train) * (st->epoch + 1))
		return dg_fail(err, DG_ERR_FORMAT, "%s: step %ld is past epoch %d", cli->resume,
		               st->step, st->epoch + 1);
	return 0;
}

/* Train with Ctrl-C and SIGTERM turned into a checkpoint.  0 done, 1
 * stopped (checkpoint written), -1 error. */
static int train_interruptible(const struct train_config *cfg, const struct nn_graph *g,
                               struct train_state *st, const struct idx_set *train, int n_used,
                               struct dg_error *err)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND};
	int c;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!cfg->quiet)
		fprintf(stderr,
		        "digits-train: %s, %zu parameters, %d training + %d validation images, "
		        "%d epochs of %ld steps, %d threads%s\n",
		        cfg->model, g->n_params, n_used - cfg->val, cfg->val, cfg->epochs,
		        train_steps_per_epoch(cfg, n_used - cfg->val), cfg->threads,
		        cfg->augment ? ", augmented" : "");
	c = train_run(cfg, g, st, train, n_used - cfg->val, cfg->val, &interrupted, err);
	if (c == 1)
		fprintf(stderr,
		        "digits-train: stopped in epoch %d after step %ld; checkpoint %s.ckpt\n"
		        "continue with: digits-train --resume %s.ckpt\n",
		        st->epoch + 1, st->step, cfg->out, cfg->out);
	if (c == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
	}
	return c;
}

/* The finished run: the best parameters evaluated on the validation and
 * test sets, the model file, card and plots written, the summary printed
 * and the checkpoint removed. */
static int report_results(int argc, char **argv, double t0, struct report_run *r,
                          struct dg_error *err)
{
	const struct train_config *cfg = r->cfg;
	char date[32], canon[REPORT_COMMAND_MAX], *cmd = report_command_line(argc, argv), *ckpt;
	time_t now = time(NULL);
	struct tm tm;
	int rc = -1;

	report_canonical_command(canon, sizeof(canon), cfg);
	r->command = canon;
	r->invocation = cmd ? cmd : "digits-train";
	if (cfg->val && train_evaluate(r->g, r->st->best,
	                               r->train->pixels + (size_t)r->n_train * AUGMENT_PIXELS,
	                               r->train->labels + r->n_train, cfg->val, &r->val, err) < 0)
		goto out;
	if (train_evaluate(r->g, r->st->best, r->test->pixels, r->test->labels, r->test->n,
	                   &r->test_eval, err) < 0)
		goto out;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	r->date = date;
	r->total_seconds = dg_seconds() - t0;
	if (finish(r, err) < 0)
		goto out;
	ckpt = train_checkpoint_path(cfg->out);
	if (ckpt)
		unlink(ckpt);
	free(ckpt);
	rc = 0;
out:
	r->command = r->invocation = r->date = NULL;
	free(cmd);
	return rc;
}

/* Train as cli says, then report.  Returns the exit status. */
static int run_training(int argc, char **argv, struct cli *cli)
{
	const struct train_config *cfg = &cli->cfg;
	struct train_state st = {0};
	struct idx_set train = {0}, test = {0};
	struct nn_graph *g = NULL;
	struct dg_error err = {0};
	struct report_run r = {0};
	double t0 = dg_seconds();
	int rc = 1, n_used, c;

	if (settle_config(cli, &err) < 0 || load_data(cli, &train, &test, &n_used, &err) < 0 ||
	    prepare_state(cli, n_used - cfg->val, &g, &st, &err) < 0)
		goto out;
	c = train_interruptible(cfg, g, &st, &train, n_used, &err);
	if (c != 0) {
		rc = c == 1 ? 130 : 1;
		goto out;
	}
	r = (struct report_run){.cfg = cfg,
	                        .st = &st,
	                        .g = g,
	                        .train = &train,
	                        .test = &test,
	                        .n_train = n_used - cfg->val,
	                        .n_val = cfg->val};
	if (report_results(argc, argv, t0, &r, &err) == 0)
		rc = 0;
out:
	if (rc == 1)
		fprintf(stderr, "digits-train: %s\n", err.msg);
	train_state_free(&st);
	nn_graph_free(g);
	idx_free(&train);
	idx_free(&test);
	return rc;
}

/* --quantize: write the int8 model and compare its test accuracy. */
static int quantize(const struct cli *cli)
{
	struct dg_error err = {0};
	struct quantize_report rep;
	const char *dir = find_data(cli->data, &err);
	char out[4096];
	int n = cli->calibrate ? cli->calibrate : 2000;

	if (cli->cfg.out[0]) {
		snprintf(out, sizeof(out), "%s", cli->cfg.out);
	} else {
		const char *dot = strrchr(cli->quantize, '.');
		int base = dot && !strchr(dot, '/') ? (int)(dot - cli->quantize)
		                                    : (int)strlen(cli->quantize);

		if (snprintf(out, sizeof(out), "%.*s-int8.model", base, cli->quantize) >=
		    (int)sizeof(out)) {
			fprintf(stderr, "digits-train: %s: name too long\n", cli->quantize);
			return 1;
		}
	}
	if (!dir || quantize_model_file(cli->quantize, out, dir, n, &rep, &err) < 0) {
		fprintf(stderr, "digits-train: %s\n", err.msg);
		return 1;
	}
	printf("model: %s -> %s\n"
	       "calibrated on %d training images in %.1f s\n"
	       "MNIST test accuracy: float %.2f%% (%d / %d), int8 %.2f%% (%d / %d)\n",
	       cli->quantize, out, rep.n_calibrate, rep.seconds,
	       100.0 * rep.float_correct / rep.n_test, rep.float_correct, rep.n_test,
	       100.0 * rep.int8_correct / rep.n_test, rep.int8_correct, rep.n_test);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli;
	int rc = parse_args(argc, argv, &cli);

	if (rc >= 0)
		return rc;
	if (cli.threads_given)
		omp_set_num_threads(cli.cfg.threads);
	if (cli.eval)
		return evaluate_file(cli.eval, cli.data);
	if (cli.fit_confidence)
		return fit_confidence(cli.fit_confidence, cli.data);
	if (cli.fit_reading)
		return fit_reading(cli.fit_reading, cli.data);
	if (cli.quantize)
		return quantize(&cli);
	return run_training(argc, argv, &cli);
}
