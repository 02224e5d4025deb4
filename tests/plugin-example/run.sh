#!/bin/sh
# run.sh - proves the installed plugin ABI is enough: installs only siogate/bridge.h and
# siogate-bridge.pc into a temporary DESTDIR, builds echo.c (C99) and cxx.cc (C++20) there the
# way a third party would (pkg-config, no source-tree path), installs them in the .pc's
# pluginsdir, and has the build tree's daemon load them (drive.py sends events to echo).
# As an automake TESTS entry it gets SG_TOP_SRCDIR and SG_TOP_BUILDDIR from TESTS_ENVIRONMENT;
# SG_VALGRIND=1 runs the daemon under valgrind. SG_KEEP_LOGS=1 keeps the temporary folder.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SG_TOP_SRCDIR=${SG_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
SG_TOP_BUILDDIR=${SG_TOP_BUILDDIR:-$SG_TOP_SRCDIR}
export SG_TOP_SRCDIR SG_TOP_BUILDDIR
siogate=$SG_TOP_BUILDDIR/src/siogate

fail() {
	echo "run.sh: FAIL: $*" >&2
	echo "run.sh: files kept in $tmp" >&2
	trap - EXIT
	exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/siogate-plugin-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ "${SG_KEEP_LOGS:-}" = 1 ]; then
	trap - EXIT
fi
root=$tmp/root
mkdir -p "$tmp/src"

# The ABI files only: no root needed, and nothing else to build or relink. A sub-make of the
# running `make check` must not inherit its jobserver.
(unset MAKEFLAGS MFLAGS MAKELEVEL
 make -s -C "$SG_TOP_BUILDDIR" DESTDIR="$root" install-siogate_includeHEADERS install-pkgconfigDATA >/dev/null) \
	|| fail "make install of the header and siogate-bridge.pc into $root"
pc=$(find "$root" -name siogate-bridge.pc)
[ -n "$pc" ] || fail "no siogate-bridge.pc installed under $root"

# pkg-config sees this install only (besides the system's jansson.pc), DESTDIR as its sysroot.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
cflags=$(pkg-config --cflags siogate-bridge) || fail "pkg-config --cflags siogate-bridge"
libs=$(pkg-config --libs siogate-bridge) || fail "pkg-config --libs siogate-bridge"
for f in $cflags; do
	case $f in
	-I"$root"/*) ;;
	-I*) fail "include path $f outside the temporary install (cflags: $cflags)" ;;
	esac
done
# pkgconf puts the sysroot in front of variables too; pkg-config does not.
pluginsdir=$(pkg-config --variable=pluginsdir siogate-bridge)
case $pluginsdir in
"$root"/*) ;;
/*) pluginsdir=$root$pluginsdir ;;
*) fail "pluginsdir '$pluginsdir' is not an absolute path" ;;
esac
# It must be where an installed daemon looks (its --help shows its default plugin path).
"$siogate" --help | grep -qF "else ${pluginsdir#"$root"}" \
	|| fail "pluginsdir ${pluginsdir#"$root"} is not the daemon's default plugin path"

# Built from copies in a temporary folder: the source tree's headers are not within reach.
cp "$here/echo.c" "$here/cxx.cc" "$tmp/src/"
cd "$tmp/src"
# shellcheck disable=SC2086 # word splitting of the flags is intended
cc -std=c99 -Wall -Wextra -pedantic -Werror -fPIC -shared -fvisibility=hidden $cflags \
	-MMD -MF echo.d -o echo.so echo.c $libs || fail "building echo.so against the install"
grep -q "$root/.*/siogate/bridge.h" echo.d || fail "echo.c did not include the installed bridge.h: $(cat echo.d)"
if grep -q "$SG_TOP_SRCDIR/src" echo.d; then
	fail "echo.c included a file of the source tree: $(cat echo.d)"
fi
mkdir -p "$pluginsdir"
install -m 644 echo.so "$pluginsdir/"
if command -v c++ >/dev/null; then
	# shellcheck disable=SC2086
	c++ -std=c++20 -Wall -Wextra -pedantic -Werror -fPIC -shared -fvisibility=hidden $cflags \
		-o cxx.so cxx.cc $libs || fail "building cxx.so (C++20) against the install"
	install -m 644 cxx.so "$pluginsdir/"
else
	echo "run.sh: no c++ compiler: the C++ build of bridge.h is not checked"
fi

# The daemon under valgrind too, when asked (its exit code 99 says valgrind found errors).
daemon() {
	if [ "${SG_VALGRIND:-}" = 1 ]; then
		valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
			--show-leak-kinds=definite,indirect --fair-sched=yes "$siogate" "$@"
	else
		"$siogate" "$@"
	fi
}
export SIOGATE_PLUGIN_PATH="$pluginsdir"
cxx_nsp=
if [ -e cxx.so ]; then
	cxx_nsp=', {"name": "/cxx", "bridge": {"type": "cxx"}}'
fi
printf '{"namespaces": [{"name": "/echo", "bridge": {"type": "echo", "tag": "t"}}%s]}\n' "$cxx_nsp" >good.json
echo '{"namespaces": [{"name": "/echo", "bridge": {"type": "echo", "tag": 5}}]}' >bad.json
daemon --check-config -c good.json >check.out 2>&1 || fail "--check-config with the plugins: $(cat check.out)"
rc=0
daemon --check-config -c bad.json >check.out 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--check-config of a bad echo binding exited $rc: $(cat check.out)"
grep -qF "namespaces[0].bridge.tag: expected a string" check.out \
	|| fail "the plugin's check_binding error is not reported: $(cat check.out)"

# Events through the running daemon: drive.py uses the integration tests' harness (free port,
# bounded waits, valgrind, killed by PID).
limit=300
if [ "${SG_VALGRIND:-}" = 1 ]; then
	limit=1800
fi
PYTHONDONTWRITEBYTECODE=1 timeout --kill-after=10 "$limit" /usr/bin/python3 "$here/drive.py" || fail "drive.py"
echo "run.sh: plugins built against the installed ABI and loaded by siogate: $(cd "$pluginsdir" && echo *)"
