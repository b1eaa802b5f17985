# The engine library every front end links: errors, the network, model files.
noinst_LIBRARIES += src/libdigits.a
src_libdigits_a_SOURCES = \
	src/digits.c src/digits.h \
	src/engine/nn.h src/engine/nn_ops.h \
	src/engine/nn_graph.c src/engine/nn_zoo.c src/engine/nn_exec.c src/engine/nn_explain.c \
	src/engine/nn_layers.h src/engine/nn_layers.c \
	src/engine/nn_conv.c src/engine/nn_dense.c \
	src/engine/nn_kernels.c src/engine/nn_kernels.h \
	src/engine/nn_q8.c src/engine/nn_q8.h src/engine/nn_q8_kernels.c \
	src/engine/model.c src/engine/model.h \
	src/engine/confidence.c src/engine/confidence.h \
	src/engine/not_a_digit.c src/engine/not_a_digit.h

# Programs link the engine and what it uses.
LDADD = src/libdigits.a $(JSONC_LIBS) $(GD_LIBS) $(JPEG_LIBS) $(PNG_LIBS) $(ZLIB_LIBS) $(LIBS)

check_PROGRAMS += tests/test_nn tests/test_model
UNIT_TESTS += tests/test_nn tests/test_model
TESTS += tests/test_nn tests/test_model

# make bench: engine latency and throughput per model.
EXTRA_PROGRAMS += tests/bench_engine
BENCHES += tests/bench_engine
tests_bench_engine_SOURCES = tests/bench_engine.c tests/bench.h
tests_bench_engine_CPPFLAGS = $(AM_CPPFLAGS) -DDIGITS_SRCDIR='"$(abs_top_srcdir)"'
CLEANFILES += $(EXTRA_PROGRAMS)
