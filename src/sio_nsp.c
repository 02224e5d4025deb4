/* sio_nsp.c - the Socket.IO namespaces and the sockets in them: created on demand, swept when
 * dynamic and empty, looked up and selected by id and room, counted for /metrics. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "sio_internal.h"
#include "util/clock.h"

#define SOCKET_MAGIC 0x50c4e750u

/* ---------------------------------------------------------------- namespaces */

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

		/* Kept while it holds dropped sockets' sessions, which expire on their own. */
		if (!n->sockets.count && n->cfg && n->cfg->match && !sg_recovery_held(n)) {
			*pp = n->next;
			sg_nsp_free(sio, n);
			continue;
		}
		pp = &n->next;
	}
	sio->sweep_at = sio->n_nsps * 2 > 64 ? sio->n_nsps * 2 : 64;
}

struct sg_nsp *sg_nsp_get(struct sg_sio *sio, const char *name, int create)
{
	const struct sg_nsp_config *cfg;
	struct sg_nsp *n;

	if ((n = sg_hmap_get(&sio->nsp_by_name, name, strlen(name))))
		return n;
	if (!create)
		return NULL;
	cfg = sio->cfg ? sg_config_find_nsp(sio->cfg, name) : NULL;
	/* "/" is always served, and the Admin UI's namespace when it is on; others only when
	 * configured. */
	if (!cfg && strcmp(name, "/") &&
	    !(sio->cfg && sio->cfg->admin_ui.enabled && !strcmp(sio->cfg->admin_ui.nsp, name)))
		return NULL;
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
	n->sio = sio;
	n->cfg = cfg;
	sg_rooms_init(&n->rooms);
	if (sg_recovery_sync(n)) {
		sg_hmap_del(&sio->nsp_by_name, n->name, strlen(n->name));
		free(n->name);
		free(n);
		return NULL;
	}
	n->next = sio->nsps;
	sio->nsps = n;
	sio->n_nsps++;
	return n;
}

void sg_nsp_free(struct sg_sio *sio, struct sg_nsp *n)
{
	sg_hmap_del(&sio->nsp_by_name, n->name, strlen(n->name));
	sio->n_nsps--;
	sg_recovery_free(n);
	sg_rooms_free(&n->rooms);
	free(n->name);
	free(n);
}

struct sg_nsp *sg_sio_find_nsp(struct sg_sio *sio, const char *name)
{
	return sg_nsp_get(sio, name, 0);
}

const char *sg_nsp_name(const struct sg_nsp *nsp) { return nsp->name; }
size_t sg_nsp_socket_count(const struct sg_nsp *nsp) { return nsp->sockets.count; }
size_t sg_nsp_room_count(const struct sg_nsp *nsp) { return sg_rooms_count(&nsp->rooms); }
const struct sg_nsp_config *sg_nsp_config(const struct sg_nsp *nsp) { return nsp->cfg; }

struct sg_socket *sg_nsp_find_socket(struct sg_nsp *nsp, const char *sid)
{
	struct sg_room *r = sg_rooms_get(&nsp->rooms, sid, strlen(sid));
	struct sg_socket *s;

	/* Every socket is alone in a room named by its id (unless a client-chosen room
	 * happens to carry that name: check the id). */
	for (struct sg_membership *m = sg_room_first(r); m; m = sg_room_next(m)) {
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
		for (struct sg_membership *m = sg_room_first(r); m; m = sg_room_next(m))
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
		for (s = sg_nsp_first_socket(nsp); s; s = sg_nsp_next_socket(s))
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
		for (struct sg_membership *m = sg_room_first(r); m; m = sg_room_next(m))
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
				sockets += n->sockets.count;
				/* Not the room every socket has of its own id. */
				rooms += sg_rooms_count(&n->rooms) - n->sockets.count;
			}
		fn(ud, nc ? (nc->name ? nc->name : nc->match) : "/", sockets, rooms);
	}
}

/* ---------------------------------------------------------------- sockets */

const char *sg_socket_id(const struct sg_socket *s) { return s->id; }
struct sg_nsp *sg_socket_nsp(const struct sg_socket *s) { return s->nsp; }
json_t *sg_socket_auth(const struct sg_socket *s) { return s->auth; }
json_t *sg_socket_claims(const struct sg_socket *s) { return s->claims; }
long long sg_socket_connected_at(const struct sg_socket *s) { return s->connected_at; }
int sg_socket_recovered(const struct sg_socket *s) { return s->recovered; }

void sg_socket_foreach_room(const struct sg_socket *s, void (*fn)(void *ud, const char *room), void *ud)
{
	fn(ud, s->id);
	/* The set keeps the most recent first: walk it from the end, in join order. */
	for (struct sg_list_node *n = s->rooms.members.tail; n; n = n->prev) {
		const struct sg_membership *m = sg_list_item(n, struct sg_membership, in_set);

		if (strcmp(m->room->name, s->id))
			fn(ud, m->room->name);
	}
}

void sg_nsp_foreach_room(const struct sg_nsp *nsp, void (*fn)(void *ud, const char *room, size_t n), void *ud)
{
	const struct sg_hmap *m = &nsp->rooms.by_name;

	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].hash) {
			const struct sg_room *r = m->slots[i].val;

			fn(ud, r->name, r->members.count);
		}
}
struct sg_eio_session *sg_socket_session(const struct sg_socket *s) { return s->client->session; }
void sg_socket_set_data(struct sg_socket *s, void *data) { s->data = data; }
void *sg_socket_data(const struct sg_socket *s) { return s->data; }


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

struct sg_socket *sg_socket_new(struct sg_client *c, struct sg_nsp *nsp, json_t *auth, json_t *claims,
				const char *id)
{
	struct sg_socket *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->magic = SOCKET_MAGIC;
	s->id = s->id_buf;
	if (sg_eio_session_protocol(c->session) == 3) {
		/* A v2 client computes its socket's id itself, as the Engine.IO id on "/" and
		 * "<nsp>#<Engine.IO id>" elsewhere (Node does the same for EIO=3). */
		const char *eid = sg_eio_session_id(c->session);
		size_t n = strlen(nsp->name) + strlen(eid) + 2;

		if (!(s->id = malloc(n))) {
			free(s);
			return NULL;
		}
		snprintf(s->id, n, "%s%s%s", strcmp(nsp->name, "/") ? nsp->name : "",
			 strcmp(nsp->name, "/") ? "#" : "", eid);
	} else if (id && strlen(id) == SG_SOCKET_ID_LEN) {
		memcpy(s->id_buf, id, SG_SOCKET_ID_LEN + 1); /* a recovered session's */
	} else {
		random_id(s->id, SG_SOCKET_ID_LEN);
	}
	s->client = c;
	s->nsp = nsp;
	s->auth = json_incref(auth);
	s->claims = json_incref(claims ? claims : c->sio->empty);
	s->connected_at = sg_wall_ms();
	s->client_next = c->sockets;
	c->sockets = s;
	c->n_sockets++;
	sg_list_push_front(&nsp->sockets, &s->in_nsp);
	return s;
}

void sg_socket_remove(struct sg_socket *s, const char *reason)
{
	struct sg_sio *sio = s->client->sio;
	struct sg_client *c = s->client;
	struct sg_nsp *nsp = s->nsp;
	struct sg_socket **pp;

	if (s->gone)
		return;
	s->gone = 1;
	if (sio->obs.on_disconnect)
		sio->obs.on_disconnect(sio->obs_ud, s, reason);
	if (sio->app.on_disconnect)
		sio->app.on_disconnect(sio->app_ud, s, reason);
	sg_recovery_persist(s, reason);
	sg_recovery_detach(s);
	while (s->acks) {
		struct pending_ack *a = s->acks;
		s->acks = a->next;
		sg_ack_fire(a, NULL, NULL, 0, "disconnected");
	}
	sg_rooms_leave_all(&nsp->rooms, &s->rooms);
	sg_list_remove(&nsp->sockets, &s->in_nsp);
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
	if (s->id != s->id_buf)
		free(s->id);
	free(s);
}

void sg_socket_disconnect(struct sg_socket *s, const char *reason)
{
	assert(s->magic == SOCKET_MAGIC);
	if (s->client->session)
		sg_client_send(s->client, SG_SIO_DISCONNECT, s->nsp->name, -1, NULL, NULL, 0);
	sg_socket_remove(s, reason);
}
