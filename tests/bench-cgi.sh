#!/bin/sh
# bench-cgi.sh - what a request costs when cgi-bin/digits.fcgi runs as plain
# CGI (one process per request, as under mod_cgi): health, and a predict of
# the same MNIST digit as a 28x28 PNG, JPEG and GIF (the GIF is the one that
# loads libgd); then the same requests one at a time through lighttpd and
# FastCGI (curl's time_total, median of RUNS), for comparison.
# usage: tests/bench_cgi [RUNS]  (default 200)
runs=${1:-200}
tmp=$(mktemp -d) || exit 1
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait; rm -rf "$tmp"' EXIT
DIGITS_MODEL_DIR=${DIGITS_MODEL_DIR:-$top_srcdir/models}
export DIGITS_MODEL_DIR
for f in png jpeg gif; do
	"$top_builddir/tests/mkdigit" --invert 0 $f "$tmp/7.$f" >/dev/null || exit 1
done
fcgi=$top_builddir/cgi-bin/digits.fcgi
echo "shared libraries mapped at start: $(ldd "$fcgi" | wc -l)"
"$top_builddir/tests/bench_cgi_exec" "$fcgi" "$runs" \
	png="$tmp/7.png" jpeg="$tmp/7.jpeg" gif="$tmp/7.gif"

# FastCGI: lighttpd with the project's configuration on a free loopback port.
LIGHTTPD=${LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
[ -x "$LIGHTTPD" ] && command -v curl >/dev/null || { echo "no lighttpd or curl: FastCGI skipped"; exit 0; }
port=$((20000 + $$ % 10000))
# The sockets are made after lighttpd drops to www-data (as in tests/lib.sh).
chmod 711 "$tmp" && mkdir "$tmp/run" && chmod 1777 "$tmp/run"
DIGITS_SOCKET=$tmp/run/fcgi.sock sh "$top_srcdir/tests/serve.sh" "$port" >"$tmp/server.log" 2>&1 &
server=$!
up=no
for _ in $(seq 1 100); do
	curl -fs -o /dev/null "http://127.0.0.1:$port/api/v1/health" && up=yes && break
	sleep 0.1
done
[ $up = yes ] || { echo "lighttpd did not answer; its log:"; cat "$tmp/server.log"; exit 1; }
url=http://127.0.0.1:$port/api/v1
echo "lighttpd + FastCGI on 127.0.0.1:$port, $runs requests each, one at a time, ms"
printf '%-8s %8s %8s %8s %8s\n' request median p10 p90 non-200
for what in health png jpeg gif; do
	i=0
	while [ $i -lt "$runs" ]; do
		if [ $what = health ]; then
			curl -s -o /dev/null --max-time 10 -w '%{time_total} %{http_code}\n' "$url/health"
		else
			curl -s -o /dev/null --max-time 10 -w '%{time_total} %{http_code}\n' \
				-H 'Content-Type: application/octet-stream' \
				--data-binary "@$tmp/7.$what" "$url/predict"
		fi
		i=$((i + 1))
	done | sort -n | awk -v w=$what '{ t[NR] = $1 * 1000; bad += $2 != 200 }
		END { printf "%-8s %8.2f %8.2f %8.2f %8d\n", w, t[int(NR / 2) + 1], t[int(NR / 10) + 1], t[NR - int(NR / 10)], bad }'
done
