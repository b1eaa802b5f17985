# The HTTP API, the FastCGI/CGI program and the CLI (owned by the service module).
#
# src/libdigits_service.a holds the API (routing, parsing, JSON answers), the
# model registry (the service's one door to the engine), metrics and the
# request log; cgi-bin/digits.fcgi and src/digits
# are thin mains over it.  digits.fcgi is built at cgi-bin/digits.fcgi in the
# build tree, where lighttpd.conf expects it, and installed in pkglibexecdir.
noinst_LIBRARIES += src/libdigits_service.a
src_libdigits_service_a_SOURCES = \
	src/service/api.c src/service/api.h src/service/api_priv.h src/service/api_predict.c \
	src/service/api_read.c \
	src/service/reading.c src/service/reading.h \
	src/service/reading_whole.c src/service/reading_whole.h \
	src/service/answer.c src/service/answer.h \
	src/service/request.c src/service/request.h \
	src/service/registry.c src/service/registry.h \
	src/service/metrics.c src/service/metrics.h \
	src/service/log.c src/service/log.h
# Where models are looked for when DIGITS_MODEL_DIR is unset: the installed
# copy, else the source tree (so a build tree works without installing).
src_libdigits_service_a_CPPFLAGS = $(AM_CPPFLAGS) \
	-DDIGITS_PKGDATADIR='"$(pkgdatadir)"' -DDIGITS_SRCDIR='"$(abs_top_srcdir)"'
SERVICE_LDADD = src/libdigits_service.a $(LDADD)

bin_PROGRAMS += src/digits
src_digits_SOURCES = src/digits_cli.c
src_digits_LDADD = $(SERVICE_LDADD)

pkglibexec_PROGRAMS = cgi-bin/digits.fcgi
cgi_bin_digits_fcgi_SOURCES = src/digits_fcgi.c
cgi_bin_digits_fcgi_LDADD = $(SERVICE_LDADD) $(FCGI_LIBS)

# JSON bodies for the errors lighttpd raises itself on the API path (see
# lighttpd.conf); tests/test_api checks they match the API's own errors.
SERVICE_ERROR_DOCS = \
	cgi-bin/errors/api-error-400.html cgi-bin/errors/api-error-404.html \
	cgi-bin/errors/api-error-405.html cgi-bin/errors/api-error-408.html \
	cgi-bin/errors/api-error-411.html cgi-bin/errors/api-error-413.html \
	cgi-bin/errors/api-error-414.html cgi-bin/errors/api-error-417.html \
	cgi-bin/errors/api-error-431.html cgi-bin/errors/api-error-500.html \
	cgi-bin/errors/api-error-501.html cgi-bin/errors/api-error-502.html \
	cgi-bin/errors/api-error-503.html cgi-bin/errors/api-error-504.html
# Installed beside the models ($(pkgdatadir)/errors), where the deploy/
# configurations' front servers point (/srv/digits/errors).
errorsdir = $(pkgdatadir)/errors
errors_DATA = $(SERVICE_ERROR_DOCS)
EXTRA_DIST += $(SERVICE_ERROR_DOCS) tests/lib.sh tests/serve.sh tests/abuse.pl

# Tests: parsers and routing without a server, then the real thing.
check_PROGRAMS += tests/test_api tests/mkdigit tests/mkworst
tests_test_api_LDADD = $(SERVICE_LDADD)
tests_mkdigit_LDADD = $(LDADD)
# The worst file of each format within the limits (tests/worst_files.h):
# mkworst writes one for test_limits.sh, bench_worst measures them all.
tests_mkworst_SOURCES = tests/mkworst.c tests/worst_files.h tests/image_fixtures.h
tests_mkworst_LDADD = $(LDADD)
UNIT_TESTS += tests/test_api
SERVICE_SHELL_TESTS = tests/test_cgi.sh tests/test_http.sh tests/test_load.sh tests/test_fault.sh \
	tests/test_limits.sh \
	tests/test_metrics.sh tests/test_privileges.sh tests/test_soak.sh \
	tests/test_static.sh tests/test_slow.sh tests/test_deploy_apache.sh \
	tests/test_deploy_nginx.sh tests/test_deploy_lighttpd.sh tests/test_deploy_haproxy.sh
TESTS += tests/test_api $(SERVICE_SHELL_TESTS)
EXTRA_DIST += $(SERVICE_SHELL_TESTS)
# What an operator copies (README "Running in production"); the
# tests/test_deploy_*.sh above run each of them.
EXTRA_DIST += deploy/apache/fcgid/.htaccess deploy/apache/cgi/.htaccess \
	deploy/apache/cgi/cgi-bin/.htaccess deploy/nginx/digits.conf \
	deploy/lighttpd/digits.conf deploy/haproxy/digits.cfg \
	deploy/systemd/digits@.service deploy/logrotate/digits

# make serve: the page and the API on http://127.0.0.1:8080 from this build
# tree (DIGITS_PORT=... to change the port).
serve: cgi-bin/digits.fcgi
	DIGITS_SRCDIR='$(abs_top_srcdir)' DIGITS_BUILDDIR='$(abs_top_builddir)' \
	  $(SHELL) $(abs_top_srcdir)/tests/serve.sh $${DIGITS_PORT:-8080}
.PHONY: serve

# make bench: HTTP requests/s and latency through lighttpd (needs wrk).
BENCHES += tests/bench_http
CLEANFILES += tests/bench_http
EXTRA_DIST += tests/bench-http.sh
tests/bench_http: $(top_srcdir)/tests/bench-http.sh cgi-bin/digits.fcgi tests/mkdigit
	@mkdir -p tests
	@printf '#!/bin/sh\ntop_srcdir=%s top_builddir=%s LIGHTTPD=%s CURL=%s WRK=%s\nexport top_srcdir top_builddir LIGHTTPD CURL WRK\nexec sh "$$top_srcdir/tests/bench-http.sh" "$$@"\n' \
		'$(abs_top_srcdir)' '$(abs_top_builddir)' '$(LIGHTTPD)' '$(CURL)' '$(WRK)' >$@
	@chmod +x $@

# make bench: the worst file of each format, ms and peak MB (see README, Limits).
EXTRA_PROGRAMS += tests/bench_worst
BENCHES += tests/bench_worst
CLEANFILES += tests/bench_worst
tests_bench_worst_SOURCES = tests/bench_worst.c tests/worst_files.h tests/image_fixtures.h \
	tests/bench.h
tests_bench_worst_LDADD = $(LDADD)
