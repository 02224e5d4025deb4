/* config.h - the MQTT bridge plugin's configuration, validated and loaded by config.c: the
 * broker object and the bindings the plugin runs. Nothing here is exported from mqtt.so. */
#ifndef MQ_CONFIG_H
#define MQ_CONFIG_H

#include <stddef.h>
#include <jansson.h>

#include "mapping.h"
#include "requests.h"
#include "topic.h"

/* The broker object (brokers.NAME), validated and with defaults filled in. Owned strings. */
struct mq_conf {
	char *host;
	int port;
	int v5;                        /* 1: MQTT 5 (default), 0: MQTT 3.1.1 */
	char *client_id;               /* NULL: "siogate-<instance id>" */
	char *username, *password;
	int keepalive;                 /* seconds */
	int tls;                       /* 1: TLS on */
	int tls_insecure;
	char *ca_file, *ca_path, *cert_file, *key_file, *tls_version;
	long long reconnect_min_ms, reconnect_max_ms;
	long long delivery_timeout_ms;
	long long max_pending;         /* upstream messages waiting for the broker */
	long long max_queue;           /* received messages waiting for the loop */
	char *reply_topic;             /* backends answer client requests here ({instance} allowed) */
	long long max_requests, max_requests_per_socket;
};

int mq_check_broker(const json_t *broker, char *err, size_t errlen);
int mq_conf_load(const json_t *broker, struct mq_conf *c, char *err, size_t errlen);
void mq_conf_clear(struct mq_conf *c);

/* A to_clients mapping as MQTT runs it (same index as in the shared mapping). */
struct mq_down {
	struct mq_topic t;
	int qos;
	int retained_on_join;
};

/* A from_clients mapping's MQTT side (same index as the shared mapping's routes). */
struct mq_up {
	char *topic;                   /* template */
	char *room_field;
	int qos;
	int retain;
};

/* One namespace's bridge object. */
struct mq_binding {
	struct sgm_binding *m;         /* the shared mapping (rooms, events, control, upstream) */
	struct mq_down *down;
	size_t n_down;
	struct mq_up *up;
	size_t n_up;
	char *control;                 /* the control topic filter, or NULL */
	const struct sgm_sub *control_sub;
	int envelope;                  /* routing fields in a JSON envelope, not in properties */
	int any_retained;              /* some mapping has retained_on_join */
};

int mq_check_binding(const json_t *bridge, char *err, size_t errlen);
int mq_binding_init(struct mq_binding *b, const char *nsp, int is_pattern, const json_t *bridge,
		    char *err, size_t errlen);
void mq_binding_clear(struct mq_binding *b);

#endif
