/* stats.h - counters the gateway keeps for /metrics and logs (loop thread only). */
#ifndef SG_STATS_H
#define SG_STATS_H

#include <stdint.h>

struct sg_stats {
	uint64_t sessions_opened;       /* Engine.IO sessions */
	uint64_t sessions_closed;
	uint64_t sessions_polling;      /* gauge: open sessions on long-polling */
	uint64_t sessions_websocket;    /* gauge: open sessions on WebSocket */
	uint64_t upgrades;
	uint64_t frames_in, bytes_in;   /* Engine.IO messages received */
	uint64_t frames_out, bytes_out; /* frames written (WebSocket) or packed (polling) */
	uint64_t invalid_packets;       /* sessions closed for a malformed packet */
	uint64_t oversize_payloads;     /* sessions closed for exceeding max_payload */
	uint64_t volatile_dropped;      /* volatile frames dropped on a full queue */
	uint64_t slow_disconnects;      /* sessions closed because their send queue overflowed */
	uint64_t ping_timeouts;
	uint64_t sockets_connected;     /* Socket.IO namespace connections accepted */
	uint64_t sockets_rejected;      /* CONNECT_ERRORs sent */
	uint64_t acks_ok, acks_error;   /* acknowledgements answered by the gateway */
	uint64_t broadcasts;            /* packets encoded for a room broadcast */
};

#endif
