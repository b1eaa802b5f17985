#!/bin/sh
# test_decoder_log.sh - what libpng, libtiff and libgd say about a broken
# upload reaches the service log only as a field of the request's JSON line
# ("decoder_warnings"), never as raw text between the lines: through a real
# lighttpd, a PNG with a bad IDAT CRC, a PNG whose IDAT declares more bytes
# than the picture can hold, and a TIFF with a wrong BitsPerSample count
# (which loads libgd and libtiff), all built here.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lib.sh"

need_server
"$top_builddir/tests/mkdigit" --invert 0 png "$TEST_TMP/7.png" >/dev/null 2>&1 ||
	skip_all "no MNIST test set (DIGITS_MNIST_DIR)"
start_server || { echo "Bail out! lighttpd did not start"; exit 1; }

# patch FILE OFFSET OCTAL-BYTES: overwrite bytes in place.
patch() {
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
idat=$(grep -obUa IDAT "$TEST_TMP/7.png" | head -n 1 | cut -d: -f1)

idat_len=$(od -An -tu1 -j $((idat - 4)) -N4 "$TEST_TMP/7.png" |
	awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
cp "$TEST_TMP/7.png" "$TEST_TMP/crc.png"
patch "$TEST_TMP/crc.png" $((idat + 4 + idat_len)) '\125' # the CRC's first byte
cp "$TEST_TMP/7.png" "$TEST_TMP/long.png"
patch "$TEST_TMP/long.png" $((idat - 4)) '\077\377\000\000' # IDAT length 1 GiB
# Little-endian TIFF, 1x1 RGB, BitsPerSample with 2 values for 3 samples.
printf '\111\111\052\000\010\000\000\000\011\000\000\001\003\000\001\000\000\000\001\000\000\000\001\001\003\000\001\000\000\000\001\000\000\000\002\001\003\000\002\000\000\000\010\000\010\000\003\001\003\000\001\000\000\000\001\000\000\000\006\001\003\000\001\000\000\000\002\000\000\000\021\001\004\000\001\000\000\000\172\000\000\000\025\001\003\000\001\000\000\000\003\000\000\000\026\001\003\000\001\000\000\000\001\000\000\000\027\001\004\000\001\000\000\000\003\000\000\000\000\000\000\000\000\000\000' >"$TEST_TMP/bad.tiff"

# post NAME FILE: POST the file as the body, request id NAME; sets $status
# and $code.
post() {
	out=$("$CURL" -s --max-time 20 -H "X-Request-Id: $1" -H 'Content-Type: application/octet-stream' \
		--data-binary "@$2" -w '\n%{http_code}' "$BASE_URL/api/v1/predict")
	status=$(printf '%s\n' "$out" | tail -n 1)
	code=$(printf '%s\n' "$out" | sed -n 's/.*"code":"\([a-z_]*\)".*/\1/p' | head -n 1)
}

# line ID: the server log's line for request ID.
line() {
	grep "\"id\":\"$1\"" "$SERVER_LOG"
}

post good "$TEST_TMP/7.png"
is "$status" 200 "a good PNG: 200"
post crc "$TEST_TMP/crc.png"
is "$status $code" "422 corrupt_image" "PNG with a bad IDAT CRC: 422 corrupt_image"
post long "$TEST_TMP/long.png"
is "$status $code" "422 corrupt_image" "PNG with a 1 GiB IDAT length: 422 corrupt_image"
post tiff "$TEST_TMP/bad.tiff"
is "$status $code" "422 corrupt_image" "TIFF with a wrong BitsPerSample count: 422 corrupt_image"
post good2 "$TEST_TMP/7.png"
is "$status" 200 "the process keeps serving"

stop_server # every line written
ok_cmd "the good PNG's line has no decoder_warnings" sh -c "! grep '\"id\":\"good\"' '$SERVER_LOG' | grep -q decoder_warnings"
is "$(line crc | grep -o '"decoder_warnings":\[[^]]*\]')" \
	'"decoder_warnings":["libpng error: IDAT: CRC error"]' "bad CRC: libpng's error in the request's line"
is "$(line long | grep -o '"decoder_warnings":\[[^]]*\]')" \
	'"decoder_warnings":["libpng warning: IDAT: chunk data is too large","libpng error: truncated data"]' \
	"1 GiB IDAT: libpng's error in the request's line"
is "$(line tiff | grep -o '"decoder_warnings":\[[^]]*\]')" \
	'"decoder_warnings":["libtiff error: TIFFReadDirectory: Incorrect count for \"BitsPerSample\"","libgd: Cannot open TIFF image"]' \
	"bad TIFF: libtiff's and libgd's messages in the request's line"
# Everything in the log is a JSON line or one of lighttpd's own
# ("2026-12-03 07:00:00: (server.c.1234) ..."); nothing from a library.
is "$(grep -v '^{' "$SERVER_LOG" | grep -cv '^[0-9-]* [0-9:]*: (')" 0 \
	"the log holds only JSON lines and lighttpd's own"
is "$(grep -v '^{' "$SERVER_LOG" | grep -ci 'png\|tiff\|libgd\|gd-')" 0 \
	"no library text outside the JSON lines"
tap_done
