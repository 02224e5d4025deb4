/* eio3_codec.h - Engine.IO v3 packets (Socket.IO v2 clients, Node's `allowEIO3`):
 * WebSocket frames, string and binary polling payloads.
 *
 * The encoders take a frame in the form the v4 send queue holds (struct sg_buf): text is
 * "<type digit><data>" (identical in v3), binary is a message's raw bytes. The decoders
 * report packets through the v4 callback, so one packet handler serves both versions. */
#ifndef SG_EIO3_CODEC_H
#define SG_EIO3_CODEC_H

#include <stddef.h>

#include "eio_codec.h"
#include "strbuf.h"

/* The Content-Type of a binary payload, both ways: a POST body with exactly this type is
 * a binary payload (Node compares the whole header), and a poll answer in the binary form
 * must carry it (the client switches to an ArrayBuffer on it). String payloads travel as
 * "text/plain; charset=UTF-8". */
#define SG_EIO3_BINARY_CONTENT_TYPE "application/octet-stream"

/* Decodes one WebSocket frame. Text: "<type digit><data>", or "b<type digit><base64>" (a
 * binary packet from a client in base64 mode); binary: one type byte (0..6) then the data.
 * Binary packets are delivered with binary=1 and the type they carry (clients only send
 * SG_EIO_MESSAGE). Returns 0, -1 for an invalid packet, or the callback's value. */
int sg_eio3_decode_frame(const unsigned char *p, size_t n, int binary, sg_eio_packet_cb cb, void *ud);

/* Appends one queued frame as a v3 WebSocket frame: text unchanged; a binary message gets
 * its type byte (4) in front, or becomes the text frame "b4<base64>" for a client that asked
 * for base64 (`b64`). The result is a binary frame exactly when binary && !b64. */
void sg_eio3_frame_append(struct sg_strbuf *sb, const unsigned char *frame, size_t n, int binary, int b64);

/* Decodes a string payload: "<length>:<packet>" repeated, the length in UTF-16 code units
 * of the packet (as JavaScript counts: a code point above U+FFFF counts 2), the packet
 * "<type digit><data>" or "b<type digit><base64>". Strict: an empty payload, a length that
 * is empty, not decimal, zero, has a leading zero, runs past the end or ends inside a UTF-8
 * sequence, invalid UTF-8, an unknown type or bad base64 make the payload invalid.
 * Returns 0, -1 (nothing after the first bad packet is delivered), or the callback's value. */
int sg_eio3_decode_payload(const unsigned char *p, size_t n, sg_eio_packet_cb cb, void *ud);

/* Appends one frame to a string payload: "<length>:<frame>", the length in UTF-16 code units
 * (the frame must be UTF-8; a stray byte counts 1), a binary message as "b4<base64>".
 * Node answers an empty poll with "0:"; this codec never needs to. */
void sg_eio3_payload_append(struct sg_strbuf *sb, const unsigned char *frame, size_t n, int binary);

/* Decodes a binary payload (an XHR2 client's POST with SG_EIO3_BINARY_CONTENT_TYPE): per
 * packet one byte 0 (string) or 1 (binary), the length as decimal digits each stored as a
 * byte 0..9, a 0xff byte, then the packet. The length counts bytes for both kinds (the
 * reference clients and server UTF-8-encode string packets before measuring). A string
 * packet is UTF-8 "<type digit><data>" (or "b<type digit><base64>"), a binary one a type
 * byte then the data. Strict as sg_eio3_decode_payload: a bad kind byte, a missing 0xff,
 * an empty, zero, zero-led or oversized length, invalid UTF-8 or an unknown type make it
 * invalid. Returns 0, -1, or the callback's value. */
int sg_eio3_decode_binary_payload(const unsigned char *p, size_t n, sg_eio_packet_cb cb, void *ud);

/* Appends one frame to a binary payload: a text frame as a string packet, a binary message
 * as a binary packet with type byte 4. */
void sg_eio3_binary_payload_append(struct sg_strbuf *sb, const unsigned char *frame, size_t n, int binary);

/* Whether the `b64` query parameter asks for base64: Node's test is JavaScript truthiness,
 * so any non-empty value does ("0" too) and an empty or absent one (NULL) does not. The
 * clients send it on the handshake only; it holds for the session's polling transport. */
int sg_eio3_b64_requested(const char *value);

/* Whether a POST body with this Content-Type (NULL: none) is a binary payload. */
int sg_eio3_body_is_binary(const char *content_type);

/* Whether a poll answer must take the binary payload form, as Node decides: the client takes
 * binary (no b64) and at least one of the frames it carries is binary. Otherwise binary
 * messages go as "b4<base64>" inside a string payload. */
int sg_eio3_use_binary_payload(int b64, int any_binary);

#endif
