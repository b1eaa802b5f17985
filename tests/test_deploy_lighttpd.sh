#!/bin/sh
# test_deploy_lighttpd.sh - deploy/lighttpd/digits.conf (two fastcgi.server
# hosts) and deploy/logrotate/digits, started for real: two `digits.fcgi
# --listen` backends started as deploy/systemd/digits@.service starts them,
# lighttpd in the foreground on the example with ports and paths
# substituted.  The core API checks; one backend killed under load and
# brought back; then logrotate rotates lighttpd's log and lighttpd writes
# to the new one.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
[ "$(id -u)" = 0 ] || skip_all "the example starts as root and switches to www-data"
id www-data >/dev/null 2>&1 || skip_all "no www-data user"

l=$TEST_TMP/lighttpd
mkdir -p "$l/log"
chown www-data "$l/log"
copy_page "$TEST_TMP/site"
# The backends' model directory, served at /models/ too.
copy_models "$TEST_TMP"
DIGITS_MODEL_DIR=$TEST_TMP/models
cp -R "$top_srcdir/cgi-bin/errors" "$TEST_TMP/errors"
chmod -R a+rX "$TEST_TMP/errors"

start_two_backends

sed -e "s|^server.port = 80|server.port = $port|; s|^server.bind = \"0.0.0.0\"|server.bind = \"127.0.0.1\"|" \
	-e "s|\"port\" => 9001|\"port\" => $port_a|; s|\"port\" => 9002|\"port\" => $port_b|" \
	-e "s|/srv/digits/www|$TEST_TMP/site|; s|/srv/digits/errors|$TEST_TMP/errors|" \
	-e "s|/usr/local/share/digits/models/|$DIGITS_MODEL_DIR/|" \
	-e "s|/var/log/lighttpd/digits-error.log|$l/log/digits-error.log|; s|/run/lighttpd-digits.pid|$l/pid|" \
	"$top_srcdir/deploy/lighttpd/digits.conf" >"$l/digits.conf"
"$LIGHTTPD" -D -f "$l/digits.conf" >>"$l/stderr" 2>&1 &
lighttpd_pid=$!
trap 'kill "$lighttpd_pid" "$pid_a" "$pid_b" 2>/dev/null; wait; cleanup' EXIT
URL=http://127.0.0.1:$port
if ! wait_up "$URL/api/v1/health" "$lighttpd_pid"; then
	diag "lighttpd did not come up; its logs:"
	cat "$l/stderr" "$l/log/digits-error.log" 2>/dev/null | sed 's/^/#   /'
	echo "Bail out! lighttpd did not start"
	exit 1
fi

check_api "$URL" "lighttpd, two hosts"

check_browser_files "$URL" "lighttpd, two hosts"
check_failover "$URL" "lighttpd, two hosts"

# logrotate: the snippet as it is, paths substituted, forced; lighttpd
# reopens its log on SIGHUP, and its next line goes to the new file.
LOGROTATE=${LOGROTATE:-$(command -v logrotate || echo /usr/sbin/logrotate)}
if [ -x "$LOGROTATE" ]; then
	sed -e "s|/var/log/lighttpd/digits-error.log|$l/log/digits-error.log|; s|/run/lighttpd-digits.pid|$l/pid|" \
		"$top_srcdir/deploy/logrotate/digits" >"$l/logrotate.conf"
	before=$(wc -l <"$l/log/digits-error.log" | tr -d ' ')
	"$LOGROTATE" -f -s "$l/logrotate.state" "$l/logrotate.conf" 2>"$l/logrotate.err"
	is "$? $(wc -l <"$l/log/digits-error.log.1" | tr -d ' ')" "0 $before" \
		"logrotate moved lighttpd's log ($before lines) to digits-error.log.1"
	# lighttpd logs a body over the limit; wait for it to reopen first.
	for _ in $(seq 1 50); do
		[ -f "$l/log/digits-error.log" ] && break
		sleep 0.1
	done
	head -c 9000000 /dev/zero | "$CURL" -s -o /dev/null -H 'Content-Type: image/png' --data-binary @- \
		"$URL/api/v1/predict"
	sleep 0.5
	ok_cmd "lighttpd writes to the new log after the rotation" \
		grep -q 'request-size too long' "$l/log/digits-error.log"
	ok_cmd "and no longer to the old one" test "$(grep -c 'request-size too long' "$l/log/digits-error.log.1")" = 0
	ok_cmd "lighttpd kept serving" "$CURL" -fs -o /dev/null "$URL/api/v1/health"
else
	skip 4 "logrotate not found"
fi
tap_done
