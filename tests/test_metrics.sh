#!/bin/sh
# test_metrics.sh - the service's metrics through lighttpd: one scrape
# answers for every FastCGI process (shared memory), a process killed with
# SIGKILL and respawned never makes a total go down, DIGITS_MAX_REQUESTS
# recycles processes under load without a failed request, and with /dev/shm
# full the service keeps serving on per-process counters and says so.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
"$CURL" --help all 2>/dev/null | grep -q -- --parallel-max || skip_all "curl without --parallel"
MKDIGIT=$top_builddir/tests/mkdigit
"$MKDIGIT" --invert 7 png "$TEST_TMP/7.png" >/dev/null 2>"$TEST_TMP/err" || skip_all "$(cat "$TEST_TMP/err")"
# A slower picture: with several in flight, both processes are busy.
"$MKDIGIT" --invert --scale 20 3 png "$TEST_TMP/3.png" >/dev/null

# load N PARALLEL FILE: N predictions of FILE, PARALLEL at a time, in the
# background; one status per line into $TEST_TMP/load.
load() {
	i=0
	while [ "$i" -lt "$1" ]; do
		[ "$i" -gt 0 ] && echo next
		printf 'url = "%s/api/v1/predict"\nheader = "Content-Type: image/png"\ndata-binary = "@%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$BASE_URL" "$3"
		i=$((i + 1))
	done >"$TEST_TMP/load.conf"
	timeout 120 "$CURL" -s --parallel --parallel-max "$2" -K "$TEST_TMP/load.conf" >"$TEST_TMP/load" 2>/dev/null &
	load_pid=$!
}
count() { grep -c "^$1\$" "$TEST_TMP/load"; }
# scrape: the metrics text into $TEST_TMP/metrics.
scrape() { "$CURL" -s --max-time 10 "$BASE_URL/api/v1/metrics" >"$TEST_TMP/metrics"; }
# metric LINE-START: the value of the first line starting so, else 0.
metric() {
	awk -v k="$1" 'index($0, k) == 1 { print $NF; found = 1; exit } END { if (!found) print 0 }' "$TEST_TMP/metrics"
}
children() { ps -o pid= --ppid "$server_pid" | tr -d ' '; }

# 1. Two processes, one scrape.
start_server DIGITS_PROCS=2 || { echo "Bail out! lighttpd did not start"; exit 1; }
load 200 8 "$TEST_TMP/3.png"
wait "$load_pid"
is "$(count 200)" 200 "200 predictions at 8 concurrent: all 200"
scrape
is "$(metric 'digits_http_requests_total{endpoint="predict",status="200"}')" 200 \
	"one scrape counts all 200 predictions"
is "$(metric 'digits_predictions_total{model="cnn"}')" 200 "and 200 images classified by cnn"
is "$(metric 'digits_request_seconds_count')" 200 "and 200 in the latency histogram"
is "$(metric 'digits_metrics_shared')" 1 "the counts are shared"
is "$(metric 'digits_processes')" 2 "two processes count into them"
served=$(grep -c '^digits_process_requests_total{slot="[0-9]*",pid="[0-9]*"} [1-9]' "$TEST_TMP/metrics")
is "$served" 2 "both processes served requests (per-slot lines)"
slots=$(awk '/^digits_process_requests_total/ { s += $NF } END { print s }' "$TEST_TMP/metrics")
is "$slots" 201 "the per-slot lines add up to the total (200 + the scrape)"
segment=$(grep -o '/dev/shm/digits-[0-9a-f]*' "/proc/$(children | head -n 1)/maps" | head -n 1)
ok_cmd "the processes map one segment, $segment" test -n "$segment" -a -f "$segment"

# 2. SIGKILL one under load: the totals do not go down, the new process adds.
before=$(metric 'digits_http_requests_total{endpoint="predict",status="200"}')
load 60 4 "$TEST_TMP/3.png"
sleep 0.3
victim=$(children | head -n 1)
kill -KILL "$victim"
wait "$load_pid"
good=$(count 200)
ok_cmd "SIGKILL under load: the others were answered ($good of 60 got 200)" test "$good" -ge 56
for _ in $(seq 1 50); do
	[ "$(children | wc -l)" = 2 ] && ! children | grep -qx "$victim" && break
	"$CURL" -s -o /dev/null -H 'Content-Type: image/png' --data-binary "@$TEST_TMP/7.png" "$BASE_URL/api/v1/predict"
	sleep 0.1
done
ok_cmd "the killed process was replaced" sh -c "[ \"\$(ps -o pid= --ppid $server_pid | wc -l)\" = 2 ] && ! ps -o pid= --ppid $server_pid | tr -d ' ' | grep -qx $victim"
load 100 4 "$TEST_TMP/7.png"
wait "$load_pid"
is "$(count 200)" 100 "100 more after the respawn: all 200"
scrape
after=$(metric 'digits_http_requests_total{endpoint="predict",status="200"}')
ok_cmd "the total went from $before to $after: it kept the killed process's counts ($good + 100 more at least)" \
	test "$after" -ge $((before + good + 100))
is "$(metric 'digits_processes')" 2 "two live processes after the respawn"
stop_server
# lighttpd's children get their SIGTERM as it exits: give the last one a
# moment (a busy machine) to finish its request and remove the segment.
for _ in $(seq 1 50); do
	[ -e "$segment" ] || break
	sleep 0.1
done
ok_cmd "the segment is removed when the service stops" test ! -e "$segment"

# 3. DIGITS_MAX_REQUESTS=50 under load: 1000 requests at 16 concurrent.
: >"$SERVER_LOG"
start_server DIGITS_PROCS=2 DIGITS_MAX_REQUESTS=50 || { echo "Bail out! lighttpd did not start"; exit 1; }
pids=$(children | sort | tr '\n' ' ')
load 1000 16 "$TEST_TMP/7.png"
wait "$load_pid"
is "$(count 200)" 1000 "DIGITS_MAX_REQUESTS=50: 1000 requests at 16 concurrent, all 200"
grep -v '^200$' "$TEST_TMP/load" | sort | uniq -c | sed 's/^/# failed: /'
recycled=$(grep -c '"event":"recycle","message":"served 50 requests' "$SERVER_LOG")
ok_cmd "processes started afresh every 50 requests ($recycled times, one log line each)" \
	test "$recycled" -ge 18
ok_cmd "and never left: no 'child exited' in lighttpd's log" sh -c "! grep -q 'child exited' '$SERVER_LOG'"
is "$(children | sort | tr '\n' ' ')" "$pids" "the same two pids (each process re-executed itself)"
scrape
is "$(metric 'digits_http_requests_total{endpoint="predict",status="200"}')" 1000 \
	"the metrics kept counting across the recycling: 1000"
stop_server

# 4. A --listen process recycles too (its socket becomes fd 0 of the new
# image), behind a lighttpd that only forwards.
fport=$(free_port)
DIGITS_MAX_REQUESTS=3 "$top_builddir/cgi-bin/digits.fcgi" --listen "127.0.0.1:$fport" 2>"$TEST_TMP/listen.log" &
fpid=$!
hport=$(free_port)
cat >"$TEST_TMP/front.conf" <<EOF
server.modules += ("mod_fastcgi")
server.document-root = "$TEST_TMP"
server.bind = "127.0.0.1"
server.port = $hport
fastcgi.server = ("/api/" => (("host" => "127.0.0.1", "port" => $fport, "check-local" => "disable")))
EOF
"$LIGHTTPD" -D -f "$TEST_TMP/front.conf" 2>"$TEST_TMP/front.log" &
hpid=$!
for _ in $(seq 1 50); do "$CURL" -fs -o /dev/null "http://127.0.0.1:$hport/api/v1/health" && break; sleep 0.1; done
codes=$(for i in $(seq 1 11); do "$CURL" -s --max-time 10 -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$hport/api/v1/health"; done)
is "$codes" "200 200 200 200 200 200 200 200 200 200 200 " "--listen with DIGITS_MAX_REQUESTS=3: 11 more requests, all 200"
"$CURL" -s --max-time 10 "http://127.0.0.1:$hport/api/v1/metrics" >"$TEST_TMP/metrics"
is "$(metric 'digits_http_requests_total{endpoint="health",status="200"}')" 12 "its metrics count all 12 across 4 recyclings"
is "$(grep -c '"event":"recycle"' "$TEST_TMP/listen.log")" 4 "one log line per recycling"
kill -TERM "$fpid"
wait "$fpid"
is "$?" 0 "and SIGTERM still ends it cleanly"
kill "$hpid"
wait "$hpid" 2>/dev/null

# 5. /dev/shm full (a private 8 KiB tmpfs in a mount namespace): the
# processes log why and count alone; the service keeps serving.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	: >"$SERVER_LOG"
	start_server DIGITS_PROCS=2 unshare -m sh -c \
		'mount -t tmpfs -o size=8k tmpfs /dev/shm && exec "$0" "$@"' ||
		{ echo "Bail out! lighttpd did not start"; exit 1; }
	load 20 4 "$TEST_TMP/7.png"
	wait "$load_pid"
	is "$(count 200)" 20 "/dev/shm full: predictions still answered 200"
	scrape
	is "$(metric 'digits_metrics_shared')" 0 "/dev/shm full: the scrape says the counts are per process"
	lines=$(grep -c '"event":"metrics_private","message":"metrics are this process.s only: shm .*cannot reserve [0-9]* bytes: No space left on device"' "$SERVER_LOG")
	is "$lines" 2 "/dev/shm full: one JSON log line per process saying why"
	stop_server
else
	skip 3 "/dev/shm full needs root and unshare -m"
fi
tap_done
