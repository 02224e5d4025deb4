/* bridges.h - the host side of the bridge plugin ABI: loading, validation, instances,
 * and the host function table (see include/siogate/bridge.h). */
#ifndef SG_BRIDGES_H
#define SG_BRIDGES_H

#include <jansson.h>
#include <libwebsockets.h>

struct sg_config;
#include "metrics.h"
#include "sio.h"
#include "stats.h"
#include "strbuf.h"

struct sg_bridges;

/* Where plugins are looked for when SIOGATE_PLUGIN_PATH is not set (colon-separated). */
#ifndef SG_PLUGIN_DIR
#define SG_PLUGIN_DIR "/usr/local/lib/siogate/bridges-1"
#endif

/* The plugin search path: $SIOGATE_PLUGIN_PATH, else SG_PLUGIN_DIR. */
const char *sg_bridges_default_path(void);

/* Loads the plugins the config's brokers and bridges name, from `path` (colon-separated
 * folders, each searched for TYPE.so), and validates every broker and bridge object with
 * its plugin. Returns the set (possibly empty) or NULL with "json.path: reason" in err.
 * Nothing is connected yet: this is all --check-config needs. */
struct sg_bridges *sg_bridges_load(const struct sg_config *cfg, const char *path,
				   char err[SG_CONFIG_ERR_MAX]);
/* Creates the instances, binds the namespaces and starts them. The bridges become the
 * Socket.IO app (client events go to them). Returns 0 or -1 with err set. */
int sg_bridges_start(struct sg_bridges *b, struct sg_sio *sio, struct lws_context *ctx,
		     struct sg_stats *stats, char err[SG_CONFIG_ERR_MAX]);
/* Runs what plugin threads posted (the server's wake handler). Loop thread. */
void sg_bridges_run_posted(void *b);
/* Begins a drain while the loop still runs: client events get an error ack ("the gateway
 * is shutting down"); what was taken goes on to the brokers, its acks as usual. */
void sg_bridges_quiesce(struct sg_bridges *b);
/* 1 when every upstream message taken was completed (acked, or failed). Loop thread. */
int sg_bridges_flushed(const struct sg_bridges *b);
/* The gateway is shutting down (not a reload): reports every socket's disconnect ("server
 * shutting down") and the shutdown to the plugins that follow lifecycles, so that their
 * last records go out with their flush. After it no lifecycle is reported. Loop thread,
 * before sg_bridges_stop. */
void sg_bridges_shutdown(struct sg_bridges *b);
/* Stops every instance: their flushes share one budget of drain_ms (each plugin's stop()
 * gets what the ones before it left); what is still unconfirmed then gets an error ack. */
void sg_bridges_stop(struct sg_bridges *b, unsigned drain_ms);
void sg_bridges_destroy(struct sg_bridges *b); /* stops if needed; NULL is a no-op */

size_t sg_bridges_count(const struct sg_bridges *b); /* instances */
/* 1 when every instance reported ready; else 0 with the first reason in `reason`. */
int sg_bridges_ready(struct sg_bridges *b, char *reason, size_t len);
/* The facts plugins published with set_info(): {"BRIDGE":{"key":"value"}}, only bridges
 * that published any (a new reference; an empty object for none or NULL b). */
json_t *sg_bridges_info(struct sg_bridges *b);
/* The registry the plugins' counters and gauges go to (borrowed: it must outlive b), set
 * before sg_bridges_start. The gateway passes the one it keeps for its lifetime, so that a
 * reload does not reset counters; without it the bridges make their own. */
void sg_bridges_set_metrics(struct sg_bridges *b, struct sg_metrics *m);
/* Appends the plugins' counters and gauges in the Prometheus text format. */
void sg_bridges_metrics(struct sg_bridges *b, struct sg_strbuf *out);

#endif
