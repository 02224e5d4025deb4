#!/bin/sh
# build.sh OUTDIR - builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined)
# straight from the sources into OUTDIR, outside the autotools build (which may use gcc).
# Exits 77 when clang or libFuzzer is missing (Debian: apt-get install clang libclang-rt-14-dev).
# Environment: CC (default: clang, else clang-14), FUZZ_CFLAGS (extra flags).
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
top=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${CC:-}" ] || ! command -v "$CC" >/dev/null 2>&1 || ! "$CC" --version 2>/dev/null | grep -q clang; then
	CC=
	for c in clang clang-14; do
		if command -v "$c" >/dev/null 2>&1; then
			CC=$c
			break
		fi
	done
fi
if [ -z "$CC" ]; then
	echo "fuzz: SKIP: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 77
fi
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists jansson; then
	echo "fuzz: SKIP: pkg-config or jansson's development files not found" >&2
	exit 77
fi

mkdir -p "$out"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' >"$probe/p.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1; then
	echo "fuzz: SKIP: $CC cannot link -fsanitize=fuzzer,address,undefined (libFuzzer missing?" \
		"On Debian 12: apt-get install libclang-rt-14-dev)" >&2
	sed 's/^/  /' "$probe/log" >&2
	exit 77
fi

# Include paths for jansson and (headers only) libwebsockets; libwebsockets is optional here.
pc=$(pkg-config --cflags jansson libwebsockets 2>/dev/null || pkg-config --cflags jansson)
cflags="-std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -Wall -Wextra -D_GNU_SOURCE
	-I$top/src -I$top/src/include -I$top/bridges/common -I$top/fuzz $pc ${FUZZ_CFLAGS:-}"
libs="$(pkg-config --libs jansson) -lm"

build() {
	name=$1
	shift
	echo "  CC  $out/$name"
	# shellcheck disable=SC2086 # word splitting of the flag lists is intended
	"$CC" $cflags -DPACKAGE_VERSION='"fuzz"' "$@" -o "$out/$name" $libs
}

build fuzz_eio "$top/fuzz/fuzz_eio.c" "$top/src/eio_codec.c" "$top/src/strbuf.c" "$top/src/util/base64.c"
build fuzz_eio3 "$top/fuzz/fuzz_eio3.c" "$top/src/eio3_codec.c" "$top/src/strbuf.c" "$top/src/util/base64.c" \
	"$top/src/util/utf8.c"
build fuzz_sio "$top/fuzz/fuzz_sio.c" "$top/src/sio_codec.c" "$top/src/strbuf.c"
build fuzz_config "$top/fuzz/fuzz_config.c" "$top/src/config.c" "$top/src/config_core.c" \
	"$top/src/server_config.c" "$top/src/nsp_config.c" "$top/src/middleware_config.c" \
	"$top/src/rooms_config.c" "$top/src/recovery_config.c" "$top/src/admin_ui_config.c" "$top/src/bridges_config.c" "$top/src/log.c" \
	"$top/src/template.c" "$top/src/strbuf.c" "$top/src/util/regex.c" "$top/src/util/suggest.c"
# The sources of bridges/common/libsgmap.la (bridges/Makefile.inc), which the replay links.
build fuzz_mapping "$top/fuzz/fuzz_mapping.c" "$top/bridges/common/mapping.c" \
	"$top/bridges/common/events.c" "$top/bridges/common/requests.c" "$top/bridges/common/message.c" \
	"$top/src/strbuf.c" "$top/src/template.c" "$top/src/hmap.c" "$top/src/sio_codec.c" \
	"$top/src/util/base64.c" "$top/src/util/clock.c" "$top/src/util/list.c" \
	"$top/src/util/regex.c" "$top/src/util/suggest.c"
