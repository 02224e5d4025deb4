/* connect_req.c - a CONNECT request and the walk through its chain of middleware steps,
 * which ends by calling its owner back; the owner (sio) and the steps (middleware) both use
 * it, and it calls neither by name. */
#include "connect_req.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define REQ_MAGIC 0x4e9e4e9eu
#define DEFAULT_REJECT "connection refused"

struct sg_connect_req {
	unsigned magic;
	char *nsp_name;
	const struct sg_config *cfg;      /* a reference: the config this CONNECT is judged by */
	json_t *auth;
	struct sg_eio_session *session;   /* NULL once cancelled */
	struct lws_context *ctx;          /* NULL once cancelled */
	sg_connect_req_end_fn end;
	void *owner;                      /* NULL once cancelled */
	int busy;                         /* a step runs now, or is pending */
	char *reject_message;
	json_t *reject_data;
	json_t *claims;
	json_t *owner_data;               /* the owner's, never shown to steps */
	size_t step, n_steps;             /* the next step to run, of n_steps */
	struct sg_mw_step steps[];
};

static void req_free(struct sg_connect_req *req)
{
	free(req->nsp_name);
	sg_config_destroy(req->cfg);
	json_decref(req->auth);
	json_decref(req->reject_data);
	json_decref(req->claims);
	json_decref(req->owner_data);
	free(req->reject_message);
	req->magic = 0;
	free(req);
}

struct sg_connect_req *sg_connect_req_new(const char *nsp, json_t *auth, const struct sg_config *cfg,
					  const struct sg_mw_step *steps, size_t n,
					  struct sg_eio_session *session, struct lws_context *ctx,
					  sg_connect_req_end_fn end, void *owner)
{
	struct sg_connect_req *req = calloc(1, sizeof(*req) + n * sizeof(req->steps[0]));

	if (!req || !(req->nsp_name = strdup(nsp))) {
		free(req);
		return NULL;
	}
	req->magic = REQ_MAGIC;
	req->cfg = sg_config_ref(cfg);
	req->auth = json_incref(auth);
	req->session = session;
	req->ctx = ctx;
	req->end = end;
	req->owner = owner;
	if (n)
		memcpy(req->steps, steps, n * sizeof(*steps));
	req->n_steps = n;
	return req;
}

/* Ends the request: its owner is told, then it is freed. */
static void req_end(struct sg_connect_req *req, enum sg_mw_result result)
{
	req->end(req->owner, req, result);
	req_free(req);
}

/* Runs the chain from req->step until it ends, rejects or waits. The steps are the chain of
 * the config the CONNECT arrived under, copied at its start: a reload never makes it go on
 * with the new chain from the old chain's position. */
static void req_continue(struct sg_connect_req *req)
{
	while (req->step < req->n_steps) {
		const struct sg_mw_step *st = &req->steps[req->step++];
		enum sg_mw_result r;

		req->busy = 1;
		r = st->run(st->data, req);
		if (r == SG_MW_PENDING)
			return; /* busy until sg_connect_req_done */
		req->busy = 0;
		if (!req->owner) { /* cancelled while the step ran */
			req_free(req);
			return;
		}
		if (r == SG_MW_REJECT) {
			req_end(req, SG_MW_REJECT);
			return;
		}
	}
	req_end(req, SG_MW_NEXT);
}

void sg_connect_req_start(struct sg_connect_req *req)
{
	req_continue(req);
}

void sg_connect_req_done(struct sg_connect_req *req, enum sg_mw_result result)
{
	assert(req->magic == REQ_MAGIC && req->busy);
	req->busy = 0;
	if (!req->owner) {
		req_free(req); /* the client left while we waited */
		return;
	}
	if (result == SG_MW_REJECT)
		req_end(req, SG_MW_REJECT);
	else
		req_continue(req);
}

void sg_connect_req_cancel(struct sg_connect_req *req)
{
	req->owner = NULL;
	req->session = NULL;
	req->ctx = NULL;
	if (!req->busy)
		req_free(req);
}

const char *sg_connect_req_nsp(const struct sg_connect_req *req) { return req->nsp_name; }
json_t *sg_connect_req_auth(const struct sg_connect_req *req) { return req->auth; }
int sg_connect_req_cancelled(const struct sg_connect_req *req) { return req->owner == NULL; }
struct lws_context *sg_connect_req_context(const struct sg_connect_req *req) { return req->ctx; }
struct sg_eio_session *sg_connect_req_session(const struct sg_connect_req *req) { return req->session; }
json_t *sg_connect_req_reject_data(const struct sg_connect_req *req) { return req->reject_data; }
json_t *sg_connect_req_claims(const struct sg_connect_req *req) { return req->claims; }

const char *sg_connect_req_reject_message(const struct sg_connect_req *req)
{
	return req->reject_message ? req->reject_message : DEFAULT_REJECT;
}

void sg_connect_req_set_claim(struct sg_connect_req *req, const char *key, json_t *value)
{
	if (!req->claims)
		req->claims = json_object();
	if (req->claims)
		json_object_set(req->claims, key, value);
}

void sg_connect_req_reject(struct sg_connect_req *req, const char *message, json_t *data)
{
	free(req->reject_message);
	req->reject_message = strdup(message ? message : DEFAULT_REJECT);
	json_decref(req->reject_data);
	req->reject_data = data ? json_incref(data) : NULL;
}

void sg_connect_req_set_owner_data(struct sg_connect_req *req, json_t *data)
{
	json_decref(req->owner_data);
	req->owner_data = data;
}

json_t *sg_connect_req_owner_data(const struct sg_connect_req *req)
{
	return req->owner_data;
}
