# lib.sh - start and stop lighttpd with our configuration for a test; source it
# after tests/tap.sh.
#
#   . "$top_srcdir/tests/lib.sh"
#   need_server            # skip the whole test (with its reason) if it cannot run
#   start_server           # lighttpd on a free 127.0.0.1 port: $BASE_URL, $SERVER_LOG
#   ... curl "$BASE_URL/api/v1/health" ...
#   (stop_server runs from the EXIT trap; call it yourself to stop early)
#
# The server uses the models in $DIGITS_MODEL_DIR (default: the source
# tree's models/), runs as www-data when root (see serve.sh), and logs
# (lighttpd's and the FastCGI processes' stderr) to $SERVER_LOG.
: "${top_srcdir:?run from make check (top_srcdir unset)}"
: "${top_builddir:?run from make check (top_builddir unset)}"
LIGHTTPD=${LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
CURL=${CURL:-$(command -v curl)}
DIGITS_MODEL_DIR=${DIGITS_MODEL_DIR:-$top_srcdir/models}
export DIGITS_MODEL_DIR
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/digits-test.XXXXXX")
# The FastCGI sockets are made after lighttpd drops to www-data.
chmod 711 "$TEST_TMP" && mkdir "$TEST_TMP/run" && chmod 1777 "$TEST_TMP/run"
SERVER_LOG=$TEST_TMP/server.log
server_pid=

cleanup() {
	stop_server
	# On failure, show what lighttpd said (the JSON request lines aside).
	if [ "${tap_failed:-0}" -gt 0 ] && [ -f "$SERVER_LOG" ]; then
		grep -v "^{" "$SERVER_LOG" | tail -n 20 | sed "s/^/# /"
	fi
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# need_server: skip_all unless lighttpd, curl, the program and models exist.
need_server() {
	[ -x "$LIGHTTPD" ] || skip_all "lighttpd not found"
	[ -n "$CURL" ] && [ -x "$CURL" ] || skip_all "curl not found"
	[ -x "$top_builddir/cgi-bin/digits.fcgi" ] || skip_all "cgi-bin/digits.fcgi not built"
	ls "$DIGITS_MODEL_DIR"/*.model >/dev/null 2>&1 ||
		skip_all "no models in $DIGITS_MODEL_DIR"
}

# free_port: a TCP port nobody listens on at 127.0.0.1 (random, then checked).
# Below Linux's ephemeral range (32768 up), so no client connection of a
# test running beside us holds it as its local port when lighttpd binds.
free_port() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000 ))
		"$CURL" -s -o /dev/null --max-time 2 "http://127.0.0.1:$p/"
		if [ $? -eq 7 ]; then # connection refused
			echo "$p"
			return 0
		fi
	done
	return 1
}

# start_server [VAR=value...]: lighttpd on a free port, waiting until the
# API answers.  Extra arguments are environment settings for this server.
start_server() {
	# A port can still be taken between the check and lighttpd's bind (tests
	# run in parallel): then lighttpd exits at once, and another port is tried.
	for _ in 1 2 3; do
		SERVER_PORT=$(free_port) || { diag "no free port"; return 1; }
		BASE_URL=http://127.0.0.1:$SERVER_PORT
		env DIGITS_SOCKET="$TEST_TMP/run/fcgi.sock" "$@" \
			sh "$top_srcdir/tests/serve.sh" "$SERVER_PORT" >>"$SERVER_LOG" 2>&1 &
		server_pid=$!
		for _ in $(seq 1 100); do
			if "$CURL" -fs -o /dev/null "$BASE_URL/api/v1/health"; then
				return 0
			fi
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$server_pid" 2>/dev/null && break # up but not answering
		wait "$server_pid" 2>/dev/null
		grep -q "Address already in use" "$SERVER_LOG" || break
	done
	diag "lighttpd did not come up; its log:"
	sed 's/^/#   /' "$SERVER_LOG"
	return 1
}

stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
}
