// mbench.c - the MQTT side of the broker -> client latency curve (bench/run.sh, issue 20): the
// counterpart of kbench.c for an MQTT broker (mosquitto). Two libmosquitto clients, each on its
// own connection, driven by one thread (ppoll on both sockets, no library threads):
//   - a publisher that writes timestamped messages to a topic the gateway maps to a room
//     (bench/siogate.mqtt.json: "bench/{room}", so "bench/r" reaches room "r");
//   - a plain subscriber of the same topic that measures publish -> receive latency on the same
//     clock, i.e. what a backend would see without the gateway. The gateway-added latency is
//     the clients' latency (loadgen --mode recv) minus this one.
//
// Phases (as kbench): until --go-file exists (the load generator creates it once every client
// has received a warm-up message) and the plain subscriber has had one too, one warm-up message
// ({"w":1}) every 50 ms; then --msgs messages {"ts":<CLOCK_MONOTONIC us>,"pad":"..."} at --rate
// messages/s (0: as fast as the connection takes them), QoS --qos (0 by default); then wait
// (bounded) until the subscriber has them all. Both clients speak MQTT 5, as the gateway's
// bench configuration does; the subscriber subscribes at QoS 1 like the gateway's mapping, so
// each message reaches both at the QoS it was published with.
// Prints one JSON object (kbench's keys). Every wait is bounded by --timeout seconds.
#define _GNU_SOURCE
#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SUB_QOS 1 // the gateway's to_clients qos in bench/siogate.mqtt.json

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

// The p-th percentile (nearest rank on n-1 steps, as kbench and loadgen) in ms; -1 when empty.
static double percentile_ms(const int64_t *v, size_t n, double p)
{
	if (!n)
		return -1;
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

// What the callbacks tell the main loop.
struct side {
	const char *name; // "publisher" / "subscriber", for messages
	bool connected;   // CONNACK accepted
	bool subscribed;  // subscriber: SUBACK granted
	bool lost;        // the connection failed or was refused
};

static struct side pub_side = { "publisher", false, false, false };
static struct side sub_side = { "subscriber", false, false, false };
static const char *topic = "bench/r";

static int64_t *lat; // publish -> receive, us, one per measured message
static size_t nlat, lat_cap;
static int warm_seen; // warm-up messages the subscriber got
static int64_t last_recv_us;
static bool measuring; // past the go signal: "ts" messages count

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct side *s = obj;
	if (rc) {
		fprintf(stderr, "mbench: %s: connection refused: %s\n", s->name, mosquitto_connack_string(rc));
		s->lost = true;
		return;
	}
	s->connected = true;
	if (s == &sub_side) {
		int e = mosquitto_subscribe(m, NULL, topic, SUB_QOS);
		if (e) {
			fprintf(stderr, "mbench: subscribe %s: %s\n", topic, mosquitto_strerror(e));
			s->lost = true;
		}
	}
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	struct side *s = obj;
	s->connected = false;
	s->lost = true;
	if (rc)
		fprintf(stderr, "mbench: %s: connection lost (%d)\n", s->name, rc);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	struct side *s = obj;
	if (n < 1 || granted[0] > 2) {
		fprintf(stderr, "mbench: the broker refused the subscription to %s\n", topic);
		s->lost = true;
		return;
	}
	s->subscribed = true;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m;
	(void)obj;
	int64_t t = now_us();
	if (!msg->payload || msg->payloadlen <= 0)
		return;
	const char *ts = memmem(msg->payload, (size_t)msg->payloadlen, "\"ts\":", 5);
	if (!ts) {
		warm_seen++;
		return;
	}
	if (!measuring || nlat >= lat_cap)
		return;
	lat[nlat++] = t - strtoll(ts + 5, NULL, 10);
	last_recv_us = t;
}

// One turn of both clients' network loops: waits at most timeout_us for either socket, then
// reads what arrived (callbacks run here), writes what is queued and does the housekeeping
// (keepalive, QoS retries). Returns false when a connection is gone.
static bool pump(struct mosquitto *pub, struct mosquitto *sub, int64_t timeout_us)
{
	struct mosquitto *cl[2] = { pub, sub };
	struct pollfd pfd[2];
	for (int i = 0; i < 2; i++) {
		pfd[i].fd = mosquitto_socket(cl[i]);
		pfd[i].events = POLLIN | (mosquitto_want_write(cl[i]) ? POLLOUT : 0);
		pfd[i].revents = 0;
	}
	if (timeout_us < 0)
		timeout_us = 0;
	struct timespec ts = { (time_t)(timeout_us / 1000000), (long)(timeout_us % 1000000) * 1000 };
	int n = ppoll(pfd, 2, &ts, NULL);
	if (n < 0 && errno != EINTR) {
		perror("mbench: ppoll");
		return false;
	}
	for (int i = 0; i < 2; i++) {
		int rc = MOSQ_ERR_SUCCESS;
		if (n > 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			rc = mosquitto_loop_read(cl[i], 1000);
		if (!rc && mosquitto_want_write(cl[i]))
			rc = mosquitto_loop_write(cl[i], 1);
		if (!rc)
			rc = mosquitto_loop_misc(cl[i]);
		if (rc) {
			struct side *s = i ? &sub_side : &pub_side;
			if (!s->lost)
				fprintf(stderr, "mbench: %s: %s\n", s->name, mosquitto_strerror(rc));
			s->lost = true;
		}
	}
	return !pub_side.lost && !sub_side.lost;
}

static struct mosquitto *client(const char *role, struct side *s)
{
	char id[64];
	snprintf(id, sizeof id, "mbench-%s-%d", role, (int)getpid());
	struct mosquitto *m = mosquitto_new(id, true, s);
	if (!m) {
		fprintf(stderr, "mbench: mosquitto_new: %s\n", strerror(errno));
		exit(2);
	}
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	// No Nagle: a message goes out when it is published (as kbench's linger.ms 0).
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_message_callback_set(m, on_message);
	return m;
}

static void usage(void)
{
	fprintf(stderr, "usage: mbench --port PORT --go-file PATH [--host 127.0.0.1] [--topic bench/r] [--msgs 1000]\n"
			"              [--rate 0] [--qos 0] [--pad 100] [--timeout 60]\n");
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *go_file = NULL;
	int port = 0, msgs = 1000, rate = 0, qos = 0, pad = 100, timeout = 60;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "mbench: %s needs a value\n", a);
			usage();
			return 2;
		}
		if (!strcmp(a, "--host"))
			host = v;
		else if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--topic"))
			topic = v;
		else if (!strcmp(a, "--go-file"))
			go_file = v;
		else if (!strcmp(a, "--msgs"))
			msgs = atoi(v);
		else if (!strcmp(a, "--rate"))
			rate = atoi(v);
		else if (!strcmp(a, "--qos"))
			qos = atoi(v);
		else if (!strcmp(a, "--pad"))
			pad = atoi(v);
		else if (!strcmp(a, "--timeout"))
			timeout = atoi(v);
		else {
			fprintf(stderr, "mbench: unknown option %s\n", a);
			usage();
			return 2;
		}
	}
	if (port < 1 || port > 65535 || !go_file || !topic[0] || msgs < 1 || rate < 0 || qos < 0 || qos > 2 ||
	    pad < 0 || pad > 4000 || timeout < 1) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lat_cap = (size_t)msgs;
	lat = calloc(lat_cap, sizeof *lat);
	char padding[4001];
	memset(padding, 'x', (size_t)pad);
	padding[pad] = 0;

	mosquitto_lib_init();
	struct mosquitto *sub = client("sub", &sub_side), *pub = client("pub", &pub_side);
	int64_t deadline = now_us() + (int64_t)timeout * 1000000;
	int rc;
	// mosquitto_connect: a blocking TCP connect (loopback) and a queued CONNECT; the CONNACKs
	// come through pump().
	if ((rc = mosquitto_connect(sub, host, port, 30)) || (rc = mosquitto_connect(pub, host, port, 30))) {
		printf("{\"error\":\"cannot connect to %s:%d: %s\"}\n", host, port, mosquitto_strerror(rc));
		return 1;
	}
	while (now_us() < deadline && !(pub_side.connected && sub_side.subscribed) && pump(pub, sub, 10000))
		;
	if (!pub_side.connected || !sub_side.subscribed) {
		printf("{\"error\":\"%s\"}\n", pub_side.lost || sub_side.lost ? "connection failed or refused"
									   : "not connected and subscribed in time");
		return 1;
	}

	// Warm-up until the load generator says go and our own subscriber is live too.
	int warm_sent = 0;
	bool ok = true;
	while (ok && now_us() < deadline && (access(go_file, F_OK) || !warm_seen)) {
		if (mosquitto_publish(pub, NULL, topic, 7, "{\"w\":1}", qos, false) == MOSQ_ERR_SUCCESS)
			warm_sent++;
		int64_t next = now_us() + 50000;
		while (ok && now_us() < next)
			ok = pump(pub, sub, next - now_us());
	}
	if (!ok || access(go_file, F_OK) || !warm_seen) {
		printf("{\"error\":\"%s\",\"warm_sent\":%d,\"warm_seen\":%d}\n",
		       ok ? "warm-up did not complete" : "connection lost during the warm-up", warm_sent, warm_seen);
		return 1;
	}

	measuring = true;
	nlat = 0;
	int64_t t0 = now_us();
	int sent = 0;
	char payload[4200];
	while (ok && sent < msgs && now_us() < deadline) {
		if (rate) { // pace: message k goes out at t0 + k/rate
			int64_t due = t0 + (int64_t)sent * 1000000 / rate;
			int64_t wait = due - now_us();
			if (wait > 0) {
				ok = pump(pub, sub, wait);
				continue;
			}
		} else if (mosquitto_want_write(pub)) { // as fast as the socket takes them, no faster
			ok = pump(pub, sub, 1000);
			continue;
		}
		int n = snprintf(payload, sizeof payload, "{\"ts\":%lld,\"pad\":\"%s\"}", (long long)now_us(), padding);
		rc = mosquitto_publish(pub, NULL, topic, n, payload, qos, false);
		if (rc) {
			fprintf(stderr, "mbench: publish: %s\n", mosquitto_strerror(rc));
			break;
		}
		sent++;
		ok = pump(pub, sub, 0);
	}
	double produce_s = (double)(now_us() - t0) / 1e6;
	while (ok && nlat < (size_t)sent && now_us() < deadline)
		ok = pump(pub, sub, 50000);
	double consume_s = last_recv_us ? (double)(last_recv_us - t0) / 1e6 : -1;
	qsort(lat, nlat, sizeof *lat, cmp_i64);
	int major = 0, minor = 0, rev = 0;
	mosquitto_lib_version(&major, &minor, &rev);
	printf("{\"msgs\":%d,\"rate\":%d,\"qos\":%d,\"sent\":%d,\"produce_s\":%.3f,\"consumer_received\":%zu"
	       ",\"consumer_s\":%.3f,\"consumer_p50_ms\":%.3f,\"consumer_p99_ms\":%.3f,\"consumer_max_ms\":%.3f"
	       ",\"warm_sent\":%d,\"libmosquitto\":\"%d.%d.%d\"}\n",
	       msgs, rate, qos, sent, produce_s, nlat, consume_s, percentile_ms(lat, nlat, 50),
	       percentile_ms(lat, nlat, 99), percentile_ms(lat, nlat, 100), warm_sent, major, minor, rev);
	fflush(stdout);

	// A clean goodbye, bounded: DISCONNECT on both, a few turns to send it.
	mosquitto_disconnect(pub);
	mosquitto_disconnect(sub);
	for (int i = 0; i < 5 && (mosquitto_want_write(pub) || mosquitto_want_write(sub)); i++) {
		mosquitto_loop_write(pub, 1);
		mosquitto_loop_write(sub, 1);
	}
	mosquitto_destroy(pub);
	mosquitto_destroy(sub);
	mosquitto_lib_cleanup();
	free(lat);
	return nlat == (size_t)sent && sent == msgs ? 0 : 1;
}
