/* sio_recovery.c - connection state recovery (a namespace's `recovery`), in memory: the
 * packets broadcast in the namespace, kept (their encoded frames, shared with the sends) with
 * the rooms they went to, and the sessions of sockets that dropped, kept by their private id
 * (pid) for max_disconnection_ms. A client that comes back with its pid and the offset of the
 * last packet it got takes its session over: its id, claims and rooms, and every packet of
 * its rooms after that offset, in order. The lowest of the sio files: it calls none of them.
 *
 * Offsets are "<tag>.<n>": the store's random tag (so that an offset of another namespace or
 * process never names a packet here) and the packet's sequence number in base 36. Packets
 * are numbered without gaps and let go oldest first, so "every packet after n is still here"
 * is one comparison: n + 1 >= the oldest kept.
 *
 * With a sessions_topic, a dropped socket's session is also handed to its bridge (the app's
 * rec_save), which keeps it in the broker; a CONNECT whose pid is not known here asks the
 * bridge (rec_find), and the session it returns is "imported": taken over like one of ours,
 * but what it missed comes from the broker (rec_replay), with the socket's new packets held
 * back until that replay is done. Packets from the broker carry their position there after
 * the offset ("~topic/partition/offset"), so that the replay starts right after the last
 * one the client got. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "sio_internal.h"
#include "util/clock.h"

#define FULL_LOG_INTERVAL_S 60 /* "session store full", malformed sessions: one warning per interval */

/* One kept broadcast: its frames and the rooms it went to (n_rooms == 0: every socket). */
struct rec_pkt {
	uint64_t seq;
	long long at;            /* sg_mono_ms() when sent */
	size_t bytes;            /* what it costs against max_bytes */
	size_t n_frames, n_rooms, n_except;
	struct sg_buf **frames;
	char **names;            /* the rooms, then the except rooms */
};

struct sg_rec_session {
	struct sg_recovery *rec;
	char pid[SG_SOCKET_ID_LEN + 1];
	char *sid;
	json_t *claims;
	json_t *client_rooms;    /* the rooms its client chose, or NULL */
	char **rooms;            /* every room, its own id room first, in join order */
	size_t n_rooms;
	uint64_t start_seq;      /* the first packet it could have been sent */
	json_t *persisted;       /* imported: the bridge's session (what to replay) */
	struct sg_timer t_expire;
	struct sg_list_node in_store; /* oldest first */
};

struct sg_recovery {
	struct sg_nsp *nsp;
	struct sg_sio *sio;
	char tag[9];
	struct rec_pkt **ring;   /* the kept packets, oldest at ring[head] */
	size_t cap, head, count, bytes;
	uint64_t next_seq;       /* the number the next packet gets; the oldest is next_seq - count */
	struct sg_hmap by_pid;   /* pids come from clients: SipHash under a per-process key */
	struct sg_list sessions; /* of sg_rec_session.in_store, in the order they dropped */
	time_t full_logged;
	time_t malformed_logged; /* sessions from the broker refused as malformed (import) */
};

static const struct sg_recovery_config *rcfg(const struct sg_recovery *r)
{
	return &r->nsp->cfg->recovery;
}

static struct sg_stats *stats(const struct sg_recovery *r)
{
	return r->sio->stats;
}

static void random_chars(char *out, size_t n)
{
	static const char url64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char rnd[32];
	size_t got = 0;

	while (got < n) {
		ssize_t k = getrandom(rnd + got, n - got, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			abort();
		got += (size_t)k;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = url64[rnd[i] & 63];
	out[n] = '\0';
}

/* ---------------------------------------------------------------- packets */

static void pkt_free(struct rec_pkt *p)
{
	for (size_t i = 0; i < p->n_frames; i++)
		sg_buf_unref(p->frames[i]);
	free(p);
}

static struct rec_pkt *pkt_at(const struct sg_recovery *r, size_t i)
{
	return r->ring[(r->head + i) % r->cap];
}

static void drop_oldest(struct sg_recovery *r)
{
	struct rec_pkt *p = r->ring[r->head];

	r->ring[r->head] = NULL;
	r->head = (r->head + 1) % r->cap;
	r->count--;
	r->bytes -= p->bytes;
	stats(r)->rec_packets--;
	stats(r)->rec_bytes -= p->bytes;
	pkt_free(p);
}

/* Lets go of packets older than any session may need, then of the oldest while over the
 * limits (counted: sessions that needed them will start afresh). */
static void trim(struct sg_recovery *r, size_t room_for)
{
	const struct sg_recovery_config *c = rcfg(r);
	long long old = sg_mono_ms() - (long long)c->max_disconnection_ms;

	while (r->count && pkt_at(r, 0)->at < old)
		drop_oldest(r);
	while (r->count && (r->count + 1 > c->max_packets || r->bytes + room_for > c->max_bytes)) {
		drop_oldest(r);
		stats(r)->rec_packets_dropped++;
	}
}

static int ring_grow(struct sg_recovery *r)
{
	size_t cap = r->cap ? r->cap * 2 : 64;
	struct rec_pkt **ring;

	if (cap > rcfg(r)->max_packets)
		cap = rcfg(r)->max_packets;
	if (cap <= r->cap) /* max_packets went down on a reload: trim() made room */
		return r->count < r->cap ? 0 : -1;
	if (!(ring = calloc(cap, sizeof(*ring))))
		return -1;
	for (size_t i = 0; i < r->count; i++)
		ring[i] = pkt_at(r, i);
	free(r->ring);
	r->ring = ring;
	r->cap = cap;
	r->head = 0;
	return 0;
}

int sg_recovery_offset(struct sg_nsp *nsp, int is_volatile, const char *position,
		       char offset[SG_REC_OFFSET_MAX])
{
	struct sg_recovery *r = nsp->rec;
	char digits[16];
	size_t n = 0;
	uint64_t v;

	if (!r || is_volatile)
		return 0;
	v = r->next_seq;
	do {
		digits[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
		v /= 36;
	} while (v);
	memcpy(offset, r->tag, 8);
	offset[8] = '.';
	for (size_t i = 0; i < n; i++)
		offset[9 + i] = digits[n - 1 - i];
	offset[9 + n] = '\0';
	if (position && strlen(position) <= 300 && !strchr(position, '~')) {
		offset[9 + n] = '~';
		memcpy(offset + 10 + n, position, strlen(position) + 1);
	}
	return 1;
}

/* The sequence number an offset names, or -1 when it is not one of this store's. */
static int parse_offset(const struct sg_recovery *r, const char *offset, uint64_t *seq)
{
	size_t len = strcspn(offset, "~"); /* a broker position may follow */
	uint64_t v = 0;
	const char *p;

	if (strncmp(offset, r->tag, 8) || offset[8] != '.' || len == 9 || len > 9 + 13)
		return -1;
	for (p = offset + 9; p < offset + len; p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'z' ? *p - 'a' + 10 : -1;

		if (d < 0)
			return -1;
		v = v * 36 + (uint64_t)d;
	}
	*seq = v;
	return 0;
}

void sg_recovery_keep(struct sg_nsp *nsp, struct sg_buf *const *frames, size_t n_frames,
		      const struct sg_broadcast *b)
{
	struct sg_recovery *r = nsp->rec;
	size_t n_names = b->n_rooms + b->n_except + (b->except_socket != NULL), strbytes = 0, i, k = 0;
	size_t bytes = 0;
	struct rec_pkt *p;
	char *at;

	if (!r)
		return;
	r->next_seq++; /* numbered even when it cannot be kept: the gap makes older offsets stale */
	for (i = 0; i < b->n_rooms; i++)
		strbytes += strlen(b->rooms[i]) + 1;
	for (i = 0; i < b->n_except; i++)
		strbytes += strlen(b->except[i]) + 1;
	if (b->except_socket)
		strbytes += strlen(b->except_socket->id) + 1;
	for (i = 0; i < n_frames; i++)
		bytes += frames[i]->len;
	bytes += sizeof(*p) + n_frames * sizeof(*frames) + n_names * sizeof(char *) + strbytes;
	trim(r, bytes);
	if (bytes > rcfg(r)->max_bytes || (r->count == r->cap && ring_grow(r)) ||
	    !(p = malloc(sizeof(*p) + n_frames * sizeof(*frames) + n_names * sizeof(char *) + strbytes))) {
		/* Not kept: every session that would need it must start afresh, which the gap in
		 * the numbering ensures (it has no packet to stand for it). */
		while (r->count)
			drop_oldest(r);
		stats(r)->rec_packets_dropped++;
		return;
	}
	p->seq = r->next_seq - 1;
	p->at = sg_mono_ms();
	p->bytes = bytes;
	p->n_frames = n_frames;
	p->n_rooms = b->n_rooms;
	p->n_except = b->n_except + (b->except_socket != NULL);
	p->frames = (struct sg_buf **)(p + 1);
	p->names = (char **)(p->frames + n_frames);
	at = (char *)(p->names + n_names);
	for (i = 0; i < n_frames; i++)
		p->frames[i] = sg_buf_ref(frames[i]);
#define ADD_NAME(s)                                   \
	do {                                          \
		size_t l_ = strlen(s) + 1;            \
		memcpy(at, (s), l_);                  \
		p->names[k++] = at;                   \
		at += l_;                             \
	} while (0)
	for (i = 0; i < b->n_rooms; i++)
		ADD_NAME(b->rooms[i]);
	for (i = 0; i < b->n_except; i++)
		ADD_NAME(b->except[i]);
	if (b->except_socket)
		ADD_NAME(b->except_socket->id);
#undef ADD_NAME
	r->ring[(r->head + r->count) % r->cap] = p;
	r->count++;
	r->bytes += bytes;
	stats(r)->rec_packets++;
	stats(r)->rec_bytes += bytes;
}

/* ---------------------------------------------------------------- sessions */

/* Frees a session that is in no list, map or timer (or never was). */
static void session_discard(struct sg_rec_session *rs)
{
	for (size_t i = 0; i < rs->n_rooms; i++)
		free(rs->rooms[i]);
	free(rs->rooms);
	free(rs->sid);
	json_decref(rs->claims);
	json_decref(rs->client_rooms);
	json_decref(rs->persisted);
	free(rs);
}

static void session_free(struct sg_rec_session *rs)
{
	struct sg_recovery *r = rs->rec;

	sg_timer_cancel(&rs->t_expire);
	sg_hmap_del(&r->by_pid, rs->pid, strlen(rs->pid));
	sg_list_remove(&r->sessions, &rs->in_store);
	stats(r)->rec_sessions--;
	session_discard(rs);
}

static int in_broker(const struct sg_recovery *r)
{
	return rcfg(r)->sessions_topic != NULL;
}

static void on_expire(struct sg_timer *t)
{
	struct sg_rec_session *rs = lws_container_of(t, struct sg_rec_session, t_expire);

	stats(rs->rec)->rec_expired++;
	sg_dbg("sio", rs->sid, "recovery session in %s expired", rs->rec->nsp->name);
	session_free(rs);
}

static int recoverable(const char *reason)
{
	static const char *const reasons[] = {"transport close", "transport error", "ping timeout",
					      "server shutting down", "forced close", "forced server close", NULL};

	for (size_t i = 0; reasons[i]; i++)
		if (!strcmp(reason, reasons[i]))
			return 1;
	return 0;
}

static int add_room(struct sg_rec_session *rs, const char *room)
{
	char **v = realloc(rs->rooms, (rs->n_rooms + 1) * sizeof(*v));

	if (!v)
		return -1;
	rs->rooms = v;
	if (!(v[rs->n_rooms] = strdup(room)))
		return -1;
	rs->n_rooms++;
	return 0;
}

/* Calls fn for every room of `s` but its own id room, in join order (the set keeps the most
 * recent first: walked from its end); stops at the first non-zero return, which it returns. */
static int each_other_room(const struct sg_socket *s, int (*fn)(void *ud, const char *room), void *ud)
{
	for (struct sg_list_node *n = s->rooms.members.tail; n; n = n->prev) {
		const struct sg_membership *m = sg_list_item(n, struct sg_membership, in_set);
		int rc;

		if (strcmp(m->room->name, s->id) && (rc = fn(ud, m->room->name)))
			return rc;
	}
	return 0;
}

static int add_room_cb(void *ud, const char *room)
{
	return add_room(ud, room);
}

static int append_room_cb(void *ud, const char *room)
{
	json_array_append_new(ud, json_string(room));
	return 0;
}

/* Hands a session to the bridge, which keeps it in the broker for another process. `rooms`
 * (an array, stolen) lists every room, the socket's own id room first. */
static void save(struct sg_recovery *r, const char *pid, const char *sid, json_t *rooms, json_t *claims,
		 json_t *client_rooms)
{
	long long now = sg_wall_ms();
	json_t *v;

	if (!r->sio->app.rec_save) {
		json_decref(rooms);
		return;
	}
	v = json_pack("{si s:s s:s s:s s:o s:O s:O s:I s:I}", "v", 1, "namespace", r->nsp->name, "pid", pid,
		      "sid", sid, "rooms", rooms ? rooms : json_array(), "claims", claims ? claims : json_null(),
		      "client_rooms", client_rooms ? client_rooms : json_null(),
		      "time", (json_int_t)now, "expires", (json_int_t)(now + rcfg(r)->max_disconnection_ms));
	if (!v) {
		sg_warn("sio", sid, "its recovery session in %s cannot be kept in the broker (out of memory "
			"or not UTF-8)", r->nsp->name);
		return;
	}
	if (!r->sio->app.rec_save(r->sio->app_ud, r->nsp, v))
		stats(r)->rec_persisted++;
	json_decref(v);
}

void sg_nsp_save_sessions(struct sg_nsp *nsp)
{
	struct sg_recovery *r = nsp->rec;

	if (!r || !in_broker(r))
		return;
	for (struct sg_list_node *n = nsp->sockets.head; n; n = n->next) {
		struct sg_socket *s = sg_list_item(n, struct sg_socket, in_nsp);
		json_t *rooms;

		if (!s->rec || s->gone || !(rooms = json_array()))
			continue;
		/* Its own id room first, then the others, as a dropped session lists them. */
		json_array_append_new(rooms, json_string(s->id));
		each_other_room(s, append_room_cb, rooms);
		save(r, s->rec->pid, s->id, rooms, s->claims, s->client_rooms);
	}
}

void sg_recovery_persist(struct sg_socket *s, const char *reason)
{
	struct sg_recovery *r = s->nsp->rec;
	struct sg_rec_session *rs;

	if (!r || !s->rec || !recoverable(reason))
		return;
	if (r->sessions.count >= rcfg(r)->max_sessions) {
		time_t now = time(NULL);

		if (now - r->full_logged >= FULL_LOG_INTERVAL_S) {
			r->full_logged = now;
			sg_warn("sio", NULL, "recovery sessions of %s: max_sessions (%zu) reached, the oldest "
				"are let go", r->nsp->name, rcfg(r)->max_sessions);
		}
		while (r->sessions.count >= rcfg(r)->max_sessions) {
			stats(r)->rec_expired++;
			session_free(sg_list_item(r->sessions.head, struct sg_rec_session, in_store));
		}
	}
	if (!(rs = calloc(1, sizeof(*rs))))
		goto oom;
	rs->rec = r;
	memcpy(rs->pid, s->rec->pid, sizeof(rs->pid));
	rs->start_seq = s->rec->start_seq;
	if (!(rs->sid = strdup(s->id)) || add_room(rs, s->id))
		goto oom_rs;
	if (each_other_room(s, add_room_cb, rs))
		goto oom_rs;
	rs->claims = json_incref(s->claims);
	rs->client_rooms = json_incref(s->client_rooms);
	if (sg_hmap_put(&r->by_pid, rs->pid, strlen(rs->pid), rs))
		goto oom_rs;
	sg_list_push_back(&r->sessions, &rs->in_store);
	stats(r)->rec_sessions++;
	if (sg_timer_set(&r->sio->timers, r->sio->ctx, &rs->t_expire, rcfg(r)->max_disconnection_ms, on_expire)) {
		session_free(rs);
		goto oom;
	}
	stats(r)->rec_kept++;
	if (in_broker(r)) {
		json_t *rooms = json_array();

		for (size_t i = 0; rooms && i < rs->n_rooms; i++)
			json_array_append_new(rooms, json_string(rs->rooms[i]));
		save(r, rs->pid, rs->sid, rooms, rs->claims, rs->client_rooms);
	}
	return;
oom_rs:
	session_discard(rs);
oom:
	sg_warn("sio", s->id, "out of memory: its recovery session in %s is not kept", r->nsp->name);
}

/* Whether packet p went to a member of `rs`'s rooms (and not to one it was excluded from). */
static int pkt_for(const struct rec_pkt *p, const struct sg_rec_session *rs)
{
	int in = p->n_rooms == 0;

	for (size_t i = 0; !in && i < p->n_rooms; i++)
		for (size_t j = 0; !in && j < rs->n_rooms; j++)
			in = !strcmp(p->names[i], rs->rooms[j]);
	for (size_t i = 0; in && i < p->n_except; i++)
		for (size_t j = 0; in && j < rs->n_rooms; j++)
			in = strcmp(p->names[p->n_rooms + i], rs->rooms[j]) != 0;
	return in;
}

/* The number of the first packet to replay after `offset` (NULL: the session's start), or
 * -1 when a packet after it is no longer kept (or the offset is not one of ours). */
static int replay_from(const struct sg_recovery *r, const struct sg_rec_session *rs, const char *offset,
		       uint64_t *from)
{
	uint64_t oldest = r->next_seq - r->count, seq;

	if (rs->persisted) { /* another process's: what it missed comes from the broker */
		*from = r->next_seq;
		return 0;
	}
	if (offset) {
		if (parse_offset(r, offset, &seq) || seq >= r->next_seq)
			return -1;
		seq++;
	} else {
		seq = rs->start_seq;
	}
	if (seq < oldest)
		return -1;
	*from = seq;
	return 0;
}

/* The session the bridge kept in the broker for `pid`, taken in as one of ours (to be
 * recovered now, or expired when its time is up), or NULL. */
static struct sg_rec_session *import(struct sg_recovery *r, const char *pid)
{
	json_t *v = r->sio->app.rec_find(r->sio->app_ud, r->nsp, pid), *rooms, *room;
	const char *sid = json_string_value(json_object_get(v, "sid"));
	json_t *claims = json_object_get(v, "claims"), *chosen = json_object_get(v, "client_rooms");
	json_int_t expires = json_integer_value(json_object_get(v, "expires"));
	long long left = (long long)expires - sg_wall_ms();
	struct sg_rec_session *rs;
	size_t i;

	rooms = json_object_get(v, "rooms");
	if (!v)
		return NULL;
	if (!sid || strlen(sid) != SG_SOCKET_ID_LEN || !json_is_array(rooms) || strlen(pid) != SG_SOCKET_ID_LEN ||
	    !json_is_integer(json_object_get(v, "expires")) ||
	    (claims && !json_is_object(claims) && !json_is_null(claims)) ||
	    (chosen && !json_is_object(chosen) && !json_is_null(chosen))) {
		time_t now = time(NULL);

		/* Written by something else than a gateway, or damaged: counted, warned at most
		 * once per interval; the client gets a fresh session. */
		stats(r)->rec_malformed++;
		if (now - r->malformed_logged >= FULL_LOG_INTERVAL_S) {
			r->malformed_logged = now;
			sg_warn("sio", NULL, "namespace %s: a recovery session from the broker is malformed (sid, "
				"rooms, claims or client_rooms): a fresh session instead; %llu so far", r->nsp->name,
				(unsigned long long)stats(r)->rec_malformed);
		}
		json_decref(v);
		return NULL;
	}
	if (left <= 0) { /* expired, its tombstone not yet read: a fresh session, as Node does */
		json_decref(v);
		return NULL;
	}
	if (left > (long long)rcfg(r)->max_disconnection_ms)
		left = rcfg(r)->max_disconnection_ms;
	if (!(rs = calloc(1, sizeof(*rs))))
		goto oom;
	rs->rec = r;
	memcpy(rs->pid, pid, SG_SOCKET_ID_LEN + 1);
	rs->persisted = v;
	rs->start_seq = r->next_seq;
	if (!(rs->sid = strdup(sid)) || add_room(rs, sid))
		goto oom_rs;
	json_array_foreach(rooms, i, room)
		if (json_is_string(room) && strcmp(json_string_value(room), sid) && add_room(rs, json_string_value(room)))
			goto oom_rs;
	rs->claims = json_is_object(claims) ? json_incref(claims) : json_object();
	rs->client_rooms = json_is_object(chosen) ? json_deep_copy(chosen) : NULL;
	if (!rs->claims || sg_hmap_put(&r->by_pid, rs->pid, strlen(rs->pid), rs))
		goto oom_rs;
	sg_list_push_back(&r->sessions, &rs->in_store);
	stats(r)->rec_sessions++;
	if (sg_timer_set(&r->sio->timers, r->sio->ctx, &rs->t_expire, (unsigned)left, on_expire)) {
		session_free(rs);
		return NULL;
	}
	stats(r)->rec_restored++;
	return rs;
oom_rs:
	session_discard(rs); /* and v, its persisted */
	v = NULL;
oom:
	json_decref(v);
	sg_warn("sio", NULL, "out of memory: a session of %s from the broker is not recovered", r->nsp->name);
	return NULL;
}

const struct sg_rec_session *sg_recovery_find(struct sg_nsp *nsp, const char *pid, const char *offset)
{
	struct sg_recovery *r = nsp->rec;
	struct sg_rec_session *rs;
	uint64_t from;

	if (!r || !pid)
		return NULL;
	if (!(rs = sg_hmap_get(&r->by_pid, pid, strlen(pid)))) {
		/* The bridge is asked for a pid that looks like one: a forged one costs a lookup. */
		if (!in_broker(r) || !r->sio->app.rec_find || r->sessions.count >= rcfg(r)->max_sessions ||
		    !(rs = import(r, pid)))
			return NULL;
	}
	return replay_from(r, rs, offset, &from) ? NULL : rs;
}

void sg_recovery_missed(struct sg_nsp *nsp)
{
	if (nsp->rec)
		stats(nsp->rec)->rec_missed++;
}

const char *sg_rec_session_sid(const struct sg_rec_session *rs) { return rs->sid; }
json_t *sg_rec_session_claims(const struct sg_rec_session *rs) { return rs->claims; }
json_t *sg_rec_session_client_rooms(const struct sg_rec_session *rs) { return rs->client_rooms; }

void sg_rec_session_foreach_room(const struct sg_rec_session *rs, void (*fn)(void *ud, const char *room),
				 void *ud)
{
	for (size_t i = 0; i < rs->n_rooms; i++)
		fn(ud, rs->rooms[i]);
}

void sg_recovery_replay(struct sg_socket *s, const struct sg_rec_session *crs, const char *offset)
{
	struct sg_rec_session *rs = (struct sg_rec_session *)crs;
	struct sg_recovery *r = rs->rec;
	uint64_t from, sent = 0;

	if (!replay_from(r, rs, offset, &from) && s->client->session) {
		uint64_t oldest = r->next_seq - r->count;

		for (size_t i = (size_t)(from - oldest); i < r->count; i++) {
			const struct rec_pkt *p = pkt_at(r, i);

			if (!pkt_for(p, rs))
				continue;
			if (sg_eio_send_many(s->client->session, p->frames, p->n_frames, 0) < 0)
				break; /* its queue overflowed: the session is being closed */
			sent++;
		}
	}
	stats(r)->rec_recovered++;
	stats(r)->rec_replayed += sent;
	sg_dbg("sio", s->id, "recovered in %s: %llu packets replayed%s", r->nsp->name, (unsigned long long)sent,
	       rs->persisted ? "; the rest comes from the broker" : "");
	/* Another process's session: the broker has what it missed. New packets wait behind
	 * that replay (set first: the bridge may end it at once). */
	if (rs->persisted && s->rec && s->client->session && r->sio->app.rec_replay) {
		s->rec->holding = 1;
		if (r->sio->app.rec_replay(r->sio->app_ud, s, rs->persisted, offset))
			sg_socket_replay_done(s);
	}
	/* Taken: no other process may take it too. */
	if (in_broker(r) && r->sio->app.rec_drop)
		r->sio->app.rec_drop(r->sio->app_ud, r->nsp, rs->pid);
	session_free(rs);
}

/* ---------------------------------------------------------------- packets held back */

struct sg_rec_held {
	struct sg_rec_held *next;
	int is_volatile;
	size_t n_frames;
	struct sg_buf *frames[];
};

int sg_recovery_hold(struct sg_socket *s, struct sg_buf *const *frames, size_t n_frames, int is_volatile)
{
	struct sg_rec_ident *id = s->rec;
	struct sg_rec_held *h;
	size_t bytes = 0;

	if (!id || !id->holding)
		return 0;
	if (is_volatile)
		return 1; /* may be dropped for a slow client: this one is not reading yet */
	for (size_t i = 0; i < n_frames; i++)
		bytes += frames[i]->len;
	if (id->held_bytes + bytes > rcfg(s->nsp->rec)->max_bytes ||
	    !(h = malloc(sizeof(*h) + n_frames * sizeof(h->frames[0])))) {
		/* Too much waits behind a replay that does not end: the client starts over. */
		s->client->sio->stats->rec_held_over++;
		sg_warn("sio", s->id, "more than max_bytes waited behind its replay from the broker: closed");
		id->holding = 0;
		if (s->client->session)
			sg_eio_session_close(s->client->session, "recovery replay overflow");
		return 1;
	}
	h->next = NULL;
	h->is_volatile = is_volatile;
	h->n_frames = n_frames;
	for (size_t i = 0; i < n_frames; i++)
		h->frames[i] = sg_buf_ref(frames[i]);
	if (!id->held)
		id->held_tail = &id->held;
	*id->held_tail = h;
	id->held_tail = &h->next;
	id->held_bytes += bytes;
	return 1;
}

/* Frees what is held back; sends it first when the socket can still take it. */
static void release(struct sg_socket *s, int send)
{
	struct sg_rec_ident *id = s->rec;
	struct sg_rec_held *h;

	id->holding = 0;
	while ((h = id->held)) {
		id->held = h->next;
		if (send && s->client->session && !s->gone &&
		    sg_eio_send_many(s->client->session, h->frames, h->n_frames, h->is_volatile) < 0)
			send = 0; /* its queue overflowed: the session is being closed */
		for (size_t i = 0; i < h->n_frames; i++)
			sg_buf_unref(h->frames[i]);
		free(h);
	}
	id->held_tail = &id->held;
	id->held_bytes = 0;
}

void sg_socket_replay_done(struct sg_socket *s)
{
	if (s->rec && s->rec->holding)
		release(s, 1);
}

/* ---------------------------------------------------------------- sockets */

int sg_recovery_attach(struct sg_socket *s, const struct sg_rec_session *from)
{
	struct sg_recovery *r = s->nsp->rec;

	if (!r || sg_eio_session_protocol(s->client->session) == 3)
		return 0;
	if (!(s->rec = calloc(1, sizeof(*s->rec))))
		return -1;
	s->rec->held_tail = &s->rec->held;
	/* A recovered socket keeps its pid; what came before now is replayed to it right away,
	 * so a later drop without an offset replays from here, not from its first start. */
	if (from)
		memcpy(s->rec->pid, from->pid, sizeof(s->rec->pid));
	else
		random_chars(s->rec->pid, SG_SOCKET_ID_LEN);
	s->rec->start_seq = r->next_seq;
	return 0;
}

void sg_recovery_detach(struct sg_socket *s)
{
	if (s->rec)
		release(s, 0);
	free(s->rec);
	s->rec = NULL;
}

/* ---------------------------------------------------------------- the store */

static void store_free(struct sg_recovery *r)
{
	while (r->sessions.head)
		session_free(sg_list_item(r->sessions.head, struct sg_rec_session, in_store));
	while (r->count)
		drop_oldest(r);
	free(r->ring);
	sg_hmap_free(&r->by_pid);
	free(r);
}

int sg_recovery_sync(struct sg_nsp *nsp)
{
	int on = nsp->cfg && nsp->cfg->recovery.enabled;
	struct sg_recovery *r = nsp->rec;

	if (!on) {
		if (r) {
			nsp->rec = NULL;
			store_free(r);
		}
		return 0;
	}
	if (r) { /* a reload: the new limits apply from now */
		trim(r, 0);
		while (r->sessions.count > rcfg(r)->max_sessions) {
			stats(r)->rec_expired++;
			session_free(sg_list_item(r->sessions.head, struct sg_rec_session, in_store));
		}
		return 0;
	}
	if (!(r = calloc(1, sizeof(*r))))
		return -1;
	r->nsp = nsp;
	r->sio = nsp->sio;
	random_chars(r->tag, 8);
	sg_hmap_init(&r->by_pid);
	nsp->rec = r;
	return 0;
}

void sg_recovery_free(struct sg_nsp *nsp)
{
	if (nsp->rec)
		store_free(nsp->rec);
	nsp->rec = NULL;
}

size_t sg_recovery_held(const struct sg_nsp *nsp)
{
	return nsp->rec ? nsp->rec->sessions.count : 0;
}
