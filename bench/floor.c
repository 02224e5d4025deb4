// floor.c - the fan-out floor for the siogate benchmark (bench/run.sh, issue: fan-out against
// the floor). What a broadcast to N WebSocket clients costs at the least: the same ~130-byte
// frame written with one send() to each of N connected loopback sockets, nothing else (no
// parsing, no queues, no event loop). siogate's siogate_fanout_seconds is compared with it in
// the same run, per recipient.
//
// One process, two halves: the sender (this process) accepts N connections from a receiver
// child (forked, epoll, reads and counts bytes, as the load generator would), then sends --msgs
// messages --gap-ms apart (or --rate per second, on a fixed schedule as the bench's publishers
// keep), each one frame to every socket in turn, timing each message from its first send() to
// its last (fanout_*). The receiver also times every delivery, from the message's start (its
// scheduled time under --rate, so that waiting behind the previous message counts, as it does
// for a gateway's clients) to the moment its last byte is read (deliver_*, the same percentiles
// over all deliveries as the load generator reports for clients). Pin the halves with
// --sender-cpu/--receiver-cpu (as run.sh pins the gateway and the load generator). Prints one
// JSON object. Bounded by --timeout seconds.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;
	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		perror("sched_setaffinity");
}

static int fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		perror("fcntl");
		return -1;
	}
	return 0;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

// Shared between the halves (an anonymous shared mapping made before the fork): each message's
// start, written by the sender before its first send(), and the receiver's delivery percentiles.
struct shared {
	int64_t deliver_p50_ns, deliver_p99_ns, deliveries;
	int64_t start[]; // [msgs]
};

// The receiver: N connections, read until every byte of every message has arrived. Connection
// i's frames arrive in order, so its byte count says which message a completed frame belongs to.
static int receive(int port, int n, int msgs, size_t flen, struct shared *sh, int timeout_s)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int ep = epoll_create1(0), one = 1;
	long long got = 0, expect_bytes = (long long)n * msgs * (long long)flen;
	long long *conn = calloc((size_t)n, sizeof *conn);
	int64_t *lat = malloc((size_t)n * (size_t)msgs * sizeof *lat);
	size_t nlat = 0;
	char buf[65536];
	int64_t end = now_ns() + (int64_t)timeout_s * 1000000000;

	if (ep < 0 || !conn || !lat) {
		perror("receiver");
		return 1;
	}

	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i << 32 | (uint32_t)fd };
		if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst)) {
			perror("receiver: connect");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (fcntl_nonblock(fd))
			return 1;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	while (got < expect_bytes && now_ns() < end) {
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < k; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64, c = (int)(evs[i].data.u64 >> 32);
			for (;;) {
				ssize_t r = read(fd, buf, sizeof buf);
				if (r <= 0)
					break;
				int64_t t = now_ns();
				long long before = conn[c], after = before + r;
				// The frames this read completed: message m ends at byte (m + 1) * flen.
				for (long long m = before / (long long)flen; (m + 1) * (long long)flen <= after; m++)
					if (m < msgs && nlat < (size_t)n * (size_t)msgs)
						lat[nlat++] = t - __atomic_load_n(&sh->start[m], __ATOMIC_ACQUIRE);
				conn[c] = after;
				got += r;
			}
		}
	}
	if (nlat) {
		qsort(lat, nlat, sizeof *lat, cmp64);
		sh->deliver_p50_ns = lat[(nlat - 1) / 2];
		sh->deliver_p99_ns = lat[(size_t)((double)(nlat - 1) * 0.99)];
	}
	sh->deliveries = (int64_t)nlat;
	free(lat);
	free(conn);
	return got == expect_bytes ? 0 : 1;
}

int main(int argc, char **argv)
{
	int n = 1000, msgs = 300, gap_ms = 5, rate = 0, pad = 100, timeout_s = 60, scpu = -1, rcpu = -1, one = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i];
		int v = atoi(argv[i + 1]);
		if (!strcmp(a, "--n"))
			n = v;
		else if (!strcmp(a, "--msgs"))
			msgs = v;
		else if (!strcmp(a, "--gap-ms"))
			gap_ms = v;
		else if (!strcmp(a, "--rate"))
			rate = v;
		else if (!strcmp(a, "--pad"))
			pad = v;
		else if (!strcmp(a, "--timeout"))
			timeout_s = v;
		else if (!strcmp(a, "--sender-cpu"))
			scpu = v;
		else if (!strcmp(a, "--receiver-cpu"))
			rcpu = v;
		else {
			fprintf(stderr, "usage: floor [--n N] [--msgs M] [--gap-ms G | --rate R] [--pad B] [--timeout S]"
					" [--sender-cpu C] [--receiver-cpu C]\n");
			return 2;
		}
	}
	if (n < 1 || msgs < 1 || gap_ms < 0 || rate < 0 || pad < 0 || pad > 4000)
		return 2;

	// The frame siogate sends for the bench's "bcast" event: an unmasked WebSocket text frame
	// holding 42["bcast",{"room":"r","ts":...,"pad":"xxx..."}].
	char padbuf[4001], payload[4200], frame[4210];
	size_t plen, flen = 0;
	memset(padbuf, 'x', (size_t)pad);
	padbuf[pad] = 0;
	plen = (size_t)snprintf(payload, sizeof payload, "42[\"bcast\",{\"room\":\"r\",\"ts\":%lld,\"pad\":\"%s\"}]",
				(long long)(now_ns() / 1000), padbuf);
	frame[flen++] = (char)0x81;
	if (plen < 126)
		frame[flen++] = (char)plen;
	else {
		frame[flen++] = 126;
		frame[flen++] = (char)(plen >> 8);
		frame[flen++] = (char)(plen & 0xff);
	}
	memcpy(frame + flen, payload, plen);
	flen += plen;

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096) ||
	    getsockname(ls, (struct sockaddr *)&a, &al)) {
		perror("listen");
		return 1;
	}
	size_t shlen = sizeof(struct shared) + (size_t)msgs * sizeof(int64_t);
	struct shared *sh = mmap(NULL, shlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		close(ls);
		pin(rcpu);
		_exit(receive(ntohs(a.sin_port), n, msgs, flen, sh, timeout_s));
	}
	pin(scpu);
	int *fds = calloc((size_t)n, sizeof *fds);
	int64_t *per = calloc((size_t)msgs, sizeof *per);
	if (!fds || !per)
		return 1;
	for (int i = 0; i < n; i++) {
		if ((fds[i] = accept(ls, NULL, NULL)) < 0) {
			perror("accept");
			kill(child, SIGKILL);
			return 1;
		}
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	int64_t total = 0, begin = now_ns(), deadline = begin + (int64_t)timeout_s * 1000000000;
	int sent_msgs = 0, short_sends = 0;
	for (int m = 0; m < msgs && now_ns() < deadline; m++) {
		int64_t due = rate ? begin + (int64_t)m * 1000000000 / rate : 0;
		if (rate) {
			struct timespec ts = { .tv_sec = due / 1000000000, .tv_nsec = due % 1000000000 };
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		}
		int64_t t0 = now_ns();
		__atomic_store_n(&sh->start[m], rate ? due : t0, __ATOMIC_RELEASE);
		for (int i = 0; i < n; i++) {
			// Blocking sockets: a full send buffer waits, as a server's queue would.
			ssize_t w = send(fds[i], frame, flen, MSG_NOSIGNAL);
			if (w != (ssize_t)flen)
				short_sends++;
		}
		per[m] = now_ns() - t0;
		total += per[m];
		sent_msgs++;
		if (gap_ms && !rate)
			usleep((useconds_t)gap_ms * 1000);
	}
	int status = 0;
	waitpid(child, &status, 0);
	qsort(per, (size_t)sent_msgs, sizeof *per, cmp64);
	printf("{\"mode\":\"floor\",\"n\":%d,\"msgs\":%d,\"frame_bytes\":%zu,\"gap_ms\":%d,\"rate\":%d,"
	       "\"deliveries\":%lld,\"deliver_p50_ms\":%.4f,\"deliver_p99_ms\":%.4f,"
	       "\"fanout_mean_ms\":%.4f,\"fanout_p50_ms\":%.4f,\"fanout_p99_ms\":%.4f,"
	       "\"per_recipient_us\":%.3f,\"short_sends\":%d,\"receiver_ok\":%s}\n",
	       n, sent_msgs, flen, rate ? 0 : gap_ms, rate, (long long)sh->deliveries, sh->deliver_p50_ns / 1e6,
	       sh->deliver_p99_ns / 1e6, sent_msgs ? total / 1e6 / sent_msgs : -1,
	       sent_msgs ? per[sent_msgs / 2] / 1e6 : -1, sent_msgs ? per[(size_t)((sent_msgs - 1) * 0.99)] / 1e6 : -1,
	       sent_msgs ? total / 1e3 / ((double)sent_msgs * n) : -1, short_sends,
	       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "true" : "false");
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 && !short_sends ? 0 : 1;
}
