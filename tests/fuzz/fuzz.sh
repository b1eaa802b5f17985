#!/bin/sh
# Run each libFuzzer target named on the command line for $FUZZ_SECONDS
# (default 60) from its committed corpus, one after the other: TAP, one
# result per target (not ok: a crash, a leak, a sanitizer report, a slow
# input or a broken check; the log and the input that did it are named).
# New corpus entries and crash files go to $top_builddir/tests/fuzz/out/
# only; the source tree is read, never written.  Ends with a table of
# executions per target as TAP comments.  Started by make fuzz.
set -u
secs=${FUZZ_SECONDS:-60}
src="$top_srcdir/tests/fuzz"
out="$top_builddir/tests/fuzz/out"
# Leaks count as findings (none is suppressed: see
# fuzz_common.c).  libFuzzer's -timeout makes a slow input a finding, and
# timeout(1) stops a target that stops answering altogether.
n=0 table=""
echo "1..$#"
for t in "$@"; do
	n=$((n + 1))
	dir="$out/$t"
	rm -rf "$dir/crashes" && mkdir -p "$dir/corpus" "$dir/crashes" || exit 1
	dict=""
	[ -f "$src/$t.dict" ] && dict="-dict=$src/$t.dict"
	timeout -k 10 $((secs + 120)) "$top_builddir/tests/fuzz/fuzz_$t" \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/crashes/" $dict \
		"$dir/corpus" "$src/corpus/$t" "$src/regress/$t" >"$dir/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' "$dir/log" | tail -n 1)
	corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' "$dir/log" | tail -n 1)
	found=$(ls "$dir/crashes" | head -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		echo "ok $n - $t: ${execs:-?} executions in ${secs} s, nothing found"
		result=clean
	else
		echo "not ok $n - $t: exit $rc${found:+, input $dir/crashes/$found}; see $dir/log"
		grep -m 3 -E '^(==[0-9]+==ERROR|SUMMARY|.*broken:)' "$dir/log" | sed 's/^/# /'
		result=FOUND
	fi
	table="$table$(printf '%-10s %6s %12s %8s %6s %7s  %s' "$t" "$secs" "${execs:-?}" \
		"${rate:-?}" "${cov:-?}" "${corp:-?}" "$result")
"
done
echo "# target    seconds   executions  exec/s  edges  corpus  result"
printf '%s' "$table" | sed 's/^/# /'
