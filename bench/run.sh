#!/usr/bin/env bash
# run.sh - the siogate benchmark (`make bench`): siogate and the Node reference server, same
# machine, same run, same load generator. Prints one table and writes bench/results/latest.md.
#
# Usage: bench/run.sh ABS_BUILDDIR   (make bench passes $(abs_top_builddir))
# Environment:
#   BENCH_QUICK=1     skip scenario 5 (the 60 s hold of ~20,000 connections)
#   BENCH_HOLD_S=60   how long scenario 5 holds its connections
#   BENCH_BCAST_MSGS=300, BENCH_BCAST_REPS=3, BENCH_ECHO_MSGS=5000
#   BENCH_KAFKA_MSGS=1000, BENCH_KAFKA_RATE=200 (records/s, paced run; the burst run sends
#   BENCH_KAFKA_MSGS/4 as fast as it can). Scenario 4 needs the Kafka bridge (librdkafka);
#   without it the row says why. Node has no Kafka bridge: n/a there.
#   BENCH_KAFKA_CURVE="10 50 100 200" (records/s: the latency curve, 5 s and at least 150 records each)
#   BENCH_MQTT_CURVE="10 50 100 200" (messages/s: the same curve through mosquitto and the MQTT
#   bridge, 5 s and at least 150 messages each, published at QoS BENCH_MQTT_QOS=0 by bench/mbench.c). It
#   needs the MQTT bridge (libmosquitto-dev) and Debian's mosquitto; without them it says why.
#   BENCH_MOSQUITTO=mosquitto (the broker: a name in PATH or a path; by default also looked for
#   in /usr/sbin and /usr/local/sbin)
#   BENCH_LOOPS="poll libuv glib" (server.event_loop values compared; the main table runs
#   siogate on its default, "auto"; a loop whose plugin is missing is reported as such)
#   BENCH_PIN=1 (servers on CPU 0, load generators on CPU 1, when there are 2 CPUs or more)
# Everything listens on 127.0.0.1; every wait is bounded; servers are stopped by PID.
set -euo pipefail

BUILDDIR=${1:?usage: bench/run.sh ABS_BUILDDIR}
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
OUT=$BUILDDIR/bench-out
RESULTS=$SRCDIR/bench/results
HOLD_S=${BENCH_HOLD_S:-60}
BCAST_MSGS=${BENCH_BCAST_MSGS:-300}
BCAST_REPS=${BENCH_BCAST_REPS:-3}
ECHO_MSGS=${BENCH_ECHO_MSGS:-5000}
KAFKA_MSGS=${BENCH_KAFKA_MSGS:-1000}
KAFKA_RATE=${BENCH_KAFKA_RATE:-200}
KAFKA_CURVE=${BENCH_KAFKA_CURVE:-10 50 100 200}
MQTT_CURVE=${BENCH_MQTT_CURVE:-10 50 100 200}
MQTT_QOS=${BENCH_MQTT_QOS:-0}
LOOPS=${BENCH_LOOPS:-poll libuv glib}
FANOUT_MSGS=${BENCH_FANOUT_MSGS:-300}
SIOGATE=$BUILDDIR/src/siogate
PLUGINS=$BUILDDIR/bridges/local/.libs

die() { echo "bench: $*" >&2; exit 1; }

[ -x "$SIOGATE" ] || die "$SIOGATE not built (run make first)"
[ -f "$PLUGINS/local.so" ] || die "the local bridge plugin is not built ($PLUGINS/local.so); configure --with-bridge-local"
command -v node >/dev/null || die "node is required for the reference server"
command -v npm >/dev/null || die "npm is required for the reference server"

# File descriptors: 10,000 clients need 10,000 in the server and in the load generator.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
[ "$NOFILE" -ge 10300 ] || die "ulimit -n is $NOFILE (hard limit $(ulimit -Hn)); 10,000 clients need at least 10300. Raise the hard limit (e.g. ulimit -Hn 65536 as root)."
if [ "$NOFILE" -ge 20300 ]; then HOLD_N=20000; else HOLD_N=$((NOFILE - 300)); fi

mkdir -p "$OUT" "$RESULTS"
rm -f "$OUT"/*.json "$OUT"/*.log

echo "bench: building the load generator and the fan-out floor"
gcc -O2 -Wall -Wextra -pthread -o "$OUT/loadgen" "$SRCDIR/bench/loadgen.c" || die "cannot build bench/loadgen.c"
gcc -O2 -Wall -Wextra -o "$OUT/floor" "$SRCDIR/bench/floor.c" || die "cannot build bench/floor.c"
LOADGEN=$OUT/loadgen

# Pinning: the server (and the floor's sender) on one CPU, the load generators on another, so
# that runs are comparable and the load generator never takes the server's CPU.
NCPU=$(nproc 2>/dev/null || echo 1)
SERVER_CPU=
LOAD_CPU=
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
	SERVER_CPU=0
	LOAD_CPU=1
fi
# Command prefixes (arrays, so that $! is the server's own PID and timeout can run them).
ON_SERVER_CPU=()
ON_LOAD_CPU=()
if [ -n "$SERVER_CPU" ]; then
	ON_SERVER_CPU=(taskset -c "$SERVER_CPU")
	ON_LOAD_CPU=(taskset -c "$LOAD_CPU")
fi

# Scenario 4 needs the Kafka bridge, the mock cluster (tests/kafka-mock) and kbench.c.
KAFKA_SKIP=
if [ ! -f "$BUILDDIR/bridges/kafka/.libs/kafka.so" ]; then
	KAFKA_SKIP="the Kafka bridge is not built"
elif ! pkg-config --exists rdkafka; then
	KAFKA_SKIP="librdkafka development files are missing"
elif ! make -s -C "$BUILDDIR" tests/kafka-mock >"$OUT/kafka-mock.build.log" 2>&1; then
	KAFKA_SKIP="cannot build tests/kafka-mock (see $OUT/kafka-mock.build.log)"
else
	echo "bench: building the Kafka producer/consumer (kbench)"
	# shellcheck disable=SC2046
	gcc -O2 -Wall -Wextra -o "$OUT/kbench" "$SRCDIR/bench/kbench.c" $(pkg-config --cflags --libs rdkafka) ||
		KAFKA_SKIP="cannot build bench/kbench.c"
fi

# The MQTT curve needs the MQTT bridge, a mosquitto broker and mbench.c (libmosquitto).
MQTT_SKIP=
MQTT_VERSION=
MOSQUITTO=$(command -v "${BENCH_MOSQUITTO:-mosquitto}" 2>/dev/null || true)
if [ -z "$MOSQUITTO" ] && [ -z "${BENCH_MOSQUITTO:-}" ]; then
	for m in /usr/sbin/mosquitto /usr/local/sbin/mosquitto; do # not in a user's PATH on Debian
		if [ -x "$m" ]; then MOSQUITTO=$m; break; fi
	done
fi
case "$MQTT_QOS" in 0 | 1 | 2) ;; *) die "BENCH_MQTT_QOS must be 0, 1 or 2" ;; esac
if [ ! -f "$BUILDDIR/bridges/mqtt/.libs/mqtt.so" ]; then
	MQTT_SKIP="the MQTT bridge is not built"
elif [ -z "$MOSQUITTO" ]; then
	MQTT_SKIP="the mosquitto broker is not installed (Debian package mosquitto)"
else
	echo "bench: building the MQTT publisher/subscriber (mbench)"
	MQTT_LIBS=-lmosquitto
	pkg-config --exists libmosquitto && MQTT_LIBS=$(pkg-config --cflags --libs libmosquitto)
	# shellcheck disable=SC2086
	gcc -O2 -Wall -Wextra -o "$OUT/mbench" "$SRCDIR/bench/mbench.c" $MQTT_LIBS ||
		MQTT_SKIP="cannot build bench/mbench.c (libmosquitto-dev?)"
	MQTT_VERSION=$("$MOSQUITTO" -h 2>/dev/null | sed -n 's/^mosquitto version //p' | head -1 || true)
fi

if [ ! -f "$SRCDIR/bench/node/node_modules/.package-lock.json" ] ||
   [ "$SRCDIR/bench/node/package-lock.json" -nt "$SRCDIR/bench/node/node_modules/.package-lock.json" ]; then
	echo "bench: npm ci in bench/node"
	(cd "$SRCDIR/bench/node" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in bench/node"
fi

free_port() {
	node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

SERVER_PID=
start_server() { # kind tag -> sets SERVER_PID, PORT
	local kind=$1 tag=$2 attempt
	# A free port can be taken by someone else before the server binds it: try three.
	for attempt in 1 2 3; do
		PORT=$(free_port)
		# EVENT_LOOP (server.event_loop, via the configs' ${EVENT_LOOP:-auto}) is the caller's.
		if [ "$kind" = siogate ]; then
			PORT=$PORT SIOGATE_PLUGIN_PATH=$PLUGINS "${ON_SERVER_CPU[@]}" "$SIOGATE" -c "$SRCDIR/bench/siogate.json" >"$OUT/$tag.server.log" 2>&1 &
		elif [ "$kind" = siogate-kafka ]; then
			PORT=$PORT KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP SIOGATE_PLUGIN_PATH=$BUILDDIR/bridges/kafka/.libs \
				"${ON_SERVER_CPU[@]}" "$SIOGATE" -c "$SRCDIR/bench/siogate.kafka.json" >"$OUT/$tag.server.log" 2>&1 &
		elif [ "$kind" = siogate-mqtt ]; then
			PORT=$PORT MQTT_PORT=$MQTT_PORT SIOGATE_PLUGIN_PATH=$BUILDDIR/bridges/mqtt/.libs \
				"${ON_SERVER_CPU[@]}" "$SIOGATE" -c "$SRCDIR/bench/siogate.mqtt.json" >"$OUT/$tag.server.log" 2>&1 &
		else
			PORT=$PORT "${ON_SERVER_CPU[@]}" node "$SRCDIR/bench/node/server.mjs" >"$OUT/$tag.server.log" 2>&1 &
		fi
		SERVER_PID=$!
		for _ in $(seq 1 100); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
				sleep 0.5 # let the process settle before its RSS baseline
				return 0
			fi
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$SERVER_PID" 2>/dev/null; then
			stop_server
			die "$kind did not listen on 127.0.0.1:$PORT within 10 s"
		fi
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
		echo "bench: $kind exited at startup (attempt $attempt):" >&2
		tail -3 "$OUT/$tag.server.log" >&2
	done
	die "$kind exited at startup 3 times"
}

# await_exit PID: up to 5 s for a child of this shell to exit, then SIGKILL; reaps it.
await_exit() {
	for _ in $(seq 1 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# stop_pid PID: SIGTERM, then await_exit.
stop_pid() {
	kill "$1" 2>/dev/null || true
	await_exit "$1"
}
# stop_var NAME: stops the child whose PID is in the variable NAME (if any), then empties it.
stop_var() {
	[ -n "${!1}" ] || return 0
	stop_pid "${!1}"
	printf -v "$1" ''
}
stop_server() { stop_var SERVER_PID; }
KMOCK_PID=
stop_mock() {
	[ -n "$KMOCK_PID" ] || return 0
	echo quit 2>/dev/null >&"${MOCK[1]:-}" || true
	await_exit "$KMOCK_PID"
	KMOCK_PID=
}
MQTT_PID=
MQTT_PORT=
stop_broker() { stop_var MQTT_PID; }
MBENCH_PID=
stop_mbench() { stop_var MBENCH_PID; }
trap 'stop_server; stop_mock; stop_mbench; stop_broker' EXIT INT TERM

# kafka_run tag rate msgs clients: scenario 4 once. A fresh mock cluster with topic "bench",
# the gateway mapping it to room "r" (bench/siogate.kafka.json), that many clients in the room
# (loadgen --mode recv), and kbench producing to the topic while its own plain consumer
# measures what a backend would see.
kafka_run() {
	local tag=$1 rate=$2 msgs=$3 clients=$4 answer kpid
	coproc MOCK { exec "$BUILDDIR/tests/kafka-mock" 1; }
	KMOCK_PID=$MOCK_PID # bash unsets MOCK_PID once the coprocess is gone
	KAFKA_BOOTSTRAP=
	read -r -t 10 KAFKA_BOOTSTRAP <&"${MOCK[0]}" || true
	echo "topic bench 1" >&"${MOCK[1]}"
	answer=
	read -r -t 5 answer <&"${MOCK[0]}" || true
	if [ -z "$KAFKA_BOOTSTRAP" ] || [ "$answer" != ok ]; then
		echo "bench: $tag: the Kafka mock cluster did not start" >&2
		echo '{"error":"no mock cluster"}' >"$OUT/$tag.json"
		stop_mock
		return 0
	fi
	start_server siogate-kafka "$tag"
	rm -f "$OUT/$tag.go"
	# kbench (producer and plain consumer) shares the load generator's CPU; the mock cluster
	# is not pinned (it is the broker: neither side's cost).
	"${ON_LOAD_CPU[@]}" "$OUT/kbench" --brokers "$KAFKA_BOOTSTRAP" --go-file "$OUT/$tag.go" --msgs "$msgs" --rate "$rate" \
		--timeout 90 >"$OUT/$tag.kafka.json" 2>"$OUT/$tag.kafka.log" &
	kpid=$!
	metrics "$tag.before"
	run_lg "$tag" 120 --mode recv --n "$clients" --msgs "$msgs" --go-file "$OUT/$tag.go" --timeout 90
	metrics "$tag.after"
	if ! wait "$kpid"; then
		echo "bench: $tag: kbench failed (see $OUT/$tag.kafka.log)" >&2
		grep -q '^{' "$OUT/$tag.kafka.json" || echo '{"error":"failed"}' >"$OUT/$tag.kafka.json"
	fi
	echo "  $tag (plain consumer): $(cut -c1-160 "$OUT/$tag.kafka.json")"
	stop_server
	stop_mock
}

# start_broker tag: mosquitto on a free loopback port (not pinned: it is the broker, neither
# side's cost), with a minimal configuration of its own; sets MQTT_PID and MQTT_PORT. Returns 1
# when it does not listen (its log: $OUT/tag.broker.log).
start_broker() {
	local tag=$1 attempt
	for attempt in 1 2 3; do
		MQTT_PORT=$(free_port)
		printf '%s\n' "listener $MQTT_PORT 127.0.0.1" "allow_anonymous true" "persistence false" \
			"log_dest stderr" "log_type error" "log_type warning" "log_type notice" >"$OUT/$tag.mosquitto.conf"
		"$MOSQUITTO" -c "$OUT/$tag.mosquitto.conf" >>"$OUT/$tag.broker.log" 2>&1 &
		MQTT_PID=$!
		for _ in $(seq 1 50); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; then
				return 0
			fi
			kill -0 "$MQTT_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$MQTT_PID" 2>/dev/null; then # alive but deaf: give up
			stop_broker
			return 1
		fi
		wait "$MQTT_PID" 2>/dev/null || true # the port was taken meanwhile: another one
		MQTT_PID=
		echo "bench: mosquitto exited at startup (attempt $attempt)" >&2
	done
	return 1
}

# mqtt_run tag rate msgs clients: the MQTT curve, one rate. A fresh mosquitto, the gateway
# mapping the topic bench/{room} to its room (bench/siogate.mqtt.json), that many clients in
# room "r" (loadgen --mode recv), and mbench publishing to bench/r while its own plain
# subscriber measures what a backend would see.
mqtt_run() {
	local tag=$1 rate=$2 msgs=$3 clients=$4 rc
	if ! start_broker "$tag"; then
		echo "bench: $tag: mosquitto did not start (see $OUT/$tag.broker.log)" >&2
		echo '{"error":"no broker"}' >"$OUT/$tag.json"
		return 0
	fi
	start_server siogate-mqtt "$tag"
	rm -f "$OUT/$tag.go"
	# mbench (publisher and plain subscriber) shares the load generator's CPU.
	"${ON_LOAD_CPU[@]}" "$OUT/mbench" --port "$MQTT_PORT" --go-file "$OUT/$tag.go" --msgs "$msgs" --rate "$rate" \
		--qos "$MQTT_QOS" --timeout 90 >"$OUT/$tag.mqtt.json" 2>"$OUT/$tag.mqtt.log" &
	MBENCH_PID=$!
	metrics "$tag.before"
	run_lg "$tag" 120 --mode recv --n "$clients" --msgs "$msgs" --go-file "$OUT/$tag.go" --timeout 90
	metrics "$tag.after"
	# mbench ends once its subscriber has every message; without the go file (the clients'
	# warm-up failed) it would only warm up until its timeout: stop it now.
	if [ -e "$OUT/$tag.go" ]; then
		for _ in $(seq 1 300); do
			kill -0 "$MBENCH_PID" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if kill -0 "$MBENCH_PID" 2>/dev/null; then
		echo "bench: $tag: mbench still running; stopped" >&2
		stop_mbench
		rc=1
	else
		rc=0
		wait "$MBENCH_PID" || rc=$?
		MBENCH_PID=
	fi
	if [ "$rc" != 0 ]; then
		echo "bench: $tag: mbench failed (see $OUT/$tag.mqtt.log)" >&2
		grep -q '^{' "$OUT/$tag.mqtt.json" || echo '{"error":"failed"}' >"$OUT/$tag.mqtt.json"
	fi
	echo "  $tag (plain subscriber): $(cut -c1-160 "$OUT/$tag.mqtt.json")"
	stop_server
	stop_broker
}

# run_lg tag timeout_s loadgen-args... : one load generator run, JSON in $OUT/tag.json
run_lg() {
	local tag=$1 t=$2
	shift 2
	if ! timeout -k 5 "$t" "${ON_LOAD_CPU[@]}" "$LOADGEN" --port "$PORT" --pid "$SERVER_PID" "$@" >"$OUT/$tag.json" 2>"$OUT/$tag.log"; then
		echo "bench: $tag: load generator failed or timed out (see $OUT/$tag.log)" >&2
		echo '{"error":"failed"}' >"$OUT/$tag.json"
	fi
	echo "  $tag: $(cut -c1-160 "$OUT/$tag.json")"
}

# floor_run tag floor-args... : the fan-out floor (bench/floor.c) for 1,000 sockets, pinned as
# the gateway and the load generator are; JSON in $OUT/tag.json. Scenario 6 runs it once; each
# curve point runs it again at that point's rate, right after the gateway's run, because on a
# shared machine the floor itself moves between runs minutes apart (docs/performance.md).
floor_run() {
	local tag=$1
	shift
	if timeout -k 5 120 "$OUT/floor" --n 1000 --timeout 90 "$@" \
		${SERVER_CPU:+--sender-cpu "$SERVER_CPU"} ${LOAD_CPU:+--receiver-cpu "$LOAD_CPU"} >"$OUT/$tag.json" 2>"$OUT/$tag.log"; then
		echo "  $tag: $(cut -c1-200 "$OUT/$tag.json")"
	else
		echo "bench: $tag: the fan-out floor failed (see $OUT/$tag.log)" >&2
		grep -q '^{' "$OUT/$tag.json" || echo '{"error":"failed"}' >"$OUT/$tag.json"
	fi
}

# metrics name: siogate's /metrics now, as $OUT/name.metrics (for the fan-out histogram and the
# event loop in use). Bounded; an empty file when the server does not answer.
metrics() {
	timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n" >&3 && cat <&3' \
		_ "$PORT" >"$OUT/$1.metrics" 2>/dev/null || true
}

# server_scenarios kind prefix: scenarios 1-3 (and 5 unless quick) against one server (siogate
# runs on $EVENT_LOOP, unset: auto); results in $OUT/prefix-*.json.
server_scenarios() {
	local kind=$1 p=$2
	start_server "$kind" "$p-idle1k"
	[ "$kind" = siogate ] && metrics "$p-idle1k"
	run_lg "$p-idle1k" 60 --mode idle --n 1000 --timeout 40
	stop_server
	start_server "$kind" "$p-idle10k"
	run_lg "$p-idle10k" 120 --mode idle --n 10000 --timeout 90
	stop_server
	start_server "$kind" "$p-bcast"
	for r in $(seq 1 "$BCAST_REPS"); do
		run_lg "$p-bcast-$r" 120 --mode bcast --n 1000 --msgs "$BCAST_MSGS" --window 16 --timeout 90
	done
	stop_server
	start_server "$kind" "$p-echo"
	run_lg "$p-echo" 120 --mode echo --n 1 --msgs "$ECHO_MSGS" --timeout 90
	stop_server
	if [ "${BENCH_QUICK:-0}" != 1 ]; then
		start_server "$kind" "$p-hold"
		run_lg "$p-hold" $((HOLD_S + 200)) --mode idle --n "$HOLD_N" --hold "$HOLD_S" --timeout 150
		stop_server
	fi
}

# How busy the machine is before we start (another job skews every number).
cpu_busy() {
	local a1 a2 a3 a4 a5 a6 a7 a8 b1 b2 b3 b4 b5 b6 b7 b8
	read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ </proc/stat
	sleep 1
	read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ </proc/stat
	local tot=$(((b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8) - (a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8)))
	local idle=$(((b4 + b5) - (a4 + a5)))
	echo $((tot > 0 ? 100 * (tot - idle) / tot : 0))
}
BUSY=$(cpu_busy)
[ "$BUSY" -lt 15 ] || echo "bench: WARNING: the machine is already ${BUSY}% busy; the numbers will be skewed" >&2

START=$(date +%s)
# Node and siogate alternate scenario by scenario... within each server's block: one block
# each, the default loop first, then Node, then the other event loops.
echo "bench: siogate (server.event_loop auto)"
unset EVENT_LOOP
server_scenarios siogate siogate
AUTO_LOOP=$(sed -n 's/^siogate_event_loop_info{loop="\([a-z]*\)"} 1.*/\1/p' "$OUT/siogate-idle1k.metrics" | tr -d '\r')
echo "bench: node"
server_scenarios node node
for loop in $LOOPS; do
	[ "$loop" = "$AUTO_LOOP" ] && continue # measured above
	echo "bench: siogate, server.event_loop $loop"
	export EVENT_LOOP=$loop
	server_scenarios siogate "siogate@$loop"
	unset EVENT_LOOP
done

# 6. Fan-out against the floor: 1,000 clients, one broadcast at a time (20 ms apart, about
# three times one fan-out, so that they do not overlap and each is timed alone); siogate's per-recipient cost is siogate_fanout_seconds' sum over the recipients
# it counted; the floor (bench/floor.c) sends the same frame to 1,000 sockets with nothing else.
echo "bench: fan-out against the floor"
start_server siogate siogate-fanout
run_lg siogate-fanout-warm 60 --mode bcast --n 1000 --msgs 20 --window 1 --gap-ms 20 --timeout 40
metrics siogate-fanout.before
run_lg siogate-fanout 120 --mode bcast --n 1000 --msgs "$FANOUT_MSGS" --window 1 --gap-ms 20 --timeout 90
metrics siogate-fanout.after
stop_server
floor_run floor --msgs "$FANOUT_MSGS" --gap-ms 20

if [ -z "$KAFKA_SKIP" ]; then
	echo "bench: siogate, Kafka -> clients"
	kafka_run siogate-kafka-paced "$KAFKA_RATE" "$KAFKA_MSGS" 1000
	kafka_run siogate-kafka-burst 0 $((KAFKA_MSGS / 4)) 1000
	kafka_run siogate-kafka-small "$KAFKA_RATE" "$KAFKA_MSGS" 10 # the bridge path without the fan-out
	for rate in $KAFKA_CURVE; do # the latency curve: 5 s of records (at least 150) at each rate
		msgs=$((rate * 5))
		[ "$msgs" -ge 150 ] || msgs=150 # a p99 over fewer messages is one slow message
		kafka_run "siogate-kafka-curve-$rate" "$rate" "$msgs" 1000
		floor_run "siogate-kafka-curve-$rate.floor" --msgs "$msgs" --rate "$rate"
	done
else
	echo "bench: scenario 4 skipped: $KAFKA_SKIP" >&2
fi
if [ -z "$MQTT_SKIP" ]; then
	echo "bench: siogate, MQTT (mosquitto $MQTT_VERSION, QoS $MQTT_QOS) -> clients"
	for rate in $MQTT_CURVE; do # the same latency curve: 5 s of messages (at least 150) at each rate
		msgs=$((rate * 5))
		[ "$msgs" -ge 150 ] || msgs=150 # a p99 over fewer messages is one slow message
		mqtt_run "siogate-mqtt-curve-$rate" "$rate" "$msgs" 1000
		floor_run "siogate-mqtt-curve-$rate.floor" --msgs "$msgs" --rate "$rate"
	done
else
	echo "bench: the MQTT curve skipped: $MQTT_SKIP" >&2
fi
ELAPSED=$(($(date +%s) - START))

SG_VERSION=$(git -C "$SRCDIR" describe --always --dirty 2>/dev/null || echo unknown)
SIO_VERSION=$(node -p 'require(process.argv[1]).version' "$SRCDIR/bench/node/node_modules/socket.io/package.json")
LWS_VERSION=$(pkg-config --modversion libwebsockets 2>/dev/null || echo unknown)
node "$SRCDIR/bench/report.mjs" "$OUT" \
	"siogate=$SG_VERSION" "node=$(node --version)" "socket.io=$SIO_VERSION" "lws=$LWS_VERSION" \
	"busy=$BUSY" "elapsed=$ELAPSED" "hold_n=$HOLD_N" "hold_s=$HOLD_S" "nofile=$NOFILE" \
	"quick=${BENCH_QUICK:-0}" "bcast_msgs=$BCAST_MSGS" "echo_msgs=$ECHO_MSGS" \
	"kafka_skip=$KAFKA_SKIP" "kafka_msgs=$KAFKA_MSGS" "kafka_rate=$KAFKA_RATE" \
	"kafka_curve=$KAFKA_CURVE" "mqtt_skip=$MQTT_SKIP" "mqtt_curve=$MQTT_CURVE" "mqtt_qos=$MQTT_QOS" \
	"mqtt_version=$MQTT_VERSION" "loops=$LOOPS" "auto_loop=$AUTO_LOOP" "fanout_msgs=$FANOUT_MSGS" \
	"pin=${SERVER_CPU:+server CPU $SERVER_CPU, load generators CPU $LOAD_CPU}" >"$RESULTS/latest.md"
cat "$RESULTS/latest.md"
echo "bench: written to $RESULTS/latest.md (raw JSON in $OUT)"
