/* middleware.c - `token` (shared secret), `origin` (allow-list), `jwt` and `http` (the
 * application's own auth endpoint, asked asynchronously) CONNECT checks. */
#include "middleware.h"

#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "eio.h"
#include "eio_codec.h"
#include "hmap.h"
#include "log.h"
#include "strbuf.h"
#include "util/clock.h"

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

static enum sg_mw_result run_token(const void *data, struct sg_connect_req *req)
{
	const struct sg_mw_config *cfg = data;
	const char *token = find_token(cfg, req);

	if (!token || !token[0])
		return reject(req, cfg->message, "missing token");
	if (!sg_consttime_equal(token, strlen(token), cfg->secret, strlen(cfg->secret)))
		return reject(req, cfg->message, "invalid token");
	return SG_MW_NEXT;
}

static enum sg_mw_result run_origin(const void *data, struct sg_connect_req *req)
{
	const struct sg_mw_config *cfg = data;
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

static enum sg_mw_result run_jwt(const void *data, struct sg_connect_req *req)
{
	const struct sg_mw_config *cfg = data;
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

/* ---- http ------------------------------------------------------------------------- */

/* An answer body longer than this is refused: claims are a few fields. */
#define HTTP_MAX_RESPONSE 65536
/* Cached answers kept at most; the oldest goes first when full. */
#define HTTP_CACHE_MAX 1024

/* A definitive answer of the auth service (2xx, 401, 403), kept for cache_ms. */
struct http_cached {
	char *key;             /* the URL and the request body: the exact request content */
	size_t klen;
	long long expires_ms;
	int accept;
	json_t *claims;        /* accept: the claims (an object, may be empty) */
	char *message;         /* reject: the CONNECT_ERROR message */
	json_t *data;          /* reject: the CONNECT_ERROR data */
	struct http_cached *next; /* insertion order */
};

static struct {
	struct sg_hmap map;
	struct http_cached *head, *tail;
} http_cache;

/* One request in flight. Everything it needs is copied: a reload may free the config. */
struct http_call {
	struct sg_connect_req *req;
	struct lws_context *ctx;
	struct lws *wsi;          /* NULL once detached */
	lws_sorted_usec_list_t sul; /* timeout */
	char *host, *path, *message;
	char host_header[300];    /* "host:port" (brackets for IPv6), as HTTP/1.1 wants it */
	int port;
	uint32_t cache_ms;
	long long deadline_ms;    /* now + timeout_ms at the start */
	char *key;                /* url + '\n' + body */
	size_t klen;
	char *body;               /* LWS_PRE bytes of headroom, then the JSON */
	size_t body_len;
	json_t *fwd;              /* headers to send: object name -> value */
	int status;
	struct sg_strbuf resp;
	int too_big;
	int connecting;           /* inside lws_client_connect_via_info() */
	int finished;
	enum sg_mw_result result; /* when finished while connecting */
};

static void cached_free(struct http_cached *e)
{
	free(e->key);
	json_decref(e->claims);
	free(e->message);
	json_decref(e->data);
	free(e);
}

static void cache_drop_oldest(void)
{
	struct http_cached *e = http_cache.head;

	if (!e)
		return;
	http_cache.head = e->next;
	if (!http_cache.head)
		http_cache.tail = NULL;
	sg_hmap_del(&http_cache.map, e->key, e->klen);
	cached_free(e);
}

void sg_mw_http_cleanup(void)
{
	while (http_cache.head)
		cache_drop_oldest();
	sg_hmap_free(&http_cache.map);
	sg_hmap_init(&http_cache.map);
}

static struct http_cached *cache_get(const char *key, size_t klen)
{
	struct http_cached *e = sg_hmap_get(&http_cache.map, key, klen);

	/* Entries expire in insertion order only per cache_ms; an expired one is skipped
	 * here and goes when it reaches the head. */
	return e && e->expires_ms > sg_mono_ms() ? e : NULL;
}

static void cache_put(struct http_call *call, int accept, json_t *claims, const char *message,
		      json_t *data)
{
	struct http_cached *e, *old;
	long long now = sg_mono_ms();

	if (!call->cache_ms)
		return;
	while (http_cache.head && (http_cache.head->expires_ms <= now ||
				   http_cache.map.count >= HTTP_CACHE_MAX))
		cache_drop_oldest();
	if (!(e = calloc(1, sizeof(*e))) || !(e->key = malloc(call->klen))) {
		free(e);
		return;
	}
	memcpy(e->key, call->key, call->klen);
	e->klen = call->klen;
	e->expires_ms = now + call->cache_ms;
	e->accept = accept;
	e->claims = claims ? json_incref(claims) : NULL;
	e->message = message ? strdup(message) : NULL;
	e->data = data ? json_incref(data) : NULL;
	/* The same request answered twice (two clients at once): the newer answer wins. */
	if ((old = sg_hmap_get(&http_cache.map, e->key, e->klen))) {
		struct http_cached **pp;

		for (pp = &http_cache.head; *pp != old; pp = &(*pp)->next)
			;
		*pp = old->next;
		if (http_cache.tail == old) {
			http_cache.tail = NULL;
			for (struct http_cached *t = http_cache.head; t; t = t->next)
				http_cache.tail = t;
		}
		sg_hmap_del(&http_cache.map, old->key, old->klen);
		cached_free(old);
	}
	if (sg_hmap_put(&http_cache.map, e->key, e->klen, e)) {
		cached_free(e);
		return;
	}
	if (http_cache.tail)
		http_cache.tail->next = e;
	else
		http_cache.head = e;
	http_cache.tail = e;
}

static enum sg_mw_result apply_cached(struct sg_connect_req *req, const struct http_cached *e)
{
	const char *key;
	json_t *value;

	if (!e->accept) {
		sg_connect_req_reject(req, e->message, e->data);
		return SG_MW_REJECT;
	}
	json_object_foreach(e->claims, key, value)
		sg_connect_req_set_claim(req, key, value);
	return SG_MW_NEXT;
}

static void call_free(struct http_call *call)
{
	free(call->host);
	free(call->path);
	free(call->message);
	free(call->key);
	free(call->body);
	json_decref(call->fwd);
	sg_strbuf_free(&call->resp);
	free(call);
}

/* Ends the call once: the request continues (or is released when its client left). */
static void call_finish(struct http_call *call, enum sg_mw_result result)
{
	struct lws *wsi = call->wsi;

	if (call->finished)
		return;
	call->finished = 1;
	call->result = result;
	lws_sul_cancel(&call->sul);
	if (wsi) {
		/* Later callbacks of the connection see no call and close it. */
		lws_set_wsi_user(wsi, NULL);
		call->wsi = NULL;
	}
	if (call->connecting)
		return; /* run_http returns the result itself */
	sg_connect_req_done(call->req, result);
	call_free(call);
}

static void call_fail(struct http_call *call, const char *why)
{
	enum sg_mw_result r = reject(call->req, call->message, why);

	/* Nobody waits on a cancelled call (its client left, or the gateway is stopping). */
	sg_log(sg_connect_req_cancelled(call->req) ? SG_LOG_DEBUG : SG_LOG_WARN, "middleware", NULL,
	       "http auth %s:%d%s: %s", call->host, call->port, call->path, why);
	call_finish(call, r);
}

/* Ticks at least every second: lws has timeouts of its own (a few seconds while waiting
 * for the answer), kept at bay so that timeout_ms alone decides. */
#define HTTP_TICK_MS 1000

static void on_http_timeout(lws_sorted_usec_list_t *sul)
{
	struct http_call *call = lws_container_of(sul, struct http_call, sul);
	struct lws *wsi = call->wsi;
	long long left = call->deadline_ms - sg_mono_ms();

	if (left > 0) {
		if (wsi)
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HTTP_TICK_MS / 1000 + 4);
		lws_sul_schedule(call->ctx, 0, &call->sul, on_http_timeout,
				 (lws_usec_t)(left < HTTP_TICK_MS ? left : HTTP_TICK_MS) * LWS_US_PER_MS);
		return;
	}
	call_fail(call, "auth service timed out");
	if (wsi)
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* The service answered: 2xx accepts with the body's claims, 401/403 reject with its
 * message, anything else is a service failure. */
static void call_answer(struct http_call *call)
{
	json_t *body = NULL, *data;
	const char *message, *key;
	json_t *value;
	char why[96];

	if (call->too_big) {
		call_fail(call, "auth service answer too large");
		return;
	}
	if (call->resp.len)
		body = json_loadb(call->resp.data, call->resp.len, 0, NULL);
	if (call->status >= 200 && call->status < 300) {
		json_t *claims = json_is_object(body) ? body : NULL;

		json_object_foreach(claims, key, value)
			sg_connect_req_set_claim(call->req, key, value);
		if (!claims && !(claims = json_object())) {
			json_decref(body);
			call_fail(call, "out of memory");
			return;
		}
		cache_put(call, 1, claims, NULL, NULL);
		if (claims != body)
			json_decref(claims);
		json_decref(body);
		call_finish(call, SG_MW_NEXT);
		return;
	}
	if (call->status == 401 || call->status == 403) {
		message = json_string_value(json_object_get(body, "message"));
		if (!message || !message[0])
			message = call->message;
		data = json_pack("{ss}", "reason", call->status == 401 ? "unauthorized" : "forbidden");
		sg_connect_req_reject(call->req, message, data);
		cache_put(call, 0, NULL, message, data);
		json_decref(data);
		json_decref(body);
		call_finish(call, SG_MW_REJECT);
		return;
	}
	json_decref(body);
	if (call->status >= 500)
		snprintf(why, sizeof(why), "auth service error (HTTP %d)", call->status);
	else
		snprintf(why, sizeof(why), "unexpected auth service answer (HTTP %d)", call->status);
	call_fail(call, why);
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
		      unsigned char *end)
{
	char n[128];

	if (strlen(value) > INT32_MAX)
		return -1;
	snprintf(n, sizeof(n), "%s:", name);
	return lws_add_http_header_by_name(wsi, (const unsigned char *)n, (const unsigned char *)value,
					   (int)strlen(value), p, end);
}

int sg_mw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len)
{
	struct http_call *call = user;
	char buf[LWS_PRE + 4096], *px;
	int n;

	switch (reason) {
	/* call_finish() detaches the connection from the call, so a close after an
	 * error finds no call. */
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (call) {
			call->wsi = wsi;
			call_fail(call, "auth service unreachable");
		}
		return 0;
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		if (call) {
			call->wsi = wsi;
			call_fail(call, "auth service closed the connection");
		}
		return 0;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;
		const char *name;
		json_t *value;
		char clen[24];

		if (!call)
			return -1;
		snprintf(clen, sizeof(clen), "%zu", call->body_len);
		if (add_header(wsi, "content-type", "application/json", p, end) ||
		    add_header(wsi, "content-length", clen, p, end) ||
		    add_header(wsi, "accept", "application/json", p, end))
			return -1;
		json_object_foreach(call->fwd, name, value)
			if (add_header(wsi, name, json_string_value(value), p, end))
				return -1;
		lws_client_http_body_pending(wsi, 1);
		lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		if (!call)
			return -1;
		lws_client_http_body_pending(wsi, 0);
		if (lws_write(wsi, (unsigned char *)call->body + LWS_PRE, call->body_len,
			      LWS_WRITE_HTTP_FINAL) != (int)call->body_len)
			return -1;
		return 0;
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		if (!call)
			return -1;
		call->status = (int)lws_http_client_http_response(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (!call)
			return -1;
		if (call->resp.len + len > HTTP_MAX_RESPONSE)
			call->too_big = 1;
		else
			sg_strbuf_append(&call->resp, in, len);
		return 0;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		px = buf + LWS_PRE;
		n = (int)sizeof(buf) - LWS_PRE;
		if (lws_http_client_read(wsi, &px, &n) < 0)
			return -1;
		return 0;
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		if (!call)
			return -1;
		call_answer(call);
		return -1; /* one request per connection */
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* The JSON body: {"namespace", "auth", "query", "headers"}; the same headers (cookie and
 * the configured ones present in the handshake) are also sent as request headers. */
static int build_request(const struct sg_mw_config *cfg, struct sg_connect_req *req,
			 struct http_call *call)
{
	struct sg_eio_session *session = sg_connect_req_session(req);
	json_t *query = session ? sg_eio_session_query_new(session) : json_object();
	const char *cookie = session ? sg_eio_session_header(session, "cookie") : NULL;
	json_t *doc;
	struct sg_strbuf sb;
	size_t ulen = strlen(cfg->url);
	int rc = -1;

	if (!query || !(call->fwd = json_object())) {
		json_decref(query);
		return -1;
	}
	if (cookie)
		json_object_set_new(call->fwd, "cookie", json_string(cookie));
	for (size_t i = 0; i < cfg->n_headers; i++) {
		const char *v = session ? sg_eio_session_header(session, cfg->headers[i]) : NULL;

		if (v)
			json_object_set_new(call->fwd, cfg->headers[i], json_string(v));
	}
	/* "o" takes the query's reference, also when packing fails */
	doc = json_pack("{sssOsosO}", "namespace", sg_connect_req_nsp(req), "auth",
			sg_connect_req_auth(req), "query", query, "headers", call->fwd);
	if (!doc)
		return -1;
	sg_strbuf_init_headroom(&sb, LWS_PRE);
	if (sg_json_append(&sb, doc) == 0 && !sb.oom) {
		call->body_len = sb.len;
		/* The cache key: the URL then the body (which holds every header sent). */
		if ((call->key = malloc(ulen + 1 + sb.len))) {
			memcpy(call->key, cfg->url, ulen);
			call->key[ulen] = '\n';
			memcpy(call->key + ulen + 1, sb.data, sb.len);
			call->klen = ulen + 1 + sb.len;
			call->body = sg_strbuf_steal(&sb);
			rc = call->body ? 0 : -1;
		}
	}
	sg_strbuf_free(&sb);
	json_decref(doc);
	return rc;
}

static enum sg_mw_result run_http(const void *data, struct sg_connect_req *req)
{
	const struct sg_mw_config *cfg = data;
	struct lws_context *ctx = sg_connect_req_context(req);
	struct lws_client_connect_info info;
	struct http_call *call;
	const struct http_cached *hit;
	enum sg_mw_result r;
	struct lws *wsi;

	if (!ctx || !(call = calloc(1, sizeof(*call))))
		return reject(req, "internal error", "out of memory");
	sg_strbuf_init(&call->resp);
	call->req = req;
	call->ctx = ctx;
	call->port = cfg->url_port;
	call->cache_ms = cfg->cache_ms;
	call->deadline_ms = sg_mono_ms() + cfg->timeout_ms;
	if (!(call->host = strdup(cfg->url_host)) || !(call->path = strdup(cfg->url_path)) ||
	    !(call->message = strdup(cfg->message)) || build_request(cfg, req, call)) {
		call_free(call);
		return reject(req, "internal error", "out of memory");
	}
	if (cfg->cache_ms && (hit = cache_get(call->key, call->klen))) {
		call_free(call);
		return apply_cached(req, hit);
	}

	memset(&info, 0, sizeof(info));
	info.context = ctx;
	info.address = call->host;
	info.port = call->port;
	info.path = call->path;
	snprintf(call->host_header, sizeof(call->host_header), strchr(call->host, ':') ? "[%s]:%d" : "%s:%d",
		 call->host, call->port);
	info.host = call->host_header;
	info.method = "POST";
	info.local_protocol_name = SG_MW_HTTP_PROTOCOL;
	info.userdata = call;
	info.alpn = "http/1.1";
	info.pwsi = &call->wsi; /* set early: an error callback may come during the call */
	lws_sul_schedule(ctx, 0, &call->sul, on_http_timeout,
			 (lws_usec_t)(cfg->timeout_ms < HTTP_TICK_MS ? cfg->timeout_ms : HTTP_TICK_MS) * LWS_US_PER_MS);
	call->connecting = 1;
	wsi = lws_client_connect_via_info(&info);
	if (!wsi) {
		call->wsi = NULL; /* gone, whatever happened inside */
		call_fail(call, "auth service unreachable");
	}
	call->connecting = 0;
	if (call->finished) {
		/* Failed inside the connect call: nothing is left in flight. */
		if (wsi)
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		r = call->result;
		call_free(call);
		return r;
	}
	return SG_MW_PENDING;
}

static enum sg_mw_result run_unknown(const void *data, struct sg_connect_req *req)
{
	(void)data;
	return reject(req, "internal error", "unknown middleware");
}

size_t sg_mw_steps(const struct sg_nsp_config *nc, struct sg_mw_step *out)
{
	size_t i, n = nc ? nc->n_middleware : 0;

	for (i = 0; i < n; i++) {
		const struct sg_mw_config *cfg = &nc->middleware[i];

		switch (cfg->type) {
		case SG_MW_TOKEN:
			out[i].run = run_token;
			break;
		case SG_MW_ORIGIN:
			out[i].run = run_origin;
			break;
		case SG_MW_JWT:
			out[i].run = run_jwt;
			break;
		case SG_MW_HTTP:
			out[i].run = run_http;
			break;
		default:
			out[i].run = run_unknown;
			break;
		}
		out[i].data = cfg;
	}
	return n;
}
