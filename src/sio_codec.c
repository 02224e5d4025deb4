/* sio_codec.c - Socket.IO v5 packet parsing with the reference parser's validation rules. */
#include "sio_codec.h"
#include "util/reserved.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int payload_valid(enum sg_sio_type type, const json_t *d)
{
	switch (type) {
	case SG_SIO_CONNECT:
		return !d || json_is_object(d);
	case SG_SIO_DISCONNECT:
		return !d;
	case SG_SIO_CONNECT_ERROR:
		return d && (json_is_string(d) || json_is_object(d));
	case SG_SIO_EVENT:
	case SG_SIO_BINARY_EVENT: {
		const json_t *first;

		if (!json_is_array(d) || json_array_size(d) == 0)
			return 0;
		first = json_array_get(d, 0);
		return json_is_number(first) ||
		       (json_is_string(first) && !sg_event_reserved(json_string_value(first)));
	}
	case SG_SIO_ACK:
	case SG_SIO_BINARY_ACK:
		return json_is_array(d);
	}
	return 0;
}

long sg_sio_placeholder_num(const json_t *v)
{
	const json_t *ph, *num;
	double d;

	if (!json_is_object(v) || json_object_size(v) != 2)
		return -1;
	ph = json_object_get(v, "_placeholder");
	num = json_object_get(v, "num");
	if (!json_is_true(ph) || !json_is_number(num))
		return -1;
	d = json_number_value(num);
	if (d < 0 || d > SG_SIO_MAX_ATTACHMENTS || d != (double)(long)d)
		return -1;
	return (long)d;
}

long sg_sio_check_placeholders(const json_t *v, size_t n)
{
	long count = 0, c;

	if (json_is_object(v)) {
		const char *k;
		json_t *x;

		if (json_object_get(v, "_placeholder")) {
			c = sg_sio_placeholder_num(v);
			return c < 0 || (size_t)c >= n ? -1 : 1;
		}
		json_object_foreach((json_t *)v, k, x) {
			if ((c = sg_sio_check_placeholders(x, n)) < 0)
				return -1;
			count += c;
		}
	} else if (json_is_array(v)) {
		size_t i;

		for (i = 0; i < json_array_size(v); i++) {
			if ((c = sg_sio_check_placeholders(json_array_get(v, i), n)) < 0)
				return -1;
			count += c;
		}
	}
	return count;
}

#define FAIL(...) do { snprintf(why, whylen, __VA_ARGS__); goto fail; } while (0)

int sg_sio_decode(const char *s, size_t n, struct sg_sio_packet *out, char *why, size_t whylen)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	out->id = -1;
	if (n < 1 || s[0] < '0' || s[0] > '6')
		FAIL("unknown packet type");
	out->type = (enum sg_sio_type)(s[0] - '0');
	i = 1;

	if (out->type == SG_SIO_BINARY_EVENT || out->type == SG_SIO_BINARY_ACK) {
		size_t start = i, count = 0;

		while (i < n && s[i] >= '0' && s[i] <= '9') {
			count = count * 10 + (size_t)(s[i] - '0');
			if (count > SG_SIO_MAX_ATTACHMENTS)
				FAIL("too many attachments (the limit is %d)", SG_SIO_MAX_ATTACHMENTS);
			i++;
		}
		/* At least one: a binary type announcing none is illegal (socket.io-parser 4.2.7). */
		if (i == start || i >= n || s[i] != '-' || count == 0)
			FAIL("illegal attachments");
		i++;
		out->n_attachments = count;
	}

	if (i < n && s[i] == '/') {
		size_t start = i;

		while (i < n && s[i] != ',')
			i++;
		if (memchr(s + start, '\0', i - start))
			FAIL("invalid namespace");
		out->nsp = strndup(s + start, i - start);
		if (i < n)
			i++; /* the ',' */
	} else {
		out->nsp = strdup("/");
	}
	if (!out->nsp)
		FAIL("out of memory");

	if (i < n && s[i] >= '0' && s[i] <= '9') {
		int64_t id = 0;

		while (i < n && s[i] >= '0' && s[i] <= '9') {
			id = id * 10 + (s[i] - '0');
			if (id > SG_SIO_MAX_ACK_ID)
				FAIL("invalid ack id");
			i++;
		}
		out->id = id;
	}

	if (i < n) {
		json_error_t jerr;

		out->data = json_loadb(s + i, n - i, SG_JSON_DECODE_FLAGS, &jerr);
		if (!out->data)
			FAIL("invalid payload (%s)", jerr.text);
	}
	if (!payload_valid(out->type, out->data))
		FAIL("invalid payload");
	if (out->id >= 0 && out->type != SG_SIO_EVENT && out->type != SG_SIO_BINARY_EVENT &&
	    out->type != SG_SIO_ACK && out->type != SG_SIO_BINARY_ACK)
		FAIL("unexpected ack id");
	if ((out->type == SG_SIO_ACK || out->type == SG_SIO_BINARY_ACK) && out->id < 0)
		FAIL("missing ack id");

	/* Every placeholder must name an announced attachment, in every packet type: a
	 * dangling one would later be taken for binary data that does not exist. */
	if (sg_sio_check_placeholders(out->data, out->n_attachments) < 0)
		FAIL("invalid attachment placeholder");
	if (out->n_attachments) {
		out->attachments = calloc(out->n_attachments, sizeof(*out->attachments));
		if (!out->attachments)
			FAIL("out of memory");
	}
	return 0;
fail:
	sg_sio_packet_clear(out);
	return -1;
}

int sg_sio_add_attachment(struct sg_sio_packet *p, const unsigned char *data, size_t len)
{
	struct sg_bin *b;

	if (p->n_received >= p->n_attachments)
		return -1;
	b = &p->attachments[p->n_received];
	b->data = malloc(len ? len : 1);
	if (!b->data)
		return -1;
	memcpy(b->data, data, len);
	b->len = len;
	return ++p->n_received == p->n_attachments;
}

void sg_sio_packet_clear(struct sg_sio_packet *p)
{
	size_t i;

	free(p->nsp);
	json_decref(p->data);
	for (i = 0; p->attachments && i < p->n_attachments; i++)
		free(p->attachments[i].data);
	free(p->attachments);
	memset(p, 0, sizeof(*p));
	p->id = -1;
}

int sg_sio_encode(struct sg_strbuf *sb, enum sg_sio_type type, const char *nsp, int64_t id,
		  const json_t *data, size_t n_attachments)
{
	char hdr[64];
	int hl;

	hl = snprintf(hdr, sizeof(hdr), "4%d", (int)type);
	if (type == SG_SIO_BINARY_EVENT || type == SG_SIO_BINARY_ACK)
		hl += snprintf(hdr + hl, sizeof(hdr) - (size_t)hl, "%zu-", n_attachments);
	sg_strbuf_append(sb, hdr, (size_t)hl);
	if (nsp && strcmp(nsp, "/")) {
		sg_strbuf_append(sb, nsp, strlen(nsp));
		sg_strbuf_appendc(sb, ','); /* always, as the reference encoder does */
	}
	if (id >= 0)
		sg_strbuf_appendf(sb, "%lld", (long long)id);
	if (data && sg_json_append(sb, data))
		return -1;
	return sb->oom ? -1 : 0;
}
