/* eio_codec.h - Engine.IO v4 packets: polling payloads, WebSocket frames. */
#ifndef SG_EIO_CODEC_H
#define SG_EIO_CODEC_H

#include <stddef.h>

#include "strbuf.h"
#include "util/base64.h" /* binary packets travel as base64; callers of the codec use it too */

enum sg_eio_type {
	SG_EIO_OPEN = 0,
	SG_EIO_CLOSE = 1,
	SG_EIO_PING = 2,
	SG_EIO_PONG = 3,
	SG_EIO_MESSAGE = 4,
	SG_EIO_UPGRADE = 5,
	SG_EIO_NOOP = 6,
};

/* Called once per decoded packet. `data` is borrowed for the call only. Binary packets are
 * messages (type SG_EIO_MESSAGE) with binary=1. Return non-zero to stop decoding. */
typedef int (*sg_eio_packet_cb)(void *ud, enum sg_eio_type type, const unsigned char *data,
				size_t len, int binary);

/* Decodes one WebSocket frame. Returns 0, -1 for an invalid packet, or the callback's value. */
int sg_eio_decode_frame(const unsigned char *p, size_t n, int binary, sg_eio_packet_cb cb, void *ud);
/* Decodes a polling request body: packets separated by 0x1e, binary ones as 'b' + base64.
 * Returns 0, -1 for an invalid payload (nothing after the first bad packet is delivered),
 * or the callback's non-zero value. */
int sg_eio_decode_payload(const unsigned char *p, size_t n, sg_eio_packet_cb cb, void *ud);

/* Appends one packet, in its WebSocket frame form, to a polling payload being built
 * (adds the 0x1e separator when the payload is not empty). */
void sg_eio_payload_append(struct sg_strbuf *sb, const unsigned char *frame, size_t n, int binary);

#endif
