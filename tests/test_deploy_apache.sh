#!/bin/sh
# test_deploy_apache.sh - the shared-host examples under Debian's apache2,
# each started for real: deploy/apache/fcgid/.htaccess (mod_fcgid, mpm_event)
# and deploy/apache/cgi/.htaccess (mod_cgi, mpm_prefork), each in a site laid
# out as its comments say, on a free loopback port, with a server
# configuration of our own (never /etc/apache2, never port 80) that gives
# the site what a shared host does: AllowOverride FileInfo, Indexes, Options.
# The core API checks (tests/lib.sh check_api) and the files of the page's
# browser mode (check_browser_files) run against each.
#
# DIGITS_DEPLOY_BENCH=SECONDS also measures, with wrk, a 28x28 PNG at 8
# connections under each, and prints the req/s as diagnostics.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

APACHE=${APACHE:-$(command -v apache2 || echo /usr/sbin/apache2)}
MODS=/usr/lib/apache2/modules
need_server
[ -x "$APACHE" ] || skip_all "apache2 not found"
[ -f "$MODS/mod_fcgid.so" ] || skip_all "mod_fcgid not found (libapache2-mod-fcgid)"
[ "$(id -u)" = 0 ] || skip_all "apache2 must start as root to switch to www-data"
id www-data >/dev/null 2>&1 || skip_all "no www-data user"

# start_apache MODE: apache2 in the foreground over $TEST_TMP/MODE/site with
# deploy/apache/MODE/; sets $apache_pid and $APACHE_URL.
start_apache() {
	mode=$1
	root=$TEST_TMP/$mode
	site=$root/site
	mkdir -p "$root/run" "$root/fcgid"
	chown www-data "$root/fcgid"
	copy_page "$site"
	copy_models "$site"
	(cd "$top_srcdir/deploy/apache/$mode" && find . -name .htaccess) | while read -r f; do
		mkdir -p "$site/${f%/.htaccess}"
		sed "s|/home/me/public_html/|$site/|" "$top_srcdir/deploy/apache/$mode/$f" >"$site/$f"
	done
	bin=$site/digits.fcgi
	[ "$mode" = cgi ] && bin=$site/cgi-bin/digits.fcgi
	cp "$top_builddir/cgi-bin/digits.fcgi" "$bin"
	chmod -R a+rX "$root"
	if [ "$mode" = fcgid ]; then
		mpm=event
		handler="LoadModule fcgid_module $MODS/mod_fcgid.so
FcgidIPCDir $root/fcgid
FcgidProcessTableFile $root/fcgid/shm
FcgidMaxRequestLen 8388608
FcgidMaxRequestInMem 8388608"
	else
		mpm=prefork
		handler="LoadModule cgi_module $MODS/mod_cgi.so"
	fi
	port=$(free_port) || return 1
	APACHE_URL=http://127.0.0.1:$port
	cat >"$root/apache2.conf" <<EOF
ServerName 127.0.0.1
ServerRoot $root
DefaultRuntimeDir $root/run
PidFile $root/run/apache2.pid
Mutex file:$root/run default
Listen 127.0.0.1:$port
User www-data
Group www-data
ErrorLog $root/error.log
LogLevel warn
LoadModule mpm_${mpm}_module $MODS/mod_mpm_$mpm.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule mime_module $MODS/mod_mime.so
LoadModule dir_module $MODS/mod_dir.so
LoadModule rewrite_module $MODS/mod_rewrite.so
LoadModule headers_module $MODS/mod_headers.so
LoadModule env_module $MODS/mod_env.so
$handler
TypesConfig /etc/mime.types
StartServers 2
MaxRequestWorkers 32
DocumentRoot $site
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<Directory $site>
	Options FollowSymLinks
	AllowOverride FileInfo Indexes Options=ExecCGI,Indexes
	Require all granted
</Directory>
EOF
	# Its own session: apache2 signals its whole process group when it stops.
	setsid "$APACHE" -f "$root/apache2.conf" -DFOREGROUND >>"$root/error.log" 2>&1 &
	apache_pid=$!
	wait_up "$APACHE_URL/api/v1/health" "$apache_pid" && return 0
	diag "apache2 ($mode) did not come up; its log:"
	sed 's/^/#   /' "$root/error.log"
	return 1
}

stop_apache() {
	[ -n "${apache_pid:-}" ] || return 0
	kill -TERM "$apache_pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$apache_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$apache_pid" 2>/dev/null
	wait "$apache_pid" 2>/dev/null
	apache_pid=
}
trap 'stop_apache; cleanup' EXIT

# bench WHAT: wrk, 8 connections, a 28x28 PNG as a raw body.
bench() {
	WRK=${WRK:-$(command -v wrk)}
	[ -n "${DIGITS_DEPLOY_BENCH:-}" ] && [ -n "$WRK" ] || return 0
	"$top_builddir/tests/mkdigit" 0 png "$TEST_TMP/28.png" >/dev/null
	cat >"$TEST_TMP/post.lua" <<EOF
local f = assert(io.open("$TEST_TMP/28.png", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/png"
done = function(summary, latency, requests)
	io.write(string.format("bench %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d errors\n",
		summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
		latency:percentile(99) / 1000,
		summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
EOF
	"$WRK" -t2 -c8 -d"${DIGITS_DEPLOY_BENCH}s" -s "$TEST_TMP/post.lua" "$APACHE_URL/api/v1/predict" |
		sed -n "s/^bench /# $1: /p"
}

for mode in fcgid cgi; do
	if start_apache "$mode"; then
		check_api "$APACHE_URL" "apache2 mod_$mode"
		check_browser_files "$APACHE_URL" "apache2 mod_$mode"
		bench "apache2 mod_$mode, 28x28 PNG, 8 connections"
	else
		skip 29 "apache2 with mod_$mode did not start"
	fi
	ok_cmd "mod_$mode: nothing but our JSON lines and apache's notices in the log" \
		test "$(grep -cv -e '^{' -e '\] \[' -e '^AH0' "$TEST_TMP/$mode/error.log")" = 0
	stop_apache
done
tap_done
