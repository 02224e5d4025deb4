/* eio.c - Engine.IO v4 endpoint: creates and releases the session table and dispatches
 * lws callbacks to the polling (eio_poll.c) and WebSocket (eio_ws.c) transports. */
#include "eio_session.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio_poll.h"
#include "eio_ws.h"
#include "log.h"
#include "util/http.h"

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
	e->write_now = sg_eio_ws_write_now;
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
		sg_eio_sess_close(s, reason, CLOSE_GRACEFUL);
	}
}

void sg_eio_release(struct sg_eio *e)
{
	size_t i;

	if (!e)
		return;
	sg_eio_close_all(e, "server shutting down");
	sg_eio_flush_release(e);
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
		sg_eio_sess_finalize(s);
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

/* ---------------------------------------------------------------- dispatch */

int sg_eio_http_callback(struct sg_eio *e, struct lws *wsi, enum lws_callback_reasons reason,
			 struct sg_eio_conn *c, void *in, size_t len)
{
	if (!e->ctx)
		e->ctx = lws_get_context(wsi);
	if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
		return sg_eio_ws_confirm(e, wsi); /* no per-connection area exists yet */
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
		return sg_eio_poll_request(e, wsi, c);
	case LWS_CALLBACK_HTTP_BODY:
		return sg_eio_poll_body(e, c, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (c->kind != CONN_POLL_POST || !c->session)
			return sg_http_respond(wsi, 400, NULL, NULL, 0, NULL);
		return sg_eio_poll_post_done(e, wsi, c);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (c->kind == CONN_POLL_GET && c->session && c->response_pending) {
			struct sg_eio_session *s = c->session;
			if (s->q_len || s->poll_final || s->upgrading || s->ws_active || s->state != S_OPEN)
				return sg_eio_poll_flush(e, wsi, c);
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
					sg_eio_sess_close(s, "transport close", CLOSE_CLIENT);
			}
			if (s->post_wsi == wsi)
				s->post_wsi = NULL;
			sg_eio_conn_detach(c);
		}
		sg_eio_conn_reset_http(c);
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		return sg_eio_ws_established(e, wsi, c);
	case LWS_CALLBACK_RECEIVE:
		return sg_eio_ws_receive(e, wsi, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return sg_eio_ws_writeable(e, wsi, c);
	case LWS_CALLBACK_CLOSED:
		sg_eio_ws_closed(e, c);
		return 0;
	default:
		return 0;
	}
}
