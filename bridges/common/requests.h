/* requests.h - request and reply through the broker, both ways (docs/bridges.md, "Request
 * and reply"). A client's event whose from_clients entry says "reply": "backend" waits for
 * the backend's answer on this replica's reply topic, matched by sio-ack-id; a downstream
 * message or control emit with a reply topic and an id asks its recipients, and each answer
 * (or timeout, or disconnect) is produced there. Broker-neutral: the plugin produces the
 * request, tells the outcome, and hands over what arrives on the reply topic. Loop thread. */
#ifndef SGM_REQUESTS_H
#define SGM_REQUESTS_H

#include <stddef.h>
#include <jansson.h>

#include "siogate/bridge.h"

struct sgm_msg;
struct sgm_out;
struct sgm_evdrv;
struct sgm_reqs;
struct sgm_req;

#define SGM_MAX_REQUESTS_DEFAULT 10000
#define SGM_MAX_REQUESTS_PER_SOCKET_DEFAULT 100
#define SGM_ACK_TIMEOUT_DEFAULT_MS 10000
#define SGM_ACK_TIMEOUT_MAX_MS 600000

struct sgm_reqs_conf {
	const char *reply_topic;     /* this replica's reply topic ({instance} filled in) */
	unsigned max_requests;       /* open requests of this replica, both ways */
	unsigned max_per_socket;     /* open requests of one client socket */
};

/* A reply topic template with every "{instance}" replaced by `instance` (malloc'ed; NULL out
 * of memory). Any other '{' is refused by sgm_reply_topic_check. */
char *sgm_reply_topic(const char *tpl, const char *instance);
/* Checks a broker's reply_topic template with `ok` (the broker's rule for topics produced to).
 * Returns 0 or -1 with "reply_topic: reason". */
int sgm_reply_topic_check(const char *tpl, int (*ok)(const char *topic, char *why, size_t len), char *err,
			  size_t len);

/* The requests of one plugin instance; answers to backend asks go out through `drv`. */
struct sgm_reqs *sgm_reqs_new(const struct sg_host_api *api, struct sg_host *h, struct sgm_evdrv *drv,
			      const struct sgm_reqs_conf *c);
/* Starts the timeouts (a timer of the host). Returns 0 or -1. */
int sgm_reqs_start(struct sgm_reqs *r);
/* Completes every client request still waiting ("the gateway is shutting down"); requests
 * whose message the broker has not confirmed stay known until sgm_req_produced or free. */
void sgm_reqs_stop(struct sgm_reqs *r);
void sgm_reqs_free(struct sgm_reqs *r);
const char *sgm_reqs_reply_topic(const struct sgm_reqs *r);

/* ---- the client asks, the backend answers */

/* Opens a request for ticket `t` of socket `sid`: NULL with a reason when a cap refuses it
 * (the plugin then completes the ticket with that error). */
struct sgm_req *sgm_req_open(struct sgm_reqs *r, struct sg_bridge_ticket *t, const char *nsp, const char *sid,
			     unsigned timeout_ms, char *why, size_t whylen);
/* Adds sio-reply-to and sio-ack-id to the request's message. Returns 0 or -1. */
int sgm_req_headers(const struct sgm_req *q, struct sgm_out *o);
const char *sgm_req_id(const struct sgm_req *q);
/* The request `opaque` (a plugin's per-message pointer) is, or NULL. */
struct sgm_req *sgm_req_of(struct sgm_reqs *r, const void *opaque);
/* The broker's outcome for the request's message: a failure answers the client at once;
 * success waits for the backend (or delivers an answer that came first). Frees `q` when
 * nothing is left to wait for: q must not be used after. */
void sgm_req_produced(struct sgm_req *q, int ok, const char *why);
/* Gives up on a request whose message was never handed to the broker (the plugin completes
 * the ticket itself). */
void sgm_req_abandon(struct sgm_req *q);
/* A message that arrived on the reply topic. `ack_id` (len bytes) is the id the broker's own
 * property carried (MQTT 5 correlation data), or NULL to read the sio-ack-id header. */
void sgm_reqs_reply(struct sgm_reqs *r, const struct sgm_msg *m, const char *ack_id, size_t len);

/* ---- the backend asks, the clients answer */

/* Emits `em` with an ack to each recipient; every answer, timeout ("timeout") or disconnect
 * ("disconnected") is produced to `reply_to` keyed by `id`, then one "done" record. Returns
 * the number of recipients, or -1 with a reason (malformed: volatile; refused: too many open
 * requests, answered with a "done" record carrying the error as well). */
long sgm_ask(struct sgm_reqs *r, const struct sg_bridge_emit *em, const char *reply_to, const char *id,
	     unsigned timeout_ms, char *why, size_t whylen);

#endif
