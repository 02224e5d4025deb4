/* eio_codec.c - Engine.IO v4 packet decoding and polling payload encoding. */
#include "eio_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
