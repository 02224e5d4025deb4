/* eio_ws.c - Engine.IO v4 over WebSocket: the handshake or the upgrade probe, message
 * reassembly, and coalesced writes of the send queue. */
#include "eio_ws.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio3_codec.h"
#include "eio_codec.h"
#include "log.h"
#include "util/http.h"

/* ---------------------------------------------------------------- WebSocket */

static int ws_reject(struct sg_eio *e, struct lws *wsi, int code, const char *msg)
{
	int rc = sg_eio_respond_error(e, wsi, 400, code, msg);

	return rc < 0 ? -1 : 1;
}

/* Called before the 101: refuse what can be refused with a proper HTTP answer. */
int sg_eio_ws_confirm(struct sg_eio *e, struct lws *wsi)
{
	char tbuf[64], sidbuf[64], origin[256];
	const char *transport, *sid;
	struct sg_eio_session *s;

	sg_eio_copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	if (origin[0] && !sg_eio_origin_allowed(e, origin))
		return ws_reject(e, wsi, 4, "Forbidden");
	transport = sg_eio_query_arg(wsi, "transport=", tbuf, sizeof(tbuf));
	sid = sg_eio_query_arg(wsi, "sid=", sidbuf, sizeof(sidbuf));
	if (!transport || strcmp(transport, "websocket") || !(e->opts.transports & SG_TRANSPORT_WEBSOCKET))
		return ws_reject(e, wsi, 0, "Transport unknown");
	if (!sg_eio_request_protocol(e, wsi))
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

int sg_eio_ws_established(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
{
	char sidbuf[64];
	const char *sid = sg_eio_query_arg(wsi, "sid=", sidbuf, sizeof(sidbuf));
	struct sg_eio_session *s;

	c->kind = CONN_WS;
	if (!sid) {
		s = sg_eio_sess_new(e, wsi, SG_EIO_WEBSOCKET, sg_eio_request_protocol(e, wsi));
		if (!s)
			return -1;
		sg_eio_conn_attach(c, s);
		s->ws_wsi = wsi;
		s->ws_active = 1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	s = sg_hmap_get(&e->sessions, sid, strlen(sid));
	if (!s || s->state != S_OPEN || s->transport != SG_EIO_POLLING || s->ws_wsi ||
	    sg_eio_request_protocol(e, wsi) != s->protocol)
		return -1; /* changed since the upgrade was confirmed, or another protocol */
	sg_eio_conn_attach(c, s);
	s->ws_wsi = wsi;
	s->ws_active = 0;
	if (sg_timer_set(&e->timers, e->ctx, &s->t_upgrade, e->opts.upgrade_timeout_ms, sg_eio_on_upgrade_timeout))
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
		if (e->h.on_upgrade)
			e->h.on_upgrade(e->ud, s);
		lws_callback_on_writable(wsi);
		return 0;
	}
	sg_dbg("eio", s->sid, "unexpected packet on the upgrade probe: aborting the upgrade");
	return -1;
}

int sg_eio_ws_receive(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c, const void *in, size_t len)
{
	struct sg_eio_session *s = c->session;
	int final;

	if (!s || s->state != S_OPEN)
		return 0; /* closing: drain and ignore */
	if (lws_is_first_fragment(wsi) && !c->rx.len)
		c->rx_binary = lws_frame_is_binary(wsi);
	if (c->rx.len + len > e->opts.max_payload) {
		e->stats->oversize_payloads++;
		sg_info("eio", s->sid, "WebSocket message over max_payload (%zu bytes): closing",
			e->opts.max_payload);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"payload too large", 17);
		sg_eio_sess_close(s, "payload too large", CLOSE_ERROR);
		return -1;
	}
	final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
	if (!final || c->rx.len) {
		sg_strbuf_append(&c->rx, in, len);
		if (c->rx.oom)
			return -1;
		if (!final)
			return 0;
		in = c->rx.data;
		len = c->rx.len;
	}
	c->rx.len = 0;

	if (!s->ws_active) {
		if (probe_message(s, wsi, in, len, c->rx_binary) < 0)
			return -1;
	} else {
		struct rx_ctx rx = {s, 0};
		s->refs++;
		if ((s->protocol == 3 ? sg_eio3_decode_frame : sg_eio_decode_frame)(in, len, c->rx_binary,
			sg_eio_on_packet, &rx) < 0 && s->state == S_OPEN) {
			e->stats->invalid_packets++;
			sg_info("eio", s->sid, "invalid packet: closing");
			sg_eio_sess_close(s, "parse error", CLOSE_ERROR);
		}
		sg_eio_sess_unref(s);
	}
	if (c->rx.data) /* idle connections hold no reassembly buffer */
		sg_strbuf_free(&c->rx);
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

/* Writes the binary frame at the head of a v3 session's queue, in the v3 form. */
static int ws_write_v3_binary(struct sg_eio *e, struct lws *wsi, struct sg_eio_session *s)
{
	struct sg_buf *b = s->q[s->q_head].buf;
	struct sg_strbuf sb;
	int n, bin = !s->b64;

	sg_strbuf_init_headroom(&sb, LWS_PRE);
	sg_eio3_frame_append(&sb, b->data, b->len, 1, s->b64);
	e->stats->frames_out++;
	e->stats->bytes_out += b->len;
	e->stats->ws_writes++;
	n = sb.oom ? -1 : lws_write(wsi, (unsigned char *)sb.data, sb.len, bin ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	sg_buf_unref(sg_eio_queue_pop(s));
	sg_strbuf_free(&sb);
	return n < 0 ? -1 : 0;
}

/* Writes queued frames: as many whole frames as fit in WBUF_MAX, framed here and written
 * with one lws_write(LWS_WRITE_RAW) (one send()), instead of one send() per frame. No
 * extension (permessage-deflate) is offered by the server, so frames go out as they are.
 * A partial send is not a problem: lws keeps the remainder and sends it before it calls
 * this again, so frames are never interleaved or reordered. */
static int ws_write_queued(struct sg_eio *e, struct lws *wsi, struct sg_eio_session *s)
{
	size_t used = 0, k = 0;
	int rc = 0;

	if (!e->wbuf && !(e->wbuf = malloc(LWS_PRE + WBUF_MAX)))
		return -1;
	/* Frames leave the queue once written (k of them), not when copied. */
	while (k < s->q_len) {
		struct sg_buf *b = s->q[(s->q_head + k) % s->q_cap].buf;

		if (s->protocol == 3 && b->binary) {
			/* v3 binary frames carry their type byte (or go as "b4<base64>" text):
			 * one frame of its own, framed by lws. */
			if (used)
				break;
			return ws_write_v3_binary(e, wsi, s); /* the rest on the next writable */
		}
		if (b->len + 10 > WBUF_MAX - used) {
			if (used)
				break; /* it goes first next time */
			/* Too big to coalesce: framed in place (sg_buf has LWS_PRE headroom). */
			int n = lws_write(wsi, b->data, b->len, b->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
			e->stats->frames_out++;
			e->stats->bytes_out += b->len;
			e->stats->ws_writes++;
			sg_buf_unref(sg_eio_queue_pop(s));
			return n < 0 ? -1 : 0;
		}
		used += ws_frame_header(e->wbuf + LWS_PRE + used, b);
		memcpy(e->wbuf + LWS_PRE + used, b->data, b->len);
		used += b->len;
		e->stats->frames_out++;
		e->stats->bytes_out += b->len;
		k++;
	}
	if (used) {
		e->stats->ws_writes++;
		if (lws_write(wsi, e->wbuf + LWS_PRE, used, LWS_WRITE_RAW) < (int)used)
			rc = -1;
	}
	while (k--)
		sg_buf_unref(sg_eio_queue_pop(s));
	return rc;
}

void sg_eio_ws_write_now(struct sg_eio_session *s)
{
	struct lws *wsi = s->ws_wsi;
	struct sg_eio_conn *c = lws_wsi_user(wsi);

	/* Left to the callback: a closing socket (its close frame follows the queue), one
	 * where lws still holds part of an earlier write (it goes first), and an HTTP/2
	 * stream (lws writes those only from the callback). */
	if (c->ws_closing || lws_partial_buffered(wsi) || lws_get_network_wsi(wsi) != wsi) {
		lws_callback_on_writable(wsi);
		return;
	}
	if (ws_write_queued(s->eio, wsi, s) < 0) {
		/* The peer is gone: lws closes it on its next turn (not here: the caller
		 * walks a list this socket's close would change). */
		sg_eio_kill_wsi(wsi);
		return;
	}
	if (s->q_len)
		lws_callback_on_writable(wsi); /* more than one write's worth */
}

int sg_eio_ws_writeable(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c)
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

void sg_eio_ws_closed(struct sg_eio *e, struct sg_eio_conn *c)
{
	struct sg_eio_session *s = c->session;

	sg_strbuf_free(&c->rx);
	if (!s)
		return;
	if (s->ws_wsi && lws_wsi_user(s->ws_wsi) == c) {
		s->ws_wsi = NULL;
		if (s->ws_active) {
			sg_eio_sess_close(s, "transport close", CLOSE_CLIENT);
		} else {
			/* A failed or abandoned probe: polling goes on. */
			s->upgrading = 0;
			s->probe_reply = 0;
			sg_timer_cancel(&s->t_upgrade);
			if (s->q_len && s->poll_wsi)
				lws_callback_on_writable(s->poll_wsi);
		}
	}
	sg_eio_conn_detach(c);
	(void)e;
}

