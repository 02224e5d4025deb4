/* bridges.c - loads bridge plugins with dlopen, checks their ABI, validates their config
 * objects, and implements the host functions they call. */
#include "bridges.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "rooms.h"
#include "siogate/bridge.h"
#include "stats.h"
#include "strbuf.h"
#include "util/clock.h"
#include "util/list.h"
#include "util/reserved.h"

#define HOST_MAGIC 0x40570570u
#define TICKET_MAGIC 0x71c4e771u
#define MAX_POSTS 65536

struct plugin {
	char *type;
	char *file;
	void *dl;
	const struct sg_bridge_plugin *p;
};

/* One plugin instance: the struct sg_host its calls carry. */
struct sg_host {
	unsigned magic;
	struct sg_bridges *b;
	struct plugin *pl;
	char *label;                   /* the broker's name, or the plugin type */
	const json_t *broker;          /* borrowed from the config, or NULL */
	void *inst;
	int started;
	int ready;                     /* guarded by b->mu */
	char reason[160];
	json_t *info;                  /* set_info() facts, object or NULL; guarded by b->mu */
	struct host_timer *timers;     /* every(): cancelled before stop() */
};

/* A repeating timer a plugin asked for with every() (loop thread). */
struct host_timer {
	lws_sorted_usec_list_t sul;    /* first: the lws callback gets its address */
	struct sg_host *h;
	unsigned ms;
	void (*fn)(void *ud);
	void *ud;
	struct host_timer *next;
};

struct binding {
	const struct sg_nsp_config *nsp;
	struct sg_host *host;
	int id;
};

struct sg_bridge_ticket {
	unsigned magic;
	struct sg_bridges *b;
	char *nsp;
	char sid[32];
	int64_t ack_id;
};

struct post_item {
	void (*fn)(void *ud);
	void *ud;
	struct sg_list_node in_queue; /* in sg_bridges.posts */
};

struct sg_bridges {
	const struct sg_config *cfg;
	struct plugin *plugins;
	size_t n_plugins;
	struct sg_host **hosts;
	size_t n_hosts;
	struct binding *bindings;
	size_t n_bindings;
	struct sg_sio *sio;
	struct lws_context *ctx;
	struct sg_stats *stats;
	pthread_mutex_t mu;            /* posts, readiness */
	struct sg_list posts;          /* of post_item.in_queue, oldest first */
	int stopping;
	struct sg_metrics *metrics;    /* counters and gauges: the gateway's, or own_metrics */
	int own_metrics;
	int stopped;                   /* no new upstream messages: the drain has begun */
	int halted;                    /* the plugins' stop() ran */
	size_t open_tickets;           /* upstream messages not completed yet (loop thread) */
	int shut;                      /* the shutdown was reported: no lifecycle calls after */
};

/* This process's instance id: made once, so that a reload (new bridges) keeps it and the
 * lifecycle records before and after it name the same replica. */
static char instance_id[64];
static pthread_once_t instance_once = PTHREAD_ONCE_INIT;

static void make_instance_id(void)
{
	unsigned char rnd[6];
	char host[64] = "siogate";

	gethostname(host, sizeof(host) - 1);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(instance_id, sizeof(instance_id), "%.32s-%ld-%02x%02x%02x%02x%02x%02x", host,
		 (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

/* The daemon of a build tree (src/siogate where it was built, not an installed copy) loads
 * the plugins built beside it, so that `build/src/siogate -c FILE` works as it is. It is
 * recognized by its own path (/proc/self/exe), fixed at build time; the working directory
 * plays no part. */
static const char *build_tree_path(void)
{
#ifdef SG_BUILD_TREE
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		if (strcmp(exe, SG_BUILD_TREE "/src/siogate") == 0)
			return SG_BUILD_TREE "/bridges/kafka/.libs:" SG_BUILD_TREE "/bridges/mqtt/.libs:" SG_BUILD_TREE
			       "/bridges/local/.libs";
	}
#endif
	return NULL;
}

const char *sg_bridges_default_path(void)
{
	const char *p = getenv("SIOGATE_PLUGIN_PATH");

	if (p && p[0])
		return p;
	p = build_tree_path();
	return p ? p : SG_PLUGIN_DIR;
}

/* ---------------------------------------------------------------- loading */

static int set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_err(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, SG_CONFIG_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/* Joins a plugin's "rel.path: reason" (or ": reason") to the object's JSON path. */
static int plugin_err(char *err, const char *base, const char *rel)
{
	if (rel[0] == ':' || rel[0] == '\0')
		return set_err(err, "%s%s", base, rel[0] ? rel : ": invalid");
	if (rel[0] == '[')
		return set_err(err, "%s%s", base, rel);
	return set_err(err, "%s.%s", base, rel);
}

static struct plugin *find_plugin(struct sg_bridges *b, const char *type)
{
	for (size_t i = 0; i < b->n_plugins; i++)
		if (!strcmp(b->plugins[i].type, type))
			return &b->plugins[i];
	return NULL;
}

/* Finds TYPE.so on the path, dlopens it and checks its descriptor. */
static struct plugin *load_plugin(struct sg_bridges *b, const char *type, const char *path,
				  const char *where, char *err)
{
	char file[1024], found[1024] = "";
	const char *p = path;
	struct plugin *pl, *np;
	const struct sg_bridge_plugin *d;
	void *dl;

	if ((pl = find_plugin(b, type)))
		return pl;
	for (const char *c = type; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')) {
			set_err(err, "%s: invalid type '%s' (lower-case letters, digits, '_' and '-')", where, type);
			return NULL;
		}
	while (*p) {
		size_t n = strcspn(p, ":");

		if (n) {
			snprintf(file, sizeof(file), "%.*s/%s.so", (int)n, p, type);
			if (access(file, F_OK) == 0) {
				if (found[0]) {
					set_err(err, "%s: bridge plugin '%s' found twice: %s and %s", where,
						type, found, file);
					return NULL;
				}
				snprintf(found, sizeof(found), "%s", file);
			}
		}
		p += n;
		if (*p == ':')
			p++;
	}
	if (!found[0]) {
		set_err(err, "%s: unknown type '%s' (no %s.so in the plugin path %s)", where, type, type, path);
		return NULL;
	}
	/* RTLD_NODELETE: libraries a plugin pulls in (librdkafka, libsasl2...) keep state
	 * the process cannot take back; unmapping the plugin would turn it into leaks and
	 * cost valgrind its stack traces. */
	dl = dlopen(found, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!dl) {
		set_err(err, "%s: cannot load bridge plugin %s (%s)", where, found, dlerror());
		return NULL;
	}
	d = dlsym(dl, SG_BRIDGE_SYMBOL);
	if (!d) {
		set_err(err, "%s: %s is not a siogate bridge plugin (no '%s' symbol)", where, found,
			SG_BRIDGE_SYMBOL);
		goto fail;
	}
	if (d->abi_major != SG_BRIDGE_ABI_MAJOR || d->abi_minor > SG_BRIDGE_ABI_MINOR) {
		set_err(err, "%s: bridge plugin %s was built for ABI %u.%u; this siogate provides %u.%u",
			where, found, d->abi_major, d->abi_minor, SG_BRIDGE_ABI_MAJOR, SG_BRIDGE_ABI_MINOR);
		goto fail;
	}
	if (!d->name || strcmp(d->name, type)) {
		set_err(err, "%s: bridge plugin %s calls itself '%s', expected '%s'", where, found,
			d->name ? d->name : "(null)", type);
		goto fail;
	}
	if (!d->check_binding || !d->init || !d->bind || !d->start || !d->publish || !d->stop || !d->fini) {
		set_err(err, "%s: bridge plugin %s lacks a required entry point", where, found);
		goto fail;
	}
	np = realloc(b->plugins, (b->n_plugins + 1) * sizeof(*np));
	if (!np) {
		set_err(err, "%s: out of memory", where);
		goto fail;
	}
	b->plugins = np;
	pl = &b->plugins[b->n_plugins];
	pl->type = strdup(type);
	pl->file = strdup(found);
	pl->dl = dl;
	pl->p = d;
	if (!pl->type || !pl->file) {
		free(pl->type);
		free(pl->file);
		set_err(err, "%s: out of memory", where);
		goto fail;
	}
	b->n_plugins++;
	return pl;
fail:
	dlclose(dl);
	return NULL;
}

/* The plugin serving a namespace's bridge object: via its broker, or its own "type". */
static struct plugin *bridge_plugin(struct sg_bridges *b, const json_t *bridge, const char *where,
				    const json_t **broker_out, const char **broker_name, const char *path,
				    char *err)
{
	const char *bname = json_string_value(json_object_get(bridge, "broker"));
	const char *type = json_string_value(json_object_get(bridge, "type"));
	const json_t *broker = NULL;
	struct plugin *pl;
	char p[256];

	if (bname) {
		broker = json_object_get(b->cfg->brokers, bname);
		if (!broker) {
			set_err(err, "%s.broker: no broker named '%s' in brokers", where, bname);
			return NULL;
		}
		type = json_string_value(json_object_get(broker, "type"));
	}
	if (!type) {
		set_err(err, "%s: expected 'broker' (a name from brokers) or 'type'", where);
		return NULL;
	}
	snprintf(p, sizeof(p), "%s.%s", where, bname ? "broker" : "type");
	pl = load_plugin(b, type, path, p, err);
	if (pl && !bname && pl->p->check_broker) {
		set_err(err, "%s.type: a '%s' bridge needs a broker: name one with 'broker'", where, type);
		return NULL;
	}
	*broker_out = broker;
	*broker_name = bname;
	return pl;
}

/* Whether the plugin keeps recovery sessions in its broker (ABI 1.6, all five members). */
static int keeps_sessions(const struct plugin *pl)
{
	const struct sg_bridge_plugin *p = pl->p;

	return p->abi_minor >= 6 && p->session_topic && p->session_save && p->session_drop && p->session_find &&
	       p->session_replay;
}

struct sg_bridges *sg_bridges_load(const struct sg_config *cfg, const char *path,
				   char err[SG_CONFIG_ERR_MAX])
{
	struct sg_bridges *b = calloc(1, sizeof(*b));
	char rel[SG_BRIDGE_ERR_MAX], where[256];
	const char *key;
	json_t *val;

	if (!b) {
		set_err(err, "(root): out of memory");
		return NULL;
	}
	b->cfg = cfg;
	pthread_mutex_init(&b->mu, NULL);
	json_object_foreach(cfg->brokers, key, val) {
		const char *type = json_string_value(json_object_get(val, "type"));
		struct plugin *pl;

		snprintf(where, sizeof(where), "brokers.%s", key);
		if (!type) {
			set_err(err, "%s.type: expected a string", where);
			goto fail;
		}
		snprintf(where, sizeof(where), "brokers.%s.type", key);
		if (!(pl = load_plugin(b, type, path, where, err)))
			goto fail;
		snprintf(where, sizeof(where), "brokers.%s", key);
		if (!pl->p->check_broker) {
			set_err(err, "%s.type: '%s' bridges take no broker (use \"type\": \"%s\" in the namespace's bridge)",
				where, type, type);
			goto fail;
		}
		rel[0] = '\0';
		if (pl->p->check_broker(val, rel, sizeof(rel))) {
			plugin_err(err, where, rel);
			goto fail;
		}
	}
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const json_t *bridge = cfg->namespaces[i].bridge, *broker;
		const char *bname;
		struct plugin *pl;

		if (!bridge && cfg->namespaces[i].recovery.sessions_topic) {
			set_err(err, "namespaces[%zu].recovery.sessions_topic: sessions are kept by the namespace's "
				"bridge, and it has none (name a Kafka broker in \"bridge\", or remove the key)", i);
			goto fail;
		}
		if (!bridge)
			continue;
		snprintf(where, sizeof(where), "namespaces[%zu].bridge", i);
		if (!(pl = bridge_plugin(b, bridge, where, &broker, &bname, path, err)))
			goto fail;
		if (cfg->namespaces[i].recovery.sessions_topic && !keeps_sessions(pl)) {
			set_err(err, "namespaces[%zu].recovery.sessions_topic: a '%s' bridge cannot keep sessions in "
				"its broker (Kafka can; with this bridge recovery stays in memory: remove the key)",
				i, pl->type);
			goto fail;
		}
		rel[0] = '\0';
		if (pl->p->check_binding(bridge, rel, sizeof(rel))) {
			plugin_err(err, where, rel);
			goto fail;
		}
	}
	return b;
fail:
	sg_bridges_destroy(b);
	return NULL;
}

/* ---------------------------------------------------------------- host functions */

static void h_log(struct sg_host *h, enum sg_bridge_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!sg_log_enabled((enum sg_log_level)level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sg_log((enum sg_log_level)level, "bridge", h->label, "%s", msg);
}

static int h_post(struct sg_host *h, void (*fn)(void *ud), void *ud)
{
	struct sg_bridges *b = h->b;
	struct post_item *it = malloc(sizeof(*it));
	int rc = 0;

	if (!it)
		return -1;
	it->fn = fn;
	it->ud = ud;
	pthread_mutex_lock(&b->mu);
	if (b->stopping || b->posts.count >= MAX_POSTS)
		rc = -1;
	else
		sg_list_push_back(&b->posts, &it->in_queue);
	pthread_mutex_unlock(&b->mu);
	if (rc) {
		free(it);
		return rc;
	}
	lws_cancel_service(b->ctx);
	return 0;
}

void sg_bridges_run_posted(void *ud)
{
	struct sg_bridges *b = ud;
	struct sg_list batch;
	struct sg_list_node *n;

	/* The whole queue at once: a post made while these run waits for the next turn. */
	pthread_mutex_lock(&b->mu);
	batch = b->posts;
	memset(&b->posts, 0, sizeof(b->posts));
	pthread_mutex_unlock(&b->mu);
	while ((n = sg_list_pop_front(&batch))) {
		struct post_item *it = sg_list_item(n, struct post_item, in_queue);

		it->fn(it->ud);
		free(it);
	}
}

/* One delivery into the latency histogram of /metrics. */
static void observe_delivery(struct sg_stats *st, double start)
{
	static const double bounds[SG_DELIVERY_BUCKETS] = SG_DELIVERY_BOUNDS;

	if (st)
		sg_hist_observe(st->delivery_buckets, bounds, SG_DELIVERY_BUCKETS, &st->delivery_count,
				&st->delivery_seconds, sg_mono_seconds() - start);
}

static long h_emit(struct sg_host *h, const struct sg_bridge_emit *em)
{
	double start = sg_mono_seconds();
	struct sg_nsp *nsp = sg_sio_find_nsp(h->b->sio, em->nsp);
	struct sg_broadcast bc;
	long n;

	if (!nsp)
		return -2;
	if (!em->event || sg_event_reserved(em->event))
		return -1; /* a client would drop the connection (the mapping refuses these first) */
	memset(&bc, 0, sizeof(bc));
	bc.rooms = em->rooms;
	bc.n_rooms = em->n_rooms;
	bc.except = em->except;
	bc.n_except = em->n_except;
	bc.is_volatile = em->is_volatile;
	bc.except_socket = em->except_sid ? sg_nsp_find_socket(nsp, em->except_sid) : NULL;
	bc.position = h->pl->p->abi_minor >= 6 ? em->position : NULL;
	bc.start = start;
	/* The sg_bridge_bin and sg_bin layouts differ in constness only. */
	n = sg_nsp_broadcast(nsp, &bc, em->event, em->args, (const struct sg_bin *)em->att, em->n_att);
	observe_delivery(h->b->stats, start);
	return n;
}

/* ---- sessions kept in the broker (1.6) */

static long h_replay_emit(struct sg_host *h, const char *sid, const struct sg_bridge_emit *em)
{
	struct sg_nsp *nsp = em->nsp ? sg_sio_find_nsp(h->b->sio, em->nsp) : NULL;
	struct sg_socket *s = nsp && sid ? sg_nsp_find_socket(nsp, sid) : NULL;
	const char *own[1];
	struct sg_broadcast bc;
	int in = em->n_rooms == 0;

	if (!s)
		return -2;
	if (!em->event || sg_event_reserved(em->event))
		return -1;
	if (em->is_volatile || (em->except_sid && !strcmp(em->except_sid, sid)))
		return 0;
	for (size_t i = 0; !in && i < em->n_rooms; i++)
		in = sg_socket_in_room(s, em->rooms[i]);
	for (size_t i = 0; in && i < em->n_except; i++)
		in = !sg_socket_in_room(s, em->except[i]);
	if (!in)
		return 0;
	own[0] = sid;
	memset(&bc, 0, sizeof(bc));
	bc.rooms = own;
	bc.n_rooms = 1;
	bc.position = em->position;
	bc.replay = 1;
	return sg_nsp_broadcast(nsp, &bc, em->event, em->args, (const struct sg_bin *)em->att, em->n_att);
}

static void h_replay_done(struct sg_host *h, const char *nsp_name, const char *sid)
{
	struct sg_nsp *nsp = nsp_name ? sg_sio_find_nsp(h->b->sio, nsp_name) : NULL;
	struct sg_socket *s = nsp && sid ? sg_nsp_find_socket(nsp, sid) : NULL;

	if (s)
		sg_socket_replay_done(s);
}

static struct sg_socket **select_target(struct sg_host *h, const struct sg_bridge_target *t, size_t *n,
					struct sg_nsp **nsp_out)
{
	struct sg_nsp *nsp = sg_sio_find_nsp(h->b->sio, t->nsp);

	*n = 0;
	*nsp_out = nsp;
	if (!nsp)
		return NULL;
	return sg_nsp_select(nsp, t->sids, t->n_sids, t->rooms, t->n_rooms, t->except, t->n_except, n);
}

/* join and leave: every selected socket joins (or leaves) every room in `rooms`. */
static long join_or_leave(struct sg_host *h, const struct sg_bridge_target *t, const char *const *rooms,
			  size_t n_rooms, int join)
{
	struct sg_nsp *nsp;
	size_t n, i, j;
	struct sg_socket **ss = select_target(h, t, &n, &nsp);

	if (!nsp)
		return -2;
	for (i = 0; i < n; i++)
		for (j = 0; j < n_rooms; j++) {
			if (join)
				sg_socket_join(ss[i], rooms[j], SG_JOIN_CONTROL); /* refusals counted there */
			else if (strcmp(rooms[j], sg_socket_id(ss[i]))) /* a socket keeps its own room */
				sg_socket_leave(ss[i], rooms[j], SG_JOIN_CONTROL);
		}
	free(ss);
	return (long)n;
}

static long h_join(struct sg_host *h, const struct sg_bridge_target *t, const char *const *rooms, size_t n_rooms)
{
	return join_or_leave(h, t, rooms, n_rooms, 1);
}

static long h_leave(struct sg_host *h, const struct sg_bridge_target *t, const char *const *rooms, size_t n_rooms)
{
	return join_or_leave(h, t, rooms, n_rooms, 0);
}

static long h_disconnect(struct sg_host *h, const struct sg_bridge_target *t)
{
	struct sg_nsp *nsp;
	size_t n, i;
	struct sg_socket **ss = select_target(h, t, &n, &nsp);

	if (!nsp)
		return -2;
	for (i = 0; i < n; i++)
		sg_socket_disconnect(ss[i], "server namespace disconnect"); /* Socket.IO's reason */
	free(ss);
	return (long)n;
}

/* Answers the client's ack of ticket `t` with `args` (when it asked and is still here) and
 * frees the ticket. `ok` says how the message ended, for the counters. */
static void finish_ticket(struct sg_host *h, struct sg_bridge_ticket *t, int ok, const char *why,
			  const json_t *args, const struct sg_bin *att, size_t n_att)
{
	struct sg_bridges *b = h->b;

	if (ok)
		b->stats->acks_ok += t->ack_id >= 0;
	else
		b->stats->acks_error += t->ack_id >= 0;
	if (!ok && t->ack_id < 0)
		sg_dbg("bridge", h->label, "upstream message from %s failed: %s", t->sid, why ? why : "(no reason)");
	if (t->ack_id >= 0) {
		struct sg_nsp *nsp = sg_sio_find_nsp(b->sio, t->nsp);
		struct sg_socket *s = nsp ? sg_nsp_find_socket(nsp, t->sid) : NULL;

		if (s)
			sg_socket_ack(s, t->ack_id, args, att, n_att);
	}
	t->magic = 0;
	free(t->nsp);
	free(t);
	if (b->open_tickets)
		b->open_tickets--;
}

static int ticket_ok(struct sg_host *h, struct sg_bridge_ticket *t)
{
	if (t && t->magic == TICKET_MAGIC)
		return 1;
	sg_err("bridge", h->label, "completed an invalid ticket (plugin bug)");
	return 0;
}

static void h_complete(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *result)
{
	json_t *args;

	if (!ticket_ok(h, t))
		return;
	args = json_pack("[O]", result);
	finish_ticket(h, t, json_is_true(json_object_get(result, "ok")),
		      json_string_value(json_object_get(result, "error")), args, NULL, 0);
	json_decref(args);
}

static void h_complete_args(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *args,
			    const struct sg_bridge_bin *att, size_t n_att)
{
	if (ticket_ok(h, t))
		finish_ticket(h, t, 1, NULL, args, (const struct sg_bin *)att, n_att);
}

/* ---- emit with ack (1.4) */

/* One recipient's pending answer. */
struct ack_wait {
	void (*fn)(void *ud, const struct sg_bridge_answer *a);
	void *ud;
	char *nsp;
};

static void on_answer(void *ud, struct sg_socket *s, json_t *args, const struct sg_bin *att, size_t n_att,
		      const char *err)
{
	struct ack_wait *w = ud;
	struct sg_bridge_answer a = {w->nsp, sg_socket_id(s), args, (const struct sg_bridge_bin *)att, n_att,
				     args ? NULL : (err ? err : "disconnected")};

	w->fn(w->ud, &a);
	free(w->nsp);
	free(w);
}

static long h_emit_ack(struct sg_host *h, const struct sg_bridge_emit *em, unsigned timeout_ms,
		       void (*fn)(void *ud, const struct sg_bridge_answer *a), void *ud)
{
	struct sg_bridge_target t = {em->nsp, NULL, 0, em->rooms, em->n_rooms, em->except, em->n_except};
	struct sg_nsp *nsp;
	size_t n, i;
	long sent = 0;
	struct sg_socket **ss;

	if (em->is_volatile || !fn || !em->event || sg_event_reserved(em->event))
		return -1;
	ss = select_target(h, &t, &n, &nsp);
	if (!nsp)
		return -2;
	for (i = 0; i < n; i++) {
		struct ack_wait *w;

		if (em->except_sid && !strcmp(sg_socket_id(ss[i]), em->except_sid))
			continue;
		w = calloc(1, sizeof(*w));
		if (!w || !(w->nsp = strdup(em->nsp))) {
			free(w);
			continue; /* out of memory: not a recipient */
		}
		w->fn = fn;
		w->ud = ud;
		if (sg_socket_emit(ss[i], em->event, em->args, (const struct sg_bin *)em->att, em->n_att, on_answer, w,
				   timeout_ms)) {
			free(w->nsp);
			free(w);
			continue; /* its queue overflowed (the socket is closing): not a recipient */
		}
		sent++;
	}
	free(ss);
	return sent;
}

static void h_set_ready(struct sg_host *h, int ready, const char *reason)
{
	int changed;

	pthread_mutex_lock(&h->b->mu);
	changed = h->ready != !!ready;
	h->ready = !!ready;
	snprintf(h->reason, sizeof(h->reason), "%s", reason ? reason : "");
	pthread_mutex_unlock(&h->b->mu);
	if (changed)
		sg_log(ready ? SG_LOG_INFO : SG_LOG_WARN, "bridge", h->label, "%s%s%s",
		       ready ? "ready" : "not ready", reason && reason[0] ? ": " : "", reason ? reason : "");
}

static void h_set_info(struct sg_host *h, const char *key, const char *value)
{
	pthread_mutex_lock(&h->b->mu);
	if (!h->info)
		h->info = json_object();
	if (h->info && key) {
		if (value)
			json_object_set_new(h->info, key, json_string(value));
		else
			json_object_del(h->info, key);
	}
	pthread_mutex_unlock(&h->b->mu);
}

/* Counters and gauges live in the registry (src/metrics.c), which the gateway keeps across
 * reloads; a handle is a series of it. */
static void h_count(struct sg_host *h, const char *name, const char *labels, double delta)
{
	sg_series_add(sg_metrics_series(h->b->metrics, h->label, name, labels, 0), delta);
}

static void h_gauge(struct sg_host *h, const char *name, const char *labels, double value)
{
	sg_series_set(sg_metrics_series(h->b->metrics, h->label, name, labels, 1), value);
}

static struct sg_bridge_counter *h_counter_handle(struct sg_host *h, const char *name, const char *const *labels)
{
	return (struct sg_bridge_counter *)sg_metrics_series_kv(h->b->metrics, h->label, name, labels, 0);
}

static void h_counter_add(struct sg_bridge_counter *c, double delta)
{
	sg_series_add((struct sg_series *)c, delta);
}

static struct sg_bridge_counter *h_gauge_handle(struct sg_host *h, const char *name, const char *const *labels)
{
	return (struct sg_bridge_counter *)sg_metrics_series_kv(h->b->metrics, h->label, name, labels, 1);
}

static void h_gauge_set(struct sg_bridge_counter *c, double value)
{
	sg_series_set((struct sg_series *)c, value);
}

struct nsp_iter {
	void (*fn)(void *ud, const char *nsp);
	void *ud;
};

static void nsp_iter_cb(void *ud, struct sg_nsp *nsp)
{
	struct nsp_iter *it = ud;

	it->fn(it->ud, sg_nsp_name(nsp));
}

static void h_foreach_nsp(struct sg_host *h, const char *pattern, void (*fn)(void *ud, const char *nsp), void *ud)
{
	const struct sg_config *cfg = h->b->cfg;
	struct nsp_iter it = {fn, ud};

	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const struct sg_nsp_config *nc = &cfg->namespaces[i];
		if ((nc->match && !strcmp(nc->match, pattern)) || (nc->name && !strcmp(nc->name, pattern)))
			sg_sio_foreach_nsp(h->b->sio, nc, nsp_iter_cb, &it);
	}
}

static const char *h_instance_id(struct sg_host *h)
{
	(void)h;
	pthread_once(&instance_once, make_instance_id);
	return instance_id;
}

static int h_is_member(struct sg_host *h, const char *nsp_name, const char *sid, const char *room)
{
	struct sg_nsp *nsp = nsp_name ? sg_sio_find_nsp(h->b->sio, nsp_name) : NULL;
	struct sg_socket *s = nsp && sid ? sg_nsp_find_socket(nsp, sid) : NULL;

	return s && room && sg_socket_in_room(s, room);
}

/* ---- presence (1.3) */

/* A socket's rooms as an array of borrowed names: on the stack for the usual few. */
#define ROOMS_ON_STACK 8
struct room_list {
	const char **v;               /* stack, or malloc'ed */
	size_t n, cap;
	const char *stack[ROOMS_ON_STACK];
};

static void room_list_init(struct room_list *l)
{
	l->v = l->stack;
	l->n = 0;
	l->cap = ROOMS_ON_STACK;
}

static void room_list_free(struct room_list *l)
{
	if (l->v != l->stack)
		free(l->v);
}

/* A room that does not fit in memory is left out of the list (never out of the socket). */
static void room_add(void *ud, const char *room)
{
	struct room_list *l = ud;

	if (l->n == l->cap) {
		size_t cap = l->cap * 2;
		const char **nv = l->v == l->stack ? malloc(cap * sizeof(*nv)) : realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return;
		if (l->v == l->stack)
			memcpy(nv, l->stack, sizeof(l->stack));
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = room;
}

/* Fills `out` for socket `s` (its rooms in `rl`, which the caller frees; its query and
 * headers, new objects, released by socket_info_done). */
static void socket_info(struct sg_socket *s, struct room_list *rl, struct sg_bridge_socket *out)
{
	struct sg_eio_session *es = sg_socket_session(s);

	rl->n = 0;
	sg_socket_foreach_room(s, room_add, rl);
	memset(out, 0, sizeof(*out));
	out->nsp = sg_nsp_name(sg_socket_nsp(s));
	out->sid = sg_socket_id(s);
	out->rooms = rl->v;
	out->n_rooms = rl->n;
	out->address = es ? sg_eio_session_remote(es) : "";
	out->query = es ? sg_eio_session_query_new(es) : NULL;
	out->headers = es ? sg_eio_session_headers_new(es) : NULL;
	out->claims = sg_socket_claims(s);
	out->auth = sg_socket_auth(s);
	out->connected_at = sg_socket_connected_at(s);
	out->recovered = sg_socket_recovered(s);
}

static void socket_info_done(struct sg_bridge_socket *info)
{
	json_decref((json_t *)info->query);
	json_decref((json_t *)info->headers);
}

static long h_sockets(struct sg_host *h, const struct sg_bridge_target *t,
		      void (*fn)(void *ud, const struct sg_bridge_socket *s), void *ud)
{
	struct sg_nsp *nsp;
	struct room_list rl;
	size_t n;
	struct sg_socket **ss;

	/* Counting a whole namespace (heartbeats) needs no walk. */
	if (!fn && !t->n_sids && !t->n_rooms && !t->n_except) {
		nsp = sg_sio_find_nsp(h->b->sio, t->nsp);
		return nsp ? (long)sg_nsp_socket_count(nsp) : -2;
	}
	ss = select_target(h, t, &n, &nsp);
	if (!nsp)
		return -2;
	room_list_init(&rl);
	for (size_t i = 0; fn && i < n; i++) {
		struct sg_bridge_socket info;

		socket_info(ss[i], &rl, &info);
		fn(ud, &info);
		socket_info_done(&info);
	}
	room_list_free(&rl);
	free(ss);
	return (long)n;
}

struct room_iter {
	void (*fn)(void *ud, const char *room, size_t n);
	void *ud;
	long n;
};

static void room_iter_cb(void *ud, const char *room, size_t n)
{
	struct room_iter *it = ud;

	if (sg_rooms_is_socket_id(room, strlen(room)))
		return; /* a socket's private room is not a room others see */
	it->n++;
	if (it->fn)
		it->fn(it->ud, room, n);
}

static long h_rooms(struct sg_host *h, const char *nsp_name, void (*fn)(void *ud, const char *room, size_t n),
		    void *ud)
{
	struct sg_nsp *nsp = nsp_name ? sg_sio_find_nsp(h->b->sio, nsp_name) : NULL;
	struct room_iter it = {fn, ud, 0};

	if (!nsp)
		return -2;
	sg_nsp_foreach_room(nsp, room_iter_cb, &it);
	return it.n;
}

static void timer_fire(lws_sorted_usec_list_t *sul)
{
	struct host_timer *t = (struct host_timer *)sul;

	lws_sul_schedule(t->h->b->ctx, 0, &t->sul, timer_fire, (lws_usec_t)t->ms * LWS_US_PER_MS);
	t->fn(t->ud);
}

static int h_every(struct sg_host *h, unsigned ms, void (*fn)(void *ud), void *ud)
{
	struct host_timer *t = calloc(1, sizeof(*t));

	if (!t || !fn || !h->b->ctx) {
		free(t);
		return -1;
	}
	t->h = h;
	t->ms = ms < 10 ? 10 : ms;
	t->fn = fn;
	t->ud = ud;
	t->next = h->timers;
	h->timers = t;
	lws_sul_schedule(h->b->ctx, 0, &t->sul, timer_fire, (lws_usec_t)t->ms * LWS_US_PER_MS);
	return 0;
}

static void cancel_timers(struct sg_host *h)
{
	while (h->timers) {
		struct host_timer *t = h->timers;

		h->timers = t->next;
		lws_sul_cancel(&t->sul);
		free(t);
	}
}

static const char *const core_counters[] = {
	"messages_consumed", "messages_produced", "messages_failed", "messages_malformed",
	"messages_refused", "relay_refused", NULL
};

static const struct sg_host_api host_api = {
	SG_BRIDGE_ABI_MAJOR, SG_BRIDGE_ABI_MINOR,
	h_log, h_post, h_emit, h_join, h_leave, h_disconnect, h_complete, h_set_ready, h_count,
	h_foreach_nsp, h_instance_id, h_gauge, h_set_info,
	/* 1.2: the metrics fast path, then membership */
	h_counter_handle, h_counter_add, h_gauge_handle, h_gauge_set, h_is_member,
	/* 1.3: presence */
	h_sockets, h_rooms, h_every,
	/* 1.4: request and reply */
	h_emit_ack, h_complete_args,
	/* 1.6: sessions kept in the broker */
	h_replay_emit, h_replay_done,
};

/* ---------------------------------------------------------------- the Socket.IO app */

static struct binding *binding_of(struct sg_bridges *b, struct sg_socket *s)
{
	const struct sg_nsp_config *nc = sg_nsp_config(sg_socket_nsp(s));

	for (size_t i = 0; nc && i < b->n_bindings; i++)
		if (b->bindings[i].nsp == nc)
			return &b->bindings[i];
	return NULL;
}

static int app_event(void *ud, struct sg_socket *s, const char *event, json_t *args,
		     const struct sg_bin *att, size_t n_att, int64_t ack_id)
{
	struct sg_bridges *b = ud;
	struct binding *bd = binding_of(b, s);
	struct sg_bridge_ticket *t;
	struct sg_bridge_event ev;
	int rc;

	if (!bd)
		return 0;
	if (b->stopped) {
		if (ack_id >= 0) {
			json_t *res = json_pack("[{sbss}]", "ok", 0, "error", "the gateway is shutting down");
			sg_socket_ack(s, ack_id, res, NULL, 0);
			json_decref(res);
			b->stats->acks_error++;
		}
		return 1;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->nsp = strdup(sg_nsp_name(sg_socket_nsp(s))))) {
		free(t);
		return 0;
	}
	t->magic = TICKET_MAGIC;
	t->b = b;
	t->ack_id = ack_id;
	snprintf(t->sid, sizeof(t->sid), "%s", sg_socket_id(s));

	memset(&ev, 0, sizeof(ev));
	ev.nsp = t->nsp;
	ev.sid = t->sid;
	ev.event = event;
	ev.args = args;
	ev.att = (const struct sg_bridge_bin *)att;
	ev.n_att = n_att;
	ev.auth = sg_socket_auth(s);
	ev.claims = sg_socket_claims(s);
	ev.query = sg_eio_session_query_json(sg_socket_session(s));
	ev.wants_ack = ack_id >= 0;
	b->open_tickets++; /* before publish(): it may complete the ticket at once */
	rc = bd->host->pl->p->publish(bd->host->inst, bd->id, &ev, t);
	if (rc == 1) {
		b->open_tickets--;
		t->magic = 0;
		free(t->nsp);
		free(t);
		return 0;
	}
	return 1;
}

/* The plugin's on_lifecycle, or NULL (none, or a plugin built before ABI 1.3: its
 * descriptor ends before that member). */
static void (*lifecycle_fn(const struct plugin *pl))(void *, int, const struct sg_bridge_lifecycle *)
{
	return pl->p->abi_minor >= 3 ? pl->p->on_lifecycle : NULL;
}

/* Reports one lifecycle step of socket `s` to its binding's plugin. */
static void report(struct sg_bridges *b, struct sg_socket *s, enum sg_bridge_lifecycle_type type,
		   const char *room, const char *by, const char *reason)
{
	struct binding *bd = binding_of(b, s);
	void (*fn)(void *, int, const struct sg_bridge_lifecycle *);
	struct room_list rl;
	struct sg_bridge_socket info;
	struct sg_bridge_lifecycle ev;

	if (!bd || b->shut || b->halted || !(fn = lifecycle_fn(bd->host->pl)))
		return;
	room_list_init(&rl);
	socket_info(s, &rl, &info);
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.socket = &info;
	ev.room = room;
	ev.by = by;
	ev.reason = reason;
	fn(bd->host->inst, bd->id, &ev);
	socket_info_done(&info);
	room_list_free(&rl);
}

static void app_connection(void *ud, struct sg_socket *s)
{
	report(ud, s, SG_BRIDGE_LC_CONNECT, NULL, NULL, NULL);
}

static void app_disconnect(void *ud, struct sg_socket *s, const char *reason)
{
	report(ud, s, SG_BRIDGE_LC_DISCONNECT, NULL, NULL, reason);
}

static const char *by_name(int by)
{
	return by == SG_JOIN_CONTROL ? "control" : "client";
}

static void app_join(void *ud, struct sg_socket *s, const char *room, int by)
{
	struct sg_bridges *b = ud;
	struct binding *bd = binding_of(b, s);

	if (bd && bd->host->pl->p->on_join && !b->stopped)
		bd->host->pl->p->on_join(bd->host->inst, bd->id, sg_nsp_name(sg_socket_nsp(s)),
					  sg_socket_id(s), room);
	/* Joins by policy happen at connect: the connect record lists them. */
	if (by != SG_JOIN_AUTO)
		report(b, s, SG_BRIDGE_LC_JOIN, room, by_name(by), NULL);
}

static void app_leave(void *ud, struct sg_socket *s, const char *room, int by)
{
	report(ud, s, SG_BRIDGE_LC_LEAVE, room, by_name(by), NULL);
}

static struct binding *binding_of_nsp(struct sg_bridges *b, struct sg_nsp *nsp)
{
	const struct sg_nsp_config *nc = sg_nsp_config(nsp);

	for (size_t i = 0; nc && i < b->n_bindings; i++)
		if (b->bindings[i].nsp == nc && nc->recovery.sessions_topic && keeps_sessions(b->bindings[i].host->pl))
			return &b->bindings[i];
	return NULL;
}

static int app_rec_save(void *ud, struct sg_nsp *nsp, const json_t *session)
{
	struct sg_bridges *b = ud;
	struct binding *bd = b->halted ? NULL : binding_of_nsp(b, nsp);

	if (!bd)
		return -1; /* the bridges stopped: sg_bridges_shutdown saved every session */
	bd->host->pl->p->session_save(bd->host->inst, bd->id, session);
	return 0;
}

static void app_rec_drop(void *ud, struct sg_nsp *nsp, const char *pid)
{
	struct sg_bridges *b = ud;
	struct binding *bd = b->halted ? NULL : binding_of_nsp(b, nsp);

	if (bd)
		bd->host->pl->p->session_drop(bd->host->inst, bd->id, pid);
}

static json_t *app_rec_find(void *ud, struct sg_nsp *nsp, const char *pid)
{
	struct sg_bridges *b = ud;
	struct binding *bd = b->stopped ? NULL : binding_of_nsp(b, nsp);

	return bd ? bd->host->pl->p->session_find(bd->host->inst, bd->id, sg_nsp_name(nsp), pid) : NULL;
}

static int app_rec_replay(void *ud, struct sg_socket *s, const json_t *session, const char *offset)
{
	struct sg_bridges *b = ud;
	struct binding *bd = b->stopped ? NULL : binding_of_nsp(b, sg_socket_nsp(s));

	return bd ? bd->host->pl->p->session_replay(bd->host->inst, bd->id, sg_socket_id(s), session, offset) : -1;
}

static const struct sg_sio_app bridges_app = {app_connection, app_event, app_disconnect, app_join, app_leave,
					      app_rec_save, app_rec_drop, app_rec_find, app_rec_replay, NULL,
					      NULL};

/* ---------------------------------------------------------------- lifecycle */

static struct sg_host *host_for(struct sg_bridges *b, struct plugin *pl, const char *broker_name,
				const json_t *broker, char *err)
{
	const char *label = broker_name ? broker_name : pl->type;
	char e[SG_BRIDGE_ERR_MAX] = "";
	struct sg_host *h, **nh;

	for (size_t i = 0; i < b->n_hosts; i++)
		if (b->hosts[i]->pl == pl && !strcmp(b->hosts[i]->label, label))
			return b->hosts[i];
	h = calloc(1, sizeof(*h));
	nh = realloc(b->hosts, (b->n_hosts + 1) * sizeof(*nh));
	if (!h || !nh || !(h->label = strdup(label))) {
		free(h);
		if (nh)
			b->hosts = nh;
		set_err(err, "%s: out of memory", label);
		return NULL;
	}
	b->hosts = nh;
	h->magic = HOST_MAGIC;
	h->b = b;
	h->pl = pl;
	h->broker = broker;
	snprintf(h->reason, sizeof(h->reason), "starting");
	h->inst = pl->p->init(&host_api, h, broker_name, broker, e, sizeof(e));
	if (!h->inst) {
		set_err(err, "%s%s: cannot start the %s bridge: %s", broker_name ? "brokers." : "", label,
			pl->type, e[0] ? e : "unknown error");
		free(h->label);
		free(h);
		return NULL;
	}
	b->hosts[b->n_hosts++] = h;
	/* The message counters every plugin keeps exist from the start at 0, so that rate()
	 * and absent-series alerts work before the first message. */
	for (const char *const *c = core_counters; *c; c++)
		h_count(h, *c, "", 0);
	return h;
}

int sg_bridges_start(struct sg_bridges *b, struct sg_sio *sio, struct lws_context *ctx,
		     struct sg_stats *stats, char err[SG_CONFIG_ERR_MAX])
{
	const struct sg_config *cfg = b->cfg;
	sigset_t block, saved;

	b->sio = sio;
	b->ctx = ctx;
	b->stats = stats;
	if (!b->metrics) {
		if (!(b->metrics = sg_metrics_create()))
			return set_err(err, "bridges: out of memory");
		b->own_metrics = 1;
	}
	/* Gauges the previous bridges set (a reload) show again once these set them. */
	sg_metrics_reset_gauges(b->metrics);
	pthread_once(&instance_once, make_instance_id);

	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const struct sg_nsp_config *nc = &cfg->namespaces[i];
		const json_t *broker;
		const char *bname;
		char where[64], e[SG_BRIDGE_ERR_MAX] = "";
		struct plugin *pl;
		struct sg_host *h;
		struct binding *nb;
		int id;

		if (!nc->bridge)
			continue;
		snprintf(where, sizeof(where), "namespaces[%zu].bridge", i);
		pl = bridge_plugin(b, nc->bridge, where, &broker, &bname, "", err);
		if (!pl || !(h = host_for(b, pl, bname, broker, err)))
			return -1;
		id = pl->p->bind(h->inst, nc->name ? nc->name : nc->match, nc->name == NULL, nc->bridge,
				 e, sizeof(e));
		if (id < 0)
			return plugin_err(err, where, e[0] ? e : ": cannot bind");
		if (nc->recovery.sessions_topic &&
		    (!keeps_sessions(pl) || pl->p->session_topic(h->inst, id, nc->recovery.sessions_topic, e, sizeof(e))))
			return set_err(err, "namespaces[%zu].recovery.sessions_topic: %s", i,
				       e[0] ? e : "the bridge cannot keep sessions");
		nb = realloc(b->bindings, (b->n_bindings + 1) * sizeof(*nb));
		if (!nb)
			return set_err(err, "%s: out of memory", where);
		b->bindings = nb;
		b->bindings[b->n_bindings].nsp = nc;
		b->bindings[b->n_bindings].host = h;
		b->bindings[b->n_bindings].id = id;
		b->n_bindings++;
	}
	/* The threads plugins start (libmosquitto's, librdkafka's) inherit a mask that blocks the
	 * daemon's signals: they belong to the loop thread. A SIGTERM or SIGHUP taken by the MQTT
	 * thread interrupted its select(), which dropped the broker connection (and made the
	 * broker publish the Last Will of a live replica). */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	for (size_t i = 0; i < b->n_hosts; i++) {
		char e[SG_BRIDGE_ERR_MAX] = "";
		struct sg_host *h = b->hosts[i];

		if (h->pl->p->start(h->inst, e, sizeof(e))) {
			pthread_sigmask(SIG_SETMASK, &saved, NULL);
			return set_err(err, "bridge '%s': cannot start (%s)", h->label, e[0] ? e : "unknown error");
		}
		h->started = 1;
		sg_info("bridge", h->label, "%s bridge started (%s)", h->pl->type, h->pl->file);
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (b->n_bindings)
		sg_sio_set_app(sio, &bridges_app, b);
	return 0;
}

void sg_bridges_quiesce(struct sg_bridges *b)
{
	if (b)
		b->stopped = 1;
}

int sg_bridges_flushed(const struct sg_bridges *b)
{
	return !b || !b->open_tickets;
}

static void save_sessions(void *ud, struct sg_nsp *nsp)
{
	(void)ud;
	sg_nsp_save_sessions(nsp);
}

static void report_shutdown(void *ud, struct sg_nsp *nsp)
{
	struct sg_bridges *b = ud;
	size_t n;
	struct sg_socket **ss = sg_nsp_select(nsp, NULL, 0, NULL, 0, NULL, 0, &n);

	for (size_t i = 0; i < n; i++)
		report(b, ss[i], SG_BRIDGE_LC_DISCONNECT, NULL, NULL, "server shutting down");
	free(ss);
}

void sg_bridges_shutdown(struct sg_bridges *b)
{
	struct sg_bridge_lifecycle ev = {.type = SG_BRIDGE_LC_SHUTDOWN};

	if (!b || b->shut || b->halted)
		return;
	/* Sessions kept in the broker go with the flush that follows, before the clients are
	 * closed (by then the bridges have stopped). */
	for (size_t i = 0; i < b->n_bindings; i++)
		if (b->bindings[i].nsp->recovery.sessions_topic)
			sg_sio_foreach_nsp(b->sio, b->bindings[i].nsp, save_sessions, b);
	for (size_t i = 0; i < b->n_bindings; i++)
		if (lifecycle_fn(b->bindings[i].host->pl))
			sg_sio_foreach_nsp(b->sio, b->bindings[i].nsp, report_shutdown, b);
	b->shut = 1; /* the clients are closed after this: their disconnects are reported */
	for (size_t i = 0; i < b->n_hosts; i++) {
		void (*fn)(void *, int, const struct sg_bridge_lifecycle *) = lifecycle_fn(b->hosts[i]->pl);

		if (fn && b->hosts[i]->started)
			fn(b->hosts[i]->inst, -1, &ev);
	}
}

void sg_bridges_stop(struct sg_bridges *b, unsigned drain_ms)
{
	double deadline = sg_mono_seconds() + drain_ms / 1000.0;

	if (!b || b->halted)
		return;
	b->stopped = b->halted = 1;
	for (size_t i = 0; i < b->n_hosts; i++)
		cancel_timers(b->hosts[i]);
	/* One budget for them all: each flush gets what the ones before it left. */
	for (size_t i = 0; i < b->n_hosts; i++) {
		double left = (deadline - sg_mono_seconds()) * 1000;

		if (b->hosts[i]->started)
			b->hosts[i]->pl->p->stop(b->hosts[i]->inst, left > 0 ? (unsigned)left : 0);
	}
	/* What the plugins posted before they stopped still runs (it may complete tickets). */
	if (b->ctx)
		sg_bridges_run_posted(b);
	pthread_mutex_lock(&b->mu);
	b->stopping = 1;
	pthread_mutex_unlock(&b->mu);
}

void sg_bridges_destroy(struct sg_bridges *b)
{
	if (!b)
		return;
	sg_bridges_stop(b, 0);
	for (size_t i = 0; i < b->n_hosts; i++) {
		b->hosts[i]->pl->p->fini(b->hosts[i]->inst);
		free(b->hosts[i]->label);
		json_decref(b->hosts[i]->info);
		free(b->hosts[i]);
	}
	free(b->hosts);
	free(b->bindings);
	for (size_t i = 0; i < b->n_plugins; i++) {
		dlclose(b->plugins[i].dl);
		free(b->plugins[i].type);
		free(b->plugins[i].file);
	}
	free(b->plugins);
	while (b->posts.head)
		free(sg_list_item(sg_list_pop_front(&b->posts), struct post_item, in_queue));
	if (b->own_metrics)
		sg_metrics_destroy(b->metrics);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

size_t sg_bridges_count(const struct sg_bridges *b)
{
	return b ? b->n_hosts : 0;
}

int sg_bridges_ready(struct sg_bridges *b, char *reason, size_t len)
{
	int ready = 1;

	if (!b)
		return 1;
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < b->n_hosts && ready; i++)
		if (!b->hosts[i]->ready) {
			ready = 0;
			snprintf(reason, len, "bridge '%s': %s", b->hosts[i]->label, b->hosts[i]->reason);
		}
	pthread_mutex_unlock(&b->mu);
	return ready;
}

json_t *sg_bridges_info(struct sg_bridges *b)
{
	json_t *all = json_object();

	if (!b || !all)
		return all;
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < b->n_hosts; i++)
		if (b->hosts[i]->info && json_object_size(b->hosts[i]->info))
			json_object_set_new(all, b->hosts[i]->label, json_deep_copy(b->hosts[i]->info));
	pthread_mutex_unlock(&b->mu);
	return all;
}

void sg_bridges_set_metrics(struct sg_bridges *b, struct sg_metrics *m)
{
	if (b->own_metrics)
		sg_metrics_destroy(b->metrics);
	b->metrics = m;
	b->own_metrics = 0;
}

void sg_bridges_metrics(struct sg_bridges *b, struct sg_strbuf *out)
{
	if (b)
		sg_metrics_write(b->metrics, out);
}
