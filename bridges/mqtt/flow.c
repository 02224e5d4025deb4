/* flow.c - the MQTT bridge on the gateway's loop thread: publishing client events and
 * answering their acks (held messages, delivery timeouts), delivering received messages to
 * rooms through the shared mapping, dead letters, and retained messages for sockets that
 * join a room. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "envelope.h"
#include "plugin.h"

/* ---------------------------------------------------------------- loop thread: held messages */

static struct pend **bucket(struct mq *q, int mid)
{
	return &q->pb[(unsigned)mid % PEND_BUCKETS];
}

static struct pend *pend_take(struct mq *q, int mid)
{
	for (struct pend **pp = bucket(q, mid); *pp; pp = &(*pp)->hnext) {
		struct pend *p = *pp;

		if (p->mid != mid)
			continue;
		*pp = p->hnext;
		if (!p->ghost) {
			sg_list_remove(&q->order, &p->in_order);
			atomic_fetch_sub(&q->waiting, 1);
		}
		if (p->t)
			q->n_tickets--;
		q->n_pend--;
		return p;
	}
	return NULL;
}

static int pend_add(struct mq *q, int mid, struct sg_bridge_ticket *t, const char *topic, int qos)
{
	struct pend *p = calloc(1, sizeof(*p)), *old;

	if (!p || !(p->topic = strdup(topic))) {
		free(p);
		return -1;
	}
	/* A message id comes back only after 65535 others: what had it is long gone. */
	old = pend_take(q, mid);
	if (old) {
		if (old->req)
			sgm_req_produced(old->req, 0, "the MQTT broker did not confirm the message");
		if (old->event && !old->ghost) {
			q->n_events--;
			sgm_evdrv_result(q->ev, 0, "the MQTT broker did not confirm the record");
		}
		mq_complete_err(q, old->t, old->topic, "the MQTT broker did not confirm the message");
		free(old->topic);
		free(old);
	}
	p->mid = mid;
	p->t = t;
	p->qos = qos;
	p->deadline = mq_now_ms() + q->conf.delivery_timeout_ms;
	p->hnext = *bucket(q, mid);
	*bucket(q, mid) = p;
	sg_list_push_back(&q->order, &p->in_order);
	q->n_pend++;
	q->n_tickets += t != NULL;
	atomic_fetch_add(&q->waiting, 1);
	return 0;
}

void mq_complete_err(struct mq *q, struct sg_bridge_ticket *t, const char *topic, const char *fmt, ...)
{
	char why[300];
	json_t *res;
	va_list ap;

	if (!t)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	res = topic ? json_pack("{sbssss}", "ok", 0, "error", why, "topic", topic) : json_pack("{sbss}", "ok", 0, "error", why);
	q->api->complete(q->host, t, res);
	json_decref(res);
}

void mq_confirmed(struct mq *q, int mid, int rc)
{
	struct pend *p = pend_take(q, mid);

	if (!p)
		return;
	if (p->req) { /* a client's request: its answer is the backend's reply, not this */
		q->api->counter_add(q->ctr[rc >= 0x80 ? MC_FAILED : MC_PRODUCED], 1);
		sgm_req_produced(p->req, rc < 0x80, rc < 0x80 ? NULL : mosquitto_reason_string(rc));
	} else if (p->event) { /* a record of the events driver; a ghost was counted when it expired */
		if (!p->ghost) {
			q->n_events--;
			sgm_evdrv_result(q->ev, rc < 0x80, rc < 0x80 ? NULL : mosquitto_reason_string(rc));
		}
	} else if (!p->t && !p->ghost) { /* a dead letter */
		if (rc >= 0x80)
			q->api->counter_add(q->ctr[MC_DEAD_FAILED], 1);
	} else if (rc >= 0x80) {
		q->api->counter_add(q->ctr[MC_FAILED], 1);
		mq_complete_err(q, p->t, p->topic, "the MQTT broker refused the message: %s", mosquitto_reason_string(rc));
	} else {
		if (p->t) {
			json_t *res = json_pack("{sbsssi}", "ok", 1, "topic", p->topic, "qos", p->qos);
			q->api->complete(q->host, p->t, res);
			json_decref(res);
		}
		q->api->counter_add(q->ctr[MC_PRODUCED], 1);
	}
	free(p->topic);
	free(p);
}

/* Fails the tickets that waited longer than delivery_timeout_ms. A QoS 1/2 message stays
 * queued in libmosquitto (it may still reach the broker); it is kept as a ghost, so that
 * max_pending also bounds libmosquitto's queue. */
void mq_expire(struct mq *q)
{
	long long now = mq_now_ms();
	unsigned long n = 0;
	struct pend *p;

	while ((p = sg_list_item(q->order.head, struct pend, in_order)) && p->deadline <= now) {

		if (p->t) {
			mq_complete_err(q, p->t, p->topic, "the MQTT broker did not confirm the message within %lld ms",
				     q->conf.delivery_timeout_ms);
			p->t = NULL;
			q->n_tickets--;
			n++;
		}
		if (p->req) {
			sgm_req_produced(p->req, 0, "the MQTT broker did not confirm the message within delivery_timeout_ms");
			p->req = NULL;
			n++;
		}
		if (p->event && !p->ghost) {
			q->n_events--;
			sgm_evdrv_result(q->ev, 0, "the MQTT broker did not confirm the record within delivery_timeout_ms");
		}
		if (p->qos > 0) {
			sg_list_remove(&q->order, &p->in_order);
			atomic_fetch_sub(&q->waiting, 1);
			p->ghost = 1;
		} else {
			/* QoS 0: libmosquitto dropped it (or will never say): forget it. */
			p = pend_take(q, p->mid);
			free(p->topic);
			free(p);
		}
	}
	if (n) {
		time_t t = time(NULL);
		q->api->counter_add(q->ctr[MC_FAILED], (double)n);
		if (t - q->timeout_log >= LOG_INTERVAL_S) {
			q->api->log(q->host, SG_BRIDGE_LOG_WARN, "%lu upstream message(s) not confirmed by the broker "
				    "within delivery_timeout_ms (%lld ms)", n, q->conf.delivery_timeout_ms);
			q->timeout_log = t;
		}
	}
}

/* ---------------------------------------------------------------- loop thread: publishing */

/* Publishes; the message is then held until the broker confirms it (or it times out).
 * Returns 0, or -1 with why (nothing was held). */
static int send_msg(struct mq *q, const char *topic, const void *payload, size_t len, const struct sgm_out *o,
		    const struct sgm_header *extra, size_t n_extra, int qos, int retain, int json,
		    struct sg_bridge_ticket *t, char *why, size_t whylen)
{
	mosquitto_property *props = NULL;
	int mid = -1, rc = MOSQ_ERR_SUCCESS;

	if ((size_t)q->n_pend >= (size_t)q->conf.max_pending) {
		snprintf(why, whylen, "too many messages are waiting for the MQTT broker (max_pending %lld)",
			 q->conf.max_pending);
		return -1;
	}
	if (len > MQTT_MAX_PAYLOAD) {
		snprintf(why, whylen, "the message is too large for MQTT");
		return -1;
	}
	if (q->conf.v5) {
		for (size_t i = 0; o && i < o->n_headers && !rc; i++)
			rc = mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, o->hname[i], o->hvalue[i]);
		for (size_t i = 0; i < n_extra && !rc; i++) {
			char *v = strndup(extra[i].value, extra[i].len);
			rc = v ? mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, extra[i].name, v)
			       : MOSQ_ERR_NOMEM;
			free(v);
		}
		if (json && !rc)
			rc = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "application/json");
		/* A request: MQTT 5's own Response Topic and Correlation Data say the same. */
		for (size_t i = 0; o && i < o->n_headers && !rc; i++) {
			if (!strcmp(o->hname[i], SGM_H_REPLY_TO))
				rc = mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, o->hvalue[i]);
			else if (!strcmp(o->hname[i], SGM_H_ACK_ID))
				rc = mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, o->hvalue[i],
								   (uint16_t)strlen(o->hvalue[i]));
		}
	}
	if (!rc)
		rc = mosquitto_publish_v5(q->mosq, &mid, topic, (int)len, payload, qos, retain, props);
	mosquitto_property_free_all(&props);
	/* NO_CONN for QoS 1/2: libmosquitto queued it and sends it after reconnecting. */
	if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && qos > 0)) {
		if (pend_add(q, mid, t, topic, qos) == 0)
			return 0;
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (rc == MOSQ_ERR_NO_CONN)
		snprintf(why, whylen, "not connected to the MQTT broker");
	else if (rc == MOSQ_ERR_MALFORMED_UTF8)
		snprintf(why, whylen, "the topic '%s' is not valid MQTT UTF-8", topic);
	else
		snprintf(why, whylen, "%s", mosquitto_strerror(rc));
	return -1;
}

int mq_publish(void *inst, int binding, const struct sg_bridge_event *ev, struct sg_bridge_ticket *t)
{
	struct mq *q = inst;
	struct mq_binding *b = &q->b[binding];
	int route = sgm_route(b->m, ev->event);
	const struct mq_up *u;
	char why[400], *topic = NULL, *env = NULL;
	struct sgm_req *req = NULL;
	unsigned timeout;
	struct sgm_out o;
	size_t env_len = 0;
	int envelope;

	if (route < 0)
		return 1;
	if (q->stopped) {
		mq_complete_err(q, t, NULL, "the gateway is shutting down");
		return -1;
	}
	u = &b->up[route];
	if (sgm_build(b->m, route, ev, q->api, q->host, &o, why, sizeof(why)) ||
	    !(topic = mq_expand_topic(u->topic, ev, u->room_field, why, sizeof(why)))) {
		sgm_out_clear(&o);
		q->api->counter_add(q->ctr[MC_REFUSED], 1);
		mq_complete_err(q, t, NULL, "%s", why);
		return -1;
	}
	if (ev->wants_ack && sgm_route_reply(b->m, route, &timeout)) {
		/* The backend answers: the message carries where and under which id. */
		req = sgm_req_open(q->reqs, t, ev->nsp, ev->sid, timeout, why, sizeof(why));
		if (!req || sgm_req_headers(req, &o)) {
			if (req)
				sgm_req_abandon(req);
			else
				q->api->counter_add(q->ctr[MC_REFUSED], 1);
			mq_complete_err(q, t, NULL, "%s", req ? "out of memory" : why);
			free(topic);
			sgm_out_clear(&o);
			return -1;
		}
	}
	/* MQTT 3.1.1 has no properties: a request's routing goes in the envelope. */
	envelope = b->envelope || (req && !q->conf.v5);
	if (envelope && !(env = mq_env_build(&o, &env_len))) {
		snprintf(why, sizeof(why), "out of memory");
	} else if (!send_msg(q, topic, env ? env : o.value, env ? env_len : o.value_len, envelope ? NULL : &o,
			     NULL, 0, u->qos, u->retain, 1, req ? NULL : t, why, sizeof(why))) {
		if (req) /* send_msg held it last */
			sg_list_item(q->order.tail, struct pend, in_order)->req = req;
		free(env);
		free(topic);
		sgm_out_clear(&o);
		return 0;
	}
	if (req)
		sgm_req_abandon(req); /* never handed over: its ticket is still ours */
	q->api->counter_add(q->ctr[MC_FAILED], 1);
	mq_complete_err(q, t, topic, "%s", why);
	free(env);
	free(topic);
	sgm_out_clear(&o);
	return -1;
}

int mq_produce_event(void *ud, const struct sgm_out *o, char *why, size_t whylen)
{
	struct mq *q = ud;
	struct pend *p;

	/* A heartbeat goes at QoS 0: with the broker away it fails at once instead of filling
	 * max_pending (which the clients' messages share) with records nobody needs later. */
	if (send_msg(q, o->topic, o->value, o->value_len, q->conf.v5 ? o : NULL, NULL, 0, o->lossy ? 0 : 1, 0, 1, NULL,
		     why, whylen))
		return -1;
	/* send_msg held it last: mark it as a record (the newest in publish order). */
	p = sg_list_item(q->order.tail, struct pend, in_order);
	p->event = 1;
	q->n_events++;
	return 0;
}

void mq_on_lifecycle(void *inst, int binding, const struct sg_bridge_lifecycle *ev)
{
	struct mq *q = inst;

	sgm_evdrv_lifecycle(q->ev, binding >= 0 && (size_t)binding < q->n_b ? q->b[binding].m : NULL, ev);
}

/* ---------------------------------------------------------------- loop thread: consuming */

static void dead_letter(struct mq *q, struct mq_binding *b, const struct rx *r, const char *why)
{
	const char *dlq = b ? sgm_dead_letter(b->m) : NULL;
	struct sgm_header extra[SGM_MAX_HEADERS + 2];
	size_t n = 0, len = 0;
	char err[300], *json = NULL;
	int rc;

	if (!dlq)
		return;
	if (q->conf.v5) {
		/* The original payload and user properties, plus sio-error and sio-topic. */
		for (size_t i = 0; i < r->n_h && n < SGM_MAX_HEADERS; i++)
			extra[n++] = r->h[i];
		extra[n++] = (struct sgm_header){SGM_H_ERROR, why, strlen(why)};
		extra[n++] = (struct sgm_header){"sio-topic", r->topic, strlen(r->topic)};
		rc = send_msg(q, dlq, r->payload, r->len, NULL, extra, n, 1, 0, 0, NULL, err, sizeof(err));
	} else {
		json = mq_dead_letter_json(why, r->topic, r->payload, r->len, &len);
		rc = json ? send_msg(q, dlq, json, len, NULL, NULL, 0, 1, 0, 1, NULL, err, sizeof(err)) : -1;
		free(json);
	}
	q->api->counter_add(q->ctr[rc ? MC_DEAD_FAILED : MC_DEAD], 1);
}

static void malformed(struct mq *q, struct mq_binding *b, const struct rx *r, const char *why)
{
	time_t now = time(NULL);

	q->malformed++;
	q->api->counter_add(q->ctr[MC_MALFORMED], 1);
	if (now - q->malformed_log >= LOG_INTERVAL_S) {
		q->api->log(q->host, SG_BRIDGE_LOG_WARN, "topic '%s': message skipped (%s); %lu malformed so far",
			    r->topic, why, q->malformed);
		q->malformed_log = now;
	}
	dead_letter(q, b, r, why);
}

static int has_header(const struct sgm_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(h[i].name, name))
			return 1;
	return 0;
}

/* An answer to a client's request, on this replica's reply topic: MQTT 5 carries the id in
 * Correlation Data or sio-ack-id; MQTT 3.1.1 in an envelope ({"ack_id":...,"value":...}). */
static void reply(struct mq *q, const struct rx *r)
{
	struct sgm_header h[SGM_MAX_HEADERS + MQ_ENV_MAX_HEADERS];
	struct sgm_msg m = {.topic = r->topic, .value = r->payload, .value_len = r->len};
	struct mq_env env;
	char why[256];
	size_t n = 0, idlen;

	memset(&env, 0, sizeof(env));
	if (!q->conf.v5 || !sgm_header(&(struct sgm_msg){.headers = r->h, .n_headers = r->n_h}, SGM_H_ACK_ID, &idlen)) {
		if (mq_env_parse(r->payload, r->len, &env, why, sizeof(why))) {
			malformed(q, NULL, r, why);
			return;
		}
		for (size_t i = 0; i < env.n; i++)
			h[n++] = env.h[i];
		m.value = env.value;
		m.value_len = env.value_len;
	}
	for (size_t i = 0; i < r->n_h && n < sizeof(h) / sizeof(h[0]); i++)
		h[n++] = r->h[i];
	m.headers = h;
	m.n_headers = n;
	sgm_reqs_reply(q->reqs, &m, NULL, 0);
	mq_env_clear(&env);
}

/* Hands one received message to every mapping and control topic that matches it. */
static void dispatch(struct mq *q, const struct rx *r)
{
	struct mq_binding *first = NULL;
	int subscribed = 0, claimed = 0;

	q->api->counter_add(q->ctr[MC_CONSUMED], 1);
	if (q->wants_replies && !strcmp(r->topic, sgm_reqs_reply_topic(q->reqs))) {
		reply(q, r);
		return;
	}
	for (size_t bi = 0; bi < q->n_b; bi++) {
		struct mq_binding *b = &q->b[bi];
		struct mq_env env;
		int env_state = 0; /* 0: not parsed, 1: parsed, -1: bad */
		char env_why[256] = "";

		memset(&env, 0, sizeof(env));
		for (size_t ei = 0; ei < b->n_down; ei++) {
			const struct mq_down *d = &b->down[ei];
			struct sgm_header h[SGM_MAX_HEADERS + MQ_ENV_MAX_HEADERS + 1];
			char room[MQ_ROOM_MAX], event[MQ_EVENT_MAX], why[300];
			struct sgm_sub sub;
			struct sgm_msg m;
			size_t n = 0;
			long rc;
			int mr = mq_topic_match(&d->t, r->topic, room, sizeof(room), event, sizeof(event), why, sizeof(why));

			if (!mr)
				continue;
			subscribed = 1;
			if (!first)
				first = b;
			if (mr < 0) {
				claimed = 1;
				malformed(q, b, r, why);
				continue;
			}
			memset(&m, 0, sizeof(m));
			m.value = r->payload;
			m.value_len = r->len;
			if (b->envelope) {
				if (!env_state && mq_env_parse(r->payload, r->len, &env, env_why, sizeof(env_why))) {
					env_state = -1;
					malformed(q, b, r, env_why); /* once per binding */
				} else if (!env_state) {
					env_state = 1;
				}
				if (env_state < 0) {
					claimed = 1;
					continue;
				}
				for (size_t i = 0; i < env.n; i++)
					h[n++] = env.h[i];
				m.value = env.value;
				m.value_len = env.value_len;
			}
			for (size_t i = 0; i < r->n_h; i++)
				h[n++] = r->h[i];
			if (event[0] && !has_header(h, n, SGM_H_EVENT))
				h[n++] = (struct sgm_header){SGM_H_EVENT, event, strlen(event)};
			m.headers = h;
			m.n_headers = n;
			/* MQTT 3.1.1 clears the retain flag of live messages: there the cache
			 * keeps the last message seen on the topic. */
			if ((r->retain || !q->conf.v5) && d->retained_on_join && q->lv &&
			    mq_lv_set(q->lv, (int)bi, (int)ei, r->topic, room, h, n, m.value, m.value_len) &&
			    !q->lv_full_logged) {
				q->api->log(q->host, SG_BRIDGE_LOG_WARN, "retained messages: the cache is full (%d topics); "
					    "newer ones are not kept for retained_on_join", MQ_LV_MAX);
				q->lv_full_logged = 1;
			}
			if (r->retain && !r->len) {
				claimed = 1; /* clears a retained message: nothing to deliver */
				continue;
			}
			/* The shared mapping takes the room from the "topic" of a template
			 * subscription: hand it the decoded room with an empty prefix and suffix. */
			memset(&sub, 0, sizeof(sub));
			sub.index = (int)ei;
			if (d->t.room_level >= 0) {
				sub.prefix = sub.suffix = "";
				m.topic = room;
			} else {
				sub.literal = r->topic;
				m.topic = r->topic;
			}
			rc = sgm_deliver(b->m, &sub, &m, q->api, q->host, why, sizeof(why));
			if (rc == -2)
				continue;
			claimed = 1;
			if (rc < 0)
				malformed(q, b, r, why);
		}
		mq_env_clear(&env);
		if (b->control_sub && mq_filter_match(b->control, r->topic)) {
			struct sgm_msg m;
			char why[300];
			long rc;

			subscribed = 1;
			if (!first)
				first = b;
			memset(&m, 0, sizeof(m));
			m.topic = r->topic;
			m.headers = r->h;
			m.n_headers = r->n_h;
			m.value = r->payload;
			m.value_len = r->len;
			rc = sgm_deliver(b->m, b->control_sub, &m, q->api, q->host, why, sizeof(why));
			if (rc != -2) {
				claimed = 1;
				if (rc < 0)
					malformed(q, b, r, why);
			}
		}
	}
	if (subscribed && !claimed)
		malformed(q, first, r, "unknown namespace (no bridged namespace takes its sio-namespace)");
}

struct lv_ctx {
	struct mq *q;
	struct mq_binding *b;
	const struct join *j;
};

/* Delivers one cached retained message to the socket that joined (its own room). */
static void lv_deliver(void *ud, const struct mq_lv_item *it)
{
	struct lv_ctx *c = ud;
	struct sgm_header h[SGM_MAX_HEADERS + MQ_ENV_MAX_HEADERS + 2];
	struct sgm_sub sub;
	struct sgm_msg m;
	size_t n = 0;
	char why[300];
	long rc;

	for (size_t i = 0; i < it->n_h && n < SGM_MAX_HEADERS + MQ_ENV_MAX_HEADERS + 1; i++)
		h[n++] = it->h[i];
	if (!has_header(h, n, SGM_H_NAMESPACE)) /* a dynamic namespace needs to know which one */
		h[n++] = (struct sgm_header){SGM_H_NAMESPACE, c->j->nsp, strlen(c->j->nsp)};
	memset(&m, 0, sizeof(m));
	m.topic = c->j->sid;
	m.headers = h;
	m.n_headers = n;
	m.value = it->value;
	m.value_len = it->value_len;
	memset(&sub, 0, sizeof(sub));
	sub.prefix = sub.suffix = "";
	sub.index = it->entry;
	rc = sgm_deliver(c->b->m, &sub, &m, c->q->api, c->q->host, why, sizeof(why));
	if (rc > 0)
		c->q->api->counter_add(c->q->ctr[MC_RETAINED], 1);
	else if (rc == -1)
		c->q->api->log(c->q->host, SG_BRIDGE_LOG_DEBUG, "retained message of '%s' not delivered (%s)", it->topic, why);
}

void mq_join_free(struct join *j)
{
	free(j->nsp);
	free(j->sid);
	free(j->room);
	free(j);
}

static void flush_joins(struct mq *q)
{
	struct sg_list_node *n;

	while ((n = sg_list_pop_front(&q->joins))) {
		struct join *j = sg_list_item(n, struct join, in_queue);
		struct lv_ctx c = {q, &q->b[j->binding], j};

		mq_lv_foreach(q->lv, j->binding, j->room, lv_deliver, &c);
		mq_join_free(j);
	}
}

static void has_item(void *ud, const struct mq_lv_item *it)
{
	(void)it;
	*(int *)ud = 1;
}

void mq_on_join(void *inst, int binding, const char *nsp, const char *sid, const char *room)
{
	struct mq *q = inst;
	struct join *j;
	int any = 0;

	if (q->stopped || !q->lv || !q->b[binding].any_retained)
		return;
	mq_lv_foreach(q->lv, binding, room, has_item, &any);
	if (!any)
		return;
	/* Not now: the join may come before the socket's CONNECT reply is queued (auto-join).
	 * The next drain delivers it, before any message it handles. */
	j = calloc(1, sizeof(*j));
	if (!j || !(j->nsp = strdup(nsp)) || !(j->sid = strdup(sid)) || !(j->room = strdup(room))) {
		if (j)
			mq_join_free(j);
		return;
	}
	j->binding = binding;
	sg_list_push_back(&q->joins, &j->in_queue);
	mq_wake(q);
}

void mq_drain(void *ud)
{
	struct mq *q = ud;
	struct sg_list batch = {NULL, NULL, 0};
	struct sg_list_node *n;
	struct done *done;
	size_t n_done;
	int more;

	atomic_store(&q->posted, 0);
	if (q->stopped)
		return;
	flush_joins(q);
	pthread_mutex_lock(&q->mu);
	done = q->done;
	n_done = q->n_done;
	q->done = NULL;
	q->n_done = q->cap_done = 0;
	while (batch.count < DRAIN_BATCH && (n = sg_list_pop_front(&q->rx)))
		sg_list_push_back(&batch, n);
	more = q->rx.head != NULL;
	pthread_mutex_unlock(&q->mu);

	for (size_t i = 0; i < n_done; i++)
		mq_confirmed(q, done[i].mid, done[i].rc);
	free(done);
	while ((n = sg_list_pop_front(&batch))) {
		struct rx *r = sg_list_item(n, struct rx, in_queue);

		dispatch(q, r);
		mq_rx_free(r);
		flush_joins(q);
	}
	mq_expire(q);
	if (more)
		mq_wake(q); /* yield to the sockets, then come back */
}
