/* sio_internal.h - the Socket.IO layer's own objects (server, clients, namespaces, sockets)
 * and what its files call in each other. Only sio*.c include it. Who calls whom, top down:
 * sio_server.c (server, clients, packets) -> sio_connect.c (CONNECT and its middleware chain)
 * -> sio_rooms.c (room policy and events) / sio_nsp.c (namespaces and their sockets)
 * -> sio.c (frames, emits, acks, broadcasts) -> sio_recovery.c (connection state recovery:
 * dropped sessions and the packets kept to replay to them); never upwards. */
#ifndef SG_SIO_INTERNAL_H
#define SG_SIO_INTERNAL_H

#include <time.h>

#include "connect_req.h"
#include "rooms.h"
#include "sio.h"
#include "stats.h"
#include "util/list.h"

struct pending_ack {
	int64_t id;
	sg_ack_fn fn;
	void *ud;
	struct sg_socket *s;
	lws_sorted_usec_list_t sul;
	struct pending_ack *next;
};

struct sg_client {
	unsigned magic;
	struct sg_sio *sio;
	struct sg_eio_session *session;
	struct sg_socket *sockets;        /* one per connected namespace */
	size_t n_sockets;
	struct sg_connect_req **reqs;     /* CONNECTs going through middleware (sio_connect.c) */
	size_t n_reqs, cap_reqs;
	struct sg_sio_packet partial;     /* binary packet waiting for attachments */
	int has_partial;
	struct sg_timer t_connect;        /* O(1), unlike one lws timer per client */
	struct sg_list_node in_sio;       /* in sio->clients */
};

struct sg_socket {
	unsigned magic;
	char *id;                         /* id_buf, or (a v2 client: "/nsp#<engine id>") owned */
	char id_buf[24];
	struct sg_client *client;
	struct sg_nsp *nsp;
	struct sg_room_set rooms;
	json_t *client_rooms;             /* rooms joined by the client's own join events (a set;
	                                     NULL until the first: idle sockets stay small) */
	json_t *auth;
	json_t *claims;
	struct pending_ack *acks;
	int64_t next_ack_id;
	long long connected_at;           /* ms since the epoch (lifecycle records, presence) */
	unsigned long sent_epoch, except_epoch;
	void *data;
	struct sg_rec_ident *rec;         /* its private session id, when its namespace has recovery */
	int gone;
	int recovered;                    /* it took over a dropped socket's session */
	struct sg_socket *client_next;    /* in client->sockets */
	struct sg_list_node in_nsp;       /* in nsp->sockets */
};

struct sg_nsp {
	struct sg_sio *sio;
	char *name;
	const struct sg_nsp_config *cfg;
	struct sg_rooms rooms;
	struct sg_list sockets;           /* of sg_socket.in_nsp, most recent first */
	unsigned long epoch;
	struct sg_recovery *rec;          /* when its config has `recovery` (sio_recovery.c) */
	struct sg_nsp *next;
};

/* A step added by sg_sio_add_middleware (sio_connect.c). */
struct sg_prog_mw {
	char *nsp;
	sg_mw_fn fn;
	void *ud;
	struct sg_prog_mw *next;
};

struct sg_sio {
	const struct sg_config *cfg;
	struct sg_stats *stats;
	struct sg_stats own_stats;
	struct sg_nsp *nsps;           /* every namespace (iteration) */
	struct sg_hmap nsp_by_name;    /* the same, by name: names come from clients */
	size_t n_nsps, sweep_at;       /* sweep dynamic namespaces when n_nsps reaches sweep_at */
	struct sg_list clients;        /* of sg_client.in_sio, most recent first */
	struct sg_prog_mw *mws;
	struct sg_sio_app app;
	void *app_ud;
	struct sg_sio_app obs;         /* sg_sio_set_observer: told first (the Admin UI) */
	void *obs_ud;
	int obs_sent;                  /* call obs.on_sent for every recipient */
	struct lws_context *ctx;
	struct sg_timers timers;
	time_t join_refused_logged;
	/* The auth and claims of every socket that has none: one shared object, never modified
	 * (two empty objects per socket were ~0.45 KB of an idle connection's ~4.3 KB). */
	json_t *empty;
};

/* The most recent socket of `nsp`, and the socket after `s` in its namespace (NULL: none). */
static inline struct sg_socket *sg_nsp_first_socket(const struct sg_nsp *nsp)
{
	return sg_list_item(nsp->sockets.head, struct sg_socket, in_nsp);
}

static inline struct sg_socket *sg_nsp_next_socket(const struct sg_socket *s)
{
	return sg_list_item(s->in_nsp.next, struct sg_socket, in_nsp);
}

/* ---- sio.c ---- */

/* Sends a packet to one client; returns 0, 1 (volatile, dropped) or -1. */
int sg_client_send(struct sg_client *c, enum sg_sio_type type, const char *nsp, int64_t id,
		   const json_t *data, const struct sg_bin *att, size_t n_att);
/* Takes the pending ack `id` off the socket; NULL when there is none. */
struct pending_ack *sg_ack_take(struct sg_socket *s, int64_t id);
/* Reports a taken ack to its callback (the client's answer, or `err`), then frees it. */
void sg_ack_fire(struct pending_ack *a, json_t *args, const struct sg_bin *att, size_t n_att,
		 const char *err);

/* ---- sio_nsp.c ---- */

/* The namespace `name`, created when `create` and it is served (configured, or "/"). */
struct sg_nsp *sg_nsp_get(struct sg_sio *sio, const char *name, int create);
/* Frees a namespace the caller has already unlinked from sio->nsps. */
void sg_nsp_free(struct sg_sio *sio, struct sg_nsp *n);
/* A new socket of client c in nsp with the id `id`, or a fresh one when NULL, linked in both
 * (not in any room yet). */
struct sg_socket *sg_socket_new(struct sg_client *c, struct sg_nsp *nsp, json_t *auth, json_t *claims,
				const char *id);
/* Takes a socket out of its namespace and client, and frees it. */
void sg_socket_remove(struct sg_socket *s, const char *reason);

/* ---- sio_recovery.c ---- */

/* A socket's private session id (the CONNECT answer's `pid`), and where the namespace's
 * packets stood when it connected (a client that got none replays from there). */
struct sg_rec_held;
struct sg_rec_ident {
	uint64_t start_seq;
	char pid[SG_SOCKET_ID_LEN + 1];
	int holding;                  /* a replay from the broker runs: new packets wait */
	struct sg_rec_held *held, **held_tail;
	size_t held_bytes;
};
struct sg_rec_session;

/* An offset string, NUL included: "<tag>.<seq>", then "~<position>" (<= 300 bytes). */
#define SG_REC_OFFSET_MAX (9 + 13 + 1 + 300 + 1)

/* Makes the namespace's store agree with its config: created when `recovery` appeared,
 * its limits applied, freed (with its sessions) when it went. -1 when out of memory. */
int sg_recovery_sync(struct sg_nsp *nsp);
void sg_recovery_free(struct sg_nsp *nsp);
/* Sessions kept now: a namespace holding some is not swept. */
size_t sg_recovery_held(const struct sg_nsp *nsp);
/* Whether a broadcast is kept for replay (recovery on, not volatile); if so writes the
 * offset it is sent with into `offset` and returns 1. */
int sg_recovery_offset(struct sg_nsp *nsp, int is_volatile, const char *position,
		       char offset[SG_REC_OFFSET_MAX]);
/* When a replay from the broker runs for `s`, keeps the frames to send after it and returns
 * 1 (a volatile packet is dropped); else 0. */
int sg_recovery_hold(struct sg_socket *s, struct sg_buf *const *frames, size_t n_frames, int is_volatile);
/* Keeps the frames of the broadcast that sg_recovery_offset just numbered. */
void sg_recovery_keep(struct sg_nsp *nsp, struct sg_buf *const *frames, size_t n_frames,
		      const struct sg_broadcast *b);
/* Gives a new socket of a namespace with recovery its pid (a v2 client gets none).
 * Returns 0, or -1 when out of memory. */
int sg_recovery_attach(struct sg_socket *s, const struct sg_rec_session *from);
/* A socket leaves for `reason`: its session is kept when the reason is one a client
 * recovers from (transport close or error, ping timeout, server shutting down). */
void sg_recovery_persist(struct sg_socket *s, const char *reason);
/* The session a CONNECT names: `pid` of this namespace, not expired, and every packet after
 * `offset` (NULL: after the session's start) still kept. NULL otherwise. Not taken. */
const struct sg_rec_session *sg_recovery_find(struct sg_nsp *nsp, const char *pid, const char *offset);
/* Counts a CONNECT whose pid found no session (sg_recovery_find said NULL). */
void sg_recovery_missed(struct sg_nsp *nsp);
const char *sg_rec_session_sid(const struct sg_rec_session *rs);
json_t *sg_rec_session_claims(const struct sg_rec_session *rs); /* borrowed */
/* The session's rooms (its own id room included), in join order, and the set of those its
 * client chose (an object used as a set, or NULL). */
void sg_rec_session_foreach_room(const struct sg_rec_session *rs, void (*fn)(void *ud, const char *room),
				 void *ud);
json_t *sg_rec_session_client_rooms(const struct sg_rec_session *rs); /* borrowed */
/* Sends `s` every packet of its rooms kept after `offset` (NULL: after the session's start),
 * in order, then forgets the session (counted as recovered). Call after the CONNECT answer. */
void sg_recovery_replay(struct sg_socket *s, const struct sg_rec_session *rs, const char *offset);
/* Frees the socket's pid (sg_socket_remove, after sg_recovery_persist). */
void sg_recovery_detach(struct sg_socket *s);

/* ---- sio_rooms.c ---- */

/* Joins the rooms of the namespace's auto_join templates. */
void sg_auto_join(struct sg_socket *s);
/* Answers a client's ack request with {ok:true} or {ok:false, error}. */
void sg_ack_result(struct sg_socket *s, int64_t ack_id, const char *error);
/* Handles the configured join/leave events. Returns 1 when the event was one of them. */
int sg_room_event(struct sg_socket *s, const char *event, json_t *args, int64_t ack_id);

/* ---- sio_connect.c ---- */

/* A CONNECT packet: starts its middleware chain. Returns NULL, or why the client must be
 * closed (a protocol violation, or out of memory). */
const char *sg_sio_connect(struct sg_client *c, struct sg_sio_packet *p);
/* A v2 client's packet names its namespace with a query ("/admin?token=abc"): the query is
 * cut off, and on a CONNECT becomes the auth payload (an object of strings), as Node 4.x
 * does for EIO=3. Returns -1 when out of memory. */
int sg_sio_v2_namespace(struct sg_sio_packet *p);
/* A DISCONNECT for a namespace still in its middleware cancels that CONNECT: 1 when found. */
int sg_sio_connect_cancel(struct sg_client *c, const char *nsp);
/* The client leaves: cancels every CONNECT it has in middleware. */
void sg_sio_connect_cancel_all(struct sg_client *c);
void sg_sio_free_middleware(struct sg_sio *sio);

#endif
