/* mapping.h - the broker-neutral mapping model every bridge compiles in: which topics feed
 * which rooms (to_clients), how client events become broker messages (from_clients), and
 * control commands. A broker plugin only moves sgm_msg values in and out. */
#ifndef SGM_MAPPING_H
#define SGM_MAPPING_H

#include <stddef.h>
#include <jansson.h>

#include "siogate/bridge.h"
#include "util/suggest.h"

/* Wire names (docs/bridges.md). */
#define SGM_H_NAMESPACE "sio-namespace"
#define SGM_H_ROOMS "sio-rooms"
#define SGM_H_EXCEPT "sio-except"
#define SGM_H_EVENT "sio-event"
#define SGM_H_ARGS "sio-args"
#define SGM_H_VOLATILE "sio-volatile"
#define SGM_H_SID "sio-sid"
#define SGM_H_ERROR "sio-error"
#define SGM_H_REPLY_TO "sio-reply-to"
#define SGM_H_ACK_ID "sio-ack-id"
#define SGM_H_ACK_TIMEOUT "sio-ack-timeout-ms"

#define SGM_REPLY_TIMEOUT_DEFAULT_MS 10000
#define SGM_REPLY_TIMEOUT_MAX_MS 600000

#define SGM_MAX_HEADERS 36
#define SGM_MAX_ROOMS 256

struct sgm_header {
	const char *name;
	const char *value;     /* not necessarily NUL-terminated */
	size_t len;
};

/* A broker message as the mapping sees it (all borrowed). */
struct sgm_msg {
	const char *topic;
	const void *key;       /* NULL: no key */
	size_t key_len;
	const struct sgm_header *headers;
	size_t n_headers;
	const void *value;
	size_t value_len;
	const char *position;  /* where it sits in the broker's log (sg_bridge_emit.position), or NULL */
	/* A replay (connection state recovery): the event goes to this instead of the host's
	 * emit, and a record that asks clients for answers is left out. NULL: live. */
	long (*replay)(void *ud, const struct sg_bridge_emit *em);
	void *replay_ud;
};

/* A message the mapping asks the plugin to produce (owned; free with sgm_out_clear). */
struct sgm_out {
	char *topic;
	char *key;             /* may be NULL */
	size_t n_headers;
	char *hname[SGM_MAX_HEADERS];
	char *hvalue[SGM_MAX_HEADERS];
	char *value;           /* JSON text */
	size_t value_len;
	int lossy;             /* stale once a newer one exists (a heartbeat): a broker need not
	                          queue it while it is away (MQTT: QoS 0) */
};

enum sgm_rooms_from { SGM_ROOMS_AUTO = 0, SGM_ROOMS_HEADER, SGM_ROOMS_KEY, SGM_ROOMS_TOPIC, SGM_ROOMS_ALL };

/* Options a broker gives the checker: what a topic may look like. */
struct sgm_flavor {
	const char *name;      /* "kafka", "local" */
	/* Checks a literal topic name (after templates are filled in); NULL accepts any
	 * non-empty string. Returns 0 or -1 with a reason. */
	int (*topic_ok)(const char *topic, char *why, size_t len);
	/* Broker-specific keys a bridge object may have besides the common ones. */
	const char *const *extra_keys;
	/* Checks a topic the gateway produces to without a mapping (events.topic, a presence
	 * query's reply_to); NULL: topic_ok. For brokers whose subscriptions may hold wildcards. */
	int (*publish_ok)(const char *topic, char *why, size_t len);
};

struct sgm_binding;

/* Validates a namespace's bridge object (pure). err gets "rel.path: reason". */
int sgm_check(const json_t *bridge, const struct sgm_flavor *fl, char *err, size_t errlen);
/* Builds a binding (after sgm_check passed). */
struct sgm_binding *sgm_binding_new(const char *nsp, int is_pattern, const json_t *bridge,
				    const struct sgm_flavor *fl, char *err, size_t errlen);
void sgm_binding_free(struct sgm_binding *b);
/* A plugin's bind() when it keeps nothing of its own per binding: builds one and appends it
 * to the array `*v` of `*n`. Returns its index, or -1 with the reason in err. */
int sgm_bindings_add(struct sgm_binding ***v, size_t *n, const char *nsp, int is_pattern, const json_t *bridge,
		     const struct sgm_flavor *fl, char *err, size_t errlen);
/* Frees the `n` bindings of `v` and the array. */
void sgm_bindings_free(struct sgm_binding **v, size_t n);

/* ---- what to consume */

/* Topic subscriptions of a binding: to_clients mappings, then the control topic.
 * `literal` is the exact topic, or NULL when `regex` (a POSIX ERE for the whole name,
 * "^...$") must be used (a template with {room}). */
struct sgm_sub {
	const char *literal;
	const char *regex;
	const char *prefix, *suffix; /* template literal parts around {room} */
	int control;                 /* 1: the control topic */
	int index;                   /* to_clients index */
};
size_t sgm_subs(const struct sgm_binding *b, const struct sgm_sub **subs);
/* Does `topic` match subscription `s`? Fills the room from a template when room != NULL. */
int sgm_sub_match(const struct sgm_sub *s, const char *topic, char *room, size_t roomlen);

/* ---- downstream */

/* Delivers a consumed message that matched subscription `s`. Returns the number of sockets
 * reached (>= 0), -1 when the message is malformed (reason in why), or -2 when it is not
 * for this binding (another namespace on a shared topic). */
long sgm_deliver(struct sgm_binding *b, const struct sgm_sub *s, const struct sgm_msg *m,
		 const struct sg_host_api *api, struct sg_host *h, char *why, size_t whylen);

/* ---- upstream */

/* Which from_clients mapping takes this event (-1: none). */
int sgm_route(const struct sgm_binding *b, const char *event);
/* 1 when some from_clients mapping says "reply": "backend" (the plugin consumes replies). */
int sgm_binding_waits_for_backend(const struct sgm_binding *b);
/* 1 when that mapping says "reply": "backend" (*timeout_ms: its reply_timeout_ms), else 0. */
int sgm_route_reply(const struct sgm_binding *b, int route, unsigned *timeout_ms);
/* Builds the broker message for a client event. Returns 0, or -1 with a reason (e.g. a
 * template value is missing) that the plugin sends back as {"ok":false,"error":why}.
 * The relay rule lives here, so that every bridge keeps it: when the mapping takes a room
 * from the event, the sender must have joined it (asked of the host through `api`), unless
 * the entry's unjoined_rooms matches it; a refusal is counted (relay_refused) and logged
 * at most once per interval. Loop thread (it calls the host). */
int sgm_build(struct sgm_binding *b, int route, const struct sg_bridge_event *ev,
	      const struct sg_host_api *api, struct sg_host *h, struct sgm_out *out, char *why, size_t whylen);
void sgm_out_clear(struct sgm_out *o);
/* The dead-letter topic, or NULL. */
const char *sgm_dead_letter(const struct sgm_binding *b);
/* The namespace's name, or the regex of a dynamic namespace (then is_pattern is 1). */
const char *sgm_namespace(const struct sgm_binding *b);
int sgm_binding_is_pattern(const struct sgm_binding *b);
/* The binding's "events" (events.h), or NULL. */
const struct sgm_events *sgm_binding_events(const struct sgm_binding *b);
/* The flavor the binding was built with (its broker's topic rules). */
const struct sgm_flavor *sgm_binding_flavor(const struct sgm_binding *b);
/* The events driver (events.h) that produces its records and answers its presence queries:
 * set by sgm_evdrv_add; without one, queries are refused as malformed. */
struct sgm_evdrv;
void sgm_binding_set_driver(struct sgm_binding *b, struct sgm_evdrv *d);

/* Writes a formatted reason into err (len bytes) and returns -1: `return sgm_errf(...)`
 * reports a failed check in one line. */
int sgm_errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The known key (from `known`, then `extra`; either may be NULL) a misspelt `key` most
 * likely meant: the host's did-you-mean (src/util/suggest.c), under the plugins' prefix. */
static inline const char *sgm_suggest(const char *key, const char *const *known,
				      const char *const *extra)
{
	return sg_suggest(key, known, extra);
}

/* Arguments from a broker message by the sio-args rules of downstream messages (a JSON value
 * is one argument, "spread" a JSON array of them, "binary" or a non-JSON value one binary
 * argument, {"$binary":"<base64>"} inside JSON binary too). `att` may point into m->value. */
struct sgm_args {
	json_t *args;
	const struct sg_bridge_bin *att;
	size_t n_att;
	void *priv;
};
int sgm_msg_args(const struct sgm_msg *m, struct sgm_args *out, char *why, size_t whylen);
void sgm_args_clear(struct sgm_args *a);
/* A copy of `args` with each binary placeholder replaced by {"$binary":"<base64>"} (NULL out
 * of memory or for a placeholder that names no attachment). */
json_t *sgm_args_json(const json_t *args, const struct sg_bridge_bin *att, size_t n_att);

/* A header's value from a message, or NULL (*len set). */
const char *sgm_header(const struct sgm_msg *m, const char *name, size_t *len);
/* Frees `n` headers whose names and values a plugin owns (a copy it keeps), and the array. */
void sgm_headers_free(struct sgm_header *h, size_t n);

#endif
