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
"$top_builddir/tests/mkdigit" --invert --scale 21 0 jpeg "$TEST_TMP/photo.jpeg" >/dev/null
start_server || exit 1

# post.lua FILE TYPE: a wrk script that POSTs the file as the body.
post() {
	cat >"$TEST_TMP/post.lua" <<EOF
local f = assert(io.open("$1", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "$2"
EOF
}

# multipart FILE TYPE: the same file as the "image" part of a form, as
# browsers and curl -F send it.
multipart() {
	cat >"$TEST_TMP/post.lua" <<EOF
local f = assert(io.open("$1", "rb"))
local data = f:read("*a")
f:close()
local b = "digitsbench7d3f"
wrk.method = "POST"
wrk.body = "--" .. b .. "\\r\\nContent-Disposition: form-data; name=\\"image\\"; filename=\\"d\\"\\r\\n" ..
	"Content-Type: $2\\r\\n\\r\\n" .. data .. "\\r\\n--" .. b .. "--\\r\\n"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. b
EOF
}

# row NAME PATH CONNECTIONS [SCRIPT]
row() {
	# One wrk thread: the machine's cores are better spent serving.
	threads=1
	"$WRK" -t "$threads" -c "$3" -d "${secs}s" --latency ${4:+-s "$4"} "$BASE_URL$2" >"$TEST_TMP/wrk.out" 2>&1
	awk -v name="$1" -v c="$3" '
		/Requests\/sec:/ { rps = $2 }
		/^ +50%/ { p50 = $2 }
		/^ +99%/ { p99 = $2 }
		/Non-2xx/ { bad = $NF }
		END { printf "%-32s %5d %12.1f %10s %10s %8s\n", name, c, rps, p50, p99, bad ? bad : 0 }
	' "$TEST_TMP/wrk.out"
}

procs=$(ps -o pid= --ppid "$server_pid" | wc -l | tr -d ' ')
echo "digits HTTP benchmark: $procs FastCGI processes, $(nproc) cores, ${secs}s per row"
printf '%-32s %5s %12s %10s %10s %8s\n' "request" "conns" "requests/s" "p50" "p99" "non-2xx"
row "GET /api/v1/health" /api/v1/health 8
multipart "$TEST_TMP/mnist.png" image/png
for c in 1 8 32 64; do
	row "predict 28x28 PNG multipart" /api/v1/predict $c "$TEST_TMP/post.lua"
done
post "$TEST_TMP/mnist.png" image/png
row "predict 28x28 PNG raw body" /api/v1/predict 32 "$TEST_TMP/post.lua"
multipart "$TEST_TMP/photo.jpeg" image/jpeg
for c in 1 8 32 64; do
	row "predict 588x588 JPEG multipart" /api/v1/predict $c "$TEST_TMP/post.lua"
done

# Resident memory of each serving process after the load (the weights are
# mmap'ed: their pages are shared, yet counted in every process's RSS).
for pid in $(ps -o pid= --ppid "$server_pid"); do
	awk -v pid="$pid" '/^VmRSS/ { rss = $2 } /^RssFile/ { file = $2 }
		END { printf "FastCGI process %s: resident %.1f MB (file-backed, shared: %.1f MB)\n", pid, rss / 1024, file / 1024 }' \
		"/proc/$pid/status"
done
