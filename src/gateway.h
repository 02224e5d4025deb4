/* gateway.h - one running gateway: config, listener, Engine.IO endpoint and Socket.IO server. */
#ifndef SG_GATEWAY_H
#define SG_GATEWAY_H

struct sg_config;
#include "server.h"
#include "sio.h"
#include "stats.h"

struct sg_gateway;

/* Creates and binds everything; `cfg` is stolen (freed by destroy, or here on failure).
 * Returns NULL with the reason logged. */
struct sg_gateway *sg_gateway_create(struct sg_config *cfg);
void sg_gateway_destroy(struct sg_gateway *gw); /* NULL is a no-op */

struct sg_server *sg_gateway_server(struct sg_gateway *gw);
struct sg_sio *sg_gateway_sio(struct sg_gateway *gw);
struct sg_stats *sg_gateway_stats(struct sg_gateway *gw);
struct sg_bridges *sg_gateway_bridges(struct sg_gateway *gw);
const struct sg_config *sg_gateway_config(struct sg_gateway *gw);

/* Serves another Engine.IO endpoint on the same listener; the gateway takes ownership
 * (it is destroyed after the listener). Returns 0 or -1 (then the caller still owns it). */
int sg_gateway_add_endpoint(struct sg_gateway *gw, struct sg_eio *e);

/* Fills Engine.IO settings from a config. `headers` (room for `max` entries) receives the
 * request headers middleware needs; it must outlive the options. */
void sg_eio_opts_from_config(const struct sg_config *cfg, struct sg_eio_opts *o, char **headers, size_t max);

/* Runs until sg_gateway_stop(), then drains within one server.drain_timeout_ms budget:
 * the loop keeps serving (/readyz 503, /healthz 200) while the bridges flush what clients
 * sent, the rest gets an error ack, then every client is disconnected cleanly and their
 * transports flush in what is left (at least 100 ms). Returns 0. */
int sg_gateway_run(struct sg_gateway *gw);
/* Safe from a signal handler. */
void sg_gateway_stop(struct sg_gateway *gw);
/* The file a reload reads (copied). Returns 0 or -1. */
int sg_gateway_set_config_path(struct sg_gateway *gw, const char *path);
/* Asks the loop to reload the config file (SIGHUP). Safe from a signal handler. */
void sg_gateway_request_reload(struct sg_gateway *gw);

#endif
