#!/bin/sh
# test_limits.sh - the worst body of each input style against a real
# lighttpd with one FastCGI process, at the default limits (8 MiB body,
# 16 images, 4096 x 4096 a picture, DIGITS_MAX_PIXELS one such picture a
# request).  Each gets its exact status and error code, and the process's
# memory stays bounded while answering it (peak, VmHWM) and after it
# (VmRSS): the README's "Limits" states the same bounds.
#
#   peak  <= the process's idle RSS + 3 x the body + what decoding the
#            largest picture costs (PEAK_DECODE_MB), i.e. a JSON or
#            multipart body never costs more than a small multiple of itself
#   after <= idle RSS + AFTER_MB: what a request allocated is given back
#
# The peak is reset before each request (writing 5 to /proc/PID/clear_refs,
# Linux >= 4.0); without that the test skips the memory checks.  A good
# request after all of them is answered with its exact digit.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
MKDIGIT=$top_builddir/tests/mkdigit
MKWORST=$top_builddir/tests/mkworst
# bench_worst: decoding the worst PNG, WebP or TIFF raises the peak by ~131-139
# MB, AVIF and HEIF by up to ~185 MB.
PEAK_DECODE_MB=200
# The arena's first MiB, pages of libraries used once, heap glibc keeps.
# Without malloc_trim after big requests, a progressive JPEG decoded after
# two AVIFs left ~22 MB behind (likely glibc's mmap threshold, raised by the
# AV1 decoder's large frees, putting libjpeg's buffers in the heap), and a
# JSON bomb parsed by json-c ~390 MB.
AFTER_MB=16

label=$("$MKDIGIT" --invert 0 png "$TEST_TMP/good.png" 2>"$TEST_TMP/err") ||
	skip_all "$(cat "$TEST_TMP/err")"
"$MKWORST" png16 4096 "$TEST_TMP/png16.png" || skip_all "mkworst cannot write png16"
"$MKWORST" png8 4096 "$TEST_TMP/png8.png" || skip_all "mkworst cannot write png8"
"$MKWORST" webp-lossless 4096 "$TEST_TMP/tiny.webp" || skip_all "mkworst cannot write webp"
"$MKWORST" gif 4096 "$TEST_TMP/big.gif" || skip_all "mkworst cannot write gif"
# The largest JPEG whose base64 fits an 8 MiB JSON body.
"$MKWORST" jpeg-progressive 4096 "$TEST_TMP/big.jpg" 6200000 ||
	skip_all "mkworst cannot write jpeg"

start_server DIGITS_PROCS=1 || { echo "Bail out! lighttpd did not start"; exit 1; }
P=$BASE_URL/api/v1/predict
pid=$(ps -o pid= --ppid "$server_pid" | tr -d ' ' | head -n 1)
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
resettable=0
echo 5 2>/dev/null >"/proc/$pid/clear_refs" && resettable=1
# AddressSanitizer's shadow memory and quarantine are not the program's:
# under ASan (CI's second run) the memory checks are not made at all, and
# the statuses and codes are; the plain build's run makes both.
asan=0
grep -q __asan_init "$top_builddir/cgi-bin/digits.fcgi" && asan=1
why="cannot reset the peak RSS (/proc/PID/clear_refs)"

# The first predictions fault in the model and the libraries: warm up, then
# take the idle size.
for _ in 1 2 3; do
	"$CURL" -s -o /dev/null -H 'Content-Type: image/png' --data-binary "@$TEST_TMP/good.png" "$P"
done
idle=$(kb VmRSS)
diag "FastCGI process $pid: idle RSS $((idle / 1024)) MB"

# send NAME STATUS CODE CONTENT-TYPE BODY-FILE: POST it, check the answer and
# the process's memory.  CODE "-" for a 200.
send() {
	name=$1 want_status=$2 want_code=$3 ctype=$4 file=$5
	bytes=$(wc -c <"$file" | tr -d ' ')
	[ "$resettable" = 1 ] && echo 5 >"/proc/$pid/clear_refs"
	status=$("$CURL" -s -o "$TEST_TMP/out" -w '%{http_code}' --max-time 60 \
		-H "Content-Type: $ctype" --data-binary "@$file" "$P")
	code=$(sed -n 's/.*"code": *"\([a-z_]*\)".*/\1/p' "$TEST_TMP/out" | head -n 1)
	is "$status ${code:--}" "$want_status $want_code" "$name ($bytes bytes): $want_status $want_code"
	[ "$asan" = 1 ] && return
	if [ "$resettable" = 0 ]; then
		skip 2 "$why"
		return
	fi
	peak=$(kb VmHWM) after=$(kb VmRSS)
	limit=$((idle + 3 * bytes / 1024 + PEAK_DECODE_MB * 1024))
	ok_cmd "$name: peak $((peak / 1024)) MB <= $((limit / 1024)) MB" test "$peak" -le "$limit"
	ok_cmd "$name: after $((after / 1024)) MB <= idle + $AFTER_MB MB" \
		test "$after" -le "$((idle + AFTER_MB * 1024))"
}

# First, as the heap's history matters: two AVIFs, then a progressive JPEG
# (without malloc_trim the JPEG left the process 22 MB larger).
if "$MKWORST" avif 4096 "$TEST_TMP/big.avif" 2>/dev/null; then
	send "raw 4096x4096 AVIF" 200 - image/avif "$TEST_TMP/big.avif"
	send "raw 4096x4096 AVIF, again" 200 - image/avif "$TEST_TMP/big.avif"
else
	skip $((asan ? 2 : 6)) "this libgd cannot write AVIF"
fi
send "raw 4096x4096 progressive JPEG" 200 - image/jpeg "$TEST_TMP/big.jpg"

# multipart: the maximum number of images (16 tiny PNGs), then an 8 MiB
# body of one-byte parts (the parser stops at its 64 parts).
mp_part() { # FILE-or-empty: one part named image
	printf -- '--b\r\nContent-Disposition: form-data; name="image"; filename="x"\r\n\r\n'
	if [ -n "$1" ]; then cat "$1"; else printf x; fi
	printf '\r\n'
}
for _ in $(seq 1 16); do mp_part "$TEST_TMP/good.png"; done >"$TEST_TMP/mp16"
printf -- '--b--\r\n' >>"$TEST_TMP/mp16"
send "multipart, 16 images" 200 - "multipart/form-data; boundary=b" "$TEST_TMP/mp16"
is "$(grep -o '"digit": *[0-9]' "$TEST_TMP/out" | grep -c "$label\$")" 16 "16 images: 16 times digit $label"
mp_part "" >"$TEST_TMP/one"
n=$((8388000 / $(wc -c <"$TEST_TMP/one")))
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n\r\nx\r\n"; printf "--b--\r\n" }' >"$TEST_TMP/mpmany"
send "multipart, $n one-byte parts" 413 too_many_images "multipart/form-data; boundary=b" "$TEST_TMP/mpmany"

# JSON: the bombs of issue 11 (8 MiB of empty arrays; 600,000 keys; 1.3 M
# empty strings as images), refused by the check before json-c.
awk 'BEGIN { printf "{\"a\":["; for (i = 0; i < 2796000; i++) printf "%s[]", i ? "," : ""; printf "]}" }' >"$TEST_TMP/arrays"
send "JSON, 2.8 M empty arrays" 400 bad_json application/json "$TEST_TMP/arrays"
awk 'BEGIN { printf "{"; for (i = 0; i < 600000; i++) printf "%s\"k%d\":0", i ? "," : "", i; printf "}" }' >"$TEST_TMP/keys"
send "JSON, 600,000 keys" 400 bad_json application/json "$TEST_TMP/keys"
awk 'BEGIN { printf "{\"images\":["; for (i = 0; i < 2796000; i++) printf "%s\"\"", i ? "," : ""; printf "]}" }' >"$TEST_TMP/strings"
send "JSON, 2.8 M empty images" 400 bad_json application/json "$TEST_TMP/strings"

# base64: the largest JPEG that fits, and the largest picture (4096 x 4096).
{ printf '{"image": "'; base64 -w0 "$TEST_TMP/big.jpg"; printf '"}'; } >"$TEST_TMP/b64jpg"
send "JSON base64 of a 4096x4096 JPEG" 200 - application/json "$TEST_TMP/b64jpg"
{ printf '{"images": ["'; base64 -w0 "$TEST_TMP/png16.png"; printf '"]}'; } >"$TEST_TMP/b64png"
send "JSON base64 of a 4096x4096 16-bit PNG" 200 - application/json "$TEST_TMP/b64png"

# Raw pictures at the pixel limit, and just over it.
send "raw 4096x4096 16-bit PNG" 200 - image/png "$TEST_TMP/png16.png"
send "raw 4096x4096 RGBA PNG" 200 - image/png "$TEST_TMP/png8.png"
send "raw 4096x4096 GIF" 200 - image/gif "$TEST_TMP/big.gif"
# Sixteen 748-byte WebPs, each declaring 4096 x 4096: refused from their
# headers, before any is decoded (it took 16 decodes, seconds, before).
for _ in $(seq 1 16); do mp_part "$TEST_TMP/tiny.webp"; done >"$TEST_TMP/mpwebp"
printf -- '--b--\r\n' >>"$TEST_TMP/mpwebp"
t0=$(date +%s%N)
send "16 tiny WebPs declaring 4096x4096" 413 too_many_pixels "multipart/form-data; boundary=b" "$TEST_TMP/mpwebp"
ms=$((($(date +%s%N) - t0) / 1000000))
ok_cmd "16 tiny WebPs: refused in $ms ms (< 2000: no decoding)" test "$ms" -lt 2000

# Still serving, with the right answer.
"$CURL" -s -o "$TEST_TMP/out" -w '%{http_code}' -F "image=@$TEST_TMP/good.png" "$P" >"$TEST_TMP/status"
is "$(cat "$TEST_TMP/status") $(grep -o '"digit": *[0-9]' "$TEST_TMP/out" | grep -o '[0-9]$')" \
	"200 $label" "a good request afterwards: 200, digit $label"
is "$(ps -o pid= --ppid "$server_pid" | tr -d ' ')" "$pid" "the same FastCGI process answered all"

# DIGITS_MAX_PIXELS reaches the program through lighttpd.conf.
stop_server
start_server DIGITS_PROCS=1 DIGITS_MAX_PIXELS=4000000 || { echo "Bail out! lighttpd did not restart"; exit 1; }
status=$("$CURL" -s -o "$TEST_TMP/out" -w '%{http_code}' -H 'Content-Type: image/png' \
	--data-binary "@$TEST_TMP/png16.png" "$BASE_URL/api/v1/predict")
is "$status $(sed -n 's/.*"code": *"\([a-z_]*\)".*/\1/p' "$TEST_TMP/out")" "413 too_many_pixels" \
	"DIGITS_MAX_PIXELS=4000000: a 4096x4096 PNG is 413 too_many_pixels"

tap_done
