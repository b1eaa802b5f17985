# Phone photos of MNIST test digits (tests/photo_gen.[ch]): the seeded set of
# the photo issue, its evaluation as a table (make bench) and as a test of
# the targets.  Both need MNIST (make data) and link the trainer's IDX reader.
PHOTO_SOURCES = tests/photo_gen.h tests/photo_gen.c tests/bench.h

# make bench: the standard 1000-picture set, accuracy by effect.
noinst_PROGRAMS += tests/photos
BENCHES += tests/photos
tests_photos_SOURCES = tests/photos.c $(PHOTO_SOURCES)
tests_photos_LDADD = $(TRAIN_LDADD)
tests_photos_CPPFLAGS = $(TRAIN_CPPFLAGS)

# Not a unit test: it needs MNIST and takes about 30 s.
check_PROGRAMS += tests/test_photos
TESTS += tests/test_photos
tests_test_photos_SOURCES = tests/test_photos.c tests/tap.h $(PHOTO_SOURCES)
tests_test_photos_LDADD = $(TRAIN_LDADD)
tests_test_photos_CPPFLAGS = $(TRAIN_CPPFLAGS)
