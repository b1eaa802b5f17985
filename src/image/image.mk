# The image pipeline (owned by the image module): bytes -> header check ->
# libgd decode -> MNIST-style 28x28.  See src/image/image.h.
src_libdigits_a_SOURCES += \
	src/image/image.h src/image/image_priv.h \
	src/image/image_probe.c src/image/image_decode.c \
	src/image/image_normalise.c src/image/image_ink.c \
	src/image/image_lines.c src/image/image_select.c \
	src/image/image_frame.c src/image/image_heatmap.c

check_PROGRAMS += tests/test_image
UNIT_TESTS += tests/test_image
TESTS += tests/test_image
tests_test_image_SOURCES = tests/test_image.c tests/image_fixtures.h tests/tap.h
tests_test_image_LDADD = $(LDADD)

# make bench: decode + normalise latency for a small PNG and two photos.
EXTRA_PROGRAMS += tests/bench_image
BENCHES += tests/bench_image
CLEANFILES += tests/bench_image
tests_bench_image_SOURCES = tests/bench_image.c tests/image_fixtures.h tests/bench.h
