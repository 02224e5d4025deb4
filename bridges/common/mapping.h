/* mapping.h - the broker-neutral mapping model every bridge compiles in: which topics feed
 * which rooms (to_clients), how client events become broker messages (from_clients), and
 * control commands. A broker plugin only moves sgm_msg values in and out (message.h). */
#ifndef SGM_MAPPING_H
#define SGM_MAPPING_H

#include <stddef.h>
#include <jansson.h>

#include "siogate/bridge.h"
#include "message.h"

/* from_clients "reply_timeout_ms" */
#define SGM_REPLY_TIMEOUT_DEFAULT_MS 10000
#define SGM_REPLY_TIMEOUT_MAX_MS 600000

enum sgm_rooms_from { SGM_ROOMS_AUTO = 0, SGM_ROOMS_HEADER, SGM_ROOMS_KEY, SGM_ROOMS_TOPIC, SGM_ROOMS_ALL };

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
/* The dead-letter topic, or NULL. */
const char *sgm_dead_letter(const struct sgm_binding *b);
/* The namespace's name, or the regex of a dynamic namespace. */
const char *sgm_namespace(const struct sgm_binding *b);
/* The binding's "events" (events.h), or NULL. */
const struct sgm_events *sgm_binding_events(const struct sgm_binding *b);
/* Gives the binding to an events driver (events.h, at bind time): the driver produces its
 * lifecycle records and heartbeats and answers its presence queries; without one, queries are
 * refused as malformed. Returns 0, or -1 out of memory. */
struct sgm_evdrv;
int sgm_binding_set_driver(struct sgm_binding *b, struct sgm_evdrv *d);

#endif
