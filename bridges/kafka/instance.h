/* instance.h - the Kafka bridge's instance, which kafka.c owns and sessions.c reads; what
 * sessions.c needs of kafka.c comes through its hooks. Private to the plugin. */
#ifndef SG_KAFKA_INSTANCE_H
#define SG_KAFKA_INSTANCE_H

#include <stdatomic.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "mapping.h"
#include "siogate/bridge.h"

/* The counters counted per message: handles looked up once (ABI 1.2), then lock-free. */
enum kctr { KC_CONSUMED, KC_PRODUCED, KC_FAILED, KC_MALFORMED, KC_DEAD, KC_DEAD_FAILED, KC_N };

struct ksess;

struct kafka {
	const struct sg_host_api *api;
	struct sg_host *host;
	char *name;
	rd_kafka_t *producer;
	rd_kafka_t *consumer;        /* NULL when nothing is consumed */
	rd_kafka_queue_t *pq, *cq;   /* producer main queue, consumer queue */
	struct sgm_binding **bindings;
	size_t n_bindings;
	json_t *broker;              /* the broker object (a reference) */
	char *bootstrap;             /* bootstrap.servers in use (the mock cluster's when embedded) */
	rd_kafka_t *mock_rk;         /* embedded: the handle that owns the mock cluster */
	rd_kafka_mock_cluster_t *mock;
	atomic_int p_posted, c_posted;
	int stopped;
	int assigned;                /* the consumer has its partitions */
	int skip_close;              /* destroy the consumer without leaving its group */
	int fetching;                /* every assigned partition is fetching (statistics) */
	int producer_up, consumer_up;
	char down_reason[200];
	unsigned long malformed, malformed_logged;
	time_t malformed_last_log;
	long long delivery_timeout_ms;
	struct sg_bridge_counter *ctr[KC_N]; /* host-owned; NULL (refused) counts nothing */
	struct sgm_evdrv *ev;        /* lifecycle records, heartbeats, presence answers */
	struct sgm_reqs *reqs;       /* requests waiting for a backend's or a client's answer */
	int wants_replies;           /* some binding waits for backends: consume the reply topic */
	struct ksess *sess;          /* recovery sessions kept in topics (sessions.c), or NULL */
	/* Hooks for sessions.c: a configuration for another consumer (the broker's settings and
	 * the plugin's callbacks), and "readiness may have changed". */
	rd_kafka_conf_t *(*consumer_conf)(struct kafka *k, char *err, size_t len);
	void (*ready_changed)(struct kafka *k);
};

/* The opaque of session records (sessions.c): their delivery report goes to ksess_produced. */
extern char kafka_session_tag;
#define KAFKA_SESSION_TAG ((void *)&kafka_session_tag)

#endif
