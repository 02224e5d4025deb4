/* middleware_config.c - the CONNECT middleware steps of a namespace: one key table per
 * step type, and the keys a table cannot say (JWT algorithms and key file, the http URL). */
#include "middleware_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_core.h"

/* Names of the SG_JWT_* bits, in bit order. */
static const char *const jwt_algs[] = { "HS256", "HS384", "HS512", "RS256", "ES256", NULL };

#define JWT_LEEWAY_MAX 3600u    /* an hour: more is no longer clock skew */
#define KEY_FILE_MAX 65536u     /* a PEM public key is a few KiB at most */

/* Headers the http step writes itself, so they cannot be forwarded from the handshake. */
static const char *const http_own_headers[] = {
	"host", "content-length", "content-type", "transfer-encoding", "connection", "cookie",
	"expect", "upgrade", "te", "keep-alive", NULL
};

static int check_jwt_alg(struct sg_cfg_ld *ld, const char *path, const char *s)
{
	if (sg_cfg_in_list(s, jwt_algs))
		return 0;
	/* Unsigned tokens prove nothing: there is no way to allow them. */
	if (strcasecmp(s, "none") == 0)
		return sg_cfg_fail(ld, path, "'%s' is never accepted (tokens must be signed)", s);
	/* Only a case slip gets a hint: one letter away (PS256, RS384) is another algorithm. */
	for (const char *const *a = jwt_algs; *a; a++)
		if (strcasecmp(s, *a) == 0)
			return sg_cfg_fail(ld, path, "unknown algorithm '%s' (did you mean '%s'?)", s, *a);
	return sg_cfg_fail(ld, path, "unknown algorithm '%s' (known: HS256, HS384, HS512, RS256, ES256)",
		    s);
}


/* Stored lower-case: HTTP header names compare case-insensitively and the server sees
 * them lower-cased. */
static int normalize_header(struct sg_cfg_ld *ld, const char *path, char *header)
{
	char p[SG_CFG_PATH_LEN];

	sg_cfg_path_key(p, path, "header");
	for (char *c = header; *c; c++) {
		if (!sg_cfg_is_tchar(*c))
			return sg_cfg_fail(ld, p, "expected an HTTP header name");
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	}
	return 0;
}

/* Reads the public key at load, so a missing or wrong file stops the start (or the
 * reload) instead of refusing every client later. Bounded: /dev/zero is not a key. */
static int load_key_file(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			 void *base)
{
	struct sg_mw_config *mw = base;
	char p[SG_CFG_PATH_LEN], *file = NULL, *buf = NULL;
	size_t len;
	FILE *f = NULL;
	int rc = -1;

	/* Present exactly when an RS256/ES256 algorithm is listed (checked with algorithms). */
	if (!json_object_get(obj, key))
		return 0;
	sg_cfg_path_key(p, path, key);
	if (sg_cfg_str(ld, obj, path, key, 1, &file) < 0)
		return -1;
	if (!(buf = malloc(KEY_FILE_MAX + 1))) {
		sg_cfg_oom(ld, p);
		goto done;
	}
	if (!(f = fopen(file, "rb"))) {
		sg_cfg_fail(ld, p, "%s: %s", file, strerror(errno));
		goto done;
	}
	errno = 0;
	len = fread(buf, 1, KEY_FILE_MAX + 1, f);
	if (ferror(f)) {
		sg_cfg_fail(ld, p, "%s: %s", file, strerror(errno ? errno : EIO));
		goto done;
	}
	if (len > KEY_FILE_MAX) {
		sg_cfg_fail(ld, p, "%s: too large for a public key", file);
		goto done;
	}
	buf[len] = '\0';
	/* libjwt reads the key with PEM_read_bio_PUBKEY: a certificate or a private key
	 * would only sg_cfg_fail at the first client. */
	if (!strstr(buf, "-----BEGIN PUBLIC KEY-----")) {
		sg_cfg_fail(ld, p, "%s: not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')", file);
		goto done;
	}
	mw->key_pem = buf;
	mw->key_pem_len = len;
	buf = NULL;
	rc = 0;
done:
	if (f)
		fclose(f);
	free(buf);
	free(file);
	return rc;
}


/* Splits an http:// URL into host, port and path. The step speaks plain HTTP only. */
static int parse_http_url(struct sg_cfg_ld *ld, const char *path, struct sg_mw_config *mw)
{
	const char *u = mw->url, *h, *end, *colon = NULL;
	char p[SG_CFG_PATH_LEN];
	uint64_t port = 80;

	sg_cfg_path_key(p, path, "url");
	if (!strncmp(u, "https://", 8))
		return sg_cfg_fail(ld, p, "https:// is not supported (use http://, e.g. to the application "
			    "on localhost)");
	if (strncmp(u, "http://", 7))
		return sg_cfg_fail(ld, p, "expected an http:// URL, e.g. \"http://127.0.0.1:8080/socket-auth\"");
	for (const char *c = u; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '#')
			return sg_cfg_fail(ld, p, "spaces, control characters and '#' are not allowed in the URL");
	h = u + 7;
	end = h + strcspn(h, "/?");
	if (memchr(h, '@', (size_t)(end - h)))
		return sg_cfg_fail(ld, p, "credentials in the URL are not supported");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		struct in6_addr a;
		char buf[64];

		if (!rb || (size_t)(rb - h - 1) >= sizeof buf || (rb + 1 != end && rb[1] != ':'))
			return sg_cfg_fail(ld, p, "invalid IPv6 host");
		memcpy(buf, h + 1, (size_t)(rb - h - 1));
		buf[rb - h - 1] = '\0';
		if (inet_pton(AF_INET6, buf, &a) != 1)
			return sg_cfg_fail(ld, p, "invalid IPv6 host");
		mw->url_host = strdup(buf);
		colon = rb + 1 != end ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		for (const char *c = h; c < (colon ? colon : end); c++)
			if (!sg_cfg_is_alpha(*c) && !sg_cfg_is_digit(*c) && !strchr("-._", *c))
				return sg_cfg_fail(ld, p, "invalid host name in the URL");
		if ((colon ? colon : end) == h)
			return sg_cfg_fail(ld, p, "missing host in the URL");
		mw->url_host = strndup(h, (size_t)((colon ? colon : end) - h));
	}
	if (!mw->url_host)
		return sg_cfg_oom(ld, p);
	if (colon) {
		char digits[8];
		size_t n = (size_t)(end - colon - 1);

		if (n == 0 || n >= sizeof digits)
			return sg_cfg_fail(ld, p, "expected a port from 1 to 65535 in the URL");
		memcpy(digits, colon + 1, n);
		digits[n] = '\0';
		if (sg_cfg_parse_digits(digits, &port) < 0 || port < 1 || port > 65535)
			return sg_cfg_fail(ld, p, "expected a port from 1 to 65535 in the URL");
	}
	mw->url_port = (int)port;
	/* "http://h?x=1" asks for "/?x=1". */
	if ((mw->url_path = malloc(strlen(end) + 2)))
		snprintf(mw->url_path, strlen(end) + 2, "%s%s", *end == '/' ? "" : "/", end);
	return mw->url_path ? 0 : sg_cfg_oom(ld, p);
}

/* A forwarded header: a lower-cased name the step does not write itself. */
static int check_http_header(struct sg_cfg_ld *ld, const char *path, const char *s)
{
	if (!*s)
		return sg_cfg_fail(ld, path, "expected an HTTP header name");
	for (const char *c = s; *c; c++)
		if (!sg_cfg_is_tchar(*c))
			return sg_cfg_fail(ld, path, "expected an HTTP header name");
	for (const char *const *h = http_own_headers; *h; h++)
		if (!strcasecmp(s, *h))
			return sg_cfg_fail(ld, path, "'%s' cannot be forwarded (the cookie header always is)", s);
	return 0;
}


/* `type` picked the table; the key only has to be known. */
static int load_type(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		     void *base)
{
	(void)ld, (void)obj, (void)path, (void)key, (void)base;
	return 0;
}

static int load_header(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		       void *base)
{
	struct sg_mw_config *mw = base;

	if (sg_cfg_str(ld, obj, path, key, 1, &mw->header) < 0)
		return -1;
	return mw->header ? normalize_header(ld, path, mw->header) : 0;
}

/* The algorithms decide which key material is needed: each key serves one family only (an
 * RS256 public key must never become an HMAC secret), so a key the listed algorithms do
 * not use is a mistake, not a spare. */
static int load_jwt_algorithms(struct sg_cfg_ld *ld, json_t *obj, const char *path,
			       const char *key, void *base)
{
	struct sg_mw_config *mw = base;
	char p[SG_CFG_PATH_LEN], **algs = NULL;
	size_t n_algs = 0;

	if (sg_cfg_strv(ld, obj, path, key, 1, check_jwt_alg, &algs, &n_algs) < 0)
		return -1;
	for (size_t i = 0; i < n_algs; i++)
		for (unsigned b = 0; jwt_algs[b]; b++)
			if (strcmp(algs[i], jwt_algs[b]) == 0)
				mw->algorithms |= 1u << b;
	sg_cfg_free_strv(algs, n_algs);

	if (mw->algorithms & SG_JWT_HMAC) {
		if (!json_object_get(obj, "secret"))
			return sg_cfg_fail(ld, path, "missing required key 'secret' (for HS256/HS384/HS512)");
	} else if (json_object_get(obj, "secret")) {
		sg_cfg_path_key(p, path, "secret");
		return sg_cfg_fail(ld, p, "only used with HS256, HS384 or HS512 (not in algorithms)");
	}
	if (mw->algorithms & SG_JWT_PUBKEY) {
		if (!json_object_get(obj, "key_file"))
			return sg_cfg_fail(ld, path, "missing required key 'key_file' (for RS256/ES256)");
	} else if (json_object_get(obj, "key_file")) {
		sg_cfg_path_key(p, path, "key_file");
		return sg_cfg_fail(ld, p, "only used with RS256 or ES256 (not in algorithms)");
	}
	return 0;
}

static int load_http_url(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			 void *base)
{
	struct sg_mw_config *mw = base;

	if (sg_cfg_str(ld, obj, path, key, 1, &mw->url) < 0)
		return -1;
	return mw->url ? parse_http_url(ld, path, mw) : 0;
}

#define M struct sg_mw_config
static const struct sg_cfg_key token_keys[] = {
	SG_CFG_KEY_CUSTOM("type", load_type, NULL, 0),
	SG_CFG_KEY_STR("secret", M, secret, NULL, SG_CFG_REQUIRED | SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_STR("auth_field", M, auth_field, "token", SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_CUSTOM("header", load_header, NULL, 0),
	SG_CFG_KEY_STR("message", M, message, "unauthorized", 0, NULL),
	SG_CFG_KEY_END
};

static const struct sg_cfg_key origin_keys[] = {
	SG_CFG_KEY_CUSTOM("type", load_type, NULL, 0),
	SG_CFG_KEY_STRV("allow", M, origins, n_origins, SG_CFG_REQUIRED | SG_CFG_NONEMPTY,
			sg_cfg_check_origin),
	SG_CFG_KEY_STR("message", M, message, "origin not allowed", 0, NULL),
	SG_CFG_KEY_END
};

static const struct sg_cfg_key jwt_keys[] = {
	SG_CFG_KEY_CUSTOM("type", load_type, NULL, 0),
	SG_CFG_KEY_CUSTOM("algorithms", load_jwt_algorithms, NULL, SG_CFG_REQUIRED),
	SG_CFG_KEY_STR("secret", M, secret, NULL, SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_STR("auth_field", M, auth_field, "token", SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_CUSTOM("header", load_header, NULL, 0),
	SG_CFG_KEY_STR("issuer", M, issuer, NULL, SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_STR("audience", M, audience, NULL, SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_U32("leeway_s", M, leeway_s, 0, JWT_LEEWAY_MAX, 0, 0),
	SG_CFG_KEY_STR("message", M, message, "unauthorized", 0, NULL),
	SG_CFG_KEY_CUSTOM("key_file", load_key_file, NULL, 0),
	SG_CFG_KEY_END
};

static const struct sg_cfg_key http_keys[] = {
	SG_CFG_KEY_CUSTOM("type", load_type, NULL, 0),
	SG_CFG_KEY_CUSTOM("url", load_http_url, NULL, SG_CFG_REQUIRED),
	SG_CFG_KEY_STRV("headers", M, headers, n_headers, 0, check_http_header),
	SG_CFG_KEY_U32("timeout_ms", M, timeout_ms, 1, 60000, 5000, 0),
	SG_CFG_KEY_U32("cache_ms", M, cache_ms, 0, 3600000, 0, 0),
	SG_CFG_KEY_STR("message", M, message, "unauthorized", 0, NULL),
	SG_CFG_KEY_END
};
#undef M

static const struct {
	const char *name;
	enum sg_mw_type type;
	const struct sg_cfg_key *keys;
} mw_types[] = {
	{ "token", SG_MW_TOKEN, token_keys },
	{ "origin", SG_MW_ORIGIN, origin_keys },
	{ "jwt", SG_MW_JWT, jwt_keys },
	{ "http", SG_MW_HTTP, http_keys },
};

int sg_mw_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path,
		      struct sg_mw_config *mw)
{
	char *type = NULL, p[SG_CFG_PATH_LEN];
	size_t i, n = sizeof mw_types / sizeof mw_types[0];

	if (!json_is_object(obj))
		return sg_cfg_fail(ld, path, "expected an object");
	if (!json_object_get(obj, "type"))
		return sg_cfg_fail(ld, path, "missing required key 'type'");
	if (sg_cfg_str(ld, obj, path, "type", 0, &type) < 0)
		return -1;
	for (i = 0; i < n && strcmp(type, mw_types[i].name); i++)
		;
	if (i == n) {
		sg_cfg_path_key(p, path, "type");
		sg_cfg_fail(ld, p, "unknown middleware type '%s' (known: token, origin, jwt, http)", type);
		free(type);
		return -1;
	}
	free(type);
	mw->type = mw_types[i].type;
	if (sg_cfg_defaults(mw_types[i].keys, mw) < 0)
		return sg_cfg_oom(ld, path);
	if (sg_cfg_load(ld, obj, path, mw_types[i].keys, mw) < 0)
		return -1;
	for (size_t h = 0; h < mw->n_headers; h++)
		for (char *c = mw->headers[h]; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	return 0;
}

void sg_mw_config_free(struct sg_mw_config *mw)
{
	free(mw->secret);
	free(mw->auth_field);
	free(mw->header);
	free(mw->message);
	sg_cfg_free_strv(mw->origins, mw->n_origins);
	free(mw->key_pem);
	free(mw->issuer);
	free(mw->audience);
	free(mw->url);
	free(mw->url_host);
	free(mw->url_path);
	sg_cfg_free_strv(mw->headers, mw->n_headers);
}
