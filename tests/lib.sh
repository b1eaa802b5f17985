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

# --- for the deployment tests (tests/test_deploy_*.sh)

# wait_up URL PID: wait up to 10 s until URL answers 2xx; fails early if PID
# (the server) exits.
wait_up() {
	for _ in $(seq 1 100); do
		"$CURL" -fs -o /dev/null --max-time 2 "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# copy_page DIR: the whole of www/ into DIR, as an operator would copy it
# (www.mk and the screenshots included: the configurations must refuse
# them), with the build tree's www/wasm/ (the engine for "run on: this
# browser"), plus a dotfile and a script in wasm/ that must never be served.
copy_page() {
	mkdir -p "$1/wasm" && cp -R "$top_srcdir/www/." "$1/" &&
		cp "$top_builddir/www/wasm/"* "$1/wasm/" && chmod -R u+w,a+rX "$1" &&
		echo 'secret' >"$1/.env" && echo 'secret' >"$1/wasm/secret.js"
}

# copy_models DIR: DIR/models as an operator fills a model directory (the
# shipped *.model files and a model card), plus files beside them that must
# never be served: a training checkpoint there, and DIR/configure.ac for
# traversal out of it.  check_browser_files proves the refusals on these.
copy_models() {
	mkdir -p "$1/models" && cp "$DIGITS_MODEL_DIR"/*.model "$top_srcdir/models/cnn.card.json" "$1/models/" &&
		echo 'secret' >"$1/models/cnn.model.ckpt" && echo 'secret' >"$1/configure.ac" &&
		chmod -R a+rX "$1/models" "$1/configure.ac"
}

# digits_csp: lighttpd.conf's Content-Security-Policy, which every
# deployment sends as it is.
digits_csp() {
	sed -n 's/^[[:space:]]*"Content-Security-Policy" => "\(.*\)",$/\1/p' "$top_srcdir/lighttpd.conf"
}

# start_backend PORT LOG: a `digits.fcgi --listen 127.0.0.1:PORT` backend as
# deploy/systemd/digits@.service starts it (its Environment= and ExecStart=
# lines, with the instance, program and model paths substituted; without
# systemd's sandbox), stderr to LOG; sets $backend_pid.  Waits until it
# listens.
start_backend() {
	unit=$top_srcdir/deploy/systemd/digits@.service
	set -- "$1" "$2" "$(sed -n 's/^Environment=//p' "$unit" |
		sed "s|^DIGITS_MODEL_DIR=.*|DIGITS_MODEL_DIR=$DIGITS_MODEL_DIR|" | tr '\n' ' ')"
	cmd=$(sed -n 's/^ExecStart=//p' "$unit" | sed "s|%i|$1|g; s|^[^ ]*digits.fcgi|$top_builddir/cgi-bin/digits.fcgi|")
	# shellcheck disable=SC2086 # word splitting wanted: VAR=value... command args...
	env $3 $cmd 2>>"$2" &
	backend_pid=$!
	# It says "pid N listening on ADDR" once the socket is open.
	for _ in $(seq 1 100); do
		grep -q "pid $backend_pid listening on" "$2" && return 0
		kill -0 "$backend_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	kill -KILL "$backend_pid"
	return 1
}

# security_headers FILE: how many of the four security headers, exactly as
# lighttpd.conf sends them, the response headers in FILE carry (4 is all).
security_headers() {
	tr -d '\r' <"$1" | grep -cixF -e "content-security-policy: $(digits_csp)" \
		-e 'x-content-type-options: nosniff' -e 'x-frame-options: deny' -e 'referrer-policy: no-referrer'
}

# check_api BASE_URL WHAT [api-only]: the API's core answers through a
# deployment (16 tests, 12 with api-only): health, models and metrics; a PNG
# as a raw body, a multipart form and JSON base64, each with the exact
# digit; errors with their exact status and code; the security headers;
# then the page served and nothing else (www.mk, a dotfile).  Needs
# $top_builddir/tests/mkdigit and the MNIST test set.
check_api() {
	d=$TEST_TMP/check_api
	mkdir -p "$d"
	"$top_builddir/tests/mkdigit" --invert --scale 2 0 png "$d/0.png" >"$d/label" 2>"$d/err" || {
		skip 16 "$2: $(cat "$d/err")"
		return
	}
	want=$(cat "$d/label")
	# capi ARGS...: sets $a_status $a_ctype $a_body, headers in $d/h
	capi() {
		o=$("$CURL" -s --max-time 20 -o "$d/body" -D "$d/h" -w '%{http_code} %{content_type}' "$@")
		a_status=${o%% *}
		a_ctype=${o#* }
		a_body=$(cat "$d/body")
	}
	a_field() {
		printf '%s' "$a_body" | grep -o "\"$1\":\"\\{0,1\\}[a-z0-9_]*" | head -n 1 | sed 's/.*[:"]//'
	}
	capi "$1/api/v1/health"
	is "$a_status $a_ctype $(a_field status)" "200 application/json ok" "$2: health"
	is "$(security_headers "$d/h")" 4 "$2: security headers on the API (lighttpd.conf's CSP)"
	capi "$1/api/v1/models"
	is "$a_status $(printf '%s' "$a_body" | grep -c '"name":"cnn"')" "200 1" "$2: models lists cnn"
	capi -H 'Content-Type: image/png' --data-binary "@$d/0.png" "$1/api/v1/predict"
	is "$a_status $a_ctype $(a_field digit)" "200 application/json $want" "$2: raw PNG is a $want"
	capi -F "image=@$d/0.png" "$1/api/v1/predict"
	is "$a_status $(a_field digit)" "200 $want" "$2: multipart PNG is a $want"
	printf '{"image":"%s"}' "$(base64 -w0 "$d/0.png")" >"$d/0.json"
	capi -H 'Content-Type: application/json' --data-binary "@$d/0.json" "$1/api/v1/predict"
	is "$a_status $(a_field digit)" "200 $want" "$2: JSON base64 PNG is a $want"
	capi -H 'Content-Type: image/png' --data-binary 'not a picture' "$1/api/v1/predict"
	is "$a_status $a_ctype $(a_field code)" "415 application/json unsupported_image" "$2: text as a PNG: 415"
	capi -H 'Content-Type: image/png' --data-binary 'x' "$1/api/v1/predict?model=resnet"
	is "$a_status $(a_field code)" "400 unknown_model" "$2: unknown model: 400"
	capi -H 'Content-Type: application/json' --data-binary '{"image": "not*base64"}' "$1/api/v1/predict"
	is "$a_status $(a_field code)" "400 bad_base64" "$2: bad base64: 400"
	capi "$1/api/v1/predict"
	is "$a_status $(a_field code)" "405 method_not_allowed" "$2: GET predict: 405"
	capi "$1/api/v1/nothing"
	is "$a_status $(a_field code)" "404 not_found" "$2: unknown API path: 404"
	# (Counters are per process until they are shared: the scrape may reach
	# a process that served nothing else, and under CGI always does.)
	capi "$1/api/v1/metrics"
	is "$a_status $a_ctype $(grep -c '^# TYPE digits_http_requests_total counter' "$d/body")" \
		"200 text/plain; version=0.0.4; charset=utf-8 1" "$2: metrics"
	[ "${3:-}" = api-only ] && return
	capi "$1/"
	is "$a_status $(grep -c '<script type="module" src="js/main.js">' "$d/body")" "200 1" "$2: the page"
	capi "$1/js/main.js"
	is "$a_status $a_ctype" "200 text/javascript; charset=utf-8" "$2: a module"
	capi "$1/www.mk"
	is "$a_status" 404 "$2: anything else refused (404)"
	capi "$1/.env"
	is "$a_status $(grep -c secret "$d/body")" "404 0" "$2: dotfiles refused (404)"
}

# check_browser_files URL WHAT: what the page's "run on: this browser"
# (README "Server or browser") fetches comes through the front server at
# URL as lighttpd.conf serves it (13 tests): /wasm/ the build's files
# (.wasm as application/wasm, which streaming compilation needs), /models/
# the backends' own model files, each revalidated (Cache-Control: no-cache;
# a model's ETag answers 304), with lighttpd.conf's security headers; and
# nothing else from wasm/ or the model directory, nor traversal out of it
# (the site laid out by copy_page and copy_models).
check_browser_files() {
	# fetch PATH [CURL ARGS]: sets $f_status $f_ctype, headers in $d/h, body in $d/body
	fetch() {
		p=$1
		shift
		: >"$d/body"
		o=$("$CURL" -s --path-as-is --max-time 20 -o "$d/body" -D "$d/h" -w '%{http_code} %{content_type}' "$@" "$u$p")
		f_status=${o%% *}
		f_ctype=${o#* }
	}
	u=$1
	d=$TEST_TMP/check_browser_files
	mkdir -p "$d"
	if grep -q '"built":true' "$top_builddir/www/wasm/engine.json" 2>/dev/null; then
		fetch /wasm/digits.wasm
		is "$f_status $f_ctype $(tr -d '\r' <"$d/h" | grep -cix 'cache-control: no-cache')" "200 application/wasm 1" \
			"$2: /wasm/digits.wasm as application/wasm, Cache-Control: no-cache"
		ok_cmd "$2: ... the build's digits.wasm" cmp -s "$d/body" "$top_builddir/www/wasm/digits.wasm"
		fetch /wasm/digits-nosimd.js
		is "$f_status $f_ctype" "200 text/javascript; charset=utf-8" "$2: /wasm/digits-nosimd.js"
	else
		skip 3 "$2: no WebAssembly build (configure found no working emcc)"
	fi
	fetch /wasm/engine.json
	is "$f_status $f_ctype" "200 application/json" "$2: /wasm/engine.json"
	fetch /models/cnn.model
	ok_cmd "$2: /models/cnn.model is the model file the backends load" \
		cmp -s "$d/body" "$top_srcdir/models/cnn.model"
	is "$f_status $f_ctype $(tr -d '\r' <"$d/h" | grep -ci -e '^cache-control: no-cache$' -e '^etag: ')" \
		"200 application/octet-stream 2" "$2: ... with an ETag and Cache-Control: no-cache"
	is "$(security_headers "$d/h")" 4 "$2: ... and lighttpd.conf's security headers ('wasm-unsafe-eval')"
	etag=$(tr -d '\r' <"$d/h" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
	fetch /models/cnn.model -H "If-None-Match: $etag"
	is "$f_status $(wc -c <"$d/body" | tr -d ' ')" "304 0" "$2: ... revalidated with its ETag: 304, no body"
	for p in /models/cnn.card.json /models/cnn.model.ckpt /models/../configure.ac \
		/models/%2e%2e/configure.ac /wasm/secret.js; do
		fetch "$p"
		case "$f_status" in 400 | 403 | 404) refused=yes ;; *) refused="no ($f_status)" ;; esac
		is "$refused $(grep -c secret "$d/body")" "yes 0" "$2: $p refused"
	done
}

# check_failover URL WHAT [OTHER]: URL's front server balances over two backends
# started with start_backend, A on $port_a (pid $pid_a, log $log_a) and B
# (log $log_b).  Kills A with SIGKILL under load (4 connections): at most
# the 4 requests in flight may fail, with a JSON 5xx (or an answer starting
# with OTHER, e.g. "000 " for a closed connection); then every request is
# answered by B; then A is started again and traffic returns to it (its log
# shows requests).  5 tests.
check_failover() {
	d=$TEST_TMP/failover
	mkdir -p "$d"
	"$top_builddir/tests/mkdigit" --invert --scale 30 0 png "$d/big.png" >"$d/label" 2>/dev/null
	# load N: N predictions, 4 at a time, "STATUS CONTENT-TYPE" lines in $d/load.
	load() {
		for i in $(seq 1 "$1"); do
			[ "$i" -gt 1 ] && echo next
			printf 'url = "%s/api/v1/predict"\nheader = "Content-Type: image/png"\ndata-binary = "@%s"\noutput = "/dev/null"\nmax-time = 30\nwrite-out = "%%{http_code} %%{content_type}\\n"\n' "$URL" "$d/big.png"
		done >"$d/load.conf"
		"$CURL" -s --parallel --parallel-max 4 -K "$d/load.conf" >"$d/load" 2>/dev/null
	}
	URL=$1
	served() {
		grep -c '"path":"/api/v1/predict"' "$1"
	}
	load 80 &
	load_pid=$!
	# Kill A once it is busy answering.
	for _ in $(seq 1 200); do
		[ "$(served "$log_a")" -ge 5 ] && break
		sleep 0.05
	done
	kill -KILL "$pid_a"
	wait "$pid_a" 2>/dev/null
	wait "$load_pid"
	failed=$(grep -vc '^200 ' "$d/load")
	is "$(wc -l <"$d/load" | tr -d ' ')" 80 "$2: 80 requests answered around a SIGKILL of one backend"
	ok_cmd "$2: only the killed backend's in-flight requests failed ($failed of 80, at most 4)" \
		test "$failed" -le 4
	# (HAProxy closes the client's connection unanswered instead: "000 ".)
	is "$(grep -v -e '^200 ' -e "^${3:-x}" "$d/load" | grep -vc ' application/json$')" 0 \
		"$2: the failed ones got JSON errors${3:+ or $3}"
	grep -v '^200 ' "$d/load" | sort | uniq -c | sed 's/^/# failed: /'
	diag "$2: $failed of 80 failed when one backend was killed"
	# A request of the first load that the front server retried on B may
	# still be in B's hands (HAProxy retries after the client gave up), and
	# B logs after it answers: count from when B's log stops growing.
	b_before=$(served "$log_b")
	for _ in $(seq 1 20); do
		sleep 0.25
		[ "$(served "$log_b")" -eq "$b_before" ] && break
		b_before=$(served "$log_b")
	done
	load 20
	# A is dead, so every answer is B's; B may log a few more (above).
	b_served=$(($(served "$log_b") - b_before))
	is "$(grep -c '^200 ' "$d/load") $([ "$b_served" -ge 20 ] && echo ">=20" || echo "$b_served")" "20 >=20" \
		"$2: then every request answered, all by the other backend"
	start_backend "$port_a" "$log_a" && pid_a=$backend_pid
	a_before=$(served "$log_a")
	# The front server retries a failed backend after its fail/disable time
	# (5 s in the examples): send requests until A answers some, 15 s at most.
	end=$(($(date +%s) + 15))
	while [ "$(date +%s)" -lt "$end" ] && [ "$(served "$log_a")" -eq "$a_before" ]; do
		load 4
		sleep 0.5
	done
	ok_cmd "$2: the restarted backend gets traffic again ($(($(served "$log_a") - a_before)) requests)" \
		test "$(served "$log_a")" -gt "$a_before"
}

# start_two_backends: a free port for the front server ($port) and two
# backends A and B on their own ($port_a, $port_b), started by
# start_backend, logging to $log_a and $log_b ($pid_a, $pid_b).  Bails
# out of the test if any of that fails.
start_two_backends() {
	port_a=$(free_port) && port_b=$(free_port) && port=$(free_port) ||
		{ echo "Bail out! no free ports"; exit 1; }
	log_a=$TEST_TMP/backend-a.log
	log_b=$TEST_TMP/backend-b.log
	start_backend "$port_a" "$log_a" || { echo "Bail out! backend A did not start"; exit 1; }
	pid_a=$backend_pid
	start_backend "$port_b" "$log_b" || { echo "Bail out! backend B did not start"; exit 1; }
	pid_b=$backend_pid
}
