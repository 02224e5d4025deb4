#!/bin/sh
# run.sh SECONDS [OUTDIR] - builds the libFuzzer targets and runs each for SECONDS on a copy
# of its seed corpus (fuzz/corpus/<target>) in OUTDIR (default: ./fuzz-out), so the source
# tree is never modified. Exits 1 if any target crashes (leak, sanitizer report, invariant
# violation, timeout, out of memory): the crash input stays in OUTDIR/<target>/ and its
# path and a hex dump are printed. Exits 77 (skip) when clang or libFuzzer is missing.
# Environment: FUZZ_TARGETS (default: all), FUZZ_JOBS (parallel runs, default 1).
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 SECONDS [OUTDIR]" >&2
	exit 2
fi
secs=$1
case $secs in
'' | *[!0-9]*)
	echo "$0: SECONDS must be a whole number, not '$secs'" >&2
	exit 2
	;;
esac
here=$(cd "$(dirname "$0")" && pwd)
out=${2:-fuzz-out}
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
targets=${FUZZ_TARGETS:-eio eio3 sio config mapping}

"$here/build.sh" "$out/bin"
rc=$?
if [ "$rc" -ne 0 ]; then
	[ "$rc" -eq 77 ] && echo "fuzz: skipped" >&2
	exit "$rc"
fi

run_one() {
	t=$1
	dir=$out/$t
	rm -rf "$dir/corpus"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	cp "$here/corpus/$t/"* "$dir/corpus/"
	dict=
	[ -f "$here/dict/$t.dict" ] && dict=-dict=$here/dict/$t.dict
	echo "fuzz: $t for ${secs}s (log: $dir/fuzz.log)"
	# shellcheck disable=SC2086 # $dict is empty or one word
	(cd "$dir" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$out/bin/fuzz_$t" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/" $dict "$dir/corpus" \
		>"$dir/fuzz.log" 2>&1)
	echo $? >"$dir/rc"
}

if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
	for t in $targets; do
		run_one "$t" &
	done
	wait
else
	for t in $targets; do
		run_one "$t"
	done
fi

status=0
for t in $targets; do
	dir=$out/$t
	trc=$(cat "$dir/rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log" | tail -n 1)
	echo "fuzz: $t: exit $trc, ${execs:-?} executions, ${speed:-?} exec/s, corpus $(find "$dir/corpus" -type f | wc -l) inputs"
	if [ "$trc" -ne 0 ]; then
		status=1
		echo "fuzz: $t FAILED; end of $dir/fuzz.log:" >&2
		tail -n 60 "$dir/fuzz.log" >&2
		for a in "$dir/artifacts/"*; do
			[ -f "$a" ] || continue
			echo "fuzz: crash input: $a (reproduce: $out/bin/fuzz_$t $a; keep it in fuzz/regressions/$t/)" >&2
			od -A x -t x1z -v "$a" | head -n 64 >&2
		done
	fi
done
exit "$status"
