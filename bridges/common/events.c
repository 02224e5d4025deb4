/* events.c - lifecycle records, instance heartbeats and presence answers (events.h). */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "message.h"
#include "util/clock.h"

#define FAIL_LOG_INTERVAL_S 10 /* records that could not be produced: one warning per interval */
#define MAX_QUERY_ID 256

static const char *const type_names[] = {"connect", "join", "leave", "disconnect", NULL};
static const char *const hs_names[] = {"address", "query", "claims", "auth", "headers", NULL};
static const char *const events_keys[] = {"topic", "types", "handshake", "heartbeat_ms", NULL};

/* ---------------------------------------------------------------- config */

/* A topic the driver produces to, by the broker's rule for such names. */
int sgm_publish_ok(const struct sgm_flavor *fl, const char *topic, char *why, size_t len)
{
	int (*ok)(const char *, char *, size_t) = fl ? (fl->publish_ok ? fl->publish_ok : fl->topic_ok) : NULL;

	return ok ? ok(topic, why, len) : 0;
}

static int name_index(const char *s, const char *const *names)
{
	for (int i = 0; s && names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* A list of names from `names` as bits; absent: `def`. */
static int name_bits(const json_t *ev, const char *key, const char *const *names, unsigned def, unsigned *out,
		     char *err, size_t len)
{
	const json_t *a = json_object_get(ev, key);
	size_t i;
	json_t *v;

	*out = def;
	if (!a)
		return 0;
	if (!json_is_array(a) || !json_array_size(a))
		return sgm_errf(err, len, "events.%s: expected a non-empty array of names", key);
	*out = 0;
	json_array_foreach(a, i, v) {
		int k = name_index(json_string_value(v), names);
		char known[96] = "";

		if (k < 0) {
			for (int j = 0; names[j]; j++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", j ? ", " : "",
					 names[j]);
			return sgm_errf(err, len, "events.%s[%zu]: expected one of %s", key, i, known);
		}
		if (*out & (1u << k))
			return sgm_errf(err, len, "events.%s[%zu]: '%s' is listed twice", key, i, names[k]);
		*out |= 1u << k;
	}
	return 0;
}

int sgm_events_parse(const json_t *ev, const struct sgm_flavor *fl, struct sgm_events *out, char *err,
		     size_t len)
{
	const json_t *topic, *hb;
	const char *k, *hint;
	char why[160];
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(ev))
		return sgm_errf(err, len, "events: expected an object ({\"topic\": \"...\"})");
	json_object_foreach((json_t *)ev, k, v) {
		if (name_index(k, events_keys) >= 0)
			continue;
		hint = sgm_suggest(k, events_keys, NULL);
		return hint ? sgm_errf(err, len, "events: unknown key '%s' (did you mean '%s'?)", k, hint)
			    : sgm_errf(err, len, "events: unknown key '%s'", k);
	}
	topic = json_object_get(ev, "topic");
	if (!topic)
		return sgm_errf(err, len, "events: missing required key 'topic'");
	if (!json_is_string(topic) || !json_string_length(topic))
		return sgm_errf(err, len, "events.topic: expected a non-empty string");
	if (strchr(json_string_value(topic), '{'))
		return sgm_errf(err, len, "events.topic: placeholders are not allowed here");
	if (sgm_publish_ok(fl, json_string_value(topic), why, sizeof(why)))
		return sgm_errf(err, len, "events.topic: %s", why);
	if (name_bits(ev, "types", type_names, 0xfu, &out->types, err, len) ||
	    name_bits(ev, "handshake", hs_names, SGM_HS_ADDRESS | SGM_HS_QUERY | SGM_HS_CLAIMS, &out->handshake, err,
		      len))
		return -1;
	out->heartbeat_ms = SGM_EVENTS_HEARTBEAT_DEFAULT_MS;
	if ((hb = json_object_get(ev, "heartbeat_ms"))) {
		/* A JSON integer, or a string of digits: what "${HB:-5000}" becomes once expanded. */
		const char *txt = json_string_value(hb);
		char *end = NULL;
		double d = txt ? (txt[0] >= '0' && txt[0] <= '9' ? strtod(txt, &end) : -1) : json_number_value(hb);

		if ((!json_is_number(hb) && !(txt && end && !*end && !strpbrk(txt, ".eE"))) ||
		    d != (double)(long long)d || d < SGM_EVENTS_HEARTBEAT_MIN_MS || d > SGM_EVENTS_HEARTBEAT_MAX_MS)
			return sgm_errf(err, len, "events.heartbeat_ms: expected an integer from %d to %d",
					SGM_EVENTS_HEARTBEAT_MIN_MS, SGM_EVENTS_HEARTBEAT_MAX_MS);
		out->heartbeat_ms = (unsigned)d;
	}
	if (!(out->topic = strdup(json_string_value(topic))))
		return sgm_errf(err, len, "events: out of memory");
	return 0;
}

void sgm_events_clear(struct sgm_events *e)
{
	free(e->topic);
	memset(e, 0, sizeof(*e));
}

/* ---------------------------------------------------------------- records */

static int add_header(struct sgm_out *o, const char *name, const char *value)
{
	if (o->n_headers == SGM_MAX_HEADERS)
		return -1;
	o->hname[o->n_headers] = strdup(name);
	o->hvalue[o->n_headers] = strdup(value);
	o->n_headers++;
	return o->hname[o->n_headers - 1] && o->hvalue[o->n_headers - 1] ? 0 : -1;
}

/* Fills `o` with topic, key and the JSON text of `value` (stolen). Returns 0 or -1 (then o
 * is cleared). */
static int finish(struct sgm_out *o, const char *topic, const char *key, json_t *value)
{
	int rc = -1;

	if (value && (o->topic = strdup(topic)) && (o->key = strdup(key)) &&
	    (o->value = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY))) {
		o->value_len = strlen(o->value);
		rc = 0;
	}
	json_decref(value);
	if (rc)
		sgm_out_clear(o);
	return rc;
}

static json_t *string_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Sets key to a copy of `v` (an empty object for NULL). Returns 0 or -1. */
static int set_copy(json_t *o, const char *key, const json_t *v)
{
	return json_object_set_new(o, key, v ? json_deep_copy(v) : json_object());
}

int sgm_lifecycle_record(const struct sgm_events *e, const struct sg_bridge_lifecycle *ev, const char *instance,
			 long long now_ms, struct sgm_out *out)
{
	const struct sg_bridge_socket *s = ev->socket;
	json_t *v;
	int bad = 0;

	memset(out, 0, sizeof(*out));
	if (ev->type > SG_BRIDGE_LC_DISCONNECT || !s)
		return 1;
	if (!(e->types & (1u << ev->type)))
		return 1;
	v = json_pack("{sssssssssI}", "type", type_names[ev->type], "namespace", s->nsp, "sid", s->sid, "instance",
		      instance, "time", (json_int_t)now_ms);
	if (!v)
		return -1;
	switch (ev->type) {
	case SG_BRIDGE_LC_CONNECT:
		bad |= json_object_set_new(v, "rooms", string_array(s->rooms, s->n_rooms));
		/* A client that took its dropped session over: the same sid as before, not a new socket. */
		if (s->recovered)
			bad |= json_object_set_new(v, "recovered", json_true());
		if (e->handshake & SGM_HS_ADDRESS)
			bad |= json_object_set_new(v, "address", json_string(s->address ? s->address : ""));
		if (e->handshake & SGM_HS_QUERY)
			bad |= set_copy(v, "query", s->query);
		if (e->handshake & SGM_HS_CLAIMS)
			bad |= set_copy(v, "claims", s->claims);
		if (e->handshake & SGM_HS_AUTH)
			bad |= set_copy(v, "auth", s->auth);
		if (e->handshake & SGM_HS_HEADERS)
			bad |= set_copy(v, "headers", s->headers);
		break;
	case SG_BRIDGE_LC_JOIN:
	case SG_BRIDGE_LC_LEAVE:
		bad |= json_object_set_new(v, "room", json_string(ev->room ? ev->room : ""));
		bad |= json_object_set_new(v, "by", json_string(ev->by ? ev->by : "client"));
		break;
	default:
		bad |= json_object_set_new(v, "reason", json_string(ev->reason ? ev->reason : "unknown"));
		bad |= json_object_set_new(v, "rooms", string_array(s->rooms, s->n_rooms));
		break;
	}
	if (bad || add_header(out, SGM_H_NAMESPACE, s->nsp) || add_header(out, SGM_H_SID, s->sid) ||
	    add_header(out, SGM_H_EVENT, type_names[ev->type])) {
		json_decref(v);
		sgm_out_clear(out);
		return -1;
	}
	return finish(out, e->topic, s->sid, v);
}

int sgm_instance_record(const char *topic, const char *instance, int up, long long now_ms, const json_t *namespaces,
			int will, struct sgm_out *out)
{
	json_t *v = json_pack("{sssssssI}", "type", "instance", "instance", instance, "state", up ? "up" : "down",
			      "time", (json_int_t)now_ms);
	int bad = !v;

	memset(out, 0, sizeof(*out));
	if (v && up) {
		json_int_t total = 0;
		const char *k;
		json_t *n;

		json_object_foreach((json_t *)namespaces, k, n)
			total += json_integer_value(n);
		bad |= json_object_set_new(v, "sockets", json_integer(total));
		bad |= set_copy(v, "namespaces", namespaces);
	}
	if (v && will)
		bad |= json_object_set_new(v, "will", json_true());
	if (bad || add_header(out, SGM_H_EVENT, "instance") || add_header(out, SGM_H_INSTANCE, instance)) {
		json_decref(v);
		sgm_out_clear(out);
		return -1;
	}
	return finish(out, topic, instance, v);
}

/* ---------------------------------------------------------------- the driver */

/* A binding as the driver knows it (sgm_evdrv_add): all borrowed from the binding. */
struct entry {
	const struct sgm_binding *key; /* only compared: the binding of a lifecycle step */
	const char *nsp;
	int is_pattern;
	const struct sgm_events *events;
};

/* The bindings that share one events topic: one heartbeat for them. */
struct group {
	struct sgm_evdrv *d;
	const char *topic;           /* borrowed from the first binding's events */
	unsigned heartbeat_ms;       /* the shortest of its bindings' */
	unsigned long beats;
	struct entry *b;
	size_t n_b;
};

enum ectr { EC_PRODUCED, EC_FAILED, EC_QUERIES, EC_N };
static const char *const ectr_names[EC_N] = {"events_produced", "events_failed", "queries_answered"};

struct sgm_evdrv {
	const struct sg_host_api *api;
	struct sg_host *h;
	sgm_produce_fn produce;
	void *ud;
	struct entry *b;
	size_t n_b;
	struct group *g;
	size_t n_g;
	int down;                    /* SHUTDOWN seen: nothing more */
	struct sgm_reqs *reqs;       /* borrowed: the plugin's (requests.h), or NULL */
	unsigned long failed;
	time_t failed_logged;
	char last_why[160];
	struct sg_bridge_counter *ctr[EC_N];
};

struct sgm_evdrv *sgm_evdrv_new(const struct sg_host_api *api, struct sg_host *h, sgm_produce_fn produce, void *ud)
{
	struct sgm_evdrv *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->api = api;
	d->h = h;
	d->produce = produce;
	d->ud = ud;
	for (int i = 0; i < EC_N; i++)
		d->ctr[i] = api->abi_minor >= 2 && api->counter_handle ? api->counter_handle(h, ectr_names[i], NULL)
									: NULL;
	return d;
}

void sgm_evdrv_free(struct sgm_evdrv *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_g; i++)
		free(d->g[i].b);
	free(d->g);
	free(d->b);
	free(d);
}

int sgm_evdrv_add(struct sgm_evdrv *d, const struct sgm_binding *key, const char *nsp, int is_pattern,
		  const struct sgm_events *events)
{
	struct entry *nb = realloc(d->b, (d->n_b + 1) * sizeof(*nb));

	if (!nb)
		return -1;
	d->b = nb;
	d->b[d->n_b++] = (struct entry){key, nsp, is_pattern, events};
	return 0;
}

static const struct sgm_events *events_of(const struct sgm_evdrv *d, const struct sgm_binding *key)
{
	for (size_t i = 0; i < d->n_b; i++)
		if (d->b[i].key == key)
			return d->b[i].events;
	return NULL;
}

static void count(struct sgm_evdrv *d, enum ectr c)
{
	if (d->ctr[c])
		d->api->counter_add(d->ctr[c], 1);
}

void sgm_evdrv_result(struct sgm_evdrv *d, int ok, const char *why)
{
	time_t now;

	if (ok) {
		count(d, EC_PRODUCED);
		return;
	}
	count(d, EC_FAILED);
	d->failed++;
	snprintf(d->last_why, sizeof(d->last_why), "%s", why && why[0] ? why : "unknown error");
	now = time(NULL);
	if (now - d->failed_logged < FAIL_LOG_INTERVAL_S)
		return;
	d->failed_logged = now;
	d->api->log(d->h, SG_BRIDGE_LOG_WARN,
		    "a lifecycle, heartbeat or presence record could not be produced (%s); %lu so far",
		    d->last_why, d->failed);
}

/* Hands a built record to the plugin; a refusal is counted like a failed delivery. */
static void emit_record(struct sgm_evdrv *d, struct sgm_out *o)
{
	char why[200] = "";

	if (d->produce(d->ud, o, why, sizeof(why)))
		sgm_evdrv_result(d, 0, why);
	sgm_out_clear(o);
}

void sgm_evdrv_emit(struct sgm_evdrv *d, struct sgm_out *o)
{
	emit_record(d, o);
}

void sgm_evdrv_set_reqs(struct sgm_evdrv *d, struct sgm_reqs *r)
{
	d->reqs = r;
}

struct sgm_reqs *sgm_evdrv_reqs(const struct sgm_evdrv *d)
{
	return d ? d->reqs : NULL;
}

struct nsp_count {
	struct sgm_evdrv *d;
	json_t *ns;
};

static void count_nsp(void *ud, const char *nsp)
{
	struct nsp_count *c = ud;
	struct sg_bridge_target t = {.nsp = nsp};
	long n = c->d->api->sockets(c->d->h, &t, NULL, NULL);

	json_object_set_new(c->ns, nsp, json_integer(n > 0 ? n : 0));
}

static void beat(struct group *g, int up)
{
	struct sgm_evdrv *d = g->d;
	struct nsp_count c = {d, up ? json_object() : NULL};
	struct sgm_out o;

	if (up && !c.ns) {
		sgm_evdrv_result(d, 0, "out of memory");
		return;
	}
	for (size_t i = 0; up && i < g->n_b; i++) {
		if (g->b[i].is_pattern)
			d->api->foreach_nsp(d->h, g->b[i].nsp, count_nsp, &c);
		else
			count_nsp(&c, g->b[i].nsp);
	}
	if (sgm_instance_record(g->topic, d->api->instance_id(d->h), up, sg_wall_ms(), c.ns, 0, &o)) {
		sgm_evdrv_result(d, 0, "out of memory");
	} else {
		/* The next heartbeat replaces one; the first (a broker may not be connected yet)
		 * and "down" must arrive. */
		o.lossy = up && g->beats++ > 0;
		emit_record(d, &o);
	}
	json_decref(c.ns);
}

static void heartbeat(void *ud)
{
	struct group *g = ud;

	if (!g->d->down)
		beat(g, 1);
}

int sgm_evdrv_start(struct sgm_evdrv *d)
{
	for (size_t i = 0; i < d->n_b; i++) {
		const struct sgm_events *e = d->b[i].events;
		struct group *g = NULL;
		struct entry *nb;

		if (!e)
			continue;
		for (size_t j = 0; j < d->n_g && !g; j++)
			if (!strcmp(d->g[j].topic, e->topic))
				g = &d->g[j];
		if (!g) {
			struct group *ng = realloc(d->g, (d->n_g + 1) * sizeof(*ng));

			if (!ng)
				return -1;
			d->g = ng;
			g = &d->g[d->n_g++];
			memset(g, 0, sizeof(*g));
			g->d = d;
			g->topic = e->topic;
			g->heartbeat_ms = e->heartbeat_ms;
		}
		if (!(nb = realloc(g->b, (g->n_b + 1) * sizeof(*nb))))
			return -1;
		g->b = nb;
		g->b[g->n_b++] = d->b[i];
		if (e->heartbeat_ms < g->heartbeat_ms)
			g->heartbeat_ms = e->heartbeat_ms;
	}
	/* The groups are final: their addresses go to the timers. */
	for (size_t j = 0; j < d->n_g; j++) {
		beat(&d->g[j], 1);
		if (d->api->every(d->h, d->g[j].heartbeat_ms, heartbeat, &d->g[j]))
			return -1;
	}
	return 0;
}

void sgm_evdrv_lifecycle(struct sgm_evdrv *d, struct sgm_binding *b, const struct sg_bridge_lifecycle *ev)
{
	const struct sgm_events *e;
	struct sgm_out o;
	int rc;

	if (!d || d->down)
		return;
	if (ev->type == SG_BRIDGE_LC_SHUTDOWN) {
		for (size_t j = 0; j < d->n_g; j++)
			beat(&d->g[j], 0);
		d->down = 1;
		return;
	}
	if (!b || !(e = events_of(d, b)))
		return;
	if (d->api->abi_minor < 5 && ev->socket) {
		/* A host before 1.5 has no `recovered` in its socket: a copy without it. */
		struct sg_bridge_socket s;
		struct sg_bridge_lifecycle ev2 = *ev;

		memset(&s, 0, sizeof(s));
		memcpy(&s, ev->socket, offsetof(struct sg_bridge_socket, recovered));
		ev2.socket = &s;
		rc = sgm_lifecycle_record(e, &ev2, d->api->instance_id(d->h), sg_wall_ms(), &o);
	} else {
		rc = sgm_lifecycle_record(e, ev, d->api->instance_id(d->h), sg_wall_ms(), &o);
	}
	if (rc < 0)
		sgm_evdrv_result(d, 0, "out of memory");
	else if (rc == 0)
		emit_record(d, &o);
}

int sgm_evdrv_will(struct sgm_evdrv *d, struct sgm_out *out)
{
	for (size_t i = 0; i < d->n_b; i++) {
		const struct sgm_events *e = d->b[i].events;

		if (e)
			return sgm_instance_record(e->topic, d->api->instance_id(d->h), 0, sg_wall_ms(), NULL, 1, out);
	}
	return 1;
}

/* ---------------------------------------------------------------- presence queries */

struct fetch {
	json_t *sockets;
	size_t limit;
	int oom;
};

static void fetch_one(void *ud, const struct sg_bridge_socket *s)
{
	struct fetch *f = ud;
	json_t *e;

	if (json_array_size(f->sockets) >= f->limit)
		return;
	/* "o" takes the reference: the socket's claims are borrowed, so count one more for them */
	e = json_pack("{ss so so sI}", "sid", s->sid, "rooms", string_array(s->rooms, s->n_rooms), "claims",
		      s->claims ? json_incref((json_t *)s->claims) : json_object(), "connected_at",
		      (json_int_t)s->connected_at);
	if (!e || json_array_append_new(f->sockets, e))
		f->oom = 1;
}

static void room_one(void *ud, const char *room, size_t n)
{
	json_object_set_new(ud, room, json_integer((json_int_t)n));
}

long sgm_presence_query(struct sgm_evdrv *d, const struct sgm_flavor *fl, const char *op, const json_t *cmd,
			const struct sg_bridge_target *t, char *why, size_t whylen)
{
	const char *id = json_string_value(json_object_get(cmd, "id"));
	const char *reply_to = json_string_value(json_object_get(cmd, "reply_to"));
	const json_t *lim = json_object_get(cmd, "limit");
	struct fetch f = {NULL, SGM_QUERY_LIMIT_DEFAULT, 0};
	json_t *ans;
	struct sgm_out o;
	char tw[160];
	long n = 0;

	if (!d)
		return sgm_errf(why, whylen, "this bridge does not answer presence queries");
	if (d->api->abi_minor < 3)
		return sgm_errf(why, whylen, "this siogate cannot answer presence queries (bridge ABI < 1.3)");
	if (!id || !id[0] || strlen(id) > MAX_QUERY_ID)
		return sgm_errf(why, whylen, "\"%s\" needs \"id\" (a non-empty string of at most %d bytes)", op,
				MAX_QUERY_ID);
	if (!reply_to || !reply_to[0])
		return sgm_errf(why, whylen, "\"%s\" needs \"reply_to\" (the topic to answer on)", op);
	if (sgm_publish_ok(fl, reply_to, tw, sizeof(tw)))
		return sgm_errf(why, whylen, "\"reply_to\": %s", tw);
	if (lim) {
		double l = json_number_value(lim);

		/* The range first: casting a double beyond long long's is undefined. */
		if (strcmp(op, "fetch_sockets") || !json_is_number(lim) || !(l >= 1 && l <= SGM_QUERY_LIMIT_MAX) ||
		    l != (double)(long long)l)
			return sgm_errf(why, whylen, "\"limit\": expected an integer from 1 to %d (fetch_sockets only)",
					SGM_QUERY_LIMIT_MAX);
		f.limit = (size_t)l;
	}
	ans = json_pack("{ssssss}", "id", id, "instance", d->api->instance_id(d->h), "namespace", t->nsp);
	if (!ans)
		return sgm_errf(why, whylen, "out of memory");
	if (!strcmp(op, "rooms")) {
		json_t *rooms = json_object();

		n = rooms ? d->api->rooms(d->h, t->nsp, room_one, rooms) : -1;
		json_object_set_new(ans, "rooms", rooms);
	} else if (!strcmp(op, "count")) {
		n = d->api->sockets(d->h, t, NULL, NULL);
		json_object_set_new(ans, "count", json_integer(n > 0 ? n : 0));
	} else {
		f.sockets = json_array();
		n = f.sockets ? d->api->sockets(d->h, t, fetch_one, &f) : -1;
		json_object_set_new(ans, "sockets", f.sockets);
		json_object_set_new(ans, "truncated", json_boolean(n > 0 && (size_t)n > f.limit));
	}
	if (n == -1 || f.oom) {
		json_decref(ans);
		return sgm_errf(why, whylen, "out of memory");
	}
	if (n < 0)
		n = 0; /* -2: nobody of that namespace here; the answer says so */
	memset(&o, 0, sizeof(o));
	if (add_header(&o, SGM_H_NAMESPACE, t->nsp) || add_header(&o, SGM_H_EVENT, op)) {
		json_decref(ans);
		sgm_out_clear(&o);
		return sgm_errf(why, whylen, "out of memory");
	}
	if (finish(&o, reply_to, id, ans)) /* clears o, frees ans */
		return sgm_errf(why, whylen, "out of memory");
	count(d, EC_QUERIES);
	emit_record(d, &o);
	return n;
}
