# Reading numbers (POST /api/v1/read, digits read): pictures of whole numbers
# generated from MNIST test digits (train/number_gen.[ch]), the evaluation as
# a table (make bench) and the tests.  They need MNIST (make data) and link
# the trainer's IDX reader.
# train/libtrain.a (the number generator, the reading fit) reads through the
# service's registry, so the service library comes after it.
READ_LDADD = train/libtrain.a src/libdigits_service.a $(LDADD)
READ_CPPFLAGS = $(TRAIN_CPPFLAGS) -DDIGITS_SRCDIR='"$(abs_top_srcdir)"'

# make bench: 100 numbers of each length 1-12, exact and digit accuracy by
# length and by gap kind, and the time to read a 1200x400 photo.
noinst_PROGRAMS += tests/read_eval
BENCHES += tests/read_eval
tests_read_eval_SOURCES = tests/read_eval.c
tests_read_eval_LDADD = $(READ_LDADD)
tests_read_eval_CPPFLAGS = $(READ_CPPFLAGS)

# Crafted numbers read exactly, and the refusals.
check_PROGRAMS += tests/test_read
TESTS += tests/test_read
tests_test_read_SOURCES = tests/test_read.c tests/tap.h 
tests_test_read_LDADD = $(READ_LDADD)
tests_test_read_CPPFLAGS = $(READ_CPPFLAGS)

# A clean number for the shell tests, and /api/v1/read through lighttpd.
check_PROGRAMS += tests/mknumber
tests_mknumber_SOURCES = tests/mknumber.c
tests_mknumber_LDADD = $(TRAIN_LDADD)
tests_mknumber_CPPFLAGS = $(TRAIN_CPPFLAGS)
TESTS += tests/test_read_http.sh
EXTRA_DIST += tests/test_read_http.sh

# digits-train --fit-reading with the fitting set's size and seed chosen.
noinst_PROGRAMS += tests/read_fit
tests_read_fit_SOURCES = tests/read_fit.c
tests_read_fit_LDADD = $(READ_LDADD)
tests_read_fit_CPPFLAGS = $(READ_CPPFLAGS)
# Pictures of misreads the README shows (read_eval --dump, seed 2026).
EXTRA_DIST += tests/read_failures/193-11-as-0.png tests/read_failures/286-317-as-37.png \
	tests/read_failures/237-909-as-5109.png tests/read_failures/565-312328-as-212328.png
