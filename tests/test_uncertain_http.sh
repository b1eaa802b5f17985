#!/bin/sh
# test_uncertain_http.sh - "confidence" and "uncertain" through a real lighttpd
# with the shipped models: the draw pad's horizontal stroke, a shorter dash
# and a letter are flagged "not_a_digit", a clean MNIST digit is not, every
# image of a batch carries the fields, and the CLI's --json says the same as
# the API, for every shipped model.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
IMG=$TEST_TMP/img
mkdir -p "$IMG"
{ "$top_builddir/tests/mknondigit" stroke "$IMG/stroke.png" &&
	"$top_builddir/tests/mknondigit" dash "$IMG/dash.png" &&
	"$top_builddir/tests/mknondigit" letter K "$IMG/letter.png"; } ||
	{ echo "Bail out! mknondigit failed"; exit 1; }
"$top_builddir/tests/mkdigit" --invert --scale 4 0 png "$IMG/seven.png" >/dev/null
case $? in
0) ;;
77) skip_all "MNIST not found (make data)" ;;
*) echo "Bail out! mkdigit failed"; exit 1 ;;
esac
start_server || { echo "Bail out! lighttpd did not start"; exit 1; }

# post FILE...: the API's answer to the files as one multipart request.
post() {
	args=
	for f in "$@"; do args="$args -F image=@$f;type=image/png"; done
	# shellcheck disable=SC2086
	"$CURL" -s --max-time 20 -o "$TEST_TMP/body" -w '%{http_code}' $args \
		"$BASE_URL/api/v1/predict"
}
body() { cat "$TEST_TMP/body"; }

is "$(post "$IMG/stroke.png")" 200 "stroke: 200"
ok_cmd "stroke: uncertain, not a digit" \
	grep -q '"confidence":0\.[0-9]*,"uncertain":true,"uncertain_reason":"not_a_digit"' "$TEST_TMP/body"
ok_cmd "stroke: still names its most likely digit" grep -q '"digit":[0-9]' "$TEST_TMP/body"

for pic in dash letter; do
	is "$(post "$IMG/$pic.png")" 200 "$pic: 200"
	ok_cmd "$pic: uncertain, not a digit" \
		grep -q '"uncertain":true,"uncertain_reason":"not_a_digit"' "$TEST_TMP/body"
done

is "$(post "$IMG/seven.png")" 200 "MNIST test digit 0: 200"
ok_cmd "digit: 7, sure" grep -q '"digit":7,.*"confidence":0\.9[0-9]*,"uncertain":false' "$TEST_TMP/body"
ok_cmd "digit: no reason when sure" sh -c '! grep -q uncertain_reason "$1"' - "$TEST_TMP/body"

is "$(post "$IMG/seven.png" "$IMG/stroke.png")" 200 "batch: 200"
is "$(body | grep -o '"uncertain":[a-z]*' | tr '\n' ' ')" \
	'"uncertain":false "uncertain":true ' "batch: each image judged on its own"

cli=$(DIGITS_MODEL_DIR=$top_srcdir/models "$top_builddir/src/digits" predict --json "$IMG/stroke.png")
ok_cmd "CLI --json: the stroke is not a digit" \
	sh -c 'printf "%s" "$1" | grep -q "\"uncertain\":true,\"uncertain_reason\":\"not_a_digit\""' - "$cli"

# Every shipped model, float and int8 (whose heads read their bytes as
# floats): the three non-digits flagged, the digit not.
for model in cnn lenet5 mlp cnn-int8 lenet5-int8 mlp-int8; do
	cli=$(DIGITS_MODEL_DIR=$top_srcdir/models "$top_builddir/src/digits" predict --json \
		--model $model "$IMG/stroke.png" "$IMG/dash.png" "$IMG/letter.png" "$IMG/seven.png")
	is "$(printf '%s\n' "$cli" |
		grep -o '"uncertain":[a-z]*\(,"uncertain_reason":"[a-z_]*"\)\{0,1\}' |
		sed 's/.*"uncertain_reason":"\([a-z_]*\)"/\1/; s/"uncertain":false/sure/' |
		tr '\n' ' ')" \
		'not_a_digit not_a_digit not_a_digit sure ' \
		"CLI --json --model $model: stroke, dash and letter not digits, the 7 sure"
done

tap_done
