#!/bin/sh
# test_load.sh - 1000 predictions, 32 at a time, through lighttpd and its
# FastCGI processes: every one must answer 200 with the right digit (with
# trained models; untrained ones must still answer 200 with the same digit
# as a lone request for the same image).  This checks correctness under
# concurrency (no state leaks between requests or processes), not speed:
# tests/bench_http.sh measures speed.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

N=${DIGITS_LOAD_REQUESTS:-1000}
P=32
need_server
"$CURL" --help all 2>/dev/null | grep -q -- --parallel-max || skip_all "curl without --parallel"
MKDIGIT=$top_builddir/tests/mkdigit
"$MKDIGIT" 0 png "$TEST_TMP/probe.png" >/dev/null 2>"$TEST_TMP/err" || skip_all "$(cat "$TEST_TMP/err")"
start_server || { echo "Bail out! lighttpd did not start"; exit 1; }

# Four test images in two formats; want.K is the digit each must give.
K=0
for i in 0 1 2 3; do
	fmt=png
	[ "$i" -ge 2 ] && fmt=jpeg
	"$MKDIGIT" --invert --scale 3 "$i" "$fmt" "$TEST_TMP/img.$K" >"$TEST_TMP/label.$K"
	echo "$fmt" >"$TEST_TMP/fmt.$K"
	K=$((K + 1))
done
accuracy=$("$CURL" -s "$BASE_URL/api/v1/models" | sed -n 's/.*"name":"cnn","version":"[0-9a-f]*","test_accuracy":\([0-9.]*\).*/\1/p')
trained=$(awk -v a="${accuracy:-0}" 'BEGIN { print (a + 0 >= 0.9) ? 1 : 0 }')
for k in 0 1 2 3; do
	if [ "$trained" = 1 ]; then
		cp "$TEST_TMP/label.$k" "$TEST_TMP/want.$k"
	else
		"$CURL" -s -H "Content-Type: image/$(cat "$TEST_TMP/fmt.$k")" \
			--data-binary "@$TEST_TMP/img.$k" "$BASE_URL/api/v1/predict" |
			sed -n 's/^{"digit":\([0-9]\).*/\1/p' >"$TEST_TMP/want.$k"
	fi
done
[ "$trained" = 1 ] || diag "models are not trained: checking consistency, not the labels"

# One curl process makes all the requests, P at a time (curl --parallel):
# request i sends image i % 4 and writes its answer to out/i.K.
mkdir "$TEST_TMP/out"
i=0
while [ "$i" -lt "$N" ]; do
	k=$((i % 4))
	[ "$i" -gt 0 ] && echo next
	printf 'url = "%s/api/v1/predict"\nheader = "Content-Type: image/%s"\ndata-binary = "@%s"\noutput = "%s"\nwrite-out = "%%{http_code} %s\\n"\n' \
		"$BASE_URL" "$(cat "$TEST_TMP/fmt.$k")" "$TEST_TMP/img.$k" "$TEST_TMP/out/$i.$k" "$i.$k"
	i=$((i + 1))
done >"$TEST_TMP/curl.conf"
"$CURL" -s --parallel --parallel-max "$P" -K "$TEST_TMP/curl.conf" >"$TEST_TMP/statuses" 2>"$TEST_TMP/curl.err"
# results: "K STATUS DIGIT" per request
(cd "$TEST_TMP/out" && grep -o '^{"digit":[0-9]' -- *) | sed 's/:{"digit":/ /' | sort >"$TEST_TMP/digits"
sort "$TEST_TMP/statuses" -k2 | awk '{ print $2, $1 }' | join -a 1 - "$TEST_TMP/digits" |
	awk '{ split($1, a, "."); print a[2], $2, ($3 == "" ? "none" : $3) }' >"$TEST_TMP/results"

is "$(wc -l <"$TEST_TMP/results" | tr -d ' ')" "$N" "$N requests made, $P at a time"
is "$(grep -c ' 200 ' "$TEST_TMP/results")" "$N" "all answered 200"
wrong=0
for k in 0 1 2 3; do
	want=$(cat "$TEST_TMP/want.$k")
	w=$(grep "^$k " "$TEST_TMP/results" | grep -vc " $want\$")
	wrong=$((wrong + w))
done
is "$wrong" 0 "every answer has the expected digit"
statuses=$(grep -v ' 200 ' "$TEST_TMP/results" | awk '{print $2}' | sort | uniq -c | tr '\n' ' ')
[ -z "$statuses" ] || diag "other statuses: $statuses"
pids=$(grep -o '"pid":[0-9]*,"method":"POST"' "$SERVER_LOG" | sort -u | wc -l | tr -d ' ')
ok_cmd "requests were spread over the FastCGI processes ($pids)" test "$pids" -ge 2
tap_done
