/* events.h - what a bridge tells its backends about the gateway itself: lifecycle records
 * (connect, join, leave, disconnect), the replica's heartbeat ("instance" up/down) and the
 * answers to presence queries (fetch_sockets, count, rooms). Broker-neutral: each plugin
 * gives a driver its produce function and reports the broker's answers (docs/bridges.md,
 * "Lifecycle events"). */
#ifndef SGM_EVENTS_H
#define SGM_EVENTS_H

#include <stddef.h>
#include <jansson.h>

#include "siogate/bridge.h"

struct sgm_out;
struct sgm_flavor;
struct sgm_binding;

#define SGM_H_INSTANCE "sio-instance"

/* Handshake fields a connect record may carry (bits of sgm_events.handshake). */
enum { SGM_HS_ADDRESS = 1, SGM_HS_QUERY = 2, SGM_HS_CLAIMS = 4, SGM_HS_AUTH = 8, SGM_HS_HEADERS = 16 };

#define SGM_EVENTS_HEARTBEAT_DEFAULT_MS 10000
#define SGM_EVENTS_HEARTBEAT_MIN_MS 100
#define SGM_EVENTS_HEARTBEAT_MAX_MS 3600000
#define SGM_QUERY_LIMIT_DEFAULT 1000
#define SGM_QUERY_LIMIT_MAX 10000

/* A binding's "events" object. */
struct sgm_events {
	char *topic;
	unsigned types;              /* bit (1 << SG_BRIDGE_LC_*) per type produced */
	unsigned handshake;          /* SGM_HS_* */
	unsigned heartbeat_ms;
};

/* Checks a bridge's "events" value (`ev`, not NULL) and fills `out` (free it with
 * sgm_events_clear). err gets "events.key: reason". */
int sgm_events_parse(const json_t *ev, const struct sgm_flavor *fl, struct sgm_events *out, char *err,
		     size_t len);
void sgm_events_clear(struct sgm_events *e);
/* Checks a topic the gateway produces to without a mapping (an events topic, a reply topic)
 * by the broker's rule (the flavor's publish_ok, else topic_ok). Returns 0 or -1 with why. */
int sgm_publish_ok(const struct sgm_flavor *fl, const char *topic, char *why, size_t len);

/* ---- records (pure: they only build) */

/* The record of one lifecycle step (not SHUTDOWN). Returns 0 built, 1 when the binding does
 * not produce that type, -1 out of memory. */
int sgm_lifecycle_record(const struct sgm_events *e, const struct sg_bridge_lifecycle *ev, const char *instance,
			 long long now_ms, struct sgm_out *out);
/* An instance record to `topic`: "up" with `namespaces` ({"/nsp":N}, borrowed) and their sum,
 * or "down" (namespaces NULL); `will` marks the MQTT Last Will. Returns 0 or -1. */
int sgm_instance_record(const char *topic, const char *instance, int up, long long now_ms, const json_t *namespaces,
			int will, struct sgm_out *out);

/* ---- the driver: one per plugin instance (loop thread) */

/* Produces a record, fire and forget: 0 when the broker client took it (the plugin reports
 * the outcome later with sgm_evdrv_result), or -1 with a reason (refused at once). */
typedef int (*sgm_produce_fn)(void *ud, const struct sgm_out *o, char *why, size_t whylen);

struct sgm_evdrv;

struct sgm_evdrv *sgm_evdrv_new(const struct sg_host_api *api, struct sg_host *h, sgm_produce_fn produce,
				void *ud);
void sgm_evdrv_free(struct sgm_evdrv *d);
/* Registers a binding's namespace (a name, or a pattern when is_pattern) and its "events"
 * (NULL: none), all borrowed, under `key`, the binding that sgm_evdrv_lifecycle names. A
 * plugin does not call it: sgm_binding_set_driver (mapping.h) does. Returns 0 or -1. */
int sgm_evdrv_add(struct sgm_evdrv *d, const struct sgm_binding *key, const char *nsp, int is_pattern,
		  const struct sgm_events *events);
/* At the end of the plugin's start(): the first "up" to every events topic, then one every
 * heartbeat_ms. Returns 0 or -1 (out of memory). */
int sgm_evdrv_start(struct sgm_evdrv *d);
/* The plugin's on_lifecycle: builds and produces the record of `ev` for binding `b` (the
 * sgm_binding of the plugin's binding id; NULL for SHUTDOWN, which produces "down" to
 * every events topic and ends the heartbeats). */
void sgm_evdrv_lifecycle(struct sgm_evdrv *d, struct sgm_binding *b, const struct sg_bridge_lifecycle *ev);
/* Produces a record built elsewhere (request answers) like the driver's own: `o` is cleared;
 * a refusal is counted and logged like a failed delivery. */
void sgm_evdrv_emit(struct sgm_evdrv *d, struct sgm_out *o);
/* The request and reply state of the plugin instance (requests.h), set by the plugin; control
 * emits and downstream messages that ask clients go through it. NULL: none. */
struct sgm_reqs;
void sgm_evdrv_set_reqs(struct sgm_evdrv *d, struct sgm_reqs *r);
struct sgm_reqs *sgm_evdrv_reqs(const struct sgm_evdrv *d);
/* The broker's answer for a record produced through d: counted, a failure logged at most
 * once per interval. Loop thread. */
void sgm_evdrv_result(struct sgm_evdrv *d, int ok, const char *why);
/* The "down" record for the MQTT Last Will: to the first events topic of the registered
 * bindings. Returns 0 (out filled), 1 when no binding has events, -1 out of memory. */
int sgm_evdrv_will(struct sgm_evdrv *d, struct sgm_out *out);

/* A presence query from a control command (op "fetch_sockets", "count" or "rooms") of a
 * binding whose broker's topic rules are `fl`, for target `t` (already parsed from cmd). Produces the answer to
 * cmd's reply_to. Returns the number of sockets counted (>= 0), or -1 with a reason when the
 * query is malformed (the caller dead-letters it). */
long sgm_presence_query(struct sgm_evdrv *d, const struct sgm_flavor *fl, const char *op, const json_t *cmd,
			const struct sg_bridge_target *t, char *why, size_t whylen);

#endif
