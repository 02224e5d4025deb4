/* fuzz_eio3.c - Engine.IO v3 codec (src/eio3_codec.c): string payloads ("<length>:<packet>",
 * lengths in UTF-16 units), binary payloads (kind byte, digit bytes, 0xff) and WebSocket
 * frames (text, "b<type><base64>", binary with a type byte).
 *
 * Invariants: a payload that decodes is re-encoded packet by packet in both payload forms
 * and as frames (b64 on and off), and each decodes to the same packets; a string payload of
 * text packets only, or a binary payload of string packets only, re-encodes to the very
 * input (lengths are canonical); a callback's non-zero value stops decoding at once. */
#include "eio3_codec.h"
#include "strbuf.h"

#include "common.h"

#define MAX_PKTS 4096

/* The packets a decoder delivers, as records: type, binary flag, length (size_t), data. */
struct log {
	struct sg_strbuf sb;
	size_t n;
	int stop_after; /* return 7 after this many packets; 0: never */
};

static int record(void *ud, enum sg_eio_type type, const unsigned char *data, size_t len, int binary)
{
	struct log *l = ud;
	unsigned char *copy;

	FUZZ_CHECK((int)type >= SG_EIO_OPEN && (int)type <= SG_EIO_NOOP);
	FUZZ_CHECK(binary == 0 || binary == 1);
	FUZZ_CHECK(len == 0 || data != NULL);
	if (l->n == MAX_PKTS)
		return 9;
	copy = fuzz_dup(data, len, 0); /* reads every byte: ASan checks the bounds */
	sg_strbuf_appendc(&l->sb, (char)type);
	sg_strbuf_appendc(&l->sb, (char)binary);
	sg_strbuf_append(&l->sb, &len, sizeof(len));
	sg_strbuf_append(&l->sb, copy, len);
	free(copy);
	FUZZ_CHECK(!l->sb.oom);
	l->n++;
	return l->stop_after && l->n == (size_t)l->stop_after ? 7 : 0;
}

static void log_init(struct log *l, int stop_after)
{
	sg_strbuf_init(&l->sb);
	sg_strbuf_append(&l->sb, "", 0);
	l->n = 0;
	l->stop_after = stop_after;
}

/* Walks the records of a log: returns 0 at the end. */
static int next_record(const struct log *l, size_t *pos, int *type, int *binary,
		       const unsigned char **data, size_t *len)
{
	const unsigned char *p = (const unsigned char *)l->sb.data;

	if (*pos >= l->sb.len)
		return 0;
	*type = p[*pos];
	*binary = p[*pos + 1];
	memcpy(len, p + *pos + 2, sizeof(*len));
	*data = p + *pos + 2 + sizeof(*len);
	*pos += 2 + sizeof(*len) + *len;
	return 1;
}

static int logs_equal(const struct log *a, const struct log *b)
{
	return a->n == b->n && a->sb.len == b->sb.len && memcmp(a->sb.data, b->sb.data, a->sb.len) == 0;
}

enum form { STRING, BINARY };

static int decode(enum form f, const unsigned char *p, size_t n, struct log *l)
{
	unsigned char *copy = fuzz_dup(p, n, 0);
	int rc = f == STRING ? sg_eio3_decode_payload(copy, n, record, l)
			     : sg_eio3_decode_binary_payload(copy, n, record, l);

	free(copy);
	return rc;
}

/* Re-encodes what `a` holds in every form and checks each decodes back to it. */
static void reencode(const struct log *a, const uint8_t *in, size_t size, enum form from)
{
	struct sg_strbuf str, bin;
	struct log b;
	size_t pos = 0;
	int type, binary, any_binary = 0, frame_rc;
	const unsigned char *data;
	size_t len;

	/* The encoders take the v4 queue's frames, where binary means a message. */
	while (next_record(a, &pos, &type, &binary, &data, &len)) {
		if (binary && type != SG_EIO_MESSAGE)
			return;
	}
	sg_strbuf_init(&str);
	sg_strbuf_init(&bin);
	log_init(&b, 0);
	pos = 0;
	while (next_record(a, &pos, &type, &binary, &data, &len)) {
		unsigned char *frame = malloc(len + 1);
		size_t flen = len;

		FUZZ_CHECK(frame != NULL);
		if (binary) {
			if (len)
				memcpy(frame, data, len);
		} else {
			frame[0] = (unsigned char)('0' + type);
			if (len)
				memcpy(frame + 1, data, len);
			flen = len + 1;
		}
		any_binary |= binary;
		sg_eio3_payload_append(&str, frame, flen, binary);
		sg_eio3_binary_payload_append(&bin, frame, flen, binary);
		for (int b64 = 0; b64 <= 1; b64++) {
			struct sg_strbuf f;

			sg_strbuf_init(&f);
			sg_strbuf_append(&f, "", 0);
			sg_eio3_frame_append(&f, frame, flen, binary, b64);
			FUZZ_CHECK(!f.oom);
			frame_rc = sg_eio3_decode_frame((unsigned char *)f.data, f.len, binary && !b64,
							record, &b);
			FUZZ_CHECK(frame_rc == 0);
			sg_strbuf_free(&f);
		}
		free(frame);
	}
	FUZZ_CHECK(!str.oom && !bin.oom);
	/* Frames: each packet twice, in order. */
	FUZZ_CHECK(b.n == 2 * a->n);
	pos = 0;
	{
		size_t bpos = 0;
		int t2, b2;
		const unsigned char *d2;
		size_t l2;

		while (next_record(a, &pos, &type, &binary, &data, &len)) {
			for (int k = 0; k < 2; k++) {
				FUZZ_CHECK(next_record(&b, &bpos, &t2, &b2, &d2, &l2));
				FUZZ_CHECK(t2 == type && b2 == binary && l2 == len);
				FUZZ_CHECK(len == 0 || memcmp(d2, data, len) == 0);
			}
		}
	}
	sg_strbuf_free(&b.sb);

	log_init(&b, 0);
	FUZZ_CHECK(decode(STRING, (unsigned char *)str.data, str.len, &b) == 0);
	FUZZ_CHECK(logs_equal(a, &b));
	sg_strbuf_free(&b.sb);
	log_init(&b, 0);
	FUZZ_CHECK(decode(BINARY, (unsigned char *)bin.data, bin.len, &b) == 0);
	FUZZ_CHECK(logs_equal(a, &b));
	sg_strbuf_free(&b.sb);

	/* Text only: lengths have one spelling, so the input comes back byte for byte. */
	if (!any_binary && from == STRING)
		FUZZ_CHECK(str.len == size && memcmp(str.data, in, size) == 0);
	if (!any_binary && from == BINARY)
		FUZZ_CHECK(bin.len == size && memcmp(bin.data, in, size) == 0);
	sg_strbuf_free(&str);
	sg_strbuf_free(&bin);
}

static void fuzz_payload(enum form f, const uint8_t *data, size_t size)
{
	struct log a, b;
	int rc;

	log_init(&a, 0);
	rc = decode(f, data, size, &a);
	FUZZ_CHECK(rc == 0 || rc == -1 || rc == 9);
	if (rc == 0) {
		FUZZ_CHECK(a.n >= 1);
		reencode(&a, data, size, f);
		/* A callback's non-zero value stops decoding and is returned as is. */
		log_init(&b, 1);
		FUZZ_CHECK(decode(f, data, size, &b) == 7);
		FUZZ_CHECK(b.n == 1 && b.sb.len <= a.sb.len && memcmp(a.sb.data, b.sb.data, b.sb.len) == 0);
		sg_strbuf_free(&b.sb);
	}
	sg_strbuf_free(&a.sb);
}

static void fuzz_frames(const uint8_t *data, size_t size)
{
	unsigned char *copy = fuzz_dup(data, size, 0);
	struct log l;
	int rc;

	log_init(&l, 0);
	rc = sg_eio3_decode_frame(copy, size, 0, record, &l);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(l.n == (rc == 0 ? 1u : 0u));
	if (rc == 0 && copy[0] != 'b') {
		int type, binary;
		const unsigned char *d;
		size_t len, pos = 0;

		FUZZ_CHECK(next_record(&l, &pos, &type, &binary, &d, &len));
		FUZZ_CHECK(type == copy[0] - '0' && !binary && len == size - 1);
	}
	sg_strbuf_free(&l.sb);
	log_init(&l, 0);
	rc = sg_eio3_decode_frame(copy, size, 1, record, &l);
	FUZZ_CHECK(rc == ((size >= 1 && copy[0] <= SG_EIO_NOOP) ? 0 : -1));
	FUZZ_CHECK(l.n == (rc == 0 ? 1u : 0u));
	sg_strbuf_free(&l.sb);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_payload(STRING, data, size);
	fuzz_payload(BINARY, data, size);
	fuzz_frames(data, size);
	return 0;
}
