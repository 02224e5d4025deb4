/* net.c - the MQTT bridge's network thread: connects, runs mosquitto_loop(), reconnects with
 * backoff, and runs libmosquitto's callbacks, which copy what arrived into the plugin's
 * bounded queues and post a drain to the loop. Only the host's any-thread functions (log,
 * set_ready, count, post) are called from here. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin.h"

/* ---------------------------------------------------------------- callbacks */

static void on_connect(struct mosquitto *mosq, void *ud, int rc, int flags, const mosquitto_property *props)
{
	struct mq *q = ud;
	size_t n = 0;

	(void)flags;
	(void)props;
	if (rc) {
		char reason[200];

		snprintf(reason, sizeof(reason), "the MQTT broker at %s:%d refused the connection: %s", q->conf.host,
			 q->conf.port, q->conf.v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
		if (strcmp(reason, q->last_err))
			q->api->log(q->host, SG_BRIDGE_LOG_ERROR, "%s", reason);
		snprintf(q->last_err, sizeof(q->last_err), "%s", reason);
		q->api->set_ready(q->host, 0, reason);
		q->refused = 1;
		return;
	}
	q->connected = q->was_connected = 1;
	q->api->log(q->host, SG_BRIDGE_LOG_INFO, "connected to %s:%d (MQTT %s, client id '%s')%s", q->conf.host,
		    q->conf.port, q->conf.v5 ? "5" : "3.1.1", q->client_id, q->attempts ? " after retrying" : "");
	q->attempts = 0;
	q->last_err[0] = q->last_lib[0] = '\0';
	q->api->counter_add(q->ctr[MC_CONNECTIONS], 1);
	/* A clean session every time: subscribe again, whatever the broker remembers. */
	q->sub_failed = 0;
	for (size_t i = 0; i < q->n_subs; i++) {
		int mid = -1, e = mosquitto_subscribe_v5(mosq, &mid, q->subs[i].filter, q->subs[i].qos,
						     q->subs[i].options, NULL);

		q->subs[i].mid = e == MOSQ_ERR_SUCCESS ? mid : -1;
		if (e == MOSQ_ERR_SUCCESS)
			n++;
		else
			q->api->log(q->host, SG_BRIDGE_LOG_ERROR, "cannot subscribe to '%s': %s", q->subs[i].filter,
				    mosquitto_strerror(e));
	}
	q->subs_waiting = n;
	if (n)
		q->api->set_ready(q->host, 0, "waiting for the MQTT broker to acknowledge the subscriptions");
	else
		q->api->set_ready(q->host, 1, NULL);
}

static void on_subscribe(struct mosquitto *mosq, void *ud, int mid, int n, const int *granted,
			 const mosquitto_property *props)
{
	struct mq *q = ud;

	(void)mosq;
	(void)props;
	for (size_t i = 0; i < q->n_subs; i++) {
		if (q->subs[i].mid != mid)
			continue;
		q->subs[i].mid = -1;
		if (n < 1 || granted[0] >= 0x80) {
			q->sub_failed = 1;
			q->api->log(q->host, SG_BRIDGE_LOG_ERROR, "the MQTT broker refused the subscription to '%s' (%s)",
				    q->subs[i].filter, n < 1 ? "no answer" : mosquitto_reason_string(granted[0]));
		}
		if (q->subs_waiting && !--q->subs_waiting) {
			if (q->sub_failed)
				q->api->set_ready(q->host, 0, "the MQTT broker refused a subscription (see the log)");
			else
				q->api->set_ready(q->host, 1, NULL);
		}
		break;
	}
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc, const mosquitto_property *props)
{
	struct mq *q = ud;
	int quitting;

	(void)mosq;
	(void)props;
	pthread_mutex_lock(&q->mu);
	quitting = q->quit;
	pthread_mutex_unlock(&q->mu);
	if (!q->connected)
		return;
	q->connected = 0;
	if (quitting)
		return;
	q->api->log(q->host, SG_BRIDGE_LOG_WARN, "lost the connection to the MQTT broker (%s); reconnecting",
		    rc == 0 ? "closed" : mosquitto_strerror(rc));
	q->api->set_ready(q->host, 0, "disconnected from the MQTT broker; reconnecting");
}

/* Adds header `name` (an owned copy of value, len bytes) unless a user property gave it. */
static int add_native(struct rx *r, size_t cap, const char *name, const void *value, size_t len)
{
	char *n, *v;

	for (size_t i = 0; i < r->n_h; i++)
		if (!strcmp(r->h[i].name, name))
			return 0; /* the user property wins */
	if (r->n_h == cap)
		return 0;
	n = strdup(name);
	v = malloc(len + 1);
	if (!n || !v) {
		free(n);
		free(v);
		return -1;
	}
	memcpy(v, value, len);
	v[len] = '\0';
	r->h[r->n_h].name = n;
	r->h[r->n_h].value = v;
	r->h[r->n_h].len = len;
	r->n_h++;
	return 0;
}

/* Copies the user properties (the routing "headers"), and MQTT 5's own request properties
 * as the headers they stand for: Response Topic as sio-reply-to, Correlation Data as
 * sio-ack-id. Others are not used. */
static int copy_props(struct rx *r, const mosquitto_property *props)
{
	size_t n = 2; /* room for the two native ones */
	void *corr = NULL;
	char *resp = NULL;
	uint16_t corr_len = 0;
	int rc = 0;

	for (const mosquitto_property *p = props; p; p = mosquitto_property_next(p))
		n += mosquitto_property_identifier(p) == MQTT_PROP_USER_PROPERTY;
	if (n > SGM_MAX_HEADERS)
		n = SGM_MAX_HEADERS;
	r->h = calloc(n, sizeof(*r->h));
	if (!r->h)
		return -1;
	for (const mosquitto_property *p = props; p && r->n_h < n - 2; p = mosquitto_property_next(p)) {
		char *name = NULL, *value = NULL;

		if (mosquitto_property_identifier(p) != MQTT_PROP_USER_PROPERTY)
			continue;
		if (!mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, false)) {
			free(name);
			free(value);
			return -1;
		}
		r->h[r->n_h].name = name;
		r->h[r->n_h].value = value;
		r->h[r->n_h].len = strlen(value);
		r->n_h++;
	}
	if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false))
		rc = add_native(r, n, SGM_H_ACK_ID, corr, corr_len);
	if (!rc && mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &resp, false))
		rc = add_native(r, n, SGM_H_REPLY_TO, resp, strlen(resp));
	free(corr);
	free(resp);
	if (!r->n_h) {
		free(r->h);
		r->h = NULL;
	}
	return rc;
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *m,
		       const mosquitto_property *props)
{
	struct mq *q = ud;
	struct rx *r = calloc(1, sizeof(*r));
	int full;

	(void)mosq;
	if (!r || !(r->topic = strdup(m->topic)) || !(r->payload = malloc((size_t)m->payloadlen + 1)) ||
	    copy_props(r, props)) {
		if (r)
			mq_rx_free(r);
		q->api->counter_add(q->ctr[MC_DROPPED], 1);
		return;
	}
	memcpy(r->payload, m->payload ? m->payload : "", (size_t)m->payloadlen);
	r->payload[m->payloadlen] = '\0';
	r->len = (size_t)m->payloadlen;
	r->retain = m->retain;
	pthread_mutex_lock(&q->mu);
	full = q->rx.count >= (size_t)q->conf.max_queue;
	if (!full)
		sg_list_push_back(&q->rx, &r->in_queue);
	pthread_mutex_unlock(&q->mu);
	if (full) {
		time_t now = time(NULL);

		q->dropped++;
		q->api->counter_add(q->ctr[MC_DROPPED], 1);
		if (now - q->drop_log >= LOG_INTERVAL_S) {
			q->api->log(q->host, SG_BRIDGE_LOG_WARN,
				    "topic '%s': message dropped, %lld are already waiting for the loop (max_queue); "
				    "%lu dropped so far", m->topic, q->conf.max_queue, q->dropped);
			q->drop_log = now;
		}
		mq_rx_free(r);
		return;
	}
	mq_wake(q);
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid, int rc, const mosquitto_property *props)
{
	struct mq *q = ud;

	(void)mosq;
	(void)props;
	pthread_mutex_lock(&q->mu);
	if (q->n_done == q->cap_done) {
		size_t cap = q->cap_done ? q->cap_done * 2 : 64;
		struct done *d = realloc(q->done, cap * sizeof(*d));

		if (d) {
			q->done = d;
			q->cap_done = cap;
		}
	}
	if (q->n_done < q->cap_done) /* else the message will time out */
		q->done[q->n_done++] = (struct done){mid, rc};
	pthread_cond_broadcast(&q->cv); /* stop() may be waiting for this */
	pthread_mutex_unlock(&q->mu);
	mq_wake(q);
}

static void on_log(struct mosquitto *mosq, void *ud, int level, const char *str)
{
	struct mq *q = ud;

	(void)mosq;
	if (!(level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)))
		return;
	/* Once per outage: the same TLS error comes back at every retry. */
	q->api->log(q->host, strcmp(str, q->last_lib) ? SG_BRIDGE_LOG_WARN : SG_BRIDGE_LOG_DEBUG, "libmosquitto: %s", str);
	snprintf(q->last_lib, sizeof(q->last_lib), "%s", str);
}

/* ---------------------------------------------------------------- the thread */

static int quitting(struct mq *q)
{
	int quit;

	pthread_mutex_lock(&q->mu);
	quit = q->quit;
	pthread_mutex_unlock(&q->mu);
	return quit;
}

/* While upstream messages wait for the broker, nudge the loop now and then: it fails those
 * that waited longer than delivery_timeout_ms. Also retries a drain the host could not take
 * (post() fails when its own queue is full). */
static void tick(struct mq *q, long long *last)
{
	long long now = mq_now_ms();
	size_t n_rx;

	if (now - *last < TICK_MS)
		return;
	*last = now;
	pthread_mutex_lock(&q->mu);
	n_rx = q->rx.count;
	pthread_mutex_unlock(&q->mu);
	if (atomic_load(&q->waiting) > 0 || n_rx)
		mq_wake(q);
}

/* Sleeps `ms` or until stop(); ticks meanwhile. */
static void pause_ms(struct mq *q, long long ms, long long *last)
{
	long long end = mq_now_ms() + ms;

	pthread_mutex_lock(&q->mu);
	while (!q->quit) {
		long long now = mq_now_ms(), until = end < now + TICK_MS ? end : now + TICK_MS;
		struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000};

		if (now >= end)
			break;
		pthread_cond_timedwait(&q->cv, &q->mu, &ts);
		pthread_mutex_unlock(&q->mu);
		tick(q, last);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
}

static void connect_failed(struct mq *q, const char *why)
{
	char reason[240];

	q->attempts++;
	snprintf(reason, sizeof(reason), "cannot reach the MQTT broker at %s:%d (%s)", q->conf.host, q->conf.port, why);
	/* One warning per outage and reason; the retries themselves are debug lines. */
	q->api->log(q->host, strcmp(reason, q->last_err) ? SG_BRIDGE_LOG_WARN : SG_BRIDGE_LOG_DEBUG, "%s; retrying",
		    reason);
	snprintf(q->last_err, sizeof(q->last_err), "%s", reason);
	q->api->set_ready(q->host, 0, reason);
}

const char *mq_err(int rc)
{
	return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
}

/* Why a connection attempt failed: for TLS, OpenSSL's words from libmosquitto's log
 * ("...SSL routines::certificate verify failed" gives "TLS: certificate verify failed"). */
static const char *attempt_err(struct mq *q, int rc, char *buf, size_t len)
{
	const char *detail = strrchr(q->last_lib, ':');

	if (rc != MOSQ_ERR_TLS || !q->last_lib[0])
		return mq_err(rc);
	snprintf(buf, len, "TLS: %s", detail && detail[1] ? detail + 1 + (detail[1] == ' ') : q->last_lib);
	return buf;
}

void *mq_net_main(void *ud)
{
	struct mq *q = ud;
	long long backoff = q->conf.reconnect_min_ms, last_tick = 0;
	int sock = 0, configured = 0;

	while (!quitting(q)) {
		int rc;

		if (!sock) {
			/* The first call sets host, port and keepalive; later ones only reconnect,
			 * which is what libmosquitto's own loop does while others publish. */
			if (configured)
				rc = mosquitto_reconnect_async(q->mosq);
			else
				rc = mosquitto_connect_async(q->mosq, q->conf.host, q->conf.port, q->conf.keepalive);
			configured |= rc != MOSQ_ERR_INVAL && rc != MOSQ_ERR_NOMEM;
			if (rc == MOSQ_ERR_SUCCESS) {
				sock = 1;
			} else {
				char buf[sizeof(q->last_lib) + 8];
				connect_failed(q, attempt_err(q, rc, buf, sizeof(buf)));
				goto wait;
			}
		}
		rc = mosquitto_loop(q->mosq, TICK_MS, 1);
		if (rc == MOSQ_ERR_SUCCESS) {
			tick(q, &last_tick);
			continue;
		}
		/* The connection failed or was lost: the socket is closed. */
		sock = 0;
		if (q->connected) { /* lost without a disconnect callback */
			q->connected = 0;
			q->api->set_ready(q->host, 0, "disconnected from the MQTT broker; reconnecting");
		}
		if (q->refused) {
			q->attempts++; /* on_connect said why */
		} else if (!q->was_connected) {
			char buf[sizeof(q->last_lib) + 8];
			connect_failed(q, attempt_err(q, rc, buf, sizeof(buf)));
		}
		q->refused = 0;
	wait:
		if (q->was_connected) {
			q->was_connected = 0;
			backoff = q->conf.reconnect_min_ms;
		}
		q->rnd = q->rnd * 1103515245u + 12345u;
		/* Exponential backoff with up to 25% jitter, so that replicas do not retry in step. */
		pause_ms(q, backoff + (long long)((q->rnd >> 8) % (unsigned)(backoff / 4 + 1)), &last_tick);
		backoff = backoff * 2 > q->conf.reconnect_max_ms ? q->conf.reconnect_max_ms : backoff * 2;
	}
	/* stop() called mosquitto_disconnect(): write the DISCONNECT, so that the broker does not
	 * wait for a keepalive timeout (bounded: 10 turns of 50 ms). */
	for (int i = 0; sock && i < 10 && mosquitto_loop(q->mosq, 50, 1) == MOSQ_ERR_SUCCESS; i++)
		;
	return NULL;
}

void mq_net_callbacks(struct mosquitto *mosq)
{
	mosquitto_connect_v5_callback_set(mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
	mosquitto_subscribe_v5_callback_set(mosq, on_subscribe);
	mosquitto_message_v5_callback_set(mosq, on_message);
	mosquitto_publish_v5_callback_set(mosq, on_publish);
	mosquitto_log_callback_set(mosq, on_log);
}
