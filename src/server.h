/* server.h - the listener: one lws context, HTTP routing to Engine.IO endpoints, the loop. */
#ifndef SG_SERVER_H
#define SG_SERVER_H

#include <libwebsockets.h>
#include <netinet/in.h>

#include "server_config.h"
#include "eio.h"
#include "stats.h"

struct sg_server;

/* Which listener a plain HTTP request came to. */
enum sg_http_listener {
	SG_HTTP_MAIN_ONLY = 0,   /* the main listener, and there is no admin listener */
	SG_HTTP_MAIN,            /* the main listener, with an admin listener beside it */
	SG_HTTP_ADMIN,           /* the admin listener (server.admin_listen) */
};

/* Answers a plain HTTP request that no endpoint claimed. Return 1 if handled (the handler
 * called sg_http_respond and its return value is in *rc), 0 to let the server answer 404. */
typedef int (*sg_http_handler_fn)(void *ud, struct lws *wsi, const char *uri, enum sg_http_listener on, int *rc);

/* Creates the lws context listening on cfg->host:cfg->port. Returns NULL with a logged
 * error (port in use, bad TLS files...). The config is borrowed for the call only. */
struct sg_server *sg_server_create(const struct sg_server_config *cfg);
void sg_server_destroy(struct sg_server *srv); /* NULL is a no-op; call before freeing endpoints */
/* Routes requests under the endpoint's path to it (borrowed; at most 8 endpoints). */
int sg_server_add_endpoint(struct sg_server *srv, struct sg_eio *e);
void sg_server_set_http_handler(struct sg_server *srv, sg_http_handler_fn fn, void *ud);
struct lws_context *sg_server_context(struct sg_server *srv);
/* The event loop the context runs on: "poll", "libuv" or "glib". */
const char *sg_server_event_loop(const struct sg_server *srv);
/* Where refused connections are counted (borrowed; it must outlive the server). */
void sg_server_set_stats(struct sg_server *srv, struct sg_stats *stats);
/* Called on the loop thread after lws_cancel_service() woke the loop (bridge posts). */
void sg_server_set_wake_handler(struct sg_server *srv, void (*fn)(void *ud), void *ud);
/* The port actually bound (useful when the config asked for port 0). */
int sg_server_port(struct sg_server *srv);
/* The admin listener's port (server.admin_listen), or 0 without one. */
int sg_server_admin_port(struct sg_server *srv);

/* The numeric address a listen host binds: an address as is, a host name's first IPv4
 * address (else its first IPv6 one). *family is AF_INET or AF_INET6. Returns 0, or -1
 * when the name does not resolve. */
int sg_server_resolve(const char *host, int *family, char out[INET6_ADDRSTRLEN]);

/* The container probe (siogate --health/--ready): GET `path` over plain HTTP from the
 * listener that serves the probes (admin_listen if set, else listen; a wildcard address is
 * reached on the loopback), bounded by timeout_ms. Returns 0 on a 200, else -1 with a
 * one-line reason in `why`. A TLS main listener without admin_listen is refused (why says so). */
int sg_server_probe(const struct sg_server_config *cfg, const char *path, unsigned timeout_ms,
		    char *why, size_t len);

/* Runs the loop until sg_server_stop(); returns 0. */
int sg_server_run(struct sg_server *srv);
/* Asks the loop to return. Safe from any thread and from a signal handler. */
void sg_server_stop(struct sg_server *srv);
/* Services the loop for up to `ms` milliseconds or until `done(ud)` returns non-zero. */
void sg_server_drain(struct sg_server *srv, unsigned ms, int (*done)(void *ud), void *ud);

#endif
