/* middleware_config.h - the steps of a namespace's `middleware` array (token, origin, jwt,
 * http), each type with its key table in middleware_config.c. */
#ifndef SG_MIDDLEWARE_CONFIG_H
#define SG_MIDDLEWARE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum sg_mw_type { SG_MW_TOKEN = 1, SG_MW_ORIGIN, SG_MW_JWT, SG_MW_HTTP };

/* JWT signature algorithms a `jwt` step may accept (bit mask); "none" has no bit. */
#define SG_JWT_HS256 0x01u
#define SG_JWT_HS384 0x02u
#define SG_JWT_HS512 0x04u
#define SG_JWT_RS256 0x08u
#define SG_JWT_ES256 0x10u
#define SG_JWT_HMAC  (SG_JWT_HS256 | SG_JWT_HS384 | SG_JWT_HS512)
#define SG_JWT_PUBKEY (SG_JWT_RS256 | SG_JWT_ES256)

/* One middleware step of a namespace's CONNECT chain. */
struct sg_mw_config {
	enum sg_mw_type type;
	/* token, jwt: the shared secret (after ${VAR} expansion), where to look for the token. */
	char *secret;        /* owned; token, and jwt with an HS* algorithm; else NULL */
	char *auth_field;    /* owned; key in the CONNECT auth object, default "token" */
	char *header;        /* owned; HTTP header name (lower case) or NULL */
	char *message;       /* owned; CONNECT_ERROR message on reject */
	/* origin: allowed Origin header values ("*" allows any). */
	char **origins;      /* owned array of owned strings */
	size_t n_origins;
	/* jwt: accepted algorithms, the public key and the claims checked. */
	unsigned algorithms; /* SG_JWT_* mask, never 0 */
	char *key_pem;       /* owned; the key_file's contents (RS256/ES256) or NULL */
	size_t key_pem_len;
	char *issuer;        /* owned; required `iss` or NULL */
	char *audience;      /* owned; required member of `aud` or NULL */
	uint32_t leeway_s;   /* clock skew allowed on exp/nbf; default 0 */
	/* http: the application's auth endpoint (http:// only), split at load. */
	char *url;           /* owned; as configured */
	char *url_host;      /* owned; host name or address (IPv6 without brackets) */
	int url_port;        /* default 80 */
	char *url_path;      /* owned; path and query, at least "/" */
	char **headers;      /* owned; handshake headers forwarded (lower case) */
	size_t n_headers;
	uint32_t timeout_ms; /* default 5000 */
	uint32_t cache_ms;   /* 0 (default): no cache */
};

struct sg_cfg_ld;

/* Loads one element of a `middleware` array at `path` into a zeroed `mw`. */
int sg_mw_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path,
		      struct sg_mw_config *mw);
void sg_mw_config_free(struct sg_mw_config *mw);

#endif
