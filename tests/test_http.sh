#!/bin/sh
# test_http.sh - the HTTP API through a real lighttpd with our lighttpd.conf:
# every endpoint, every way of sending images, every error class (exact
# status, code and Content-Type), and real MNIST digits in several formats.
#
# Digit checks need trained models (the shipped ones); with untrained
# models they are skipped with that reason.  MNIST comes from
# DIGITS_MNIST_DIR or $top_builddir/data/mnist (make data).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
start_server || { echo "Bail out! lighttpd did not start"; exit 1; }
MKDIGIT=$top_builddir/tests/mkdigit
IMG=$TEST_TMP/img
mkdir -p "$IMG"

# call ARGS...: curl the API; sets $status, $ctype, $body and $headers.
call() {
	out=$("$CURL" -s -o "$TEST_TMP/body" -D "$TEST_TMP/headers" \
		-w '%{http_code} %{content_type}' "$@")
	status=${out%% *}
	ctype=${out#* }
	body=$(cat "$TEST_TMP/body")
	headers=$(cat "$TEST_TMP/headers")
}
# field NAME: the first "NAME": value of the body (strings unquoted).
field() {
	printf '%s' "$body" | sed -n "s/^[^\"]*\(\"[^\"]*\"[^\"]*\)*\"$1\":\(\"\([^\"]*\)\"\|\([^,}]*\)\).*/\3\4/p" | head -n 1
}
# digits: every "digit" of the body, space-separated, in order, top lists
# excluded.
digits() {
	printf '%s' "$body" | sed 's/"top":\[[^]]*\]//g' | grep -o '"digit":[0-9]*' |
		sed 's/.*://' | tr '\n' ' ' | sed 's/ $//'
}
# expect_error STATUS CODE DESCRIPTION: the last call failed exactly so.
expect_error() {
	is "$status $ctype $(field code)" "$1 application/json $2" "$3: $1 $2"
}

P=$BASE_URL/api/v1/predict

# --- the small endpoints
call "$BASE_URL/api/v1/health"
is "$status $ctype $(field status)" "200 application/json ok" "health answers ok"
ok_cmd "health lists the cnn model" grep -q '"models":\[[^]]*"cnn"' "$TEST_TMP/body"
call "$BASE_URL/api/v1/models"
is "$status $ctype" "200 application/json" "models answers"
ok_cmd "models: cnn is the default" grep -q '"name":"cnn","version":"[0-9a-f]\{8\}","test_accuracy":[^,]*,"default":true' "$TEST_TMP/body"
ok_cmd "models: params and macs" grep -q '"params":[0-9][0-9]*,"macs":[0-9]' "$TEST_TMP/body"
ok_cmd "models: cnn is float32, cnn-int8 right after it is int8" \
	grep -q '"name":"cnn",[^}]*"precision":"float32"[^}]*},{"name":"cnn-int8",[^}]*"precision":"int8"' "$TEST_TMP/body"
accuracy=$(field test_accuracy)
call -I "$BASE_URL/api/v1/health"
is "$status $ctype" "200 application/json" "HEAD health"
# HEAD over a raw socket (curl -I never reads a body): the answer must end
# with its headers.  HTTP/1.0, so the server closes when it is done.
head_reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT" &&
	printf 'HEAD /api/v1/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
	timeout 5 cat <&3) | od -An -c | tr -d ' \n')
case "$head_reply" in
*'\r\n\r\n') ok_cmd "HEAD health: headers, then nothing" true ;;
*) ok_cmd "HEAD health: headers, then nothing" false ;;
esac
call "$BASE_URL/api/v1/metrics"
is "$status $ctype" "200 text/plain; version=0.0.4; charset=utf-8" "metrics: Prometheus text 0.0.4"
ok_cmd "metrics: request counter by endpoint and status" \
	grep -q '^digits_http_requests_total{endpoint="health",status="200"} [1-9]' "$TEST_TMP/body"
ok_cmd "metrics: latency histogram" grep -q '^digits_request_seconds_bucket{le="+Inf"}' "$TEST_TMP/body"
ok_cmd "responses carry X-Request-Id" grep -qi '^X-Request-Id: [0-9a-f]\{16\}' "$TEST_TMP/headers"
call -H 'X-Request-Id: trace-42' "$BASE_URL/api/v1/health"
ok_cmd "a sane X-Request-Id is echoed" grep -qi '^X-Request-Id: trace-42' "$TEST_TMP/headers"

# --- the static page and its headers
if [ -f "$top_srcdir/www/index.html" ]; then
	call "$BASE_URL/"
	is "$status $ctype" "200 text/html; charset=utf-8" "the page is served"
	ok_cmd "Content-Security-Policy" grep -qi "^Content-Security-Policy: default-src 'self'; img-src 'self' data: blob:;.*frame-ancestors 'none'" "$TEST_TMP/headers"
	ok_cmd "X-Content-Type-Options: nosniff" grep -qi '^X-Content-Type-Options: nosniff' "$TEST_TMP/headers"
	ok_cmd "Referrer-Policy" grep -qi '^Referrer-Policy: no-referrer' "$TEST_TMP/headers"
else
	skip 4 "no www/index.html yet"
fi
call "$BASE_URL/no-such-page.html"
is "$status $ctype" "404 text/html" "a missing page is an HTML 404"

# --- errors: each class, exact status, code and Content-Type
call "$BASE_URL/api/v1/nope"
expect_error 404 not_found "unknown API path"
call "$P"
expect_error 405 method_not_allowed "GET predict"
ok_cmd "405 has Allow: POST" grep -qi '^Allow: POST' "$TEST_TMP/headers"
call -X DELETE "$BASE_URL/api/v1/models"
expect_error 405 method_not_allowed "DELETE models"
call -X POST --http1.0 "$P"
expect_error 411 length_required "POST without Content-Length (lighttpd's own error)"
head -c 9437184 /dev/zero >"$TEST_TMP/big"
call -H 'Content-Type: image/png' --data-binary "@$TEST_TMP/big" "$P"
expect_error 413 payload_too_large "9 MiB body (lighttpd's own error)"
rm -f "$TEST_TMP/big"
call -H 'Content-Type: image/png' --data-binary '' "$P"
expect_error 400 empty_body "empty body"
call -H 'Content-Type: text/plain' --data-binary 'hello' "$P"
expect_error 415 unsupported_media_type "text/plain body"
call --data-binary 'image=abc' "$P"
expect_error 415 unsupported_media_type "urlencoded form"
call -H 'Content-Type: image/png' --data-binary 'hello, not a picture' "$P"
expect_error 415 unsupported_image "text sent as image/png"
call -H 'Content-Type: multipart/form-data' --data-binary 'abc' "$P"
expect_error 400 bad_multipart "multipart without boundary"
printf -- '--XX\r\nContent-Disposition: form-data; name="image"\r\n\r\nabc' >"$TEST_TMP/trunc"
call -H 'Content-Type: multipart/form-data; boundary=XX' --data-binary "@$TEST_TMP/trunc" "$P"
expect_error 400 bad_multipart "truncated multipart"
call -F top=3 "$P"
expect_error 400 missing_image "form without an image"
call -H 'Content-Type: application/json' --data-binary '{"image": ' "$P"
expect_error 400 bad_json "truncated JSON"
call -H 'Content-Type: application/json' --data-binary '{"image": "not*base64"}' "$P"
expect_error 400 bad_base64 "bad base64"
call -H 'Content-Type: application/json' --data-binary '{}' "$P"
expect_error 400 missing_image "JSON without image"
call -H 'Content-Type: image/png' --data-binary 'x' "$P?top=11"
expect_error 400 invalid_parameter "top=11"
call -H 'Content-Type: image/png' --data-binary 'x' "$P?explain_class=10"
expect_error 400 invalid_parameter "explain_class=10"
call -H 'Content-Type: image/png' --data-binary 'x' "$P?model=resnet"
expect_error 400 unknown_model "model=resnet"
printf 'GIF89a\001\000\001\000\000\000\000,\000\000\000\000\377\377\377\377\000\002\002\104\001\000;' >"$TEST_TMP/huge.gif"
call -H 'Content-Type: image/gif' --data-binary "@$TEST_TMP/huge.gif" "$P"
expect_error 413 image_too_large "GIF declaring 65535x65535 pixels"
set --
for i in $(seq 17); do set -- "$@" -F "image=@$TEST_TMP/huge.gif"; done
call "$@" "$P"
expect_error 413 too_many_images "17 images"

# --- real digits: MNIST test images as uploads, in several formats
if ! "$MKDIGIT" --invert --scale 4 0 png "$IMG/0.png" >"$IMG/0.label" 2>"$TEST_TMP/mkdigit.err"; then
	skip 27 "$(cat "$TEST_TMP/mkdigit.err")" # the 27 tests below
	tap_done
fi
"$MKDIGIT" --invert --blank 0 png "$IMG/blank.png" >/dev/null
head -c 200 "$IMG/0.png" >"$IMG/cut.png"
call -H 'Content-Type: image/png' --data-binary "@$IMG/cut.png" "$P"
expect_error 422 corrupt_image "truncated PNG"
call -H 'Content-Type: image/png' --data-binary "@$IMG/blank.png" "$P"
expect_error 422 no_digit "blank picture"

# Trained models recognise these; untrained ones only answer.
trained=$(awk -v a="${accuracy:-0}" 'BEGIN { print (a + 0 >= 0.9) ? 1 : 0 }')
[ "$trained" = 1 ] || diag "models are not trained (test_accuracy ${accuracy:-none}): digits are not checked"
# check_digit WANT DESCRIPTION: the last answer's digit(s), if trained.
check_digit() {
	if [ "$trained" = 1 ]; then
		is "$(digits)" "$1" "$2"
	else
		skip 1 "untrained models: $2"
	fi
}

n=0
for fmt in png jpeg gif bmp webp; do
	n=$((n + 1))
	label=$("$MKDIGIT" --invert --scale 3 "$n" "$fmt" "$IMG/$n.$fmt")
	call -H "Content-Type: image/$fmt" --data-binary "@$IMG/$n.$fmt" "$P"
	is "$status $ctype $(field format)" "200 application/json $fmt" "raw $fmt answers"
	check_digit "$label" "raw $fmt: MNIST test image $n is a $label"
done
l0=$(cat "$IMG/0.label")
l1=$("$MKDIGIT" 1 png "$IMG/1w.png") # white on black, as MNIST itself
call -F "image=@$IMG/0.png" "$P"
# A confident model may answer exactly 1: any number in [0, 1] is right.
in_unit=$(field probability | awk '{ print ($1 >= 0 && $1 <= 1) ? "yes" : "no" }')
is "$status $(field name) $in_unit" "200 cnn yes" "multipart, one image: a probability in [0, 1]"
check_digit "$l0" "multipart: $l0"
call -F "image=@$IMG/0.png" -F "image=@$IMG/1w.png" -F "image=@$IMG/blank.png" "$P?top=3"
ok_cmd "multipart, three images: predictions in order, blank one with its error" \
	grep -q '^{"predictions":\[{"digit":[0-9],.*"top":\[{"digit":[0-9],"probability":[0-9.e-]*},{[^}]*},{[^}]*}\].*{"error":{"status":422,"code":"no_digit"' "$TEST_TMP/body"
check_digit "$l0 $l1" "multipart, several images: $l0 $l1"
call -F "image=@$IMG/0.png" "$BASE_URL/recognize.json"
is "$status $ctype $(field name)" "200 application/json cnn" "/recognize.json answers like predict"
check_digit "$l0" "/recognize.json: $l0"
b64=$(base64 -w0 "$IMG/0.png")
call -H 'Content-Type: application/json' --data-binary "{\"image\": \"$b64\", \"model\": \"lenet5\"}" "$P"
is "$status $(field name)" "200 lenet5" "JSON base64 with model lenet5"
check_digit "$l0" "JSON base64: $l0"
call -H 'Content-Type: application/json' --data-binary "{\"images\": [\"data:image/png;base64,$b64\", \"$(base64 -w0 "$IMG/1w.png")\"]}" "$P?model=mlp"
is "$status $(field name)" "200 mlp" "JSON images[] of data: URLs with model=mlp"
check_digit "$l0 $l1" "JSON images[]: $l0 $l1"
call -H 'Content-Type: application/json' --data-binary "{\"images\": [\"$b64\", \"$(base64 -w0 "$IMG/1w.png")\"]}" "$P?model=cnn-int8"
is "$status $(field name)" "200 cnn-int8" "model=cnn-int8"
check_digit "$l0 $l1" "model=cnn-int8: $l0 $l1"
call -F "image=@$IMG/0.png" "$P?model=cnn-int8&explain=1"
expect_error 400 explain_unsupported "explain=1 on the int8 model"
call -H 'Content-Type: application/octet-stream' --data-binary "@$IMG/0.png" "$P?preview=1&top=2"
ok_cmd "preview is a PNG data URL" grep -q '"preview":"data:image/png;base64,iVBORw0KGgo' "$TEST_TMP/body"
ok_cmd "top=2 lists two digits" grep -q '"top":\[{"digit":[0-9],"probability":[0-9.e-]*},{"digit":[0-9],"probability":[0-9.e-]*}\]' "$TEST_TMP/body"
ok_cmd "timing_ms" grep -q '"timing_ms":{"decode":[0-9.]*,"inference":[0-9.]*,"total":[0-9.]*}' "$TEST_TMP/body"

call "$BASE_URL/api/v1/metrics"
ok_cmd "metrics count predictions per model" grep -q '^digits_predictions_total{model="cnn"} [1-9]' "$TEST_TMP/body"

stop_server
ok_cmd "every request was logged as one JSON line" grep -q '^{"time":"[0-9T:.-]*Z","id":"trace-42","pid":[0-9]*,"method":"GET","path":"/api/v1/health","status":200' "$SERVER_LOG"
tap_done
