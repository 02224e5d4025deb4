/* sio_server.c - the Socket.IO server object and its clients: one per Engine.IO session, whose
 * packets it decodes and hands on (CONNECT to sio_connect.c, events, acks, DISCONNECT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sio_internal.h"
#include "strbuf.h"

#define CLIENT_MAGIC 0xc11e0c11u

static void client_close(struct sg_client *c, const char *reason);

/* ---------------------------------------------------------------- server object */

static int on_eio_open(void *ud, struct sg_eio_session *session);
static void on_eio_message(void *ud, struct sg_eio_session *session, const unsigned char *data,
			   size_t len, int binary);
static void on_eio_close(void *ud, struct sg_eio_session *session, const char *reason);

/* The session now speaks WebSocket: the observer hears it for each of its sockets. */
static void on_eio_upgrade(void *ud, struct sg_eio_session *session)
{
	struct sg_sio *sio = ud;
	struct sg_client *c = sg_eio_session_user(session);

	for (struct sg_socket *s = c ? c->sockets : NULL; s && sio->obs.on_upgrade; s = s->client_next)
		sio->obs.on_upgrade(sio->obs_ud, s);
}

static const struct sg_eio_handlers eio_handlers = {on_eio_open, on_eio_message, on_eio_close, on_eio_upgrade};

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
	if (!(sio->empty = json_object())) {
		free(sio);
		return NULL;
	}
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

void sg_sio_set_observer(struct sg_sio *sio, const struct sg_sio_app *obs, void *ud)
{
	sio->obs = *obs;
	sio->obs_ud = ud;
}

void sg_sio_observe_sent(struct sg_sio *sio, int on)
{
	sio->obs_sent = on && sio->obs.on_sent;
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
			while (n->sockets.head)
				sg_socket_disconnect(sg_nsp_first_socket(n), "namespace removed");
			*pp = n->next;
			sg_nsp_free(sio, n);
			continue;
		}
		n->cfg = nc;
		if (sg_recovery_sync(n))
			sg_warn("sio", NULL, "out of memory: recovery of %s is off until the next reload", n->name);
		pp = &n->next;
	}
}

size_t sg_sio_client_count(const struct sg_sio *sio)
{
	return sio->clients.count;
}

void sg_sio_close_all(struct sg_sio *sio, const char *reason)
{
	/* No DISCONNECT packets: like the reference server's close(), the transports just
	 * close, so that clients reconnect (to this gateway's successor) instead of taking it
	 * as "io server disconnect", which stops them for good. */
	while (sio->clients.head)
		client_close(sg_list_item(sio->clients.head, struct sg_client, in_sio), reason);
}

void sg_sio_release(struct sg_sio *sio)
{
	sg_sio_close_all(sio, "server shutting down");
	/* The sessions those sockets left behind hold timers on the loop. */
	for (struct sg_nsp *n = sio->nsps; n; n = n->next)
		sg_recovery_free(n);
}

void sg_sio_destroy(struct sg_sio *sio)
{
	if (!sio)
		return;
	sg_sio_close_all(sio, "server shutting down");
	while (sio->nsps) {
		struct sg_nsp *n = sio->nsps;
		sio->nsps = n->next;
		sg_nsp_free(sio, n);
	}
	sg_hmap_free(&sio->nsp_by_name);
	sg_sio_free_middleware(sio);
	sg_timers_free(&sio->timers);
	json_decref(sio->empty); /* a plugin may still hold a reference: jansson counts atomically */
	free(sio);
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
	/* The observer first: it sees every event (the Admin UI reports room requests too) and
	 * takes its own. */
	if (sio->obs.on_event &&
	    sio->obs.on_event(sio->obs_ud, s, event, args, p->attachments, p->n_attachments, p->id)) {
		json_decref(args);
		return;
	}
	if (sg_room_event(s, event, args, p->id)) {
		json_decref(args);
		return;
	}
	if (!handled && sio->app.on_event)
		handled = sio->app.on_event(sio->app_ud, s, event, args, p->attachments,
					    p->n_attachments, p->id);
	if (!handled && p->id >= 0 && !s->gone) {
		char msg[96];
		snprintf(msg, sizeof(msg), "no handler for event '%.40s'", event);
		sg_ack_result(s, p->id, msg);
	}
	json_decref(args);
}

static void handle_packet(struct sg_client *c, struct sg_sio_packet *p)
{
	struct sg_socket *s;

	if (p->type == SG_SIO_CONNECT) {
		const char *why = sg_sio_connect(c, p);

		if (why)
			client_close(c, why);
		return;
	}
	for (s = c->sockets; s; s = s->client_next)
		if (!strcmp(s->nsp->name, p->nsp))
			break;
	if (!s) {
		/* A DISCONNECT while the CONNECT is still in the middleware cancels it. */
		if (p->type == SG_SIO_DISCONNECT && sg_sio_connect_cancel(c, p->nsp))
			return;
		client_close(c, "invalid state: packet for a namespace that is not connected");
		return;
	}
	switch (p->type) {
	case SG_SIO_DISCONNECT:
		sg_socket_remove(s, "client namespace disconnect");
		return;
	case SG_SIO_EVENT:
	case SG_SIO_BINARY_EVENT:
		dispatch_event(s, p);
		return;
	case SG_SIO_ACK:
	case SG_SIO_BINARY_ACK: {
		struct pending_ack *a = sg_ack_take(s, p->id);
		if (a)
			sg_ack_fire(a, p->data, p->attachments, p->n_attachments, NULL);
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
		if (sg_eio_session_protocol(session) == 3 && sg_sio_v2_namespace(&p) < 0) {
			sg_sio_packet_clear(&p);
			client_close(c, "out of memory");
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
	sg_list_push_front(&sio->clients, &c->in_sio);
	sg_eio_session_set_user(session, c);
	if (sg_eio_session_protocol(session) == 3) {
		/* A v2 client is in "/" from the start: it never sends that CONNECT, it waits
		 * for the answer (Node's server connects it the same way). */
		struct sg_sio_packet p = { .type = SG_SIO_CONNECT, .nsp = "/", .id = -1 };

		if (sg_sio_connect(c, &p))
			return -1;
	}
	return 0;
}

/* Detaches a client from its session and frees it (the session is closing or closed). */
static void client_free(struct sg_client *c, const char *reason)
{
	struct sg_sio *sio = c->sio;

	sg_timer_cancel(&c->t_connect);
	while (c->sockets)
		sg_socket_remove(c->sockets, reason);
	sg_sio_connect_cancel_all(c); /* a pending one is freed by its sg_connect_req_done */
	if (c->has_partial)
		sg_sio_packet_clear(&c->partial);
	sg_list_remove(&sio->clients, &c->in_sio);
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
