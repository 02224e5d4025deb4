/* eio3_codec.c - Engine.IO v3 packet decoding and encoding (see eio3_codec.h). */
#include "eio3_codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"
#include "util/utf8.h"

/* What JavaScript's String.length gives for this UTF-8 text. */
static size_t utf16_units(const unsigned char *p, size_t n)
{
	size_t i = 0, units = 0;
	uint32_t cp;

	while (i < n) {
		size_t l = sg_utf8_seq(p + i, n - i, &cp);

		if (!l) {
			l = 1; /* not ours to fix: count the byte and go on */
			cp = 0;
		}
		units += cp > 0xffff ? 2 : 1;
		i += l;
	}
	return units;
}

/* Reads a length: digits (bytes zero..zero+9) up to the byte `term`, which is consumed.
 * The value must be 1..limit; the run is bounded because each digit is checked against
 * the limit (no leading zeros, so no long runs of them either). 0, or -1 when invalid. */
static int read_len(const unsigned char *p, size_t n, size_t *pos, unsigned char zero,
		    unsigned char term, size_t limit, size_t *out)
{
	size_t i = *pos, v = 0;

	for (; i < n && p[i] != term; i++) {
		unsigned d = (unsigned)(unsigned char)(p[i] - zero);

		if (d > 9 || (i == *pos && d == 0) || d > limit || v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (i == n || i == *pos)
		return -1;
	*pos = i + 1;
	*out = v;
	return 0;
}

/* A text packet: "<type digit><data>", or a binary one in base64 "b<type digit><base64>". */
static int decode_text_packet(const unsigned char *p, size_t n, sg_eio_packet_cb cb, void *ud)
{
	unsigned char *bin;
	long blen;
	int rc;

	if (n >= 1 && p[0] != 'b') {
		if (p[0] < '0' || p[0] > '6')
			return -1;
		return cb(ud, (enum sg_eio_type)(p[0] - '0'), p + 1, n - 1, 0);
	}
	if (n < 2 || p[1] < '0' || p[1] > '6')
		return -1;
	bin = malloc((n - 2) / 4 * 3 + 1);
	if (!bin)
		return -1;
	blen = sg_base64_decode((const char *)p + 2, n - 2, bin);
	rc = blen < 0 ? -1 : cb(ud, (enum sg_eio_type)(p[1] - '0'), bin, (size_t)blen, 1);
	free(bin);
	return rc;
}

int sg_eio3_decode_frame(const unsigned char *p, size_t n, int binary, sg_eio_packet_cb cb, void *ud)
{
	if (!binary)
		return decode_text_packet(p, n, cb, ud);
	if (n < 1 || p[0] > SG_EIO_NOOP)
		return -1;
	return cb(ud, (enum sg_eio_type)p[0], p + 1, n - 1, 1);
}

/* Appends "<t>" + base64(data): the base64 form of a binary packet, t = "b4". */
static void append_b64(struct sg_strbuf *sb, const unsigned char *data, size_t n)
{
	size_t elen = sg_base64_encoded_len(n);
	char *tmp = malloc(elen + 1);

	if (!tmp) {
		sb->oom = 1;
		return;
	}
	sg_base64_encode(data, n, tmp);
	sg_strbuf_append(sb, "b4", 2);
	sg_strbuf_append(sb, tmp, elen);
	free(tmp);
}

void sg_eio3_frame_append(struct sg_strbuf *sb, const unsigned char *frame, size_t n, int binary, int b64)
{
	if (!binary) {
		sg_strbuf_append(sb, frame, n);
	} else if (b64) {
		append_b64(sb, frame, n);
	} else {
		sg_strbuf_appendc(sb, SG_EIO_MESSAGE);
		sg_strbuf_append(sb, frame, n);
	}
}

int sg_eio3_decode_payload(const unsigned char *p, size_t n, sg_eio_packet_cb cb, void *ud)
{
	size_t pos = 0;

	if (n == 0)
		return -1;
	while (pos < n) {
		size_t units, start, seen = 0;
		uint32_t cp;
		int rc;

		/* A unit takes at least one byte, so n bounds the length. */
		if (read_len(p, n, &pos, '0', ':', n, &units))
			return -1;
		start = pos;
		while (seen < units) {
			size_t l = pos < n ? sg_utf8_seq(p + pos, n - pos, &cp) : 0;

			if (!l)
				return -1;
			seen += cp > 0xffff ? 2 : 1;
			pos += l;
		}
		if (seen != units)
			return -1; /* the length ends between the halves of a surrogate pair */
		rc = decode_text_packet(p + start, pos - start, cb, ud);
		if (rc)
			return rc;
	}
	return 0;
}

/* Appends a decimal length: ASCII digits, or (zero == 0) the binary form's digit bytes. */
static void append_len(struct sg_strbuf *sb, size_t v, unsigned char zero)
{
	char d[24];
	int k = snprintf(d, sizeof(d), "%zu", v);

	for (int i = 0; i < k; i++)
		sg_strbuf_appendc(sb, (char)(d[i] - '0' + zero));
}

void sg_eio3_payload_append(struct sg_strbuf *sb, const unsigned char *frame, size_t n, int binary)
{
	if (binary) {
		append_len(sb, 2 + sg_base64_encoded_len(n), '0');
		sg_strbuf_appendc(sb, ':');
		append_b64(sb, frame, n);
		return;
	}
	append_len(sb, utf16_units(frame, n), '0');
	sg_strbuf_appendc(sb, ':');
	sg_strbuf_append(sb, frame, n);
}

int sg_eio3_decode_binary_payload(const unsigned char *p, size_t n, sg_eio_packet_cb cb, void *ud)
{
	size_t pos = 0;

	if (n == 0)
		return -1;
	while (pos < n) {
		unsigned char kind = p[pos++];
		size_t len;
		int rc;

		if (kind > 1 || read_len(p, n, &pos, 0, 0xff, n, &len) || len > n - pos)
			return -1;
		if (kind == 0)
			rc = sg_utf8_valid(p + pos, len) ? decode_text_packet(p + pos, len, cb, ud) : -1;
		else
			rc = sg_eio3_decode_frame(p + pos, len, 1, cb, ud);
		if (rc)
			return rc;
		pos += len;
	}
	return 0;
}

void sg_eio3_binary_payload_append(struct sg_strbuf *sb, const unsigned char *frame, size_t n, int binary)
{
	sg_strbuf_appendc(sb, binary ? 1 : 0);
	append_len(sb, binary ? n + 1 : n, 0);
	sg_strbuf_appendc(sb, (char)0xff);
	if (binary)
		sg_strbuf_appendc(sb, SG_EIO_MESSAGE);
	sg_strbuf_append(sb, frame, n);
}

int sg_eio3_b64_requested(const char *value)
{
	return value && value[0];
}

int sg_eio3_body_is_binary(const char *content_type)
{
	return content_type && strcmp(content_type, SG_EIO3_BINARY_CONTENT_TYPE) == 0;
}

int sg_eio3_use_binary_payload(int b64, int any_binary)
{
	return !b64 && any_binary;
}
