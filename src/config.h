/* config.h - the gateway configuration: one JSON file parsed, expanded and validated. */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <regex.h>
#include <jansson.h>

#include "template.h"   /* sg_template_check, for the room templates loaded here */
#include "util/regex.h" /* sg_regex_full_match, for the patterns compiled here */

/* Transports a server accepts (bit mask). */
#define SG_TRANSPORT_POLLING   0x1u
#define SG_TRANSPORT_WEBSOCKET 0x2u

enum sg_log_level { SG_LOG_ERROR = 0, SG_LOG_WARN, SG_LOG_INFO, SG_LOG_DEBUG };
enum sg_log_format { SG_LOG_TEXT = 0, SG_LOG_JSON };

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

/* Rooms a socket may be in and how it gets there. */
struct sg_room_policy {
	char **auto_join;    /* owned; templates over {auth.X} {query.X} {nsp} {sid} */
	size_t n_auto_join;
	int client_join;     /* clients may send join/leave events */
	char *join_event;    /* owned; default "join" */
	char *leave_event;   /* owned; default "leave" */
	char *allow;         /* owned; POSIX ERE a room name must match entirely; NULL = any */
	regex_t *allow_re;   /* owned; compiled `allow`, or NULL */
	size_t max_rooms;    /* per socket, client-joined rooms; default 64 */
};

/* One namespace (static name) or family of namespaces (`match` regex). */
struct sg_nsp_config {
	char *name;          /* owned; "/chat", or NULL when `match` is set */
	char *match;         /* owned; POSIX ERE matched against the whole namespace name */
	regex_t *match_re;   /* owned; compiled `match`, or NULL */
	struct sg_mw_config *middleware; /* owned array */
	size_t n_middleware;
	struct sg_room_policy rooms;
	json_t *bridge;      /* owned reference; validated by the bridge plugin, may be NULL */
};

/* A folder served as static files under a URL prefix (server.static). */
struct sg_static_mount {
	char *url;           /* owned; starts and ends with '/' */
	char *dir;           /* owned; relative to the working directory unless absolute */
	char *index;         /* owned; file served for a folder; "" = none; default "index.html" */
};

struct sg_server_config {
	char *host;          /* owned; from listen "host:port"; default "0.0.0.0" */
	int port;            /* default 3000 */
	char *path;          /* owned; default "/socket.io/" (always ends with '/') */
	unsigned transports; /* SG_TRANSPORT_*; default both */
	int allow_upgrades;  /* default 1 */
	uint32_t ping_interval_ms;   /* default 25000 */
	uint32_t ping_timeout_ms;    /* default 20000 */
	uint32_t connect_timeout_ms; /* default 45000 */
	uint32_t upgrade_timeout_ms; /* default 10000 */
	size_t max_payload;          /* bytes; default 1000000 */
	size_t max_send_queue;       /* bytes queued per client before drop/disconnect; default 4 MiB */
	size_t max_namespaces_per_client; /* default 32 */
	uint32_t drain_timeout_ms;   /* default 10000 */
	uint32_t header_timeout_ms;  /* complete HTTP request headers within; default 10000 */
	size_t max_connections;      /* open at once; 0 (default) = the open-file limit - 64 */
	char **cors_origins; /* owned; empty = no CORS headers; "*" = reflect any origin */
	size_t n_cors_origins;
	char *tls_cert;      /* owned; PEM path or NULL (plain HTTP) */
	char *tls_key;       /* owned */
	struct sg_static_mount *static_mounts; /* owned array; empty = no static files */
	size_t n_static;
	char *admin_host;    /* owned; from admin_listen "host:port", NULL: no admin listener */
	int admin_port;
};

struct sg_log_config {
	enum sg_log_level level;    /* default info */
	enum sg_log_format format;  /* default text */
};

struct sg_config {
	struct sg_server_config server;
	struct sg_log_config log;
	json_t *brokers;     /* owned reference; object of named broker settings, may be empty */
	struct sg_nsp_config *namespaces; /* owned array */
	size_t n_namespaces;
	unsigned refs;       /* sg_config_ref / sg_config_destroy; loop thread only */
};

/* Error text of a failed load: "<path>: <reason>", e.g.
 * "namespaces[1].rooms.allow: expected a string". */
#define SG_CONFIG_ERR_MAX 512

/* Loads, expands ${VAR} / ${VAR:-default} in every string value, and validates a config.
 * Returns a new config (free with sg_config_destroy) or NULL with `err` filled.
 * `getenv_fn` may be NULL (uses getenv); tests pass their own. */
typedef const char *(*sg_getenv_fn)(const char *name, void *ud);
struct sg_config *sg_config_load_file(const char *path, sg_getenv_fn getenv_fn, void *ud,
				      char err[SG_CONFIG_ERR_MAX]);
struct sg_config *sg_config_load_string(const char *text, sg_getenv_fn getenv_fn, void *ud,
					char err[SG_CONFIG_ERR_MAX]);
/* A config with every default and no namespaces (the core always serves "/" without
 * middleware); `brokers` is an empty object. */
struct sg_config *sg_config_default(void);
/* A new reference to cfg (returned). A reload replaces the running config while work that
 * started under the old one (a CONNECT waiting on an http middleware step) still reads it:
 * such work holds a reference, so that it is judged by one config from start to end. */
const struct sg_config *sg_config_ref(const struct sg_config *cfg);
/* Drops a reference; the last one frees the config. NULL is a no-op. */
void sg_config_destroy(const struct sg_config *cfg);

/* Finds the namespace config for a name: a static name first, then the first `match`
 * regex that matches the whole name. Returns a borrowed pointer or NULL. */
const struct sg_nsp_config *sg_config_find_nsp(const struct sg_config *cfg, const char *name);

#endif
