/* middleware.c - `token` (shared secret) and `origin` (allow-list) CONNECT checks. */
#include "middleware.h"

#include <string.h>
#include <strings.h>

#include "eio.h"
#include "log.h"

int sg_consttime_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char diff = (unsigned char)(alen != blen);
	size_t i, n = alen > blen ? alen : blen;

	/* Walk the longer length so the time leaks nothing about where the strings differ. */
	for (i = 0; i < n; i++) {
		unsigned char x = i < alen ? (unsigned char)a[i] : 0;
		unsigned char y = i < blen ? (unsigned char)b[i] : 0;
		diff |= x ^ y;
	}
	return diff == 0;
}

static enum sg_mw_result reject(struct sg_connect_req *req, const char *message, const char *reason)
{
	json_t *data = json_pack("{ss}", "reason", reason);

	sg_connect_req_reject(req, message, data);
	json_decref(data);
	return SG_MW_REJECT;
}

static enum sg_mw_result run_token(const struct sg_mw_config *cfg, struct sg_connect_req *req)
{
	const char *token = NULL;
	const char *field = cfg->auth_field ? cfg->auth_field : "token";
	struct sg_eio_session *session = sg_connect_req_session(req);

	token = json_string_value(json_object_get(sg_connect_req_auth(req), field));
	if (!token && cfg->header && session) {
		token = sg_eio_session_header(session, cfg->header);
		if (token && !strncasecmp(token, "Bearer ", 7))
			token += 7;
	}
	if (!token || !token[0])
		return reject(req, cfg->message, "missing token");
	if (!sg_consttime_equal(token, strlen(token), cfg->secret, strlen(cfg->secret)))
		return reject(req, cfg->message, "invalid token");
	return SG_MW_NEXT;
}

static enum sg_mw_result run_origin(const struct sg_mw_config *cfg, struct sg_connect_req *req)
{
	struct sg_eio_session *session = sg_connect_req_session(req);
	const char *origin = session ? sg_eio_session_header(session, "origin") : NULL;
	size_t i;

	for (i = 0; origin && i < cfg->n_origins; i++)
		if (!strcmp(cfg->origins[i], "*") || !strcmp(cfg->origins[i], origin))
			return SG_MW_NEXT;
	return reject(req, cfg->message, origin ? "origin not allowed" : "missing origin");
}

enum sg_mw_result sg_mw_run(const struct sg_mw_config *cfg, struct sg_connect_req *req)
{
	switch (cfg->type) {
	case SG_MW_TOKEN:
		return run_token(cfg, req);
	case SG_MW_ORIGIN:
		return run_origin(cfg, req);
	}
	return reject(req, "internal error", "unknown middleware");
}
