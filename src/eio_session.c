/* eio_session.c - Engine.IO v4 sessions: handshake state, the sid table, heartbeat and
 * closing rules, bounded send queues, packets in, and the request helpers both transports use. */
#include "eio_session.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "eio3_codec.h"
#include "eio_codec.h"
#include "log.h"
#include "util/http.h"
#include "util/utf8.h"

/* ---------------------------------------------------------------- lifetime */

static void session_free(struct sg_eio_session *s)
{
	while (s->q_len)
		sg_buf_unref(sg_eio_queue_pop(s));
	free(s->q);
	free(s->hs);
	json_decref(s->query);
	s->magic = 0;
	free(s);
}

void sg_eio_sess_unref(struct sg_eio_session *s)
{
	assert(s->magic == SESSION_MAGIC && s->refs > 0);
	if (--s->refs == 0)
		session_free(s);
}

/* Takes the session out of the sid map (its last step towards being freed). */
void sg_eio_sess_finalize(struct sg_eio_session *s)
{
	if (s->state == S_CLOSED)
		return;
	sg_timer_cancel(&s->t_beat);
	s->state = S_CLOSED;
	sg_hmap_del(&s->eio->sessions, s->sid, strlen(s->sid));
	sg_eio_sess_unref(s);
}
/* ---------------------------------------------------------------- request helpers */

int sg_eio_copy_header(struct lws *wsi, enum lws_token_indexes tok, char *buf, size_t len)
{
	int n = lws_hdr_copy(wsi, buf, (int)len, tok);

	if (n < 0)
		buf[0] = '\0';
	return n;
}

/* Is `origin` allowed by the configured list? An empty list allows any origin. */
int sg_eio_origin_allowed(const struct sg_eio *e, const char *origin)
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
size_t sg_eio_cors_headers(const struct sg_eio *e, const char *origin, const char **out)
{
	size_t n = 0;

	if (!e->opts.n_cors_origins || !origin[0] || !sg_eio_origin_allowed(e, origin))
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
int sg_eio_respond_error(struct sg_eio *e, struct lws *wsi, unsigned status, int code, const char *msg)
{
	char body[160], origin[256];
	const char *extra[8] = {0};
	int n;

	sg_eio_copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	sg_eio_cors_headers(e, origin, extra);
	n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code, msg);
	return sg_http_respond(wsi, status, "application/json", body, (size_t)n, extra);
}

/* A query argument's value, or NULL when absent. A value too long for `buf` comes back as
 * "\x01" (never a valid EIO, transport or sid), so that it is refused rather than taken
 * for a missing argument. `name` includes the '='. */
const char *sg_eio_query_arg(struct lws *wsi, const char *name, char *buf, size_t len)
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

/* The string after the one at p in a packed list (see sg_eio_session.hs): a pair is
 * "name\0value\0", so two steps go from one pair's name to the next's. */
static const char *kv_next(const char *p)
{
	return p + strlen(p) + 1;
}

/* The value of `name` among the n pairs packed at kv, or NULL. */
static const char *kv_find(const char *kv, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++, kv = kv_next(kv_next(kv)))
		if (!strcmp(kv, name))
			return kv_next(kv);
	return NULL;
}

/* The pairs after the first n at kv. */
static const char *kv_skip(const char *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kv = kv_next(kv_next(kv));
	return kv;
}

/* Appends a pair to the list of *n pairs that starts at sb->data + from, unless `name` is in
 * it already (the first one wins), either is not UTF-8 (a JSON string could not hold it) or
 * the list is full. */
static void kv_add(struct sg_strbuf *sb, size_t from, uint16_t *n, const char *name, const char *value)
{
	if (*n == UINT16_MAX || !sg_utf8_valid((const unsigned char *)name, strlen(name)) ||
	    !sg_utf8_valid((const unsigned char *)value, strlen(value)) ||
	    (sb->data && kv_find(sb->data + from, *n, name)))
		return;
	sg_strbuf_append(sb, name, strlen(name) + 1);
	sg_strbuf_append(sb, value, strlen(value) + 1);
	(*n)++;
}

static json_t *kv_json(const char *kv, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < n; i++, kv = kv_next(kv_next(kv)))
		json_object_set_new(o, kv, json_string(kv_next(kv)));
	return o;
}

/* Keeps the request's query arguments and headers (those of `known`, and those the
 * endpoint captures for middleware and templates) in s->hs. -1 when out of memory. */
static int capture_request(struct sg_eio *e, struct sg_eio_session *s, struct lws *wsi)
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
	struct sg_strbuf sb;
	char buf[4096];
	size_t i, hfrom;
	int n;

	sg_strbuf_init(&sb);
	for (i = 0; (n = lws_hdr_copy_fragment(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_URI_ARGS, (int)i)) >= 0; i++) {
		char *eq = strchr(buf, '=');
		if (eq)
			*eq = '\0';
		kv_add(&sb, 0, &s->n_query, buf, eq ? eq + 1 : "");
	}
	hfrom = sb.len;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (sg_eio_copy_header(wsi, known[i].tok, buf, sizeof(buf)) > 0)
			kv_add(&sb, hfrom, &s->n_headers, known[i].name, buf);
	for (i = 0; i < e->opts.n_capture_headers; i++) {
		char name[128];
		const char *h = e->opts.capture_headers[i];

		if (sb.data && kv_find(sb.data + hfrom, s->n_headers, h))
			continue;
		snprintf(name, sizeof(name), "%s:", h);
		n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), name, (int)strlen(name));
		/* A header libwebsockets parses itself (accept-language, referer, ...) is not a
		 * custom one: it sits under its token. */
		for (int t = 0; n <= 0 && t < WSI_TOKEN_COUNT; t++) {
			const unsigned char *tn = lws_token_to_string((enum lws_token_indexes)t);

			if (tn && !strcasecmp((const char *)tn, name))
				n = sg_eio_copy_header(wsi, (enum lws_token_indexes)t, buf, sizeof(buf));
		}
		if (n > 0)
			kv_add(&sb, hfrom, &s->n_headers, h, buf);
	}
	lws_get_peer_simple(wsi, s->remote, sizeof(s->remote));
	/* Exactly as long as it is: the buffer grew in steps. */
	if (!sb.oom && sb.len && (s->hs = malloc(sb.len)))
		memcpy(s->hs, sb.data, sb.len);
	n = sb.oom || (sb.len && !s->hs) ? -1 : 0;
	sg_strbuf_free(&sb);
	return n;
}

static void on_ping_timer(struct sg_timer *t);
static void on_ping_timeout(struct sg_timer *t);

/* v4: the server pings every interval. v3: the client pings; the session ends when no
 * ping came within interval + timeout, as Node counts it. */
int sg_eio_schedule_ping(struct sg_eio_session *s)
{
	if (s->protocol == 3)
		return sg_timer_set(&s->eio->timers, s->eio->ctx, &s->t_beat,
				    s->ping_interval_ms + s->ping_timeout_ms, on_ping_timeout);
	return sg_timer_set(&s->eio->timers, s->eio->ctx, &s->t_beat, s->ping_interval_ms, on_ping_timer);
}

int sg_eio_request_protocol(struct sg_eio *e, struct lws *wsi)
{
	char buf[8];
	const char *v = sg_eio_query_arg(wsi, "EIO=", buf, sizeof(buf));

	if (v && !strcmp(v, "4"))
		return 4;
	if (v && !strcmp(v, "3") && e->opts.allow_eio3)
		return 3;
	return 0;
}

struct sg_eio_session *sg_eio_sess_new(struct sg_eio *e, struct lws *wsi, enum sg_eio_transport t,
				       int protocol)
{
	char b64[8];
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
	s->protocol = protocol;
	s->b64 = protocol == 3 && sg_eio3_b64_requested(sg_eio_query_arg(wsi, "b64=", b64, sizeof(b64)));
	if (!e->ctx)
		e->ctx = lws_get_context(wsi);
	do
		make_sid(s->sid);
	while (sg_hmap_get(&e->sessions, s->sid, strlen(s->sid)));
	if (capture_request(e, s, wsi) || sg_hmap_put(&e->sessions, s->sid, strlen(s->sid), s))
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
	if (protocol == 3)
		e->stats->sessions_eio3++;
	if (t == SG_EIO_POLLING)
		e->stats->sessions_polling++;
	else
		e->stats->sessions_websocket++;
	if (sg_eio_schedule_ping(s)) {
		sg_eio_sess_close(s, "out of memory", CLOSE_ERROR);
		return NULL;
	}
	if (e->h.on_open && e->h.on_open(e->ud, s)) {
		sg_eio_sess_close(s, "refused", CLOSE_ERROR);
		return NULL;
	}
	sg_dbg("eio", s->sid, "session opened over %s from %s",
	       t == SG_EIO_POLLING ? "polling" : "websocket", s->remote);
	return s;
fail:
	free(s->hs);
	free(s);
	return NULL;
}

/* Drops every queued frame (a closed polling session nobody will fetch). */
static void queue_clear(struct sg_eio_session *s)
{
	while (s->q_len)
		sg_buf_unref(sg_eio_queue_pop(s));
	s->q_bytes = 0;
}

static void on_linger_timeout(struct sg_timer *t)
{
	struct sg_eio_session *s = lws_container_of(t, struct sg_eio_session, t_beat);

	queue_clear(s);
	sg_eio_sess_finalize(s);
}

void sg_eio_kill_wsi(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* Closes a session for the layer above (see enum close_mode). */
void sg_eio_sess_close(struct sg_eio_session *s, const char *reason, enum close_mode mode)
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
		sg_eio_kill_wsi(s->ws_wsi); /* an unfinished upgrade probe */
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
		sg_eio_sess_finalize(s);
	}
	sg_eio_sess_unref(s);
}

void sg_eio_session_close(struct sg_eio_session *s, const char *reason)
{
	sg_eio_sess_close(s, reason, CLOSE_GRACEFUL);
}

static void on_ping_timer(struct sg_timer *t)
{
	struct sg_eio_session *s = lws_container_of(t, struct sg_eio_session, t_beat);
	struct sg_eio *e = s->eio;

	if (!e->ping_frame)
		e->ping_frame = sg_buf_new("2", 1, 0); /* one shared frame for every ping */
	if (!e->ping_frame) {
		sg_eio_sess_close(s, "out of memory", CLOSE_ERROR);
		return;
	}
	if (sg_eio_send(s, e->ping_frame, 0))
		return; /* the queue overflowed: the session is closed */
	if (sg_timer_set(&e->timers, e->ctx, &s->t_beat, s->ping_timeout_ms, on_ping_timeout))
		sg_eio_sess_close(s, "out of memory", CLOSE_ERROR);
}

static void on_ping_timeout(struct sg_timer *t)
{
	struct sg_eio_session *s = lws_container_of(t, struct sg_eio_session, t_beat);

	s->eio->stats->ping_timeouts++;
	sg_eio_sess_close(s, "ping timeout", CLOSE_ERROR);
}

void sg_eio_on_upgrade_timeout(struct sg_timer *t)
{
	struct sg_eio_session *s = lws_container_of(t, struct sg_eio_session, t_upgrade);

	if (s->ws_wsi && !s->ws_active) {
		sg_dbg("eio", s->sid, "upgrade timed out");
		sg_eio_kill_wsi(s->ws_wsi);
	}
}

/* Flushing. A frame queued to a WebSocket is written once the loop is done with what woke
 * it, not from a WRITEABLE callback: lws asks for one by adding POLLOUT to the socket and
 * taking it off after the callback, which costs two epoll_ctl() calls per socket and per
 * broadcast on an event library (half the fan-out's CPU on libuv; see
 * docs/performance.md#fan-out-against-the-floor). The flush writes each socket's queued
 * frames at once (write_now) and leaves a socket whose kernel buffer is full to lws's
 * writeable callback as before. Every frame queued before the flush goes out in one write.
 *
 * Who flushes: the server, between loop turns, once a turn read nothing more (server.c:
 * lws reads at most rx_buffer_size bytes of a socket per turn, so a burst from one client
 * takes several turns, and flushing after each would send each socket a few frames per
 * send()); or, for an endpoint not driven that way, a zero-delay lws timer. */
void sg_eio_flush(struct sg_eio *e)
{
	/* write_now never queues, so the list does not grow while it is walked. */
	for (size_t i = 0; i < e->flush_len; i++) {
		struct sg_eio_session *s = e->flush[i];

		s->in_flush = 0;
		if (s->state == S_OPEN && s->ws_wsi && s->ws_active && s->q_len)
			e->write_now(s);
		sg_eio_sess_unref(s);
	}
	e->flush_len = 0;
}

static void on_flush(lws_sorted_usec_list_t *sul)
{
	sg_eio_flush(lws_container_of(sul, struct sg_eio, flush_sul));
}

void sg_eio_drive_flush(struct sg_eio *e, int on)
{
	e->flush_driven = on;
	if (on)
		lws_sul_cancel(&e->flush_sul);
	else if (e->flush_len && e->ctx)
		lws_sul_schedule(e->ctx, 0, &e->flush_sul, on_flush, 1);
}

int sg_eio_flush_pending(const struct sg_eio *e)
{
	return e->flush_len > 0;
}

uint64_t sg_eio_messages_in(const struct sg_eio *e)
{
	return e->stats->frames_in;
}

void sg_eio_flush_release(struct sg_eio *e)
{
	lws_sul_cancel(&e->flush_sul);
	for (size_t i = 0; i < e->flush_len; i++) {
		e->flush[i]->in_flush = 0;
		sg_eio_sess_unref(e->flush[i]);
	}
	e->flush_len = 0;
	free(e->flush);
	e->flush = NULL;
	e->flush_cap = 0;
}

/* Puts s on the flush list; -1 when it cannot (out of memory: the caller asks lws). */
static int flush_add(struct sg_eio_session *s)
{
	struct sg_eio *e = s->eio;

	if (s->in_flush)
		return 0;
	if (!e->write_now || (!e->ctx && !e->flush_driven))
		return -1;
	if (e->flush_len == e->flush_cap) {
		size_t cap = e->flush_cap ? e->flush_cap * 2 : 64;
		struct sg_eio_session **f = realloc(e->flush, cap * sizeof(*f));

		if (!f)
			return -1;
		e->flush = f;
		e->flush_cap = cap;
	}
	s->refs++;
	s->in_flush = 1;
	e->flush[e->flush_len++] = s;
	if (e->flush_len == 1 && !e->flush_driven)
		lws_sul_schedule(e->ctx, 0, &e->flush_sul, on_flush, 1);
	return 0;
}

/* Asks the transport to send: the active WebSocket, or the pending GET. */
static void session_wake(struct sg_eio_session *s)
{
	if (s->ws_wsi && s->ws_active) {
		if (flush_add(s))
			lws_callback_on_writable(s->ws_wsi);
	} else if (s->poll_wsi && !s->upgrading) {
		lws_callback_on_writable(s->poll_wsi);
	}
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
	sg_buf_queued(b);
	s->q[(s->q_head + s->q_len) % s->q_cap].is_volatile = is_volatile;
	s->q_len++;
	s->q_bytes += b->len;
	return 0;
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
		sg_eio_sess_close(s, "send queue full", CLOSE_ERROR);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (queue_push(s, frames[i], is_volatile)) {
			/* Out of memory half-way: take back what this call added. */
			while (i--) {
				size_t last = (s->q_head + s->q_len - 1) % s->q_cap;
				s->q_bytes -= s->q[last].buf->len;
				sg_buf_dequeued(s->q[last].buf);
				sg_buf_unref(s->q[last].buf);
				s->q_len--;
			}
			sg_eio_sess_close(s, "out of memory", CLOSE_ERROR);
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
int sg_eio_session_protocol(const struct sg_eio_session *s) { return s->protocol; }
enum sg_eio_transport sg_eio_session_transport(const struct sg_eio_session *s) { return s->transport; }
void sg_eio_session_set_user(struct sg_eio_session *s, void *user) { s->user = user; }
void *sg_eio_session_user(const struct sg_eio_session *s) { return s->user; }
const char *sg_eio_session_remote(const struct sg_eio_session *s) { return s->remote; }
size_t sg_eio_session_queued_bytes(const struct sg_eio_session *s) { return s->q_bytes; }
json_t *sg_eio_session_query_new(const struct sg_eio_session *s)
{
	return kv_json(s->hs, s->n_query);
}

json_t *sg_eio_session_headers_new(const struct sg_eio_session *s)
{
	return kv_json(kv_skip(s->hs, s->n_query), s->n_headers);
}

/* The object is a cache of s->hs, not part of the session's value. */
json_t *sg_eio_session_query_json(const struct sg_eio_session *s)
{
	struct sg_eio_session *m = (struct sg_eio_session *)s;

	if (!m->query)
		m->query = sg_eio_session_query_new(s);
	return m->query;
}

const char *sg_eio_session_query(const struct sg_eio_session *s, const char *key)
{
	return s->n_query ? kv_find(s->hs, s->n_query, key) : NULL;
}

const char *sg_eio_session_header(const struct sg_eio_session *s, const char *lname)
{
	return s->n_headers ? kv_find(kv_skip(s->hs, s->n_query), s->n_headers, lname) : NULL;
}

/* ---------------------------------------------------------------- packets in */

/* "3" and the ping's data, for a v3 client. */
static int send_pong(struct sg_eio_session *s, const unsigned char *data, size_t len)
{
	struct sg_strbuf sb;
	struct sg_buf *b;
	int rc;

	sg_strbuf_init_headroom(&sb, LWS_PRE);
	sg_strbuf_appendc(&sb, '3');
	sg_strbuf_append(&sb, (const char *)data, len);
	if (!(b = sg_buf_from_strbuf(&sb, 0))) {
		sg_strbuf_free(&sb);
		return -1;
	}
	rc = sg_eio_send(s, b, 0);
	sg_buf_unref(b);
	return rc < 0 ? -1 : 0;
}

int sg_eio_on_packet(void *ud, enum sg_eio_type type, const unsigned char *data, size_t len, int binary)
{
	struct rx_ctx *rx = ud;
	struct sg_eio_session *s = rx->s;
	struct sg_eio *e = s->eio;

	if (s->state != S_OPEN)
		return 1;
	switch (type) {
	case SG_EIO_PING:
		if (s->protocol != 3)
			return 0; /* clients do not ping in v4: ignored like the reference server does */
		/* v3: answer with the same data ("2probe" is the probe's, answered in eio_ws.c). */
		if (send_pong(s, data, len) || sg_eio_schedule_ping(s)) {
			if (s->state == S_OPEN)
				sg_eio_sess_close(s, "out of memory", CLOSE_ERROR);
			return 1;
		}
		return 0;
	case SG_EIO_PONG:
		if (s->protocol == 3) { /* the server never pings a v3 client */
			sg_eio_sess_close(s, "transport error", CLOSE_ERROR);
			return 1;
		}
		if (sg_eio_schedule_ping(s)) {
			sg_eio_sess_close(s, "out of memory", CLOSE_ERROR);
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
		sg_eio_sess_close(s, "transport close", CLOSE_CLIENT);
		return 1;
	case SG_EIO_OPEN:
	case SG_EIO_UPGRADE:
	case SG_EIO_NOOP:
		return 0; /* harmless, ignored like the reference server does */
	}
	return 0;
}

/* ---------------------------------------------------------------- connections */

void sg_eio_conn_attach(struct sg_eio_conn *c, struct sg_eio_session *s)
{
	c->session = s;
	s->refs++;
	c->eio->attached++;
}

void sg_eio_conn_detach(struct sg_eio_conn *c)
{
	struct sg_eio_session *s = c->session;

	if (!s)
		return;
	c->session = NULL;
	c->response_pending = 0;
	c->eio->attached--;
	sg_eio_sess_unref(s);
}

void sg_eio_conn_reset_http(struct sg_eio_conn *c)
{
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	c->body_too_large = 0;
	c->kind = CONN_NONE;
}

