/* middleware.h - the built-in CONNECT middleware kinds configured per namespace, compiled
 * into the steps a CONNECT request (connect_req.h) runs. */
#ifndef SG_MIDDLEWARE_H
#define SG_MIDDLEWARE_H

#include <libwebsockets.h>

#include "nsp_config.h"
#include "connect_req.h"

/* Writes the steps of a namespace's configured chain (token, origin, jwt, http; nc NULL: none)
 * into out[0 .. nc->n_middleware - 1]. Their data points into nc, which the request keeps
 * alive through its config reference. An http step returns SG_MW_PENDING and completes on
 * the loop later. Returns the number of steps written. */
size_t sg_mw_steps(const struct sg_nsp_config *nc, struct sg_mw_step *out);

/* The `http` step: its lws client protocol (registered by the server on every vhost), the
 * protocol's callback, and the release of its result cache at exit. */
#define SG_MW_HTTP_PROTOCOL "siogate-http-auth"
int sg_mw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len);
void sg_mw_http_cleanup(void);

/* Compares two byte strings in time that depends only on their lengths, not their content. */
int sg_consttime_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Verifies a JWT for a `jwt` step at time `now` (seconds since the epoch): the algorithm
 * named in the header is checked against the step's list before any key is used, then the
 * signature (libjwt), then exp/nbf (with the leeway), iss and aud. Returns NULL and sets
 * *claims to the payload (a new reference to an object) when the token is accepted, else
 * the reason to show the client ("invalid token", "algorithm not allowed", "token expired",
 * "token not yet valid", "wrong issuer", "wrong audience"; static) and *claims = NULL. */
const char *sg_jwt_verify(const struct sg_mw_config *cfg, const char *token, double now,
			  json_t **claims);


#endif
