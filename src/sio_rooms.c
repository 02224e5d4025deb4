/* sio_rooms.c - sockets in rooms: joins and leaves with the socket id rule, and the room
 * policy of a namespace (auto_join templates, the client's join/leave events, max_rooms). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sio_internal.h"
#include "strbuf.h"
#include "template.h"

#define JOIN_REFUSED_LOG_INTERVAL_S 10 /* refused joins of socket id rooms: one warning per interval */

/* ---------------------------------------------------------------- membership */

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

	if (rc == 1 && sio->obs.on_join && strcmp(room, s->id))
		sio->obs.on_join(sio->obs_ud, s, room, by);
	if (rc == 1 && sio->app.on_join && strcmp(room, s->id))
		sio->app.on_join(sio->app_ud, s, room, by);
	return rc;
}

int sg_socket_leave(struct sg_socket *s, const char *room, enum sg_join_by by)
{
	struct sg_sio *sio = s->client->sio;
	int rc;

	json_object_del(s->client_rooms, room); /* frees a max_rooms slot if the client chose it */
	rc = sg_rooms_leave(&s->nsp->rooms, &s->rooms, s, room, strlen(room));
	if (rc == 1 && sio->obs.on_leave)
		sio->obs.on_leave(sio->obs_ud, s, room, by);
	if (rc == 1 && sio->app.on_leave)
		sio->app.on_leave(sio->app_ud, s, room, by);
	return rc;
}

int sg_socket_in_room(const struct sg_socket *s, const char *room)
{
	return sg_rooms_has(&s->nsp->rooms, s, room, strlen(room));
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

	if (len == 3 && !memcmp(name, "nsp", 3)) {
		sg_strbuf_append(out, s->nsp->name, strlen(s->nsp->name));
		return 0;
	}
	if (len == 3 && !memcmp(name, "sid", 3)) {
		sg_strbuf_append(out, s->id, strlen(s->id));
		return 0;
	}
	return sg_template_field_append(out, name, len, key, sizeof(key), s->auth, s->claims,
				       sg_eio_session_query_json(s->client->session));
}

void sg_auto_join(struct sg_socket *s)
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

void sg_ack_result(struct sg_socket *s, int64_t ack_id, const char *error)
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

int sg_room_event(struct sg_socket *s, const char *event, json_t *args, int64_t ack_id)
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
		sg_ack_result(s, ack_id, "expected a room name as the first argument");
		return 1;
	}
	if (rp->allow_re && !sg_regex_full_match(rp->allow_re, room)) {
		sg_ack_result(s, ack_id, "room name not allowed");
		return 1;
	}
	if (!strcmp(room, s->id)) {
		sg_ack_result(s, ack_id, "cannot join or leave the socket's own room");
		return 1;
	}
	if (join) {
		int rc;
		/* Whatever `allow` says: another socket's private room would leak its messages. */
		if (room_reserved(s, room)) {
			join_refused(s, room, SG_JOIN_CLIENT);
			sg_ack_result(s, ack_id, "room name not allowed: it has the form of a socket id");
			return 1;
		}
		if (sg_socket_in_room(s, room)) {
			sg_ack_result(s, ack_id, NULL);
			return 1;
		}
		/* Only rooms the client chose count against max_rooms, not auto-joined ones. */
		if (json_object_size(s->client_rooms) >= rp->max_rooms) {
			sg_ack_result(s, ack_id, "too many rooms");
			return 1;
		}
		if (!s->client_rooms)
			s->client_rooms = json_object();
		rc = s->client_rooms ? sg_socket_join(s, room, SG_JOIN_CLIENT) : -1;
		if (rc < 0 || json_object_set_new(s->client_rooms, room, json_true())) {
			if (rc > 0)
				sg_socket_leave(s, room, SG_JOIN_CLIENT);
			sg_ack_result(s, ack_id, "out of memory");
			return 1;
		}
	} else {
		sg_socket_leave(s, room, SG_JOIN_CLIENT);
	}
	sg_ack_result(s, ack_id, NULL);
	return 1;
}
