/* http_admin.c - /healthz, /readyz and /metrics for orchestrators and Prometheus. */
#include "http_admin.h"

#include <stdlib.h>
#include <string.h>

#include "bridges.h"
#include "metrics.h"
#include "strbuf.h"
#include "util/http.h"

static void metric(struct sg_strbuf *sb, const char *name, const char *type, const char *help, double v)
{
	sg_strbuf_appendf(sb, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

struct gauges {
	struct sg_strbuf *sb;
	int rooms;
};

static void nsp_gauge(void *ud, const char *label, size_t sockets, size_t rooms)
{
	struct gauges *g = ud;

	sg_strbuf_appendf(g->sb, "%s{namespace=\"", g->rooms ? "siogate_rooms" : "siogate_sockets");
	sg_prom_escape_label(g->sb, label);
	sg_strbuf_appendf(g->sb, "\"} %zu\n", g->rooms ? rooms : sockets);
}

/* A histogram: BUCKETS[n] counts (not cumulative, +Inf last) for the N upper BOUNDS. */
static void histogram(struct sg_strbuf *sb, const char *name, const char *help, const double *bounds,
		      const uint64_t *buckets, size_t n, double sum, uint64_t count)
{
	uint64_t cum = 0;

	sg_strbuf_appendf(sb, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < n; i++) {
		cum += buckets[i];
		sg_strbuf_appendf(sb, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
	}
	cum += buckets[n];
	sg_strbuf_appendf(sb, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", name,
			  (unsigned long long)cum, name, sum, name, (unsigned long long)count);
}

static void delivery_histograms(const struct sg_stats *st, struct sg_strbuf *sb)
{
	static const double delivery[SG_DELIVERY_BUCKETS] = SG_DELIVERY_BOUNDS;
	static const double fanout[SG_FANOUT_BUCKETS] = SG_FANOUT_BOUNDS;

	histogram(sb, "siogate_delivery_latency_seconds", "Time from a bridge handing a broker message "
		  "to the gateway until it is queued to every target client.", delivery, st->delivery_buckets,
		  SG_DELIVERY_BUCKETS, st->delivery_seconds, st->delivery_count);
	histogram(sb, "siogate_fanout_seconds", "Time from a bridge's message arriving on the event loop "
		  "until its frame has been written to the last recipient's socket (a long-polling "
		  "recipient: copied into its pending response).", fanout,
		  st->fanout_buckets, SG_FANOUT_BUCKETS, st->fanout_seconds, st->fanout_count);
	sg_strbuf_appendf(sb, "# HELP siogate_fanout_recipients_total Sockets the broadcasts of "
			      "siogate_fanout_seconds were queued to.\n# TYPE siogate_fanout_recipients_total "
			      "counter\nsiogate_fanout_recipients_total %llu\n",
			  (unsigned long long)st->fanout_recipients);
}

void sg_admin_metrics(const struct sg_stats *st, struct sg_sio *sio, struct sg_bridges *b,
		      struct sg_strbuf *sb)
{
	struct gauges g = { sb, 0 };

	sg_strbuf_appendf(sb, "# HELP siogate_connected_clients Engine.IO sessions open now, by transport.\n"
			      "# TYPE siogate_connected_clients gauge\n"
			      "siogate_connected_clients{transport=\"polling\"} %llu\n"
			      "siogate_connected_clients{transport=\"websocket\"} %llu\n",
			  (unsigned long long)st->sessions_polling, (unsigned long long)st->sessions_websocket);
	metric(sb, "siogate_sessions_opened_total", "counter", "Engine.IO sessions opened.", (double)st->sessions_opened);
	metric(sb, "siogate_sessions_eio3_opened_total", "counter",
	       "Engine.IO v3 sessions opened (Socket.IO v2 clients, server.allow_eio3).", (double)st->sessions_eio3);
	metric(sb, "siogate_sessions_closed_total", "counter", "Engine.IO sessions closed.", (double)st->sessions_closed);
	metric(sb, "siogate_upgrades_total", "counter", "Sessions upgraded from polling to WebSocket.", (double)st->upgrades);
	metric(sb, "siogate_packets_received_total", "counter", "Engine.IO messages received.", (double)st->frames_in);
	metric(sb, "siogate_received_bytes_total", "counter", "Bytes of Engine.IO messages received.", (double)st->bytes_in);
	metric(sb, "siogate_packets_sent_total", "counter", "Engine.IO frames sent.", (double)st->frames_out);
	metric(sb, "siogate_sent_bytes_total", "counter", "Bytes of Engine.IO frames sent.", (double)st->bytes_out);
	metric(sb, "siogate_websocket_writes_total", "counter",
	       "WebSocket writes: the frames queued to a socket go out together, so packets sent / writes is the frames per write.",
	       (double)st->ws_writes);
	metric(sb, "siogate_invalid_packets_total", "counter", "Sessions closed for a malformed packet.", (double)st->invalid_packets);
	metric(sb, "siogate_oversize_payloads_total", "counter", "Sessions closed for exceeding max_payload.", (double)st->oversize_payloads);
	metric(sb, "siogate_ping_timeouts_total", "counter", "Sessions closed by the heartbeat.", (double)st->ping_timeouts);
	metric(sb, "siogate_send_queue_drops_total", "counter", "Volatile packets dropped on a full send queue.", (double)st->volatile_dropped);
	metric(sb, "siogate_slow_client_disconnects_total", "counter", "Clients disconnected because their send queue overflowed.", (double)st->slow_disconnects);
	metric(sb, "siogate_socket_connects_total", "counter", "Namespace connections accepted.", (double)st->sockets_connected);
	metric(sb, "siogate_socket_rejects_total", "counter", "Namespace connections refused (CONNECT_ERROR).", (double)st->sockets_rejected);
	sg_strbuf_appendf(sb, "# HELP siogate_acks_total Client acks answered by the gateway, by result.\n"
			      "# TYPE siogate_acks_total counter\n"
			      "siogate_acks_total{result=\"ok\"} %llu\nsiogate_acks_total{result=\"error\"} %llu\n",
			  (unsigned long long)st->acks_ok, (unsigned long long)st->acks_error);
	sg_strbuf_appendf(sb, "# HELP siogate_connections_refused_total TCP connections closed at once, by reason.\n"
			      "# TYPE siogate_connections_refused_total counter\n"
			      "siogate_connections_refused_total{reason=\"max_connections\"} %llu\n",
			  (unsigned long long)st->connections_refused);
	metric(sb, "siogate_broadcasts_total", "counter", "Packets encoded once for a room broadcast.", (double)st->broadcasts);
	sg_strbuf_appendf(sb, "# HELP siogate_room_joins_refused_total Joins of a room named like another "
			      "socket's id, refused, by who asked.\n# TYPE siogate_room_joins_refused_total counter\n"
			      "siogate_room_joins_refused_total{by=\"client\"} %llu\n"
			      "siogate_room_joins_refused_total{by=\"auto_join\"} %llu\n"
			      "siogate_room_joins_refused_total{by=\"control\"} %llu\n",
			  (unsigned long long)st->joins_refused[0], (unsigned long long)st->joins_refused[1],
			  (unsigned long long)st->joins_refused[2]);
	sg_strbuf_appendf(sb, "# HELP siogate_recovery_sessions_total Connection state recovery sessions, by what "
			      "became of them: kept (a socket dropped), recovered (a client took its session "
			      "over), expired (let go unused), missed (a CONNECT whose pid found none).\n"
			      "# TYPE siogate_recovery_sessions_total counter\n"
			      "siogate_recovery_sessions_total{event=\"kept\"} %llu\n"
			      "siogate_recovery_sessions_total{event=\"recovered\"} %llu\n"
			      "siogate_recovery_sessions_total{event=\"expired\"} %llu\n"
			      "siogate_recovery_sessions_total{event=\"missed\"} %llu\n",
			  (unsigned long long)st->rec_kept, (unsigned long long)st->rec_recovered,
			  (unsigned long long)st->rec_expired, (unsigned long long)st->rec_missed);
	metric(sb, "siogate_recovery_sessions", "gauge", "Recovery sessions kept now, waiting for their client.",
	       (double)st->rec_sessions);
	metric(sb, "siogate_recovery_packets", "gauge", "Packets kept now for replay to recovering clients.",
	       (double)st->rec_packets);
	metric(sb, "siogate_recovery_bytes", "gauge", "Bytes of the packets kept for replay.", (double)st->rec_bytes);
	metric(sb, "siogate_recovery_replayed_total", "counter", "Packets replayed to recovered sockets.",
	       (double)st->rec_replayed);
	metric(sb, "siogate_recovery_packets_dropped_total", "counter",
	       "Packets let go before max_disconnection_ms because of max_packets or max_bytes.",
	       (double)st->rec_packets_dropped);
	metric(sb, "siogate_recovery_sessions_persisted_total", "counter",
	       "Recovery sessions handed to the broker (recovery.sessions_topic).", (double)st->rec_persisted);
	metric(sb, "siogate_recovery_sessions_restored_total", "counter",
	       "Recovery sessions taken from the broker: kept by another process or an earlier one.",
	       (double)st->rec_restored);
	metric(sb, "siogate_recovery_sessions_malformed_total", "counter",
	       "Recovery sessions from the broker refused as malformed (a sid, pid, rooms, claims or "
	       "client_rooms that a gateway would not write): their clients got fresh sessions.",
	       (double)st->rec_malformed);
	metric(sb, "siogate_recovery_replays_overflowed_total", "counter",
	       "Recovered sockets closed because more than max_bytes of live packets waited behind "
	       "their replay from the broker.", (double)st->rec_held_over);
	sg_strbuf_appendf(sb, "# HELP siogate_admin_ui_logins_total Logins to the Socket.IO Admin UI's namespace "
			      "(admin_ui), by result: ok, or refused (wrong or missing credentials, or throttled).\n"
			      "# TYPE siogate_admin_ui_logins_total counter\n"
			      "siogate_admin_ui_logins_total{result=\"ok\"} %llu\n"
			      "siogate_admin_ui_logins_total{result=\"refused\"} %llu\n"
			      "# HELP siogate_admin_ui_operations_total Operations sent by the Admin UI (join, leave, "
			      "_disconnect, emit), by result: applied, or refused (read_only, or unknown).\n"
			      "# TYPE siogate_admin_ui_operations_total counter\n"
			      "siogate_admin_ui_operations_total{result=\"applied\"} %llu\n"
			      "siogate_admin_ui_operations_total{result=\"refused\"} %llu\n",
			  (unsigned long long)st->admin_logins_ok, (unsigned long long)st->admin_logins_failed,
			  (unsigned long long)st->admin_ops, (unsigned long long)st->admin_ops_refused);
	if (sio) {
		sg_strbuf_appendf(sb, "# HELP siogate_sockets Sockets connected now, by configured namespace "
				      "(a dynamic namespace entry sums its namespaces under its match).\n"
				      "# TYPE siogate_sockets gauge\n");
		sg_sio_nsp_gauges(sio, nsp_gauge, &g);
		g.rooms = 1;
		sg_strbuf_appendf(sb, "# HELP siogate_rooms Rooms in use now (not counting each socket's own "
				      "room), by configured namespace.\n# TYPE siogate_rooms gauge\n");
		sg_sio_nsp_gauges(sio, nsp_gauge, &g);
	}
	delivery_histograms(st, sb);
	if (st->event_loop)
		sg_strbuf_appendf(sb, "# HELP siogate_event_loop_info The event loop under libwebsockets "
				      "(server.event_loop).\n# TYPE siogate_event_loop_info gauge\n"
				      "siogate_event_loop_info{loop=\"%s\"} 1\n", st->event_loop);
	sg_bridges_metrics(b, sb);
}

/* Appends `prefix` and the bridges' published facts, if any. Returns 1 when it did. */
static int append_info(struct sg_strbuf *sb, struct sg_bridges *b, const char *prefix)
{
	json_t *info = sg_bridges_info(b);
	char *text = info && json_object_size(info) ? json_dumps(info, JSON_COMPACT) : NULL;
	int done = text != NULL;

	if (text) {
		sg_strbuf_append(sb, prefix, strlen(prefix));
		sg_strbuf_append(sb, text, strlen(text));
		free(text);
	}
	json_decref(info);
	return done;
}

int sg_admin_handle(const struct sg_stats *st, struct sg_sio *sio, struct sg_bridges *b, int stopping,
		    struct lws *wsi, const char *uri, int *rc)
{
	struct sg_strbuf sb;
	char reason[256];

	if (!strcmp(uri, "/healthz")) {
		*rc = sg_http_respond(wsi, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
		return 1;
	}
	if (!strcmp(uri, "/readyz")) {
		int ready = !stopping && sg_bridges_ready(b, reason, sizeof(reason));

		if (stopping)
			strcpy(reason, "shutting down");
		sg_strbuf_init(&sb);
		sg_strbuf_appendf(&sb, "{\"status\":\"%s\"", ready ? "ready" : "not ready");
		if (!ready) {
			sg_strbuf_append(&sb, ",\"reason\":", 10);
			sg_json_append_string(&sb, reason, strlen(reason));
		}
		append_info(&sb, b, ",\"info\":");
		sg_strbuf_appendc(&sb, '}');
		*rc = sb.oom ? -1 : sg_http_respond(wsi, ready ? 200 : 503, "application/json", sb.data, sb.len, NULL);
		sg_strbuf_free(&sb);
		return 1;
	}
	if (!strcmp(uri, "/metrics")) {
		sg_strbuf_init(&sb);
		sg_admin_metrics(st, sio, b, &sb);
		*rc = sb.oom ? -1 : sg_http_respond(wsi, 200, "text/plain; version=0.0.4", sb.data, sb.len, NULL);
		sg_strbuf_free(&sb);
		return 1;
	}
	return 0;
}

int sg_admin_demo_info(struct sg_bridges *b, struct lws *wsi, const char *uri, int *rc)
{
	struct sg_strbuf sb;

	if (strcmp(uri, "/demo/info"))
		return 0;
	/* What a demo page needs to tell its user, e.g. an embedded broker's address. */
	sg_strbuf_init(&sb);
	sg_strbuf_appendc(&sb, '{');
	if (!append_info(&sb, b, "\"info\":"))
		sg_strbuf_append(&sb, "\"info\":{}", 9);
	sg_strbuf_appendc(&sb, '}');
	*rc = sb.oom ? -1 : sg_http_respond(wsi, 200, "application/json", sb.data, sb.len, NULL);
	sg_strbuf_free(&sb);
	return 1;
}
