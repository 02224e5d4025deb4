/* sio.h - Socket.IO v5 server: namespaces, sockets, rooms, acks and the CONNECT middleware
 * chain, on top of Engine.IO sessions. Everything here runs on the loop thread. Implemented
 * by sio.c and the sio_*.c files beside it (sio_internal.h says which does what). */
#ifndef SG_SIO_H
#define SG_SIO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "connect_req.h"
#include "eio.h"
#include "sio_codec.h"

struct sg_sio;
struct sg_nsp;
struct sg_socket;
struct sg_stats;

/* Hooks of the application running on the server (the conformance app, a bridge).
 * Every member may be NULL. */
struct sg_sio_app {
	/* A socket joined a namespace (its CONNECT reply has been queued). */
	void (*on_connection)(void *ud, struct sg_socket *s);
	/* An event from a client. `args` are the arguments after the event name (a borrowed
	 * array whose binary arguments are placeholders into `att`). `ack_id` >= 0 when the
	 * client waits for an acknowledgement (answer it with sg_socket_ack). Return 1 when
	 * the event was handled, 0 to let the gateway answer "no handler" to an ack. */
	int (*on_event)(void *ud, struct sg_socket *s, const char *event, json_t *args,
			const struct sg_bin *att, size_t n_att, int64_t ack_id);
	/* The socket is leaving its namespace; it is still usable during the call. */
	void (*on_disconnect)(void *ud, struct sg_socket *s, const char *reason);
	/* The socket joined a room (not its own id room), by policy, client or backend. Joins
	 * by policy (SG_JOIN_AUTO) happen before on_connection. */
	void (*on_join)(void *ud, struct sg_socket *s, const char *room, int by);
	/* The socket left a room it was in (by SG_JOIN_CLIENT or SG_JOIN_CONTROL); not called
	 * for the rooms a disconnecting socket leaves. */
	void (*on_leave)(void *ud, struct sg_socket *s, const char *room, int by);
	/* Connection state recovery kept in a broker (a namespace whose `recovery` has a
	 * sessions_topic). rec_save hands over a dropped socket's session (borrowed JSON),
	 * rec_drop forgets one, rec_find returns one (a new reference) or NULL, rec_replay
	 * starts replaying to `s` what it missed (0: sg_sio_replay_done will follow; -1: none). */
	int (*rec_save)(void *ud, struct sg_nsp *nsp, const json_t *session); /* 0: taken */
	void (*rec_drop)(void *ud, struct sg_nsp *nsp, const char *pid);
	json_t *(*rec_find)(void *ud, struct sg_nsp *nsp, const char *pid);
	int (*rec_replay)(void *ud, struct sg_socket *s, const json_t *session, const char *offset);
	/* An event was queued to `s` (`data`: the event name, then its arguments); told only
	 * to an observer that asked (sg_sio_observe_sent), for every recipient of a broadcast. */
	void (*on_sent)(void *ud, struct sg_socket *s, const json_t *data);
	/* The socket's connection moved from long-polling to WebSocket. */
	void (*on_upgrade)(void *ud, struct sg_socket *s);
};

struct sg_sio *sg_sio_create(const struct sg_config *cfg, struct sg_stats *stats);
/* Closes every client and frees everything. NULL is a no-op. */
void sg_sio_destroy(struct sg_sio *sio);
void sg_sio_set_app(struct sg_sio *sio, const struct sg_sio_app *app, void *ud);
/* An observer told before the app (the Admin UI): of connections, and of events, which it
 * takes (on_event returns 1: the app is not told) or leaves to the app. */
void sg_sio_set_observer(struct sg_sio *sio, const struct sg_sio_app *obs, void *ud);
/* Whether the observer's on_sent is called (it costs a call per recipient). */
void sg_sio_observe_sent(struct sg_sio *sio, int on);
/* The loop the timers (connect timeout, ack timeouts) run on. Required before clients. */
void sg_sio_set_context(struct sg_sio *sio, struct lws_context *ctx);
/* Engine.IO handlers to create the endpoint with (their user data is the sio). */
const struct sg_eio_handlers *sg_sio_eio_handlers(void);
/* Replaces the configuration (borrowed; must outlive the sio or the next call). Connected
 * sockets of a namespace that still exists keep their connection. */
void sg_sio_set_config(struct sg_sio *sio, const struct sg_config *cfg);
/* Closes every client's transport (shutdown): clients see "transport close" and reconnect. */
void sg_sio_close_all(struct sg_sio *sio, const char *reason);
size_t sg_sio_client_count(const struct sg_sio *sio);
/* The end, while the loop still exists: closes every client and frees what holds timers on
 * it (the recovery sessions). sg_sio_destroy may follow after the lws context is gone. */
void sg_sio_release(struct sg_sio *sio);

/* ---- middleware ---- */

/* A programmatic step (the request API is connect_req.h's): on SG_MW_REJECT it sets the
 * reason with sg_connect_req_reject() first; on SG_MW_PENDING it must later call
 * sg_connect_req_done() exactly once (loop thread), even when sg_connect_req_cancelled()
 * says the client went away. */
typedef enum sg_mw_result (*sg_mw_fn)(void *ud, struct sg_connect_req *req);

/* Adds a programmatic step to every namespace whose name matches `nsp` exactly, run after
 * the configured steps. Used by embedding apps and tests. */
int sg_sio_add_middleware(struct sg_sio *sio, const char *nsp, sg_mw_fn fn, void *ud);

/* ---- namespaces and sockets ---- */

struct sg_nsp *sg_sio_find_nsp(struct sg_sio *sio, const char *name);
const char *sg_nsp_name(const struct sg_nsp *nsp);
size_t sg_nsp_socket_count(const struct sg_nsp *nsp);
size_t sg_nsp_room_count(const struct sg_nsp *nsp);
const struct sg_nsp_config *sg_nsp_config(const struct sg_nsp *nsp); /* NULL for an unconfigured "/" */

const char *sg_socket_id(const struct sg_socket *s);
struct sg_nsp *sg_socket_nsp(const struct sg_socket *s);
json_t *sg_socket_auth(const struct sg_socket *s);                     /* borrowed */
json_t *sg_socket_claims(const struct sg_socket *s);                   /* borrowed object */
long long sg_socket_connected_at(const struct sg_socket *s);           /* ms since the epoch */
int sg_socket_recovered(const struct sg_socket *s);                    /* took a dropped session over */
/* Calls fn for every room the socket is in, its own id room first, then in join order. */
void sg_socket_foreach_room(const struct sg_socket *s, void (*fn)(void *ud, const char *room), void *ud);
/* Calls fn for every room of the namespace with its number of members. */
void sg_nsp_foreach_room(const struct sg_nsp *nsp, void (*fn)(void *ud, const char *room, size_t n), void *ud);
/* Hands the session of every socket of the namespace to its bridge (recovery with a
 * sessions_topic), as if each dropped now: the shutdown does it before the bridges stop. */
void sg_nsp_save_sessions(struct sg_nsp *nsp);
/* Ends a recovery replay from the broker (rec_replay returned 0): the packets held back
 * for the socket meanwhile are sent. */
void sg_socket_replay_done(struct sg_socket *s);
/* The socket with this id in the namespace, or NULL. */
struct sg_socket *sg_nsp_find_socket(struct sg_nsp *nsp, const char *sid);
/* Collects the sockets with an id in `sids` plus the members of `rooms`, minus members of
 * `except` (both sids and rooms empty: every socket). Returns a malloc'ed array (free it)
 * of *n sockets, each once, or NULL on allocation failure (*n = 0 and NULL: none). */
struct sg_socket **sg_nsp_select(struct sg_nsp *nsp, const char *const *sids, size_t n_sids,
				 const char *const *rooms, size_t n_rooms,
				 const char *const *except, size_t n_except, size_t *n);
/* Calls fn for every namespace that exists now and is served by `cfg`. */
void sg_sio_foreach_nsp(struct sg_sio *sio, const struct sg_nsp_config *cfg,
			void (*fn)(void *ud, struct sg_nsp *nsp), void *ud);
/* Calls fn once per configured namespace entry (its name, or its `match` regex for a family
 * of dynamic namespaces, summed over them) and for an unconfigured "/": the sockets connected
 * and the rooms in use (a socket's own id room not counted). Bounded labels for /metrics. */
void sg_sio_nsp_gauges(const struct sg_sio *sio,
		       void (*fn)(void *ud, const char *label, size_t sockets, size_t rooms), void *ud);
struct sg_eio_session *sg_socket_session(const struct sg_socket *s);
void sg_socket_set_data(struct sg_socket *s, void *data);
void *sg_socket_data(const struct sg_socket *s);

/* Who asks a socket to join a room: refusals are counted apart (stats joins_refused[by]). */
enum sg_join_by { SG_JOIN_CLIENT = 0, SG_JOIN_AUTO, SG_JOIN_CONTROL };

/* Returns 1 joined, 0 already in it, -1 out of memory, or -2 refused: `room` has the shape
 * of a socket id (sg_rooms_is_socket_id) and is not this socket's own. A socket id's room
 * is its socket's private channel; a name of that shape is refused even when no socket
 * here has it now (it may be a socket on another replica, sent to through the broker).
 * A refusal is counted and logged (at most once per interval). */
int sg_socket_join(struct sg_socket *s, const char *room, enum sg_join_by by);
/* Returns 1 left, 0 not a member. `by` says who asked (SG_JOIN_CLIENT or SG_JOIN_CONTROL). */
int sg_socket_leave(struct sg_socket *s, const char *room, enum sg_join_by by);
int sg_socket_in_room(const struct sg_socket *s, const char *room);
/* Server-side disconnect from the namespace: the client gets a DISCONNECT packet. */
void sg_socket_disconnect(struct sg_socket *s, const char *reason);

/* Called with the client's answer to an emit with ack: `args` (borrowed) and attachments,
 * or args == NULL and `err` set ("timeout", "disconnected"). */
typedef void (*sg_ack_fn)(void *ud, struct sg_socket *s, json_t *args, const struct sg_bin *att,
			  size_t n_att, const char *err);

/* Emits `event` with `args` (a borrowed array; placeholders refer to `att`) to one socket.
 * With `ack`, the client's answer (or a timeout after `timeout_ms`) is reported once.
 * Returns 0, or -1 (the socket is gone or its queue overflowed; `ack` is never called). */
int sg_socket_emit(struct sg_socket *s, const char *event, const json_t *args,
		   const struct sg_bin *att, size_t n_att, sg_ack_fn ack, void *ack_ud, uint32_t timeout_ms);
/* Answers a client's ack request. Returns 0 or -1. */
int sg_socket_ack(struct sg_socket *s, int64_t ack_id, const json_t *args,
		  const struct sg_bin *att, size_t n_att);

struct sg_broadcast {
	const char *const *rooms;    /* NULL/0: every socket of the namespace */
	size_t n_rooms;
	const char *const *except;   /* rooms whose members are skipped */
	size_t n_except;
	const struct sg_socket *except_socket; /* e.g. the sender */
	int is_volatile;
	const char *position;        /* where it sits in the broker's log (recovery offsets), or NULL */
	int replay;                  /* a recovery replay: not held back behind itself */
	double start;                /* when the message arrived on the loop (sg_mono_seconds), for
	                                siogate_fanout_seconds; 0: not measured */
};

/* Encodes the event once and queues it to every target socket. Returns the number of
 * sockets it was queued to, or -1 when it could not be encoded. */
long sg_nsp_broadcast(struct sg_nsp *nsp, const struct sg_broadcast *b, const char *event,
		      const json_t *args, const struct sg_bin *att, size_t n_att);

#endif
