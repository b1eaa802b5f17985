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
	www/js/cards.js www/js/queue.js www/js/drop.js www/js/camera.js www/js/draw.js

TESTS += tests/test_browser.mjs
EXTRA_DIST += tests/test_browser.mjs tests/package.json tests/package-lock.json
# Pictures for the README (screenshots taken by the browser test; the photo
# before/after sheet from tests/photos --dump), not served.
EXTRA_DIST += www/screenshot.png www/screenshot-phone-dark.png www/photos-before-after.png

# Screenshots the browser test saves (git-ignored too).
clean-local: clean-www-artifacts
clean-www-artifacts:
	-rm -rf tests/artifacts
.PHONY: clean-www-artifacts
