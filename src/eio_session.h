/* eio_session.h - inside the Engine.IO code only: the session and endpoint structs and the
 * session layer's calls, shared by the transports (eio_poll.c, eio_ws.c) and the endpoint
 * (eio.c). Layering: eio.c (endpoint, dispatch) -> eio_poll.c, eio_ws.c -> eio_session.c. */
#ifndef SG_EIO_SESSION_H
#define SG_EIO_SESSION_H

#include "eio.h"
#include "eio_codec.h"
#include "stats.h"

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
	int protocol;                  /* 4, or 3: the client pings, payloads are length-prefixed */
	unsigned char b64;             /* v3: the client asked for binary as base64 (b64=1) */
	unsigned char in_flush;        /* on the endpoint's flush list (eio_session.c) */
	void *user;
	/* The handshake's query arguments and kept headers, packed as "name\0value\0" pairs
	 * (n_query of the query, then n_headers), all valid UTF-8. As two jansson objects they
	 * cost ~0.5 KB of an idle connection's ~4 KB; `query` is the query's object, built only
	 * for repeated use (sg_eio_session_query_json) and kept from then on. */
	char *hs;
	uint16_t n_query, n_headers;
	json_t *query;
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
	/* WebSocket sessions given frames since the last flush: written by sg_eio_flush
	 * (eio_session.c; the server's turn, or a zero-delay timer) through write_now (eio_ws.c,
	 * set by eio.c). */
	struct sg_eio_session **flush;
	size_t flush_len, flush_cap;
	lws_sorted_usec_list_t flush_sul;
	int flush_driven;              /* sg_eio_drive_flush: the caller flushes, not flush_sul */
	void (*write_now)(struct sg_eio_session *s);
};

enum close_mode {
	CLOSE_ERROR = 0,    /* timeouts, protocol errors: the session is gone at once */
	CLOSE_CLIENT = 1,   /* the client ended it: a pending GET gets a noop */
	CLOSE_GRACEFUL = 2, /* the layer above ended it: polling clients may fetch what is queued */
};


/* ---- eio_session.c: the session table, heartbeat, send queue and packets in ---- */

struct rx_ctx {
	struct sg_eio_session *s;
	int close_by_client;
};

/* A new session for a handshake on `wsi`, in the sid map; NULL when out of memory. */
struct sg_eio_session *sg_eio_sess_new(struct sg_eio *e, struct lws *wsi, enum sg_eio_transport t,
				       int protocol);
/* The EIO query value of a request on `wsi`: 4, 3 when the endpoint allows it, else 0. */
int sg_eio_request_protocol(struct sg_eio *e, struct lws *wsi);
void sg_eio_sess_close(struct sg_eio_session *s, const char *reason, enum close_mode mode);
void sg_eio_sess_unref(struct sg_eio_session *s);
void sg_eio_sess_finalize(struct sg_eio_session *s);
/* Has lws close wsi on its next turn, not now (a caller may be walking what its close changes). */
void sg_eio_kill_wsi(struct lws *wsi);
/* Lets go of the sessions still waiting for a flush, and of its timer (at release). */
void sg_eio_flush_release(struct sg_eio *e);
int sg_eio_schedule_ping(struct sg_eio_session *s);
void sg_eio_on_upgrade_timeout(struct sg_timer *t);
/* The sg_eio_decode_* callback: `ud` is a struct rx_ctx. */
int sg_eio_on_packet(void *ud, enum sg_eio_type type, const unsigned char *data, size_t len, int binary);
/* Binds a connection to a session (one reference, counted as attached for draining); lets
 * go of it; resets the connection's HTTP request state. */
void sg_eio_conn_attach(struct sg_eio_conn *c, struct sg_eio_session *s);
void sg_eio_conn_detach(struct sg_eio_conn *c);
void sg_eio_conn_reset_http(struct sg_eio_conn *c);

/* The next queued frame (its reference passes to the caller), or NULL. Inline: the
 * WebSocket writer calls it once per frame, after the frame has been written (so a measured
 * broadcast's fan-out time ends at its last write: sg_buf_dequeued). */
static inline struct sg_buf *sg_eio_queue_pop(struct sg_eio_session *s)
{
	struct sg_buf *b;

	if (!s->q_len)
		return NULL;
	b = s->q[s->q_head].buf;
	s->q_head = (s->q_head + 1) % s->q_cap;
	s->q_len--;
	s->q_bytes -= b->len;
	sg_buf_dequeued(b);
	return b;
}

/* ---- eio_session.c: request helpers the transports share ---- */

int sg_eio_copy_header(struct lws *wsi, enum lws_token_indexes tok, char *buf, size_t len);
int sg_eio_origin_allowed(const struct sg_eio *e, const char *origin);
size_t sg_eio_cors_headers(const struct sg_eio *e, const char *origin, const char **out);
int sg_eio_respond_error(struct sg_eio *e, struct lws *wsi, unsigned status, int code, const char *msg);
const char *sg_eio_query_arg(struct lws *wsi, const char *name, char *buf, size_t len);

#endif
