/* eio.c - Engine.IO v4 sessions: handshake, polling and WebSocket transports, upgrade,
 * heartbeat, bounded send queues and the closing rules the official test suite expects. */
#include "eio.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "eio_codec.h"
#include "log.h"
#include "stats.h"
#include "strbuf.h"

#define SESSION_MAGIC 0xe10e10e1u
#define CONN_MAGIC 0xc0cc0cc0u

enum conn_kind { CONN_NONE = 0, CONN_POLL_GET, CONN_POLL_POST, CONN_WS };

enum session_state {
	S_OPEN,      /* in the sid map, exchanging packets */
	S_CLOSING,   /* closed for the layer above; polling: lingers until its queue is fetched */
	S_CLOSED,    /* out of the map; freed when the last connection lets go */
};

struct qframe {
	struct sg_buf *buf;
	int is_volatile;
};

struct sg_eio_session {
	unsigned magic;
	unsigned refs;                 /* 1 while in the map + 1 per attached connection */
	struct sg_eio *eio;
	char sid[32];
	enum sg_eio_transport transport;
	enum session_state state;
	struct lws *poll_wsi;          /* pending GET */
	struct lws *post_wsi;          /* POST being received */
	struct lws *ws_wsi;            /* active WebSocket, or the upgrade probe */
	int ws_active;                 /* ws_wsi is the transport (not a probe) */
	int upgrading;                 /* probe answered, waiting for the upgrade packet */
	int probe_reply;               /* "3probe" to write on the probe */
	const char *poll_final;        /* "1" or "6": the pending GET's last answer */
	struct qframe *q;              /* ring buffer */
	size_t q_head, q_len, q_cap;
	size_t q_bytes;
	struct sg_timer t_beat;        /* next ping, ping timeout, or (closing) linger end */
	struct sg_timer t_upgrade;
	uint32_t ping_interval_ms, ping_timeout_ms;
	void *user;
	json_t *query;                 /* object: handshake query parameters */
	json_t *headers;               /* object: captured request headers */
	char remote[64];
};

struct sg_eio {
	struct sg_eio_opts opts;
	char *path;
	struct sg_eio_handlers h;
	void *ud;
	struct sg_stats *stats;
	struct sg_stats own_stats;
	struct sg_hmap sessions;       /* sid -> session */
	size_t attached;               /* connections holding a session (draining waits for 0) */
	struct lws_context *ctx;       /* learned from the first connection, for timers */
	struct sg_timers timers;
	struct sg_buf *ping_frame;     /* "2", shared by every session's pings */
	unsigned char *wbuf;           /* WebSocket write coalescing buffer (LWS_PRE + WBUF_MAX) */
};

enum close_mode {
	CLOSE_ERROR = 0,    /* timeouts, protocol errors: the session is gone at once */
	CLOSE_CLIENT = 1,   /* the client ended it: a pending GET gets a noop */
	CLOSE_GRACEFUL = 2, /* the layer above ended it: polling clients may fetch what is queued */
};

static void session_close(struct sg_eio_session *s, const char *reason, enum close_mode mode);
static void session_wake(struct sg_eio_session *s);

/* ---------------------------------------------------------------- timers */

struct sg_timer_queue {
	lws_dll2_owner_t timers;       /* sg_timer.list, in deadline order */
	lws_sorted_usec_list_t sul;    /* armed at the head's deadline while not empty */
	struct lws_context *ctx;
	uint32_t delay_ms;
	struct sg_timer_queue *next;
};

static void timer_queue_fire(lws_sorted_usec_list_t *sul);

static void timer_queue_arm(struct sg_timer_queue *q)
{
	struct lws_dll2 *d = lws_dll2_get_head(&q->timers);
	lws_usec_t now, at;

	if (!d) {
		lws_sul_cancel(&q->sul);
		return;
	}
	at = lws_container_of(d, struct sg_timer, list)->at;
	now = lws_now_usecs();
	lws_sul_schedule(q->ctx, 0, &q->sul, timer_queue_fire, at > now ? at - now : 0);
}

static void timer_queue_fire(lws_sorted_usec_list_t *sul)
{
	struct sg_timer_queue *q = lws_container_of(sul, struct sg_timer_queue, sul);
	lws_usec_t now = lws_now_usecs();
	struct lws_dll2 *d;

	/* Callbacks may arm and cancel any timer, this queue's included: take one at a time.
	 * What they arm here expires after `now`, so the loop ends. */
	while ((d = lws_dll2_get_head(&q->timers))) {
		struct sg_timer *t = lws_container_of(d, struct sg_timer, list);

		if (t->at > now)
			break;
		lws_dll2_remove(d);
		t->cb(t);
	}
	timer_queue_arm(q);
}

int sg_timer_set(struct sg_timers *ts, struct lws_context *ctx, struct sg_timer *t,
		 uint32_t delay_ms, sg_timer_fn cb)
{
	struct sg_timer_queue *q;

	sg_timer_cancel(t);
	if (!delay_ms)
		delay_ms = 1; /* keeps deadlines after the "now" of a queue being run */
	for (q = ts->queues; q && q->delay_ms != delay_ms; q = q->next)
		;
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return -1;
		q->delay_ms = delay_ms;
		q->next = ts->queues;
		ts->queues = q;
	}
	q->ctx = ctx;
	t->at = lws_now_usecs() + (lws_usec_t)delay_ms * LWS_US_PER_MS;
	t->cb = cb;
	lws_dll2_add_tail(&t->list, &q->timers);
	if (q->timers.count == 1)
		lws_sul_schedule(ctx, 0, &q->sul, timer_queue_fire, (lws_usec_t)delay_ms * LWS_US_PER_MS);
	return 0;
}

void sg_timer_cancel(struct sg_timer *t)
{
	struct sg_timer_queue *q;

	if (!t->list.owner)
		return;
	q = lws_container_of(t->list.owner, struct sg_timer_queue, timers);
	lws_dll2_remove(&t->list);
	/* An earlier head only makes the queue's lws timer fire early (and re-arm); an empty
	 * queue holds no lws timer, so nothing is left in lws once every timer is disarmed. */
	if (!q->timers.count)
		lws_sul_cancel(&q->sul);
}

void sg_timers_free(struct sg_timers *ts)
{
	while (ts->queues) {
		struct sg_timer_queue *q = ts->queues;

		ts->queues = q->next;
		free(q);
	}
}

/* ---------------------------------------------------------------- endpoint */

struct sg_eio *sg_eio_create(const struct sg_eio_opts *opts, const struct sg_eio_handlers *h,
			     void *ud, struct sg_stats *stats)
{
	struct sg_eio *e = calloc(1, sizeof(*e));
	size_t n;

	if (!e)
		return NULL;
	n = strlen(opts->path);
	e->path = malloc(n + 2);
	if (!e->path) {
		free(e);
		return NULL;
	}
	memcpy(e->path, opts->path, n + 1);
	if (!n || e->path[n - 1] != '/')
		strcpy(e->path + n, "/");
	e->opts = *opts;
	e->opts.path = e->path;
	e->h = *h;
	e->ud = ud;
	e->stats = stats ? stats : &e->own_stats;
	sg_hmap_init(&e->sessions);
	return e;
}

void sg_eio_set_opts(struct sg_eio *e, const struct sg_eio_opts *opts)
{
	const char *path = e->opts.path;

	e->opts = *opts;
	e->opts.path = path; /* the path cannot change without a new listener */
}

const char *sg_eio_path(const struct sg_eio *e)
{
	return e->path;
}

size_t sg_eio_session_count(const struct sg_eio *e)
{
	return e->sessions.count;
}

int sg_eio_idle(const struct sg_eio *e)
{
	return e->sessions.count == 0 && e->attached == 0;
}

static void session_free(struct sg_eio_session *s)
{
	while (s->q_len) {
		sg_buf_unref(s->q[s->q_head].buf);
		s->q_head = (s->q_head + 1) % s->q_cap;
		s->q_len--;
	}
	free(s->q);
	json_decref(s->query);
	json_decref(s->headers);
	s->magic = 0;
	free(s);
}

static void session_unref(struct sg_eio_session *s)
{
	assert(s->magic == SESSION_MAGIC && s->refs > 0);
	if (--s->refs == 0)
		session_free(s);
}

/* Takes the session out of the sid map (its last step towards being freed). */
static void session_finalize(struct sg_eio_session *s)
{
	if (s->state == S_CLOSED)
		return;
	sg_timer_cancel(&s->t_beat);
	s->state = S_CLOSED;
	sg_hmap_del(&s->eio->sessions, s->sid, strlen(s->sid));
	session_unref(s);
}

void sg_eio_close_all(struct sg_eio *e, const char *reason)
{
	size_t i;

	/* Closing changes the map, so restart the scan after each close. */
	for (;;) {
		struct sg_eio_session *s = NULL;

		for (i = 0; i < e->sessions.cap && !s; i++)
			if (e->sessions.slots[i].hash &&
			    ((struct sg_eio_session *)e->sessions.slots[i].val)->state == S_OPEN)
				s = e->sessions.slots[i].val;
		if (!s)
			break;
		session_close(s, reason, CLOSE_GRACEFUL);
	}
}

void sg_eio_release(struct sg_eio *e)
{
	size_t i;

	if (!e)
		return;
	sg_eio_close_all(e, "server shutting down");
	/* Lingering polling sessions go too, and their timers with them, while the lws
	 * context (which owns the timers) is still alive. Connections keep their own
	 * references until the context closes them. */
	for (;;) {
		struct sg_eio_session *s = NULL;

		for (i = 0; i < e->sessions.cap && !s; i++)
			if (e->sessions.slots[i].hash)
				s = e->sessions.slots[i].val;
		if (!s)
			break;
		session_finalize(s);
	}
}

void sg_eio_destroy(struct sg_eio *e)
{
	if (!e)
		return;
	/* Normally released already, before the lws context went: then this is a no-op.
	 * Timers are not touched when the map is empty. */
	sg_eio_release(e);
	sg_timers_free(&e->timers);
	sg_buf_unref(e->ping_frame);
	free(e->wbuf);
	sg_hmap_free(&e->sessions);
	free(e->path);
	free(e);
}

int sg_eio_match_path(const struct sg_eio *e, const char *uri)
{
	size_t n = strlen(e->path);

	/* "/socket.io/" also answers "/socket.io" (the path without its trailing slash). */
	return !strncmp(uri, e->path, n) || (strlen(uri) == n - 1 && !strncmp(uri, e->path, n - 1));
}

/* ---------------------------------------------------------------- HTTP helpers */

int sg_http_respond(struct lws *wsi, unsigned status, const char *content_type,
		    const void *body, size_t len, const char *const *extra)
{
	unsigned char hdr[LWS_PRE + 2048];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;

	char conn[64];

	if (lws_add_http_common_headers(wsi, status, content_type, len, &p, end))
		return -1;
	/* lws ends the connection after answering a "Connection: close" request; saying so
	 * keeps clients with keep-alive agents (Node's) from reusing the dying socket. */
	if (lws_hdr_copy(wsi, conn, sizeof(conn), WSI_TOKEN_CONNECTION) > 0 && strcasestr(conn, "close") &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
					(const unsigned char *)"close", 5, &p, end))
		return -1;
	for (; extra && extra[0] && extra[1]; extra += 2)
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)extra[0],
						(const unsigned char *)extra[1], (int)strlen(extra[1]),
						&p, end))
			return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (len) {
		unsigned char *b = malloc(LWS_PRE + len);
		int n;

		if (!b)
			return -1;
		memcpy(b + LWS_PRE, body, len);
		n = lws_write(wsi, b + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
		free(b);
		if (n < 0)
			return -1;
	}
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int copy_header(struct lws *wsi, enum lws_token_indexes tok, char *buf, size_t len)
{
	int n = lws_hdr_copy(wsi, buf, (int)len, tok);

	if (n < 0)
		buf[0] = '\0';
	return n;
}

/* Is `origin` allowed by the configured list? An empty list allows any origin. */
static int origin_allowed(const struct sg_eio *e, const char *origin)
{
	size_t i;

	if (!e->opts.n_cors_origins)
		return 1;
	for (i = 0; i < e->opts.n_cors_origins; i++)
		if (!strcmp(e->opts.cors_origins[i], "*") || !strcmp(e->opts.cors_origins[i], origin))
			return 1;
	return 0;
}

/* CORS response headers for a request's Origin, into `out` (name/value pairs). */
static size_t cors_headers(const struct sg_eio *e, const char *origin, const char **out)
{
	size_t n = 0;

	if (!e->opts.n_cors_origins || !origin[0] || !origin_allowed(e, origin))
		return 0;
	out[n++] = "access-control-allow-origin:";
	out[n++] = origin;
	out[n++] = "access-control-allow-credentials:";
	out[n++] = "true";
	out[n++] = "vary:";
	out[n++] = "Origin";
	return n;
}

/* The Node server's error answer: 400 with {"code":N,"message":"..."}. */
static int respond_error(struct sg_eio *e, struct lws *wsi, unsigned status, int code, const char *msg)
{
	char body[160], origin[256];
	const char *extra[8] = {0};
	int n;

	copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	cors_headers(e, origin, extra);
	n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code, msg);
	return sg_http_respond(wsi, status, "application/json", body, (size_t)n, extra);
}

/* A query argument's value, or NULL when absent. A value too long for `buf` comes back as
 * "\x01" (never a valid EIO, transport or sid), so that it is refused rather than taken
 * for a missing argument. `name` includes the '='. */
static const char *arg(struct lws *wsi, const char *name, char *buf, size_t len)
{
	char frag[16400]; /* larger than the request's header space (max_http_header_data) */
	size_t nl = strlen(name);
	int i, n;

	for (i = 0; (n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i)) >= 0; i++) {
		if (strncmp(frag, name, nl))
			continue;
		if ((size_t)n - nl >= len) {
			snprintf(buf, len, "\x01");
			return buf;
		}
		memcpy(buf, frag + nl, (size_t)n - nl + 1);
		return buf;
	}
	return NULL;
}

/* ---------------------------------------------------------------- sessions */

static void make_sid(char *out)
{
	static const char url64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char rnd[18]; /* 144 bits from the kernel CSPRNG */
	size_t i, got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			abort(); /* no entropy source: refusing to hand out guessable ids */
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(rnd); i++)
		out[i] = url64[rnd[i] & 63]; /* 6 bits per byte: 108 bits... */
	/* ...so fold the top two bits of every three bytes into six more characters. */
	for (i = 0; i < sizeof(rnd) / 3; i++)
		out[sizeof(rnd) + i] = url64[((rnd[3 * i] >> 6) << 4) | ((rnd[3 * i + 1] >> 6) << 2) |
					     (rnd[3 * i + 2] >> 6)];
	out[sizeof(rnd) + sizeof(rnd) / 3] = '\0';
}

static void capture_request(struct sg_eio *e, struct sg_eio_session *s, struct lws *wsi)
{
	static const struct {
		const char *name;
		enum lws_token_indexes tok;
	} known[] = {
		{"origin", WSI_TOKEN_ORIGIN},
		{"cookie", WSI_TOKEN_HTTP_COOKIE},
		{"authorization", WSI_TOKEN_HTTP_AUTHORIZATION},
		{"user-agent", WSI_TOKEN_HTTP_USER_AGENT},
		{"x-forwarded-for", WSI_TOKEN_X_FORWARDED_FOR},
		{"host", WSI_TOKEN_HOST},
	};
	char buf[4096];
	size_t i;
	int n;

	for (i = 0; (n = lws_hdr_copy_fragment(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_URI_ARGS, (int)i)) >= 0; i++) {
		char *eq = strchr(buf, '=');
		if (eq)
			*eq = '\0';
		if (!json_object_get(s->query, buf))
			json_object_set_new(s->query, buf, json_string(eq ? eq + 1 : ""));
	}
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (copy_header(wsi, known[i].tok, buf, sizeof(buf)) > 0)
			json_object_set_new(s->headers, known[i].name, json_string(buf));
	for (i = 0; i < e->opts.n_capture_headers; i++) {
		char name[128];
		const char *h = e->opts.capture_headers[i];

		if (json_object_get(s->headers, h))
			continue;
		snprintf(name, sizeof(name), "%s:", h);
		n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), name, (int)strlen(name));
		if (n > 0)
			json_object_set_new(s->headers, h, json_string(buf));
	}
	lws_get_peer_simple(wsi, s->remote, sizeof(s->remote));
}

static void on_ping_timer(struct sg_timer *t);
static void on_ping_timeout(struct sg_timer *t);

static int schedule_ping(struct sg_eio_session *s)
{
	return sg_timer_set(&s->eio->timers, s->eio->ctx, &s->t_beat, s->ping_interval_ms, on_ping_timer);
}

static struct sg_eio_session *session_new(struct sg_eio *e, struct lws *wsi, enum sg_eio_transport t)
{
	struct sg_eio_session *s = calloc(1, sizeof(*s));
	struct sg_strbuf sb;
	struct sg_buf *open;
	int upgrades;

	if (!s)
		return NULL;
	s->magic = SESSION_MAGIC;
	s->refs = 1;
	s->eio = e;
	s->transport = t;
	s->state = S_OPEN;
	s->ping_interval_ms = e->opts.ping_interval_ms;
	s->ping_timeout_ms = e->opts.ping_timeout_ms;
	s->query = json_object();
	s->headers = json_object();
	if (!e->ctx)
		e->ctx = lws_get_context(wsi);
	if (!s->query || !s->headers)
		goto fail;
	do
		make_sid(s->sid);
	while (sg_hmap_get(&e->sessions, s->sid, strlen(s->sid)));
	capture_request(e, s, wsi);
	if (sg_hmap_put(&e->sessions, s->sid, strlen(s->sid), s))
		goto fail;

	upgrades = t == SG_EIO_POLLING && e->opts.allow_upgrades &&
		   (e->opts.transports & SG_TRANSPORT_WEBSOCKET);
	sg_strbuf_init_headroom(&sb, LWS_PRE);
	sg_strbuf_appendf(&sb, "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,"
			  "\"pingTimeout\":%u,\"maxPayload\":%zu}",
			  s->sid, upgrades ? "\"websocket\"" : "", s->ping_interval_ms,
			  s->ping_timeout_ms, e->opts.max_payload);
	open = sg_buf_from_strbuf(&sb, 0);
	sg_strbuf_free(&sb);
	if (!open || sg_eio_send(s, open, 0)) {
		sg_buf_unref(open);
		sg_hmap_del(&e->sessions, s->sid, strlen(s->sid));
		goto fail;
	}
	sg_buf_unref(open);
	e->stats->sessions_opened++;
	if (t == SG_EIO_POLLING)
		e->stats->sessions_polling++;
	else
		e->stats->sessions_websocket++;
	if (schedule_ping(s)) {
		session_close(s, "out of memory", CLOSE_ERROR);
		return NULL;
	}
	if (e->h.on_open && e->h.on_open(e->ud, s)) {
		session_close(s, "refused", CLOSE_ERROR);
		return NULL;
	}
	sg_dbg("eio", s->sid, "session opened over %s from %s",
	       t == SG_EIO_POLLING ? "polling" : "websocket", s->remote);
	return s;
fail:
	json_decref(s->query);
	json_decref(s->headers);
	free(s);
	return NULL;
}

/* Drops every queued frame (a closed polling session nobody will fetch). */
static void queue_clear(struct sg_eio_session *s)
{
	while (s->q_len) {
		sg_buf_unref(s->q[s->q_head].buf);
		s->q_head = (s->q_head + 1) % s->q_cap;
		s->q_len--;
	}
	s->q_bytes = 0;
}

static void on_linger_timeout(struct sg_timer *t)
{
	struct sg_eio_session *s = lws_container_of(t, struct sg_eio_session, t_beat);

	queue_clear(s);
	session_finalize(s);
}

static void kill_wsi(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* Closes a session for the layer above (see enum close_mode). */
static void session_close(struct sg_eio_session *s, const char *reason, enum close_mode mode)
{
	int by_client = mode == CLOSE_CLIENT;
	struct sg_eio *e = s->eio;

	if (s->state != S_OPEN)
		return;
	s->state = S_CLOSING;
	s->refs++; /* keep it alive through the callbacks below */
	sg_timer_cancel(&s->t_beat);
	sg_timer_cancel(&s->t_upgrade);
	e->stats->sessions_closed++;
	if (s->transport == SG_EIO_POLLING)
		e->stats->sessions_polling--;
	else
		e->stats->sessions_websocket--;
	sg_dbg("eio", s->sid, "session closed (%s)", reason);

	if (e->h.on_close)
		e->h.on_close(e->ud, s, reason);
	s->user = NULL;
	if (by_client)
		queue_clear(s); /* nobody is listening any more */

	if (s->ws_wsi && !s->ws_active) {
		kill_wsi(s->ws_wsi); /* an unfinished upgrade probe */
	} else if (s->ws_wsi) {
		struct sg_eio_conn *c = lws_wsi_user(s->ws_wsi);
		c->ws_closing = 1; /* flush what is queued, then close */
		lws_callback_on_writable(s->ws_wsi);
	}
	if (s->poll_wsi) {
		s->poll_final = by_client ? "6" : "1";
		lws_callback_on_writable(s->poll_wsi);
	}
	if (s->transport == SG_EIO_POLLING && !s->poll_wsi && s->q_len && mode == CLOSE_GRACEFUL &&
	    !sg_timer_set(&e->timers, e->ctx, &s->t_beat, s->ping_timeout_ms, on_linger_timeout)) {
		/* The client may still fetch what was queued (a disconnect packet, say):
		 * linger, out of the way, for one ping timeout. */
		s->poll_final = "1";
	} else {
		session_finalize(s);
	}
	session_unref(s);
}

void sg_eio_session_close(struct sg_eio_session *s, const char *reason)
{
	session_close(s, reason, CLOSE_GRACEFUL);
}

static void on_ping_timer(struct sg_timer *t)
{
	struct sg_eio_session *s = lws_container_of(t, struct sg_eio_session, t_beat);
	struct sg_eio *e = s->eio;

	if (!e->ping_frame)
		e->ping_frame = sg_buf_new("2", 1, 0); /* one shared frame for every ping */
	if (!e->ping_frame) {
		session_close(s, "out of memory", CLOSE_ERROR);
		return;
	}
	if (sg_eio_send(s, e->ping_frame, 0))
		return; /* the queue overflowed: the session is closed */
	if (sg_timer_set(&e->timers, e->ctx, &s->t_beat, s->ping_timeout_ms, on_ping_timeout))
		session_close(s, "out of memory", CLOSE_ERROR);
}

static void on_ping_timeout(struct sg_timer *t)
{
	struct sg_eio_session *s = lws_container_of(t, struct sg_eio_session, t_beat);

	s->eio->stats->ping_timeouts++;
	session_close(s, "ping timeout", CLOSE_ERROR);
}

static void on_upgrade_timeout(struct sg_timer *t)
{
	struct sg_eio_session *s = lws_container_of(t, struct sg_eio_session, t_upgrade);

	if (s->ws_wsi && !s->ws_active) {
		sg_dbg("eio", s->sid, "upgrade timed out");
		kill_wsi(s->ws_wsi);
	}
}

/* Asks the transport to send: the active WebSocket, or the pending GET. */
static void session_wake(struct sg_eio_session *s)
{
	if (s->ws_wsi && s->ws_active)
		lws_callback_on_writable(s->ws_wsi);
	else if (s->poll_wsi && !s->upgrading)
		lws_callback_on_writable(s->poll_wsi);
}

static int queue_push(struct sg_eio_session *s, struct sg_buf *b, int is_volatile)
{
	if (s->q_len == s->q_cap) {
		size_t ncap = s->q_cap ? s->q_cap * 2 : 4, i;
		struct qframe *nq = malloc(ncap * sizeof(*nq));

		if (!nq)
			return -1;
		for (i = 0; i < s->q_len; i++)
			nq[i] = s->q[(s->q_head + i) % s->q_cap];
		free(s->q);
		s->q = nq;
		s->q_cap = ncap;
		s->q_head = 0;
	}
	s->q[(s->q_head + s->q_len) % s->q_cap].buf = sg_buf_ref(b);
	s->q[(s->q_head + s->q_len) % s->q_cap].is_volatile = is_volatile;
	s->q_len++;
	s->q_bytes += b->len;
	return 0;
}

static struct sg_buf *queue_pop(struct sg_eio_session *s)
{
	struct sg_buf *b;

	if (!s->q_len)
		return NULL;
	b = s->q[s->q_head].buf;
	s->q_head = (s->q_head + 1) % s->q_cap;
	s->q_len--;
	s->q_bytes -= b->len;
	return b;
}

int sg_eio_send_many(struct sg_eio_session *s, struct sg_buf *const *frames, size_t n, int is_volatile)
{
	struct sg_eio *e = s->eio;
	size_t total = 0, i;

	if (s->state != S_OPEN)
		return -1;
	for (i = 0; i < n; i++)
		total += frames[i]->len;
	if (is_volatile && s->q_bytes + total > e->opts.max_send_queue / 2) {
		e->stats->volatile_dropped++;
		return 1;
	}
	if (s->q_bytes + total > e->opts.max_send_queue) {
		e->stats->slow_disconnects++;
		sg_warn("eio", s->sid, "send queue full (%zu bytes queued, limit %zu): disconnecting",
			s->q_bytes, e->opts.max_send_queue);
		session_close(s, "send queue full", CLOSE_ERROR);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (queue_push(s, frames[i], is_volatile)) {
			/* Out of memory half-way: take back what this call added. */
			while (i--) {
				size_t last = (s->q_head + s->q_len - 1) % s->q_cap;
				s->q_bytes -= s->q[last].buf->len;
				sg_buf_unref(s->q[last].buf);
				s->q_len--;
			}
			session_close(s, "out of memory", CLOSE_ERROR);
			return -1;
		}
	session_wake(s);
	return 0;
}

int sg_eio_send(struct sg_eio_session *s, struct sg_buf *frame, int is_volatile)
{
	return sg_eio_send_many(s, &frame, 1, is_volatile);
}

const char *sg_eio_session_id(const struct sg_eio_session *s) { return s->sid; }
enum sg_eio_transport sg_eio_session_transport(const struct sg_eio_session *s) { return s->transport; }
void sg_eio_session_set_user(struct sg_eio_session *s, void *user) { s->user = user; }
void *sg_eio_session_user(const struct sg_eio_session *s) { return s->user; }
const char *sg_eio_session_remote(const struct sg_eio_session *s) { return s->remote; }
size_t sg_eio_session_queued_bytes(const struct sg_eio_session *s) { return s->q_bytes; }
json_t *sg_eio_session_query_json(const struct sg_eio_session *s) { return s->query; }

const char *sg_eio_session_query(const struct sg_eio_session *s, const char *key)
{
	return json_string_value(json_object_get(s->query, key));
}

const char *sg_eio_session_header(const struct sg_eio_session *s, const char *lname)
{
	return json_string_value(json_object_get(s->headers, lname));
}

/* ---------------------------------------------------------------- packets in */

struct rx_ctx {
	struct sg_eio_session *s;
	int close_by_client;
};

static int on_packet(void *ud, enum sg_eio_type type, const unsigned char *data, size_t len, int binary)
{
	struct rx_ctx *rx = ud;
	struct sg_eio_session *s = rx->s;
	struct sg_eio *e = s->eio;

	if (s->state != S_OPEN)
		return 1;
	switch (type) {
	case SG_EIO_PONG:
		if (schedule_ping(s)) {
			session_close(s, "out of memory", CLOSE_ERROR);
			return 1;
		}
		return 0;
	case SG_EIO_MESSAGE:
		e->stats->frames_in++;
		e->stats->bytes_in += len;
		if (e->h.on_message)
			e->h.on_message(e->ud, s, data, len, binary);
		return 0;
	case SG_EIO_CLOSE:
		rx->close_by_client = 1;
		session_close(s, "transport close", CLOSE_CLIENT);
		return 1;
	case SG_EIO_PING:   /* clients do not ping in v4 */
	case SG_EIO_OPEN:
	case SG_EIO_UPGRADE:
	case SG_EIO_NOOP:
		return 0; /* harmless, ignored like the reference server does */
	}
	return 0;
}

/* ---------------------------------------------------------------- polling */

static void conn_detach(struct sg_eio_conn *c)
{
	struct sg_eio_session *s = c->session;

	if (!s)
		return;
	c->session = NULL;
	c->response_pending = 0;
	c->eio->attached--;
	session_unref(s);
}

static void conn_reset_http(struct sg_eio_conn *c)
{
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	c->body_too_large = 0;
	c->kind = CONN_NONE;
}

/* Answers a pending or fresh GET with everything queued (or the final packet). */
static int poll_flush(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
{
	struct sg_eio_session *s = c->session;
	struct sg_strbuf sb;
	char origin[256];
	const char *extra[8] = {0};
	int rc;

	sg_strbuf_init(&sb);
	if (s->upgrading || (s->ws_active && !s->poll_final)) {
		sg_strbuf_appendc(&sb, '6');
	} else {
		struct sg_buf *b;
		while ((b = queue_pop(s))) {
			sg_eio_payload_append(&sb, b->data, b->len, b->binary);
			e->stats->frames_out++;
			sg_buf_unref(b);
		}
		if (s->poll_final)
			sg_eio_payload_append(&sb, (const unsigned char *)s->poll_final, 1, 0);
	}
	if (sb.oom) {
		sg_strbuf_free(&sb);
		return -1;
	}
	e->stats->bytes_out += sb.len;
	if (s->poll_wsi == wsi)
		s->poll_wsi = NULL;
	if (s->state == S_CLOSING && s->transport == SG_EIO_POLLING)
		session_finalize(s); /* it has been told; nothing more to fetch */
	conn_detach(c);
	conn_reset_http(c);
	copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	cors_headers(e, origin, extra);
	rc = sg_http_respond(wsi, 200, "text/plain; charset=UTF-8", sb.data, sb.len, extra);
	sg_strbuf_free(&sb);
	return rc;
}

static int handle_get(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c, struct sg_eio_session *s)
{
	if (s->poll_wsi) {
		/* Two GETs at once: the client is broken or hostile. The first gets a close
		 * packet, this one an error, and the session ends. */
		sg_dbg("eio", s->sid, "overlapping GET requests");
		session_close(s, "overlapping poll requests", CLOSE_ERROR);
		return respond_error(e, wsi, 400, 3, "Bad request");
	}
	c->kind = CONN_POLL_GET;
	c->session = s;
	s->refs++;
	e->attached++;
	if (s->q_len || s->upgrading || s->state != S_OPEN)
		return poll_flush(e, wsi, c);
	/* Hold the request open until there is something to say. */
	c->response_pending = 1;
	s->poll_wsi = wsi;
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	return 0;
}

static int handle_post_done(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
{
	struct sg_eio_session *s = c->session;
	struct rx_ctx rx = {s, 0};
	char origin[256];
	const char *extra[8] = {0};
	int rc;

	if (s->post_wsi == wsi)
		s->post_wsi = NULL;
	if (c->body_too_large) {
		e->stats->oversize_payloads++;
		sg_info("eio", s->sid, "POST body over max_payload (%zu bytes): closing", e->opts.max_payload);
		session_close(s, "payload too large", CLOSE_ERROR);
		conn_detach(c);
		conn_reset_http(c);
		return respond_error(e, wsi, 413, 3, "Payload too large");
	}
	if (s->state == S_OPEN &&
	    sg_eio_decode_payload(c->body, c->body_len, on_packet, &rx) < 0) {
		e->stats->invalid_packets++;
		sg_info("eio", s->sid, "invalid packet in POST body: closing");
		session_close(s, "parse error", CLOSE_ERROR);
		conn_detach(c);
		conn_reset_http(c);
		return respond_error(e, wsi, 400, 3, "Bad request");
	}
	conn_detach(c);
	conn_reset_http(c);
	copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	cors_headers(e, origin, extra);
	rc = sg_http_respond(wsi, 200, "text/html", "ok", 2, extra);
	return rc;
}

static int handle_http(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
{
	char buf[128], origin[256];
	const char *eio, *transport, *sid;
	struct sg_eio_session *s;
	int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	char eiobuf[32], tbuf[64], sidbuf[64];

	(void)buf;
	conn_reset_http(c);
	copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0) {
		const char *extra[12] = {0};
		size_t n = cors_headers(e, origin, extra);
		char reqh[256];

		if (n) {
			extra[n++] = "access-control-allow-methods:";
			extra[n++] = "GET, POST, OPTIONS";
			if (copy_header(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS, reqh, sizeof(reqh)) > 0) {
				extra[n++] = "access-control-allow-headers:";
				extra[n++] = reqh;
			}
		}
		return sg_http_respond(wsi, 204, NULL, NULL, 0, extra);
	}
	if (origin[0] && e->opts.n_cors_origins && !origin_allowed(e, origin))
		return respond_error(e, wsi, 403, 4, "Forbidden");

	eio = arg(wsi, "EIO=", eiobuf, sizeof(eiobuf));
	transport = arg(wsi, "transport=", tbuf, sizeof(tbuf));
	sid = arg(wsi, "sid=", sidbuf, sizeof(sidbuf));
	if (!transport || strcmp(transport, "polling") || !(e->opts.transports & SG_TRANSPORT_POLLING))
		return respond_error(e, wsi, 400, 0, "Transport unknown");
	if (!eio || strcmp(eio, "4"))
		return respond_error(e, wsi, 400, 5, "Unsupported protocol version");
	if (!is_get && !is_post)
		return respond_error(e, wsi, 400, 2, "Bad handshake method");

	if (!sid) {
		if (!is_get)
			return respond_error(e, wsi, 400, 2, "Bad handshake method");
		s = session_new(e, wsi, SG_EIO_POLLING);
		if (!s)
			return respond_error(e, wsi, 400, 3, "Bad request");
		return handle_get(e, wsi, c, s);
	}
	s = sg_hmap_get(&e->sessions, sid, strlen(sid));
	if (!s || (s->state != S_OPEN && !(s->state == S_CLOSING && is_get)))
		return respond_error(e, wsi, 400, 1, "Session ID unknown");
	if (s->transport != SG_EIO_POLLING)
		return respond_error(e, wsi, 400, 3, "Bad request");
	if (is_get)
		return handle_get(e, wsi, c, s);
	if (s->post_wsi) {
		session_close(s, "overlapping POST requests", CLOSE_ERROR);
		return respond_error(e, wsi, 400, 3, "Bad request");
	}
	c->kind = CONN_POLL_POST;
	c->session = s;
	s->refs++;
	e->attached++;
	s->post_wsi = wsi;
	return 0; /* the body follows */
}

static int handle_body(struct sg_eio *e, struct sg_eio_conn *c, const void *in, size_t len)
{
	unsigned char *nb;

	if (c->kind != CONN_POLL_POST || c->body_too_large)
		return 0;
	if (c->body_len + len > e->opts.max_payload) {
		c->body_too_large = 1;
		free(c->body);
		c->body = NULL;
		c->body_len = 0;
		return 0;
	}
	nb = realloc(c->body, c->body_len + len + 1);
	if (!nb)
		return -1;
	memcpy(nb + c->body_len, in, len);
	c->body = nb;
	c->body_len += len;
	return 0;
}

/* ---------------------------------------------------------------- WebSocket */

static int ws_reject(struct sg_eio *e, struct lws *wsi, int code, const char *msg)
{
	int rc = respond_error(e, wsi, 400, code, msg);

	return rc < 0 ? -1 : 1;
}

/* Called before the 101: refuse what can be refused with a proper HTTP answer. */
static int ws_confirm(struct sg_eio *e, struct lws *wsi)
{
	char eiobuf[32], tbuf[64], sidbuf[64], origin[256];
	const char *eio, *transport, *sid;
	struct sg_eio_session *s;

	copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	if (origin[0] && !origin_allowed(e, origin))
		return ws_reject(e, wsi, 4, "Forbidden");
	eio = arg(wsi, "EIO=", eiobuf, sizeof(eiobuf));
	transport = arg(wsi, "transport=", tbuf, sizeof(tbuf));
	sid = arg(wsi, "sid=", sidbuf, sizeof(sidbuf));
	if (!transport || strcmp(transport, "websocket") || !(e->opts.transports & SG_TRANSPORT_WEBSOCKET))
		return ws_reject(e, wsi, 0, "Transport unknown");
	if (!eio || strcmp(eio, "4"))
		return ws_reject(e, wsi, 5, "Unsupported protocol version");
	if (sid) {
		s = sg_hmap_get(&e->sessions, sid, strlen(sid));
		if (!s || s->state != S_OPEN)
			return ws_reject(e, wsi, 1, "Session ID unknown");
		/* An already upgraded or upgrading session: like the reference server, accept the
		 * WebSocket and close it at once (ws_established refuses it). */
	}
	return 0;
}

static int ws_established(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
{
	char sidbuf[64];
	const char *sid = arg(wsi, "sid=", sidbuf, sizeof(sidbuf));
	struct sg_eio_session *s;

	c->kind = CONN_WS;
	if (!sid) {
		s = session_new(e, wsi, SG_EIO_WEBSOCKET);
		if (!s)
			return -1;
		c->session = s;
		s->refs++;
		e->attached++;
		s->ws_wsi = wsi;
		s->ws_active = 1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	s = sg_hmap_get(&e->sessions, sid, strlen(sid));
	if (!s || s->state != S_OPEN || s->transport != SG_EIO_POLLING || s->ws_wsi)
		return -1; /* changed since the upgrade was confirmed */
	c->session = s;
	s->refs++;
	e->attached++;
	s->ws_wsi = wsi;
	s->ws_active = 0;
	if (sg_timer_set(&e->timers, e->ctx, &s->t_upgrade, e->opts.upgrade_timeout_ms, on_upgrade_timeout))
		return -1; /* out of memory: the probe fails, polling goes on */
	return 0;
}

/* A complete message on an upgrade probe: "2probe", then "5". Anything else aborts it. */
static int probe_message(struct sg_eio_session *s, struct lws *wsi, const unsigned char *p, size_t n, int binary)
{
	struct sg_eio *e = s->eio;

	if (!binary && n == 6 && !memcmp(p, "2probe", 6)) {
		s->upgrading = 1;
		s->probe_reply = 1;
		lws_callback_on_writable(wsi);
		if (s->poll_wsi)
			lws_callback_on_writable(s->poll_wsi); /* answered with a noop */
		return 0;
	}
	if (!binary && n == 1 && p[0] == '5' && s->upgrading) {
		sg_timer_cancel(&s->t_upgrade);
		s->upgrading = 0;
		s->ws_active = 1;
		s->transport = SG_EIO_WEBSOCKET;
		e->stats->upgrades++;
		e->stats->sessions_polling--;
		e->stats->sessions_websocket++;
		if (s->poll_wsi) {
			s->poll_final = NULL;
			lws_callback_on_writable(s->poll_wsi); /* ends with a noop */
		}
		sg_dbg("eio", s->sid, "upgraded to websocket");
		lws_callback_on_writable(wsi);
		return 0;
	}
	sg_dbg("eio", s->sid, "unexpected packet on the upgrade probe: aborting the upgrade");
	return -1;
}

static int ws_receive(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c, const void *in, size_t len)
{
	struct sg_eio_session *s = c->session;
	int final;

	if (!s || s->state != S_OPEN)
		return 0; /* closing: drain and ignore */
	if (lws_is_first_fragment(wsi) && !c->rx_len)
		c->rx_binary = lws_frame_is_binary(wsi);
	if (c->rx_len + len > e->opts.max_payload) {
		e->stats->oversize_payloads++;
		sg_info("eio", s->sid, "WebSocket message over max_payload (%zu bytes): closing",
			e->opts.max_payload);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"payload too large", 17);
		session_close(s, "payload too large", CLOSE_ERROR);
		return -1;
	}
	final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
	if (!final || c->rx_len) {
		if (c->rx_len + len + 1 > c->rx_cap) {
			size_t ncap = c->rx_cap ? c->rx_cap : 4096;
			unsigned char *nb;
			while (ncap < c->rx_len + len + 1)
				ncap *= 2;
			nb = realloc(c->rx, ncap);
			if (!nb)
				return -1;
			c->rx = nb;
			c->rx_cap = ncap;
		}
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (!final)
			return 0;
		in = c->rx;
		len = c->rx_len;
	}
	c->rx_len = 0;

	if (!s->ws_active) {
		if (probe_message(s, wsi, in, len, c->rx_binary) < 0)
			return -1;
	} else {
		struct rx_ctx rx = {s, 0};
		s->refs++;
		if (sg_eio_decode_frame(in, len, c->rx_binary, on_packet, &rx) < 0 && s->state == S_OPEN) {
			e->stats->invalid_packets++;
			sg_info("eio", s->sid, "invalid packet: closing");
			session_close(s, "parse error", CLOSE_ERROR);
		}
		session_unref(s);
	}
	if (c->rx) { /* idle connections hold no reassembly buffer */
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
	return 0;
}

/* Up to this many bytes of queued frames go out in one write. lws sends at most the
 * protocol's rx_buffer_size (or tx_packet_size) + LWS_PRE + 4 bytes per send() and keeps the
 * rest, so this stays below it; a larger frame is written on its own with lws_write(). */
#define WBUF_MAX 16384

/* One WebSocket frame header (server to client: never masked) for `b`, into `h`. */
static size_t ws_frame_header(unsigned char *h, const struct sg_buf *b)
{
	size_t len = b->len;

	h[0] = 0x80 | (b->binary ? 0x2 : 0x1); /* FIN + binary or text */
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

/* Writes queued frames: as many whole frames as fit in WBUF_MAX, framed here and written
 * with one lws_write(LWS_WRITE_RAW) (one send()), instead of one send() per frame. No
 * extension (permessage-deflate) is offered by the server, so frames go out as they are.
 * A partial send is not a problem: lws keeps the remainder and sends it before it calls
 * this again, so frames are never interleaved or reordered. */
static int ws_write_queued(struct sg_eio *e, struct lws *wsi, struct sg_eio_session *s)
{
	size_t used = 0;

	if (!e->wbuf && !(e->wbuf = malloc(LWS_PRE + WBUF_MAX)))
		return -1;
	while (s->q_len) {
		struct sg_buf *b = s->q[s->q_head].buf;

		if (b->len + 10 > WBUF_MAX - used) {
			if (used)
				break; /* it goes first next time */
			/* Too big to coalesce: framed in place (sg_buf has LWS_PRE headroom). */
			queue_pop(s);
			int n = lws_write(wsi, b->data, b->len, b->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
			e->stats->frames_out++;
			e->stats->bytes_out += b->len;
			sg_buf_unref(b);
			return n < 0 ? -1 : 0;
		}
		queue_pop(s);
		used += ws_frame_header(e->wbuf + LWS_PRE + used, b);
		memcpy(e->wbuf + LWS_PRE + used, b->data, b->len);
		used += b->len;
		e->stats->frames_out++;
		e->stats->bytes_out += b->len;
		sg_buf_unref(b);
	}
	if (used && lws_write(wsi, e->wbuf + LWS_PRE, used, LWS_WRITE_RAW) < (int)used)
		return -1;
	return 0;
}

static int ws_writeable(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
{
	struct sg_eio_session *s = c->session;

	if (!s)
		return -1;
	if (!s->ws_active) {
		if (s->probe_reply) {
			unsigned char b[LWS_PRE + 8];
			memcpy(b + LWS_PRE, "3probe", 6);
			s->probe_reply = 0;
			if (lws_write(wsi, b + LWS_PRE, 6, LWS_WRITE_TEXT) < 6)
				return -1;
		}
		return 0;
	}
	if (ws_write_queued(e, wsi, s) < 0)
		return -1;
	if (s->q_len) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->ws_closing) {
		if (lws_send_pipe_choked(wsi)) {
			/* lws still holds part of the last write: close once it is out. */
			lws_callback_on_writable(wsi);
			return 0;
		}
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

static void ws_closed(struct sg_eio *e, struct sg_eio_conn *c)
{
	struct sg_eio_session *s = c->session;

	free(c->rx);
	c->rx = NULL;
	c->rx_len = c->rx_cap = 0;
	if (!s)
		return;
	if (s->ws_wsi && lws_wsi_user(s->ws_wsi) == c) {
		s->ws_wsi = NULL;
		if (s->ws_active) {
			session_close(s, "transport close", CLOSE_CLIENT);
		} else {
			/* A failed or abandoned probe: polling goes on. */
			s->upgrading = 0;
			s->probe_reply = 0;
			sg_timer_cancel(&s->t_upgrade);
			if (s->q_len && s->poll_wsi)
				lws_callback_on_writable(s->poll_wsi);
		}
	}
	conn_detach(c);
	(void)e;
}

/* ---------------------------------------------------------------- dispatch */

int sg_eio_http_callback(struct sg_eio *e, struct lws *wsi, enum lws_callback_reasons reason,
			 struct sg_eio_conn *c, void *in, size_t len)
{
	if (!e->ctx)
		e->ctx = lws_get_context(wsi);
	if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
		return ws_confirm(e, wsi); /* no per-connection area exists yet */
	if (!c)
		return 0;
	if (c->magic != CONN_MAGIC) {
		memset(c, 0, sizeof(*c));
		c->magic = CONN_MAGIC;
	}
	c->eio = e;
	if (!e->ctx)
		e->ctx = lws_get_context(wsi);

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return handle_http(e, wsi, c);
	case LWS_CALLBACK_HTTP_BODY:
		return handle_body(e, c, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (c->kind != CONN_POLL_POST || !c->session)
			return sg_http_respond(wsi, 400, NULL, NULL, 0, NULL);
		return handle_post_done(e, wsi, c);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (c->kind == CONN_POLL_GET && c->session && c->response_pending) {
			struct sg_eio_session *s = c->session;
			if (s->q_len || s->poll_final || s->upgrading || s->ws_active || s->state != S_OPEN)
				return poll_flush(e, wsi, c);
		}
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (c->session) {
			struct sg_eio_session *s = c->session;
			if (c->kind == CONN_POLL_GET && s->poll_wsi == wsi) {
				/* The client gave up on its pending GET: the reference server treats
				 * that as the end of the session. */
				s->poll_wsi = NULL;
				if (s->state == S_OPEN)
					session_close(s, "transport close", CLOSE_CLIENT);
			}
			if (s->post_wsi == wsi)
				s->post_wsi = NULL;
			conn_detach(c);
		}
		conn_reset_http(c);
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		return ws_established(e, wsi, c);
	case LWS_CALLBACK_RECEIVE:
		return ws_receive(e, wsi, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writeable(e, wsi, c);
	case LWS_CALLBACK_CLOSED:
		ws_closed(e, c);
		return 0;
	default:
		return 0;
	}
}
