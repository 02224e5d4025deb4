/* eio_codec.c - Engine.IO v4 packet decoding and polling payload encoding. */
#include "eio_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sg_base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void sg_base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		*out++ = b64chars[v >> 18];
		*out++ = b64chars[(v >> 12) & 63];
		*out++ = b64chars[(v >> 6) & 63];
		*out++ = b64chars[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
		*out++ = b64chars[v >> 18];
		*out++ = b64chars[(v >> 12) & 63];
		*out++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
}

/* A character's value in the base64 alphabet whose last two are c62 and c63 ('+' '/' for
 * base64, '-' '_' for base64url), or -1. */
static int b64_value(unsigned char c, char c62, char c63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (unsigned char)c62)
		return 62;
	if (c == (unsigned char)c63)
		return 63;
	return -1;
}

static int b64val(char c)
{
	return b64_value((unsigned char)c, '+', '/');
}

long sg_base64_decode(const char *in, size_t n, unsigned char *out)
{
	size_t i, o = 0;

	if (n % 4)
		return -1;
	for (i = 0; i < n; i += 4) {
		int a = b64val(in[i]), b = b64val(in[i + 1]);
		int c = in[i + 2] == '=' ? -2 : b64val(in[i + 2]);
		int d = in[i + 3] == '=' ? -2 : b64val(in[i + 3]);
		int last = i + 4 == n;

		if (a < 0 || b < 0 || c == -1 || d == -1)
			return -1;
		if ((c == -2 || d == -2) && !last)
			return -1; /* padding only at the very end */
		if (c == -2 && d != -2)
			return -1;
		out[o++] = (unsigned char)(a << 2 | b >> 4);
		if (c >= 0)
			out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
		if (d >= 0)
			out[o++] = (unsigned char)((c & 3) << 6 | d);
	}
	return (long)o;
}

unsigned char *sg_base64url_decode(const char *in, size_t len, size_t *out_len)
{
	unsigned char *out;
	uint32_t acc = 0;
	size_t n = 0, bits = 0;

	if (len % 4 == 1) /* 6 bits cannot end a byte */
		return NULL;
	if (!(out = malloc(len / 4 * 3 + 3)))
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i], '-', '_');

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

int sg_eio_decode_frame(const unsigned char *p, size_t n, int binary, sg_eio_packet_cb cb, void *ud)
{
	if (binary)
		return cb(ud, SG_EIO_MESSAGE, p, n, 1);
	if (n < 1 || p[0] < '0' || p[0] > '6')
		return -1;
	return cb(ud, (enum sg_eio_type)(p[0] - '0'), p + 1, n - 1, 0);
}

int sg_eio_decode_payload(const unsigned char *p, size_t n, sg_eio_packet_cb cb, void *ud)
{
	size_t start = 0;

	if (n == 0)
		return -1;
	while (start <= n) {
		const unsigned char *sep = memchr(p + start, 0x1e, n - start);
		size_t end = sep ? (size_t)(sep - p) : n;
		size_t len = end - start;
		int rc;

		if (len >= 1 && p[start] == 'b') {
			unsigned char *bin = malloc(len / 4 * 3 + 1);
			long blen;

			if (!bin)
				return -1;
			blen = sg_base64_decode((const char *)p + start + 1, len - 1, bin);
			rc = blen < 0 ? -1 : cb(ud, SG_EIO_MESSAGE, bin, (size_t)blen, 1);
			free(bin);
		} else {
			rc = sg_eio_decode_frame(p + start, len, 0, cb, ud);
		}
		if (rc)
			return rc;
		if (!sep)
			break;
		start = end + 1;
	}
	return 0;
}

void sg_eio_payload_append(struct sg_strbuf *sb, const unsigned char *frame, size_t n, int binary)
{
	if (sb->len)
		sg_strbuf_appendc(sb, 0x1e);
	if (!binary) {
		sg_strbuf_append(sb, frame, n);
		return;
	}
	{
		size_t elen = sg_base64_encoded_len(n);
		char *tmp = malloc(elen + 1);

		if (!tmp) {
			sb->oom = 1;
			return;
		}
		sg_base64_encode(frame, n, tmp);
		sg_strbuf_appendc(sb, 'b');
		sg_strbuf_append(sb, tmp, elen);
		free(tmp);
	}
}
