#!/bin/sh
# test_deploy_nginx.sh - deploy/nginx/digits.conf under Debian's nginx,
# started for real: two `digits.fcgi --listen` backends started as
# deploy/systemd/digits@.service starts them, nginx in the foreground with a
# configuration of its own around the example (ports and paths substituted;
# never /etc/nginx's, never port 80).  The core API checks; one backend
# killed under load (only its in-flight requests fail) and brought back
# (traffic returns to it); the per-address limits, from 127.0.0.2.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
need_server
[ -x "$NGINX" ] || skip_all "nginx not found"
[ -f /etc/nginx/fastcgi_params ] || skip_all "no /etc/nginx/fastcgi_params"
[ "$(id -u)" = 0 ] || skip_all "nginx must start as root to switch to www-data"
id www-data >/dev/null 2>&1 || skip_all "no www-data user"

n=$TEST_TMP/nginx
mkdir -p "$n/temp" "$n/body"
chown www-data "$n/temp" "$n/body"
copy_page "$TEST_TMP/site"
# The backends' model directory, served at /models/ too.
copy_models "$TEST_TMP"
DIGITS_MODEL_DIR=$TEST_TMP/models
cp -R "$top_srcdir/cgi-bin/errors" "$TEST_TMP/errors"
chmod -R a+rX "$TEST_TMP/errors"

start_two_backends

sed -e "s|listen 80;|listen 127.0.0.1:$port;|" \
	-e "s|127.0.0.1:9001|127.0.0.1:$port_a|; s|127.0.0.1:9002|127.0.0.1:$port_b|" \
	-e "s|/srv/digits/www|$TEST_TMP/site|; s|/srv/digits/errors|$TEST_TMP/errors|" \
	-e "s|/usr/local/share/digits/models/|$DIGITS_MODEL_DIR/|" \
	-e "s|/dev/shm/nginx-digits-body|$n/body|" \
	"$top_srcdir/deploy/nginx/digits.conf" >"$n/digits.conf"
cp /etc/nginx/fastcgi_params "$n/"
cat >"$n/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user www-data;
pid $n/nginx.pid;
error_log $n/error.log warn;
events {
	worker_connections 1024;
}
http {
	access_log off;
	fastcgi_temp_path $n/temp/fastcgi;
	proxy_temp_path $n/temp/proxy;
	uwsgi_temp_path $n/temp/uwsgi;
	scgi_temp_path $n/temp/scgi;
	include $n/digits.conf;
}
EOF
"$NGINX" -p "$n" -c "$n/nginx.conf" -e "$n/error.log" >>"$n/error.log" 2>&1 &
nginx_pid=$!
trap 'kill "$nginx_pid" "$pid_a" "$pid_b" 2>/dev/null; wait; cleanup' EXIT
if ! wait_up "http://127.0.0.1:$port/api/v1/health" "$nginx_pid"; then
	diag "nginx did not come up; its log:"
	sed 's/^/#   /' "$n/error.log"
	echo "Bail out! nginx did not start"
	exit 1
fi
URL=http://127.0.0.1:$port

check_api "$URL" nginx

check_browser_files "$URL" nginx
check_failover "$URL" nginx

# Per-address limits (loopback is exempt, so the client is 127.0.0.2):
# 200 requests, 100 at a time, pass 16 connections and 20 requests/s + 40
# burst however slowly the backends answer.
if "$CURL" -s -o /dev/null --interface 127.0.0.2 "$URL/api/v1/health"; then
	for i in $(seq 1 200); do
		[ "$i" -gt 1 ] && echo next
		printf 'url = "%s/api/v1/health"\ninterface = "127.0.0.2"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{content_type}\\n"\n' "$URL"
	done >"$TEST_TMP/limit.conf"
	"$CURL" -s --parallel --parallel-immediate --parallel-max 100 -K "$TEST_TMP/limit.conf" >"$TEST_TMP/limit" 2>/dev/null
	sort "$TEST_TMP/limit" | uniq -c | sed 's/^/# from 127.0.0.2: /'
	ok_cmd "200 requests at once from one address: some refused with 429" \
		grep -q '^429 application/json$' "$TEST_TMP/limit"
	ok_cmd "and some answered" grep -q '^200 application/json$' "$TEST_TMP/limit"
	is "$(grep -cv -e '^429 application/json$' -e '^200 application/json$' "$TEST_TMP/limit")" 0 \
		"nothing but 200 and 429"
	"$CURL" -s -o "$TEST_TMP/body" "$URL/api/v1/health" -w '%{http_code}' >"$TEST_TMP/st"
	is "$(cat "$TEST_TMP/st")" 200 "127.0.0.1 meanwhile is not limited"
else
	skip 4 "cannot connect from 127.0.0.2"
fi
tap_done
