#!/bin/sh
# serve.sh PORT - run lighttpd in the foreground with the project's
# lighttpd.conf on 127.0.0.1:PORT, from a build tree.
#
# DIGITS_SRCDIR and DIGITS_BUILDDIR default to $top_srcdir / $top_builddir
# (set by make check), else this script's parent directory / the current
# directory.  Other DIGITS_* variables pass through (see lighttpd.conf).
# Used by `make serve`, tests/lib.sh and the browser test.
set -e
port=${1:?usage: serve.sh PORT}
here=$(cd "$(dirname "$0")/.." && pwd)
DIGITS_SRCDIR=${DIGITS_SRCDIR:-${top_srcdir:-$here}}
DIGITS_BUILDDIR=${DIGITS_BUILDDIR:-${top_builddir:-$(pwd)}}
DIGITS_PORT=$port
export DIGITS_SRCDIR DIGITS_BUILDDIR DIGITS_PORT
if [ ! -x "$DIGITS_BUILDDIR/cgi-bin/digits.fcgi" ]; then
	echo "serve.sh: no $DIGITS_BUILDDIR/cgi-bin/digits.fcgi: run make first" >&2
	exit 1
fi
# Started as root, lighttpd.conf drops to www-data, which must be able to
# reach both trees (a checkout under /root is not).  If it cannot, run as
# root rather than fail, and say so: fine on 127.0.0.1 for development.
model=$(ls "${DIGITS_MODEL_DIR:-$DIGITS_SRCDIR/models}"/*.model 2>/dev/null | head -n 1)
if [ "$(id -u)" = 0 ] && [ -z "${DIGITS_USER+set}" ] && command -v runuser >/dev/null &&
	! runuser -u www-data -- sh -c 'test -x "$1" && test -r "$2" && test -r "${3:-$2}"' sh \
		"$DIGITS_BUILDDIR/cgi-bin/digits.fcgi" "$DIGITS_SRCDIR/lighttpd.conf" "$model" 2>/dev/null; then
	echo "serve.sh: www-data cannot read $DIGITS_SRCDIR or $DIGITS_BUILDDIR: running as root" >&2
	DIGITS_USER=
	export DIGITS_USER
fi
exec "${LIGHTTPD:-lighttpd}" -D -f "$DIGITS_SRCDIR/lighttpd.conf"
