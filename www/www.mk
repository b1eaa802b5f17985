# The web page and its browser tests (owned by the web module).
#
# www/ is static: no build step. It ships in the tarball, installs under
# $(pkgdatadir)/www for a web server to serve, and lighttpd.conf serves it
# straight from the source tree. tests/test_browser.mjs drives it in headless
# Chromium through playwright-core (tests/package*.json, `npm ci --prefix tests`).
wwwdir = $(pkgdatadir)/www
dist_www_DATA = www/index.html www/style.css
# The page's ES modules (www/js/main.js wires the rest), loaded as they are.
wwwjsdir = $(wwwdir)/js
dist_wwwjs_DATA = www/js/main.js www/js/api.js www/js/page.js www/js/models.js \
	www/js/cards.js www/js/queue.js www/js/drop.js www/js/camera.js www/js/draw.js \
	www/js/gallery.js www/js/shrink.js
# Number mode and "compare all models" (#13, #14).
dist_wwwjs_DATA += www/js/mode.js www/js/reading.js www/js/compare.js
# "Run on: this browser" (the engine in WebAssembly).
dist_wwwjs_DATA += www/js/local.js

# The gallery's example pictures: MNIST test digits made by our own tools
# (tests/photos, the phone photos of tests/photo_gen.c; tests/mkdigit).
# Committed (small) so the page needs no MNIST; `make examples` (with the
# data set, `make data`) writes them again, the same bytes for the same
# libgd. Labels: photo 7 (test image 0), form 2 (test image 5 of the photo
# set), scan 4 (test image 4), drawing 9 (test image 9); number "4096"
# (tests/mknumber: the first MNIST test image of each digit, read in number
# mode).
wwwexamplesdir = $(wwwdir)/examples
dist_wwwexamples_DATA = www/examples/photo.jpg www/examples/form.jpg \
	www/examples/scan.jpg www/examples/drawing.png www/examples/number.png
examples: tests/photos tests/mkdigit tests/mknumber
	rm -rf tests/examples.tmp
	top_srcdir=$(top_srcdir) top_builddir=$(top_builddir) tests/photos --n 24 --dump tests/examples.tmp >/dev/null
	cp tests/examples.tmp/0000-shadow-label7-got7.jpg $(srcdir)/www/examples/photo.jpg
	cp tests/examples.tmp/0005-box-label2-got2.jpg $(srcdir)/www/examples/form.jpg
	top_builddir=$(top_builddir) tests/mkdigit --invert --scale 12 4 jpeg $(srcdir)/www/examples/scan.jpg >/dev/null
	top_builddir=$(top_builddir) tests/mkdigit --scale 10 9 png $(srcdir)/www/examples/drawing.png >/dev/null
	top_builddir=$(top_builddir) tests/mknumber 4096 $(srcdir)/www/examples/number.png
	rm -rf tests/examples.tmp
.PHONY: examples

TESTS += tests/test_browser.mjs
EXTRA_DIST += tests/test_browser.mjs tests/package.json tests/package-lock.json
# Number mode and "compare all models", on helpers shared with later tests.
TESTS += tests/test_browser_number.mjs
EXTRA_DIST += tests/test_browser_number.mjs tests/browser_lib.mjs
# Pictures for the README (screenshots taken by the browser test; the photo
# before/after sheet from tests/photos --dump), not served.
EXTRA_DIST += www/screenshot.png www/screenshot-phone-dark.png www/screenshot-live.png www/screenshot-number.png \
	www/photos-before-after.png

# Screenshots the browser test saves (git-ignored too).
clean-local: clean-www-artifacts
clean-www-artifacts:
	-rm -rf tests/artifacts
.PHONY: clean-www-artifacts
