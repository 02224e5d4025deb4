// kbench.c - the Kafka side of benchmark scenario 4 (bench/run.sh): a producer that writes
// timestamped records to a topic the gateway maps to a room, and a plain librdkafka
// consumer of the same topic that measures produce -> consume latency on the same clock,
// i.e. what a backend would see without the gateway. The gateway-added latency is the
// clients' latency (loadgen --mode recv) minus this one.
//
// Phases: until --go-file exists (the load generator creates it once every client has
// received a warm-up record), one warm-up record ({"w":1}) every 50 ms; then --msgs records
// {"ts":<CLOCK_MONOTONIC us>,"pad":"..."} with key "r", at --rate records/s (0: as fast as
// librdkafka takes them); then wait (bounded) until the consumer has them all.
// Prints one JSON object. Every wait is bounded by --timeout seconds.
#define _GNU_SOURCE
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmpu(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(int64_t *v, size_t n, double p)
{
	if (!n)
		return -1;
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[256];
	if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kbench: %s=%s: %s\n", k, v, err);
		exit(2);
	}
}

static int64_t *lat;
static size_t nlat;
static int warm_seen;
static int64_t last_consumed_us;

static void consume_some(rd_kafka_t *c, int timeout_ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(c, timeout_ms);
	while (m) {
		if (!m->err && m->payload) {
			const char *ts = memmem(m->payload, m->len, "\"ts\":", 5);
			int64_t t = now_us();
			if (ts) {
				lat[nlat++] = t - strtoll(ts + 5, NULL, 10);
				last_consumed_us = t;
			} else
				warm_seen++;
		}
		rd_kafka_message_destroy(m);
		m = rd_kafka_consumer_poll(c, 0);
	}
}

int main(int argc, char **argv)
{
	const char *brokers = NULL, *topic = "bench", *go_file = NULL, *fetch_wait = "10";
	int msgs = 1000, rate = 0, pad = 100, timeout = 60;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--brokers"))
			brokers = v;
		else if (!strcmp(a, "--topic"))
			topic = v;
		else if (!strcmp(a, "--go-file"))
			go_file = v;
		else if (!strcmp(a, "--msgs"))
			msgs = atoi(v);
		else if (!strcmp(a, "--rate"))
			rate = atoi(v);
		else if (!strcmp(a, "--pad"))
			pad = atoi(v);
		else if (!strcmp(a, "--timeout"))
			timeout = atoi(v);
		else if (!strcmp(a, "--fetch-wait-ms"))
			fetch_wait = v;
		else {
			fprintf(stderr, "kbench: unknown option %s\n", a);
			return 2;
		}
	}
	if (!brokers || !go_file || msgs < 1 || rate < 0 || pad < 0 || pad > 4000 || timeout < 1) {
		fprintf(stderr, "usage: kbench --brokers HOST:PORT --go-file PATH [--topic bench] [--msgs 1000]\n"
				"              [--rate 0] [--pad 100] [--timeout 60] [--fetch-wait-ms 10]\n");
		return 2;
	}
	lat = calloc((size_t)msgs, sizeof *lat);
	char padbuf[4001], group[64], err[256];
	memset(padbuf, 'x', (size_t)pad);
	padbuf[pad] = 0;
	snprintf(group, sizeof group, "kbench-%d", (int)getpid());

	rd_kafka_conf_t *pc = rd_kafka_conf_new();
	set(pc, "bootstrap.servers", brokers);
	set(pc, "linger.ms", "0"); // no batching delay: latency, not throughput, of the producer
	rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
	rd_kafka_conf_t *cc = rd_kafka_conf_new();
	set(cc, "bootstrap.servers", brokers);
	set(cc, "group.id", group);
	set(cc, "auto.offset.reset", "latest");
	set(cc, "fetch.wait.max.ms", fetch_wait); // the same as the gateway's consumer (bench config)
	rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
	if (!p || !c) {
		fprintf(stderr, "kbench: %s\n", err);
		return 2;
	}
	rd_kafka_poll_set_consumer(c);
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(c, sub)) {
		fprintf(stderr, "kbench: cannot subscribe to %s\n", topic);
		return 2;
	}
	rd_kafka_topic_partition_list_destroy(sub);

	int64_t deadline = now_us() + (int64_t)timeout * 1000000;
	int warm_sent = 0;
	// Warm-up until the load generator says go and our own consumer is live too.
	while (now_us() < deadline && (access(go_file, F_OK) || !warm_seen)) {
		if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("r", 1), RD_KAFKA_V_VALUE("{\"w\":1}", 7),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR)
			warm_sent++;
		rd_kafka_poll(p, 0);
		int64_t next = now_us() + 50000;
		while (now_us() < next)
			consume_some(c, 10);
	}
	if (access(go_file, F_OK) || !warm_seen) {
		printf("{\"error\":\"warm-up did not complete\",\"warm_sent\":%d,\"warm_seen\":%d}\n", warm_sent, warm_seen);
		return 1;
	}
	nlat = 0;
	int64_t t0 = now_us();
	int sent = 0;
	char val[4200];
	while (sent < msgs && now_us() < deadline) {
		if (rate) { // pace: record k goes out at t0 + k/rate
			int64_t due = t0 + (int64_t)sent * 1000000 / rate;
			if (now_us() < due) {
				consume_some(c, 0);
				rd_kafka_poll(p, 0);
				continue;
			}
		}
		int n = snprintf(val, sizeof val, "{\"ts\":%lld,\"pad\":\"%s\"}", (long long)now_us(), padbuf);
		rd_kafka_resp_err_t e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("r", 1),
							  RD_KAFKA_V_VALUE(val, (size_t)n),
							  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_poll(p, 1);
			continue;
		}
		if (e) {
			fprintf(stderr, "kbench: produce: %s\n", rd_kafka_err2str(e));
			break;
		}
		sent++;
		rd_kafka_poll(p, 0);
		consume_some(c, 0);
	}
	double produce_s = (now_us() - t0) / 1e6;
	rd_kafka_flush(p, 10000);
	while (nlat < (size_t)sent && now_us() < deadline)
		consume_some(c, 50);
	double consume_s = last_consumed_us ? (last_consumed_us - t0) / 1e6 : -1;
	qsort(lat, nlat, sizeof *lat, cmpu);
	printf("{\"msgs\":%d,\"rate\":%d,\"sent\":%d,\"produce_s\":%.3f,\"consumer_received\":%zu,\"consumer_s\":%.3f"
	       ",\"consumer_p50_ms\":%.3f,\"consumer_p99_ms\":%.3f,\"consumer_max_ms\":%.3f,\"warm_sent\":%d}\n",
	       msgs, rate, sent, produce_s, nlat, consume_s, pct(lat, nlat, 50), pct(lat, nlat, 99),
	       pct(lat, nlat, 100), warm_sent);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	rd_kafka_destroy(p);
	return nlat == (size_t)sent && sent == msgs ? 0 : 1;
}
