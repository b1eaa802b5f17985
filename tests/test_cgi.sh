#!/bin/sh
# test_cgi.sh - cgi-bin/digits.fcgi without lighttpd's mod_fastcgi: as plain
# CGI (environment + stdin, one request), its refusal to start on bad
# models, and --listen (a TCP FastCGI server, reached through a minimal
# lighttpd configured with "host"/"port", as a balancer would).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

FCGI=$top_builddir/cgi-bin/digits.fcgi
[ -x "$FCGI" ] || skip_all "cgi-bin/digits.fcgi not built"
ls "$DIGITS_MODEL_DIR"/*.model >/dev/null 2>&1 || skip_all "no models in $DIGITS_MODEL_DIR"
OUT=$TEST_TMP/out
ERR=$TEST_TMP/err

# cgi METHOD PATH_INFO [VAR=value...] < body: run one CGI request; sets
# $status (from the Status: line), $body (after the blank line) and $rc.
cgi() {
	method=$1
	path=$2
	shift 2
	env -i PATH="$PATH" DIGITS_MODEL_DIR="$DIGITS_MODEL_DIR" GATEWAY_INTERFACE=CGI/1.1 \
		REQUEST_METHOD="$method" PATH_INFO="$path" SCRIPT_NAME=/cgi-bin/digits.fcgi \
		"$@" "$FCGI" >"$OUT" 2>"$ERR"
	rc=$?
	status=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$OUT" | tr -d '\r')
	body=$(sed '1,/^\r$/d' "$OUT")
}

cgi GET /api/v1/health </dev/null
is "$rc $status" "0 200" "CGI GET /api/v1/health: Status 200"
ok_cmd "CGI: JSON body with status ok" grep -q '^{"status":"ok","models":\[' "$OUT"
ok_cmd "CGI: Content-Type and Content-Length headers" \
	sh -c "grep -q '^Content-Type: application/json' '$OUT' && grep -q '^Content-Length: [0-9]' '$OUT'"
ok_cmd "CGI: one JSON log line on stderr" grep -q '"method":"GET","path":"/api/v1/health","status":200' "$ERR"
cgi GET "" REQUEST_URI='/api/v1/models?x=1' </dev/null
is "$status" 200 "CGI: route from REQUEST_URI when PATH_INFO is empty"
cgi HEAD /api/v1/health </dev/null
is "$status $(sed '1,/^\r$/d' "$OUT" | wc -c | tr -d ' ')" "200 0" "CGI HEAD: no body"
cgi GET /api/v1/nowhere </dev/null
is "$status" 404 "CGI: unknown path is 404"
ok_cmd "CGI: 404 is JSON not_found" grep -q '"code":"not_found"' "$OUT"

printf 'abc' >"$TEST_TMP/abc"
cgi POST /api/v1/predict CONTENT_TYPE=image/png <"$TEST_TMP/abc"
is "$status" 411 "CGI POST without CONTENT_LENGTH: 411"
cgi POST /api/v1/predict CONTENT_TYPE=image/png CONTENT_LENGTH=99999999 <"$TEST_TMP/abc"
is "$status" 413 "CGI: CONTENT_LENGTH over the limit is 413 before reading"
ok_cmd "CGI: 413 code payload_too_large" grep -q '"code":"payload_too_large"' "$OUT"
cgi POST /api/v1/predict CONTENT_TYPE=image/png CONTENT_LENGTH=10 <"$TEST_TMP/abc"
is "$status" 400 "CGI: body shorter than CONTENT_LENGTH"
ok_cmd "CGI: 400 code truncated_body" grep -q '"code":"truncated_body"' "$OUT"
cgi POST /api/v1/predict CONTENT_TYPE=image/png CONTENT_LENGTH=2000 DIGITS_MAX_BODY=1024 <"$TEST_TMP/abc"
is "$status" 413 "CGI: DIGITS_MAX_BODY lowers the limit"

if "$top_builddir/tests/mkdigit" --invert --scale 2 0 png "$TEST_TMP/7.png" >"$TEST_TMP/label" 2>/dev/null; then
	cgi POST /api/v1/predict CONTENT_TYPE=image/png \
		CONTENT_LENGTH="$(wc -c <"$TEST_TMP/7.png" | tr -d ' ')" QUERY_STRING='top=2' <"$TEST_TMP/7.png"
	is "$status" 200 "CGI POST predict with a PNG on stdin"
	ok_cmd "CGI predict: digit, probabilities, top" \
		grep -q '^{"digit":[0-9],"probability":[0-9.e-]*,"probabilities":\[[^]]*\],"top":\[' "$OUT"
	# A GIF goes to libgd, loaded only now.
	"$top_builddir/tests/mkdigit" --invert 0 gif "$TEST_TMP/7.gif" >/dev/null 2>&1
	cgi POST /api/v1/predict CONTENT_TYPE=image/gif \
		CONTENT_LENGTH="$(wc -c <"$TEST_TMP/7.gif" | tr -d ' ')" <"$TEST_TMP/7.gif"
	is "$status $(grep -o '"digit":[0-9]' "$OUT" | head -n 1)" "200 \"digit\":$(cat "$TEST_TMP/label")" \
		"CGI predict with a GIF (libgd loaded on demand): the same digit"
	# A truncated PNG: libpng's error reaches stderr only inside our JSON line.
	head -c 300 "$TEST_TMP/7.png" >"$TEST_TMP/cut.png"
	cgi POST /api/v1/predict CONTENT_TYPE=image/png CONTENT_LENGTH=300 <"$TEST_TMP/cut.png"
	is "$status" 422 "CGI: a truncated PNG is 422"
	is "$(wc -l <"$ERR" | tr -d ' ') $(grep -c '^{.*"decoder_warnings":\["libpng error: ' "$ERR")" "1 1" \
		"CGI: stderr is one JSON line, carrying libpng's error"
else
	skip 5 "no MNIST test set (DIGITS_MNIST_DIR)"
fi
# PNG and JPEG are decoded without libgd: the program does not map it.
is "$(ldd "$FCGI" | grep -c 'libgd\.')" 0 "digits.fcgi is not linked with libgd (dlopen'ed on demand)"

# Refusing to start.
mkdir "$TEST_TMP/empty" "$TEST_TMP/bad"
printf 'DIGITSNN\001\000\000\000garbage' >"$TEST_TMP/bad/cnn.model"
DIGITS_MODEL_DIR=$TEST_TMP/empty REQUEST_METHOD=GET PATH_INFO=/api/v1/health "$FCGI" </dev/null >"$OUT" 2>"$ERR"
is "$? $(wc -c <"$OUT" | tr -d ' ')" "1 0" "no models: exit 1, nothing served"
ok_cmd "no models: says why" grep -q 'refusing to start: .*no \*\.model files' "$ERR"
DIGITS_MODEL_DIR=$TEST_TMP/bad REQUEST_METHOD=GET "$FCGI" </dev/null >"$OUT" 2>"$ERR"
is "$?" 1 "a corrupt model: exit 1"
ok_cmd "a corrupt model: names the file" grep -q "refusing to start: .*bad/cnn.model" "$ERR"
env -u REQUEST_METHOD "$FCGI" </dev/null >"$OUT" 2>"$ERR"
is "$?" 2 "not under a web server and no --listen: exit 2"
DIGITS_THREADS=0 "$FCGI" --check >"$OUT" 2>"$ERR"
is "$?" 2 "DIGITS_THREADS=0 refused"
"$FCGI" --check >"$OUT" 2>"$ERR"
is "$? $(grep -c '^cnn [0-9a-f]\{8\} cnn.model$' "$OUT")" "0 1" "--check lists the models"

# The CLI: same engine, one line per file, failures named on stderr.
CLI=$top_builddir/src/digits
if [ -f "$TEST_TMP/7.png" ]; then
	"$CLI" predict --top 2 "$TEST_TMP/7.png" "$TEST_TMP/abc" "$TEST_TMP/7.png" >"$OUT" 2>"$ERR"
	is "$? $(wc -l <"$OUT" | tr -d ' ')" "1 2" "CLI: exit 1 when a file fails, the others still answered"
	ok_cmd "CLI: one line per good file: name, digit, probability, top" \
		grep -q "^$TEST_TMP/7.png [0-9] [0-9.]* top: [0-9]=[0-9.]* [0-9]=[0-9.]*\$" "$OUT"
	ok_cmd "CLI: the bad file named on stderr" grep -q "^digits: $TEST_TMP/abc: " "$ERR"
	"$CLI" predict --json --model lenet5 - <"$TEST_TMP/7.png" >"$OUT" 2>"$ERR"
	is "$?" 0 "CLI: --json from stdin"
	ok_cmd "CLI: JSON like the API's" grep -q '^{"digit":[0-9],"probability":.*"file":"-",.*"model":{"name":"lenet5"' "$OUT"
	# explain: the map as a 280x280 PNG, the method named.
	"$CLI" explain "$TEST_TMP/7.png" -o "$TEST_TMP/map.png" >"$OUT" 2>"$ERR"
	is "$? $(sed 's/ [0-9.]* explained/ P explained/' "$OUT")" \
		"0 $TEST_TMP/7.png 7 P explained 7 by grad-cam (7x7) in $TEST_TMP/map.png" \
		"CLI explain: the cnn's Grad-CAM of the 7"
	is "$(od -An -tx1 -j16 -N8 "$TEST_TMP/map.png" | tr -d ' \n')" 0000011800000118 \
		"CLI explain: a 280x280 PNG"
	"$CLI" explain --model mlp --class 3 --json "$TEST_TMP/7.png" -o "$TEST_TMP/map3.png" >"$OUT" 2>"$ERR"
	ok_cmd "CLI explain --class 3 --model mlp: saliency of class 3, as JSON" \
		grep -q '^{"file":.*"digit":7,.*"explained_class":3,"method":"saliency"' "$OUT"
	"$CLI" explain --class 10 "$TEST_TMP/7.png" -o "$TEST_TMP/map.png" >"$OUT" 2>"$ERR"
	is "$? $(cat "$ERR")" "2 digits: --class 10: want a digit from 0 to 9" "CLI explain: --class 10 refused"
	"$CLI" explain "$TEST_TMP/7.png" >"$OUT" 2>"$ERR"
	is "$?" 2 "CLI explain: no -o is a usage error"
	"$CLI" predict --model cnn-int8 "$TEST_TMP/7.png" >"$OUT" 2>"$ERR"
	is "$? $(cut -d' ' -f2 "$OUT")" "0 7" "CLI predict --model cnn-int8: the 7"
	"$CLI" explain --model cnn-int8 "$TEST_TMP/7.png" -o "$TEST_TMP/map.png" >"$OUT" 2>"$ERR"
	ok_cmd "CLI explain --model cnn-int8: refused, the model named as int8" \
		grep -q 'model "cnn-int8" is int8 and cannot be explained' "$ERR"
else
	skip 12 "no MNIST test set (DIGITS_MNIST_DIR)"
fi
"$CLI" predict --model nope "$TEST_TMP/abc" >"$OUT" 2>"$ERR"
is "$?" 2 "CLI: unknown model is a usage error"
"$CLI" models >"$OUT" 2>"$ERR"
is "$? $(grep -c '^cnn .*cnn.model (default)$' "$OUT")" "0 1" "CLI: models"

# --listen: a TCP FastCGI server, behind a lighttpd that only forwards.
if [ ! -x "$LIGHTTPD" ] || [ -z "$CURL" ]; then
	skip 4 "lighttpd or curl missing"
	tap_done
fi
fport=$(free_port)
"$FCGI" --listen "127.0.0.1:$fport" 2>"$TEST_TMP/fcgi.log" &
fpid=$!
hport=$(free_port)
cat >"$TEST_TMP/front.conf" <<EOF
server.modules += ("mod_fastcgi")
server.document-root = "$TEST_TMP"
server.bind = "127.0.0.1"
server.port = $hport
server.pid-file = "$TEST_TMP/front.pid"
fastcgi.server = ("/api/" => (("host" => "127.0.0.1", "port" => $fport, "check-local" => "disable")))
EOF
"$LIGHTTPD" -D -f "$TEST_TMP/front.conf" 2>"$TEST_TMP/front.log" &
hpid=$!
for _ in $(seq 1 50); do
	"$CURL" -fs -o "$OUT" "http://127.0.0.1:$hport/api/v1/health" && break
	sleep 0.1
done
ok_cmd "--listen 127.0.0.1:PORT serves health through a remote-style lighttpd" \
	grep -q '"status":"ok"' "$OUT"
code=$("$CURL" -s -o "$OUT" -w '%{http_code}' -H 'Content-Type: image/png' --data-binary 'x' \
	"http://127.0.0.1:$hport/api/v1/predict")
is "$code $(sed -n 's/.*"code":"\([a-z_]*\)".*/\1/p' "$OUT")" "415 unsupported_image" "--listen: errors pass through"
kill -TERM "$fpid"
for _ in $(seq 1 50); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fpid" 2>/dev/null && { kill -KILL "$fpid"; fstat=killed; } || { wait "$fpid"; fstat=$?; }
is "$fstat" 0 "--listen: SIGTERM ends the process cleanly"
kill "$hpid" 2>/dev/null
wait "$hpid" 2>/dev/null
ok_cmd "--listen: startup line and request log" \
	sh -c "grep -q 'listening on 127.0.0.1:$fport' '$TEST_TMP/fcgi.log' && grep -q '\"path\":\"/api/v1/health\",\"status\":200' '$TEST_TMP/fcgi.log'"
tap_done
