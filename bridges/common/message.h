/* message.h - the broker message as every part of a bridge sees it: the wire's header names,
 * a consumed message (sgm_msg) and one to produce (sgm_out), a broker's topic rules
 * (sgm_flavor), and the arguments a message carries (sio-args). The layer under mapping,
 * events and requests (bridges/common), which all speak it. */
#ifndef SGM_MESSAGE_H
#define SGM_MESSAGE_H

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
/* The same with `mode` as the mapping's "args" (value, spread or binary), which a sio-args
 * header overrides. */
enum sgm_args_mode { SGM_ARGS_VALUE = 0, SGM_ARGS_SPREAD, SGM_ARGS_BINARY };
int sgm_msg_args_as(const struct sgm_msg *m, enum sgm_args_mode mode, struct sgm_args *out, char *why,
		    size_t whylen);
void sgm_args_clear(struct sgm_args *a);
/* Does `v` hold an object with a "_placeholder" key anywhere (how the Socket.IO encoder
 * marks binary data)? From a broker it would dangle or alias another argument's bytes, so
 * values carrying one are refused. */
int sgm_has_placeholder(const json_t *v);
/* A copy of `args` with each binary placeholder replaced by {"$binary":"<base64>"} (NULL out
 * of memory or for a placeholder that names no attachment). */
json_t *sgm_args_json(const json_t *args, const struct sg_bridge_bin *att, size_t n_att);

/* A header's value from a message, or NULL (*len set). */
const char *sgm_header(const struct sgm_msg *m, const char *name, size_t *len);
/* 1 when the message has header `name` equal to `want` (ASCII case ignored). */
int sgm_header_is(const struct sgm_msg *m, const char *name, const char *want);
/* Frees `n` headers whose names and values a plugin owns (a copy it keeps), and the array. */
void sgm_headers_free(struct sgm_header *h, size_t n);

/* Frees what a produced message owns and zeroes it. */
void sgm_out_clear(struct sgm_out *o);

#endif
