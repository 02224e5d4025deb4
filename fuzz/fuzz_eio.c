/* fuzz_eio.c - Engine.IO codec: polling payloads (0x1e-separated, "b" + base64 binary
 * packets), WebSocket frames (text and binary) and base64.
 *
 * Invariants: a payload that decodes is re-encoded packet by packet with
 * sg_eio_payload_append and must decode to the same packets; bytes that decode as base64
 * re-encode to text that decodes to the same bytes. */
#include "eio_codec.h"
#include "strbuf.h"

#include "common.h"

#define MAX_PKTS 4096

struct pkt {
	int type, binary;
	unsigned char *data;
	size_t len;
};

struct pkts {
	struct pkt p[MAX_PKTS];
	size_t n;
	int stop_after; /* stop decoding (return 7) after this many packets; 0: never */
};

static int collect(void *ud, enum sg_eio_type type, const unsigned char *data, size_t len, int binary)
{
	struct pkts *ps = ud;
	struct pkt *p;

	FUZZ_CHECK((int)type >= SG_EIO_OPEN && (int)type <= SG_EIO_NOOP);
	FUZZ_CHECK(!binary || type == SG_EIO_MESSAGE);
	FUZZ_CHECK(len == 0 || data != NULL);
	if (ps->n == MAX_PKTS)
		return 9;
	p = &ps->p[ps->n++];
	p->type = (int)type;
	p->binary = binary;
	p->len = len;
	p->data = fuzz_dup(data, len, 0); /* reads every byte: ASan checks the bounds */
	if (ps->stop_after && ps->n == (size_t)ps->stop_after)
		return 7;
	return 0;
}

static void pkts_free(struct pkts *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->p[i].data);
	ps->n = 0;
}

static int pkt_eq(const struct pkt *a, const struct pkt *b)
{
	return a->type == b->type && a->binary == b->binary && a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void fuzz_payload(const uint8_t *data, size_t size)
{
	static struct pkts a, b;
	unsigned char *copy = fuzz_dup(data, size, 0);
	int rc;

	a.stop_after = 0;
	rc = sg_eio_decode_payload(copy, size, collect, &a);
	FUZZ_CHECK(rc == 0 || rc == -1 || rc == 9);
	if (rc == 0) {
		struct sg_strbuf sb;

		FUZZ_CHECK(a.n >= 1);
		sg_strbuf_init(&sb);
		for (size_t i = 0; i < a.n; i++) {
			const struct pkt *p = &a.p[i];

			if (p->binary) {
				sg_eio_payload_append(&sb, p->data, p->len, 1);
			} else {
				unsigned char *frame = malloc(p->len + 1);

				FUZZ_CHECK(frame != NULL);
				frame[0] = (unsigned char)('0' + p->type);
				if (p->len)
					memcpy(frame + 1, p->data, p->len);
				sg_eio_payload_append(&sb, frame, p->len + 1, 0);
				free(frame);
			}
		}
		FUZZ_CHECK(!sb.oom);
		b.stop_after = 0;
		rc = sg_eio_decode_payload((const unsigned char *)sb.data, sb.len, collect, &b);
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(b.n == a.n);
		for (size_t i = 0; i < a.n; i++)
			FUZZ_CHECK(pkt_eq(&a.p[i], &b.p[i]));
		pkts_free(&b);
		sg_strbuf_free(&sb);

		/* A callback's non-zero value stops decoding and is returned as is. */
		b.stop_after = 1;
		rc = sg_eio_decode_payload(copy, size, collect, &b);
		FUZZ_CHECK(rc == 7 && b.n == 1 && pkt_eq(&a.p[0], &b.p[0]));
		pkts_free(&b);
	}
	pkts_free(&a);
	free(copy);
}

static void fuzz_frames(const uint8_t *data, size_t size)
{
	static struct pkts a;
	unsigned char *copy = fuzz_dup(data, size, 0);
	int rc;

	a.stop_after = 0;
	rc = sg_eio_decode_frame(copy, size, 0, collect, &a);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(a.n == 1 && !a.p[0].binary && a.p[0].len == size - 1);
		FUZZ_CHECK(a.p[0].type == copy[0] - '0');
	} else {
		FUZZ_CHECK(a.n == 0);
	}
	pkts_free(&a);
	rc = sg_eio_decode_frame(copy, size, 1, collect, &a);
	FUZZ_CHECK(rc == 0 && a.n == 1 && a.p[0].binary && a.p[0].len == size);
	pkts_free(&a);
	free(copy);
}

static void fuzz_base64(const uint8_t *data, size_t size)
{
	char *in = (char *)fuzz_dup(data, size, 0);
	unsigned char *out = malloc(size / 4 * 3 + 1);
	long n;

	FUZZ_CHECK(out != NULL);
	n = sg_base64_decode(in, size, out);
	if (n >= 0) {
		size_t elen = sg_base64_encoded_len((size_t)n);
		char *enc = malloc(elen + 1);
		unsigned char *back = malloc(elen / 4 * 3 + 1);

		FUZZ_CHECK(enc && back);
		FUZZ_CHECK((size_t)n <= size / 4 * 3);
		FUZZ_CHECK(elen == size); /* padding is required, so the length is canonical */
		sg_base64_encode(out, (size_t)n, enc);
		FUZZ_CHECK(sg_base64_decode(enc, elen, back) == n);
		FUZZ_CHECK(n == 0 || memcmp(back, out, (size_t)n) == 0);
		free(enc);
		free(back);
	}
	/* Encoding any bytes decodes back to them. */
	{
		size_t elen = sg_base64_encoded_len(size);
		char *enc = malloc(elen + 1);
		unsigned char *back = malloc(elen / 4 * 3 + 1);

		FUZZ_CHECK(enc && back);
		sg_base64_encode(data, size, enc);
		FUZZ_CHECK(sg_base64_decode(enc, elen, back) == (long)size);
		FUZZ_CHECK(size == 0 || memcmp(back, data, size) == 0);
		free(enc);
		free(back);
	}
	free(in);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_payload(data, size);
	fuzz_frames(data, size);
	fuzz_base64(data, size);
	return 0;
}
