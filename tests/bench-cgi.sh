#!/bin/sh
# bench-cgi.sh - what a request costs when cgi-bin/digits.fcgi runs as plain
# CGI (one process per request, as under mod_cgi): health, and a predict of
# the same MNIST digit as a 28x28 PNG, JPEG and GIF (the GIF is the one that
# loads libgd).  usage: tests/bench_cgi [RUNS]  (default 200)
runs=${1:-200}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
DIGITS_MODEL_DIR=${DIGITS_MODEL_DIR:-$top_srcdir/models}
export DIGITS_MODEL_DIR
for f in png jpeg gif; do
	"$top_builddir/tests/mkdigit" --invert 0 $f "$tmp/7.$f" >/dev/null || exit 1
done
fcgi=$top_builddir/cgi-bin/digits.fcgi
echo "shared libraries mapped at start: $(ldd "$fcgi" | wc -l)"
"$top_builddir/tests/bench_cgi_exec" "$fcgi" "$runs" \
	png="$tmp/7.png" jpeg="$tmp/7.jpeg" gif="$tmp/7.gif"
