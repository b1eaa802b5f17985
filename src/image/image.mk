# The image pipeline (owned by the image module): bytes -> header check ->
# decode (libpng, libjpeg; libgd loaded on demand) -> MNIST-style 28x28.
# See src/image/image.h.
src_libdigits_a_SOURCES += \
	src/image/image.h src/image/image_priv.h \
	src/image/image_probe.c src/image/image_decode.c \
	src/image/image_normalise.c src/image/image_ink.c \
	src/image/image_lines.c src/image/image_select.c \
	src/image/image_frame.c src/image/image_png.c src/image/image_avif.c src/image/gd_load.c \
	src/image/image_heatmap.c src/image/image_work.h src/image/image_work.c \
	src/image/image_read.h src/image/image_read.c

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

# make bench: plain CGI, one process per request (what the decoders' shared
# libraries cost before main runs).
EXTRA_PROGRAMS += tests/bench_cgi_exec
BENCHES += tests/bench_cgi
CLEANFILES += tests/bench_cgi_exec tests/bench_cgi
EXTRA_DIST += tests/bench-cgi.sh
tests_bench_cgi_exec_SOURCES = tests/bench_cgi.c tests/bench.h
tests/bench_cgi: $(top_srcdir)/tests/bench-cgi.sh cgi-bin/digits.fcgi tests/mkdigit tests/bench_cgi_exec
	@mkdir -p tests
	@printf '#!/bin/sh\ntop_srcdir=%s top_builddir=%s\nexport top_srcdir top_builddir\nexec sh "$$top_srcdir/tests/bench-cgi.sh" "$$@"\n' \
		'$(abs_top_srcdir)' '$(abs_top_builddir)' >$@
	@chmod +x $@

# The decoders' messages through a real lighttpd: only JSON lines in the log.
IMAGE_SHELL_TESTS = tests/test_decoder_log.sh
TESTS += $(IMAGE_SHELL_TESTS)
EXTRA_DIST += $(IMAGE_SHELL_TESTS)
