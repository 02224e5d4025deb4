/* stats.h - counters the gateway keeps for /metrics and logs (loop thread only). */
#ifndef SG_STATS_H
#define SG_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds (seconds) of the downstream delivery latency histogram's buckets; +Inf is
 * implied. The time from a bridge handing a broker message to the host (emit) until it is
 * queued to every target client. */
#define SG_DELIVERY_BOUNDS { 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, \
			     0.0025, 0.005, 0.01, 0.025, 0.1 }
#define SG_DELIVERY_BUCKETS 12

/* Upper bounds (seconds) of the fan-out histogram (siogate_fanout_seconds): from a broadcast's
 * arrival on the loop until its frame has been written to the last recipient's socket (or
 * dropped with a closing one). Larger rooms need the upper buckets. */
#define SG_FANOUT_BOUNDS { 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, \
			   0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1 }
#define SG_FANOUT_BUCKETS 16

struct sg_stats {
	uint64_t sessions_opened;       /* Engine.IO sessions */
	uint64_t sessions_eio3;         /* of which Engine.IO v3 (Socket.IO v2 clients) */
	uint64_t sessions_closed;
	uint64_t sessions_polling;      /* gauge: open sessions on long-polling */
	uint64_t sessions_websocket;    /* gauge: open sessions on WebSocket */
	uint64_t upgrades;
	uint64_t frames_in, bytes_in;   /* Engine.IO messages received */
	uint64_t frames_out, bytes_out; /* frames written (WebSocket) or packed (polling) */
	uint64_t ws_writes;             /* lws_write() calls for WebSocket frames (coalesced) */
	uint64_t invalid_packets;       /* sessions closed for a malformed packet */
	uint64_t oversize_payloads;     /* sessions closed for exceeding max_payload */
	uint64_t volatile_dropped;      /* volatile frames dropped on a full queue */
	uint64_t slow_disconnects;      /* sessions closed because their send queue overflowed */
	uint64_t ping_timeouts;
	uint64_t sockets_connected;     /* Socket.IO namespace connections accepted */
	uint64_t sockets_rejected;      /* CONNECT_ERRORs sent */
	uint64_t acks_ok, acks_error;   /* acknowledgements answered by the gateway */
	uint64_t joins_refused[3];      /* joins of another socket's id room, by enum sg_join_by
	                                   (client, auto_join, control) */
	uint64_t broadcasts;            /* packets encoded for a room broadcast */
	uint64_t delivery_buckets[SG_DELIVERY_BUCKETS + 1]; /* per bucket (not cumulative), +Inf last */
	uint64_t delivery_count;
	double delivery_seconds;        /* sum */
	uint64_t connections_refused;   /* closed at accept: server.max_connections reached */
	uint64_t fanout_buckets[SG_FANOUT_BUCKETS + 1]; /* per bucket (not cumulative), +Inf last */
	uint64_t fanout_count;
	double fanout_seconds;          /* sum */
	uint64_t fanout_recipients;     /* sockets the measured broadcasts were queued to */
	const char *event_loop;         /* "poll", "libuv"...: the server's (static string) */
	/* Connection state recovery (sio_recovery.c), summed over the namespaces that have it. */
	uint64_t rec_kept;              /* sessions kept when their socket dropped */
	uint64_t rec_recovered;         /* sessions restored to a reconnecting client */
	uint64_t rec_expired;           /* sessions dropped unused (timed out, or the oldest when full) */
	uint64_t rec_missed;            /* CONNECTs with a pid that could not be recovered */
	uint64_t rec_replayed;          /* packets replayed to recovered sockets */
	uint64_t rec_sessions;          /* gauge: sessions kept now */
	uint64_t rec_packets;           /* gauge: packets kept for replay now */
	uint64_t rec_bytes;             /* gauge: their bytes */
	uint64_t rec_packets_dropped;   /* packets let go before their time (max_packets, max_bytes) */
	uint64_t rec_persisted;         /* sessions handed to the broker (sessions_topic) */
	uint64_t rec_restored;          /* sessions taken from the broker (another process's) */
	uint64_t rec_malformed;         /* sessions from the broker refused as malformed */
	uint64_t rec_held_over;         /* recoveries given up: too much held back during a replay */
	/* The Admin UI (admin_ui.c). */
	uint64_t admin_logins_ok, admin_logins_failed;
	uint64_t admin_ops, admin_ops_refused; /* its operations applied; refused (read_only, unknown) */
};

/* One observation D (seconds, negative taken as 0) into a histogram of N upper BOUNDS with
 * BUCKETS[N + 1] (not cumulative, +Inf last), its COUNT and SUM. */
static inline void sg_hist_observe(uint64_t *buckets, const double *bounds, size_t n, uint64_t *count, double *sum,
				   double d)
{
	size_t i = 0;

	if (d < 0)
		d = 0;
	while (i < n && d > bounds[i])
		i++;
	buckets[i]++;
	(*count)++;
	*sum += d;
}

#endif
