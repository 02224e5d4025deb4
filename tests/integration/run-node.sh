#!/bin/sh
# run-node.sh - runs the Node integration tests (tests/integration/*.test.mjs, node:test and
# the official socket.io-client) against the daemon and the conformance server.
# As an automake TESTS entry it gets SG_TOP_SRCDIR and SG_TOP_BUILDDIR from
# TESTS_ENVIRONMENT; standalone: SG_TOP_BUILDDIR=/path/to/build tests/integration/run-node.sh
# Needs `npm ci` in tests/ first. SG_VALGRIND=1 runs the servers under valgrind.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SG_TOP_SRCDIR=${SG_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
SG_TOP_BUILDDIR=${SG_TOP_BUILDDIR:-$SG_TOP_SRCDIR}
export SG_TOP_SRCDIR SG_TOP_BUILDDIR

if ! command -v node >/dev/null 2>&1; then
	echo "run-node.sh: node is not installed (Node.js 20 or later is needed)" >&2
	exit 1
fi
testdir="$SG_TOP_SRCDIR/tests"
if [ ! -f "$testdir/node_modules/socket.io-client/package.json" ]; then
	# A tree without node_modules (make distcheck's read-only copy): with SG_NODE_MODULES
	# naming an installed one, run a copy of the tests in the build directory beside it.
	if [ -n "${SG_NODE_MODULES:-}" ] && [ -f "$SG_NODE_MODULES/socket.io-client/package.json" ]; then
		run="$SG_TOP_BUILDDIR/tests-node-run"
		rm -rf "$run"
		mkdir -p "$run"
		cp -R "$testdir/integration" "$run/integration"
		chmod -R u+w "$run"
		ln -s "$SG_NODE_MODULES" "$run/node_modules"
		testdir=$run
	else
		echo "run-node.sh: $testdir/node_modules is missing;" \
			"run 'npm ci' in $testdir first (or set SG_NODE_MODULES to an installed copy)" >&2
		exit 1
	fi
fi
for bin in src/siogate tests/conformance-server; do
	if [ ! -x "$SG_TOP_BUILDDIR/$bin" ]; then
		echo "run-node.sh: $SG_TOP_BUILDDIR/$bin is missing; build it" \
			"(make all check) or set SG_TOP_BUILDDIR to the build directory" >&2
		exit 1
	fi
done

cd "$testdir/.."
# The overall bound is a safety net only: every wait inside the tests is bounded.
limit=600
if [ "${SG_VALGRIND:-}" = 1 ]; then
	limit=3600
fi
exec timeout --kill-after=10 "$limit" \
	node --test --test-concurrency=1 --test-reporter=spec "$(basename "$testdir")"/integration/*.test.mjs
