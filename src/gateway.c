/* gateway.c - wires the layers together and owns the shutdown sequence. */
#include "gateway.h"

#include <stdlib.h>
#include <string.h>

#include "bridges.h"
#include "eio.h"
#include "http_admin.h"
#include "log.h"

#define MAX_CAPTURED_HEADERS 64

struct sg_gateway {
	struct sg_config *cfg;
	struct sg_stats stats;
	struct sg_sio *sio;
	struct sg_eio *eio;
	struct sg_server *server;
	struct sg_bridges *bridges;
	char *headers[MAX_CAPTURED_HEADERS];
	struct sg_eio *extra[4];
	size_t n_extra;
	int stopping;
};

static int admin_http(void *ud, struct lws *wsi, const char *uri, int *rc)
{
	struct sg_gateway *gw = ud;

	return sg_admin_handle(&gw->stats, gw->bridges, gw->stopping, wsi, uri, rc);
}

void sg_eio_opts_from_config(const struct sg_config *cfg, struct sg_eio_opts *o, char **headers, size_t max)
{
	size_t i, j, n = 0;

	memset(o, 0, sizeof(*o));
	o->path = cfg->server.path;
	o->transports = cfg->server.transports;
	o->allow_upgrades = cfg->server.allow_upgrades;
	o->ping_interval_ms = cfg->server.ping_interval_ms;
	o->ping_timeout_ms = cfg->server.ping_timeout_ms;
	o->upgrade_timeout_ms = cfg->server.upgrade_timeout_ms;
	o->max_payload = cfg->server.max_payload;
	o->max_send_queue = cfg->server.max_send_queue;
	o->cors_origins = cfg->server.cors_origins;
	o->n_cors_origins = cfg->server.n_cors_origins;
	/* Headers the token middleware reads must be kept from the handshake request. */
	for (i = 0; i < cfg->n_namespaces; i++)
		for (j = 0; j < cfg->namespaces[i].n_middleware; j++)
			if (cfg->namespaces[i].middleware[j].header && n < max)
				headers[n++] = cfg->namespaces[i].middleware[j].header;
	o->capture_headers = headers;
	o->n_capture_headers = n;
}

struct sg_gateway *sg_gateway_create(struct sg_config *cfg)
{
	struct sg_gateway *gw = calloc(1, sizeof(*gw));
	char err[SG_CONFIG_ERR_MAX];
	struct sg_eio_opts eo;

	if (!gw) {
		sg_config_destroy(cfg);
		return NULL;
	}
	gw->cfg = cfg;
	gw->bridges = sg_bridges_load(cfg, sg_bridges_default_path(), err);
	if (!gw->bridges) {
		sg_err("siogate", NULL, "invalid configuration: %s", err);
		goto fail;
	}
	gw->sio = sg_sio_create(cfg, &gw->stats);
	if (!gw->sio)
		goto fail;
	sg_eio_opts_from_config(cfg, &eo, gw->headers, MAX_CAPTURED_HEADERS);
	gw->eio = sg_eio_create(&eo, sg_sio_eio_handlers(), gw->sio, &gw->stats);
	if (!gw->eio)
		goto fail;
	gw->server = sg_server_create(&cfg->server);
	if (!gw->server || sg_server_add_endpoint(gw->server, gw->eio))
		goto fail;
	sg_sio_set_context(gw->sio, sg_server_context(gw->server));
	sg_server_set_wake_handler(gw->server, sg_bridges_run_posted, gw->bridges);
	sg_server_set_http_handler(gw->server, admin_http, gw);
	if (sg_bridges_start(gw->bridges, gw->sio, sg_server_context(gw->server), &gw->stats, err)) {
		sg_err("siogate", NULL, "%s", err);
		goto fail;
	}
	return gw;
fail:
	sg_gateway_destroy(gw);
	return NULL;
}

void sg_gateway_destroy(struct sg_gateway *gw)
{
	if (!gw)
		return;
	/* Bridge threads stop first (they post to the loop); then the lws context, whose
	 * connections still point at sessions; then what those pointed at. */
	sg_bridges_destroy(gw->bridges);
	sg_server_destroy(gw->server);
	while (gw->n_extra)
		sg_eio_destroy(gw->extra[--gw->n_extra]);
	sg_eio_destroy(gw->eio);
	sg_sio_destroy(gw->sio);
	sg_config_destroy(gw->cfg);
	free(gw);
}

int sg_gateway_add_endpoint(struct sg_gateway *gw, struct sg_eio *e)
{
	if (gw->n_extra == sizeof(gw->extra) / sizeof(gw->extra[0]) ||
	    sg_server_add_endpoint(gw->server, e))
		return -1;
	gw->extra[gw->n_extra++] = e;
	return 0;
}

struct sg_server *sg_gateway_server(struct sg_gateway *gw) { return gw->server; }
struct sg_sio *sg_gateway_sio(struct sg_gateway *gw) { return gw->sio; }
struct sg_stats *sg_gateway_stats(struct sg_gateway *gw) { return &gw->stats; }
struct sg_bridges *sg_gateway_bridges(struct sg_gateway *gw) { return gw->bridges; }
const struct sg_config *sg_gateway_config(struct sg_gateway *gw) { return gw->cfg; }

static int drained(void *ud)
{
	struct sg_gateway *gw = ud;

	size_t i;

	for (i = 0; i < gw->n_extra; i++)
		if (!sg_eio_idle(gw->extra[i]))
			return 0;
	return sg_eio_idle(gw->eio);
}

int sg_gateway_run(struct sg_gateway *gw)
{
	sg_server_run(gw->server);
	gw->stopping = 1;
	/* Upstream messages in flight are flushed first, so their acks still reach clients. */
	if (sg_bridges_count(gw->bridges))
		sg_info("siogate", NULL, "shutting down: flushing %zu bridge(s)", sg_bridges_count(gw->bridges));
	sg_bridges_stop(gw->bridges, gw->cfg->server.drain_timeout_ms);
	sg_info("siogate", NULL, "shutting down: disconnecting %zu client(s)",
		sg_sio_client_count(gw->sio));
	sg_sio_disconnect_all(gw->sio);
	for (size_t i = 0; i < gw->n_extra; i++)
		sg_eio_close_all(gw->extra[i], "server shutting down");
	sg_server_drain(gw->server, gw->cfg->server.drain_timeout_ms, drained, gw);
	return 0;
}

void sg_gateway_stop(struct sg_gateway *gw)
{
	sg_server_stop(gw->server);
}
