/* admin_ui.c - the official Socket.IO Admin UI (@socket.io/admin-ui 0.5) against siogate.
 *
 * The UI connects to the admin namespace, whose login step is admin_ui_login.c's (bcrypt off
 * the loop, throttled per address). Once in, the UI gets its session id (after
 * the CONNECT answer, so that it keeps it across a reload), `config` (the features this
 * mode offers), and `server_stats` every stats_interval_ms: this replica's id, host, pid,
 * uptime, clients, namespaces and what happened since the last one. Its operations (join,
 * leave, _disconnect, emit) act on this replica's sockets as the control commands do, unless
 * read_only; the room rules hold (no joining another socket's id room), and the admin
 * namespace itself is never a target. The admin namespace is not in server_stats.
 *
 * In development mode the UI also gets every socket (all_sockets when it connects, then
 * socket_connected, socket_disconnected, room_joined, room_left) and every event received
 * from or sent to a socket, bridges' deliveries included: event_sent is one record per
 * recipient, as the official server sends it. These go to the UI's sockets as volatile
 * packets, so that a UI that cannot keep up loses some (counted with the other volatile
 * drops), never slows the clients. Secret request headers (authorization, cookie) are
 * masked; the admin namespace's own sockets are never listed. */
#include "admin_ui.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "admin_ui_login.h"
#include "connect_req.h"
#include "eio.h"
#include "log.h"
#include "sio.h"
#include "stats.h"
#include "util/clock.h"
#include "util/reserved.h"

struct sg_admin_ui {
	lws_sorted_usec_list_t sul;   /* server_stats (first: the callback gets its address) */
	struct sg_sio *sio;
	struct lws_context *ctx;
	struct sg_stats *stats;
	const struct sg_config *cfg;
	char *step_nsp;               /* the namespace the login step was added for */
	struct sg_ui_login *login;    /* admin_ui_login.c */
	long long started;            /* sg_mono_ms() at creation: the uptime */
	uint64_t last[6];             /* the counters at the previous server_stats */
	size_t n_admins;              /* the UI's sockets connected now */
};

static const struct sg_admin_ui_config *acfg(const struct sg_admin_ui *a)
{
	return a->cfg && a->cfg->admin_ui.enabled ? &a->cfg->admin_ui : NULL;
}

/* ---------------------------------------------------------------- what the UI gets */

static void emit_to(struct sg_socket *s, const char *event, json_t *args /* stolen */)
{
	if (args)
		sg_socket_emit(s, event, args, NULL, 0, NULL, NULL, 0);
	json_decref(args);
}

static json_t *features(const struct sg_admin_ui_config *c)
{
	json_t *f = json_array();

	if (!c->read_only) {
		static const char *const ops[] = {"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"};

		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			json_array_append_new(f, json_string(ops[i]));
	}
	json_array_append_new(f, json_string("AGGREGATED_EVENTS"));
	if (c->mode == SG_ADMIN_UI_DEVELOPMENT)
		json_array_append_new(f, json_string("ALL_EVENTS"));
	return f;
}

/* ---- development mode: every socket and every event */

static int is_admin(const struct sg_admin_ui_config *c, const struct sg_socket *s)
{
	return !strcmp(sg_nsp_name(sg_socket_nsp(s)), c->nsp);
}

/* Whether the UI is shown sockets and events now: development mode and a UI connected. */
static const struct sg_admin_ui_config *live(const struct sg_admin_ui *a)
{
	const struct sg_admin_ui_config *c = acfg(a);

	return c && c->mode == SG_ADMIN_UI_DEVELOPMENT && a->n_admins ? c : NULL;
}

/* "2026-12-06T04:14:33.041Z", as a JavaScript Date is sent. */
static json_t *iso_now(void)
{
	long long ms = sg_wall_ms();
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[80];

	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(buf);
}

/* To every UI socket, volatile: dropped for a UI that does not keep up. */
static void to_ui(struct sg_admin_ui *a, const char *event, json_t *args /* stolen */)
{
	const struct sg_admin_ui_config *c = acfg(a);
	struct sg_nsp *admin = c ? sg_sio_find_nsp(a->sio, c->nsp) : NULL;

	if (admin && args) {
		struct sg_broadcast bc;

		memset(&bc, 0, sizeof(bc));
		bc.is_volatile = 1;
		sg_nsp_broadcast(admin, &bc, event, args, NULL, 0);
	}
	json_decref(args);
}

static int secret_header(const char *name)
{
	return !strcmp(name, "authorization") || !strcmp(name, "proxy-authorization") || !strcmp(name, "cookie") ||
	       !strcmp(name, "x-api-key");
}

static void room_to(void *ud, const char *room)
{
	json_array_append_new(ud, json_string(room));
}

/* A socket as the UI lists it (the official server's serialize()). */
static json_t *serialize(struct sg_socket *s)
{
	struct sg_eio_session *es = sg_socket_session(s);
	json_t *headers = json_object(), *kept = es ? sg_eio_session_headers_new(es) : NULL, *v, *rooms = json_array();
	json_t *query = es ? sg_eio_session_query_new(es) : NULL;
	const char *id = es ? sg_eio_session_id(es) : "", *key;
	long long at = sg_socket_connected_at(s);
	char client[13], when[64] = "";
	time_t t = (time_t)(at / 1000);
	struct tm tm;

	json_object_foreach(kept, key, v)
		json_object_set_new(headers, key, secret_header(key) ? json_string("[redacted]") : json_incref(v));
	json_decref(kept);
	snprintf(client, sizeof(client), "%s", id);
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
	sg_socket_foreach_room(s, room_to, rooms);
	return json_pack("{ss ss ss ss s{} s{ss so so sI ss ss sb sb} so}", "id", sg_socket_id(s), "clientId", client,
			 "transport", es && sg_eio_session_transport(es) == SG_EIO_WEBSOCKET ? "websocket" : "polling",
			 "nsp", sg_nsp_name(sg_socket_nsp(s)), "data",
			 "handshake", "address", es && sg_eio_session_remote(es) ? sg_eio_session_remote(es) : "",
			 "headers", headers, "query", query ? query : json_object(), "issued", (json_int_t)at,
			 "time", when, "url", "/socket.io/", "secure", 0, "xdomain",
			 es && sg_eio_session_header(es, "origin") != NULL, "rooms", rooms);
}

struct all_ctx {
	json_t *list;
	const char *admin;
};

static void add_sockets(void *ud, struct sg_nsp *nsp)
{
	struct all_ctx *x = ud;
	struct sg_socket **ss;
	size_t n = 0;

	if (!strcmp(sg_nsp_name(nsp), x->admin) || !(ss = sg_nsp_select(nsp, NULL, 0, NULL, 0, NULL, 0, &n)))
		return;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(x->list, serialize(ss[i]));
	free(ss);
}

static void all_sockets(struct sg_admin_ui *a, struct sg_socket *to)
{
	struct all_ctx x = {json_array(), acfg(a)->nsp};
	struct sg_nsp *root = sg_sio_find_nsp(a->sio, "/");

	for (size_t i = 0; i < a->cfg->n_namespaces; i++)
		sg_sio_foreach_nsp(a->sio, &a->cfg->namespaces[i], add_sockets, &x);
	if (root && !sg_config_find_nsp(a->cfg, "/"))
		add_sockets(&x, root);
	emit_to(to, "all_sockets", json_pack("[o]", x.list));
}

static void admins_changed(struct sg_admin_ui *a, long delta)
{
	a->n_admins = (size_t)((long)a->n_admins + delta);
	sg_sio_observe_sent(a->sio, live(a) != NULL);
}

void sg_admin_ui_on_connection(void *ud, struct sg_socket *s)
{
	struct sg_admin_ui *a = ud;
	const struct sg_admin_ui_config *c = acfg(a);
	json_t *session;

	if (!c)
		return;
	if (!is_admin(c, s)) {
		if (live(a))
			to_ui(a, "socket_connected", json_pack("[oo]", serialize(s), iso_now()));
		return;
	}
	admins_changed(a, 1);
	/* After the CONNECT answer: a client drops events that come before it, and the UI
	 * keeps the session (and so survives a reload) only if it gets it. */
	if ((session = json_object_get(sg_socket_claims(s), SG_UI_SESSION_CLAIM)))
		emit_to(s, "session", json_pack("[O]", session));
	emit_to(s, "config", json_pack("[{so}]", "supportedFeatures", features(c)));
	if (c->mode == SG_ADMIN_UI_DEVELOPMENT)
		all_sockets(a, s);
}

static void room_left_each(void *ud, const char *room)
{
	json_t **x = ud; /* [ui, nsp, sid] */

	to_ui((struct sg_admin_ui *)x[0], "room_left", json_pack("[OsOo]", x[1], room, x[2], iso_now()));
}

static void on_disconnect(void *ud, struct sg_socket *s, const char *reason)
{
	struct sg_admin_ui *a = ud;
	const struct sg_admin_ui_config *c = acfg(a);
	json_t *x[3];

	if (!c)
		return;
	if (is_admin(c, s)) {
		admins_changed(a, -1);
		return;
	}
	if (!live(a))
		return;
	to_ui(a, "socket_disconnected", json_pack("[ssso]", sg_nsp_name(sg_socket_nsp(s)), sg_socket_id(s), reason,
						   iso_now()));
	/* Then every room it leaves, its own id room included: the UI's rooms view needs them. */
	x[0] = (json_t *)a;
	x[1] = json_string(sg_nsp_name(sg_socket_nsp(s)));
	x[2] = json_string(sg_socket_id(s));
	sg_socket_foreach_room(s, room_left_each, x);
	json_decref(x[1]);
	json_decref(x[2]);
}

static void on_room(void *ud, struct sg_socket *s, const char *room, const char *event)
{
	struct sg_admin_ui *a = ud;
	const struct sg_admin_ui_config *c = live(a);

	if (c && !is_admin(c, s))
		to_ui(a, event, json_pack("[ssso]", sg_nsp_name(sg_socket_nsp(s)), room, sg_socket_id(s), iso_now()));
}

static void on_join(void *ud, struct sg_socket *s, const char *room, int by)
{
	/* A join by policy happens before the connection is reported, whose rooms list it. */
	if (by != SG_JOIN_AUTO)
		on_room(ud, s, room, "room_joined");
}

static void on_leave(void *ud, struct sg_socket *s, const char *room, int by)
{
	(void)by;
	on_room(ud, s, room, "room_left");
}

static void on_sent(void *ud, struct sg_socket *s, const json_t *data)
{
	struct sg_admin_ui *a = ud;
	const struct sg_admin_ui_config *c = live(a);

	if (c && !is_admin(c, s))
		to_ui(a, "event_sent", json_pack("[ssOo]", sg_nsp_name(sg_socket_nsp(s)), sg_socket_id(s), data,
						  iso_now()));
}

struct nsp_list {
	json_t *arr;
	const char *admin;
};

static void nsp_add(void *ud, struct sg_nsp *nsp)
{
	struct nsp_list *l = ud;

	if (strcmp(sg_nsp_name(nsp), l->admin))
		json_array_append_new(l->arr, json_pack("{ss sI}", "name", sg_nsp_name(nsp), "socketsCount",
							(json_int_t)sg_nsp_socket_count(nsp)));
}

/* One entry of aggregatedEvents: what changed since the previous server_stats. */
static void aggregated(json_t *events, long long second, const char *type, uint64_t now, uint64_t *last)
{
	if (now > *last)
		json_array_append_new(events, json_pack("{sI ss sI}", "timestamp", (json_int_t)second, "type", type,
							"count", (json_int_t)(now - *last)));
	*last = now;
}

static void stats_tick(lws_sorted_usec_list_t *sul)
{
	struct sg_admin_ui *a = (struct sg_admin_ui *)sul;
	const struct sg_admin_ui_config *c = acfg(a);
	struct sg_nsp *admin;
	struct nsp_list l;
	json_t *events, *stats;
	long long second = sg_wall_ms() / 1000 * 1000;
	char host[256] = "";

	if (!c)
		return;
	lws_sul_schedule(a->ctx, 0, &a->sul, stats_tick, (lws_usec_t)c->stats_interval_ms * LWS_US_PER_MS);
	if (!(admin = sg_sio_find_nsp(a->sio, c->nsp)) || !sg_nsp_socket_count(admin))
		return;
	gethostname(host, sizeof(host) - 1);
	events = json_array();
	aggregated(events, second, "rawConnection", a->stats->sessions_opened, &a->last[0]);
	aggregated(events, second, "rawDisconnection", a->stats->sessions_closed, &a->last[1]);
	aggregated(events, second, "packetsIn", a->stats->frames_in, &a->last[2]);
	aggregated(events, second, "bytesIn", a->stats->bytes_in, &a->last[3]);
	aggregated(events, second, "packetsOut", a->stats->frames_out, &a->last[4]);
	aggregated(events, second, "bytesOut", a->stats->bytes_out, &a->last[5]);
	l.arr = json_array();
	l.admin = c->nsp;
	for (size_t i = 0; i < a->cfg->n_namespaces; i++) {
		const char *name = a->cfg->namespaces[i].name;

		/* A configured namespace nobody has connected to yet is there with 0, as Node's. */
		if (name && !sg_sio_find_nsp(a->sio, name))
			json_array_append_new(l.arr, json_pack("{ss si}", "name", name, "socketsCount", 0));
		else
			sg_sio_foreach_nsp(a->sio, &a->cfg->namespaces[i], nsp_add, &l);
	}
	{
		struct sg_nsp *root = sg_sio_find_nsp(a->sio, "/");

		if (root && !sg_config_find_nsp(a->cfg, "/"))
			nsp_add(&l, root);
	}
	stats = json_pack("[{ss ss sI sf sI sI so so}]", "serverId", c->server_id, "hostname", host[0] ? host : "siogate",
			  "pid", (json_int_t)getpid(), "uptime", (double)(sg_mono_ms() - a->started) / 1000.0,
			  "clientsCount", (json_int_t)(a->stats->sessions_polling + a->stats->sessions_websocket),
			  "pollingClientsCount", (json_int_t)a->stats->sessions_polling, "aggregatedEvents", events,
			  "namespaces", l.arr);
	if (stats) {
		struct sg_broadcast bc;

		memset(&bc, 0, sizeof(bc));
		sg_nsp_broadcast(admin, &bc, "server_stats", stats, NULL, 0);
	}
	json_decref(stats);
}

/* ---------------------------------------------------------------- operations */

/* The sockets of namespace `nsp` an operation names: those in room `filter`, or all. */
static struct sg_socket **targets(struct sg_admin_ui *a, const char *nsp_name, const char *filter, size_t *n,
				  struct sg_nsp **nsp_out)
{
	const struct sg_admin_ui_config *c = acfg(a);
	struct sg_nsp *nsp = nsp_name && strcmp(nsp_name, c->nsp) ? sg_sio_find_nsp(a->sio, nsp_name) : NULL;
	const char *rooms[1] = {filter};

	*n = 0;
	*nsp_out = nsp;
	if (!nsp)
		return NULL;
	return sg_nsp_select(nsp, NULL, 0, filter ? rooms : NULL, filter ? 1 : 0, NULL, 0, n);
}

static const char *str_arg(json_t *args, size_t i)
{
	const char *s = json_string_value(json_array_get(args, i));

	return s && *s && strlen(s) <= 1024 ? s : NULL;
}

int sg_admin_ui_on_event(void *ud, struct sg_socket *s, const char *event, json_t *args,
			 const struct sg_bin *att, size_t n_att, int64_t ack_id)
{
	struct sg_admin_ui *a = ud;
	const struct sg_admin_ui_config *c = acfg(a);
	struct sg_socket **ts = NULL;
	struct sg_nsp *nsp;
	size_t n = 0;

	(void)att; /* binary arguments: dropped from emit (the UI sends none) */
	(void)n_att;
	(void)ack_id; /* the official server answers none */
	if (!c)
		return 0;
	if (!is_admin(c, s)) {
		if (live(a)) {
			json_t *data = json_pack("[s]", event);

			json_array_extend(data, args);
			to_ui(a, "event_received", json_pack("[ssoo]", sg_nsp_name(sg_socket_nsp(s)), sg_socket_id(s), data,
							     iso_now()));
		}
		return 0; /* the app's (bridges') too */
	}
	if (c->read_only) {
		a->stats->admin_ops_refused++;
		return 1;
	}
	if (!strcmp(event, "join") || !strcmp(event, "leave")) {
		/* (nsp, room, filter?) */
		const char *room = str_arg(args, 1);

		if (room && (ts = targets(a, str_arg(args, 0), str_arg(args, 2), &n, &nsp)))
			for (size_t i = 0; i < n; i++) {
				if (event[0] == 'j')
					sg_socket_join(ts[i], room, SG_JOIN_CONTROL);
				else
					sg_socket_leave(ts[i], room, SG_JOIN_CONTROL);
			}
	} else if (!strcmp(event, "_disconnect")) {
		/* (nsp, close, filter?): close ends the client's whole connection. */
		int close = json_is_true(json_array_get(args, 1));

		if ((ts = targets(a, str_arg(args, 0), str_arg(args, 2), &n, &nsp)))
			for (size_t i = 0; i < n; i++) {
				if (close && sg_socket_session(ts[i]))
					sg_eio_session_close(sg_socket_session(ts[i]), "forced server close");
				else
					sg_socket_disconnect(ts[i], "server namespace disconnect");
			}
	} else if (!strcmp(event, "emit")) {
		/* (nsp, filter, event, ...args) */
		const char *nsp_name = str_arg(args, 0), *filter = str_arg(args, 1), *ev = str_arg(args, 2);
		const char *rooms[1] = {filter};
		json_t *rest;

		nsp = nsp_name && strcmp(nsp_name, c->nsp) ? sg_sio_find_nsp(a->sio, nsp_name) : NULL;
		if (nsp && ev && !sg_event_reserved(ev) && (rest = json_array())) {
			struct sg_broadcast bc;

			for (size_t i = 3; i < json_array_size(args); i++)
				json_array_append(rest, json_array_get(args, i));
			memset(&bc, 0, sizeof(bc));
			bc.rooms = filter ? rooms : NULL;
			bc.n_rooms = filter ? 1 : 0;
			sg_nsp_broadcast(nsp, &bc, ev, rest, NULL, 0);
			json_decref(rest);
		}
	} else {
		a->stats->admin_ops_refused++;
		return 1;
	}
	a->stats->admin_ops++;
	free(ts);
	return 1;
}

static void on_upgrade(void *ud, struct sg_socket *s)
{
	struct sg_admin_ui *a = ud;
	const struct sg_admin_ui_config *c = live(a);

	if (c && !is_admin(c, s))
		to_ui(a, "socket_updated", json_pack("[{ss ss ss}]", "id", sg_socket_id(s), "nsp",
						     sg_nsp_name(sg_socket_nsp(s)), "transport", "websocket"));
}

const struct sg_sio_app *sg_admin_ui_observer(void)
{
	static const struct sg_sio_app obs = {.on_connection = sg_admin_ui_on_connection,
					      .on_event = sg_admin_ui_on_event,
					      .on_disconnect = on_disconnect,
					      .on_join = on_join,
					      .on_leave = on_leave,
					      .on_sent = on_sent,
					      .on_upgrade = on_upgrade};

	return &obs;
}

/* ---------------------------------------------------------------- lifecycle */

static void start_stats(struct sg_admin_ui *a)
{
	const struct sg_admin_ui_config *c = acfg(a);

	if (c && a->ctx)
		lws_sul_schedule(a->ctx, 0, &a->sul, stats_tick, (lws_usec_t)c->stats_interval_ms * LWS_US_PER_MS);
	else if (a->ctx)
		lws_sul_cancel(&a->sul);
}

void sg_admin_ui_set_config(struct sg_admin_ui *a, const struct sg_config *cfg)
{
	const struct sg_admin_ui_config *c;

	a->cfg = cfg;
	c = acfg(a);
	sg_ui_login_set(a->login, c);
	/* The login step, once per admin namespace name (a reload may rename it). */
	if (c && (!a->step_nsp || strcmp(a->step_nsp, c->nsp))) {
		free(a->step_nsp);
		a->step_nsp = strdup(c->nsp);
		if (!a->step_nsp || sg_sio_add_middleware(a->sio, c->nsp, sg_ui_login_step, a->login))
			sg_err("admin_ui", NULL, "out of memory: the admin namespace %s refuses everyone", c->nsp);
	}
	if (c && c->auth_off)
		sg_warn("admin_ui", NULL, "the Admin UI at %s takes anyone who reaches this port (admin_ui.auth is false)",
			c->nsp);
	start_stats(a);
}

struct sg_admin_ui *sg_admin_ui_create(struct sg_sio *sio, struct lws_context *ctx, struct sg_stats *stats,
				       const struct sg_config *cfg)
{
	struct sg_admin_ui *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->sio = sio;
	a->ctx = ctx;
	a->stats = stats;
	a->started = sg_mono_ms();
	a->last[0] = stats->sessions_opened;
	a->last[1] = stats->sessions_closed;
	a->last[2] = stats->frames_in;
	a->last[3] = stats->bytes_in;
	a->last[4] = stats->frames_out;
	a->last[5] = stats->bytes_out;
	if (!(a->login = sg_ui_login_create(ctx, stats))) {
		free(a);
		return NULL;
	}
	sg_admin_ui_set_config(a, cfg);
	return a;
}

void sg_admin_ui_run_done(struct sg_admin_ui *a)
{
	if (a)
		sg_ui_login_run_done(a->login);
}

void sg_admin_ui_destroy(struct sg_admin_ui *a)
{
	if (!a)
		return;
	if (a->ctx)
		lws_sul_cancel(&a->sul);
	sg_ui_login_destroy(a->login);
	free(a->step_nsp);
	free(a);
}
