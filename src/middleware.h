/* middleware.h - the built-in CONNECT middleware kinds configured per namespace. */
#ifndef SG_MIDDLEWARE_H
#define SG_MIDDLEWARE_H

#include "config.h"
#include "sio.h"

/* Runs one configured step (token, origin, jwt, http) for a CONNECT request. An http step
 * returns SG_MW_PENDING and completes on the loop later. */
enum sg_mw_result sg_mw_run(const struct sg_mw_config *cfg, struct sg_connect_req *req);

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
