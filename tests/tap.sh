# tap.sh - the Test Anything Protocol for our shell tests; source it.
#
#   . "$top_srcdir/tests/tap.sh"
#   ok "$status" = 200 "health answers 200"      (arguments are a test(1) expression + description)
#   is "$got" "$want" "description"
#   tap_done
#
# DIGITS_REQUIRE_ALL=1 (set by CI) turns every skip into a failure.
tap_n=0
tap_failed=0

is() {
	tap_n=$((tap_n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $tap_n - $3"
	else
		echo "not ok $tap_n - $3"
		echo "#   got:  $1"
		echo "#   want: $2"
		tap_failed=$((tap_failed + 1))
	fi
}

# ok_cmd DESCRIPTION COMMAND...: passes when the command succeeds.
ok_cmd() {
	desc=$1
	shift
	tap_n=$((tap_n + 1))
	if "$@"; then
		echo "ok $tap_n - $desc"
	else
		echo "not ok $tap_n - $desc"
		tap_failed=$((tap_failed + 1))
	fi
}

diag() {
	echo "# $*"
}

# skip N REASON
skip() {
	i=0
	while [ "$i" -lt "$1" ]; do
		i=$((i + 1))
		tap_n=$((tap_n + 1))
		if [ -n "${DIGITS_REQUIRE_ALL:-}" ] && [ "${DIGITS_REQUIRE_ALL}" != 0 ]; then
			echo "not ok $tap_n - required but skipped: $2"
			tap_failed=$((tap_failed + 1))
		else
			echo "ok $tap_n # SKIP $2"
		fi
	done
}

# skip_all REASON: the whole script has nothing to run here.
skip_all() {
	if [ -n "${DIGITS_REQUIRE_ALL:-}" ] && [ "${DIGITS_REQUIRE_ALL}" != 0 ]; then
		echo "1..1"
		echo "not ok 1 - required but skipped: $1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}
