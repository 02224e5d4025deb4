/* plugin.h - the MQTT bridge plugin's shared state: the instance (struct mq), what crosses
 * from the network thread to the loop (received messages, confirmations), and the functions
 * the plugin's files call. Says which thread owns each member. state.c owns the state;
 * mqtt.c (the glue) calls net.c and flow.c, which call state.c and never each other. */
#ifndef MQ_PLUGIN_H
#define MQ_PLUGIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "lastval.h"
#include "util/list.h"
#include "config.h"
#include "events.h"
#include "requests.h"

#define DRAIN_BATCH 1000         /* received messages handled per loop turn before yielding */
#define LOG_INTERVAL_S 10        /* warnings about skipped/dropped messages: one per interval */
#define TICK_MS 200              /* the network thread's poll timeout, and the timeout check */
#define PEND_BUCKETS 1024

/* The counters counted per message: handles looked up once (ABI 1.2), then lock-free. */
enum mq_ctr {
	MC_CONSUMED, MC_PRODUCED, MC_FAILED, MC_REFUSED, MC_MALFORMED, MC_DEAD, MC_DEAD_FAILED,
	MC_DROPPED, MC_RETAINED, MC_CONNECTIONS, MC_N
};

/* A message the network thread received. Owned. */
struct rx {
	struct sg_list_node in_queue; /* in mq.rx */
	char *topic;
	char *payload;
	size_t len;
	int retain;
	struct sgm_header *h;        /* user properties (names and values owned) */
	size_t n_h;
};

/* A PUBACK/PUBCOMP (or a QoS 0 write) the network thread saw. */
struct done {
	int mid;
	int rc;
};

/* A message libmosquitto holds for us until the broker confirms it (loop thread only). */
struct pend {
	int mid;
	struct sg_bridge_ticket *t;  /* NULL: nobody waits (a dead letter, or timed out) */
	char *topic;
	int qos;
	int ghost;                   /* timed out, still queued in libmosquitto (QoS > 0) */
	int event;                   /* a record of the events driver (its outcome is counted there) */
	struct sgm_req *req;         /* a client's request waiting for a backend (t is NULL then) */
	long long deadline;          /* monotonic ms */
	struct pend *hnext;          /* in its hash bucket */
	struct sg_list_node in_order; /* in mq.order: publish order, which is deadline order */
};

/* A socket that joined a room whose retained messages it should get (loop thread only). */
struct join {
	struct sg_list_node in_queue; /* in mq.joins */
	int binding;
	char *nsp, *sid, *room;
};

/* One subscription (a filter may serve several mappings: the highest QoS wins). */
struct sub {
	char *filter;
	int qos;
	int options;
	int mid;                     /* the SUBSCRIBE waiting for its SUBACK, or -1 */
};

struct mq {
	const struct sg_host_api *api;
	struct sg_host *host;
	struct mq_conf conf;
	char *broker_name;
	char *client_id;
	struct mq_binding *b;
	size_t n_b;
	struct sub *subs;
	size_t n_subs;
	struct mosquitto *mosq;
	void (*drain)(void *ud);     /* the loop side's drain (flow.c), posted by mq_wake */
	atomic_int posted;           /* a drain is posted and has not started yet */
	atomic_long waiting;         /* upstream messages whose confirmation is awaited */
	struct sg_bridge_counter *ctr[MC_N]; /* host-owned, any thread; NULL counts nothing */

	/* The network thread. */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;                    /* guarded by mu */
	struct sg_list rx;           /* of rx.in_queue, oldest first; guarded by mu */
	struct done *done;           /* guarded by mu */
	size_t n_done, cap_done;     /* guarded by mu */
	int connected;               /* network thread only: CONNACK accepted */
	int refused;                 /* network thread only: the last CONNACK refused us */
	int was_connected;           /* network thread only: since the last backoff reset */
	size_t subs_waiting;         /* network thread only */
	int sub_failed;              /* network thread only */
	unsigned long attempts;      /* network thread only: failed attempts in a row */
	char last_err[240];          /* network thread only: the last reason logged */
	char last_lib[200];          /* network thread only: libmosquitto's last error line */
	time_t drop_log;             /* network thread only */
	unsigned long dropped;       /* network thread only */
	unsigned rnd;                /* network thread only: backoff jitter */

	/* The loop thread. */
	int stopped;
	struct pend *pb[PEND_BUCKETS];
	struct sg_list order;        /* of pend.in_order, oldest first (not ghosts) */
	size_t n_pend;               /* all held messages, ghosts included (max_pending) */
	size_t n_tickets;            /* held messages with a ticket */
	size_t n_events;             /* held records of the events driver (not ghosts) */
	struct sgm_evdrv *ev;        /* lifecycle records, heartbeats, presence answers */
	struct sgm_reqs *reqs;       /* requests waiting for a backend's or a client's answer */
	int wants_replies;           /* some binding waits for backends: subscribe to the reply topic */
	struct sg_list joins;        /* of join.in_queue, to serve at the next drain */
	struct mq_lv *lv;
	unsigned long malformed;
	time_t malformed_log;
	time_t timeout_log;
	int lv_full_logged;
};

/* state.c */
/* A new instance for the broker object (mq_conf_load's error in err), whose mq_wake posts
 * `drain`; NULL on error. */
struct mq *mq_state_new(const struct sg_host_api *api, struct sg_host *host, const char *broker_name,
			const json_t *broker, void (*drain)(void *ud), char *err, size_t len);
void mq_state_free(struct mq *q);       /* after stop(): no thread is left */
long long mq_now_ms(void);              /* monotonic */
void mq_wake(struct mq *q);             /* any thread: make sure one drain is posted */
void mq_rx_free(struct rx *r);

/* net.c (mq_net_main is the network thread; mq_err: libmosquitto's error text, errno too) */
void *mq_net_main(void *ud);
void mq_net_callbacks(struct mosquitto *mosq);
const char *mq_err(int rc);

/* flow.c, loop thread */
void mq_drain(void *ud);
int mq_publish(void *inst, int binding, const struct sg_bridge_event *ev, struct sg_bridge_ticket *t);
void mq_on_join(void *inst, int binding, const char *nsp, const char *sid, const char *room);
void mq_confirmed(struct mq *q, int mid, int rc);
/* The events driver's produce (events.h): QoS 1 (a heartbeat QoS 0), no retain; MQTT 5 carries the headers as
 * user properties, MQTT 3.1.1 the record alone (its value holds every header's facts). */
int mq_produce_event(void *ud, const struct sgm_out *o, char *why, size_t whylen);
void mq_on_lifecycle(void *inst, int binding, const struct sg_bridge_lifecycle *ev);
void mq_expire(struct mq *q);
void mq_join_free(struct join *j);
/* Completes a ticket (NULL: nothing) with {"ok":false,"error":...,"topic":topic}. */
void mq_complete_err(struct mq *q, struct sg_bridge_ticket *t, const char *topic, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
