#!/bin/sh
# test_deploy_haproxy.sh - deploy/haproxy/digits.cfg under Debian's HAProxy,
# started for real: FastCGI straight to two `digits.fcgi --listen` backends
# (started as deploy/systemd/digits@.service starts them), HAProxy in the
# foreground on the example with ports and paths substituted.  The API
# checks; one backend killed under load and brought back; the per-address
# limits from 127.0.0.2.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
need_server
[ -x "$HAPROXY" ] || skip_all "haproxy not found"

h=$TEST_TMP/haproxy
mkdir -p "$h"
cp -R "$top_srcdir/cgi-bin/errors" "$TEST_TMP/errors"
start_two_backends

sed -e "s|bind :80|bind 127.0.0.1:$port|; s|log /dev/log local0|log stdout format raw local0|" \
	-e "s|127.0.0.1:9001|127.0.0.1:$port_a|; s|127.0.0.1:9002|127.0.0.1:$port_b|" \
	-e "s|/srv/digits/www|$TEST_TMP|; s|/srv/digits/errors|$TEST_TMP/errors|g" \
	"$top_srcdir/deploy/haproxy/digits.cfg" >"$h/digits.cfg"
"$HAPROXY" -db -f "$h/digits.cfg" >>"$h/log" 2>&1 &
haproxy_pid=$!
trap 'kill "$haproxy_pid" "$pid_a" "$pid_b" 2>/dev/null; wait; cleanup' EXIT
URL=http://127.0.0.1:$port
if ! wait_up "$URL/api/v1/health" "$haproxy_pid"; then
	diag "haproxy did not come up; its log:"
	sed 's/^/#   /' "$h/log"
	echo "Bail out! haproxy did not start"
	exit 1
fi

check_api "$URL" haproxy api-only
"$CURL" -s -o "$TEST_TMP/body" -w '%{http_code} %{content_type}' "$URL/www.mk" >"$TEST_TMP/st"
is "$(cat "$TEST_TMP/st")" "404 application/json" "haproxy: nothing but the API (404 in JSON)"
# A body declared over 8 MiB: HAProxy decides once its buffer is full (it
# waits for the body, option http-buffer-request), so send 64 KiB of it and
# read the answer (curl sending all 9 MB races the early answer and close).
big=$(perl -MIO::Socket::INET -e '
	$SIG{PIPE} = "IGNORE";
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 5) or exit 1;
	print $s "POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
		. "Content-Length: 9000000\r\nConnection: close\r\n\r\n" . ("\0" x 65536);
	local $/; alarm 10; my $r = <$s>; print $r' "$port" 2>/dev/null | tr -d '\r')
is "$(printf '%s\n' "$big" | head -n 1 | cut -c1-12) $(printf '%s' "$big" | grep -ci '^content-type: application/json$') $(printf '%s' "$big" | grep -c '"code":"payload_too_large"')" \
	"HTTP/1.1 413 1 1" "haproxy: a body over 8 MiB refused with the API's 413"
check_failover "$URL" haproxy "000 "

if "$CURL" -s -o /dev/null --interface 127.0.0.2 "$URL/api/v1/health"; then
	for i in $(seq 1 200); do
		printf 'url = "%s/api/v1/health"\ninterface = "127.0.0.2"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{content_type}\\n"\n' "$URL"
	done >"$TEST_TMP/limit.conf"
	"$CURL" -s --parallel --parallel-immediate --parallel-max 100 -K "$TEST_TMP/limit.conf" >"$TEST_TMP/limit" 2>/dev/null
	sort "$TEST_TMP/limit" | uniq -c | sed 's/^/# from 127.0.0.2: /'
	# Over 16 connections HAProxy closes the connection unanswered (000).
	ok_cmd "200 requests at once from one address: some refused (429, or closed)" \
		grep -q -e '^429 application/json$' -e '^000 $' "$TEST_TMP/limit"
	ok_cmd "and some answered" grep -q '^200 application/json$' "$TEST_TMP/limit"
	"$CURL" -s -o "$TEST_TMP/body" "$URL/api/v1/health" -w '%{http_code}' >"$TEST_TMP/st"
	is "$(cat "$TEST_TMP/st")" 200 "127.0.0.1 meanwhile is not limited"
else
	skip 3 "cannot connect from 127.0.0.2"
fi
tap_done
