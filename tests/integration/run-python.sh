#!/bin/sh
# run-python.sh - runs the Python integration tests (tests/integration/python/test_*.py,
# unittest and Debian's python3-socketio client) against the daemon and the conformance server,
# and demo/presence.py against the Kafka mock cluster and mosquitto.
# As an automake TESTS entry it gets SG_TOP_SRCDIR and SG_TOP_BUILDDIR from
# TESTS_ENVIRONMENT; standalone: SG_TOP_BUILDDIR=/path/to/build tests/integration/run-python.sh
# SG_VALGRIND=1 runs the servers under valgrind.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SG_TOP_SRCDIR=${SG_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
SG_TOP_BUILDDIR=${SG_TOP_BUILDDIR:-$SG_TOP_SRCDIR}
export SG_TOP_SRCDIR SG_TOP_BUILDDIR

python=/usr/bin/python3
if ! "$python" -c 'import socketio, engineio, requests, websocket' 2>/dev/null; then
	echo "run-python.sh: $python cannot import socketio/engineio/requests/websocket;" \
		"install python3-socketio python3-requests python3-websocket" >&2
	exit 1
fi
for bin in src/siogate tests/conformance-server; do
	if [ ! -x "$SG_TOP_BUILDDIR/$bin" ]; then
		echo "run-python.sh: $SG_TOP_BUILDDIR/$bin is missing; build it" \
			"(make all check) or set SG_TOP_BUILDDIR to the build directory" >&2
		exit 1
	fi
done

export PYTHONDONTWRITEBYTECODE=1
limit=300
if [ "${SG_VALGRIND:-}" = 1 ]; then
	limit=1800
fi
# Each test_*.py is a process of its own (its own harness, temporary folder and exit code).
# test_presence_example.py skips what it cannot run (no confluent_kafka, paho-mqtt or broker).
status=0
for t in "$SG_TOP_SRCDIR"/tests/integration/python/test_*.py; do
	echo "run-python.sh: $(basename "$t")"
	timeout --kill-after=10 "$limit" "$python" "$t" || status=1
done
exit $status
