#!/bin/sh
# test_privileges.sh - who the program runs as, and what a client can set.
# Started as root, digits.fcgi becomes DIGITS_USER (default nobody) before
# it reads a model or a request, and refuses to serve --listen as root; a
# header a client sends (HTTP_* in a CGI environment, or a FastCGI param)
# changes no setting: the model directory, the limits, the user and the
# metrics come only from the environment the operator gave the process.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

FCGI=$top_builddir/cgi-bin/digits.fcgi
need_server
MKDIGIT=$top_builddir/tests/mkdigit
label=$("$MKDIGIT" --invert --scale 10 0 png "$TEST_TMP/7.png" 2>"$TEST_TMP/err") ||
	skip_all "$(cat "$TEST_TMP/err")"
size=$(wc -c <"$TEST_TMP/7.png" | tr -d ' ')
OUT=$TEST_TMP/out

# cgi VAR=value... < body: one CGI request to /api/v1/predict (or GET
# PATH_INFO=... given); $status from the Status: line.
cgi() {
	env -i PATH="$PATH" DIGITS_MODEL_DIR="$DIGITS_MODEL_DIR" GATEWAY_INTERFACE=CGI/1.1 \
		REQUEST_METHOD=POST PATH_INFO=/api/v1/predict SCRIPT_NAME=/cgi-bin/digits.fcgi \
		CONTENT_TYPE=image/png CONTENT_LENGTH="$size" "$@" "$FCGI" >"$OUT" 2>"$TEST_TMP/cgi.err"
	status=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$OUT" | tr -d '\r')
}

# 1. Client-set headers in CGI: every setting spelled as a header.
cgi HTTP_DIGITS_MODEL_DIR=/nonexistent HTTP_DIGITS_MAX_BODY=1024 HTTP_DIGITS_MAX_IMAGES=0 \
	HTTP_DIGITS_MAX_SIDE=28 HTTP_DIGITS_USER=root HTTP_DIGITS_THREADS=bad \
	HTTP_DIGITS_MAX_REQUESTS=x HTTP_DIGITS_METRICS_SHM=/x HTTP_FCGI_WEB_SERVER_ADDRS=10.9.9.9 \
	<"$TEST_TMP/7.png"
is "$status" 200 "CGI: HTTP_DIGITS_* headers change no limit (a $size-byte body, 'max 1024', answered)"
ok_cmd "CGI: and no model directory (the real models answered)" grep -q "\"digit\":$label" "$OUT"
ok_cmd "CGI: nothing about them in the log but the request" sh -c "! grep -v '^{\"time\"' '$TEST_TMP/cgi.err' | grep -q ."
cgi DIGITS_MAX_BODY=1024 <"$TEST_TMP/7.png"
is "$status" 413 "CGI: (the same setting from the operator's environment does apply: 413)"

# 2. Through lighttpd (FastCGI): headers named like the settings.
start_server DIGITS_PROCS=1 || { echo "Bail out! lighttpd did not start"; exit 1; }
code=$("$CURL" -s -o "$OUT" -w '%{http_code}' -H 'Content-Type: image/png' \
	-H 'Digits-Max-Body: 1024' -H 'Digits-Model-Dir: /nonexistent' -H 'Digits-User: root' \
	-H 'Digits-Max-Images: 0' --data-binary "@$TEST_TMP/7.png" "$BASE_URL/api/v1/predict")
is "$code $(sed -n 's/^{"digit":\([0-9]\).*/\1/p' "$OUT")" "200 $label" "FastCGI: Digits-* headers change nothing"
stop_server

if [ "$(id -u)" != 0 ]; then
	skip 9 "privilege tests need root"
	tap_done
fi
nobody=$(id -u nobody)

# 3. --listen as root becomes nobody, after binding.
port=$(free_port)
env -u DIGITS_USER "$FCGI" --listen "127.0.0.1:$port" 2>"$TEST_TMP/listen.err" &
lpid=$!
for _ in $(seq 1 50); do grep -q listening "$TEST_TMP/listen.err" && break; sleep 0.1; done
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$lpid/status" 2>/dev/null)
is "$uids" "$nobody $nobody $nobody $nobody" "--listen started as root runs as nobody (real, effective, saved, fs uid)"
groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$lpid/status" 2>/dev/null | tr -d ' ')
is "$groups" "$(id -g nobody)" "and with nobody's group only"
kill -TERM "$lpid"
wait "$lpid"
is "$?" 0 "and still ends cleanly on SIGTERM"

# 4. Refusals: an empty DIGITS_USER, root, or no such user.
for u in "" root no-such-user-digits; do
	DIGITS_USER=$u timeout 10 "$FCGI" --listen "127.0.0.1:$(free_port)" 2>"$TEST_TMP/refuse.err"
	rc=$?
	is "$rc $(grep -c 'refusing to serve' "$TEST_TMP/refuse.err")" "1 1" \
		"--listen as root with DIGITS_USER='$u': refuses (exit 1, says why)"
done

# 5. CGI as root drops too: a model directory only root can read is refused.
mkdir "$TEST_TMP/private" && cp "$DIGITS_MODEL_DIR"/*.model "$TEST_TMP/private/" && chmod 700 "$TEST_TMP/private"
env -i PATH="$PATH" DIGITS_MODEL_DIR="$TEST_TMP/private" REQUEST_METHOD=GET \
	PATH_INFO=/api/v1/health "$FCGI" >"$OUT" 2>"$TEST_TMP/cgi.err" </dev/null
is "$?:$(grep -c 'Permission denied' "$TEST_TMP/cgi.err")" "1:1" \
	"CGI as root reads models as nobody (a root-only directory: refused)"

# 6. The development fallback: lighttpd itself kept as root (serve.sh sets
# DIGITS_USER= when www-data cannot read the trees) passes the empty
# DIGITS_USER on; the processes serve as root and say so.
start_server DIGITS_PROCS=1 DIGITS_USER= || { echo "Bail out! lighttpd did not start"; exit 1; }
is "$(ps -o user= --ppid "$server_pid" | tr -d ' ')" root "DIGITS_USER= under lighttpd: the process stays root"
ok_cmd "and warns in the log" grep -q 'warning: serving as root (DIGITS_USER is empty)' "$SERVER_LOG"
tap_done
