/* connect_req.h - a Socket.IO CONNECT on its way through its namespace's middleware steps:
 * what a step reads and records, and how the request ends. Owned by connect_req.c, which
 * knows neither the kinds of steps (middleware.c) nor the sockets (sio). Loop thread only. */
#ifndef SG_CONNECT_REQ_H
#define SG_CONNECT_REQ_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"

struct sg_connect_req;
struct sg_eio_session;
struct lws_context;

enum sg_mw_result { SG_MW_NEXT = 0, SG_MW_REJECT = 1, SG_MW_PENDING = 2 };

/* One step of a chain. On SG_MW_REJECT it sets the reason with sg_connect_req_reject() first.
 * On SG_MW_PENDING it must later call sg_connect_req_done() exactly once (loop thread),
 * unless sg_connect_req_cancelled() says the client went away (then it must still call
 * sg_connect_req_done() to release the request). `data` is the step's own (a configured
 * step's sg_mw_config, which the request's config reference keeps alive). */
struct sg_mw_step {
	enum sg_mw_result (*run)(const void *data, struct sg_connect_req *req);
	const void *data;
};

/* ---- what steps use ---- */

const char *sg_connect_req_nsp(const struct sg_connect_req *req);
json_t *sg_connect_req_auth(const struct sg_connect_req *req);          /* borrowed, an object */
struct sg_eio_session *sg_connect_req_session(const struct sg_connect_req *req);
/* The loop the request runs on (for asynchronous steps), NULL once the client is gone. */
struct lws_context *sg_connect_req_context(const struct sg_connect_req *req);
int sg_connect_req_cancelled(const struct sg_connect_req *req);
/* Sets the CONNECT_ERROR message and optional data (a new reference is taken). */
void sg_connect_req_reject(struct sg_connect_req *req, const char *message, json_t *data);
/* Completes a pending step: SG_MW_NEXT continues the chain, SG_MW_REJECT rejects. */
void sg_connect_req_done(struct sg_connect_req *req, enum sg_mw_result result);
/* Records a claim (e.g. a verified token's subject) on the socket to be; `value` is
 * borrowed (a reference is taken). Claims feed {claims.X} templates and bridge headers. */
void sg_connect_req_set_claim(struct sg_connect_req *req, const char *key, json_t *value);

/* ---- what the owner of the request (sio) uses ---- */

/* How a request ends, called once: SG_MW_NEXT when every step passed, SG_MW_REJECT with
 * the reason in sg_connect_req_reject_message/_data. Never after sg_connect_req_cancel.
 * The request is freed when it returns. */
typedef void (*sg_connect_req_end_fn)(void *owner, struct sg_connect_req *req,
				      enum sg_mw_result result);

/* A request for namespace `nsp` with the client's `auth` (an object; a reference is taken)
 * and its chain of n steps (copied). It holds a reference to `cfg`, the config it is judged
 * by from start to end, even when a reload replaces it while a step is pending. `session`
 * and `ctx` are handed to steps until the request is cancelled. NULL when out of memory. */
struct sg_connect_req *sg_connect_req_new(const char *nsp, json_t *auth, const struct sg_config *cfg,
					  const struct sg_mw_step *steps, size_t n,
					  struct sg_eio_session *session, struct lws_context *ctx,
					  sg_connect_req_end_fn end, void *owner);
/* Runs the chain from its start until it ends (`end` is called and the request is freed),
 * rejects, or waits for a pending step. */
void sg_connect_req_start(struct sg_connect_req *req);
/* The owner lets go (its client left, or a DISCONNECT came first): `end` will not be called.
 * A request a step still holds is freed by that step's sg_connect_req_done. */
void sg_connect_req_cancel(struct sg_connect_req *req);
const char *sg_connect_req_reject_message(const struct sg_connect_req *req); /* never NULL */
json_t *sg_connect_req_reject_data(const struct sg_connect_req *req);       /* borrowed, may be NULL */
json_t *sg_connect_req_claims(const struct sg_connect_req *req);            /* borrowed, may be NULL */
/* What the owner keeps with the request and steps never see (sio: the recovery pid and
 * offset taken out of the auth). Takes the reference; replaces (and drops) an earlier one. */
void sg_connect_req_set_owner_data(struct sg_connect_req *req, json_t *data);
json_t *sg_connect_req_owner_data(const struct sg_connect_req *req);        /* borrowed, may be NULL */

#endif
