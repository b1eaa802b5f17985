#!/bin/sh
# test_read_http.sh - POST /api/v1/read through a real lighttpd and
# digits read: a clean picture of "2026" read exactly with four boxes in
# the picture's pixels, each digit and the text carrying confidence and
# uncertain; the same refusals as predict (no ink, not an image, unknown
# model, no body); the CLI says the same text.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
IMG=$TEST_TMP/img
mkdir -p "$IMG"
"$top_builddir/tests/mknumber" 2026 "$IMG/2026.png"
case $? in
0) ;;
77) skip_all "MNIST not found (make data)" ;;
*) echo "Bail out! mknumber failed"; exit 1 ;;
esac
printf 'not an image at all' >"$IMG/text.png"
start_server || { echo "Bail out! lighttpd did not start"; exit 1; }

# post FILE [QUERY]: the read endpoint's status for FILE as a multipart upload.
post() {
	"$CURL" -s --max-time 20 -o "$TEST_TMP/body" -w '%{http_code}' \
		-F "image=@$1;type=image/png" "$BASE_URL/api/v1/read$2"
}
body() { cat "$TEST_TMP/body"; }

is "$(post "$IMG/2026.png")" 200 "2026: 200"
ok_cmd "2026: the text" grep -q '"text":"2026","confidence":[0-9.e-]*,"uncertain":false' "$TEST_TMP/body"
is "$(body | grep -o '"box":{"x":[0-9]*,"y":[0-9]*,"w":[0-9]*,"h":[0-9]*}' | wc -l)" 4 "2026: four boxes"
is "$(body | grep -o '"digit":[0-9]' | tr -d '\n')" '"digit":2"digit":0"digit":2"digit":6' "2026: digits in order"

is "$(post "$IMG/2026.png" '?model=lenet5')" 200 "model=lenet5: 200"
ok_cmd "model=lenet5: named" grep -q '"model":{"name":"lenet5"' "$TEST_TMP/body"
is "$(post "$IMG/2026.png" '?model=nope')" 400 "unknown model: 400"
ok_cmd "unknown model: code" grep -q '"code":"unknown_model"' "$TEST_TMP/body"
is "$(post "$IMG/text.png")" 415 "not an image: 415"
ok_cmd "not an image: code" grep -q '"code":"unsupported_image"' "$TEST_TMP/body"
is "$("$CURL" -s -o "$TEST_TMP/body" -w '%{http_code}' -d '' "$BASE_URL/api/v1/read")" 400 "empty body: 400"
ok_cmd "empty body: code" grep -q '"code":"empty_body"' "$TEST_TMP/body"
is "$("$CURL" -s -o "$TEST_TMP/body" -w '%{http_code}' "$BASE_URL/api/v1/read")" 405 "GET: 405"

is "$("$CURL" -s --max-time 20 -o "$TEST_TMP/body" -w '%{http_code}' \
	-F "image=@$IMG/2026.png;type=image/png" -F "image=@$IMG/text.png;type=image/png" \
	"$BASE_URL/api/v1/read")" 200 "two images: 200"
is "$(body | grep -o '"text":"2026"\|"code":"unsupported_image"' | tr '\n' ' ')" \
	'"text":"2026" "code":"unsupported_image" ' "two images: a reading and an error, in order"
printf '{"image":"%s"}' "$(base64 -w0 "$IMG/2026.png")" >"$TEST_TMP/req.json"
is "$("$CURL" -s --max-time 20 -o "$TEST_TMP/body" -w '%{http_code}' \
	-H 'Content-Type: application/json' --data-binary "@$TEST_TMP/req.json" \
	"$BASE_URL/api/v1/read")" 200 "JSON base64: 200"
ok_cmd "JSON base64: the text" grep -q '"text":"2026"' "$TEST_TMP/body"

cli=$(DIGITS_MODEL_DIR=$top_srcdir/models "$top_builddir/src/digits" read "$IMG/2026.png")
ok_cmd "CLI: digits read says 2026" sh -c 'printf "%s" "$1" | grep -q " 2026 0\.[0-9]*$"' - "$cli"

tap_done
