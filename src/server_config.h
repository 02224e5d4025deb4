/* server_config.h - the `server` section: listeners, Engine.IO path and transports, timers,
 * limits, CORS, TLS and static files. Parsed by server_config.c from its key table. */
#ifndef SG_SERVER_CONFIG_H
#define SG_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Transports a server accepts (bit mask). */
#define SG_TRANSPORT_POLLING   0x1u
#define SG_TRANSPORT_WEBSOCKET 0x2u

/* A folder served as static files under a URL prefix (server.static). */
struct sg_static_mount {
	char *url;           /* owned; starts and ends with '/' */
	char *dir;           /* owned; relative to the working directory unless absolute */
	char *index;         /* owned; file served for a folder; "" = none; default "index.html" */
};

/* The event loop under libwebsockets (server.event_loop; evloop.c). */
enum sg_event_loop {
	SG_EVENT_LOOP_AUTO,  /* the fastest one installed (libuv), else poll */
	SG_EVENT_LOOP_POLL,  /* lws's own poll(2) backend: always there */
	SG_EVENT_LOOP_LIBUV, /* libwebsockets-evlib-uv */
	SG_EVENT_LOOP_GLIB,  /* libwebsockets-evlib-glib (not libev: see evloop.c) */
};

struct sg_server_config {
	char *host;          /* owned; from listen "host:port"; default "0.0.0.0" */
	int port;            /* default 3000 */
	char *path;          /* owned; default "/socket.io/" (always ends with '/') */
	unsigned transports; /* SG_TRANSPORT_*; default both */
	int allow_upgrades;  /* default 1 */
	int allow_eio3;      /* Engine.IO v3 (Socket.IO v2 clients); default 0 */
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
	int event_loop;              /* enum sg_event_loop; default AUTO */
	char **cors_origins; /* owned; empty = no CORS headers; "*" = reflect any origin */
	size_t n_cors_origins;
	char *tls_cert;      /* owned; PEM path or NULL (plain HTTP) */
	char *tls_key;       /* owned */
	struct sg_static_mount *static_mounts; /* owned array; empty = no static files */
	size_t n_static;
	char *admin_host;    /* owned; from admin_listen "host:port", NULL: no admin listener */
	int admin_port;
};

struct sg_cfg_ld;
struct sg_cfg_key;

/* The section's keys: names, ranges, defaults, and which ones wait for a restart. */
extern const struct sg_cfg_key *const sg_server_config_keys;

/* Every default. Returns -1 when out of memory (free what was set with _free). */
int sg_server_config_init(struct sg_server_config *srv);
/* Loads the `server` object at `path` over the defaults. */
int sg_server_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path,
			  struct sg_server_config *srv);
void sg_server_config_free(struct sg_server_config *srv);

#endif
