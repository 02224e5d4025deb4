/* gateway.c - wires the layers together and owns the shutdown sequence. */
#include "admin_ui.h"
#include "gateway.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridges.h"
#include "eio.h"
#include "http_admin.h"
#include "static.h"
#include "log.h"
#include "util/clock.h"

#define MAX_CAPTURED_HEADERS 64

struct sg_gateway {
	struct sg_config *cfg;
	struct sg_stats stats;
	struct sg_sio *sio;
	struct sg_eio *eio;
	struct sg_server *server;
	struct sg_bridges *bridges;
	struct sg_metrics *metrics;    /* bridge counters: outlive each bridges object (reload) */
	char *headers[MAX_CAPTURED_HEADERS];
	struct sg_eio *extra[4];
	size_t n_extra;
	int stopping;
	char *config_path;             /* what SIGHUP reloads, or NULL */
	volatile sig_atomic_t reload_requested;
	struct sg_admin_ui *admin;     /* the Socket.IO Admin UI (admin_ui section) */
};

static const struct sg_sio_app no_app = {0};

static void reload(struct sg_gateway *gw);

/* The loop was woken (lws_cancel_service): a reload request, or bridge work. */
static void wake(void *ud)
{
	struct sg_gateway *gw = ud;

	if (gw->reload_requested) {
		gw->reload_requested = 0;
		/* Not while draining: a reload would start new bridges on the way out. */
		if (gw->stopping)
			sg_warn("siogate", NULL, "reload requested during the shutdown: ignored");
		else
			reload(gw);
	}
	sg_bridges_run_posted(gw->bridges);
	sg_admin_ui_run_done(gw->admin);
}

/* The probes live on the admin listener when there is one, else on the main one; the main
 * listener always has /demo/info and the static files (the demo page asks them). */
static int admin_http(void *ud, struct lws *wsi, const char *uri, enum sg_http_listener on, int *rc)
{
	struct sg_gateway *gw = ud;

	if (on != SG_HTTP_MAIN && sg_admin_handle(&gw->stats, gw->sio, gw->bridges, gw->stopping, wsi, uri, rc))
		return 1;
	if (on == SG_HTTP_ADMIN)
		return 0;
	if (sg_admin_demo_info(gw->bridges, wsi, uri, rc))
		return 1;
	return sg_static_handle(gw->cfg->server.static_mounts, gw->cfg->server.n_static, wsi, uri, rc);
}

void sg_eio_opts_from_config(const struct sg_config *cfg, struct sg_eio_opts *o, char **headers, size_t max)
{
	size_t i, j, n = 0;

	memset(o, 0, sizeof(*o));
	o->path = cfg->server.path;
	o->transports = cfg->server.transports;
	o->allow_upgrades = cfg->server.allow_upgrades;
	o->allow_eio3 = cfg->server.allow_eio3;
	o->ping_interval_ms = cfg->server.ping_interval_ms;
	o->ping_timeout_ms = cfg->server.ping_timeout_ms;
	o->upgrade_timeout_ms = cfg->server.upgrade_timeout_ms;
	o->max_payload = cfg->server.max_payload;
	o->max_send_queue = cfg->server.max_send_queue;
	o->cors_origins = cfg->server.cors_origins;
	o->n_cors_origins = cfg->server.n_cors_origins;
	/* Headers the token, jwt and http middleware read must be kept from the handshake. */
	for (i = 0; i < cfg->n_namespaces; i++)
		for (j = 0; j < cfg->namespaces[i].n_middleware; j++)
		{
			const struct sg_mw_config *mw = &cfg->namespaces[i].middleware[j];

			if (mw->header && n < max)
				headers[n++] = mw->header;
			for (size_t k = 0; k < mw->n_headers && n < max; k++)
				headers[n++] = mw->headers[k]; /* forwarded by an http step */
		}
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
	if (!(gw->metrics = sg_metrics_create()))
		goto fail;
	sg_static_check_dirs(cfg->server.static_mounts, cfg->server.n_static);
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
	if (!(gw->admin = sg_admin_ui_create(gw->sio, sg_server_context(gw->server), &gw->stats, cfg)))
		goto fail;
	sg_sio_set_observer(gw->sio, sg_admin_ui_observer(), gw->admin);
	sg_server_set_wake_handler(gw->server, wake, gw);
	sg_server_set_stats(gw->server, &gw->stats);
	gw->stats.event_loop = sg_server_event_loop(gw->server);
	sg_server_set_http_handler(gw->server, admin_http, gw);
	sg_bridges_set_metrics(gw->bridges, gw->metrics);
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
	/* Bridge threads stop first (they post to the loop). Clients and sessions are closed
	 * while the lws context, which owns every timer, still exists; then the context goes,
	 * and its connections let go of the sessions they hold; then the rest is freed. */
	sg_bridges_destroy(gw->bridges);
	if (gw->sio)
		sg_sio_release(gw->sio);
	sg_admin_ui_destroy(gw->admin); /* its pending logins' clients are gone: their steps end */
	for (size_t i = 0; i < gw->n_extra; i++)
		sg_eio_release(gw->extra[i]);
	sg_eio_release(gw->eio);
	sg_server_destroy(gw->server);
	while (gw->n_extra)
		sg_eio_destroy(gw->extra[--gw->n_extra]);
	sg_eio_destroy(gw->eio);
	sg_sio_destroy(gw->sio);
	sg_config_destroy(gw->cfg);
	sg_metrics_destroy(gw->metrics);
	free(gw->config_path);
	free(gw);
}

int sg_gateway_set_config_path(struct sg_gateway *gw, const char *path)
{
	char *p = strdup(path);

	if (!p)
		return -1;
	free(gw->config_path);
	gw->config_path = p;
	return 0;
}

void sg_gateway_request_reload(struct sg_gateway *gw)
{
	gw->reload_requested = 1;
	lws_cancel_service(sg_server_context(gw->server));
}

/* The settings a reload cannot apply, as one list: "a, b and c". */
struct restart_list {
	char text[512];
	size_t n;
	char last[SG_CFG_PATH_LEN]; /* held back until we know whether it ends the list */
};

static void restart_found(void *ud, const char *key_path)
{
	struct restart_list *l = ud;
	size_t len = strlen(l->text);

	if (l->n++)
		snprintf(l->text + len, sizeof l->text - len, "%s%s", l->n > 2 ? ", " : "", l->last);
	snprintf(l->last, sizeof l->last, "%s", key_path);
}

static void warn_restart_changes(const struct sg_config *old, const struct sg_config *ncfg)
{
	struct restart_list l = { "", 0, "" };

	sg_config_restart_changes(old, ncfg, restart_found, &l);
	if (l.n == 0)
		return;
	sg_warn("siogate", NULL, "reload: %s%s%s %s effect at the next start", l.text,
		l.n > 1 ? " and " : "", l.last, l.n > 1 ? "changes take" : "change takes");
}

/* Loads the file again; a config that fails validation changes nothing. Sockets stay
 * connected wherever their namespace still exists. Bridges are restarted on the new
 * mappings (their upstream messages are flushed first). */
static void reload(struct sg_gateway *gw)
{
	char err[SG_CONFIG_ERR_MAX];
	struct sg_config *ncfg, *old = gw->cfg;
	struct sg_bridges *nb, *ob = gw->bridges;
	struct sg_eio_opts eo;

	if (!gw->config_path) {
		sg_warn("siogate", NULL, "reload requested, but this gateway has no config file");
		return;
	}
	ncfg = sg_config_load_file(gw->config_path, NULL, NULL, err);
	if (!ncfg) {
		sg_err("siogate", NULL, "reload: invalid configuration, keeping the running one: %s", err);
		return;
	}
	nb = sg_bridges_load(ncfg, sg_bridges_default_path(), err);
	if (!nb) {
		sg_err("siogate", NULL, "reload: invalid configuration, keeping the running one: %s", err);
		sg_config_destroy(ncfg);
		return;
	}
	warn_restart_changes(old, ncfg);

	/* The sockets of removed namespaces leave first, while the old bridges still follow
	 * them: their disconnects go out with the old bridges' flush. */
	sg_sio_set_config(gw->sio, ncfg);
	sg_admin_ui_set_config(gw->admin, ncfg);
	sg_sio_set_app(gw->sio, &no_app, NULL);
	sg_bridges_stop(ob, old->server.drain_timeout_ms);
	sg_eio_opts_from_config(ncfg, &eo, gw->headers, MAX_CAPTURED_HEADERS);
	sg_eio_set_opts(gw->eio, &eo);
	sg_log_set(ncfg->log.level, ncfg->log.format);
	gw->cfg = ncfg;
	sg_static_check_dirs(ncfg->server.static_mounts, ncfg->server.n_static);
	gw->bridges = nb;
	sg_bridges_set_metrics(nb, gw->metrics); /* a reload is not a restart: counters go on */
	if (sg_bridges_start(nb, gw->sio, sg_server_context(gw->server), &gw->stats, err))
		sg_err("siogate", NULL, "reload: %s (the bridges stay stopped until the next reload)", err);
	sg_bridges_destroy(ob);
	sg_config_destroy(old);
	sg_info("siogate", NULL, "configuration reloaded from %s (%zu namespace(s))", gw->config_path,
		ncfg->n_namespaces);
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

static int bridges_flushed(void *ud)
{
	struct sg_gateway *gw = ud;

	return sg_bridges_flushed(gw->bridges);
}

/* What is left of the drain budget, in ms (0 once it is spent). */
static unsigned left_ms(long long deadline)
{
	long long left = deadline - sg_mono_ms();

	return left > 0 ? (unsigned)left : 0;
}

/* The time the clients get to receive their goodbye when the bridges used the budget up. */
#define MIN_CLIENT_DRAIN_MS 100

int sg_gateway_run(struct sg_gateway *gw)
{
	long long deadline;
	unsigned left;

	sg_server_run(gw->server);
	gw->stopping = 1; /* /readyz answers 503 from here on; /healthz still 200 */
	/* One budget for the whole drain: what the bridges' flush uses, the clients lose. */
	deadline = sg_mono_ms() + gw->cfg->server.drain_timeout_ms;
	/* Upstream messages in flight are flushed first, so their acks still reach clients.
	 * The loop keeps serving meanwhile: the brokers' confirmations arrive through it (as
	 * bridge posts) and the probes still answer. New client events get an error ack. */
	if (sg_bridges_count(gw->bridges))
		sg_info("siogate", NULL, "shutting down: flushing %zu bridge(s)", sg_bridges_count(gw->bridges));
	sg_bridges_quiesce(gw->bridges);
	if (!sg_bridges_flushed(gw->bridges))
		sg_server_drain(gw->server, left_ms(deadline), bridges_flushed, gw);
	/* Every socket's disconnect and the instance's end go to the brokers with the flush. */
	sg_bridges_shutdown(gw->bridges);
	/* Whatever is still unconfirmed gets its error ack here. */
	sg_bridges_stop(gw->bridges, left_ms(deadline));
	left = left_ms(deadline);
	if (left < MIN_CLIENT_DRAIN_MS)
		left = MIN_CLIENT_DRAIN_MS;
	sg_info("siogate", NULL, "shutting down: disconnecting %zu client(s)",
		sg_sio_client_count(gw->sio));
	sg_sio_close_all(gw->sio, "server shutting down");
	for (size_t i = 0; i < gw->n_extra; i++)
		sg_eio_close_all(gw->extra[i], "server shutting down");
	sg_server_drain(gw->server, left, drained, gw);
	return 0;
}

void sg_gateway_stop(struct sg_gateway *gw)
{
	sg_server_stop(gw->server);
}
