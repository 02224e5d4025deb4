/* requests.c - request and reply through the broker (requests.h). */
#include "requests.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "hmap.h"
#include "message.h"
#include "util/clock.h"
#include "util/list.h"

#define TICK_MS 50                 /* how often timeouts are looked for */
#define DROP_LOG_INTERVAL_S 10     /* dropped replies: one warning per interval */

enum rctr {
	RC_OPENED, RC_ANSWERED, RC_TIMED_OUT, RC_FAILED, RC_REFUSED, RC_DROPPED,
	RC_ASKS, RC_ASK_ANSWERS, RC_ASK_TIMEOUTS, RC_ASKS_REFUSED, RC_N
};
static const char *const rctr_names[RC_N] = {
	"client_requests", "client_requests_answered", "client_requests_timed_out", "client_requests_failed",
	"client_requests_refused", "replies_dropped",
	"backend_requests", "backend_answers", "backend_answers_failed", "backend_requests_refused",
};

/* What a socket has open (for max_per_socket). */
struct sock_count {
	unsigned n;
	char sid[];
};

struct sgm_req {
	struct sgm_reqs *r;
	const struct sgm_req *self;  /* the registry's key: this pointer's value */
	char id[112];                /* <instance>.<sequence> */
	struct sg_bridge_ticket *t;  /* NULL once the client has its answer */
	char *nsp, *sid;
	long long deadline;          /* monotonic ms */
	unsigned timeout_ms;
	int produced;                /* the broker has the request */
	int in_ids;                  /* in r->ids and r->waiting */
	int gone;                    /* its socket had gone when the answer came */
	char *reply;                 /* an answer that came before the broker's confirmation */
	size_t reply_len;
	char *reply_args;            /* its sio-args header, or NULL */
	struct sg_list_node in_wait; /* in r->waiting, deadline order */
};

/* A backend's question to clients: open until every recipient answered or failed. */
struct ask {
	struct sgm_reqs *r;
	char *id, *reply_to, *nsp;
	long recipients;             /* -1 until emit_ack returned */
	long replied, failed;
};

struct sgm_reqs {
	const struct sg_host_api *api;
	struct sg_host *h;
	struct sgm_evdrv *drv;
	struct sgm_reqs_conf c;
	char *reply_topic;
	char prefix[80];             /* "<instance>." */
	unsigned long long seq;
	struct sg_hmap ids;          /* id -> sgm_req (waiting for an answer) */
	struct sg_hmap live;         /* pointer -> sgm_req (every request not freed) */
	struct sg_hmap sockets;      /* sid -> sock_count */
	struct sg_list waiting;      /* of sgm_req.in_wait, earliest deadline first */
	size_t open;                 /* client requests waiting + asks not done */
	int stopped;
	unsigned long dropped;
	time_t dropped_logged;
	struct sg_bridge_counter *ctr[RC_N];
};

static void count(struct sgm_reqs *r, enum rctr c)
{
	if (r->ctr[c])
		r->api->counter_add(r->ctr[c], 1);
}

char *sgm_reply_topic(const char *tpl, const char *instance)
{
	static const char ph[] = "{instance}";
	size_t n = strlen(tpl) + 1, pl = sizeof(ph) - 1;
	char *out, *o;

	for (const char *p = strstr(tpl, ph); p; p = strstr(p + pl, ph))
		n += strlen(instance);
	if (!(out = malloc(n)))
		return NULL;
	for (o = out; *tpl;) {
		if (!strncmp(tpl, ph, pl)) {
			o = stpcpy(o, instance);
			tpl += pl;
		} else {
			*o++ = *tpl++;
		}
	}
	*o = '\0';
	return out;
}

int sgm_reply_topic_check(const char *tpl, int (*ok)(const char *topic, char *why, size_t len), char *err,
			  size_t len)
{
	char why[200], *t = sgm_reply_topic(tpl, "instance-1-0a1b2c3d4e5f");
	int rc = 0;

	if (!t)
		return sgm_errf(err, len, "reply_topic: out of memory");
	if (!tpl[0])
		rc = sgm_errf(err, len, "reply_topic: expected a non-empty string");
	else if (strchr(t, '{') || strchr(t, '}'))
		rc = sgm_errf(err, len, "reply_topic: the only placeholder allowed is {instance}");
	else if (ok && ok(t, why, sizeof(why)))
		rc = sgm_errf(err, len, "reply_topic: %s", why);
	free(t);
	return rc;
}

struct sgm_reqs *sgm_reqs_new(const struct sg_host_api *api, struct sg_host *h, struct sgm_evdrv *drv,
			      const struct sgm_reqs_conf *c)
{
	struct sgm_reqs *r = calloc(1, sizeof(*r));

	if (!r || !(r->reply_topic = strdup(c->reply_topic ? c->reply_topic : ""))) {
		free(r);
		return NULL;
	}
	r->api = api;
	r->h = h;
	r->drv = drv;
	r->c = *c;
	r->c.reply_topic = r->reply_topic;
	snprintf(r->prefix, sizeof(r->prefix), "%.70s.", api->instance_id(h));
	sg_hmap_init(&r->ids);
	sg_hmap_init(&r->live);
	sg_hmap_init(&r->sockets);
	for (int i = 0; i < RC_N; i++)
		r->ctr[i] = api->counter_handle ? api->counter_handle(h, rctr_names[i], NULL) : NULL;
	return r;
}

const char *sgm_reqs_reply_topic(const struct sgm_reqs *r)
{
	return r->reply_topic;
}

/* ---------------------------------------------------------------- client requests */

static void socket_count(struct sgm_reqs *r, const char *sid, int delta)
{
	struct sock_count *sc = sg_hmap_get(&r->sockets, sid, strlen(sid));

	if (delta > 0) {
		if (!sc && (sc = malloc(sizeof(*sc) + strlen(sid) + 1))) {
			sc->n = 0;
			strcpy(sc->sid, sid);
			if (sg_hmap_put(&r->sockets, sc->sid, strlen(sc->sid), sc)) {
				free(sc);
				sc = NULL;
			}
		}
		if (sc)
			sc->n++;
	} else if (sc && --sc->n == 0) {
		sg_hmap_del(&r->sockets, sc->sid, strlen(sc->sid));
		free(sc);
	}
}

/* Takes q out of the id map and the deadline list: no answer is expected any more. */
static void unlist(struct sgm_req *q)
{
	if (!q->in_ids)
		return;
	sg_hmap_del(&q->r->ids, q->id, strlen(q->id));
	sg_list_remove(&q->r->waiting, &q->in_wait);
	q->in_ids = 0;
}

static void req_free(struct sgm_req *q)
{
	unlist(q);
	sg_hmap_del(&q->r->live, &q->self, sizeof(q->self));
	free(q->nsp);
	free(q->sid);
	free(q->reply);
	free(q->reply_args);
	free(q);
}

/* Completes the client's ack with one {"ok":false,"error":...} object. */
static void answer_error(struct sgm_req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void answer_error(struct sgm_req *q, const char *fmt, ...)
{
	char why[300];
	json_t *res;
	va_list ap;

	if (!q->t)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	res = json_pack("{sbss}", "ok", 0, "error", why);
	q->r->api->complete(q->r->h, q->t, res);
	json_decref(res);
	q->t = NULL;
	q->r->open--;
	socket_count(q->r, q->sid, -1);
}

/* Completes the client's ack with the backend's answer (value and sio-args): counted as
 * answered unless the socket has gone (then it was counted as a dropped reply, and the host
 * only frees the ticket). */
static void answer_with(struct sgm_req *q, const char *value, size_t len, const char *args_mode)
{
	struct sgm_header hd = {SGM_H_ARGS, args_mode, args_mode ? strlen(args_mode) : 0};
	struct sgm_msg m = {.value = value, .value_len = len, .headers = &hd, .n_headers = args_mode ? 1 : 0};
	struct sgm_args a;
	char why[200];

	if (!q->t)
		return;
	if (sgm_msg_args(&m, &a, why, sizeof(why))) {
		count(q->r, RC_FAILED);
		answer_error(q, "the backend's answer is malformed: %s", why);
		return;
	}
	q->r->api->complete_args(q->r->h, q->t, a.args, a.att, a.n_att);
	sgm_args_clear(&a);
	if (!q->gone)
		count(q->r, RC_ANSWERED);
	q->t = NULL;
	q->r->open--;
	socket_count(q->r, q->sid, -1);
}

struct sgm_req *sgm_req_open(struct sgm_reqs *r, struct sg_bridge_ticket *t, const char *nsp, const char *sid,
			     unsigned timeout_ms, char *why, size_t whylen)
{
	struct sock_count *sc = sg_hmap_get(&r->sockets, sid, strlen(sid));
	struct sgm_req *q;
	struct sg_list_node *after;

	if (r->stopped) {
		snprintf(why, whylen, "the gateway is shutting down");
		return NULL;
	}
	if (r->open >= r->c.max_requests) {
		count(r, RC_REFUSED);
		snprintf(why, whylen, "too many requests are waiting for an answer on this gateway (max_requests %u)",
			 r->c.max_requests);
		return NULL;
	}
	if (sc && sc->n >= r->c.max_per_socket) {
		count(r, RC_REFUSED);
		snprintf(why, whylen, "too many of this socket's requests are waiting for an answer "
			 "(max_requests_per_socket %u)", r->c.max_per_socket);
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q || !(q->nsp = strdup(nsp)) || !(q->sid = strdup(sid))) {
		if (q)
			free(q->nsp);
		free(q);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	q->r = r;
	q->self = q;
	q->t = t;
	q->timeout_ms = timeout_ms;
	q->deadline = sg_mono_ms() + timeout_ms;
	snprintf(q->id, sizeof(q->id), "%s%llu", r->prefix, ++r->seq);
	if (sg_hmap_put(&r->live, &q->self, sizeof(q->self), q) || sg_hmap_put(&r->ids, q->id, strlen(q->id), q)) {
		sg_hmap_del(&r->live, &q->self, sizeof(q->self));
		free(q->nsp);
		free(q->sid);
		free(q);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	/* Deadline order: most timeouts are equal, so this walks little from the end. */
	for (after = r->waiting.tail; after; after = after->prev)
		if (sg_list_item(after, struct sgm_req, in_wait)->deadline <= q->deadline)
			break;
	sg_list_insert_after(&r->waiting, after, &q->in_wait);
	q->in_ids = 1;
	r->open++;
	socket_count(r, sid, 1);
	count(r, RC_OPENED);
	return q;
}

int sgm_req_headers(const struct sgm_req *q, struct sgm_out *o)
{
	if (o->n_headers + 2 > SGM_MAX_HEADERS)
		return -1;
	o->hname[o->n_headers] = strdup(SGM_H_REPLY_TO);
	o->hvalue[o->n_headers] = strdup(q->r->reply_topic);
	o->n_headers++;
	o->hname[o->n_headers] = strdup(SGM_H_ACK_ID);
	o->hvalue[o->n_headers] = strdup(q->id);
	o->n_headers++;
	for (size_t i = o->n_headers - 2; i < o->n_headers; i++)
		if (!o->hname[i] || !o->hvalue[i])
			return -1;
	return 0;
}

const char *sgm_req_id(const struct sgm_req *q)
{
	return q->id;
}

struct sgm_req *sgm_req_of(struct sgm_reqs *r, const void *opaque)
{
	return opaque && r ? sg_hmap_get(&r->live, &opaque, sizeof(opaque)) : NULL;
}

void sgm_req_produced(struct sgm_req *q, int ok, const char *why)
{
	if (!ok) {
		count(q->r, RC_FAILED);
		answer_error(q, "%s", why && why[0] ? why : "the broker refused the message");
		req_free(q);
		return;
	}
	q->produced = 1;
	if (q->reply) { /* the backend was quicker than the broker's confirmation */
		answer_with(q, q->reply, q->reply_len, q->reply_args);
		req_free(q);
	} else if (!q->t) { /* timed out (or stopped) before the broker confirmed */
		req_free(q);
	}
}

void sgm_req_abandon(struct sgm_req *q)
{
	if (q->t) {
		q->t = NULL; /* the plugin completes it */
		q->r->open--;
		socket_count(q->r, q->sid, -1);
	}
	req_free(q);
}

static void dropped(struct sgm_reqs *r, const char *why, const char *id)
{
	time_t now = time(NULL);

	count(r, RC_DROPPED);
	r->dropped++;
	if (now - r->dropped_logged < DROP_LOG_INTERVAL_S)
		return;
	r->dropped_logged = now;
	r->api->log(r->h, SG_BRIDGE_LOG_WARN, "reply '%.120s' dropped (%s); %lu dropped so far", id, why, r->dropped);
}

void sgm_reqs_reply(struct sgm_reqs *r, const struct sgm_msg *m, const char *ack_id, size_t len)
{
	char id[sizeof(((struct sgm_req *)0)->id)];
	const char *args_mode;
	size_t alen = 0;
	struct sgm_req *q;

	if (!ack_id)
		ack_id = sgm_header(m, SGM_H_ACK_ID, &len);
	if (!ack_id || !len || len >= sizeof(id) || memchr(ack_id, '\0', len)) {
		dropped(r, "no valid sio-ack-id", "");
		return;
	}
	memcpy(id, ack_id, len);
	id[len] = '\0';
	/* A shared reply topic carries the other replicas' answers too: not ours, not counted. */
	if (strncmp(id, r->prefix, strlen(r->prefix)))
		return;
	q = sg_hmap_get(&r->ids, id, len);
	if (!q) {
		dropped(r, "unknown id: answered already, timed out, or never asked", id);
		return;
	}
	unlist(q); /* a second answer is unknown from here on */
	if (!q->r->api->is_member(r->h, q->nsp, q->sid, q->sid)) {
		q->gone = 1;
		dropped(r, "the socket has gone", id);
		/* the ticket is still completed: the host finds no socket and frees it */
	}
	args_mode = sgm_header(m, SGM_H_ARGS, &alen);
	if (!q->produced) {
		/* Keep it until the broker confirms the request (its ticket is the message's). */
		q->reply = malloc(m->value_len + 1);
		q->reply_args = args_mode ? strndup(args_mode, alen) : NULL;
		if (!q->reply || (args_mode && !q->reply_args)) {
			count(r, RC_FAILED);
			answer_error(q, "out of memory");
			free(q->reply);
			q->reply = NULL;
			return;
		}
		memcpy(q->reply, m->value, m->value_len);
		q->reply_len = m->value_len;
		return;
	}
	{
		char *mode = args_mode ? strndup(args_mode, alen) : NULL;

		answer_with(q, m->value, m->value_len, mode);
		free(mode);
	}
	req_free(q);
}

/* The timer: client requests past their deadline get their error. */
static void tick(void *ud)
{
	struct sgm_reqs *r = ud;
	long long now = sg_mono_ms();
	struct sgm_req *q;

	while ((q = sg_list_item(r->waiting.head, struct sgm_req, in_wait)) && q->deadline <= now) {
		unlist(q);
		count(r, RC_TIMED_OUT);
		answer_error(q, "no reply within %u ms", q->timeout_ms);
		if (q->produced)
			req_free(q);
		/* else: freed when the broker's confirmation comes */
	}
}

int sgm_reqs_start(struct sgm_reqs *r)
{
	return r->api->every(r->h, TICK_MS, tick, r);
}

void sgm_reqs_stop(struct sgm_reqs *r)
{
	struct sgm_req *q;

	if (!r)
		return;
	r->stopped = 1;
	while ((q = sg_list_item(r->waiting.head, struct sgm_req, in_wait))) {
		unlist(q);
		count(r, RC_FAILED);
		answer_error(q, "the gateway is shutting down");
		if (q->produced)
			req_free(q);
	}
}

static void free_live(struct sgm_reqs *r)
{
	for (size_t i = 0; i < r->live.cap; i++)
		if (r->live.slots[i].hash) {
			struct sgm_req *q = r->live.slots[i].val;

			q->in_ids = 0; /* the maps go whole */
			answer_error(q, "the gateway is shutting down");
			free(q->nsp);
			free(q->sid);
			free(q->reply);
			free(q->reply_args);
			free(q);
		}
}

void sgm_reqs_free(struct sgm_reqs *r)
{
	if (!r)
		return;
	free_live(r);
	for (size_t i = 0; i < r->sockets.cap; i++)
		if (r->sockets.slots[i].hash)
			free(r->sockets.slots[i].val);
	sg_hmap_free(&r->ids);
	sg_hmap_free(&r->live);
	sg_hmap_free(&r->sockets);
	free(r->reply_topic);
	free(r);
}

/* ---------------------------------------------------------------- backend asks */

/* Produces one record of an ask to its reply topic: `v` (stolen) keyed by the ask's id. */
static void ask_record(struct ask *a, const char *sid, json_t *v)
{
	struct sgm_out o;

	memset(&o, 0, sizeof(o));
	if (!v || !(o.topic = strdup(a->reply_to)) || !(o.key = strdup(a->id)) ||
	    !(o.value = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY))) {
		json_decref(v);
		sgm_out_clear(&o);
		sgm_evdrv_result(a->r->drv, 0, "out of memory");
		return;
	}
	json_decref(v);
	o.value_len = strlen(o.value);
	o.hname[0] = strdup(SGM_H_ACK_ID);
	o.hvalue[0] = strdup(a->id);
	o.hname[1] = strdup(SGM_H_NAMESPACE);
	o.hvalue[1] = strdup(a->nsp);
	o.n_headers = 2;
	if (sid) {
		o.hname[2] = strdup(SGM_H_SID);
		o.hvalue[2] = strdup(sid);
		o.n_headers = 3;
	}
	sgm_evdrv_emit(a->r->drv, &o);
}

static void ask_done(struct ask *a)
{
	json_t *v = json_pack("{sssssssbsIsIsI}", "id", a->id, "instance", a->r->api->instance_id(a->r->h), "namespace",
			      a->nsp, "done", 1, "recipients", (json_int_t)a->recipients, "replied",
			      (json_int_t)a->replied, "failed", (json_int_t)a->failed);

	ask_record(a, NULL, v);
	a->r->open--;
	free(a->id);
	free(a->reply_to);
	free(a->nsp);
	free(a);
}

static void on_answer(void *ud, const struct sg_bridge_answer *an)
{
	struct ask *a = ud;
	struct sgm_reqs *r = a->r;
	json_t *v = json_pack("{ssssssss}", "id", a->id, "instance", r->api->instance_id(r->h), "sid", an->sid,
			      "namespace", an->nsp ? an->nsp : a->nsp);

	if (an->error) {
		a->failed++;
		count(r, RC_ASK_TIMEOUTS);
		if (v)
			json_object_set_new(v, "error", json_string(an->error));
	} else {
		json_t *args = sgm_args_json(an->args, an->att, an->n_att);

		a->replied++;
		count(r, RC_ASK_ANSWERS);
		if (v)
			json_object_set_new(v, "args", args ? args : json_array());
		else
			json_decref(args); /* no record to put them in (not UTF-8, or out of memory) */
	}
	ask_record(a, an->sid, v);
	if (a->recipients >= 0 && a->replied + a->failed >= a->recipients)
		ask_done(a);
}

long sgm_ask(struct sgm_reqs *r, const struct sg_bridge_emit *em, const char *reply_to, const char *id,
	     unsigned timeout_ms, char *why, size_t whylen)
{
	struct ask *a;
	long n;

	if (em->is_volatile)
		return sgm_errf(why, whylen, "a volatile event cannot ask for answers (sio-volatile with sio-ack-id)");
	if (!r->api->emit_ack)
		return sgm_errf(why, whylen, "this siogate cannot ask clients (bridge ABI < 1.4)");
	a = calloc(1, sizeof(*a));
	if (!a || !(a->id = strdup(id)) || !(a->reply_to = strdup(reply_to)) || !(a->nsp = strdup(em->nsp))) {
		if (a) {
			free(a->id);
			free(a->reply_to);
		}
		free(a);
		return sgm_errf(why, whylen, "out of memory");
	}
	a->r = r;
	a->recipients = -1;
	r->open++;
	if (r->open > r->c.max_requests || r->stopped) {
		json_t *v = json_pack("{sssssssbsisisiss}", "id", id, "instance", r->api->instance_id(r->h), "namespace",
				      em->nsp, "done", 1, "recipients", 0, "replied", 0, "failed", 0, "error",
				      r->stopped ? "the gateway is shutting down"
						 : "too many requests are waiting for an answer on this gateway");

		count(r, RC_ASKS_REFUSED);
		ask_record(a, NULL, v);
		r->open--;
		free(a->id);
		free(a->reply_to);
		free(a->nsp);
		free(a);
		return 0;
	}
	count(r, RC_ASKS);
	n = r->api->emit_ack(r->h, em, timeout_ms, on_answer, a);
	if (n == -1) {
		r->open--;
		free(a->id);
		free(a->reply_to);
		free(a->nsp);
		free(a);
		return sgm_errf(why, whylen, "the event could not be encoded");
	}
	a->recipients = n = n < 0 ? 0 : n; /* -2: nobody of that namespace here */
	if (a->replied + a->failed >= a->recipients)
		ask_done(a); /* every answer came already (or nobody is here): done at once */
	return n;
}
