// loadgen.c - Socket.IO load generator for the siogate benchmark (bench/run.sh).
//
// One thread, epoll, non-blocking sockets and a minimal WebSocket client (client frames
// masked, server frames unmasked); in bcast mode the sender runs on a second thread of its
// own during the measured phase (see sender_main). It speaks Engine.IO v4 + Socket.IO v5 on the websocket
// transport only, namespace "/": open ("0{...}") -> CONNECT ("40") -> events "42[...]",
// acks "43<id>[...]", pings "2" answered with "3".
//
// Modes (one JSON object on stdout):
//   idle   connect N clients, measure server RSS before/after (--pid), hold --hold seconds.
//   bcast  N clients join room "r"; one extra sender emits --msgs "bcast" events (ack
//          window --window, and with --gap-ms at least that long between two sends: the
//          fan-out scenario sends one at a time so that broadcasts do not overlap);
//          deliveries/s = received / (last delivery - first send).
//   echo   --n clients each join their own room and do --msgs sequential emit-with-ack
//          round trips; p50/p99 of the ack RTT.
//   recv   N clients join room "r" and only receive "bcast" events produced elsewhere
//          (scenario 4: bench/kbench.c produces them to Kafka). Events without a "ts" are
//          warm-up: once every client has had one, --go-file is created and the next
//          --msgs events per client are measured (rate from first to last delivery).
// Every loop is bounded by a count and by --timeout seconds.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum st { S_NEW, S_CONNECTING, S_HTTP, S_EIO, S_SIO, S_JOIN, S_READY, S_DEAD };

struct conn {
	int fd;
	enum st st;
	char *rb;
	size_t rlen, rcap;
	int pending_ack; // ack id we wait for, -1 none
	int64_t sent_us; // when the pending emit was sent
	int echo_left;
	int warm; // recv: a warm-up event arrived
};

static struct {
	const char *host;
	int port, n, msgs, window, hold, timeout, pad, inflight, pid, per_src, gap_ms;
	const char *mode;
	const char *go_file;
} o = { "127.0.0.1", 0, 1000, 300, 16, 0, 60, 100, 128, 0, 4000, 0, "idle", NULL };

static struct conn *cs;
static int ncs, epfd;
static int n_connected, n_ready, n_started;
// Also counted by the bcast sender's thread when its connection fails.
static atomic_int n_dead_setup, n_errors, n_closed_after_ready;
static long long deliveries;
static int next_ack_id = 1;
static uint32_t *lat; // microseconds
static size_t nlat, caplat;
static int64_t first_send_us, last_delivery_us, first_delivery_us;
static int n_warm;
static atomic_int acks_got;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long rss_kb(int pid)
{
	char p[64], line[256];
	long kb = -1;
	snprintf(p, sizeof p, "/proc/%d/status", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Server CPU seconds (user+system) from /proc/PID/stat, -1 if unknown.
static double proc_cpu_s(int pid)
{
	char p[64], buf[1024];
	snprintf(p, sizeof p, "/proc/%d/stat", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *q = strrchr(buf, ')');
	if (!q)
		return -1;
	unsigned long ut = 0, st = 0;
	// after ") ": state(3) ... utime is field 14, stime 15
	if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void add_lat(int64_t us)
{
	if (us < 0)
		us = 0;
	if (nlat == caplat) {
		if (caplat >= 4000000)
			return; // bounded sample store
		caplat = caplat ? caplat * 2 : 65536;
		lat = realloc(lat, caplat * sizeof *lat);
		if (!lat) {
			perror("realloc");
			exit(2);
		}
	}
	lat[nlat++] = us > 0xffffffffLL ? 0xffffffffu : (uint32_t)us;
}

static int cmpu(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(double p)
{
	if (!nlat)
		return -1;
	size_t i = (size_t)(p / 100.0 * (double)(nlat - 1) + 0.5);
	return lat[i] / 1000.0;
}

static void kill_conn(struct conn *c, int err)
{
	if (c->st == S_DEAD)
		return;
	if (c->st == S_READY)
		n_closed_after_ready++;
	else if (c->st != S_NEW)
		n_dead_setup++;
	if (err)
		n_errors++;
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->st = S_DEAD;
}

// Blocking-ish write of everything (frames are small; on EAGAIN wait briefly, bounded).
static int write_all(struct conn *c, const char *p, size_t len)
{
	int spins = 0;
	while (len) {
		ssize_t w = write(c->fd, p, len);
		if (w > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR) && spins++ < 20000) {
			usleep(50);
			continue;
		}
		return -1;
	}
	return 0;
}

// One masked text frame (mask key 0: payload bytes unchanged, still a valid masked frame).
static int ws_send(struct conn *c, int opcode, const char *data, size_t len)
{
	char buf[16 + 65536];
	size_t h = 0;
	if (len > 65535)
		return -1;
	buf[h++] = (char)(0x80 | opcode);
	if (len < 126)
		buf[h++] = (char)(0x80 | len);
	else {
		buf[h++] = (char)(0x80 | 126);
		buf[h++] = (char)(len >> 8);
		buf[h++] = (char)(len & 0xff);
	}
	memset(buf + h, 0, 4);
	h += 4;
	memcpy(buf + h, data, len);
	return write_all(c, buf, h + len);
}

static int ws_text(struct conn *c, const char *s)
{
	return ws_send(c, 1, s, strlen(s));
}

static void emit_join(struct conn *c, const char *room)
{
	char m[160];
	c->pending_ack = next_ack_id++;
	snprintf(m, sizeof m, "42%d[\"join\",\"%s\"]", c->pending_ack, room);
	c->st = S_JOIN;
	if (ws_text(c, m))
		kill_conn(c, 1);
}

static char padbuf[4096];

static void emit_bcast(struct conn *c, const char *room, int with_ack)
{
	char m[4400];
	int64_t t = now_us();
	if (with_ack) {
		c->pending_ack = next_ack_id++;
		snprintf(m, sizeof m, "42%d[\"bcast\",{\"room\":\"%s\",\"ts\":%lld,\"pad\":\"%s\"}]", c->pending_ack,
			 room, (long long)t, padbuf);
	} else
		snprintf(m, sizeof m, "42[\"bcast\",{\"room\":\"%s\",\"ts\":%lld,\"pad\":\"%s\"}]", room,
			 (long long)t, padbuf);
	c->sent_us = t;
	if (ws_text(c, m))
		kill_conn(c, 1);
}

static void room_of(int i, char *out, size_t n)
{
	if (!strcmp(o.mode, "echo"))
		snprintf(out, n, "e%d", i);
	else
		snprintf(out, n, "r");
}

static int parse_int(const char **p)
{
	int v = 0;
	while (**p >= '0' && **p <= '9')
		v = v * 10 + (*(*p)++ - '0');
	return v;
}

static void on_ready(struct conn *c)
{
	c->st = S_READY;
	c->pending_ack = -1;
	n_ready++;
}

// One Engine.IO packet (a whole WebSocket text message).
static void on_packet(struct conn *c, char *p, size_t len)
{
	int idx = (int)(c - cs);
	if (!len)
		return;
	if (p[0] == '2' && len == 1) { // ping
		if (ws_text(c, "3"))
			kill_conn(c, 1);
		return;
	}
	if (p[0] == '0' && c->st == S_EIO) {
		c->st = S_SIO;
		if (ws_text(c, "40"))
			kill_conn(c, 1);
		return;
	}
	if (p[0] != '4' || len < 2)
		return;
	if (p[1] == '0' && c->st == S_SIO) { // CONNECT ok
		n_connected++;
		if (!strcmp(o.mode, "idle") || idx == o.n) // idle clients, or the sender
			on_ready(c);
		else {
			char room[32];
			room_of(idx, room, sizeof room);
			emit_join(c, room);
		}
		return;
	}
	if (p[1] == '4') { // CONNECT_ERROR
		kill_conn(c, 1);
		return;
	}
	if (p[1] == '2') { // EVENT
		if (len > 11 && !memcmp(p + 2, "[\"bcast\"", 8)) {
			int64_t t = now_us();
			if (!strcmp(o.mode, "recv") && !memmem(p, len, "\"ts\":", 5)) {
				n_warm += !c->warm;
				c->warm = 1;
				return;
			}
			if (!deliveries)
				first_delivery_us = t;
			deliveries++;
			last_delivery_us = t;
			char *ts = memmem(p, len, "\"ts\":", 5);
			if (ts && strcmp(o.mode, "echo"))
				add_lat(t - strtoll(ts + 5, NULL, 10));
		}
		return;
	}
	if (p[1] == '3') { // ACK
		const char *q = p + 2;
		int id = parse_int(&q);
		if (c->st == S_READY && idx == o.n && !strcmp(o.mode, "bcast")) { // the sender: windowed acks
			acks_got++;
			return;
		}
		if (id != c->pending_ack)
			return;
		if (c->st == S_JOIN) {
			if (!memmem(p, len, "\"ok\":true", 9)) {
				kill_conn(c, 1);
				return;
			}
			on_ready(c);
			return;
		}
		c->pending_ack = -1;
		acks_got++;
		if (!strcmp(o.mode, "echo") && c->echo_left >= 0) {
			add_lat(now_us() - c->sent_us);
			if (c->echo_left > 0) {
				char room[32];
				c->echo_left--;
				room_of(idx, room, sizeof room);
				emit_bcast(c, room, 1);
			}
		}
	}
}

static void on_readable(struct conn *c)
{
	for (int rounds = 0; rounds < 64 && c->st != S_DEAD; rounds++) {
		if (c->rcap - c->rlen < 65536) {
			size_t ncap = c->rcap ? c->rcap * 2 : 131072;
			while (ncap - c->rlen < 65536)
				ncap *= 2;
			c->rb = realloc(c->rb, ncap);
			if (!c->rb) {
				perror("realloc");
				exit(2);
			}
			c->rcap = ncap;
		}
		ssize_t r = read(c->fd, c->rb + c->rlen, c->rcap - c->rlen);
		if (r == 0) {
			kill_conn(c, 1);
			return;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			kill_conn(c, 1);
			return;
		}
		c->rlen += (size_t)r;
		size_t off = 0;
		if (c->st == S_HTTP) {
			char *e = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
			if (!e)
				continue;
			if (c->rlen < 12 || memcmp(c->rb + 9, "101", 3)) {
				kill_conn(c, 1);
				return;
			}
			off = (size_t)(e + 4 - c->rb);
			c->st = S_EIO;
		}
		// WebSocket frames
		for (;;) {
			unsigned char *f = (unsigned char *)c->rb + off;
			size_t avail = c->rlen - off;
			if (avail < 2)
				break;
			int op = f[0] & 0x0f;
			size_t h = 2;
			uint64_t pl = f[1] & 0x7f;
			if (pl == 126) {
				if (avail < 4)
					break;
				pl = ((uint64_t)f[2] << 8) | f[3];
				h = 4;
			} else if (pl == 127) {
				if (avail < 10)
					break;
				pl = 0;
				for (int i = 0; i < 8; i++)
					pl = (pl << 8) | f[2 + i];
				h = 10;
			}
			if (f[1] & 0x80)
				h += 4; // server frames are never masked; tolerate anyway (no unmasking)
			if (avail < h + pl)
				break;
			char *payload = (char *)f + h;
			if (!(f[0] & 0x80)) { // fragmented messages: not produced by either server here
				kill_conn(c, 1);
				return;
			}
			if (op == 1)
				on_packet(c, payload, (size_t)pl);
			else if (op == 8) {
				kill_conn(c, 1);
				return;
			} else if (op == 9) {
				if (ws_send(c, 10, payload, (size_t)pl)) {
					kill_conn(c, 1);
					return;
				}
			}
			if (c->st == S_DEAD)
				return;
			off += h + pl;
		}
		if (off) {
			memmove(c->rb, c->rb + off, c->rlen - off);
			c->rlen -= off;
		}
		if (r < (ssize_t)(c->rcap - c->rlen - 1))
			break; // socket drained
	}
	// Shrink idle buffers so the tool itself stays small with many connections.
	if (c->rlen == 0 && c->rcap > 131072) {
		free(c->rb);
		c->rb = NULL;
		c->rcap = 0;
	}
}

static int start_conn(int i)
{
	struct conn *c = &cs[i];
	struct sockaddr_in src = { 0 }, dst = { 0 };
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->pending_ack = -1;
	n_started++;
	if (c->fd < 0) {
		c->st = S_DEAD;
		n_dead_setup++;
		n_errors++;
		return -1;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
	src.sin_family = AF_INET;
	// Source 127.0.0.(2 + i / per_src), 4,000 connections per address by default. Each
	// address has ~28k ephemeral ports, but the kernel looks for a free one by walking the
	// range, and that walk grows with the ports in use: with 20,000 per address, connecting
	// the last thousands took longer in the load generator's connect() than in the server
	// (19,700 connections: 5.3 s at 20,000 per address, 1.2 s at 4,000, same server).
	src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(2 + i / o.per_src));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)o.port);
	inet_pton(AF_INET, o.host, &dst.sin_addr);
	if (bind(c->fd, (struct sockaddr *)&src, sizeof src) ||
	    (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) && errno != EINPROGRESS)) {
		close(c->fd);
		c->fd = -1;
		c->st = S_DEAD;
		n_dead_setup++;
		n_errors++;
		return -1;
	}
	c->st = S_CONNECTING;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i };
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void on_writable(struct conn *c)
{
	int i = (int)(c - cs);
	int err = 0;
	socklen_t el = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
		kill_conn(c, 1);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	char req[512];
	int n = snprintf(req, sizeof req,
			 "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s:%d\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 o.host, o.port);
	c->st = S_HTTP;
	if (write_all(c, req, (size_t)n))
		kill_conn(c, 1);
}

static int in_setup(void)
{
	return n_started - n_ready - n_dead_setup;
}

static void poll_once(int timeout_ms)
{
	struct epoll_event evs[512];
	int n = epoll_wait(epfd, evs, 512, timeout_ms);
	for (int k = 0; k < n; k++) {
		struct conn *c = &cs[evs[k].data.u32];
		if (c->st == S_DEAD)
			continue;
		if (c->st == S_CONNECTING) {
			if (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				on_writable(c);
			continue;
		}
		if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			on_readable(c);
	}
}


// The bcast sender's thread: keeps --window broadcasts unacknowledged (and --gap-ms between
// two sends), reading its acks as soon as they arrive. It owns the sender's connection (out
// of epfd) until the main thread stops it.
enum { SENDER_RUNNING, SENDER_DONE, SENDER_FAILED };
static atomic_int sender_state, sender_stop;
static int sender_sent;
static int64_t sender_end_us;

static void *sender_main(void *arg)
{
	struct conn *c = arg;
	int sent = 0;
	int64_t last_send = 0, gap = (int64_t)o.gap_ms * 1000;
	while (!atomic_load(&sender_stop) && c->st == S_READY && now_us() < sender_end_us) {
		int64_t t = now_us();
		while (sent < o.msgs && sent - atomic_load(&acks_got) < o.window && c->st == S_READY &&
		       (!gap || t - last_send >= gap)) {
			last_send = t;
			emit_bcast(c, "r", 1);
			sent++;
			t = now_us();
		}
		if (sent >= o.msgs && atomic_load(&acks_got) >= sent)
			break;
		int wait_ms = 50; // bounded, so that sender_stop is seen
		if (gap && sent < o.msgs && sent - atomic_load(&acks_got) < o.window) {
			int64_t left = gap - (now_us() - last_send);
			wait_ms = left > 0 ? (int)((left + 999) / 1000) : 0;
		}
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, wait_ms) > 0)
			on_readable(c);
	}
	sender_sent = sent;
	atomic_store(&sender_state, c->st == S_READY ? SENDER_DONE : SENDER_FAILED);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen --port P [--host 127.0.0.1] [--mode idle|bcast|echo|recv] [--n N] [--msgs M]\n"
			"               [--window W] [--hold S] [--timeout S] [--pad BYTES] [--inflight K] [--pid PID]\n"
			"               [--go-file PATH (recv)] [--gap-ms MS (bcast)]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i += 2) { // --option value
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--host"))
			o.host = v;
		else if (!strcmp(a, "--port"))
			o.port = atoi(v);
		else if (!strcmp(a, "--mode"))
			o.mode = v;
		else if (!strcmp(a, "--n"))
			o.n = atoi(v);
		else if (!strcmp(a, "--msgs"))
			o.msgs = atoi(v);
		else if (!strcmp(a, "--window"))
			o.window = atoi(v);
		else if (!strcmp(a, "--hold"))
			o.hold = atoi(v);
		else if (!strcmp(a, "--timeout"))
			o.timeout = atoi(v);
		else if (!strcmp(a, "--pad"))
			o.pad = atoi(v);
		else if (!strcmp(a, "--inflight"))
			o.inflight = atoi(v);
		else if (!strcmp(a, "--pid"))
			o.pid = atoi(v);
		else if (!strcmp(a, "--per-src"))
			o.per_src = atoi(v);
		else if (!strcmp(a, "--go-file"))
			o.go_file = v;
		else if (!strcmp(a, "--gap-ms"))
			o.gap_ms = atoi(v);
		else
			usage();
	}
	if (o.port <= 0 || o.n <= 0 || o.n > 200000 || o.pad < 0 || o.pad >= (int)sizeof padbuf || o.window < 1 ||
	    o.inflight < 1 || o.per_src < 1 || o.gap_ms < 0 || (strcmp(o.mode, "idle") && strcmp(o.mode, "bcast") && strcmp(o.mode, "echo") &&
	     strcmp(o.mode, "recv")) || (!strcmp(o.mode, "recv") && !o.go_file))
		usage();
	memset(padbuf, 'x', (size_t)o.pad);
	int bcast = !strcmp(o.mode, "bcast");
	ncs = o.n + bcast; // bcast: receivers 0..n-1, sender n
	cs = calloc((size_t)ncs, sizeof *cs);
	if (!cs)
		return 2;
	for (int i = 0; i < ncs; i++)
		cs[i].fd = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	int64_t deadline = now_us() + (int64_t)o.timeout * 1000000;
	long rss0 = o.pid ? rss_kb(o.pid) : -1;

	// Connect (and join) everyone, at most --inflight handshakes at a time.
	int64_t t0 = now_us();
	int next = 0;
	while (now_us() < deadline) {
		int busy = in_setup();
		while (next < ncs && busy < o.inflight) {
			start_conn(next++);
			busy++;
		}
		if (next >= ncs && busy == 0)
			break;
		poll_once(10);
	}
	int64_t t1 = now_us();
	int ready = 0;
	for (int i = 0; i < ncs; i++)
		ready += cs[i].st == S_READY;
	double conn_s = (t1 - t0) / 1e6;
	int setup_errors = ncs - ready;

	printf("{\"mode\":\"%s\",\"n\":%d,\"ready\":%d,\"setup_errors\":%d,\"connect_s\":%.3f,\"connect_rate\":%.1f", o.mode,
	       o.n, ready, setup_errors, conn_s, conn_s > 0 ? ready / conn_s : 0);

	if (!strcmp(o.mode, "idle")) {
		// Settle, then sample the server's RSS; hold (answering pings), then sample again.
		int64_t settle_end = now_us() + 2000000;
		while (now_us() < settle_end)
			poll_once(50);
		long rss1 = o.pid ? rss_kb(o.pid) : -1;
		long rss_max = rss1;
		int64_t hold_end = now_us() + (int64_t)o.hold * 1000000;
		int closed0 = n_closed_after_ready;
		while (now_us() < hold_end) {
			poll_once(200);
			long r = o.pid ? rss_kb(o.pid) : -1;
			if (r > rss_max)
				rss_max = r;
		}
		long rss2 = o.pid ? rss_kb(o.pid) : -1;
		printf(",\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"rss_end_kb\":%ld,\"rss_max_kb\":%ld"
		       ",\"bytes_per_client\":%.0f,\"hold_s\":%d,\"dropped_during_hold\":%d",
		       rss0, rss1, rss2, rss_max, ready ? (rss1 - rss0) * 1024.0 / ready : -1, o.hold,
		       n_closed_after_ready - closed0);
	} else if (bcast) {
		struct conn *snd = &cs[o.n];
		int receivers = ready - (snd->st == S_READY);
		if (snd->st != S_READY || receivers <= 0) {
			printf(",\"error\":\"setup failed\"}\n");
			return 1;
		}
		// Warm-up: one broadcast, wait until it reached everyone (bounded).
		emit_bcast(snd, "r", 1);
		int64_t wend = now_us() + 10000000;
		while (now_us() < wend && (deliveries < receivers || acks_got < 1) && snd->st == S_READY)
			poll_once(10);
		deliveries = 0;
		nlat = 0;
		acks_got = 0;
		long long expect = (long long)o.msgs * receivers;
		double scpu0 = o.pid ? proc_cpu_s(o.pid) : -1, lcpu0 = 0;
		{
			struct rusage ru;
			getrusage(RUSAGE_SELF, &ru);
			lcpu0 = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
		}
		// The sender leaves the receivers' epoll loop for a thread of its own: in that loop it
		// saw its acks only when the pass over up to 512 ready receivers reached it, so the
		// events it sent, and hence what a server could batch, followed the load generator's
		// rhythm rather than the server's.
		epoll_ctl(epfd, EPOLL_CTL_DEL, snd->fd, NULL);
		first_send_us = now_us();
		int64_t end = first_send_us + (int64_t)o.timeout * 1000000;
		sender_end_us = end;
		pthread_t th;
		if (pthread_create(&th, NULL, sender_main, snd)) {
			printf(",\"error\":\"cannot start the sender thread\"}\n");
			return 1;
		}
		while (now_us() < end && deliveries < expect && atomic_load(&sender_state) != SENDER_FAILED)
			poll_once(1);
		atomic_store(&sender_stop, 1);
		pthread_join(th, NULL);
		int sent = sender_sent, acked_total = 0;
		acked_total = acks_got;
		double el = (last_delivery_us - first_send_us) / 1e6;
		double scpu = o.pid ? proc_cpu_s(o.pid) - scpu0 : -1, lcpu = cpu_s() - lcpu0;
		double wl = (now_us() - first_send_us) / 1e6;
		printf(",\"server_cpu_frac\":%.2f,\"loadgen_phase_cpu_frac\":%.2f", wl > 0 ? scpu / wl : -1, wl > 0 ? lcpu / wl : -1);
		qsort(lat, nlat, sizeof *lat, cmpu);
		printf(",\"receivers\":%d,\"msgs\":%d,\"sent\":%d,\"acked\":%d,\"deliveries\":%lld,\"expected\":%lld"
		       ",\"missing\":%lld,\"elapsed_s\":%.3f,\"deliveries_per_s\":%.0f,\"lat_p50_ms\":%.2f,\"lat_p99_ms\":%.2f",
		       receivers, o.msgs, sent, acked_total, deliveries, expect, expect - deliveries, el,
		       el > 0 ? deliveries / el : 0, pct(50), pct(99));
	} else if (!strcmp(o.mode, "recv")) {
		int receivers = ready;
		int64_t end = now_us() + (int64_t)o.timeout * 1000000;
		// Warm-up records flow until every client has had one; then the producer is told.
		while (now_us() < end && n_warm < receivers)
			poll_once(10);
		if (!receivers || n_warm < receivers) {
			printf(",\"error\":\"warm-up: %d of %d clients got an event\"}\n", n_warm, receivers);
			return 1;
		}
		FILE *gf = fopen(o.go_file, "w");
		if (!gf) {
			perror(o.go_file);
			return 2;
		}
		fclose(gf);
		deliveries = 0;
		nlat = 0;
		long long expect = (long long)o.msgs * receivers;
		double scpu0 = o.pid ? proc_cpu_s(o.pid) : -1;
		int64_t go = now_us();
		while (now_us() < end && deliveries < expect)
			poll_once(5);
		double wl = (now_us() - go) / 1e6;
		double scpu = o.pid ? proc_cpu_s(o.pid) - scpu0 : -1;
		double el = (last_delivery_us - first_delivery_us) / 1e6;
		qsort(lat, nlat, sizeof *lat, cmpu);
		printf(",\"server_cpu_frac\":%.2f,\"receivers\":%d,\"msgs\":%d,\"deliveries\":%lld,\"expected\":%lld"
		       ",\"missing\":%lld,\"elapsed_s\":%.3f,\"deliveries_per_s\":%.0f,\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f",
		       wl > 0 ? scpu / wl : -1, receivers, o.msgs, deliveries, expect, expect - deliveries, el,
		       el > 0 ? deliveries / el : 0, pct(50), pct(99));
	} else { // echo
		int warm = 100;
		int64_t end = now_us() + (int64_t)o.timeout * 1000000;
		// warm-up round trips, not recorded
		for (int i = 0; i < ncs; i++)
			if (cs[i].st == S_READY) {
				char room[32];
				cs[i].echo_left = warm - 1;
				room_of(i, room, sizeof room);
				emit_bcast(&cs[i], room, 1);
			}
		while (now_us() < end) {
			int busy = 0;
			for (int i = 0; i < ncs; i++)
				busy += cs[i].st == S_READY && (cs[i].echo_left > 0 || cs[i].pending_ack >= 0);
			if (!busy)
				break;
			poll_once(5);
		}
		nlat = 0;
		acks_got = 0;
		deliveries = 0;
		int64_t ts0 = now_us();
		for (int i = 0; i < ncs; i++)
			if (cs[i].st == S_READY) {
				char room[32];
				cs[i].echo_left = o.msgs - 1;
				room_of(i, room, sizeof room);
				emit_bcast(&cs[i], room, 1);
			}
		while (now_us() < end) {
			int busy = 0;
			for (int i = 0; i < ncs; i++)
				busy += cs[i].st == S_READY && (cs[i].echo_left > 0 || cs[i].pending_ack >= 0);
			if (!busy)
				break;
			poll_once(5);
		}
		double el = (now_us() - ts0) / 1e6;
		qsort(lat, nlat, sizeof *lat, cmpu);
		printf(",\"round_trips\":%zu,\"echo_events\":%lld,\"elapsed_s\":%.3f,\"rtt_per_s\":%.0f,\"rtt_p50_ms\":%.3f,"
		       "\"rtt_p99_ms\":%.3f,\"rtt_max_ms\":%.3f",
		       nlat, deliveries, el, el > 0 ? nlat / el : 0, pct(50), pct(99), pct(100));
	}
	double cpu = cpu_s(), wall = (now_us() - t0) / 1e6;
	printf(",\"errors\":%d,\"loadgen_cpu_s\":%.2f,\"loadgen_wall_s\":%.2f,\"loadgen_cpu_frac\":%.2f}\n", n_errors, cpu,
	       wall, wall > 0 ? cpu / wall : 0);
	for (int i = 0; i < ncs; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	return 0;
}
