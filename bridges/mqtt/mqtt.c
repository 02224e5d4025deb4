/* mqtt.c - the MQTT bridge plugin on libmosquitto: its descriptor and lifecycle (init, bind,
 * start, stop, fini). The network thread is in net.c, the loop-thread side (publishing,
 * delivery, acks, retained messages) in flow.c, the shared state in plugin.h (made, freed and
 * served by state.c). This file is the glue: it calls flow.c and net.c, which call neither it
 * nor each other.
 *
 * Threads: one network thread of ours drives libmosquitto (connect, mosquitto_loop, reconnect
 * with backoff) and runs its callbacks, which only copy what arrived into bounded queues and
 * post one "drain" to the loop (and call the host's any-thread functions: log, set_ready,
 * count, post). Publishing, delivery to sockets, ticket completion, delivery timeouts and
 * the last-value cache run on the gateway's loop thread. stop() joins the network thread. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin.h"

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* libmosquitto is initialised once per process and never cleaned up: its cleanup unloads
 * OpenSSL's configuration modules, which the gateway's own TLS still uses. It is also pinned
 * in memory (RTLD_NODELETE), so what its TLS setup keeps in its static data stays reachable
 * after the host unloads this plugin, instead of leaking. */
static void lib_init(void)
{
	Dl_info info;

	mosquitto_lib_init();
	if (dladdr((void *)mosquitto_lib_version, &info) && info.dli_fname)
		(void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

/* ---------------------------------------------------------------- config */

static int check_broker(const json_t *broker, char *err, size_t len)
{
	return mq_check_broker(broker, err, len);
}

static int check_binding(const json_t *bridge, char *err, size_t len)
{
	return mq_check_binding(bridge, err, len);
}

/* ---------------------------------------------------------------- lifecycle */

/* The request state: this replica's reply topic ({instance} filled in) and the caps. */
static int init_requests(struct mq *q)
{
	char *topic = sgm_reply_topic(q->conf.reply_topic, q->api->instance_id(q->host));
	struct sgm_reqs_conf c = {topic, (unsigned)q->conf.max_requests, (unsigned)q->conf.max_requests_per_socket};

	if (!topic)
		return -1;
	q->reqs = sgm_reqs_new(q->api, q->host, q->ev, &c);
	free(topic);
	if (!q->reqs)
		return -1;
	sgm_evdrv_set_reqs(q->ev, q->reqs);
	return 0;
}

static void *init(const struct sg_host_api *api, struct sg_host *host, const char *broker_name,
		  const json_t *broker, char *err, size_t len)
{
	struct mq *q = mq_state_new(api, host, broker_name, broker, mq_drain, err, len);

	if (!q)
		return NULL;
	if (!(q->ev = sgm_evdrv_new(api, host, mq_produce_event, q)) || init_requests(q)) {
		mq_state_free(q);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	pthread_once(&lib_once, lib_init);
	api->set_ready(host, 0, "starting");
	return q;
}

static int mbind(void *inst, const char *nsp, int is_pattern, const json_t *bridge, char *err, size_t len)
{
	struct mq *q = inst;
	struct mq_binding *nb = realloc(q->b, (q->n_b + 1) * sizeof(*nb));

	if (!nb) {
		snprintf(err, len, ": out of memory");
		return -1;
	}
	q->b = nb;
	if (mq_binding_init(&q->b[q->n_b], nsp, is_pattern, bridge, err, len))
		return -1;
	if (sgm_binding_set_driver(q->b[q->n_b].m, q->ev)) {
		mq_binding_clear(&q->b[q->n_b]);
		snprintf(err, len, ": out of memory");
		return -1;
	}
	q->wants_replies |= sgm_binding_waits_for_backend(q->b[q->n_b].m);
	return (int)q->n_b++;
}

static int add_sub(struct mq *q, const char *filter, int qos, int options)
{
	struct sub *ns;

	for (size_t i = 0; i < q->n_subs; i++)
		if (!strcmp(q->subs[i].filter, filter)) {
			if (qos > q->subs[i].qos)
				q->subs[i].qos = qos;
			q->subs[i].options |= options;
			return 0;
		}
	ns = realloc(q->subs, (q->n_subs + 1) * sizeof(*ns));
	if (!ns)
		return -1;
	q->subs = ns;
	ns[q->n_subs].filter = strdup(filter);
	ns[q->n_subs].qos = qos;
	ns[q->n_subs].options = options;
	ns[q->n_subs].mid = -1;
	if (!ns[q->n_subs].filter)
		return -1;
	q->n_subs++;
	return 0;
}

/* With lifecycle events, the connection's Last Will is the instance's "down" record (to the
 * first events topic): the broker publishes it when the gateway dies without a DISCONNECT. */
static int set_will(struct mq *q, char *err, size_t len)
{
	mosquitto_property *props = NULL;
	struct sgm_out o;
	int rc = sgm_evdrv_will(q->ev, &o);

	if (rc == 1)
		return 0;
	if (rc) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	rc = MOSQ_ERR_SUCCESS;
	if (q->conf.v5) {
		for (size_t i = 0; i < o.n_headers && !rc; i++)
			rc = mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, o.hname[i], o.hvalue[i]);
		if (!rc)
			rc = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "application/json");
	}
	if (!rc)
		rc = mosquitto_will_set_v5(q->mosq, o.topic, (int)o.value_len, o.value, 1, false, props);
	if (rc) /* on success the properties belong to libmosquitto */
		mosquitto_property_free_all(&props);
	sgm_out_clear(&o);
	if (rc) {
		snprintf(err, len, "events: cannot set the Last Will: %s", mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

static int start(void *inst, char *err, size_t len)
{
	struct mq *q = inst;
	const struct mq_conf *c = &q->conf;
	const char *id = q->api->instance_id(q->host);
	size_t idlen = strlen(id) + strlen(q->broker_name) + 10;
	int rc, any_retained = 0;

	for (size_t i = 0; i < q->n_b; i++) {
		for (size_t j = 0; j < q->b[i].n_down; j++) {
			const struct mq_down *d = &q->b[i].down[j];
			/* Retain As Published keeps the retain flag on live messages, so the
			 * last-value cache sees retained updates (MQTT 5 only). */
			int opts = d->retained_on_join && c->v5 ? MQTT_SUB_OPT_RETAIN_AS_PUBLISHED : 0;
			if (add_sub(q, d->t.filter, d->qos, opts))
				goto oom;
		}
		if (q->b[i].control && add_sub(q, q->b[i].control, 1, 0))
			goto oom;
		any_retained |= q->b[i].any_retained;
	}
	if (any_retained && !(q->lv = mq_lv_new()))
		goto oom;
	if (q->wants_replies && add_sub(q, sgm_reqs_reply_topic(q->reqs), 1, 0))
		goto oom;
	if (c->client_id) {
		q->client_id = strdup(c->client_id);
	} else if ((q->client_id = malloc(idlen))) {
		/* Unique per process and broker object: two connections with one id would take
		 * the session from each other in turn. */
		snprintf(q->client_id, idlen, "siogate-%s-%s", q->broker_name, id);
	}
	if (!q->client_id)
		goto oom;
	q->mosq = mosquitto_new(q->client_id, true, q);
	if (!q->mosq) {
		snprintf(err, len, "cannot create the MQTT client: %s", strerror(errno));
		return -1;
	}
	mosquitto_int_option(q->mosq, MOSQ_OPT_PROTOCOL_VERSION, c->v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_threaded_set(q->mosq, true); /* publish() runs on another thread than the loop */
	mq_net_callbacks(q->mosq);
	if (c->username && (rc = mosquitto_username_pw_set(q->mosq, c->username, c->password))) {
		snprintf(err, len, "username: %s", mosquitto_strerror(rc));
		return -1;
	}
	if (c->tls) {
		if (c->ca_file || c->ca_path)
			rc = mosquitto_tls_set(q->mosq, c->ca_file, c->ca_path, c->cert_file, c->key_file, NULL);
		else
			rc = mosquitto_int_option(q->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		if (!rc && c->tls_version)
			rc = mosquitto_tls_opts_set(q->mosq, 1, c->tls_version, NULL);
		if (!rc && c->tls_insecure)
			rc = mosquitto_tls_insecure_set(q->mosq, true);
		if (rc) {
			snprintf(err, len, "tls: %s (check that the files exist and can be read)", mq_err(rc));
			return -1;
		}
	}
	if (set_will(q, err, len))
		return -1;
	q->api->set_ready(q->host, 0, "connecting to the MQTT broker");
	if ((rc = pthread_create(&q->thread, NULL, mq_net_main, q))) {
		snprintf(err, len, "cannot start the MQTT thread: %s", strerror(rc));
		return -1;
	}
	q->thread_started = 1;
	q->api->log(q->host, SG_BRIDGE_LOG_INFO, "connecting to %s:%d%s as '%s', %zu subscription(s)", c->host,
		    c->port, c->tls ? " (TLS)" : "", q->client_id, q->n_subs);
	/* The first "up" waits in libmosquitto's queue (QoS 1) until the connection is up. */
	if (sgm_evdrv_start(q->ev) || sgm_reqs_start(q->reqs)) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	return 0;
oom:
	snprintf(err, len, "out of memory");
	return -1;
}

static void stop(void *inst, unsigned drain_ms)
{
	struct mq *q = inst;
	long long deadline = mq_now_ms() + drain_ms;
	struct sg_list_node *n;

	if (q->stopped)
		return;
	q->stopped = 1;
	/* Serve the broker's confirmations here, on the loop, until none is awaited (the
	 * clients' acks, and the lifecycle records of the shutdown). */
	while (q->thread_started && (q->n_tickets || q->n_events)) {
		struct done *done;
		size_t n_done;
		long long now = mq_now_ms();

		if (now >= deadline)
			break;
		pthread_mutex_lock(&q->mu);
		if (!q->n_done) {
			long long until = deadline < now + 100 ? deadline : now + 100;
			struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000};
			pthread_cond_timedwait(&q->cv, &q->mu, &ts);
		}
		done = q->done;
		n_done = q->n_done;
		q->done = NULL;
		q->n_done = q->cap_done = 0;
		pthread_mutex_unlock(&q->mu);
		for (size_t i = 0; i < n_done; i++)
			mq_confirmed(q, done[i].mid, done[i].rc);
		free(done);
		mq_expire(q);
	}
	if (q->n_tickets)
		q->api->log(q->host, SG_BRIDGE_LOG_WARN, "%zu upstream message(s) not confirmed by the broker at shutdown",
			    q->n_tickets);
	/* Requests still waiting for a backend will not get it now. */
	sgm_reqs_stop(q->reqs);
	for (size_t i = 0; i < PEND_BUCKETS; i++)
		for (struct pend *p = q->pb[i]; p; p = p->hnext) {
			if (p->req) {
				sgm_req_produced(p->req, 0, "the gateway is shutting down (the MQTT broker has not "
					      "confirmed the message)");
				p->req = NULL;
			}
			if (p->t) {
				mq_complete_err(q, p->t, p->topic,
					     "the gateway is shutting down (the MQTT broker has not confirmed the message)");
				p->t = NULL;
			}
		}
	q->n_tickets = 0;
	if (q->thread_started) {
		pthread_mutex_lock(&q->mu);
		q->quit = 1;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		/* Queues a DISCONNECT, which also wakes the thread out of mosquitto_loop(). */
		mosquitto_disconnect(q->mosq);
		pthread_join(q->thread, NULL);
		q->thread_started = 0;
	}
	/* Joins that never got their retained messages: the sockets are going away. */
	while ((n = sg_list_pop_front(&q->joins)))
		mq_join_free(sg_list_item(n, struct join, in_queue));
}

static void fini(void *inst)
{
	mq_state_free(inst);
}

SG_BRIDGE_PLUGIN(.name = "mqtt", .version = PACKAGE_VERSION, .check_broker = check_broker,
		 .check_binding = check_binding, .init = init, .bind = mbind, .start = start,
		 .publish = mq_publish, .on_join = mq_on_join, .stop = stop, .fini = fini,
		 .on_lifecycle = mq_on_lifecycle);
