/* server.c - owns the lws context; routes each connection to its Engine.IO endpoint. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "middleware.h"
#include "util/clock.h"
#include "util/http.h"

#define MAX_ENDPOINTS 8

struct sg_server {
	struct lws_context *ctx;
	struct sg_evloop *loop;        /* the loop under ctx (evloop.c) */
	/* The endpoints' own lws timers flush their queued frames, not turn(): on GLib, whose
	 * lws timers run at idle priority (sg_server_add_endpoint). Set with the loop. */
	int timers_flush;
	struct lws_vhost *vhost;
	struct lws_vhost *admin_vhost; /* server.admin_listen, or NULL */
	struct sg_eio *endpoints[MAX_ENDPOINTS];
	size_t n_endpoints;
	sg_http_handler_fn http_fn;
	void *http_ud;
	void (*wake_fn)(void *ud);
	void *wake_ud;
	volatile sig_atomic_t stop;
	size_t n_conns;   /* accepted connections open now */
	size_t max_conns; /* server.max_connections, capped below the open-file limit */
	int full;         /* at max_conns since the last warning */
	struct sg_stats *stats; /* connections refused; NULL until set */
	/* The numeric addresses the vhosts bind: lws keeps the iface pointer for the vhost's
	 * life, which a reload's config would not outlive. */
	char addr[INET6_ADDRSTRLEN], admin_addr[INET6_ADDRSTRLEN];
};

/* "%s%s%s" arguments that print an IPv6 address in brackets, as listen strings write it. */
#define BRACKETS(h) strchr((h), ':') ? "[" : "", (h), strchr((h), ':') ? "]" : ""

/* File descriptors kept free of client connections: broker sockets, logs, plugins. */
#define FD_RESERVE 64

static struct sg_eio *route(struct sg_server *srv, const char *uri)
{
	size_t i;

	for (i = 0; i < srv->n_endpoints; i++)
		if (sg_eio_match_path(srv->endpoints[i], uri))
			return srv->endpoints[i];
	return NULL;
}

static struct sg_eio *route_wsi(struct sg_server *srv, struct lws *wsi)
{
	char uri[512];

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0)
		return NULL;
	return route(srv, uri);
}

/* The admin listener answers the admin endpoints only: no Engine.IO, no upgrades. */
static int admin_callback(struct sg_server *srv, struct lws *wsi, enum lws_callback_reasons reason,
			  void *user, void *in, size_t len)
{
	int rc = 0;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (srv->http_fn && srv->http_fn(srv->http_ud, wsi, in, SG_HTTP_ADMIN, &rc))
			return rc;
		return sg_http_respond_error(wsi, 404, "not found", NULL);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		rc = sg_http_respond_error(wsi, 404, "not found", NULL);
		return rc < 0 ? -1 : 1;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return sg_http_respond(wsi, 404, NULL, NULL, 0, NULL);
	case LWS_CALLBACK_ESTABLISHED:
		return -1;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct sg_server *srv = vh ? lws_vhost_user(vh) : NULL;
	struct sg_eio_conn *c = user;
	struct sg_eio *e;

	if (!srv)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	if (vh == srv->admin_vhost)
		return admin_callback(srv, wsi, reason, user, in, len);

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* Accepted, not yet adopted: closing it here keeps fds below the process limit,
		 * where lws would spin on accept() failing with EMFILE. */
		if (srv->n_conns < srv->max_conns)
			return 0;
		if (srv->stats)
			srv->stats->connections_refused++;
		if (!srv->full)
			sg_warn("server", NULL, "%zu connections open (server.max_connections): "
				"closing new ones until some end", srv->n_conns);
		srv->full = 1;
		return 1;
	case LWS_CALLBACK_WSI_CREATE:
		srv->n_conns++;
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (srv->n_conns)
			srv->n_conns--;
		if (srv->full && srv->n_conns + srv->max_conns / 10 < srv->max_conns)
			srv->full = 0;
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	case LWS_CALLBACK_HTTP:
		e = route(srv, in);
		if (c)
			c->eio = e;
		if (e)
			return sg_eio_http_callback(e, wsi, reason, c, in, len);
		if (srv->http_fn) {
			int rc = 0;
			if (srv->http_fn(srv->http_ud, wsi, in, srv->admin_vhost ? SG_HTTP_MAIN : SG_HTTP_MAIN_ONLY, &rc))
				return rc;
		}
		return sg_http_respond_error(wsi, 404, "not found", NULL);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		e = route_wsi(srv, wsi);
		if (!e) {
			int rc = sg_http_respond_error(wsi, 404, "not found", NULL);
			return rc < 0 ? -1 : 1;
		}
		return sg_eio_http_callback(e, wsi, reason, c, in, len);
	case LWS_CALLBACK_ESTABLISHED:
		e = route_wsi(srv, wsi);
		if (!e || !c)
			return -1;
		memset(c, 0, sizeof(*c));
		return sg_eio_http_callback(e, wsi, reason, c, in, len);
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
	case LWS_CALLBACK_HTTP_WRITEABLE:
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLOSED:
		if (c && c->eio)
			return sg_eio_http_callback(c->eio, wsi, reason, c, in, len);
		if (reason == LWS_CALLBACK_HTTP_BODY_COMPLETION)
			return sg_http_respond(wsi, 404, NULL, NULL, 0, NULL);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (srv->wake_fn)
			srv->wake_fn(srv->wake_ud);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* rx_buffer_size: each WebSocket connection holds a receive buffer this big for its whole
 * life (larger messages arrive in pieces and are reassembled in eio.c), so it is kept small
 * for idle memory. tx_packet_size: lws sends at most this much per send() (it would
 * otherwise use rx_buffer_size), above eio.c's 16 KB coalesced writes. */
#define SG_RX_BUFFER_SIZE 256
#define SG_TX_PACKET_SIZE 65536
static const struct lws_protocols protocols[] = {
	{"siogate", callback, sizeof(struct sg_eio_conn), SG_RX_BUFFER_SIZE, 0, NULL, SG_TX_PACKET_SIZE},
	/* Outgoing HTTP requests of the `http` middleware (lws client connections). */
	{SG_MW_HTTP_PROTOCOL, sg_mw_http_callback, 0, 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

/* No lws "validity" timer per connection (by default lws arms a 300 s one on every
 * WebSocket, in its sorted timer list: O(connections) per connect). Engine.IO's own
 * ping/pong already detects dead peers. */
static const lws_retry_bo_t no_validity_checks;

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);
	char buf[512];

	/* lws lines carry their own timestamp and newline; keep only the message. */
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, line, n);
	buf[n] = '\0';
	sg_log(level == LLL_ERR ? SG_LOG_ERROR : SG_LOG_WARN, "lws", NULL, "%s", buf);
}

int sg_server_resolve(const char *host, int *family, char out[INET6_ADDRSTRLEN])
{
	struct addrinfo hints, *res, *ai, *pick = NULL;
	const void *a;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -1;
	/* A name with both families binds its IPv4 address, as ":port" means IPv4. */
	for (ai = res; ai; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET && (!pick || pick->ai_family != AF_INET)) ||
		    (ai->ai_family == AF_INET6 && !pick))
			pick = ai;
	if (!pick) {
		freeaddrinfo(res);
		return -1;
	}
	*family = pick->ai_family;
	a = pick->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
				       : (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
	inet_ntop(pick->ai_family, a, out, INET6_ADDRSTRLEN);
	freeaddrinfo(res);
	return 0;
}

/* The settings every listener (vhost) shares: where it listens, and our protocols.
 * libwebsockets 4.1 builds with IPv6 binds an AF_INET6 socket unless the vhost disables
 * IPv6, and then parses an IPv4 iface into the wrong bytes of a sockaddr_in6: "127.0.0.1"
 * became [::]. So an IPv4 address gets an IPv4-only vhost, and an IPv6 one a V6ONLY
 * socket: each listener binds exactly the address configured. Returns -1 when the host
 * does not resolve. */
static int listener_info(struct lws_context_creation_info *info, struct sg_server *srv,
			 const char *host, int port, const char *name, char addr[INET6_ADDRSTRLEN])
{
	int family;

	memset(info, 0, sizeof(*info));
	if (sg_server_resolve(host, &family, addr) < 0) {
		sg_err("server", NULL, "cannot listen on %s%s%s:%d: the host name does not resolve",
		       BRACKETS(host), port);
		return -1;
	}
	info->port = port;
	info->options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	if (family == AF_INET) {
		info->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
		info->iface = strcmp(addr, "0.0.0.0") ? addr : NULL;
	} else {
		info->options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY | LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
		info->iface = addr;
	}
	info->protocols = protocols;
	info->user = srv;
	info->vhost_name = name;
	return 0;
}

static struct lws_vhost *create_admin_vhost(struct sg_server *srv, const struct sg_server_config *cfg)
{
	struct lws_context_creation_info info;

	if (listener_info(&info, srv, cfg->admin_host, cfg->admin_port, "siogate-admin", srv->admin_addr) < 0)
		return NULL;
	info.keepalive_timeout = 5;
	info.timeout_secs = 10;
	return lws_create_vhost(srv->ctx, &info);
}

/* server.max_connections, or (0) the open-file limit minus FD_RESERVE, never above that. */
static size_t connection_limit(size_t configured)
{
	struct rlimit rl;
	size_t fit = (size_t)-1;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY)
		fit = rl.rlim_cur > 2 * FD_RESERVE ? (size_t)rl.rlim_cur - FD_RESERVE : (size_t)rl.rlim_cur / 2;
	if (!configured)
		return fit;
	if (configured > fit) {
		sg_warn("server", NULL, "server.max_connections %zu does not fit the open-file limit "
			"(ulimit -n) minus %d: using %zu; raise ulimit -n", configured, FD_RESERVE, fit);
		return fit;
	}
	return configured;
}

/* What server.event_loop "auto" picks, in order: the fastest in the measurements of
 * docs/performance.md that is installed, else lws's poll(2). */
static const enum sg_event_loop auto_order[] = {SG_EVENT_LOOP_LIBUV, SG_EVENT_LOOP_POLL};

/* The context on the configured event loop; a missing plugin falls back to poll, logged. */
static int create_context(struct sg_server *srv, const struct sg_server_config *cfg)
{
	enum sg_event_loop want = cfg->event_loop;
	const enum sg_event_loop *order = auto_order, one[] = {want, SG_EVENT_LOOP_POLL};
	size_t n = sizeof(auto_order) / sizeof(auto_order[0]);
	struct lws_context_creation_info info;
	char why[512] = "";

	if (want != SG_EVENT_LOOP_AUTO) {
		order = one;
		n = want == SG_EVENT_LOOP_POLL ? 1 : 2;
	}
	for (size_t i = 0; i < n; i++) {
		memset(&info, 0, sizeof(info));
		info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
		if (cfg->tls_cert)
			info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.fd_limit_per_thread = 0; /* the process limit */
		info.pcontext = &srv->ctx; /* NULL again once lws has freed it (evloop.c) */
		if (!(srv->loop = sg_evloop_open(order[i], &info, why, sizeof(why))))
			goto next;
		/* On a foreign libuv loop, lws 4.1.6 returns the context even when its creation
		 * failed after the loop was attached (it is then being destroyed, on the loop's
		 * next turns: fatal_exit_defer in lws's context.c), and there is no public way to
		 * tell. What fails there (TLS global init, memory) makes the vhosts' creation fail
		 * next, which reports it; destroy_context() then finishes it on the loop. */
		if ((srv->ctx = lws_create_context(&info))) {
			srv->timers_flush = sg_evloop_timers_when_idle(srv->loop);
			sg_info("server", NULL, "event loop: %s%s", sg_evloop_kind_name(order[i]),
				want == SG_EVENT_LOOP_AUTO ? " (server.event_loop auto)" : "");
			return 0;
		}
		snprintf(why, sizeof(why), "libwebsockets could not start on it");
		sg_evloop_close(srv->loop);
		srv->loop = NULL;
next:
		if (i + 1 < n) {
			if (want == SG_EVENT_LOOP_AUTO)
				sg_info("server", NULL, "event loop %s not used: %s", sg_evloop_kind_name(order[i]), why);
			else
				sg_warn("server", NULL, "server.event_loop \"%s\": %s; using %s instead",
					sg_evloop_kind_name(order[i]), why, sg_evloop_kind_name(order[i + 1]));
		}
	}
	sg_err("server", NULL, "cannot create the libwebsockets context%s%s", why[0] ? ": " : "", why);
	return -1;
}

const char *sg_server_event_loop(const struct sg_server *srv)
{
	return sg_evloop_kind_name(sg_evloop_kind(srv->loop));
}

/* The context, then its loop (which lws finishes closing on), then srv. */
static void destroy_context(struct sg_server *srv)
{
	sg_evloop_destroy_context(srv->loop, &srv->ctx);
	sg_evloop_close(srv->loop);
	free(srv);
}

struct sg_server *sg_server_create(const struct sg_server_config *cfg)
{
	struct lws_context_creation_info info;
	struct sg_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->max_conns = connection_limit(cfg->max_connections);
	lws_set_log_level(LLL_ERR | (sg_log_enabled(SG_LOG_DEBUG) ? LLL_WARN : 0), lws_log_emit);

	if (create_context(srv, cfg) < 0) {
		free(srv);
		return NULL;
	}

	if (listener_info(&info, srv, cfg->host, cfg->port, "siogate", srv->addr) < 0) {
		destroy_context(srv);
		return NULL;
	}
	info.options |= LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.max_http_header_data = 16384;
	info.keepalive_timeout = 60;
	info.timeout_secs = 30;
	info.retry_and_idle_policy = &no_validity_checks;
	/* Unfinished request headers (idle or dripped: slowloris) are dropped after this. */
	info.timeout_secs_ah_idle = (cfg->header_timeout_ms + 999) / 1000;
	if (cfg->tls_cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
	}
	srv->vhost = lws_create_vhost(srv->ctx, &info);
	if (!srv->vhost) {
		sg_err("server", NULL, "cannot listen on %s%s%s:%d (address in use, not an address of this "
		       "host, or bad TLS files?)", BRACKETS(cfg->host), cfg->port);
		destroy_context(srv);
		return NULL;
	}
	if (cfg->admin_host && !(srv->admin_vhost = create_admin_vhost(srv, cfg))) {
		sg_err("server", NULL, "cannot listen on %s%s%s:%d for server.admin_listen (address in use, "
		       "or not an address of this host?)", BRACKETS(cfg->admin_host), cfg->admin_port);
		destroy_context(srv);
		return NULL;
	}
	return srv;
}

void sg_server_destroy(struct sg_server *srv)
{
	if (!srv)
		return;
	destroy_context(srv);
	sg_mw_http_cleanup();
}

int sg_server_add_endpoint(struct sg_server *srv, struct sg_eio *e)
{
	if (srv->n_endpoints == MAX_ENDPOINTS)
		return -1;
	srv->endpoints[srv->n_endpoints++] = e;
	/* After each turn (turn()), except on GLib: lws runs its timers there at idle priority,
	 * i.e. once no socket is ready, which is the moment turn() looks for, without the extra
	 * turns (a GLib turn walks every socket's source, so they cost more there). */
	sg_eio_drive_flush(e, !srv->timers_flush);
	return 0;
}

void sg_server_set_http_handler(struct sg_server *srv, sg_http_handler_fn fn, void *ud)
{
	srv->http_fn = fn;
	srv->http_ud = ud;
}

void sg_server_set_stats(struct sg_server *srv, struct sg_stats *stats)
{
	srv->stats = stats;
}

void sg_server_set_wake_handler(struct sg_server *srv, void (*fn)(void *ud), void *ud)
{
	srv->wake_fn = fn;
	srv->wake_ud = ud;
}

struct lws_context *sg_server_context(struct sg_server *srv)
{
	return srv->ctx;
}

int sg_server_port(struct sg_server *srv)
{
	return lws_get_vhost_listen_port(srv->vhost);
}

int sg_server_admin_port(struct sg_server *srv)
{
	return srv->admin_vhost ? lws_get_vhost_listen_port(srv->admin_vhost) : 0;
}

/* Reading before writing. lws reads at most rx_buffer_size bytes (SG_RX_BUFFER_SIZE, kept
 * small for idle memory) of a socket per turn, so a client that sent a burst of messages is
 * read over several turns. Flushing after each of them (as a zero-delay timer would) writes
 * every recipient of a broadcast a couple of frames per send(); instead, while a turn read
 * messages and frames wait, the loop takes more turns that do not wait (at most
 * GATHER_TURNS, and no longer than GATHER_US), and the endpoints flush once a turn read
 * nothing new: every frame the burst produced then leaves in one send() per socket. A
 * lone message costs one extra non-waiting turn (one epoll_wait), measured in
 * docs/performance.md. Nothing queued is left waiting through a turn that may block. */
#define GATHER_TURNS 32
#define GATHER_US 1000

static uint64_t messages_in(const struct sg_server *srv)
{
	uint64_t n = 0;

	for (size_t i = 0; i < srv->n_endpoints; i++)
		n += sg_eio_messages_in(srv->endpoints[i]);
	return n;
}

static int flush_pending(const struct sg_server *srv)
{
	for (size_t i = 0; i < srv->n_endpoints; i++)
		if (sg_eio_flush_pending(srv->endpoints[i]))
			return 1;
	return 0;
}

static void flush_all(struct sg_server *srv)
{
	for (size_t i = 0; i < srv->n_endpoints; i++)
		sg_eio_flush(srv->endpoints[i]);
}

static int turn(struct sg_server *srv)
{
	uint64_t in;
	long long t0;

	if (srv->timers_flush)
		return sg_evloop_run_once(srv->loop, srv->ctx);
	flush_all(srv);
	in = messages_in(srv);
	if (sg_evloop_run_once(srv->loop, srv->ctx) < 0)
		return -1;
	t0 = sg_mono_us();
	for (int k = 0; k < GATHER_TURNS && messages_in(srv) != in && flush_pending(srv) &&
			sg_mono_us() - t0 < GATHER_US; k++) {
		in = messages_in(srv);
		if (sg_evloop_run_ready(srv->loop, srv->ctx) < 0)
			return -1;
	}
	flush_all(srv);
	return 0;
}

int sg_server_run(struct sg_server *srv)
{
	while (!srv->stop)
		if (turn(srv) < 0)
			break;
	return 0;
}

void sg_server_stop(struct sg_server *srv)
{
	srv->stop = 1;
	lws_cancel_service(srv->ctx);
}

static void on_drain_tick(lws_sorted_usec_list_t *sul)
{
	(void)sul; /* only here to end the loop's turn */
}

void sg_server_drain(struct sg_server *srv, unsigned ms, int (*done)(void *ud), void *ud)
{
	long long end = sg_mono_ms() + ms;
	lws_sorted_usec_list_t tick;

	memset(&tick, 0, sizeof(tick));
	while (sg_mono_ms() < end && !(done && done(ud))) {
		/* A short timer bounds each wait, so the deadline is honoured on a quiet loop. */
		lws_sul_schedule(srv->ctx, 0, &tick, on_drain_tick, 20 * LWS_US_PER_MS);
		if (turn(srv) < 0)
			break;
	}
	lws_sul_cancel(&tick);
}

/* ---------------------------------------------------------------- the probe (--health) */

/* Waits for `events` on fd until the deadline; returns 1 when ready, 0 on timeout. */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = {fd, events, 0};
	long long left;
	int n;

	for (;;) {
		left = deadline - sg_mono_ms();
		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 1;
		if (n == 0 || errno != EINTR)
			return 0;
	}
}

int sg_server_probe(const struct sg_server_config *cfg, const char *path, unsigned timeout_ms,
		    char *why, size_t len)
{
	const char *host = cfg->admin_host ? cfg->admin_host : cfg->host;
	int port = cfg->admin_host ? cfg->admin_port : cfg->port;
	long long deadline = sg_mono_ms() + timeout_ms;
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char addr[INET6_ADDRSTRLEN], req[256], resp[64];
	size_t got = 0;
	int family, fd, err = 0, status = 0;
	socklen_t err_len = sizeof(err);

	if (!cfg->admin_host && cfg->tls_cert) {
		snprintf(why, len, "the listener speaks TLS (server.tls) and there is no server.admin_listen: "
			 "the probe speaks plain HTTP, so set admin_listen (e.g. \"127.0.0.1:9090\")");
		return -1;
	}
	if (sg_server_resolve(host, &family, addr) < 0) {
		snprintf(why, len, "%s does not resolve", host);
		return -1;
	}
	/* A wildcard listener is probed on this host's loopback of the same family. */
	if (!strcmp(addr, "0.0.0.0"))
		strcpy(addr, "127.0.0.1");
	else if (!strcmp(addr, "::"))
		strcpy(addr, "::1");
	memset(&sa, 0, sizeof(sa));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &in->sin_addr);
		sa_len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &in6->sin6_addr);
		sa_len = sizeof(*in6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(why, len, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sa_len) < 0 && errno != EINPROGRESS) {
		err = errno;
	} else if (!wait_fd(fd, POLLOUT, deadline)) {
		snprintf(why, len, "%s%s%s:%d: no connection within %u ms", BRACKETS(addr), port, timeout_ms);
		goto fail;
	} else {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
	}
	if (err) {
		snprintf(why, len, "%s%s%s:%d: %s", BRACKETS(addr), port, strerror(err));
		goto fail;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nConnection: close\r\n\r\n",
		 path, BRACKETS(addr), port);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		snprintf(why, len, "%s%s%s:%d: cannot send the request", BRACKETS(addr), port);
		goto fail;
	}
	/* Only the status line matters: "HTTP/1.1 200 OK". */
	while (got < sizeof(resp) - 1 && !memchr(resp, '\n', got)) {
		ssize_t n;

		if (!wait_fd(fd, POLLIN, deadline)) {
			snprintf(why, len, "%s%s%s:%d: no answer to GET %s within %u ms", BRACKETS(addr), port, path,
				 timeout_ms);
			goto fail;
		}
		n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
		snprintf(why, len, "%s%s%s:%d: not an HTTP answer to GET %s", BRACKETS(addr), port, path);
		goto fail;
	}
	close(fd);
	if (status != 200) {
		snprintf(why, len, "%s%s%s:%d: GET %s answered %d", BRACKETS(addr), port, path, status);
		return -1;
	}
	return 0;
fail:
	close(fd);
	return -1;
}
