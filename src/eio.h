/* eio.h - Engine.IO v4 server: sessions over HTTP long-polling and WebSocket, with upgrade. */
#ifndef SG_EIO_H
#define SG_EIO_H

#include <stddef.h>
#include <stdint.h>
#include <libwebsockets.h>

#include "buf.h"
#include "server_config.h"
#include "hmap.h"
#include "strbuf.h"
#include "util/http.h"
#include "util/timer.h"

struct sg_eio;
struct sg_eio_session;
struct sg_stats;

/* What the layer above (Socket.IO, or the Engine.IO echo app) is told. All callbacks run on
 * the loop thread. A session's `on_close` is called exactly once, after which the session
 * pointer must not be used. */
struct sg_eio_handlers {
	/* A new session is open (its handshake has been queued). Return 0, or -1 to refuse. */
	int (*on_open)(void *ud, struct sg_eio_session *s);
	/* One Engine.IO message packet (type 4), text (without the '4') or binary. */
	void (*on_message)(void *ud, struct sg_eio_session *s, const unsigned char *data,
			   size_t len, int binary);
	void (*on_close)(void *ud, struct sg_eio_session *s, const char *reason);
	/* The session moved from long-polling to WebSocket (may be NULL). */
	void (*on_upgrade)(void *ud, struct sg_eio_session *s);
};

/* Settings of one Engine.IO endpoint (from the server config). */
struct sg_eio_opts {
	const char *path;           /* "/socket.io/" */
	unsigned transports;        /* SG_TRANSPORT_* */
	int allow_upgrades;
	int allow_eio3;             /* accept EIO=3 (Socket.IO v2 clients) */
	uint32_t ping_interval_ms;
	uint32_t ping_timeout_ms;
	uint32_t upgrade_timeout_ms;
	size_t max_payload;
	size_t max_send_queue;
	char *const *cors_origins;  /* borrowed */
	size_t n_cors_origins;
	/* Extra request headers (lower-case names) kept for the layer above, beyond origin,
	 * cookie, authorization, user-agent and x-forwarded-for. Borrowed. */
	char *const *capture_headers;
	size_t n_capture_headers;
};

/* Creates an endpoint (not yet attached to a listener). `stats` is borrowed, may be NULL. */
struct sg_eio *sg_eio_create(const struct sg_eio_opts *opts, const struct sg_eio_handlers *h,
			     void *ud, struct sg_stats *stats);
/* Closes every session (their on_close runs) and takes them all out of the endpoint,
 * timers included. Call it while the lws context still exists, before sg_server_destroy;
 * connections release what they still hold when the context closes them. */
void sg_eio_release(struct sg_eio *e);
/* Frees the endpoint (after the lws context is gone). NULL is a no-op. */
void sg_eio_destroy(struct sg_eio *e);
const char *sg_eio_path(const struct sg_eio *e);
/* Updates the tunable settings (reload); existing sessions keep their ping settings. */
void sg_eio_set_opts(struct sg_eio *e, const struct sg_eio_opts *opts);
size_t sg_eio_session_count(const struct sg_eio *e);
/* No session left and no connection still flushing one (shutdown waits for this). */
int sg_eio_idle(const struct sg_eio *e);
/* Closes every session with `reason` (shutdown). */
void sg_eio_close_all(struct sg_eio *e, const char *reason);

/* ---- writing WebSocket frames (loop thread) ----
 * A frame queued to a WebSocket waits on the endpoint's flush list and is written by
 * sg_eio_flush, with the frames queued after it to the same socket (one send() for all).
 * By default a zero-delay lws timer flushes; once sg_eio_drive_flush(e, 1) the caller does,
 * between loop turns (the server, after it has read what was waiting: server.c). */
void sg_eio_drive_flush(struct sg_eio *e, int on);
int sg_eio_flush_pending(const struct sg_eio *e);
void sg_eio_flush(struct sg_eio *e);
/* Engine.IO messages received so far (any transport): the server reads on while it grows. */
uint64_t sg_eio_messages_in(const struct sg_eio *e);

/* ---- sessions (loop thread only) ---- */

enum sg_eio_transport { SG_EIO_POLLING = 1, SG_EIO_WEBSOCKET = 2 };

/* Queues one frame (a reference is taken). `is_volatile` frames are dropped when the send
 * queue is over half full. Returns 0 if queued, 1 if dropped (volatile), -1 if the
 * queue overflowed (the session is then being closed: "send queue full") or it is closed. */
int sg_eio_send(struct sg_eio_session *s, struct sg_buf *frame, int is_volatile);
/* Queues several frames atomically (a Socket.IO packet with attachments): all or none. */
int sg_eio_send_many(struct sg_eio_session *s, struct sg_buf *const *frames, size_t n, int is_volatile);
/* Closes the session after flushing what is queued. on_close runs before this returns. */
void sg_eio_session_close(struct sg_eio_session *s, const char *reason);

const char *sg_eio_session_id(const struct sg_eio_session *s);
/* The Engine.IO protocol the client speaks: 4, or 3 (a Socket.IO v2 client). */
int sg_eio_session_protocol(const struct sg_eio_session *s);
enum sg_eio_transport sg_eio_session_transport(const struct sg_eio_session *s);
void sg_eio_session_set_user(struct sg_eio_session *s, void *user);
void *sg_eio_session_user(const struct sg_eio_session *s);
/* The handshake request, as received (borrowed, valid until on_close). */
const char *sg_eio_session_query(const struct sg_eio_session *s, const char *key); /* NULL if absent */
/* The query and the kept headers as new JSON objects, for a one-off use (the caller decrefs;
 * NULL when out of memory). The session keeps them packed, not as JSON. */
json_t *sg_eio_session_query_new(const struct sg_eio_session *s);
json_t *sg_eio_session_headers_new(const struct sg_eio_session *s);
/* The query as a borrowed object for repeated use (every event's templates): built on first
 * use and kept with the session from then on (~0.25 KB). NULL when out of memory. */
json_t *sg_eio_session_query_json(const struct sg_eio_session *s);
const char *sg_eio_session_header(const struct sg_eio_session *s, const char *lname); /* "origin", "cookie", ... */
const char *sg_eio_session_remote(const struct sg_eio_session *s);
size_t sg_eio_session_queued_bytes(const struct sg_eio_session *s);

/* ---- the HTTP side, used by the server's lws protocol callback ---- */

/* Per-connection state kept in the lws per-session user area. */
struct sg_eio_conn {
	unsigned magic;
	int kind;                      /* see eio_internal.h */
	struct sg_eio *eio;
	struct sg_eio_session *session;
	unsigned char *body;           /* POST body being received */
	size_t body_len;
	int body_too_large;
	int response_pending;          /* polling GET held open */
	int ws_closing;
	struct sg_strbuf rx;           /* WebSocket message being reassembled */
	int rx_binary;
};

/* Does this URI belong to the endpoint? */
int sg_eio_match_path(const struct sg_eio *e, const char *uri);
/* The lws callback reasons for a wsi bound to this endpoint. Returns what lws expects. */
int sg_eio_http_callback(struct sg_eio *e, struct lws *wsi, enum lws_callback_reasons reason,
			 struct sg_eio_conn *conn, void *in, size_t len);


#endif
