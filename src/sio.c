/* sio.c - the base of the Socket.IO layer (sio.h): what it sends, as packets encoded into
 * frames, emits to one socket with their pending acks, and broadcasts encoded once for every
 * recipient (and, in a namespace with recovery, numbered and kept for replay). The other
 * sio_*.c files build on it (see sio_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sio_internal.h"
#include "strbuf.h"

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

int sg_client_send(struct sg_client *c, enum sg_sio_type type, const char *nsp, int64_t id,
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

/* ---------------------------------------------------------------- acks */

void sg_ack_fire(struct pending_ack *a, json_t *args, const struct sg_bin *att, size_t n_att,
		 const char *err)
{
	lws_sul_cancel(&a->sul);
	if (a->fn)
		a->fn(a->ud, a->s, args, att, n_att, err);
	free(a);
}

struct pending_ack *sg_ack_take(struct sg_socket *s, int64_t id)
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

	if (sg_ack_take(a->s, a->id) == a)
		sg_ack_fire(a, NULL, NULL, 0, "timeout");
}

/* ---------------------------------------------------------------- emits */

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
	rc = sg_client_send(s->client, SG_SIO_EVENT, s->nsp->name, id, data, att, n_att);
	if (rc >= 0 && s->client->sio->obs_sent)
		s->client->sio->obs.on_sent(s->client->sio->obs_ud, s, data);
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
	rc = sg_client_send(s->client, SG_SIO_ACK, s->nsp->name, ack_id, args, att, n_att);
	json_decref(empty);
	return rc < 0 ? -1 : 0;
}

long sg_nsp_broadcast(struct sg_nsp *nsp, const struct sg_broadcast *b, const char *event,
		      const json_t *args, const struct sg_bin *att, size_t n_att)
{
	struct sg_buf *stack[8], **frames = stack;
	json_t *data = json_array();
	unsigned long epoch = ++nsp->epoch;
	struct sg_sio *sio = nsp->sio;
	struct sg_stats *stats = NULL;
	char offset[SG_REC_OFFSET_MAX];
	int keep;
	long sent = 0;
	size_t i;

	if (!data)
		return -1;
	json_array_append_new(data, json_string(event));
	for (i = 0; args && i < json_array_size(args); i++)
		json_array_append(data, json_array_get(args, i));
	/* With recovery, the offset rides as the last argument (as Node sends it): the client
	 * hands back the last one it got when it reconnects. */
	if ((keep = sg_recovery_offset(nsp, b->is_volatile, b->position, offset)) &&
	    json_array_append_new(data, json_string(offset))) {
		json_decref(data);
		return -1;
	}
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
	if (keep)
		sg_recovery_keep(nsp, frames, n_att + 1, b);
	/* The last frame: a recipient has the whole message once it is written. */
	sg_buf_track(frames[n_att], b->start, sio->stats);

	for (i = 0; i < b->n_except; i++) {
		struct sg_room *r = sg_rooms_get(&nsp->rooms, b->except[i], strlen(b->except[i]));
		struct sg_membership *m;
		for (m = sg_room_first(r); m; m = sg_room_next(m))
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
		if (t_->rec && t_->rec->holding && !b->replay) {                              \
			sent += sg_recovery_hold(t_, frames, n_att + 1, b->is_volatile);      \
			break;                                                                \
		}                                                                             \
		if (sg_eio_send_many(t_->client->session, frames, n_att + 1, b->is_volatile) == 0) \
			sent++;                                                               \
		if (sio->obs_sent)                                                            \
			sio->obs.on_sent(sio->obs_ud, t_, data);                              \
	} while (0)

	/* A send can close a slow client, which removes its socket from the lists being
	 * walked; so the next element is taken before each delivery. */
	if (!b->n_rooms) {
		struct sg_socket *s = sg_nsp_first_socket(nsp), *next;
		for (; s; s = next) {
			next = sg_nsp_next_socket(s);
			DELIVER(s);
		}
	} else {
		for (i = 0; i < b->n_rooms; i++) {
			struct sg_room *r = sg_rooms_get(&nsp->rooms, b->rooms[i], strlen(b->rooms[i]));
			struct sg_membership *m, *next;
			for (m = sg_room_first(r); m; m = next) {
				next = sg_room_next(m);
				DELIVER((struct sg_socket *)m->member);
			}
		}
	}
#undef DELIVER
	if (stats)
		stats->broadcasts++;
	sg_buf_fanout_end(frames[n_att], (unsigned long)sent);
	frames_unref(frames, n_att + 1);
	if (frames != stack)
		free(frames);
	json_decref(data); /* kept for the observer's on_sent */
	return sent;
}
