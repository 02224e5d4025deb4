/* fuzz_sio.c - Socket.IO packet decoder with binary attachments, the encoder, and the
 * JSON.stringify-like serializer (sg_json_append).
 *
 * Input: NUL-separated chunks. The first is the Socket.IO packet as it follows the
 * Engine.IO '4' (e.g. `451-["m",{"_placeholder":true,"num":0}]`); for a binary packet each
 * following chunk is fed as the next attachment.
 *
 * Invariants: a packet that decodes re-encodes (sg_sio_encode) to a frame that decodes to
 * an equal packet; the attachment count is respected; any JSON value jansson parses
 * serializes (sg_json_append) to text that parses back to an equal value. */
#include "sio_codec.h"
#include "strbuf.h"

#include "common.h"

static int js_equal(const json_t *a, const json_t *b);

static int same_data(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return js_equal(a, b);
}

/* Deep equality where numbers compare by value as JavaScript sees them: an integer and a
 * real are equal when the real is the integer's double (JSON.stringify writes 2.0 as "2").
 * Strings compare by length and bytes (they may hold NULs). */
static int js_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *v;

		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach((json_t *)a, k, v) {
			const json_t *w = json_object_get(b, k);

			if (!w || !js_equal(v, w))
				return 0;
		}
		return 1;
	}
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!js_equal(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
	default:
		return 1; /* true, false, null */
	}
}

/* sg_json_append(v) parses back (as the gateway parses client JSON) to a value equal to v. */
static void json_roundtrip(const json_t *v)
{
	struct sg_strbuf sb;
	json_error_t jerr;
	json_t *back;

	sg_strbuf_init(&sb);
	if (sg_json_append(&sb, v) != 0) {
		/* Only non-finite reals are unserializable; jansson never parses one. */
		fprintf(stderr, "sg_json_append refused a parsed value\n");
		abort();
	}
	FUZZ_CHECK(!sb.oom && sb.data != NULL && strlen(sb.data) <= sb.len);
	back = json_loadb(sb.data, sb.len, SG_JSON_DECODE_FLAGS, &jerr);
	if (!back || !js_equal(v, back)) {
		fprintf(stderr, "JSON round trip failed: %s (%s)\n", sb.data, back ? "not equal" : jerr.text);
		abort();
	}
	json_decref(back);
	sg_strbuf_free(&sb);
}

/* Client JSON (numbers as doubles) and, for the integer printer, JSON with integers. */
static void fuzz_json(const uint8_t *p, size_t n)
{
	static const size_t flags[] = {SG_JSON_DECODE_FLAGS, JSON_DECODE_ANY | JSON_ALLOW_NUL};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		json_error_t jerr;
		json_t *v = json_loadb((const char *)p, n, flags[i], &jerr);

		if (v) {
			json_roundtrip(v);
			json_decref(v);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp = {data, size, 0, 0};
	struct sg_sio_packet pkt, again;
	char why[256], why2[256];
	const uint8_t *chunk;
	size_t len;
	char *text;
	int rc;

	chunk = fuzz_next(&sp, 0, &len);
	text = (char *)fuzz_dup(chunk, len, 0);
	fuzz_json(chunk, len);

	why[0] = '\0';
	rc = sg_sio_decode(text, len, &pkt, why, sizeof(why));
	if (rc != 0) {
		FUZZ_CHECK(rc == -1 && why[0] != '\0');
		FUZZ_CHECK(pkt.nsp == NULL && pkt.data == NULL && pkt.attachments == NULL);
		free(text);
		return 0;
	}
	FUZZ_CHECK((int)pkt.type >= SG_SIO_CONNECT && (int)pkt.type <= SG_SIO_BINARY_ACK);
	FUZZ_CHECK(pkt.nsp != NULL && pkt.nsp[0] == '/');
	FUZZ_CHECK(pkt.id >= -1 && pkt.id <= SG_SIO_MAX_ACK_ID);
	FUZZ_CHECK(pkt.n_attachments <= SG_SIO_MAX_ATTACHMENTS);
	FUZZ_CHECK((pkt.n_attachments > 0) ==
		   (pkt.type == SG_SIO_BINARY_EVENT || pkt.type == SG_SIO_BINARY_ACK));
	FUZZ_CHECK(sg_sio_check_placeholders(pkt.data, pkt.n_attachments) >= 0);

	/* Re-encode and decode again. */
	{
		struct sg_strbuf sb;

		sg_strbuf_init(&sb);
		FUZZ_CHECK(sg_sio_encode(&sb, pkt.type, pkt.nsp, pkt.id, pkt.data, pkt.n_attachments) == 0);
		FUZZ_CHECK(sb.len >= 2 && sb.data[0] == '4');
		why2[0] = '\0';
		if (sg_sio_decode(sb.data + 1, sb.len - 1, &again, why2, sizeof(why2)) != 0) {
			fprintf(stderr, "re-encoded packet refused: %s (%s)\n", sb.data, why2);
			abort();
		}
		FUZZ_CHECK(again.type == pkt.type);
		FUZZ_CHECK(strcmp(again.nsp, pkt.nsp) == 0);
		FUZZ_CHECK(again.id == pkt.id);
		FUZZ_CHECK(again.n_attachments == pkt.n_attachments);
		FUZZ_CHECK(same_data(again.data, pkt.data));
		sg_sio_packet_clear(&again);
		sg_strbuf_free(&sb);
	}
	if (pkt.data)
		json_roundtrip(pkt.data);

	/* Attachments: the following chunks, one each, until complete. */
	if (pkt.n_attachments) {
		size_t fed = 0;
		int done = 0;

		while (!done && (chunk = fuzz_next(&sp, 0, &len)) != NULL) {
			unsigned char *att = fuzz_dup(chunk, len, 0);

			rc = sg_sio_add_attachment(&pkt, att, len);
			free(att);
			FUZZ_CHECK(rc == 0 || rc == 1);
			fed++;
			FUZZ_CHECK(pkt.n_received == fed);
			FUZZ_CHECK(pkt.attachments[fed - 1].len == len);
			done = rc == 1;
		}
		FUZZ_CHECK(done == (fed == pkt.n_attachments));
		if (done) {
			/* One more is refused. */
			FUZZ_CHECK(sg_sio_add_attachment(&pkt, (const unsigned char *)"x", 1) == -1);
			FUZZ_CHECK(pkt.n_received == pkt.n_attachments);
		}
	} else {
		FUZZ_CHECK(sg_sio_add_attachment(&pkt, (const unsigned char *)"x", 1) == -1);
	}
	sg_sio_packet_clear(&pkt);
	FUZZ_CHECK(pkt.nsp == NULL && pkt.data == NULL && pkt.attachments == NULL && pkt.id == -1);
	free(text);
	return 0;
}
