/* sio.c - the Socket.IO layer: per-session clients, namespace sockets, CONNECT middleware,
 * room policy, acks both ways and broadcasts encoded once. */
#include "sio.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "middleware.h"
#include "rooms.h"
#include "stats.h"
#include "strbuf.h"
#include "template.h"

#define CLIENT_MAGIC 0xc11e0c11u
#define SOCKET_MAGIC 0x50c4e750u
#define REQ_MAGIC 0x4e9e4e9eu
#define JOIN_REFUSED_LOG_INTERVAL_S 10 /* refused joins of socket id rooms: one warning per interval */

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
	struct sg_connect_req *reqs;      /* CONNECTs going through middleware */
	size_t n_reqs;
	struct sg_sio_packet partial;     /* binary packet waiting for attachments */
	int has_partial;
	struct sg_timer t_connect;        /* O(1), unlike one lws timer per client */
	struct sg_client *prev, *next;
};

struct sg_socket {
	unsigned magic;
	char id[24];
	struct sg_client *client;
	struct sg_nsp *nsp;
	struct sg_room_set rooms;
	json_t *client_rooms;             /* rooms joined by the client's own join events (a set;
	                                     NULL until the first: idle sockets stay small) */
	json_t *auth;
	json_t *claims;
	struct pending_ack *acks;
	int64_t next_ack_id;
	unsigned long sent_epoch, except_epoch;
	void *data;
	int gone;
	struct sg_socket *client_next;    /* in client->sockets */
	struct sg_socket *nsp_prev, *nsp_next;
};

struct sg_nsp {
	char *name;
	const struct sg_nsp_config *cfg;
	struct sg_rooms rooms;
	struct sg_socket *sockets;
	size_t n_sockets;
	unsigned long epoch;
	struct sg_nsp *next;
};

struct prog_mw {
	char *nsp;
	sg_mw_fn fn;
	void *ud;
	struct prog_mw *next;
};

struct sg_connect_req {
	unsigned magic;
	struct sg_client *client;         /* NULL once the client is gone */
	char *nsp_name;
	const struct sg_config *cfg;      /* a reference: the config this CONNECT is judged by */
	const struct sg_nsp_config *nsp_cfg; /* its namespace in cfg (NULL: "/" unconfigured) */
	json_t *auth;
	size_t step;                      /* next configured step, then programmatic ones */
	struct prog_mw *prog;
	int pending;
	char *reject_message;
	json_t *reject_data;
	json_t *claims;
	struct sg_connect_req *next;
};

struct sg_sio {
	const struct sg_config *cfg;
	struct sg_stats *stats;
	struct sg_stats own_stats;
	struct sg_nsp *nsps;           /* every namespace (iteration) */
	struct sg_hmap nsp_by_name;    /* the same, by name: names come from clients */
	size_t n_nsps, sweep_at;       /* sweep dynamic namespaces when n_nsps reaches sweep_at */
	struct sg_client *clients;
	size_t n_clients;
	struct prog_mw *mws;
	struct sg_sio_app app;
	void *app_ud;
	struct lws_context *ctx;
	struct sg_timers timers;
	time_t join_refused_logged;
};

static void client_close(struct sg_client *c, const char *reason);
static void socket_remove(struct sg_socket *s, const char *reason);
static void req_continue(struct sg_connect_req *req);

/* ---------------------------------------------------------------- frames */

/* Encodes one packet into its frames: the text frame, then one binary frame per attachment. */
static int build_frames(enum sg_sio_type type, const char *nsp, int64_t id, const json_t *data,
			const struct sg_bin *att, size_t n_att, struct sg_buf **frames)
{
	struct sg_strbuf sb;
	size_t i;

	if (n_att) {
		if (type == SG_SIO_EVENT)
			type = SG_SIO_BINARY_EVENT;
		else if (type == SG_SIO_ACK)
			type = SG_SIO_BINARY_ACK;
	}
	sg_strbuf_init_headroom(&sb, LWS_PRE);
	if (sg_sio_encode(&sb, type, nsp, id, data, n_att) ||
	    !(frames[0] = sg_buf_from_strbuf(&sb, 0))) {
		sg_strbuf_free(&sb);
		return -1;
	}
	for (i = 0; i < n_att; i++) {
		frames[i + 1] = sg_buf_new(att[i].data, att[i].len, 1);
		if (!frames[i + 1]) {
			while (i + 1 > 0)
				sg_buf_unref(frames[i--]);
			return -1;
		}
	}
	return 0;
}

static void frames_unref(struct sg_buf **frames, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sg_buf_unref(frames[i]);
}

/* Sends a packet to one client; returns 0, 1 (volatile, dropped) or -1. */
static int client_send(struct sg_client *c, enum sg_sio_type type, const char *nsp, int64_t id,
		       const json_t *data, const struct sg_bin *att, size_t n_att)
{
	struct sg_buf *stack[8], **frames = stack;
	int rc;

	if (!c->session)
		return -1;
	if (n_att + 1 > sizeof(stack) / sizeof(stack[0])) {
		frames = malloc((n_att + 1) * sizeof(*frames));
		if (!frames)
			return -1;
	}
	if (build_frames(type, nsp, id, data, att, n_att, frames)) {
		if (frames != stack)
			free(frames);
		return -1;
	}
	rc = sg_eio_send_many(c->session, frames, n_att + 1, 0);
	frames_unref(frames, n_att + 1);
	if (frames != stack)
		free(frames);
	return rc;
}

/* ---------------------------------------------------------------- namespaces */

static void nsp_free(struct sg_sio *sio, struct sg_nsp *n);

/* Frees the namespaces made from a `match` rule that no socket uses any more. Without this,
 * one client connecting to /tenant-1, /tenant-2, ... in turn would grow the list (memory)
 * without bound. Only called on the way to creating one, when no caller holds a pointer to
 * an empty namespace, and only once the count has doubled since the last sweep, so that
 * creating a namespace costs O(1) amortized however many are live. */
static void nsp_sweep(struct sg_sio *sio)
{
	struct sg_nsp **pp = &sio->nsps;

	if (sio->n_nsps < sio->sweep_at)
		return;
	while (*pp) {
		struct sg_nsp *n = *pp;

		if (!n->n_sockets && n->cfg && n->cfg->match) {
			*pp = n->next;
			nsp_free(sio, n);
			continue;
		}
		pp = &n->next;
	}
	sio->sweep_at = sio->n_nsps * 2 > 64 ? sio->n_nsps * 2 : 64;
}

static struct sg_nsp *nsp_get(struct sg_sio *sio, const char *name, int create)
{
	const struct sg_nsp_config *cfg;
	struct sg_nsp *n;

	if ((n = sg_hmap_get(&sio->nsp_by_name, name, strlen(name))))
		return n;
	if (!create)
		return NULL;
	cfg = sio->cfg ? sg_config_find_nsp(sio->cfg, name) : NULL;
	if (!cfg && strcmp(name, "/"))
		return NULL; /* "/" is always served; others only when configured */
	if (cfg && cfg->match)
		nsp_sweep(sio);
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	if (sg_hmap_put(&sio->nsp_by_name, n->name, strlen(n->name), n)) {
		free(n->name);
		free(n);
		return NULL;
	}
	n->cfg = cfg;
	sg_rooms_init(&n->rooms);
	n->next = sio->nsps;
	sio->nsps = n;
	sio->n_nsps++;
	return n;
}

/* Frees a namespace the caller has already unlinked from sio->nsps. */
static void nsp_free(struct sg_sio *sio, struct sg_nsp *n)
{
	sg_hmap_del(&sio->nsp_by_name, n->name, strlen(n->name));
	sio->n_nsps--;
	sg_rooms_free(&n->rooms);
	free(n->name);
	free(n);
}

struct sg_nsp *sg_sio_find_nsp(struct sg_sio *sio, const char *name)
{
	return nsp_get(sio, name, 0);
}

const char *sg_nsp_name(const struct sg_nsp *nsp) { return nsp->name; }
size_t sg_nsp_socket_count(const struct sg_nsp *nsp) { return nsp->n_sockets; }
size_t sg_nsp_room_count(const struct sg_nsp *nsp) { return sg_rooms_count(&nsp->rooms); }
const struct sg_nsp_config *sg_nsp_config(const struct sg_nsp *nsp) { return nsp->cfg; }

/* ---------------------------------------------------------------- server object */

static int on_eio_open(void *ud, struct sg_eio_session *session);
static void on_eio_message(void *ud, struct sg_eio_session *session, const unsigned char *data,
			   size_t len, int binary);
static void on_eio_close(void *ud, struct sg_eio_session *session, const char *reason);

static const struct sg_eio_handlers eio_handlers = {on_eio_open, on_eio_message, on_eio_close};

const struct sg_eio_handlers *sg_sio_eio_handlers(void)
{
	return &eio_handlers;
}

struct sg_sio *sg_sio_create(const struct sg_config *cfg, struct sg_stats *stats)
{
	struct sg_sio *sio = calloc(1, sizeof(*sio));

	if (!sio)
		return NULL;
	sio->cfg = cfg;
	sio->stats = stats ? stats : &sio->own_stats;
	return sio;
}

void sg_sio_set_context(struct sg_sio *sio, struct lws_context *ctx)
{
	sio->ctx = ctx;
}

void sg_sio_set_app(struct sg_sio *sio, const struct sg_sio_app *app, void *ud)
{
	sio->app = *app;
	sio->app_ud = ud;
}

void sg_sio_set_config(struct sg_sio *sio, const struct sg_config *cfg)
{
	struct sg_nsp **pp = &sio->nsps;

	sio->cfg = cfg;
	/* Re-bind each namespace to its new config; one that no longer exists loses its sockets. */
	while (*pp) {
		struct sg_nsp *n = *pp;
		const struct sg_nsp_config *nc = sg_config_find_nsp(cfg, n->name);

		if (!nc && strcmp(n->name, "/")) {
			while (n->sockets)
				sg_socket_disconnect(n->sockets, "namespace removed");
			*pp = n->next;
			nsp_free(sio, n);
			continue;
		}
		n->cfg = nc;
		pp = &n->next;
	}
}

int sg_sio_add_middleware(struct sg_sio *sio, const char *nsp, sg_mw_fn fn, void *ud)
{
	struct prog_mw *m = calloc(1, sizeof(*m)), **pp;

	if (!m || !(m->nsp = strdup(nsp))) {
		free(m);
		return -1;
	}
	m->fn = fn;
	m->ud = ud;
	for (pp = &sio->mws; *pp; pp = &(*pp)->next)
		;
	*pp = m;
	return 0;
}

size_t sg_sio_client_count(const struct sg_sio *sio)
{
	return sio->n_clients;
}

void sg_sio_close_all(struct sg_sio *sio, const char *reason)
{
	/* No DISCONNECT packets: like the reference server's close(), the transports just
	 * close, so that clients reconnect (to this gateway's successor) instead of taking it
	 * as "io server disconnect", which stops them for good. */
	while (sio->clients)
		client_close(sio->clients, reason);
}

void sg_sio_destroy(struct sg_sio *sio)
{
	if (!sio)
		return;
	sg_sio_close_all(sio, "server shutting down");
	while (sio->nsps) {
		struct sg_nsp *n = sio->nsps;
		sio->nsps = n->next;
		nsp_free(sio, n);
	}
	sg_hmap_free(&sio->nsp_by_name);
	while (sio->mws) {
		struct prog_mw *m = sio->mws;
		sio->mws = m->next;
		free(m->nsp);
		free(m);
	}
	sg_timers_free(&sio->timers);
	free(sio);
}

/* ---------------------------------------------------------------- sockets */

const char *sg_socket_id(const struct sg_socket *s) { return s->id; }
struct sg_nsp *sg_socket_nsp(const struct sg_socket *s) { return s->nsp; }
json_t *sg_socket_auth(const struct sg_socket *s) { return s->auth; }
json_t *sg_socket_claims(const struct sg_socket *s) { return s->claims; }
struct sg_eio_session *sg_socket_session(const struct sg_socket *s) { return s->client->session; }
void sg_socket_set_data(struct sg_socket *s, void *data) { s->data = data; }
void *sg_socket_data(const struct sg_socket *s) { return s->data; }

/* 1 when `room` is reserved to another socket: what sg_socket_join refuses. */
static int room_reserved(const struct sg_socket *s, const char *room)
{
	return sg_rooms_is_socket_id(room, strlen(room)) && strcmp(room, s->id);
}

/* Counts and logs (at most once per interval) a refused join of a reserved room. */
static void join_refused(struct sg_socket *s, const char *room, enum sg_join_by by)
{
	static const char *const by_name[] = {"a join event", "auto_join", "a control join"};
	struct sg_sio *sio = s->client->sio;
	const uint64_t *n = sio->stats->joins_refused;
	time_t now = time(NULL);

	sio->stats->joins_refused[by]++;
	if (now - sio->join_refused_logged < JOIN_REFUSED_LOG_INTERVAL_S)
		return;
	sio->join_refused_logged = now;
	/* The name is safe to log: it has the shape of a socket id. */
	sg_warn("sio", s->id, "%s of room '%s' in %s refused: a socket id's room belongs to that socket "
		"(%llu refused so far)", by_name[by], room, s->nsp->name, (unsigned long long)(n[0] + n[1] + n[2]));
}

int sg_socket_join(struct sg_socket *s, const char *room, enum sg_join_by by)
{
	struct sg_sio *sio = s->client->sio;
	int rc;

	if (room_reserved(s, room)) {
		join_refused(s, room, by);
		return -2;
	}
	rc = sg_rooms_join(&s->nsp->rooms, &s->rooms, s, room, strlen(room));

	if (rc == 1 && sio->app.on_join && strcmp(room, s->id))
		sio->app.on_join(sio->app_ud, s, room);
	return rc;
}

struct sg_socket *sg_nsp_find_socket(struct sg_nsp *nsp, const char *sid)
{
	struct sg_room *r = sg_rooms_get(&nsp->rooms, sid, strlen(sid));
	struct sg_socket *s;

	/* Every socket is alone in a room named by its id (unless a client-chosen room
	 * happens to carry that name: check the id). */
	for (struct sg_membership *m = r ? r->head : NULL; m; m = m->room_next) {
		s = m->member;
		if (!strcmp(s->id, sid))
			return s;
	}
	return NULL;
}

struct sg_socket **sg_nsp_select(struct sg_nsp *nsp, const char *const *sids, size_t n_sids,
				 const char *const *rooms, size_t n_rooms,
				 const char *const *except, size_t n_except, size_t *n)
{
	unsigned long epoch = ++nsp->epoch;
	struct sg_socket **out = NULL, *s;
	size_t cap = 0, i;

	*n = 0;
	for (i = 0; i < n_except; i++) {
		struct sg_room *r = sg_rooms_get(&nsp->rooms, except[i], strlen(except[i]));
		for (struct sg_membership *m = r ? r->head : NULL; m; m = m->room_next)
			((struct sg_socket *)m->member)->except_epoch = epoch;
	}
#define ADD(sock)                                                                          \
	do {                                                                               \
		s = (sock);                                                                \
		if (s->except_epoch == epoch || s->sent_epoch == epoch || s->gone)         \
			break;                                                             \
		s->sent_epoch = epoch;                                                     \
		if (*n == cap) {                                                           \
			struct sg_socket **no;                                             \
			cap = cap ? cap * 2 : 16;                                          \
			no = realloc(out, cap * sizeof(*out));                             \
			if (!no) {                                                         \
				free(out);                                                 \
				*n = 0;                                                    \
				return NULL;                                               \
			}                                                                  \
			out = no;                                                          \
		}                                                                          \
		out[(*n)++] = s;                                                           \
	} while (0)
	if (!n_sids && !n_rooms) {
		for (s = nsp->sockets; s; s = s->nsp_next)
			ADD(s);
		return out;
	}
	for (i = 0; i < n_sids; i++) {
		struct sg_socket *f = sg_nsp_find_socket(nsp, sids[i]);
		if (f)
			ADD(f);
	}
	for (i = 0; i < n_rooms; i++) {
		struct sg_room *r = sg_rooms_get(&nsp->rooms, rooms[i], strlen(rooms[i]));
		for (struct sg_membership *m = r ? r->head : NULL; m; m = m->room_next)
			ADD((struct sg_socket *)m->member);
	}
#undef ADD
	return out;
}

void sg_sio_foreach_nsp(struct sg_sio *sio, const struct sg_nsp_config *cfg,
			void (*fn)(void *ud, struct sg_nsp *nsp), void *ud)
{
	for (struct sg_nsp *n = sio->nsps; n; n = n->next)
		if (n->cfg == cfg)
			fn(ud, n);
}

void sg_sio_nsp_gauges(const struct sg_sio *sio,
		       void (*fn)(void *ud, const char *label, size_t sockets, size_t rooms), void *ud)
{
	const struct sg_config *cfg = sio->cfg;
	size_t sockets, rooms, n_cfg = cfg ? cfg->n_namespaces : 0;
	int root_configured = cfg && sg_config_find_nsp(cfg, "/") != NULL;

	for (size_t i = 0; i <= n_cfg; i++) {
		const struct sg_nsp_config *nc = i < n_cfg ? &cfg->namespaces[i] : NULL;

		if (!nc && root_configured)
			break;
		sockets = rooms = 0;
		for (const struct sg_nsp *n = sio->nsps; n; n = n->next)
			if (n->cfg == nc) {
				sockets += n->n_sockets;
				/* Not the room every socket has of its own id. */
				rooms += sg_rooms_count(&n->rooms) - n->n_sockets;
			}
		fn(ud, nc ? (nc->name ? nc->name : nc->match) : "/", sockets, rooms);
	}
}

int sg_socket_leave(struct sg_socket *s, const char *room)
{
	json_object_del(s->client_rooms, room); /* frees a max_rooms slot if the client chose it */
	return sg_rooms_leave(&s->nsp->rooms, &s->rooms, s, room, strlen(room));
}

int sg_socket_in_room(const struct sg_socket *s, const char *room)
{
	return sg_rooms_has(&s->nsp->rooms, s, room, strlen(room));
}

static void random_id(char *out, size_t n)
{
	static const char url64[] = /* sg_rooms_is_socket_id knows this alphabet */
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char rnd[32];
	size_t i, got = 0;

	while (got < n) {
		ssize_t r = getrandom(rnd + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			abort();
		got += (size_t)r;
	}
	for (i = 0; i < n; i++)
		out[i] = url64[rnd[i] & 63];
	out[n] = '\0';
}

static void ack_fire(struct pending_ack *a, json_t *args, const struct sg_bin *att, size_t n_att, const char *err)
{
	lws_sul_cancel(&a->sul);
	if (a->fn)
		a->fn(a->ud, a->s, args, att, n_att, err);
	free(a);
}

static struct pending_ack *ack_take(struct sg_socket *s, int64_t id)
{
	struct pending_ack **pp;

	for (pp = &s->acks; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct pending_ack *a = *pp;
			*pp = a->next;
			return a;
		}
	return NULL;
}

static void on_ack_timeout(lws_sorted_usec_list_t *sul)
{
	struct pending_ack *a = lws_container_of(sul, struct pending_ack, sul);

	if (ack_take(a->s, a->id) == a)
		ack_fire(a, NULL, NULL, 0, "timeout");
}

/* Takes a socket out of its namespace and client, and frees it. */
static void socket_remove(struct sg_socket *s, const char *reason)
{
	struct sg_sio *sio = s->client->sio;
	struct sg_client *c = s->client;
	struct sg_nsp *nsp = s->nsp;
	struct sg_socket **pp;

	if (s->gone)
		return;
	s->gone = 1;
	if (sio->app.on_disconnect)
		sio->app.on_disconnect(sio->app_ud, s, reason);
	while (s->acks) {
		struct pending_ack *a = s->acks;
		s->acks = a->next;
		ack_fire(a, NULL, NULL, 0, "disconnected");
	}
	sg_rooms_leave_all(&nsp->rooms, &s->rooms);
	if (s->nsp_prev)
		s->nsp_prev->nsp_next = s->nsp_next;
	else
		nsp->sockets = s->nsp_next;
	if (s->nsp_next)
		s->nsp_next->nsp_prev = s->nsp_prev;
	nsp->n_sockets--;
	for (pp = &c->sockets; *pp; pp = &(*pp)->client_next)
		if (*pp == s) {
			*pp = s->client_next;
			break;
		}
	c->n_sockets--;
	sg_dbg("sio", s->id, "left namespace %s (%s)", nsp->name, reason);
	json_decref(s->auth);
	json_decref(s->claims);
	json_decref(s->client_rooms);
	s->magic = 0;
	free(s);
}

void sg_socket_disconnect(struct sg_socket *s, const char *reason)
{
	assert(s->magic == SOCKET_MAGIC);
	if (s->client->session)
		client_send(s->client, SG_SIO_DISCONNECT, s->nsp->name, -1, NULL, NULL, 0);
	socket_remove(s, reason);
}

int sg_socket_emit(struct sg_socket *s, const char *event, const json_t *args,
		   const struct sg_bin *att, size_t n_att, sg_ack_fn ack, void *ack_ud, uint32_t timeout_ms)
{
	json_t *data = json_array();
	struct pending_ack *a = NULL;
	int64_t id = -1;
	size_t i;
	int rc;

	if (!data || s->gone)
		goto fail;
	json_array_append_new(data, json_string(event));
	for (i = 0; args && i < json_array_size(args); i++)
		json_array_append(data, json_array_get(args, i));
	if (ack) {
		a = calloc(1, sizeof(*a));
		if (!a)
			goto fail;
		id = s->next_ack_id++;
	}
	rc = client_send(s->client, SG_SIO_EVENT, s->nsp->name, id, data, att, n_att);
	json_decref(data);
	data = NULL;
	if (rc < 0)
		goto fail;
	if (a) {
		a->id = id;
		a->fn = ack;
		a->ud = ack_ud;
		a->s = s;
		a->next = s->acks;
		s->acks = a;
		lws_sul_schedule(s->client->sio->ctx, 0, &a->sul, on_ack_timeout,
				 (lws_usec_t)timeout_ms * LWS_US_PER_MS);
	}
	return 0;
fail:
	json_decref(data);
	free(a);
	return -1;
}

int sg_socket_ack(struct sg_socket *s, int64_t ack_id, const json_t *args,
		  const struct sg_bin *att, size_t n_att)
{
	json_t *empty = NULL;
	int rc;

	if (s->gone || ack_id < 0)
		return -1;
	if (!args)
		args = empty = json_array();
	rc = client_send(s->client, SG_SIO_ACK, s->nsp->name, ack_id, args, att, n_att);
	json_decref(empty);
	return rc < 0 ? -1 : 0;
}

long sg_nsp_broadcast(struct sg_nsp *nsp, const struct sg_broadcast *b, const char *event,
		      const json_t *args, const struct sg_bin *att, size_t n_att)
{
	struct sg_buf *stack[8], **frames = stack;
	json_t *data = json_array();
	unsigned long epoch = ++nsp->epoch;
	struct sg_stats *stats = NULL;
	long sent = 0;
	size_t i;

	if (!data)
		return -1;
	json_array_append_new(data, json_string(event));
	for (i = 0; args && i < json_array_size(args); i++)
		json_array_append(data, json_array_get(args, i));
	if (n_att + 1 > sizeof(stack) / sizeof(stack[0]) &&
	    !(frames = malloc((n_att + 1) * sizeof(*frames)))) {
		json_decref(data);
		return -1;
	}
	if (build_frames(SG_SIO_EVENT, nsp->name, -1, data, att, n_att, frames)) {
		json_decref(data);
		if (frames != stack)
			free(frames);
		return -1;
	}
	json_decref(data);

	for (i = 0; i < b->n_except; i++) {
		struct sg_room *r = sg_rooms_get(&nsp->rooms, b->except[i], strlen(b->except[i]));
		struct sg_membership *m;
		for (m = r ? r->head : NULL; m; m = m->room_next)
			((struct sg_socket *)m->member)->except_epoch = epoch;
	}

#define DELIVER(sock)                                                                         \
	do {                                                                                  \
		struct sg_socket *t_ = (sock);                                                \
		if (t_->except_epoch == epoch || t_->sent_epoch == epoch ||                   \
		    t_ == b->except_socket || t_->gone || !t_->client->session)               \
			break;                                                                \
		t_->sent_epoch = epoch;                                                       \
		if (!stats)                                                                   \
			stats = t_->client->sio->stats;                                       \
		if (sg_eio_send_many(t_->client->session, frames, n_att + 1, b->is_volatile) == 0) \
			sent++;                                                               \
	} while (0)

	/* A send can close a slow client, which removes its socket from the lists being
	 * walked; so the next element is taken before each delivery. */
	if (!b->n_rooms) {
		struct sg_socket *s = nsp->sockets, *next;
		for (; s; s = next) {
			next = s->nsp_next;
			DELIVER(s);
		}
	} else {
		for (i = 0; i < b->n_rooms; i++) {
			struct sg_room *r = sg_rooms_get(&nsp->rooms, b->rooms[i], strlen(b->rooms[i]));
			struct sg_membership *m, *next;
			for (m = r ? r->head : NULL; m; m = next) {
				next = m->room_next;
				DELIVER((struct sg_socket *)m->member);
			}
		}
	}
#undef DELIVER
	if (stats)
		stats->broadcasts++;
	frames_unref(frames, n_att + 1);
	if (frames != stack)
		free(frames);
	return sent;
}

/* ---------------------------------------------------------------- room policy */

struct tpl_ctx {
	struct sg_socket *s;
};

static int tpl_lookup(void *ud, const char *name, size_t len, struct sg_strbuf *out)
{
	struct tpl_ctx *t = ud;
	struct sg_socket *s = t->s;
	char key[256];
	const json_t *src = NULL;

	if (len == 3 && !memcmp(name, "nsp", 3)) {
		sg_strbuf_append(out, s->nsp->name, strlen(s->nsp->name));
		return 0;
	}
	if (len == 3 && !memcmp(name, "sid", 3)) {
		sg_strbuf_append(out, s->id, strlen(s->id));
		return 0;
	}
	if (len > 5 && !memcmp(name, "auth.", 5)) {
		src = s->auth;
		name += 5;
		len -= 5;
	} else if (len > 6 && !memcmp(name, "query.", 6)) {
		src = sg_eio_session_query_json(s->client->session);
		name += 6;
		len -= 6;
	} else if (len > 7 && !memcmp(name, "claims.", 7)) {
		src = s->claims;
		name += 7;
		len -= 7;
	}
	if (!src || len >= sizeof(key))
		return -1;
	memcpy(key, name, len);
	key[len] = '\0';
	return sg_json_scalar_append(out, json_object_get(src, key));
}

static void auto_join(struct sg_socket *s)
{
	const struct sg_nsp_config *cfg = s->nsp->cfg;
	size_t i;

	for (i = 0; cfg && i < cfg->rooms.n_auto_join; i++) {
		struct sg_strbuf sb;
		struct tpl_ctx t = {s};

		sg_strbuf_init(&sb);
		if (sg_template_expand(cfg->rooms.auto_join[i], tpl_lookup, &t, &sb) == 0 && sb.len)
			sg_socket_join(s, sb.data, SG_JOIN_AUTO); /* a refusal is counted and logged */
		else
			sg_dbg("sio", s->id, "auto-join template '%s' skipped (a value is missing)",
			       cfg->rooms.auto_join[i]);
		sg_strbuf_free(&sb);
	}
}

static void ack_result(struct sg_socket *s, int64_t ack_id, const char *error)
{
	json_t *args;

	if (ack_id < 0)
		return;
	args = error ? json_pack("[{sbss}]", "ok", 0, "error", error) : json_pack("[{sb}]", "ok", 1);
	if (args)
		sg_socket_ack(s, ack_id, args, NULL, 0);
	json_decref(args);
	if (error)
		s->client->sio->stats->acks_error++;
	else
		s->client->sio->stats->acks_ok++;
}

/* Handles the configured join/leave events. Returns 1 when the event was one of them. */
static int room_event(struct sg_socket *s, const char *event, json_t *args, int64_t ack_id)
{
	const struct sg_room_policy *rp = s->nsp->cfg ? &s->nsp->cfg->rooms : NULL;
	const char *room;
	int join;

	if (!rp || !rp->client_join)
		return 0;
	if (!strcmp(event, rp->join_event ? rp->join_event : "join"))
		join = 1;
	else if (!strcmp(event, rp->leave_event ? rp->leave_event : "leave"))
		join = 0;
	else
		return 0;

	room = json_string_value(json_array_get(args, 0));
	if (!room || !room[0]) {
		ack_result(s, ack_id, "expected a room name as the first argument");
		return 1;
	}
	if (rp->allow_re && !sg_regex_full_match(rp->allow_re, room)) {
		ack_result(s, ack_id, "room name not allowed");
		return 1;
	}
	if (!strcmp(room, s->id)) {
		ack_result(s, ack_id, "cannot join or leave the socket's own room");
		return 1;
	}
	if (join) {
		int rc;
		/* Whatever `allow` says: another socket's private room would leak its messages. */
		if (room_reserved(s, room)) {
			join_refused(s, room, SG_JOIN_CLIENT);
			ack_result(s, ack_id, "room name not allowed: it has the form of a socket id");
			return 1;
		}
		if (sg_socket_in_room(s, room)) {
			ack_result(s, ack_id, NULL);
			return 1;
		}
		/* Only rooms the client chose count against max_rooms, not auto-joined ones. */
		if (json_object_size(s->client_rooms) >= rp->max_rooms) {
			ack_result(s, ack_id, "too many rooms");
			return 1;
		}
		if (!s->client_rooms)
			s->client_rooms = json_object();
		rc = s->client_rooms ? sg_socket_join(s, room, SG_JOIN_CLIENT) : -1;
		if (rc < 0 || json_object_set_new(s->client_rooms, room, json_true())) {
			if (rc > 0)
				sg_socket_leave(s, room);
			ack_result(s, ack_id, "out of memory");
			return 1;
		}
	} else {
		sg_socket_leave(s, room);
	}
	ack_result(s, ack_id, NULL);
	return 1;
}

/* ---------------------------------------------------------------- connect */

static void req_free(struct sg_connect_req *req)
{
	free(req->nsp_name);
	sg_config_destroy(req->cfg);
	json_decref(req->auth);
	json_decref(req->reject_data);
	json_decref(req->claims);
	free(req->reject_message);
	req->magic = 0;
	free(req);
}

static void req_unlink(struct sg_connect_req *req)
{
	struct sg_client *c = req->client;
	struct sg_connect_req **pp;

	if (!c)
		return;
	for (pp = &c->reqs; *pp; pp = &(*pp)->next)
		if (*pp == req) {
			*pp = req->next;
			c->n_reqs--;
			break;
		}
	req->client = NULL;
}

const char *sg_connect_req_nsp(const struct sg_connect_req *req) { return req->nsp_name; }
json_t *sg_connect_req_auth(const struct sg_connect_req *req) { return req->auth; }
int sg_connect_req_cancelled(const struct sg_connect_req *req) { return req->client == NULL; }

struct lws_context *sg_connect_req_context(const struct sg_connect_req *req)
{
	return req->client ? req->client->sio->ctx : NULL;
}

struct sg_eio_session *sg_connect_req_session(const struct sg_connect_req *req)
{
	return req->client ? req->client->session : NULL;
}

void sg_connect_req_set_claim(struct sg_connect_req *req, const char *key, json_t *value)
{
	if (!req->claims)
		req->claims = json_object();
	if (req->claims)
		json_object_set(req->claims, key, value);
}

void sg_connect_req_reject(struct sg_connect_req *req, const char *message, json_t *data)
{
	free(req->reject_message);
	req->reject_message = strdup(message ? message : "connection refused");
	json_decref(req->reject_data);
	req->reject_data = data ? json_incref(data) : NULL;
}

static void req_reject(struct sg_connect_req *req)
{
	struct sg_client *c = req->client;
	json_t *err = json_object();

	json_object_set_new(err, "message", json_string(req->reject_message ? req->reject_message
									   : "connection refused"));
	if (req->reject_data)
		json_object_set(err, "data", req->reject_data);
	c->sio->stats->sockets_rejected++;
	sg_dbg("sio", sg_eio_session_id(c->session), "CONNECT to %s refused: %s", req->nsp_name,
	       req->reject_message ? req->reject_message : "connection refused");
	client_send(c, SG_SIO_CONNECT_ERROR, req->nsp_name, -1, err, NULL, 0);
	json_decref(err);
	req_unlink(req);
	req_free(req);
}

static void req_accept(struct sg_connect_req *req)
{
	struct sg_client *c = req->client;
	struct sg_sio *sio = c->sio;
	struct sg_nsp *nsp = nsp_get(sio, req->nsp_name, 1);
	struct sg_socket *s;
	json_t *reply;

	req_unlink(req);
	if (!nsp) { /* removed by a reload while the chain ran */
		req->client = c;
		sg_connect_req_reject(req, "Invalid namespace", NULL);
		req_reject(req);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->magic = SOCKET_MAGIC;
	random_id(s->id, SG_SOCKET_ID_LEN);
	s->client = c;
	s->nsp = nsp;
	s->auth = json_incref(req->auth);
	s->claims = req->claims ? json_incref(req->claims) : json_object();
	s->client_next = c->sockets;
	c->sockets = s;
	c->n_sockets++;
	s->nsp_next = nsp->sockets;
	if (nsp->sockets)
		nsp->sockets->nsp_prev = s;
	nsp->sockets = s;
	nsp->n_sockets++;
	sg_timer_cancel(&c->t_connect);
	if (sg_socket_join(s, s->id, SG_JOIN_AUTO) < 0)
		goto oom_socket;
	auto_join(s);

	reply = json_pack("{ss}", "sid", s->id);
	client_send(c, SG_SIO_CONNECT, nsp->name, -1, reply, NULL, 0);
	json_decref(reply);
	sio->stats->sockets_connected++;
	sg_dbg("sio", s->id, "joined namespace %s", nsp->name);
	req_free(req);
	if (sio->app.on_connection)
		sio->app.on_connection(sio->app_ud, s);
	return;
oom_socket:
	socket_remove(s, "out of memory");
oom:
	req_free(req);
	client_close(c, "out of memory");
}

/* Runs the chain from req->step until it ends, rejects or waits. */
static void req_continue(struct sg_connect_req *req)
{
	struct sg_client *c = req->client;
	/* The chain of the config the CONNECT arrived under, even if a reload has replaced it
	 * since a step went pending: never the new chain from the old chain's position. */
	const struct sg_nsp_config *cfg = req->nsp_cfg;

	while (req->client) {
		enum sg_mw_result r;

		if (cfg && req->step < cfg->n_middleware) {
			r = sg_mw_run(&cfg->middleware[req->step], req);
			req->step++;
		} else {
			if (req->step == (cfg ? cfg->n_middleware : 0)) {
				req->prog = c->sio->mws;
				req->step++;
			} else if (req->prog) {
				req->prog = req->prog->next;
			}
			while (req->prog && strcmp(req->prog->nsp, req->nsp_name))
				req->prog = req->prog->next;
			if (!req->prog) {
				req_accept(req);
				return;
			}
			r = req->prog->fn(req->prog->ud, req);
		}
		if (r == SG_MW_REJECT) {
			req_reject(req);
			return;
		}
		if (r == SG_MW_PENDING) {
			req->pending = 1;
			return;
		}
	}
}

void sg_connect_req_done(struct sg_connect_req *req, enum sg_mw_result result)
{
	assert(req->magic == REQ_MAGIC && req->pending);
	req->pending = 0;
	if (!req->client) {
		req_free(req); /* the client left while we waited */
		return;
	}
	if (result == SG_MW_REJECT)
		req_reject(req);
	else
		req_continue(req);
}

static void handle_connect(struct sg_client *c, struct sg_sio_packet *p)
{
	struct sg_sio *sio = c->sio;
	struct sg_connect_req *req;
	struct sg_socket *s;
	json_t *err;

	for (s = c->sockets; s; s = s->client_next)
		if (!strcmp(s->nsp->name, p->nsp)) {
			client_close(c, "invalid state: already connected to the namespace");
			return;
		}
	for (req = c->reqs; req; req = req->next)
		if (!strcmp(req->nsp_name, p->nsp)) {
			client_close(c, "invalid state: already connecting to the namespace");
			return;
		}
	if (!nsp_get(sio, p->nsp, 1)) {
		err = json_pack("{ss}", "message", "Invalid namespace");
		client_send(c, SG_SIO_CONNECT_ERROR, p->nsp, -1, err, NULL, 0);
		json_decref(err);
		sio->stats->sockets_rejected++;
		return;
	}
	if (c->n_sockets + c->n_reqs >= sio->cfg->server.max_namespaces_per_client) {
		err = json_pack("{ss}", "message", "Too many namespaces on one connection");
		client_send(c, SG_SIO_CONNECT_ERROR, p->nsp, -1, err, NULL, 0);
		json_decref(err);
		sio->stats->sockets_rejected++;
		return;
	}
	req = calloc(1, sizeof(*req));
	if (!req || !(req->nsp_name = strdup(p->nsp))) {
		free(req);
		client_close(c, "out of memory");
		return;
	}
	req->magic = REQ_MAGIC;
	req->client = c;
	req->cfg = sg_config_ref(sio->cfg);
	req->nsp_cfg = sg_config_find_nsp(req->cfg, req->nsp_name);
	req->auth = p->data ? json_incref(p->data) : json_object();
	req->next = c->reqs;
	c->reqs = req;
	c->n_reqs++;
	req_continue(req);
}

/* ---------------------------------------------------------------- packets from clients */

static void dispatch_event(struct sg_socket *s, struct sg_sio_packet *p)
{
	struct sg_sio *sio = s->client->sio;
	json_t *args;
	const char *event;
	char name[32];
	int handled = 0;

	if (json_is_string(json_array_get(p->data, 0))) {
		event = json_string_value(json_array_get(p->data, 0));
	} else {
		/* Numeric event names are legal; they are handled as their text. */
		struct sg_strbuf sb;
		sg_strbuf_init(&sb);
		sg_json_append(&sb, json_array_get(p->data, 0));
		snprintf(name, sizeof(name), "%s", sb.data ? sb.data : "");
		sg_strbuf_free(&sb);
		event = name;
	}
	args = json_array();
	if (!args)
		return;
	json_array_extend(args, p->data);
	json_array_remove(args, 0);
	if (room_event(s, event, args, p->id)) {
		json_decref(args);
		return;
	}
	if (sio->app.on_event)
		handled = sio->app.on_event(sio->app_ud, s, event, args, p->attachments,
					    p->n_attachments, p->id);
	if (!handled && p->id >= 0 && !s->gone) {
		char msg[96];
		snprintf(msg, sizeof(msg), "no handler for event '%.40s'", event);
		ack_result(s, p->id, msg);
	}
	json_decref(args);
}

static void handle_packet(struct sg_client *c, struct sg_sio_packet *p)
{
	struct sg_socket *s;

	if (p->type == SG_SIO_CONNECT) {
		handle_connect(c, p);
		return;
	}
	for (s = c->sockets; s; s = s->client_next)
		if (!strcmp(s->nsp->name, p->nsp))
			break;
	if (!s) {
		struct sg_connect_req *req;
		/* A DISCONNECT while the CONNECT is still in the middleware cancels it. */
		for (req = c->reqs; req; req = req->next)
			if (p->type == SG_SIO_DISCONNECT && !strcmp(req->nsp_name, p->nsp)) {
				int pending = req->pending;
				req_unlink(req);
				if (!pending)
					req_free(req);
				return;
			}
		client_close(c, "invalid state: packet for a namespace that is not connected");
		return;
	}
	switch (p->type) {
	case SG_SIO_DISCONNECT:
		socket_remove(s, "client namespace disconnect");
		return;
	case SG_SIO_EVENT:
	case SG_SIO_BINARY_EVENT:
		dispatch_event(s, p);
		return;
	case SG_SIO_ACK:
	case SG_SIO_BINARY_ACK: {
		struct pending_ack *a = ack_take(s, p->id);
		if (a)
			ack_fire(a, p->data, p->attachments, p->n_attachments, NULL);
		return;
	}
	case SG_SIO_CONNECT_ERROR:
	case SG_SIO_CONNECT:
		client_close(c, "invalid state: unexpected packet type");
		return;
	}
}

static void on_eio_message(void *ud, struct sg_eio_session *session, const unsigned char *data,
			   size_t len, int binary)
{
	struct sg_client *c = sg_eio_session_user(session);
	char why[128];
	int rc;

	(void)ud;
	if (!c)
		return;
	if (binary) {
		if (!c->has_partial) {
			c->sio->stats->invalid_packets++;
			client_close(c, "parse error: unexpected binary data");
			return;
		}
		rc = sg_sio_add_attachment(&c->partial, data, len);
		if (rc < 0) {
			client_close(c, "parse error: bad attachment");
			return;
		}
		if (rc == 1) {
			struct sg_sio_packet p = c->partial;
			c->has_partial = 0;
			memset(&c->partial, 0, sizeof(c->partial));
			handle_packet(c, &p);
			sg_sio_packet_clear(&p);
		}
		return;
	}
	if (c->has_partial) {
		c->sio->stats->invalid_packets++;
		client_close(c, "parse error: text packet while reconstructing a binary packet");
		return;
	}
	{
		struct sg_sio_packet p;
		if (sg_sio_decode((const char *)data, len, &p, why, sizeof(why))) {
			c->sio->stats->invalid_packets++;
			sg_info("sio", sg_eio_session_id(session), "invalid packet (%s): closing", why);
			client_close(c, "parse error");
			return;
		}
		if (p.n_attachments) {
			c->partial = p;
			c->has_partial = 1;
			return;
		}
		handle_packet(c, &p);
		sg_sio_packet_clear(&p);
	}
}

/* ---------------------------------------------------------------- clients */

static void on_connect_timeout(struct sg_timer *t)
{
	struct sg_client *c = lws_container_of(t, struct sg_client, t_connect);

	if (!c->n_sockets && !c->n_reqs)
		client_close(c, "connect timeout");
}

static int on_eio_open(void *ud, struct sg_eio_session *session)
{
	struct sg_sio *sio = ud;
	struct sg_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	if (sg_timer_set(&sio->timers, sio->ctx, &c->t_connect, sio->cfg->server.connect_timeout_ms,
			 on_connect_timeout)) {
		free(c);
		return -1;
	}
	c->magic = CLIENT_MAGIC;
	c->sio = sio;
	c->session = session;
	c->next = sio->clients;
	if (sio->clients)
		sio->clients->prev = c;
	sio->clients = c;
	sio->n_clients++;
	sg_eio_session_set_user(session, c);
	return 0;
}

/* Detaches a client from its session and frees it (the session is closing or closed). */
static void client_free(struct sg_client *c, const char *reason)
{
	struct sg_sio *sio = c->sio;

	sg_timer_cancel(&c->t_connect);
	while (c->sockets)
		socket_remove(c->sockets, reason);
	while (c->reqs) {
		struct sg_connect_req *req = c->reqs;
		int pending = req->pending;
		req_unlink(req);
		if (!pending)
			req_free(req); /* a pending one is freed by its sg_connect_req_done */
	}
	if (c->has_partial)
		sg_sio_packet_clear(&c->partial);
	if (c->prev)
		c->prev->next = c->next;
	else
		sio->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	sio->n_clients--;
	c->magic = 0;
	free(c);
}

static void on_eio_close(void *ud, struct sg_eio_session *session, const char *reason)
{
	struct sg_client *c = sg_eio_session_user(session);

	(void)ud;
	if (!c)
		return;
	sg_eio_session_set_user(session, NULL);
	c->session = NULL;
	client_free(c, reason);
}

static void client_close(struct sg_client *c, const char *reason)
{
	struct sg_eio_session *session = c->session;

	if (session)
		sg_eio_session_close(session, reason); /* on_eio_close frees c */
	else
		client_free(c, reason);
}
