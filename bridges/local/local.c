/* local.c - the "local" bridge: the mapping model with an in-process broker. A client event
 * routed by from_clients is "produced" to a topic name, and every to_clients mapping (of any
 * namespace bound to this bridge) that consumes that topic delivers it, on the loop thread.
 * A single instance is a plain Socket.IO relay; it is also the reference for the mapping
 * semantics the broker bridges share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "events.h"
#include "siogate/bridge.h"

struct pending {
	struct local *l;
	struct sgm_out out;
	struct sg_bridge_ticket *ticket;
	struct pending *next;
};

/* The counters counted per message: handles looked up once (ABI 1.2), then lock-free. */
enum lctr { LC_CONSUMED, LC_PRODUCED, LC_MALFORMED, LC_REFUSED, LC_N };
static const char *const lctr_names[LC_N] = {
	"messages_consumed", "messages_produced", "messages_malformed", "messages_refused",
};

struct local {
	const struct sg_host_api *api;
	struct sg_host *host;
	struct sgm_binding **bindings;
	size_t n_bindings;
	struct pending *head, *tail;  /* messages waiting for the loop to deliver them */
	int scheduled;
	int stopped;
	unsigned long malformed;
	struct sg_bridge_counter *ctr[LC_N]; /* host-owned; NULL (refused) counts nothing */
	struct sgm_evdrv *ev;        /* lifecycle records, heartbeats, presence answers */
};

static int produce_event(void *ud, const struct sgm_out *o, char *why, size_t whylen);

static const struct sgm_flavor flavor = {"local", NULL, NULL, NULL};

static int check_binding(const json_t *bridge, char *err, size_t errlen)
{
	const json_t *up = json_object_get(bridge, "from_clients"), *e;
	size_t i;

	/* Nothing behind an in-process broker can answer a client's request. */
	json_array_foreach(up, i, e)
		if (json_is_string(json_object_get(e, "reply")) &&
		    !strcmp(json_string_value(json_object_get(e, "reply")), "backend"))
			return sgm_errf(err, errlen, "from_clients[%zu].reply: a local bridge has no backend to answer "
					"(\"backend\" needs a broker)", i);
	return sgm_check(bridge, &flavor, err, errlen);
}

static void *init(const struct sg_host_api *api, struct sg_host *host, const char *broker_name,
		  const json_t *broker, char *err, size_t errlen)
{
	struct local *l = calloc(1, sizeof(*l));

	(void)broker_name;
	(void)broker;
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->api = api;
	l->host = host;
	if (!(l->ev = sgm_evdrv_new(api, host, produce_event, l))) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < LC_N; i++)
		l->ctr[i] = api->counter_handle(host, lctr_names[i], NULL);
	return l;
}

static int lbind(void *inst, const char *nsp, int is_pattern, const json_t *bridge, char *err, size_t errlen)
{
	struct local *l = inst;
	int id = sgm_bindings_add(&l->bindings, &l->n_bindings, nsp, is_pattern, bridge, &flavor, err, errlen);

	if (id >= 0 && sgm_binding_set_driver(l->bindings[id], l->ev)) {
		snprintf(err, errlen, ": out of memory");
		return -1;
	}
	return id;
}

static int start(void *inst, char *err, size_t errlen)
{
	struct local *l = inst;

	l->api->set_ready(l->host, 1, NULL);
	if (sgm_evdrv_start(l->ev)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Hands one produced message to every subscription of every binding that matches it. */
static long deliver(struct local *l, const struct sgm_out *o)
{
	struct sgm_header h[SGM_MAX_HEADERS];
	struct sgm_msg m;
	long total = 0;
	int claimed = 0;

	memset(&m, 0, sizeof(m));
	m.topic = o->topic;
	m.key = o->key;
	m.key_len = o->key ? strlen(o->key) : 0;
	for (size_t i = 0; i < o->n_headers; i++) {
		h[i].name = o->hname[i];
		h[i].value = o->hvalue[i];
		h[i].len = strlen(o->hvalue[i]);
	}
	m.headers = h;
	m.n_headers = o->n_headers;
	m.value = o->value;
	m.value_len = o->value_len;

	for (size_t i = 0; i < l->n_bindings; i++) {
		const struct sgm_sub *subs;
		size_t n = sgm_subs(l->bindings[i], &subs);

		for (size_t j = 0; j < n; j++) {
			char why[256];
			long rc;

			if (!sgm_sub_match(&subs[j], o->topic, NULL, 0))
				continue;
			rc = sgm_deliver(l->bindings[i], &subs[j], &m, l->api, l->host, why, sizeof(why));
			if (rc == -2)
				continue;
			claimed = 1;
			if (rc < 0) {
				l->malformed++;
				l->api->counter_add(l->ctr[LC_MALFORMED], 1);
				l->api->log(l->host, SG_BRIDGE_LOG_WARN, "topic '%s': message skipped (%s)",
					    o->topic, why);
				continue;
			}
			l->api->counter_add(l->ctr[LC_CONSUMED], 1);
			total += rc;
		}
	}
	(void)claimed;
	return total;
}

static void run_pending(void *ud)
{
	struct local *l = ud;
	struct pending *p;

	l->scheduled = 0;
	while ((p = l->head)) {
		json_t *res;
		long n;

		l->head = p->next;
		if (!l->head)
			l->tail = NULL;
		n = deliver(l, &p->out);
		if (p->ticket) {
			res = json_pack("{sbsssI}", "ok", 1, "topic", p->out.topic, "delivered", (json_int_t)n);
			l->api->complete(l->host, p->ticket, res);
			json_decref(res);
		} else {
			sgm_evdrv_result(l->ev, 1, NULL); /* a record of the events driver */
		}
		sgm_out_clear(&p->out);
		free(p);
	}
}

static void fail_ticket(struct local *l, struct sg_bridge_ticket *t, const char *why)
{
	json_t *res = json_pack("{sbss}", "ok", 0, "error", why);

	l->api->complete(l->host, t, res);
	json_decref(res);
}

/* Queues `p` for delivery on the loop (not from inside the caller). */
static void enqueue(struct local *l, struct pending *p)
{
	p->l = l;
	if (l->tail)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	/* Delivered from the loop, not from inside the client's event: like a real broker,
	 * and without re-entering the socket that is being served. */
	if (!l->scheduled && l->api->post(l->host, run_pending, l) == 0)
		l->scheduled = 1;
	else if (!l->scheduled)
		run_pending(l);
}

/* The events driver's produce: a copy of the record goes through the same queue. */
static int produce_event(void *ud, const struct sgm_out *o, char *why, size_t whylen)
{
	struct local *l = ud;
	struct pending *p = calloc(1, sizeof(*p));
	int oom = !p;

	if (p) {
		p->out.topic = strdup(o->topic);
		p->out.key = o->key ? strdup(o->key) : NULL;
		p->out.value = malloc(o->value_len + 1);
		oom = !p->out.topic || (o->key && !p->out.key) || !p->out.value;
		if (p->out.value) {
			memcpy(p->out.value, o->value, o->value_len);
			p->out.value[o->value_len] = '\0';
			p->out.value_len = o->value_len;
		}
		for (size_t i = 0; !oom && i < o->n_headers; i++) {
			p->out.hname[i] = strdup(o->hname[i]);
			p->out.hvalue[i] = strdup(o->hvalue[i]);
			p->out.n_headers = i + 1;
			oom = !p->out.hname[i] || !p->out.hvalue[i];
		}
	}
	if (oom) {
		if (p)
			sgm_out_clear(&p->out);
		free(p);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	enqueue(l, p);
	return 0;
}

static void on_lifecycle(void *inst, int binding, const struct sg_bridge_lifecycle *ev)
{
	struct local *l = inst;

	sgm_evdrv_lifecycle(l->ev, binding >= 0 && (size_t)binding < l->n_bindings ? l->bindings[binding] : NULL, ev);
}

static int publish(void *inst, int binding, const struct sg_bridge_event *ev, struct sg_bridge_ticket *ticket)
{
	struct local *l = inst;
	struct sgm_binding *b = l->bindings[binding];
	int route = sgm_route(b, ev->event);
	struct pending *p;
	char why[256];

	if (route < 0)
		return 1;
	if (l->stopped) {
		fail_ticket(l, ticket, "the gateway is shutting down");
		return -1;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		fail_ticket(l, ticket, "out of memory");
		return -1;
	}
	if (sgm_build(b, route, ev, l->api, l->host, &p->out, why, sizeof(why))) {
		free(p);
		l->api->counter_add(l->ctr[LC_REFUSED], 1);
		fail_ticket(l, ticket, why);
		return -1;
	}
	l->api->counter_add(l->ctr[LC_PRODUCED], 1);
	p->ticket = ticket;
	enqueue(l, p);
	return 0;
}

static void stop(void *inst, unsigned drain_ms)
{
	struct local *l = inst;

	(void)drain_ms;
	l->stopped = 1;
	run_pending(l); /* everything accepted is delivered: there is no broker to wait for */
}

static void fini(void *inst)
{
	struct local *l = inst;

	sgm_bindings_free(l->bindings, l->n_bindings);
	sgm_evdrv_free(l->ev);
	free(l);
}

SG_BRIDGE_PLUGIN(.name = "local", .version = PACKAGE_VERSION, .check_binding = check_binding,
		 .init = init, .bind = lbind, .start = start, .publish = publish, .stop = stop,
		 .fini = fini, .on_lifecycle = on_lifecycle);
