#!/bin/sh
# test_static.sh - lighttpd.conf serves nothing but the page from www/, and
# puts the security headers on every answer.
#
# Runs lighttpd.conf over a copy of the source tree's www/ with files that
# must never be served planted in it (a dotfile, a dot-directory, an editor
# backup, a text file beside the modules), so a refusal is proven against
# files that exist.  Checks build files (www.mk), dotfiles, traversal in
# every spelling, directory listing, and the headers on the page, the API,
# API errors, refusals and missing files.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
src=$TEST_TMP/src
mkdir -p "$src/cgi-bin"
cp "$top_srcdir/lighttpd.conf" "$src/"
cp -R "$top_srcdir/www" "$src/www"
cp -R "$top_srcdir/cgi-bin/errors" "$src/cgi-bin/errors"
chmod -R u+w "$src"
echo 'secret' >"$src/www/.env"
mkdir "$src/www/.git" && echo 'secret' >"$src/www/.git/config"
echo 'secret' >"$src/www/index.html~"
echo 'secret' >"$src/www/js/notes.txt"
ln -s "$src/lighttpd.conf" "$src/www/js/link.js"
chmod -R a+rX "$src"
start_server DIGITS_SRCDIR="$src" || { echo "Bail out! lighttpd did not start"; exit 1; }

# get PATH [CURL ARGS]: sets $status, $ctype and $body ($TEST_TMP/h: headers).
get() {
	p=$1
	shift
	out=$("$CURL" -s --path-as-is -o "$TEST_TMP/body" -D "$TEST_TMP/h" \
		-w '%{http_code} %{content_type}' "$@" "$BASE_URL$p")
	status=${out%% *}
	ctype=${out#* }
	body=$(cat "$TEST_TMP/body")
}

# --- what the page needs is served
get /
is "$status $ctype" "200 text/html; charset=utf-8" "/ serves index.html"
get /index.html
is "$status" 200 "/index.html"
get /style.css
is "$status $ctype" "200 text/css; charset=utf-8" "/style.css"
for m in "$top_srcdir"/www/js/*.js; do
	get "/js/${m##*/}"
	is "$status $ctype" "200 text/javascript; charset=utf-8" "/js/${m##*/}"
done

for e in "$top_srcdir"/www/examples/*; do
	get "/examples/${e##*/}"
	case "$e" in *.png) want=image/png ;; *) want=image/jpeg ;; esac
	is "$status $ctype" "200 $want" "/examples/${e##*/} (the gallery)"
done
get /examples/
is "$status" 404 "/examples/ is not listed"

# --- nothing else is: build files, dotfiles, backups, other files,
# directories (404, whether the file exists or not), symlinks
for p in /www.mk /.env /.git/config /.git/ /index.html~ /js/notes.txt \
	/screenshot.png /lighttpd.conf /js/ /js /.htaccess; do
	get "$p"
	case "$body" in *secret* | *server.port* | *EXTRA_DIST*) leaked=yes ;; *) leaked=no ;; esac
	is "$status $leaked" "404 no" "$p refused (404)"
done
get /js/link.js
is "$status $(grep -c server.port "$TEST_TMP/body")" "403 0" "a symlink where a module would be is not followed: 403"
get /js/nothing.js
is "$status" 404 "a module that does not exist: 404"
get /no-such-page.html
is "$status $ctype" "404 text/html" "a page that does not exist: 404"

# --- traversal, however it is spelt, never leaves www/ (lighttpd answers
# 400 for a path that still climbs out after decoding and simplifying)
for p in /../lighttpd.conf /js/../../lighttpd.conf /%2e%2e/lighttpd.conf \
	/js/%2e%2e/%2e%2e/lighttpd.conf /js/..%2f..%2flighttpd.conf /%2E%2E%2Flighttpd.conf \
	/js/../www.mk '/js/..\..\lighttpd.conf'; do
	get "$p"
	case "$body" in *server.port* | *EXTRA_DIST*) leaked=yes ;; *) leaked=no ;; esac
	case "$status" in 400 | 403 | 404) refused=yes ;; *) refused="no ($status)" ;; esac
	is "$refused $leaked" "yes no" "traversal $p refused"
done

# --- the security headers on every kind of answer
csp="Content-Security-Policy: default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
# headers WHAT: the four headers are in $TEST_TMP/h, each once.
headers() {
	n=0
	for h in "$csp" "X-Content-Type-Options: nosniff" "X-Frame-Options: DENY" \
		"Referrer-Policy: no-referrer"; do
		[ "$(tr -d '\r' <"$TEST_TMP/h" | grep -cixF "$h")" = 1 ] && n=$((n + 1))
	done
	is "$n" 4 "security headers on $1"
}
get /
headers "the page ($status)"
get /js/main.js
headers "a module ($status)"
get /api/v1/health
headers "the API ($status)"
get /api/v1/nothing
is "$status" 404 "an unknown API path: 404"
headers "an API error ($status)"
get /api/v1/predict -H 'Content-Type: image/png' --data-binary 'not a picture'
is "$status" 415 "a text body as a picture: 415"
headers "a predict error ($status)"
head -c 9000000 /dev/zero >"$TEST_TMP/big"
get /api/v1/predict -H 'Content-Type: image/png' --data-binary "@$TEST_TMP/big"
is "$status $ctype" "413 application/json" "a body over the limit: 413 (JSON) from lighttpd"
# (lighttpd refuses it before any module sees the request, so mod_setenv's
# headers are not on this one, nor on the other errors lighttpd raises while
# reading a request: 400, 411, 431.  Their bodies are JSON, never a page.)
get /www.mk
headers "a refused file ($status)"
get /.env
headers "a refused dotfile ($status)"
get /js/nothing.js
headers "a missing file ($status)"
tap_done
