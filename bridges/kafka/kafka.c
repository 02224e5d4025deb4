/* kafka.c - the Kafka bridge on librdkafka: consumes the to_clients and control topics into
 * rooms, produces client events with acks answered from the delivery report.
 *
 * Threads: librdkafka's threads only signal (queue event callbacks -> host post()); every
 * poll, delivery report and delivery to sockets runs on the gateway's loop thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "instance.h"
#include "record.h"
#include "requests.h"
#include "sessions.h"
#include "util/clock.h"

#define CONSUME_BATCH 2000       /* messages handled per loop turn before yielding */
#define LOG_INTERVAL_S 10        /* malformed-message warnings, at most one per interval */
/* bootstrap_servers value that runs librdkafka's mock cluster in-process (demos, tests). */
#define EMBEDDED "embedded"
#define DEFAULT_DELIVERY_TIMEOUT_MS 30000
/* Backends answer client requests here (each replica takes its own ids from it). */
#define DEFAULT_REPLY_TOPIC "siogate.replies"
#define MAX_DELIVERY_TIMEOUT_MS 3600000

static const char *const kctr_names[KC_N] = {
	"messages_consumed", "messages_produced", "messages_failed", "messages_malformed",
	"dead_letters", "dead_letters_failed",
};



/* The opaque of records the events driver produced (no ticket: nobody waits for them). */
static char event_tag;
#define EVENT_TAG ((void *)&event_tag)

/* ---------------------------------------------------------------- config */

static const char *const broker_keys[] = {"type", "bootstrap_servers", "properties", "producer", "consumer",
					  "group_id", "start", "delivery_timeout_ms", "reply_topic", "max_requests",
					  "max_requests_per_socket", NULL};
static const char *const bridge_extra_keys[] = {NULL};

static int kafka_topic_ok(const char *t, char *why, size_t len)
{
	size_t n = strlen(t);

	if (n > 249) {
		snprintf(why, len, "a Kafka topic name has at most 249 characters");
		return -1;
	}
	for (const char *c = t; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '.' || *c == '_' || *c == '-')) {
			snprintf(why, len, "'%s' is not a valid Kafka topic name (letters, digits, '.', '_', '-')", t);
			return -1;
		}
	if (!strcmp(t, ".") || !strcmp(t, "..")) {
		snprintf(why, len, "'%s' is not a valid Kafka topic name", t);
		return -1;
	}
	return 0;
}

static const struct sgm_flavor flavor = {"kafka", kafka_topic_ok, bridge_extra_keys, NULL};

/* An integer key in [min, max]: a JSON integer, or a string of decimal digits, which is what
 * "${VAR}" becomes once the host expanded it (as every integer key of the core accepts).
 * Returns 0 with *out set (def when absent), or -1 with "key: reason" in err. */
static int int_key(const json_t *o, const char *key, long long min, long long max, long long def,
		   long long *out, char *err, size_t len)
{
	const json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);
	long long n = 0;
	int ok = 0;

	*out = def;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
		ok = 1;
	} else if (s && *s) {
		ok = 1;
		/* Digits only (no sign, no spaces), stopping before an overflow. */
		for (const char *c = s; *c && ok; c++) {
			ok = *c >= '0' && *c <= '9' && n <= (max - (*c - '0')) / 10;
			n = n * 10 + (*c - '0');
		}
	}
	if (!ok || n < min || n > max) {
		snprintf(err, len, "%s: expected an integer from %lld to %lld", key, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

static int check_props(const json_t *o, const char *key, char *err, size_t len)
{
	json_t *p = json_object_get(o, key), *v;
	const char *k;

	if (!p)
		return 0;
	if (!json_is_object(p)) {
		snprintf(err, len, "%s: expected an object of librdkafka properties", key);
		return -1;
	}
	json_object_foreach(p, k, v) {
		if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v)) {
			snprintf(err, len, "%s.%s: expected a string, number or boolean", key, k);
			return -1;
		}
	}
	return 0;
}

static int check_broker(const json_t *b, char *err, size_t len)
{
	const char *k, *start;
	long long dt;
	json_t *v;

	json_object_foreach((json_t *)b, k, v) {
		int ok = 0;
		for (const char *const *kk = broker_keys; *kk; kk++)
			ok |= !strcmp(k, *kk);
		if (!ok) {
			const char *hint = sgm_suggest(k, broker_keys, NULL);
			if (hint)
				snprintf(err, len, ": unknown key '%s' (did you mean '%s'?)", k, hint);
			else
				snprintf(err, len, ": unknown key '%s' (librdkafka settings go in \"properties\")", k);
			return -1;
		}
	}
	v = json_object_get(b, "bootstrap_servers");
	if (!json_is_string(v) || !json_string_length(v)) {
		snprintf(err, len, v ? "bootstrap_servers: expected a non-empty string"
				     : ": missing required key 'bootstrap_servers'");
		return -1;
	}
	v = json_object_get(b, "group_id");
	if (v && (!json_is_string(v) || !json_string_length(v))) {
		snprintf(err, len, "group_id: expected a non-empty string");
		return -1;
	}
	v = json_object_get(b, "start");
	start = json_string_value(v);
	if (v && (!start || (strcmp(start, "latest") && strcmp(start, "earliest")))) {
		snprintf(err, len, "start: expected one of latest, earliest");
		return -1;
	}
	if (int_key(b, "delivery_timeout_ms", 1, MAX_DELIVERY_TIMEOUT_MS, DEFAULT_DELIVERY_TIMEOUT_MS,
		    &dt, err, len) ||
	    int_key(b, "max_requests", 1, 1000000, SGM_MAX_REQUESTS_DEFAULT, &dt, err, len) ||
	    int_key(b, "max_requests_per_socket", 1, 100000, SGM_MAX_REQUESTS_PER_SOCKET_DEFAULT, &dt, err, len))
		return -1;
	v = json_object_get(b, "reply_topic");
	if (v && !json_is_string(v)) {
		snprintf(err, len, "reply_topic: expected a non-empty string");
		return -1;
	}
	if (v && sgm_reply_topic_check(json_string_value(v), kafka_topic_ok, err, len))
		return -1;
	if (check_props(b, "properties", err, len) || check_props(b, "producer", err, len) ||
	    check_props(b, "consumer", err, len))
		return -1;
	return 0;
}

static int check_binding(const json_t *bridge, char *err, size_t errlen)
{
	return sgm_check(bridge, &flavor, err, errlen);
}

/* ---------------------------------------------------------------- helpers */

static int set_prop(rd_kafka_conf_t *conf, const char *k, const json_t *v, char *err, size_t len)
{
	char buf[64], e[256];
	const char *s = json_string_value(v);

	if (!s) {
		if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		else
			snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
		s = buf;
	}
	if (rd_kafka_conf_set(conf, k, s, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
		snprintf(err, len, "property '%s': %s", k, e);
		return -1;
	}
	return 0;
}

static int apply_props(rd_kafka_conf_t *conf, const json_t *o, char *err, size_t len)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v)
		if (set_prop(conf, k, v, err, len))
			return -1;
	return 0;
}

static void kafka_update_ready(struct kafka *k)
{
	int ready = k->producer_up && (!k->consumer || (k->consumer_up && k->assigned && k->fetching)) &&
		    (!k->sess || ksess_loaded(k->sess));

	if (ready)
		k->api->set_ready(k->host, 1, NULL);
	else
		k->api->set_ready(k->host, 0,
				  k->down_reason[0] ? k->down_reason
				  : !k->producer_up ? "connecting to Kafka"
				  : !k->assigned    ? "waiting for the consumer's partitions"
				  : k->consumer_up && k->fetching ? "loading the recovery sessions (sessions_topic)"
						    : "waiting for the consumer's start offsets");
}

/* The consumer lag of an assigned partition: its end (last stable offset, else high
 * watermark) minus the consumer's position (the next record handed to the gateway).
 * librdkafka's own consumer_lag counts from the committed offset, and a group of its own
 * never commits. Nothing until both ends are known. */
static void report_lag(struct kafka *k, const char *topic, const char *partition, json_t *p,
		       const char *fetch_state)
{
	json_int_t end = json_integer_value(json_object_get(p, "ls_offset"));
	json_int_t pos = json_integer_value(json_object_get(p, "app_offset"));
	const char *labels[] = {"topic", topic, "partition", partition, NULL};
	if (end < 0)
		end = json_integer_value(json_object_get(p, "hi_offset"));
	if (pos < 0 && fetch_state && !strcmp(fetch_state, "active"))
		pos = json_integer_value(json_object_get(p, "next_offset"));
	if (end < 0 || pos < 0)
		return;
	/* Once a second per partition: the lookup is cheap enough, and the host escapes. */
	k->api->gauge_set(k->api->gauge_handle(k->host, "consumer_lag", labels),
			  (double)(end > pos ? end - pos : 0));
}

/* Statistics (every second) say which brokers are up: that is the readiness signal. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct kafka *k = opaque;
	json_t *st = json_loadb(json, len, 0, NULL), *brokers = json_object_get(st, "brokers"), *b;
	const char *name;
	int up = 0;

	json_object_foreach(brokers, name, b) {
		const char *state = json_string_value(json_object_get(b, "state"));
		/* Only real brokers count, not the bootstrap placeholders. */
		if (json_integer_value(json_object_get(b, "nodeid")) >= 0 && state && !strcmp(state, "UP"))
			up = 1;
	}
	if (rk == k->consumer) {
		/* Assigned is not enough: until a partition's start offset is resolved, a record
		 * produced now would be skipped. Ready once every assigned partition fetches. */
		const char *tname, *pname;
		json_t *t, *p;
		int waiting = 0;

		json_object_foreach(json_object_get(st, "topics"), tname, t)
			json_object_foreach(json_object_get(t, "partitions"), pname, p) {
				const char *fs = json_string_value(json_object_get(p, "fetch_state"));

				if (json_is_true(json_object_get(p, "desired")) && (!fs || strcmp(fs, "active")))
					waiting++;
				if (json_is_true(json_object_get(p, "desired")))
					report_lag(k, tname, pname, p, fs);
			}
		k->fetching = k->assigned && !waiting;
	}
	json_decref(st);
	if (rk == k->producer)
		k->producer_up = up;
	else
		k->consumer_up = up;
	if (up)
		k->down_reason[0] = '\0';
	kafka_update_ready(k);
	return 0;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka *k = opaque;

	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
	    err == RD_KAFKA_RESP_ERR__RESOLVE) {
		if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
			k->producer_up = k->consumer_up = 0;
			snprintf(k->down_reason, sizeof(k->down_reason), "all Kafka brokers are down");
			kafka_update_ready(k);
		}
		k->api->log(k->host, SG_BRIDGE_LOG_DEBUG, "%s", reason);
		return;
	}
	k->api->log(k->host, SG_BRIDGE_LOG_WARN, "librdkafka: %s (%s)", reason, rd_kafka_err2str(err));
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct kafka *k = rd_kafka_opaque(rk);

	/* Called from librdkafka threads: the host's log is thread-safe. Connection failures
	 * (level 3, "FAIL") repeat while a broker is down and error_cb already reports the
	 * outage once, so they go to debug; only critical lines are errors. */
	if (k && level <= 2)
		k->api->log(k->host, SG_BRIDGE_LOG_ERROR, "%s: %s", fac, buf);
	else if (k && level <= 4)
		k->api->log(k->host, SG_BRIDGE_LOG_DEBUG, "%s: %s", fac, buf);
}

/* ---------------------------------------------------------------- producing */

static void complete(struct kafka *k, struct sg_bridge_ticket *t, json_t *res)
{
	if (t)
		k->api->complete(k->host, t, res);
	json_decref(res);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka *k = opaque;
	struct sg_bridge_ticket *t = m->_private;
	const char *topic = rd_kafka_topic_name(m->rkt);

	(void)rk;
	if (m->_private == KAFKA_SESSION_TAG) {
		ksess_produced(k->sess, m);
		return;
	}
	if (m->_private == EVENT_TAG) {
		sgm_evdrv_result(k->ev, !m->err, m->err ? rd_kafka_err2str(m->err) : NULL);
		return;
	}
	{
		struct sgm_req *q = sgm_req_of(k->reqs, m->_private);

		if (q) { /* a request: the client's answer is the backend's reply, not this */
			k->api->counter_add(k->ctr[m->err ? KC_FAILED : KC_PRODUCED], 1);
			sgm_req_produced(q, !m->err, m->err ? rd_kafka_err2str(m->err) : NULL);
			return;
		}
	}
	if (m->err) {
		k->api->counter_add(k->ctr[KC_FAILED], 1);
		complete(k, t, json_pack("{sbssss}", "ok", 0, "error", rd_kafka_err2str(m->err), "topic", topic));
		return;
	}
	k->api->counter_add(k->ctr[KC_PRODUCED], 1);
	complete(k, t, json_pack("{sbsssisI}", "ok", 1, "topic", topic, "partition", (int)m->partition,
				 "offset", (json_int_t)m->offset));
}

static int produce(struct kafka *k, const struct sgm_out *o, const struct sgm_header *extra,
		   const void *value, size_t value_len, void *t)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(o->n_headers + 1);
	rd_kafka_resp_err_t err;

	for (size_t i = 0; i < o->n_headers; i++)
		rd_kafka_header_add(hdrs, o->hname[i], -1, o->hvalue[i], -1);
	if (extra)
		rd_kafka_header_add(hdrs, extra->name, -1, extra->value, (ssize_t)extra->len);
	err = rd_kafka_producev(k->producer, RD_KAFKA_V_TOPIC(o->topic),
				RD_KAFKA_V_KEY(o->key, o->key ? strlen(o->key) : 0),
				RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_HEADERS(hdrs),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(hdrs); /* not taken on failure */
		return (int)err;
	}
	return 0;
}

/* The events driver's produce: fire and forget (the delivery report counts the outcome). */
static int produce_event(void *ud, const struct sgm_out *o, char *why, size_t whylen)
{
	struct kafka *k = ud;
	int err;

	if (!k->producer) {
		snprintf(why, whylen, "the producer is not running");
		return -1;
	}
	err = produce(k, o, NULL, o->value, o->value_len, EVENT_TAG);
	if (err)
		snprintf(why, whylen, "%s", rd_kafka_err2str(err));
	return err ? -1 : 0;
}

static void on_lifecycle(void *inst, int binding, const struct sg_bridge_lifecycle *ev)
{
	struct kafka *k = inst;

	sgm_evdrv_lifecycle(k->ev, binding >= 0 && (size_t)binding < k->n_bindings ? k->bindings[binding] : NULL, ev);
}

static int publish(void *inst, int binding, const struct sg_bridge_event *ev, struct sg_bridge_ticket *t)
{
	struct kafka *k = inst;
	struct sgm_binding *b = k->bindings[binding];
	int route = sgm_route(b, ev->event), err;
	struct sgm_req *q = NULL;
	unsigned timeout;
	struct sgm_out o;
	char why[256];

	if (route < 0)
		return 1;
	if (k->stopped) {
		complete(k, t, json_pack("{sbss}", "ok", 0, "error", "the gateway is shutting down"));
		return -1;
	}
	if (sgm_build(b, route, ev, k->api, k->host, &o, why, sizeof(why))) {
		k->api->count(k->host, "messages_refused", "", 1);
		complete(k, t, json_pack("{sbss}", "ok", 0, "error", why));
		return -1;
	}
	if (ev->wants_ack && sgm_route_reply(b, route, &timeout)) {
		/* The backend answers: the message carries where and under which id. */
		q = sgm_req_open(k->reqs, t, ev->nsp, ev->sid, timeout, why, sizeof(why));
		if (!q || sgm_req_headers(q, &o)) {
			if (q)
				sgm_req_abandon(q);
			sgm_out_clear(&o);
			complete(k, t, json_pack("{sbss}", "ok", 0, "error", q ? "out of memory" : why));
			return -1;
		}
	}
	err = produce(k, &o, NULL, o.value, o.value_len, q ? (void *)q : (void *)t);
	sgm_out_clear(&o);
	if (err && q)
		sgm_req_abandon(q); /* never handed over: its ticket is still ours */
	if (err) {
		/* Refused locally (queue full, unknown topic...): say so at once. */
		k->api->count(k->host, "messages_failed", "", 1);
		complete(k, t, json_pack("{sbss}", "ok", 0, "error", rd_kafka_err2str(err)));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- consuming */

static void malformed(struct kafka *k, struct sgm_binding *b, const rd_kafka_message_t *m, const char *why)
{
	time_t now = time(NULL);
	const char *dlq = b ? sgm_dead_letter(b) : NULL;

	k->malformed++;
	k->api->counter_add(k->ctr[KC_MALFORMED], 1);
	if (now - k->malformed_last_log >= LOG_INTERVAL_S) {
		k->api->log(k->host, SG_BRIDGE_LOG_WARN,
			    "topic '%s' partition %d offset %lld: message skipped (%s); %lu malformed so far",
			    rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, why, k->malformed);
		k->malformed_last_log = now;
	}
	if (dlq) {
		struct sgm_out o;
		struct sgm_header eh = {SGM_H_ERROR, why, strlen(why)};
		rd_kafka_headers_t *src = NULL;
		size_t idx = 0;
		const char *hn;
		const void *hv;
		size_t hl;
		int oom = 0;

		/* The original key, value and headers, plus sio-error. */
		memset(&o, 0, sizeof(o));
		o.topic = (char *)dlq;
		o.key = NULL;
		if (rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			while (!oom && o.n_headers < SGM_MAX_HEADERS - 1 &&
			       rd_kafka_header_get_all(src, idx++, &hn, &hv, &hl) == RD_KAFKA_RESP_ERR_NO_ERROR) {
				o.hname[o.n_headers] = strdup(hn);
				o.hvalue[o.n_headers] = hv ? strndup(hv, hl) : strdup("");
				oom = !o.hname[o.n_headers] || !o.hvalue[o.n_headers];
				o.n_headers++;
			}
		}
		if (m->key && !(o.key = strndup(m->key, m->key_len)))
			oom = 1;
		/* Out of memory: no dead letter (it would lose its headers), counted as failed. */
		if (oom || produce(k, &o, &eh, m->payload, m->len, NULL))
			k->api->counter_add(k->ctr[KC_DEAD_FAILED], 1);
		else
			k->api->counter_add(k->ctr[KC_DEAD], 1);
		free(o.key);
		for (size_t i = 0; i < o.n_headers; i++) {
			free(o.hname[i]);
			free(o.hvalue[i]);
		}
	}
}

static void handle_message(struct kafka *k, const rd_kafka_message_t *m)
{
	struct sgm_header h[SGM_MAX_HEADERS];
	struct sgm_binding *first = NULL, *bad = NULL;
	const char *topic = rd_kafka_topic_name(m->rkt);
	struct sgm_msg msg;
	char bad_why[256] = "", pos[300];
	int delivered = 0, subscribed = 0;

	kafka_msg_of(m, &msg, h);
	k->api->counter_add(k->ctr[KC_CONSUMED], 1);
	if (k->sess) {
		/* Where this record sits goes into the offset clients get, and the namespace's
		 * position here into the sessions it keeps. */
		snprintf(pos, sizeof(pos), "%s/%d/%lld", topic, (int)m->partition, (long long)m->offset);
		msg.position = pos;
		ksess_seen(k->sess, m);
	}
	if (k->wants_replies && !strcmp(topic, sgm_reqs_reply_topic(k->reqs))) {
		sgm_reqs_reply(k->reqs, &msg, NULL, 0);
		return;
	}

	/* A record on a topic shared by several bindings is malformed only if none of them
	 * could use it; then it is counted (and dead-lettered) once, with the first reason. */
	for (size_t i = 0; i < k->n_bindings; i++) {
		const struct sgm_sub *subs;
		size_t n = sgm_subs(k->bindings[i], &subs);

		for (size_t j = 0; j < n; j++) {
			char why[256];
			long rc;

			if (!sgm_sub_match(&subs[j], topic, NULL, 0))
				continue;
			subscribed = 1;
			if (!first)
				first = k->bindings[i];
			rc = sgm_deliver(k->bindings[i], &subs[j], &msg, k->api, k->host, why, sizeof(why));
			if (rc >= 0) {
				delivered = 1;
			} else if (rc == -1 && !bad) {
				bad = k->bindings[i];
				snprintf(bad_why, sizeof(bad_why), "%s", why);
			}
		}
	}
	if (delivered || !subscribed)
		return;
	if (bad)
		malformed(k, bad, m, bad_why);
	else
		malformed(k, first, m, "unknown namespace (no bridged namespace takes its sio-namespace)");
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kafka *k = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		rd_kafka_assign(rk, parts);
		k->assigned = 1;
		k->api->log(k->host, SG_BRIDGE_LOG_DEBUG, "consumer assigned %d partition(s)", parts->cnt);
	} else {
		rd_kafka_assign(rk, NULL);
		k->assigned = 0;
		k->fetching = 0;
	}
	kafka_update_ready(k);
}

static void drain_consumer(void *ud);
static void drain_producer(void *ud);

/* librdkafka thread: a queue went from empty to non-empty. Ask the loop to poll it once. */
static void consumer_event(rd_kafka_t *rk, void *opaque)
{
	struct kafka *k = opaque;

	(void)rk;
	if (!atomic_exchange(&k->c_posted, 1) && k->api->post(k->host, drain_consumer, k))
		atomic_store(&k->c_posted, 0);
}

static void producer_event(rd_kafka_t *rk, void *opaque)
{
	struct kafka *k = opaque;

	(void)rk;
	if (!atomic_exchange(&k->p_posted, 1) && k->api->post(k->host, drain_producer, k))
		atomic_store(&k->p_posted, 0);
}

static void drain_producer(void *ud)
{
	struct kafka *k = ud;

	atomic_store(&k->p_posted, 0);
	if (!k->stopped)
		rd_kafka_poll(k->producer, 0); /* delivery reports, stats, errors: here, on the loop */
}

static void drain_consumer(void *ud)
{
	struct kafka *k = ud;
	int budget = CONSUME_BATCH;

	atomic_store(&k->c_posted, 0);
	while (!k->stopped && budget--) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(k->consumer, 0);

		if (!m)
			return;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				k->api->log(k->host, SG_BRIDGE_LOG_WARN, "consumer: %s",
					    rd_kafka_message_errstr(m));
		} else {
			handle_message(k, m);
		}
		rd_kafka_message_destroy(m);
	}
	/* More may be waiting: yield to sockets, then come back. */
	if (!k->stopped)
		consumer_event(k->consumer, k);
}

/* ---------------------------------------------------------------- lifecycle */

static rd_kafka_conf_t *kafka_base_conf(struct kafka *k, const char *section, char *err, size_t len)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char e[256];

	if (rd_kafka_conf_set(conf, "bootstrap.servers", k->bootstrap, e, sizeof(e)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "statistics.interval.ms", "1000", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
	    /* Retry a lost broker every second at most (librdkafka's default backs off to
	     * 10 s), so that recovery and failure acks come close to delivery_timeout_ms. */
	    rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "client.id", k->api->instance_id(k->host), e, sizeof(e)) != RD_KAFKA_CONF_OK) {
		snprintf(err, len, "%s", e);
		goto fail;
	}
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	if (apply_props(conf, json_object_get(k->broker, "properties"), err, len) ||
	    apply_props(conf, json_object_get(k->broker, section), err, len))
		goto fail;
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* The request state: the reply topic ({instance} filled in) and the caps (check_broker
 * accepted the values). */
static int init_requests(struct kafka *k, const json_t *broker)
{
	const char *tpl = json_string_value(json_object_get(broker, "reply_topic"));
	struct sgm_reqs_conf c;
	long long maxr, maxs;
	char e[200], *topic;

	int_key(broker, "max_requests", 1, 1000000, SGM_MAX_REQUESTS_DEFAULT, &maxr, e, sizeof(e));
	int_key(broker, "max_requests_per_socket", 1, 100000, SGM_MAX_REQUESTS_PER_SOCKET_DEFAULT, &maxs, e, sizeof(e));
	if (!(topic = sgm_reply_topic(tpl ? tpl : DEFAULT_REPLY_TOPIC, k->api->instance_id(k->host))))
		return -1;
	c.reply_topic = topic;
	c.max_requests = (unsigned)maxr;
	c.max_per_socket = (unsigned)maxs;
	k->reqs = sgm_reqs_new(k->api, k->host, k->ev, &c);
	free(topic);
	if (!k->reqs)
		return -1;
	sgm_evdrv_set_reqs(k->ev, k->reqs);
	return 0;
}

/* A configuration for another consumer of this broker (sessions.c's), as the main one's. */
static rd_kafka_conf_t *consumer_conf(struct kafka *k, char *err, size_t len)
{
	return kafka_base_conf(k, "consumer", err, len);
}

static void *init(const struct sg_host_api *api, struct sg_host *host, const char *broker_name,
		  const json_t *broker, char *err, size_t len)
{
	struct kafka *k = calloc(1, sizeof(*k));

	if (!k || !(k->name = strdup(broker_name ? broker_name : "kafka"))) {
		free(k);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	/* check_broker accepted the value: this cannot fail. */
	if (int_key(broker, "delivery_timeout_ms", 1, MAX_DELIVERY_TIMEOUT_MS, DEFAULT_DELIVERY_TIMEOUT_MS,
		    &k->delivery_timeout_ms, err, len)) {
		free(k->name);
		free(k);
		return NULL;
	}
	k->api = api;
	k->host = host;
	k->consumer_conf = consumer_conf;
	k->ready_changed = kafka_update_ready;
	if (!(k->ev = sgm_evdrv_new(api, host, produce_event, k))) {
		free(k->name);
		free(k);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	if (init_requests(k, broker)) {
		sgm_evdrv_free(k->ev);
		free(k->name);
		free(k);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	k->broker = json_incref((json_t *)broker);
	for (int i = 0; i < KC_N; i++)
		k->ctr[i] = api->counter_handle(host, kctr_names[i], NULL);
	api->set_ready(host, 0, "starting");
	return k;
}

static int kbind(void *inst, const char *nsp, int is_pattern, const json_t *bridge, char *err, size_t len)
{
	struct kafka *k = inst;
	int id = sgm_bindings_add(&k->bindings, &k->n_bindings, nsp, is_pattern, bridge, &flavor, err, len);

	if (id >= 0 && sgm_binding_set_driver(k->bindings[id], k->ev)) {
		snprintf(err, len, ": out of memory");
		return -1;
	}
	if (id >= 0)
		k->wants_replies |= sgm_binding_waits_for_backend(k->bindings[id]);
	return id;
}

/* The topics every binding consumes, without duplicates. */
static rd_kafka_topic_partition_list_t *subscription(struct kafka *k)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);

	for (size_t i = 0; i < k->n_bindings; i++) {
		const struct sgm_sub *subs;
		size_t n = sgm_subs(k->bindings[i], &subs);

		for (size_t j = 0; j < n; j++) {
			const char *t = subs[j].literal ? subs[j].literal : subs[j].regex;
			if (!rd_kafka_topic_partition_list_find(l, t, RD_KAFKA_PARTITION_UA))
				rd_kafka_topic_partition_list_add(l, t, RD_KAFKA_PARTITION_UA);
		}
	}
	if (k->wants_replies && !rd_kafka_topic_partition_list_find(l, sgm_reqs_reply_topic(k->reqs), RD_KAFKA_PARTITION_UA))
		rd_kafka_topic_partition_list_add(l, sgm_reqs_reply_topic(k->reqs), RD_KAFKA_PARTITION_UA);
	return l;
}

/* bootstrap_servers "embedded": librdkafka's mock cluster (the Kafka wire protocol, kept in
 * memory) runs in this process on a free 127.0.0.1 port, so that a demo needs no Kafka
 * installed. Its address is logged and published with set_info (/readyz, /demo/info). */
static int start_embedded(struct kafka *k, char *err, size_t len)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *addr;
	char e[256];

	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	k->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!k->mock_rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, len, "embedded Kafka: %s", e);
		return -1;
	}
	k->mock = rd_kafka_mock_cluster_new(k->mock_rk, 1);
	addr = k->mock ? rd_kafka_mock_cluster_bootstraps(k->mock) : NULL;
	if (!addr || !(k->bootstrap = strdup(addr))) {
		snprintf(err, len, "embedded Kafka: cannot start librdkafka's mock cluster");
		return -1;
	}
	k->api->log(k->host, SG_BRIDGE_LOG_WARN,
		    "embedded Kafka (librdkafka's mock cluster, for demos and tests: records live in memory "
		    "and are lost on exit) listening at %s; set bootstrap_servers to a real cluster in production",
		    k->bootstrap);
	if (k->api->abi_minor >= 1) {
		k->api->set_info(k->host, "embedded", "librdkafka mock cluster");
		k->api->set_info(k->host, "bootstrap_servers", k->bootstrap);
	}
	return 0;
}

static int start(void *inst, char *err, size_t len)
{
	struct kafka *k = inst;
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *subs;
	char e[512], tmo[32];
	const char *gid = json_string_value(json_object_get(k->broker, "group_id"));
	const char *startpos = json_string_value(json_object_get(k->broker, "start"));
	char group[160];
	rd_kafka_resp_err_t rerr;
	const char *bs = json_string_value(json_object_get(k->broker, "bootstrap_servers"));

	if (!strcmp(bs, EMBEDDED)) {
		if (start_embedded(k, err, len))
			return -1;
	} else if (!(k->bootstrap = strdup(bs))) {
		snprintf(err, len, "out of memory");
		return -1;
	}

	/* Producer: idempotent, acks from every in-sync replica, a bounded delivery time. */
	conf = kafka_base_conf(k, "producer", err, len);
	if (!conf)
		return -1;
	snprintf(tmo, sizeof(tmo), "%lld", k->delivery_timeout_ms);
	if (rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "acks", "all", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "message.timeout.ms", tmo, e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "linger.ms", "1", e, sizeof(e))) {
		snprintf(err, len, "%s", e);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	/* User properties win over these defaults: apply them again. */
	if (apply_props(conf, json_object_get(k->broker, "properties"), err, len) ||
	    apply_props(conf, json_object_get(k->broker, "producer"), err, len)) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	k->producer = kafka_new_client(RD_KAFKA_PRODUCER, conf, "producer", err, len);
	if (!k->producer)
		return -1;
	k->pq = rd_kafka_queue_get_main(k->producer);
	rd_kafka_queue_cb_event_enable(k->pq, producer_event, k);

	subs = subscription(k);
	if (subs->cnt) {
		/* Every replica must see every message: a group of its own (unless configured),
		 * starting at the end by default. */
		int own_group = !gid;

		if (own_group) {
			snprintf(group, sizeof(group), "siogate-%s", k->api->instance_id(k->host));
			gid = group;
		}
		conf = kafka_base_conf(k, "consumer", err, len);
		/* A group of its own is never resumed, so committing offsets to it is pointless,
		 * and a commit waiting for a dead coordinator would hold up the shutdown. */
		if (conf && own_group &&
		    rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof(e))) {
			rd_kafka_conf_destroy(conf);
			snprintf(err, len, "consumer: %s", e);
			rd_kafka_topic_partition_list_destroy(subs);
			return -1;
		}
		if (!conf ||
		    rd_kafka_conf_set(conf, "group.id", gid, e, sizeof(e)) ||
		    rd_kafka_conf_set(conf, "auto.offset.reset", startpos ? startpos : "latest", e, sizeof(e)) ||
		    rd_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "10000", e, sizeof(e)) ||
		    rd_kafka_conf_set(conf, "allow.auto.create.topics", "true", e, sizeof(e)) ||
		    apply_props(conf, json_object_get(k->broker, "properties"), err, len) ||
		    apply_props(conf, json_object_get(k->broker, "consumer"), err, len)) {
			if (conf)
				rd_kafka_conf_destroy(conf);
			if (!err[0])
				snprintf(err, len, "consumer: %s", e);
			rd_kafka_topic_partition_list_destroy(subs);
			return -1;
		}
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
		k->consumer = kafka_new_client(RD_KAFKA_CONSUMER, conf, "consumer", err, len);
		if (!k->consumer) {
			rd_kafka_topic_partition_list_destroy(subs);
			return -1;
		}
		rd_kafka_poll_set_consumer(k->consumer);
		k->cq = rd_kafka_queue_get_consumer(k->consumer);
		rd_kafka_queue_cb_event_enable(k->cq, consumer_event, k);
		rerr = rd_kafka_subscribe(k->consumer, subs);
		rd_kafka_topic_partition_list_destroy(subs);
		if (rerr) {
			snprintf(err, len, "subscribe: %s", rd_kafka_err2str(rerr));
			return -1;
		}
		k->api->log(k->host, SG_BRIDGE_LOG_INFO, "consuming as group '%s' from the %s offset", gid,
			    startpos ? startpos : "latest");
	} else {
		rd_kafka_topic_partition_list_destroy(subs);
	}
	if (k->sess && ksess_start(k->sess, err, len))
		return -1;
	kafka_update_ready(k);
	if (sgm_evdrv_start(k->ev) || sgm_reqs_start(k->reqs)) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	return 0;
}

/* Leaves the group within the deadline: the close runs in librdkafka's background and its
 * rebalance (the revocation) is served here. Past the deadline fini() destroys the consumer
 * without the close, as with the brokers down. */
#define CLOSE_POLL_MS 100
static void close_consumer(struct kafka *k, long long deadline)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(k->consumer);
	rd_kafka_error_t *error = q ? rd_kafka_consumer_close_queue(k->consumer, q) : NULL;

	if (!q || error) {
		k->api->log(k->host, SG_BRIDGE_LOG_WARN, "consumer close: %s",
			    error ? rd_kafka_error_string(error) : "out of memory");
		if (error)
			rd_kafka_error_destroy(error);
		k->skip_close = 1;
	}
	while (!k->skip_close && !rd_kafka_consumer_closed(k->consumer)) {
		long long left = deadline - sg_mono_ms();
		rd_kafka_event_t *ev;

		if (left <= 0) {
			k->skip_close = 1;
			k->api->log(k->host, SG_BRIDGE_LOG_WARN,
				    "the drain budget ran out: the consumer leaves its group without a clean close");
			break;
		}
		ev = rd_kafka_queue_poll(q, (int)(left < CLOSE_POLL_MS ? left : CLOSE_POLL_MS));
		if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
			rebalance_cb(k->consumer, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), k);
		if (ev)
			rd_kafka_event_destroy(ev);
	}
	if (q)
		rd_kafka_queue_destroy(q);
}

static void stop(void *inst, unsigned drain_ms)
{
	struct kafka *k = inst;
	long long deadline = sg_mono_ms() + drain_ms;

	if (k->stopped)
		return;
	k->stopped = 1;
	if (k->producer) {
		/* First the producer: the acks clients wait for matter most. Flushing serves
		 * delivery reports right here, on the loop thread. */
		rd_kafka_flush(k->producer, (int)drain_ms);
		/* Requests still waiting for a backend will not get it now. */
		sgm_reqs_stop(k->reqs);
		if (k->sess)
			ksess_stop(k->sess);
		rd_kafka_queue_cb_event_enable(k->pq, NULL, NULL);
		/* What is left will not make it: fail it (its tickets get an error). */
		rd_kafka_purge(k->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(k->producer, 0);
		if (rd_kafka_outq_len(k->producer))
			k->api->log(k->host, SG_BRIDGE_LOG_WARN, "%d message(s) still queued at shutdown",
				    rd_kafka_outq_len(k->producer));
	}
	if (k->consumer) {
		rd_kafka_queue_cb_event_enable(k->cq, NULL, NULL);
		/* Leaving the group cleanly needs its coordinator: with the brokers down that
		 * would block the shutdown, so fini() destroys without the close instead. */
		if (k->consumer_up) {
			close_consumer(k, deadline);
		} else {
			k->skip_close = 1;
			k->api->log(k->host, SG_BRIDGE_LOG_WARN,
				    "stopping with the brokers down: the consumer leaves its group without a clean close");
		}
	}
}

struct destroy_job {
	rd_kafka_t *rk;
	int flags;
};

static void *destroy_job_run(void *arg)
{
	struct destroy_job *j = arg;

	rd_kafka_destroy_flags(j->rk, j->flags);
	free(j);
	return NULL;
}

/* Destroys a client on a thread of its own and waits for it at most DESTROY_WAIT_S seconds, then lets it
 * finish on its own (the plugin stays mapped: RTLD_NODELETE; no host call there, the host is
 * past stop()). With the brokers down or just back, a consumer's pending offset commit or a
 * broker thread's reconnect can hold rd_kafka_destroy far beyond the drain: a shutdown must
 * stay bounded (the orchestrator's grace period), and what could be delivered was flushed
 * or failed already. */
#define DESTROY_WAIT_S 3
static void destroy_bounded(rd_kafka_t *rk, int flags)
{
	struct destroy_job *j = malloc(sizeof(*j));
	struct timespec until;
	pthread_t th;

	if (!j) {
		rd_kafka_destroy_flags(rk, flags);
		return;
	}
	j->rk = rk;
	j->flags = flags;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DESTROY_WAIT_S;
	if (pthread_create(&th, NULL, destroy_job_run, j) != 0) {
		free(j);
		rd_kafka_destroy_flags(rk, flags);
	} else if (pthread_timedjoin_np(th, NULL, &until) != 0) {
		pthread_detach(th);
	}
}

static void fini(void *inst)
{
	struct kafka *k = inst;

	if (k->cq)
		rd_kafka_queue_destroy(k->cq);
	if (k->consumer && !k->skip_close)
		rd_kafka_destroy(k->consumer);
	else if (k->consumer)
		destroy_bounded(k->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	ksess_free(k->sess); /* its consumers, before the producer it produced with */
	if (k->pq)
		rd_kafka_queue_destroy(k->pq);
	if (k->producer) /* purged by stop(): nothing is left to wait for but its threads */
		destroy_bounded(k->producer, 0);
	/* The embedded cluster goes last: its clients are gone. */
	if (k->mock)
		rd_kafka_mock_cluster_destroy(k->mock);
	if (k->mock_rk)
		rd_kafka_destroy(k->mock_rk);
	free(k->bootstrap);
	sgm_bindings_free(k->bindings, k->n_bindings);
	sgm_reqs_free(k->reqs);
	sgm_evdrv_free(k->ev);
	json_decref(k->broker);
	free(k->name);
	free(k);
}

static int session_topic(void *inst, int binding, const char *topic, char *err, size_t len)
{
	struct kafka *k = inst;

	if (!k->sess && !(k->sess = ksess_new(k))) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	return ksess_topic(k->sess, binding, topic, err, len);
}

SG_BRIDGE_PLUGIN(.name = "kafka", .version = PACKAGE_VERSION, .check_broker = check_broker,
		 .check_binding = check_binding, .init = init, .bind = kbind, .start = start,
		 .publish = publish, .stop = stop, .fini = fini, .on_lifecycle = on_lifecycle,
		 .session_topic = session_topic, .session_save = ksess_save, .session_drop = ksess_drop,
		 .session_find = ksess_find, .session_replay = ksess_replay);
