/* sio_codec.h - Socket.IO v5 packets: decoding with validation, encoding to Engine.IO frames. */
#ifndef SG_SIO_CODEC_H
#define SG_SIO_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "strbuf.h"

enum sg_sio_type {
	SG_SIO_CONNECT = 0,
	SG_SIO_DISCONNECT = 1,
	SG_SIO_EVENT = 2,
	SG_SIO_ACK = 3,
	SG_SIO_CONNECT_ERROR = 4,
	SG_SIO_BINARY_EVENT = 5,
	SG_SIO_BINARY_ACK = 6,
};

/* The most attachments one packet may announce; more is an invalid packet. */
#define SG_SIO_MAX_ATTACHMENTS 256
/* Ack ids are non-negative integers below 2^53 (JavaScript's safe integers). */
#define SG_SIO_MAX_ACK_ID 9007199254740991LL

struct sg_bin {
	unsigned char *data; /* owned */
	size_t len;
};

/* A decoded packet. Binary arguments stay as {"_placeholder":true,"num":N} objects inside
 * `data`, with the bytes in `attachments[N]`, so they can be forwarded without rebuilding. */
struct sg_sio_packet {
	enum sg_sio_type type;
	char *nsp;              /* owned; "/" when absent */
	int64_t id;             /* ack id, or -1 */
	json_t *data;           /* owned; NULL when absent */
	size_t n_attachments;   /* announced by a binary packet */
	size_t n_received;      /* filled so far */
	struct sg_bin *attachments; /* owned array of n_attachments */
};

/* Decodes the Socket.IO part of an Engine.IO message (without the leading '4').
 * Returns 0 and fills *out (free with sg_sio_packet_clear), or -1 with a reason in `why`. */
int sg_sio_decode(const char *s, size_t n, struct sg_sio_packet *out, char *why, size_t whylen);
/* Adds the next binary attachment of a pending packet (copies the bytes).
 * Returns 1 when the packet is now complete, 0 when more are expected, -1 on error. */
int sg_sio_add_attachment(struct sg_sio_packet *p, const unsigned char *data, size_t len);
void sg_sio_packet_clear(struct sg_sio_packet *p);

/* Encodes the text frame of a packet: "4" (Engine.IO message) + Socket.IO packet, into `sb`
 * (which the caller initialised, usually with LWS_PRE headroom). For binary types,
 * `n_attachments` is written into the header; the attachments travel as separate frames.
 * `data` is borrowed and may be NULL. Returns 0, or -1 on an unserializable value. */
int sg_sio_encode(struct sg_strbuf *sb, enum sg_sio_type type, const char *nsp, int64_t id,
		  const json_t *data, size_t n_attachments);

/* Counts placeholders in `data` and checks each has 0 <= num < n. Returns the count or -1. */
long sg_sio_check_placeholders(const json_t *data, size_t n);
/* Is `v` a {"_placeholder":true,"num":N} object? Returns N or -1. */
long sg_sio_placeholder_num(const json_t *v);

/* JSON decoding flags for client payloads: numbers become doubles as in JavaScript. */
#define SG_JSON_DECODE_FLAGS (JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)

#endif
