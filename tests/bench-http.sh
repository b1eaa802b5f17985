#!/bin/sh
# bench-http.sh - HTTP throughput and latency of the whole service (lighttpd,
# FastCGI, decode, network) with wrk; prints a table.  Run by `make bench`
# (as tests/bench_http), or by hand with top_srcdir and top_builddir set.
#
#   DIGITS_BENCH_SECONDS (default 10) per row; DIGITS_PROCS as in lighttpd.conf.
# Needs wrk, lighttpd, models and the MNIST test set (for the picture).
skip_all() {
	echo "bench_http: skipped: $1"
	exit 0
}
diag() {
	echo "# $*"
}
. "$top_srcdir/tests/lib.sh"

WRK=${WRK:-$(command -v wrk)}
[ -n "$WRK" ] || skip_all "wrk not found"
need_server
secs=${DIGITS_BENCH_SECONDS:-10}
"$top_builddir/tests/mkdigit" 0 png "$TEST_TMP/mnist.png" >/dev/null 2>"$TEST_TMP/err" ||
	skip_all "$(cat "$TEST_TMP/err")"
"$top_builddir/tests/mkdigit" --invert --scale 18 0 jpeg "$TEST_TMP/photo.jpeg" >/dev/null
start_server || exit 1

# post.lua FILE TYPE: a wrk script that POSTs the file.
post() {
	cat >"$TEST_TMP/post.lua" <<EOF
local f = assert(io.open("$1", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "$2"
EOF
}

# row NAME PATH CONNECTIONS [SCRIPT]
row() {
	threads=2
	[ "$3" -lt 2 ] && threads=1
	"$WRK" -t "$threads" -c "$3" -d "${secs}s" --latency ${4:+-s "$4"} "$BASE_URL$2" >"$TEST_TMP/wrk.out" 2>&1
	awk -v name="$1" -v c="$3" '
		/Requests\/sec:/ { rps = $2 }
		/^ +50%/ { p50 = $2 }
		/^ +99%/ { p99 = $2 }
		/Non-2xx/ { bad = $NF }
		END { printf "%-28s %5d %12.1f %10s %10s %8s\n", name, c, rps, p50, p99, bad ? bad : 0 }
	' "$TEST_TMP/wrk.out"
}

procs=$(ps -o pid= --ppid "$server_pid" | wc -l | tr -d ' ')
echo "digits HTTP benchmark: $procs FastCGI processes, $(nproc) cores, ${secs}s per row"
printf '%-28s %5s %12s %10s %10s %8s\n' "request" "conns" "requests/s" "p50" "p99" "non-2xx"
row "GET /api/v1/health" /api/v1/health 8
post "$TEST_TMP/mnist.png" image/png
row "predict 28x28 PNG" /api/v1/predict 1 "$TEST_TMP/post.lua"
row "predict 28x28 PNG" /api/v1/predict 8 "$TEST_TMP/post.lua"
row "predict 28x28 PNG" /api/v1/predict 32 "$TEST_TMP/post.lua"
post "$TEST_TMP/photo.jpeg" image/jpeg
row "predict 504x504 JPEG" /api/v1/predict 8 "$TEST_TMP/post.lua"
