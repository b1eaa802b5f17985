# Fuzzing (tests/fuzz/): one libFuzzer harness per entry point that reads
# bytes from outside, a committed seed corpus and regression inputs for each.
#
#   make check   replays corpus/<target>/ and regress/<target>/ through each
#                harness linked with replay.c (any compiler, no libFuzzer).
#   make fuzz    (configure CC=clang --enable-fuzz) builds the libFuzzer
#                programs and runs each for FUZZ_SECONDS from its corpus;
#                new inputs and crash files go under tests/fuzz/out/ in the
#                build tree.  Fails if any target crashes, leaks or hangs.
FUZZ_SECONDS = 60
FUZZ_TARGETS = multipart api image model idx
FUZZ_COMMON = tests/fuzz/fuzz.h tests/fuzz/fuzz_common.c
FUZZ_IDX_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/train

# The replay tests.
FUZZ_REPLAYS = tests/fuzz/replay_multipart tests/fuzz/replay_api tests/fuzz/replay_image \
	tests/fuzz/replay_model tests/fuzz/replay_idx
check_PROGRAMS += $(FUZZ_REPLAYS)
UNIT_TESTS += $(FUZZ_REPLAYS)
TESTS += $(FUZZ_REPLAYS)
tests_fuzz_replay_multipart_SOURCES = tests/fuzz/fuzz_multipart.c tests/fuzz/replay.c $(FUZZ_COMMON)
tests_fuzz_replay_multipart_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"multipart"'
tests_fuzz_replay_multipart_LDADD = $(SERVICE_LDADD)
tests_fuzz_replay_api_SOURCES = tests/fuzz/fuzz_api.c tests/fuzz/replay.c $(FUZZ_COMMON)
tests_fuzz_replay_api_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"api"'
tests_fuzz_replay_api_LDADD = $(SERVICE_LDADD)
tests_fuzz_replay_image_SOURCES = tests/fuzz/fuzz_image.c tests/fuzz/replay.c $(FUZZ_COMMON)
tests_fuzz_replay_image_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"image"'
tests_fuzz_replay_image_LDADD = $(LDADD)
tests_fuzz_replay_model_SOURCES = tests/fuzz/fuzz_model.c tests/fuzz/replay.c $(FUZZ_COMMON)
tests_fuzz_replay_model_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"model"'
tests_fuzz_replay_model_LDADD = $(LDADD)
tests_fuzz_replay_idx_SOURCES = tests/fuzz/fuzz_idx.c tests/fuzz/replay.c $(FUZZ_COMMON)
tests_fuzz_replay_idx_CPPFLAGS = $(FUZZ_IDX_CPPFLAGS) -DFUZZ_TARGET='"idx"'
tests_fuzz_replay_idx_LDADD = $(TRAIN_LDADD)

# The libFuzzer programs: built only by make fuzz.
FUZZ_HARNESSES = tests/fuzz/fuzz_multipart tests/fuzz/fuzz_api tests/fuzz/fuzz_image \
	tests/fuzz/fuzz_model tests/fuzz/fuzz_idx
EXTRA_PROGRAMS += $(FUZZ_HARNESSES)
tests_fuzz_fuzz_multipart_SOURCES = tests/fuzz/fuzz_multipart.c $(FUZZ_COMMON)
tests_fuzz_fuzz_multipart_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_multipart_LDADD = $(SERVICE_LDADD)
tests_fuzz_fuzz_api_SOURCES = tests/fuzz/fuzz_api.c $(FUZZ_COMMON)
tests_fuzz_fuzz_api_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_api_LDADD = $(SERVICE_LDADD)
tests_fuzz_fuzz_image_SOURCES = tests/fuzz/fuzz_image.c $(FUZZ_COMMON)
tests_fuzz_fuzz_image_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_image_LDADD = $(LDADD)
tests_fuzz_fuzz_model_SOURCES = tests/fuzz/fuzz_model.c $(FUZZ_COMMON)
tests_fuzz_fuzz_model_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_model_LDADD = $(LDADD)
tests_fuzz_fuzz_idx_SOURCES = tests/fuzz/fuzz_idx.c $(FUZZ_COMMON)
tests_fuzz_fuzz_idx_CPPFLAGS = $(FUZZ_IDX_CPPFLAGS)
tests_fuzz_fuzz_idx_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_idx_LDADD = $(TRAIN_LDADD)

# The corpus, the regression inputs and the runner go in the tarball, so
# its make check replays them too.
EXTRA_DIST += tests/fuzz/fuzz.sh tests/fuzz/README tests/fuzz/api.dict tests/fuzz/multipart.dict \
	tests/fuzz/corpus tests/fuzz/regress

# make fuzz: the runner's TAP goes through the same driver as make check,
# so CI counts tests/fuzz/fuzz.trs with the rest; the table of executions
# per target is printed from its log.
if FUZZ
fuzz: $(FUZZ_HARNESSES)
	@mkdir -p tests/fuzz
	@$(TAP_DRIVER) --test-name tests/fuzz/fuzz.sh --log-file tests/fuzz/fuzz.log \
	  --trs-file tests/fuzz/fuzz.trs -- env top_srcdir='$(abs_top_srcdir)' \
	  top_builddir='$(abs_top_builddir)' FUZZ_SECONDS='$(FUZZ_SECONDS)' \
	  $(SHELL) $(srcdir)/tests/fuzz/fuzz.sh $(FUZZ_TARGETS)
	@sed -n 's/^# //p' tests/fuzz/fuzz.log
	@grep -q '^:global-test-result: PASS' tests/fuzz/fuzz.trs
else
fuzz:
	@echo "make fuzz: configure with CC=clang --enable-fuzz (a build directory of its own)" >&2
	@exit 1
endif
.PHONY: fuzz
CLEANFILES += tests/fuzz/fuzz.log tests/fuzz/fuzz.trs
clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/out
.PHONY: clean-fuzz

# The seed corpus is written once by this program and committed (see its
# header for the command).
EXTRA_PROGRAMS += tests/fuzz/mkcorpus
tests_fuzz_mkcorpus_SOURCES = tests/fuzz/mkcorpus.c tests/image_fixtures.h
tests_fuzz_mkcorpus_LDADD = $(SERVICE_LDADD)
