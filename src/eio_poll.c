/* eio_poll.c - Engine.IO v4 HTTP long-polling: the handshake GET, held GETs answered with
 * the queued payload, POSTed payloads, CORS preflights. */
#include "eio_poll.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio3_codec.h"
#include "eio_codec.h"
#include "log.h"
#include "strbuf.h"
#include "util/http.h"

/* ---------------------------------------------------------------- polling */

/* How a poll answer joins its packets: v4 with 0x1e; v3 length-prefixed, in the binary
 * form when a binary frame is queued and the client did not ask for base64 (as Node
 * decides). Sets *binary for the answer's content type. */
typedef void (*payload_append_fn)(struct sg_strbuf *, const unsigned char *, size_t, int);

static payload_append_fn payload_form(const struct sg_eio_session *s, int *binary)
{
	int any_binary = 0;

	*binary = 0;
	if (s->protocol != 3)
		return sg_eio_payload_append;
	for (size_t i = 0; i < s->q_len; i++)
		any_binary |= s->q[(s->q_head + i) % s->q_cap].buf->binary;
	*binary = sg_eio3_use_binary_payload(s->b64, any_binary);
	return *binary ? sg_eio3_binary_payload_append : sg_eio3_payload_append;
}

/* Answers a pending or fresh GET with everything queued (or the final packet). */
int sg_eio_poll_flush(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
{
	struct sg_eio_session *s = c->session;
	struct sg_strbuf sb;
	char origin[256];
	const char *extra[8] = {0};
	int rc, binary;
	payload_append_fn append;

	sg_strbuf_init(&sb);
	if (s->upgrading || (s->ws_active && !s->poll_final)) {
		/* The noop that lets the transport go: nothing queued is taken. */
		append = s->protocol == 3 ? sg_eio3_payload_append : sg_eio_payload_append;
		binary = 0;
		append(&sb, (const unsigned char *)"6", 1, 0);
	} else {
		struct sg_buf *b;

		append = payload_form(s, &binary);
		while ((b = sg_eio_queue_pop(s))) {
			append(&sb, b->data, b->len, b->binary);
			e->stats->frames_out++;
			sg_buf_unref(b);
		}
		if (s->poll_final)
			append(&sb, (const unsigned char *)s->poll_final, 1, 0);
	}
	if (sb.oom) {
		sg_strbuf_free(&sb);
		return -1;
	}
	e->stats->bytes_out += sb.len;
	if (s->poll_wsi == wsi)
		s->poll_wsi = NULL;
	if (s->state == S_CLOSING && s->transport == SG_EIO_POLLING)
		sg_eio_sess_finalize(s); /* it has been told; nothing more to fetch */
	sg_eio_conn_detach(c);
	sg_eio_conn_reset_http(c);
	sg_eio_copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	sg_eio_cors_headers(e, origin, extra);
	rc = sg_http_respond(wsi, 200, binary ? SG_EIO3_BINARY_CONTENT_TYPE : "text/plain; charset=UTF-8",
			     sb.data, sb.len, extra);
	sg_strbuf_free(&sb);
	return rc;
}

static int handle_get(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c, struct sg_eio_session *s)
{
	if (s->poll_wsi) {
		/* Two GETs at once: the client is broken or hostile. The first gets a close
		 * packet, this one an error, and the session ends. */
		sg_dbg("eio", s->sid, "overlapping GET requests");
		sg_eio_sess_close(s, "overlapping poll requests", CLOSE_ERROR);
		return sg_eio_respond_error(e, wsi, 400, 3, "Bad request");
	}
	c->kind = CONN_POLL_GET;
	sg_eio_conn_attach(c, s);
	if (s->q_len || s->upgrading || s->state != S_OPEN)
		return sg_eio_poll_flush(e, wsi, c);
	/* Hold the request open until there is something to say. */
	c->response_pending = 1;
	s->poll_wsi = wsi;
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	return 0;
}

/* A POST body: v4 payload, or for v3 the string form or (an XHR2 client's
 * application/octet-stream body) the binary form. */
static int decode_body(struct lws *wsi, struct sg_eio_session *s, struct sg_eio_conn *c,
		       struct rx_ctx *rx)
{
	char ctype[128];

	if (s->protocol != 3)
		return sg_eio_decode_payload(c->body, c->body_len, sg_eio_on_packet, rx);
	if (sg_eio_copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, ctype, sizeof(ctype)) > 0 &&
	    sg_eio3_body_is_binary(ctype))
		return sg_eio3_decode_binary_payload(c->body, c->body_len, sg_eio_on_packet, rx);
	return sg_eio3_decode_payload(c->body, c->body_len, sg_eio_on_packet, rx);
}

int sg_eio_poll_post_done(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
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
		sg_eio_sess_close(s, "payload too large", CLOSE_ERROR);
		sg_eio_conn_detach(c);
		sg_eio_conn_reset_http(c);
		return sg_eio_respond_error(e, wsi, 413, 3, "Payload too large");
	}
	if (s->state == S_OPEN && decode_body(wsi, s, c, &rx) < 0) {
		e->stats->invalid_packets++;
		sg_info("eio", s->sid, "invalid packet in POST body: closing");
		sg_eio_sess_close(s, "parse error", CLOSE_ERROR);
		sg_eio_conn_detach(c);
		sg_eio_conn_reset_http(c);
		return sg_eio_respond_error(e, wsi, 400, 3, "Bad request");
	}
	sg_eio_conn_detach(c);
	sg_eio_conn_reset_http(c);
	sg_eio_copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	sg_eio_cors_headers(e, origin, extra);
	rc = sg_http_respond(wsi, 200, "text/html", "ok", 2, extra);
	return rc;
}

int sg_eio_poll_request(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
{
	char origin[256];
	const char *transport, *sid;
	struct sg_eio_session *s;
	int protocol, is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	char tbuf[64], sidbuf[64];

	sg_eio_conn_reset_http(c);
	sg_eio_copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0) {
		const char *extra[12] = {0};
		size_t n = sg_eio_cors_headers(e, origin, extra);
		char reqh[256];

		if (n) {
			extra[n++] = "access-control-allow-methods:";
			extra[n++] = "GET, POST, OPTIONS";
			if (sg_eio_copy_header(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS, reqh, sizeof(reqh)) > 0) {
				extra[n++] = "access-control-allow-headers:";
				extra[n++] = reqh;
			}
		}
		return sg_http_respond(wsi, 204, NULL, NULL, 0, extra);
	}
	if (origin[0] && e->opts.n_cors_origins && !sg_eio_origin_allowed(e, origin))
		return sg_eio_respond_error(e, wsi, 403, 4, "Forbidden");

	transport = sg_eio_query_arg(wsi, "transport=", tbuf, sizeof(tbuf));
	sid = sg_eio_query_arg(wsi, "sid=", sidbuf, sizeof(sidbuf));
	if (!transport || strcmp(transport, "polling") || !(e->opts.transports & SG_TRANSPORT_POLLING))
		return sg_eio_respond_error(e, wsi, 400, 0, "Transport unknown");
	if (!(protocol = sg_eio_request_protocol(e, wsi)))
		return sg_eio_respond_error(e, wsi, 400, 5, "Unsupported protocol version");
	if (!is_get && !is_post)
		return sg_eio_respond_error(e, wsi, 400, 2, "Bad handshake method");

	if (!sid) {
		if (!is_get)
			return sg_eio_respond_error(e, wsi, 400, 2, "Bad handshake method");
		s = sg_eio_sess_new(e, wsi, SG_EIO_POLLING, protocol);
		if (!s)
			return sg_eio_respond_error(e, wsi, 400, 3, "Bad request");
		return handle_get(e, wsi, c, s);
	}
	s = sg_hmap_get(&e->sessions, sid, strlen(sid));
	if (!s || (s->state != S_OPEN && !(s->state == S_CLOSING && is_get)))
		return sg_eio_respond_error(e, wsi, 400, 1, "Session ID unknown");
	if (s->transport != SG_EIO_POLLING)
		return sg_eio_respond_error(e, wsi, 400, 3, "Bad request");
	if (is_get)
		return handle_get(e, wsi, c, s);
	if (s->post_wsi) {
		sg_eio_sess_close(s, "overlapping POST requests", CLOSE_ERROR);
		return sg_eio_respond_error(e, wsi, 400, 3, "Bad request");
	}
	c->kind = CONN_POLL_POST;
	sg_eio_conn_attach(c, s);
	s->post_wsi = wsi;
	return 0; /* the body follows */
}

int sg_eio_poll_body(struct sg_eio *e, struct sg_eio_conn *c, const void *in, size_t len)
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

