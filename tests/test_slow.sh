#!/bin/sh
# test_slow.sh - slow and abusive clients cannot take the service offline.
#
# From 127.0.0.2 (tests/abuse.pl): 1,000 connections that send nothing, 600
# that trickle one byte every 10 s, 50 that send a POST's headers and never
# its body, and 20 that pipeline 64 requests each; every connection the
# server closes is reopened at once.  Meanwhile a good client on 127.0.0.1
# asks for health and a prediction twice a second: each must be answered,
# right, within 1 s.  With the old limits (512 connections, 30 s read idle)
# the good requests timed out ("connection limit reached") for as long as
# the abuse went on.  Runs for about 25 s; every process is stopped at exit.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
PERL=${PERL:-$(command -v perl)}
[ -n "$PERL" ] || skip_all "perl not found"
"$CURL" -s -o /dev/null --max-time 2 --interface 127.0.0.2 http://127.0.0.2:9/
[ $? -ne 45 ] || skip_all "cannot bind to 127.0.0.2"
# The abuser holds ~1,700 sockets, lighttpd as many (it asks for 16,384
# fds: it raises the limit itself as root, within the hard limit).  Never
# lower a limit here: lighttpd inherits it.
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 4096 ] || ulimit -Sn 4096 2>/dev/null ||
	skip_all "cannot open 4,096 files (ulimit -n $(ulimit -n))"
"$top_builddir/tests/mkdigit" --invert 0 png "$TEST_TMP/7.png" >"$TEST_TMP/label" 2>"$TEST_TMP/err" ||
	skip_all "$(cat "$TEST_TMP/err")"
start_server DIGITS_PROCS=2 || { echo "Bail out! lighttpd did not start"; exit 1; }

seconds=25
"$PERL" "$top_srcdir/tests/abuse.pl" --port "$SERVER_PORT" --from 127.0.0.2 \
	--idle 1000 --trickle 600 --every 10 --nobody 50 --pipeline 20 \
	--seconds "$seconds" >"$TEST_TMP/abuse" 2>&1 &
abuse_pid=$!
for _ in $(seq 1 200); do
	grep -q '^ready$' "$TEST_TMP/abuse" && break
	kill -0 "$abuse_pid" 2>/dev/null || break
	sleep 0.1
done
ok_cmd "the abuser opened its connections" grep -q '^ready$' "$TEST_TMP/abuse"

# good: one health and one prediction from 127.0.0.1, each bounded to 1 s
# (connection included); appends "STATUS DIGIT" lines to $TEST_TMP/good.
good() {
	"$CURL" -s --interface 127.0.0.1 --max-time 1 -o "$TEST_TMP/h" -w '%{http_code} -\n' \
		"$BASE_URL/api/v1/health" >>"$TEST_TMP/good"
	rm -f "$TEST_TMP/p"
	"$CURL" -s --interface 127.0.0.1 --max-time 1 -o "$TEST_TMP/p" -w '%{http_code} ' \
		-H 'Content-Type: image/png' --data-binary "@$TEST_TMP/7.png" \
		"$BASE_URL/api/v1/predict" >>"$TEST_TMP/good"
	printf '%s\n' "$(sed -n 's/^{"digit":\([0-9]\).*/\1/p' "$TEST_TMP/p" 2>/dev/null)" >>"$TEST_TMP/good"
}
: >"$TEST_TMP/good"
pipelined=
while kill -0 "$abuse_pid" 2>/dev/null; do
	good
	[ -n "$pipelined" ] ||
		pipelined=$("$PERL" "$top_srcdir/tests/abuse.pl" --port "$SERVER_PORT" --check-pipeline 10 2>&1)
	sleep 0.5
done
wait "$abuse_pid"
sed 's/^/# abuse: /' "$TEST_TMP/abuse"
n=$(wc -l <"$TEST_TMP/good" | tr -d ' ')
label=$(cat "$TEST_TMP/label")
bad=$(grep -v -e '^200 -$' -e "^200 $label\$" "$TEST_TMP/good" | wc -l | tr -d ' ')
ok_cmd "good requests kept coming during ${seconds} s of abuse ($n, at least 20)" test "$n" -ge 20
is "$bad" 0 "every good request answered 200 (and $label) within 1 s"
grep -v -e '^200 -$' -e "^200 $label\$" "$TEST_TMP/good" | sort | uniq -c | sed 's/^/# failed: /'
is "$pipelined" 10 "10 pipelined requests on one connection: 10 answers"

# kind FIELD KIND: a count from the abuser's report.
kind() {
	awk -v f="$1" -v k="$2" '$1 == k { for (i = 2; i < NF; i += 2) if ($i == f) print $(i + 1) }' \
		"$TEST_TMP/abuse"
}
is "$(kind failed idle) $(kind failed trickle)" "0 0" \
	"the server accepted all 1,600 idle and trickling connections"
ok_cmd "the idle ones were still open or dropped after the read timeout" \
	test "$(kind opened idle)" -ge 1000
ok_cmd "connections that never send the body are dropped within 25 s ($(kind closed nobody) of 50)" \
	test "$(kind closed nobody)" -ge 50
ok_cmd "the server stayed up" kill -0 "$server_pid"
tap_done
