/* state.c - owns the MQTT bridge plugin's shared state (struct mq, plugin.h): makes and frees
 * it, and the helpers both threads' files use on it (the clock, the drain wake-up, freeing a
 * received message). Calls neither the network thread (net.c) nor the loop side (flow.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin.h"
#include "util/clock.h"

static const char *const mq_ctr_names[MC_N] = {
	"messages_consumed", "messages_produced", "messages_failed", "messages_refused",
	"messages_malformed", "dead_letters", "dead_letters_failed", "messages_dropped",
	"retained_deliveries", "connections",
};

long long mq_now_ms(void)
{
	return sg_mono_ms();
}

/* Any thread: make sure one drain is posted to the loop. */
void mq_wake(struct mq *q)
{
	if (!atomic_exchange(&q->posted, 1) && q->api->post(q->host, q->drain, q))
		atomic_store(&q->posted, 0);
}

void mq_rx_free(struct rx *r)
{
	sgm_headers_free(r->h, r->n_h);
	free(r->topic);
	free(r->payload);
	free(r);
}

struct mq *mq_state_new(const struct sg_host_api *api, struct sg_host *host, const char *broker_name,
			const json_t *broker, void (*drain)(void *ud), char *err, size_t len)
{
	struct mq *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;

	if (!q || !(q->broker_name = strdup(broker_name ? broker_name : "mqtt"))) {
		free(q);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	if (mq_conf_load(broker, &q->conf, err, len)) {
		free(q->broker_name);
		free(q);
		return NULL;
	}
	q->api = api;
	q->host = host;
	q->drain = drain;
	for (int i = 0; i < MC_N; i++)
		q->ctr[i] = api->counter_handle(host, mq_ctr_names[i], NULL);
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	q->rnd = (unsigned)mq_now_ms() ^ (unsigned)(size_t)q;
	return q;
}

void mq_state_free(struct mq *q)
{
	if (q->mosq)
		mosquitto_destroy(q->mosq);
	while (q->rx.head)
		mq_rx_free(sg_list_item(sg_list_pop_front(&q->rx), struct rx, in_queue));
	free(q->done);
	for (size_t i = 0; i < PEND_BUCKETS; i++)
		while (q->pb[i]) {
			struct pend *p = q->pb[i];
			q->pb[i] = p->hnext;
			free(p->topic);
			free(p);
		}
	for (size_t i = 0; i < q->n_b; i++)
		mq_binding_clear(&q->b[i]);
	free(q->b);
	for (size_t i = 0; i < q->n_subs; i++)
		free(q->subs[i].filter);
	free(q->subs);
	mq_lv_free(q->lv);
	sgm_reqs_free(q->reqs);
	sgm_evdrv_free(q->ev);
	free(q->client_id);
	free(q->broker_name);
	mq_conf_clear(&q->conf);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
