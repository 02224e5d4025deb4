/* middleware.c - `token` (shared secret), `origin` (allow-list) and `jwt` CONNECT checks. */
#include "middleware.h"

#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* The token from the auth field, else from the header (a "Bearer " prefix removed). */
static const char *find_token(const struct sg_mw_config *cfg, struct sg_connect_req *req)
{
	const char *token, *field = cfg->auth_field ? cfg->auth_field : "token";
	struct sg_eio_session *session = sg_connect_req_session(req);

	token = json_string_value(json_object_get(sg_connect_req_auth(req), field));
	if (!token && cfg->header && session) {
		token = sg_eio_session_header(session, cfg->header);
		if (token && !strncasecmp(token, "Bearer ", 7))
			token += 7;
	}
	return token;
}

static enum sg_mw_result run_token(const struct sg_mw_config *cfg, struct sg_connect_req *req)
{
	const char *token = find_token(cfg, req);

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

/* ---- jwt --------------------------------------------------------------------------- */

/* A token longer than this is refused unparsed: no sane set of claims needs it. */
#define JWT_MAX_LEN 16384

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

unsigned char *sg_base64url_decode(const char *in, size_t len, size_t *out_len)
{
	unsigned char *out;
	uint32_t acc = 0;
	size_t n = 0, bits = 0;

	if (len % 4 == 1) /* 6 bits cannot end a byte */
		return NULL;
	if (!(out = malloc(len / 4 * 3 + 3)))
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)in[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* The step's bit for an algorithm name from a token header, or 0 (none, unknown, or not
 * listed). */
static unsigned jwt_alg_bit(const char *alg, jwt_alg_t *lib_alg)
{
	static const struct { const char *name; unsigned bit; jwt_alg_t lib; } algs[] = {
		{ "HS256", SG_JWT_HS256, JWT_ALG_HS256 }, { "HS384", SG_JWT_HS384, JWT_ALG_HS384 },
		{ "HS512", SG_JWT_HS512, JWT_ALG_HS512 }, { "RS256", SG_JWT_RS256, JWT_ALG_RS256 },
		{ "ES256", SG_JWT_ES256, JWT_ALG_ES256 },
	};

	for (size_t i = 0; alg && i < sizeof algs / sizeof algs[0]; i++) {
		if (strcmp(alg, algs[i].name) == 0) {
			*lib_alg = algs[i].lib;
			return algs[i].bit;
		}
	}
	return 0;
}

/* The "alg" of the token's header, read without trusting anything else in it. Returns the
 * step's bit for it, 0 when it is not an allowed algorithm, -1 when the token is malformed. */
static long jwt_header_alg(const struct sg_mw_config *cfg, const char *token, jwt_alg_t *lib_alg)
{
	const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	unsigned char *head;
	size_t head_len;
	json_t *h;
	long rc = -1;

	/* Exactly three parts, none empty: an unsigned "none" token ends with its dot. */
	if (!dot1 || dot1 == token || !dot2 || dot2 == dot1 + 1 || strchr(dot2 + 1, '.'))
		return -1;
	if (!(head = sg_base64url_decode(token, (size_t)(dot1 - token), &head_len)))
		return -1;
	h = json_loadb((const char *)head, head_len, JSON_REJECT_DUPLICATES, NULL);
	free(head);
	if (json_is_object(h) && json_is_string(json_object_get(h, "alg")))
		rc = (long)(jwt_alg_bit(json_string_value(json_object_get(h, "alg")), lib_alg) &
			    cfg->algorithms);
	json_decref(h);
	if (rc > 0 && !dot2[1])
		return -1; /* a listed algorithm but no signature */
	return rc;
}

/* A NumericDate claim: absent is fine (1 with *present = 0), a non-number is not (0). */
static int numeric_date(json_t *claims, const char *key, double *out, int *present)
{
	json_t *v = json_object_get(claims, key);

	*present = v != NULL;
	if (!v)
		return 1;
	if (!json_is_number(v))
		return 0;
	*out = json_number_value(v);
	return 1;
}

static int audience_has(json_t *aud, const char *want)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return 1;
	return 0;
}

const char *sg_jwt_verify(const struct sg_mw_config *cfg, const char *token, double now,
			  json_t **claims)
{
	jwt_alg_t lib_alg = JWT_ALG_NONE;
	const char *key, *why = NULL;
	size_t key_len;
	jwt_t *jwt = NULL;
	char *payload = NULL;
	json_t *c = NULL;
	double exp = 0, nbf = 0, leeway = cfg->leeway_s;
	int has_exp, has_nbf;
	long bit;

	*claims = NULL;
	if (strlen(token) > JWT_MAX_LEN)
		return "invalid token";
	/* The algorithm decides the key, so it is checked before the token is believed:
	 * "none" and unlisted algorithms stop here, and an HS* token only ever meets the
	 * shared secret, never the public key of RS256/ES256. */
	bit = jwt_header_alg(cfg, token, &lib_alg);
	if (bit < 0)
		return "invalid token";
	if (bit == 0)
		return "algorithm not allowed";
	if ((unsigned long)bit & SG_JWT_HMAC) {
		key = cfg->secret;
		key_len = key ? strlen(key) : 0;
	} else {
		key = cfg->key_pem;
		key_len = cfg->key_pem_len;
	}
	/* libjwt skips verification when it gets no key: never let that happen. */
	if (!key || key_len == 0 || key_len > INT32_MAX)
		return "invalid token";
	if (jwt_decode(&jwt, token, (const unsigned char *)key, (int)key_len) != 0 || !jwt ||
	    jwt_get_alg(jwt) != lib_alg) {
		why = "invalid token";
		goto done;
	}
	payload = jwt_get_grants_json(jwt, NULL);
	c = payload ? json_loads(payload, 0, NULL) : NULL;
	if (!json_is_object(c) || !numeric_date(c, "exp", &exp, &has_exp) ||
	    !numeric_date(c, "nbf", &nbf, &has_nbf)) {
		why = "invalid token";
		goto done;
	}
	if (has_exp && now >= exp + leeway)
		why = "token expired";
	else if (has_nbf && now + leeway < nbf)
		why = "token not yet valid";
	else if (cfg->issuer && (!json_is_string(json_object_get(c, "iss")) ||
				 strcmp(json_string_value(json_object_get(c, "iss")), cfg->issuer)))
		why = "wrong issuer";
	else if (cfg->audience && !audience_has(json_object_get(c, "aud"), cfg->audience))
		why = "wrong audience";
done:
	free(payload);
	jwt_free(jwt);
	if (why) {
		json_decref(c);
		return why;
	}
	*claims = c;
	return NULL;
}

static enum sg_mw_result run_jwt(const struct sg_mw_config *cfg, struct sg_connect_req *req)
{
	const char *token = find_token(cfg, req), *why, *key;
	json_t *claims, *value;

	if (!token || !token[0])
		return reject(req, cfg->message, "missing token");
	why = sg_jwt_verify(cfg, token, (double)time(NULL), &claims);
	if (why)
		return reject(req, cfg->message, why);
	/* Every top-level claim, so {claims.sub} and bridge headers see the payload. */
	json_object_foreach(claims, key, value)
		sg_connect_req_set_claim(req, key, value);
	json_decref(claims);
	return SG_MW_NEXT;
}

enum sg_mw_result sg_mw_run(const struct sg_mw_config *cfg, struct sg_connect_req *req)
{
	switch (cfg->type) {
	case SG_MW_TOKEN:
		return run_token(cfg, req);
	case SG_MW_ORIGIN:
		return run_origin(cfg, req);
	case SG_MW_JWT:
		return run_jwt(cfg, req);
	}
	return reject(req, "internal error", "unknown middleware");
}
