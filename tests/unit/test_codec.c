/* test_codec.c - Engine.IO and Socket.IO codec tests, base64, and the JSON.stringify printer. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/eio_codec.h"
#include "../../src/sio_codec.h"
#include "../../src/sio_internal.h"
#include "../../src/strbuf.h"
#include "rng.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIT(s) (s), (sizeof(s) - 1) /* a string literal and its length, NULs included */

/* ---- helpers ------------------------------------------------------------------------ */

/* Records the packets a decoder delivers. */
struct rec_packet {
	enum sg_eio_type type;
	unsigned char *data;
	size_t len;
	int binary;
};

struct recorder {
	struct rec_packet *p;
	size_t n, cap;
	size_t stop_at;   /* return stop_rc when delivering packet number stop_at (0-based) */
	int stop_rc;
};

static void rec_init(struct recorder *r)
{
	memset(r, 0, sizeof(*r));
	r->stop_at = SIZE_MAX;
}

static void rec_free(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->p[i].data);
	free(r->p);
	rec_init(r);
}

static int rec_cb(void *ud, enum sg_eio_type type, const unsigned char *data, size_t len, int binary)
{
	struct recorder *r = ud;
	struct rec_packet *p;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->p = realloc(r->p, r->cap * sizeof(*r->p));
		ck_assert_ptr_nonnull(r->p);
	}
	p = &r->p[r->n];
	p->type = type;
	p->len = len;
	p->binary = binary;
	p->data = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(p->data);
	if (len)
		memcpy(p->data, data, len);
	return r->n++ == r->stop_at ? r->stop_rc : 0;
}

static void assert_packet(const struct recorder *r, size_t i, enum sg_eio_type type,
			  const void *data, size_t len, int binary)
{
	ck_assert_uint_gt(r->n, i);
	ck_assert_int_eq(r->p[i].type, type);
	ck_assert_int_eq(r->p[i].binary, binary);
	ck_assert_uint_eq(r->p[i].len, len);
	if (len)
		ck_assert_mem_eq(r->p[i].data, data, len);
}

static int decode_payload_str(const char *s, size_t n, struct recorder *r)
{
	/* An exact-size heap copy, so valgrind sees any read past the end. */
	unsigned char *copy = malloc(n ? n : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, s, n);
	rc = sg_eio_decode_payload(copy, n, rec_cb, r);
	free(copy);
	return rc;
}

/* ---- Engine.IO: frames ------------------------------------------------------------- */

START_TEST(eio_frame_text_types)
{
	/* Every type digit 0..6 decodes, with the rest of the frame as its data. */
	static const char *const frames[] = {"0{\"sid\":\"a\"}", "1", "2", "3probe", "4hello", "5", "6"};

	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		struct recorder r;
		const char *f = frames[i];

		rec_init(&r);
		ck_assert_int_eq(sg_eio_decode_frame((const unsigned char *)f, strlen(f), 0, rec_cb, &r), 0);
		ck_assert_uint_eq(r.n, 1);
		assert_packet(&r, 0, (enum sg_eio_type)i, f + 1, strlen(f) - 1, 0);
		rec_free(&r);
	}
}
END_TEST

START_TEST(eio_frame_text_invalid)
{
	static const char *const frames[] = {"", "7x", "9", "abc", "b", "/4", " 4"};

	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		struct recorder r;

		rec_init(&r);
		ck_assert_msg(sg_eio_decode_frame((const unsigned char *)frames[i], strlen(frames[i]), 0,
						  rec_cb, &r) == -1, "frame \"%s\" should be invalid", frames[i]);
		ck_assert_uint_eq(r.n, 0);
		rec_free(&r);
	}
}
END_TEST

START_TEST(eio_frame_binary)
{
	static const unsigned char bin[] = {0x00, 0x34, 0xff, 0x1e};
	struct recorder r;

	rec_init(&r);
	/* A binary frame is a message, whatever its first byte. */
	ck_assert_int_eq(sg_eio_decode_frame(bin, sizeof(bin), 1, rec_cb, &r), 0);
	assert_packet(&r, 0, SG_EIO_MESSAGE, bin, sizeof(bin), 1);
	/* An empty binary frame is an empty binary message. */
	ck_assert_int_eq(sg_eio_decode_frame(bin, 0, 1, rec_cb, &r), 0);
	assert_packet(&r, 1, SG_EIO_MESSAGE, NULL, 0, 1);
	rec_free(&r);
}
END_TEST

START_TEST(eio_frame_callback_value)
{
	struct recorder r;

	rec_init(&r);
	r.stop_at = 0;
	r.stop_rc = 42;
	ck_assert_int_eq(sg_eio_decode_frame((const unsigned char *)"4x", 2, 0, rec_cb, &r), 42);
	ck_assert_int_eq(sg_eio_decode_frame((const unsigned char *)"\x01", 1, 1, rec_cb, &r), 0);
	rec_free(&r);
}
END_TEST

/* ---- Engine.IO: polling payloads --------------------------------------------------- */

START_TEST(eio_payload_single)
{
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(decode_payload_str(LIT("4hello"), &r), 0);
	ck_assert_uint_eq(r.n, 1);
	assert_packet(&r, 0, SG_EIO_MESSAGE, "hello", 5, 0);
	rec_free(&r);
}
END_TEST

START_TEST(eio_payload_multiple)
{
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(decode_payload_str(LIT("4test1\x1e" "4test2\x1e" "4test3"), &r), 0);
	ck_assert_uint_eq(r.n, 3);
	assert_packet(&r, 0, SG_EIO_MESSAGE, "test1", 5, 0);
	assert_packet(&r, 1, SG_EIO_MESSAGE, "test2", 5, 0);
	assert_packet(&r, 2, SG_EIO_MESSAGE, "test3", 5, 0);
	rec_free(&r);
}
END_TEST

START_TEST(eio_payload_text_and_binary)
{
	static const unsigned char bin[] = {1, 2, 3, 4};
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(decode_payload_str(LIT("4hello\x1e" "bAQIDBA=="), &r), 0);
	ck_assert_uint_eq(r.n, 2);
	assert_packet(&r, 0, SG_EIO_MESSAGE, "hello", 5, 0);
	assert_packet(&r, 1, SG_EIO_MESSAGE, bin, sizeof(bin), 1);
	rec_free(&r);
}
END_TEST

START_TEST(eio_payload_control_packets)
{
	static const struct {
		const char *s;
		enum sg_eio_type type;
	} cases[] = {
		{"1", SG_EIO_CLOSE}, {"2", SG_EIO_PING}, {"3", SG_EIO_PONG}, {"6", SG_EIO_NOOP},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct recorder r;

		rec_init(&r);
		ck_assert_int_eq(decode_payload_str(cases[i].s, 1, &r), 0);
		ck_assert_uint_eq(r.n, 1);
		assert_packet(&r, 0, cases[i].type, NULL, 0, 0);
		rec_free(&r);
	}
	{
		struct recorder r;

		rec_init(&r);
		ck_assert_int_eq(decode_payload_str(LIT("2probe\x1e" "6\x1e" "4"), &r), 0);
		ck_assert_uint_eq(r.n, 3);
		assert_packet(&r, 0, SG_EIO_PING, "probe", 5, 0);
		assert_packet(&r, 1, SG_EIO_NOOP, NULL, 0, 0);
		assert_packet(&r, 2, SG_EIO_MESSAGE, NULL, 0, 0);
		rec_free(&r);
	}
}
END_TEST

START_TEST(eio_payload_empty_binary)
{
	struct recorder r;

	/* "b" with no base64 is a zero-length binary message: it is what the encoder writes
	 * for one (see eio_payload_roundtrip). */
	rec_init(&r);
	ck_assert_int_eq(decode_payload_str(LIT("b\x1e" "4x"), &r), 0);
	ck_assert_uint_eq(r.n, 2);
	assert_packet(&r, 0, SG_EIO_MESSAGE, NULL, 0, 1);
	assert_packet(&r, 1, SG_EIO_MESSAGE, "x", 1, 0);
	rec_free(&r);
}
END_TEST

START_TEST(eio_payload_invalid)
{
	static const struct {
		const char *s;
		size_t n;
		size_t delivered; /* packets before the bad one */
	} cases[] = {
		{LIT(""), 0},
		{LIT("abc"), 0},
		{LIT("7x"), 0},
		{LIT("b!!!!"), 0},
		{LIT("bAQI"), 0},          /* length not a multiple of 4 */
		{LIT("bAQ=A"), 0},         /* padding in the middle */
		{LIT("bAQIDBA"), 0},       /* missing padding */
		{LIT("bAQ==AAA"), 0},      /* padding before the end */
		{LIT("b===="), 0},
		{LIT("bAQ-_"), 0},         /* base64url alphabet is not base64 */
		{LIT("bAQ\nDBA=="), 0},    /* no whitespace */
		{LIT("4a\x1e\x1e" "4b"), 1}, /* empty packet between separators */
		{LIT("4a\x1e"), 1},        /* trailing separator */
		{LIT("\x1e" "4a"), 0},     /* leading separator */
		{LIT("\x1e"), 0},
		{LIT("4a\x1e" "7x\x1e" "4b"), 1},
		{LIT("4a\x1e" "b!!!!\x1e" "4b"), 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct recorder r;
		int rc;

		rec_init(&r);
		rc = decode_payload_str(cases[i].s, cases[i].n, &r);
		ck_assert_msg(rc == -1, "case %zu: payload should be invalid, got %d", i, rc);
		/* Packets before the bad one were delivered; nothing after it was. */
		ck_assert_msg(r.n == cases[i].delivered, "case %zu: %zu packets delivered, expected %zu",
			      i, r.n, cases[i].delivered);
		if (r.n)
			ck_assert_int_eq(r.p[0].type, SG_EIO_MESSAGE);
		rec_free(&r);
	}
}
END_TEST

START_TEST(eio_payload_callback_stops)
{
	struct recorder r;

	rec_init(&r);
	r.stop_at = 1;
	r.stop_rc = 7;
	ck_assert_int_eq(decode_payload_str(LIT("4a\x1e" "4b\x1e" "4c"), &r), 7);
	ck_assert_uint_eq(r.n, 2); /* "c" was not delivered */
	rec_free(&r);

	rec_init(&r);
	r.stop_at = 0;
	r.stop_rc = -5;
	ck_assert_int_eq(decode_payload_str(LIT("bAQIDBA==\x1e" "4b"), &r), -5);
	ck_assert_uint_eq(r.n, 1);
	rec_free(&r);
}
END_TEST

START_TEST(eio_payload_append_format)
{
	static const unsigned char bin[] = {1, 2, 3, 4};
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	sg_eio_payload_append(&sb, (const unsigned char *)"4hello", 6, 0);
	ck_assert_uint_eq(sb.len, 6);
	ck_assert_str_eq(sb.data, "4hello");
	sg_eio_payload_append(&sb, bin, sizeof(bin), 1);
	ck_assert_str_eq(sb.data, "4hello\x1e" "bAQIDBA==");
	sg_eio_payload_append(&sb, (const unsigned char *)"2", 1, 0);
	ck_assert_str_eq(sb.data, "4hello\x1e" "bAQIDBA==\x1e" "2");
	ck_assert(!sb.oom);
	sg_strbuf_free(&sb);

	/* The first packet of a payload has no separator, binary or not. */
	sg_strbuf_init(&sb);
	sg_eio_payload_append(&sb, bin, 3, 1);
	ck_assert_str_eq(sb.data, "bAQID");
	sg_strbuf_free(&sb);
}
END_TEST

START_TEST(eio_payload_roundtrip)
{
	rng_seed(20240601);
	for (int iter = 0; iter < 2000; iter++) {
		size_t npk = 1 + rng_below(8);
		unsigned char frames[8][64];
		size_t lens[8];
		int bins[8];
		struct sg_strbuf sb;
		struct recorder r;

		sg_strbuf_init(&sb);
		for (size_t k = 0; k < npk; k++) {
			bins[k] = (int)rng_below(2);
			if (bins[k]) {
				lens[k] = rng_below(sizeof(frames[k]) + 1); /* 0..64 arbitrary bytes */
				for (size_t j = 0; j < lens[k]; j++)
					frames[k][j] = (unsigned char)rng_next();
			} else {
				/* A type digit, then text bytes other than the 0x1e separator
				 * (including multi-byte UTF-8 and control bytes). */
				lens[k] = 1 + rng_below(sizeof(frames[k]));
				frames[k][0] = (unsigned char)('0' + rng_below(7));
				for (size_t j = 1; j < lens[k]; j++) {
					unsigned char c;
					do
						c = (unsigned char)rng_next();
					while (c == 0x1e);
					frames[k][j] = c;
				}
			}
			sg_eio_payload_append(&sb, frames[k], lens[k], bins[k]);
		}
		ck_assert(!sb.oom);

		rec_init(&r);
		ck_assert_int_eq(decode_payload_str(sb.data, sb.len, &r), 0);
		ck_assert_uint_eq(r.n, npk);
		for (size_t k = 0; k < npk; k++) {
			if (bins[k])
				assert_packet(&r, k, SG_EIO_MESSAGE, frames[k], lens[k], 1);
			else
				assert_packet(&r, k, (enum sg_eio_type)(frames[k][0] - '0'),
					      frames[k] + 1, lens[k] - 1, 0);
		}
		rec_free(&r);
		sg_strbuf_free(&sb);
	}
}
END_TEST

/* ---- base64 ------------------------------------------------------------------------ */

static const struct {
	const char *plain, *enc;
} rfc4648[] = {
	{"", ""},
	{"f", "Zg=="},
	{"fo", "Zm8="},
	{"foo", "Zm9v"},
	{"foob", "Zm9vYg=="},
	{"fooba", "Zm9vYmE="},
	{"foobar", "Zm9vYmFy"},
};

START_TEST(base64_rfc4648_encode)
{
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t n = strlen(rfc4648[i].plain), elen = sg_base64_encoded_len(n);
		char *out = malloc(elen + 1);

		ck_assert_ptr_nonnull(out);
		ck_assert_uint_eq(elen, strlen(rfc4648[i].enc));
		sg_base64_encode((const unsigned char *)rfc4648[i].plain, n, out);
		out[elen] = '\0';
		ck_assert_str_eq(out, rfc4648[i].enc);
		free(out);
	}
}
END_TEST

START_TEST(base64_rfc4648_decode)
{
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t n = strlen(rfc4648[i].enc);
		/* Exactly the documented minimum output size, so valgrind catches overruns. */
		unsigned char *out = malloc(n >= 4 ? n / 4 * 3 : 1);
		char *in = malloc(n ? n : 1);
		long got;

		ck_assert_ptr_nonnull(out);
		ck_assert_ptr_nonnull(in);
		memcpy(in, rfc4648[i].enc, n);
		got = sg_base64_decode(in, n, out);
		ck_assert_int_eq(got, (long)strlen(rfc4648[i].plain));
		if (got)
			ck_assert_mem_eq(out, rfc4648[i].plain, (size_t)got);
		free(in);
		free(out);
	}
}
END_TEST

START_TEST(base64_alphabet)
{
	/* 0xfb 0xff uses the two non-alphanumeric letters of the standard alphabet. */
	static const unsigned char in[] = {0xfb, 0xff, 0xbf};
	unsigned char back[3];
	char out[5] = {0};

	sg_base64_encode(in, 3, out);
	ck_assert_str_eq(out, "+/+/");
	ck_assert_int_eq(sg_base64_decode(out, 4, back), 3);
	ck_assert_mem_eq(back, in, 3);
}
END_TEST

START_TEST(base64_invalid)
{
	static const char *const bad[] = {
		"Z", "Zg", "Zg=", "Zg=a", "Z===", "====", "=Zg=", "Zm9v\n", "Zm 9", "Zg==Zg==",
		"Zm9-", "Zm9_", "Zm8=Zm8=", "Zm\x80v", "Zm9v====",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char out[16];

		ck_assert_msg(sg_base64_decode(bad[i], strlen(bad[i]), out) == -1,
			      "\"%s\" should be invalid base64", bad[i]);
	}
}
END_TEST

START_TEST(base64_length_counts)
{
	/* Only n bytes are input, even when valid base64 follows them in memory. */
	unsigned char out[8];

	ck_assert_int_eq(sg_base64_decode("Zm9vYmFy", 6, out), -1);
	ck_assert_int_eq(sg_base64_decode("Zm9vYmFy", 7, out), -1);
	ck_assert_int_eq(sg_base64_decode("Zm9v", 3, out), -1);
	ck_assert_int_eq(sg_base64_decode("Zm9vYg==", 6, out), -1);
	ck_assert_int_eq(sg_base64_decode("Zm9vYg==", 7, out), -1);
	ck_assert_int_eq(sg_base64_decode("Zm9vYg==", 5, out), -1);
	ck_assert_int_eq(sg_base64_decode("Zg==", 2, out), -1);
	ck_assert_int_eq(sg_base64_decode("Zm9vYg==", 4, out), 3);
	ck_assert_mem_eq(out, "foo", 3);
	ck_assert_int_eq(sg_base64_decode("Zm9vYg==", 0, out), 0);
}
END_TEST

START_TEST(base64_roundtrip_random)
{
	rng_seed(7);
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = rng_below(200), elen = sg_base64_encoded_len(n);
		unsigned char *in = malloc(n ? n : 1), *back;
		char *enc = malloc(elen ? elen : 1);

		ck_assert_ptr_nonnull(in);
		ck_assert_ptr_nonnull(enc);
		for (size_t j = 0; j < n; j++)
			in[j] = (unsigned char)rng_next();
		sg_base64_encode(in, n, enc);
		ck_assert_uint_eq(elen % 4, 0);
		back = malloc(elen >= 4 ? elen / 4 * 3 : 1);
		ck_assert_ptr_nonnull(back);
		ck_assert_int_eq(sg_base64_decode(enc, elen, back), (long)n);
		if (n)
			ck_assert_mem_eq(back, in, n);
		free(back);
		free(enc);
		free(in);
	}
}
END_TEST

/* ---- Socket.IO: decoding ----------------------------------------------------------- */

/* Decodes from an exact-size heap copy (valgrind sees overreads); asserts success. */
static void decode_ok(const char *s, size_t n, struct sg_sio_packet *p)
{
	char why[128] = "";
	char *copy = malloc(n ? n : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, s, n);
	rc = sg_sio_decode(copy, n, p, why, sizeof(why));
	free(copy);
	ck_assert_msg(rc == 0, "decoding \"%.*s\" failed: %s", (int)n, s, why);
}

static void assert_data(const struct sg_sio_packet *p, const char *json)
{
	json_error_t err;
	json_t *want;

	if (!json) {
		ck_assert_ptr_null(p->data);
		return;
	}
	want = json_loads(json, SG_JSON_DECODE_FLAGS, &err);
	ck_assert_msg(want != NULL, "bad expectation %s", json);
	ck_assert_ptr_nonnull(p->data);
	ck_assert_msg(json_equal(p->data, want), "data differs from %s", json);
	json_decref(want);
}

static const struct {
	const char *s;
	size_t n;
	enum sg_sio_type type;
	const char *nsp;
	int64_t id;
	const char *data; /* expected JSON, or NULL for absent */
	size_t n_attachments;
} sio_valid[] = {
	{LIT("0"), SG_SIO_CONNECT, "/", -1, NULL, 0},
	{LIT("0{}"), SG_SIO_CONNECT, "/", -1, "{}", 0},
	{LIT("0{\"token\":\"123\"}"), SG_SIO_CONNECT, "/", -1, "{\"token\":\"123\"}", 0},
	{LIT("0/random"), SG_SIO_CONNECT, "/random", -1, NULL, 0},
	{LIT("0/custom"), SG_SIO_CONNECT, "/custom", -1, NULL, 0},
	{LIT("0/custom,"), SG_SIO_CONNECT, "/custom", -1, NULL, 0},
	{LIT("0/custom,{\"a\":1}"), SG_SIO_CONNECT, "/custom", -1, "{\"a\":1}", 0},
	{LIT("0/"), SG_SIO_CONNECT, "/", -1, NULL, 0},
	{LIT("1"), SG_SIO_DISCONNECT, "/", -1, NULL, 0},
	{LIT("1/chat,"), SG_SIO_DISCONNECT, "/chat", -1, NULL, 0},
	{LIT("1/chat"), SG_SIO_DISCONNECT, "/chat", -1, NULL, 0},
	{LIT("2[\"hello\",1]"), SG_SIO_EVENT, "/", -1, "[\"hello\",1]", 0},
	{LIT("2[1]"), SG_SIO_EVENT, "/", -1, "[1]", 0},
	{LIT("2[\"connected\"]"), SG_SIO_EVENT, "/", -1, "[\"connected\"]", 0},
	{LIT("2[\"Connect\"]"), SG_SIO_EVENT, "/", -1, "[\"Connect\"]", 0},
	{LIT("2[\"\"]"), SG_SIO_EVENT, "/", -1, "[\"\"]", 0},
	{LIT("20[\"a\"]"), SG_SIO_EVENT, "/", 0, "[\"a\"]", 0},
	{LIT("21[\"a\"]"), SG_SIO_EVENT, "/", 1, "[\"a\"]", 0},
	{LIT("2/chat,12[\"a\",{\"b\":[null,true]}]"), SG_SIO_EVENT, "/chat", 12,
	 "[\"a\",{\"b\":[null,true]}]", 0},
	{LIT("29007199254740991[\"a\"]"), SG_SIO_EVENT, "/", SG_SIO_MAX_ACK_ID, "[\"a\"]", 0},
	{LIT("2 [\"a\"] "), SG_SIO_EVENT, "/", -1, "[\"a\"]", 0}, /* JSON.parse allows whitespace */
	{LIT("2[\"caf\xc3\xa9\",\"\xf0\x9f\x98\x80\"]"), SG_SIO_EVENT, "/", -1,
	 "[\"caf\xc3\xa9\",\"\xf0\x9f\x98\x80\"]", 0},
	{LIT("3456[1,\"2\",{\"3\":[false]}]"), SG_SIO_ACK, "/", 456, "[1,\"2\",{\"3\":[false]}]", 0},
	{LIT("30[]"), SG_SIO_ACK, "/", 0, "[]", 0},
	{LIT("3/chat,2[]"), SG_SIO_ACK, "/chat", 2, "[]", 0},
	{LIT("4\"error\""), SG_SIO_CONNECT_ERROR, "/", -1, "\"error\"", 0},
	{LIT("4{\"message\":\"Invalid namespace\"}"), SG_SIO_CONNECT_ERROR, "/", -1,
	 "{\"message\":\"Invalid namespace\"}", 0},
	{LIT("4/admin,{\"message\":\"x\"}"), SG_SIO_CONNECT_ERROR, "/admin", -1, "{\"message\":\"x\"}", 0},
	{LIT("51-[\"a\",{\"_placeholder\":true,\"num\":0}]"), SG_SIO_BINARY_EVENT, "/", -1,
	 "[\"a\",{\"_placeholder\":true,\"num\":0}]", 1},
	{LIT("52-/chat,3[\"a\",{\"x\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]"),
	 SG_SIO_BINARY_EVENT, "/chat", 3,
	 "[\"a\",{\"x\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]", 2},
	{LIT("61-5[{\"_placeholder\":true,\"num\":0}]"), SG_SIO_BINARY_ACK, "/", 5,
	 "[{\"_placeholder\":true,\"num\":0}]", 1},
	{LIT("62-/chat,7[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]"),
	 SG_SIO_BINARY_ACK, "/chat", 7, "[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]", 2},
};

START_TEST(sio_decode_valid)
{
	struct sg_sio_packet p;
	size_t i = (size_t)_i;

	decode_ok(sio_valid[i].s, sio_valid[i].n, &p);
	ck_assert_int_eq(p.type, sio_valid[i].type);
	ck_assert_ptr_nonnull(p.nsp);
	ck_assert_str_eq(p.nsp, sio_valid[i].nsp);
	ck_assert_int_eq(p.id, sio_valid[i].id);
	assert_data(&p, sio_valid[i].data);
	ck_assert_uint_eq(p.n_attachments, sio_valid[i].n_attachments);
	ck_assert_uint_eq(p.n_received, 0);
	if (p.n_attachments)
		ck_assert_ptr_nonnull(p.attachments);
	sg_sio_packet_clear(&p);
}
END_TEST

static const struct {
	const char *s;
	size_t n;
	const char *what;
} sio_invalid[] = {
	/* From socket.io-parser's own test suite. */
	{LIT("abc"), "unknown type 'a'"},
	{LIT("2{}"), "EVENT with an object"},
	{LIT("2abc[\"message-with-ack\",1]"), "bad ack id (invalid JSON)"},
	/* Types. */
	{LIT(""), "empty"},
	{LIT("7"), "type 7"},
	{LIT("9[\"a\"]"), "type 9"},
	{LIT("/2[\"a\"]"), "no type"},
	/* Binary attachment header. */
	{LIT("5"), "truncated: no count"},
	{LIT("51"), "truncated: no '-'"},
	{LIT("51x"), "count not followed by '-'"},
	{LIT("5-[\"a\"]"), "no count digits"},
	{LIT("5x-[\"a\"]"), "non-digit count"},
	{LIT("6"), "truncated binary ack"},
	{LIT("61-"), "binary ack without id or payload"},
	{LIT("5999999-[\"a\"]"), "attachment count over the limit"},
	{LIT("5257-[\"a\"]"), "257 attachments"},
	{LIT("599999999999999999999999-[\"a\"]"), "attachment count overflowing size_t"},
	/* Placeholders. */
	{LIT("51-[\"a\",{\"_placeholder\":true,\"num\":1}]"), "placeholder num == count"},
	{LIT("52-[\"a\",{\"_placeholder\":true,\"num\":2}]"), "placeholder num > count"},
	{LIT("51-[\"a\",{\"_placeholder\":true,\"num\":-1}]"), "negative placeholder num"},
	{LIT("51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]"), "fractional placeholder num"},
	{LIT("51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]"), "string placeholder num"},
	{LIT("51-[\"a\",{\"_placeholder\":true}]"), "placeholder without num"},
	{LIT("51-[\"a\",{\"_placeholder\":1,\"num\":0}]"), "_placeholder not true"},
	{LIT("51-[\"a\",{\"_placeholder\":true,\"num\":0,\"x\":1}]"), "placeholder with an extra key"},
	{LIT("61-1[{\"k\":{\"_placeholder\":true,\"num\":3}}]"), "nested out-of-range placeholder"},
	{LIT("50-[\"m\",{\"_placeholder\":true,\"num\":0}]"), "placeholder with 0 attachments"},
	{LIT("2[\"m\",{\"_placeholder\":true,\"num\":0}]"), "placeholder in an EVENT"},
	{LIT("31[{\"a\":{\"_placeholder\":true,\"num\":0}}]"), "placeholder in an ACK"},
	{LIT("0{\"x\":{\"_placeholder\":true,\"num\":0}}"), "placeholder in a CONNECT"},
	/* EVENT payloads. */
	{LIT("2"), "EVENT without payload"},
	{LIT("2[]"), "EVENT with an empty array"},
	{LIT("2\"a\""), "EVENT with a string"},
	{LIT("2[{}]"), "event name an object"},
	{LIT("2[null]"), "event name null"},
	{LIT("2[true]"), "event name a boolean"},
	{LIT("2[[\"a\"]]"), "event name an array"},
	{LIT("2[\"connect\"]"), "reserved: connect"},
	{LIT("2[\"connect_error\"]"), "reserved: connect_error"},
	{LIT("2[\"disconnect\"]"), "reserved: disconnect"},
	{LIT("2[\"disconnecting\"]"), "reserved: disconnecting"},
	{LIT("2[\"newListener\"]"), "reserved: newListener"},
	{LIT("2[\"removeListener\",1]"), "reserved: removeListener"},
	{LIT("2/chat,[\"disconnect\"]"), "reserved name in a namespace"},
	{LIT("51-[\"connect\",{\"_placeholder\":true,\"num\":0}]"), "reserved name in a binary event"},
	{LIT("51-{\"_placeholder\":true,\"num\":0}"), "BINARY_EVENT with an object"},
	/* Bytes JSON.parse (and jansson) refuse. */
	{LIT("2[\"\xff\"]"), "byte 0xff in a string"},
	{LIT("2[\"\xc3\"]"), "truncated UTF-8 sequence"},
	{LIT("2[\"\xc0\xaf\"]"), "overlong UTF-8"},
	{LIT("2[\"\xed\xa0\x80\"]"), "UTF-8-encoded surrogate"},
	{LIT("2[\"a\0b\"]"), "raw NUL inside a JSON string"},
	{LIT("2[\"a\"]\0"), "NUL after the payload"},
	{LIT("2\0[\"a\"]"), "NUL before the payload"},
	{LIT("2/a\0b,[\"x\"]"), "NUL in the namespace"},
	{LIT("2[\"a\"]x"), "trailing garbage"},
	{LIT("2[\"a\"] [\"b\"]"), "two JSON values"},
	{LIT("2[\"a\""), "truncated JSON"},
	{LIT("2[1,]"), "trailing comma"},
	/* Ack ids. */
	{LIT("29007199254740992[\"a\"]"), "ack id 2^53"},
	{LIT("299999999999999999999999999[\"a\"]"), "ack id overflowing int64"},
	{LIT("3"), "ACK without id"},
	{LIT("3[\"a\"]"), "ACK without id, with payload"},
	{LIT("31"), "ACK without payload"},
	{LIT("31{}"), "ACK with an object"},
	{LIT("31\"a\""), "ACK with a string"},
	{LIT("61-[{\"_placeholder\":true,\"num\":0}]"), "BINARY_ACK without id"},
	/* CONNECT, DISCONNECT, CONNECT_ERROR payloads. */
	{LIT("0[]"), "CONNECT with an array"},
	{LIT("0\"a\""), "CONNECT with a string"},
	{LIT("1{}"), "DISCONNECT with payload"},
	{LIT("1\"bye\""), "DISCONNECT with a string"},
	{LIT("1/chat,{}"), "DISCONNECT with payload in a namespace"},
	{LIT("4"), "CONNECT_ERROR without payload"},
	{LIT("4[]"), "CONNECT_ERROR with an array"},
	{LIT("4/chat,"), "CONNECT_ERROR without payload in a namespace"},
	{LIT("4null"), "CONNECT_ERROR with null"},
};

START_TEST(sio_decode_invalid)
{
	size_t i = (size_t)_i;
	struct sg_sio_packet p;
	char why[128] = "";
	char *copy = malloc(sio_invalid[i].n ? sio_invalid[i].n : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, sio_invalid[i].s, sio_invalid[i].n);
	rc = sg_sio_decode(copy, sio_invalid[i].n, &p, why, sizeof(why));
	free(copy);
	if (rc == 0)
		sg_sio_packet_clear(&p);
	ck_assert_msg(rc == -1, "case %zu (%s) was accepted", i, sio_invalid[i].what);
	ck_assert_msg(why[0] != '\0', "case %zu (%s): no reason given", i, sio_invalid[i].what);
}
END_TEST

/* Regression: socket.io-parser 4.2.7 rejects a binary packet that announces 0 attachments
 * ("Illegal attachments": n < 1); siogate used to accept "50-[...]" and "60-<id>[...]" and
 * hand them on as complete binary packets. */
START_TEST(sio_decode_zero_attachments)
{
	static const struct {
		const char *s;
		size_t n;
	} cases[] = {
		{LIT("50-[\"m\"]")},
		{LIT("500-[\"m\"]")},
		{LIT("60-1[\"m\"]")},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sg_sio_packet p;
		char why[128] = "";
		int rc = sg_sio_decode(cases[i].s, cases[i].n, &p, why, sizeof(why));

		if (rc == 0)
			sg_sio_packet_clear(&p);
		ck_assert_msg(rc == -1, "\"%s\" (0 attachments) was accepted", cases[i].s);
	}
}
END_TEST

START_TEST(sio_decode_attachment_limit)
{
	/* Exactly SG_SIO_MAX_ATTACHMENTS is allowed, each with its placeholder. */
	struct sg_strbuf sb;
	struct sg_sio_packet p;

	sg_strbuf_init(&sb);
	sg_strbuf_appendf(&sb, "5%d-[\"many\"", SG_SIO_MAX_ATTACHMENTS);
	for (int k = 0; k < SG_SIO_MAX_ATTACHMENTS; k++)
		sg_strbuf_appendf(&sb, ",{\"_placeholder\":true,\"num\":%d}", k);
	sg_strbuf_appendc(&sb, ']');
	ck_assert(!sb.oom);
	decode_ok(sb.data, sb.len, &p);
	ck_assert_uint_eq(p.n_attachments, SG_SIO_MAX_ATTACHMENTS);
	for (int k = 0; k < SG_SIO_MAX_ATTACHMENTS; k++) {
		unsigned char byte = (unsigned char)k;

		ck_assert_int_eq(sg_sio_add_attachment(&p, &byte, 1), k == SG_SIO_MAX_ATTACHMENTS - 1);
	}
	ck_assert_uint_eq(p.attachments[200].data[0], 200);
	sg_sio_packet_clear(&p);
	sg_strbuf_free(&sb);
}
END_TEST

START_TEST(sio_decode_nul_escape)
{
	/* The \u0000 escape is legal JSON; the string keeps its length. */
	struct sg_sio_packet p;
	const json_t *s;

	decode_ok(LIT("2[\"a\\u0000b\"]"), &p);
	s = json_array_get(p.data, 0);
	ck_assert(json_is_string(s));
	ck_assert_uint_eq(json_string_length(s), 3);
	ck_assert_mem_eq(json_string_value(s), "a\0b", 3);
	sg_sio_packet_clear(&p);
}
END_TEST

START_TEST(sio_decode_numbers_are_reals)
{
	struct sg_sio_packet p;

	decode_ok(LIT("2[\"a\",1,-7,12345678901234567890]"), &p);
	for (size_t k = 1; k < 4; k++)
		ck_assert_msg(json_is_real(json_array_get(p.data, k)), "element %zu is not a real", k);
	ck_assert_double_eq(json_real_value(json_array_get(p.data, 1)), 1.0);
	ck_assert_double_eq(json_real_value(json_array_get(p.data, 3)), 12345678901234567890.0);
	sg_sio_packet_clear(&p);
}
END_TEST

START_TEST(sio_decode_why_truncated)
{
	/* A tiny reason buffer is respected (valgrind/ASan see any overflow). */
	struct sg_sio_packet p;
	char *why = malloc(4);

	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(sg_sio_decode(LIT("2{}"), &p, why, 4), -1);
	ck_assert_uint_le(strlen(why), 3);
	free(why);
}
END_TEST

START_TEST(sio_attachment_flow)
{
	static const unsigned char a0[] = {1, 2, 3}, a1[] = {0xff};
	unsigned char tmp[3];
	struct sg_sio_packet p;

	decode_ok(LIT("52-[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"), &p);
	ck_assert_int_eq(p.type, SG_SIO_BINARY_EVENT);
	ck_assert_uint_eq(p.n_attachments, 2);
	ck_assert_uint_eq(p.n_received, 0);

	memcpy(tmp, a0, sizeof(a0));
	ck_assert_int_eq(sg_sio_add_attachment(&p, tmp, sizeof(tmp)), 0);
	memset(tmp, 0, sizeof(tmp)); /* the packet has its own copy */
	ck_assert_uint_eq(p.n_received, 1);
	ck_assert_int_eq(sg_sio_add_attachment(&p, a1, sizeof(a1)), 1);
	ck_assert_uint_eq(p.n_received, 2);
	ck_assert_int_eq(sg_sio_add_attachment(&p, a1, sizeof(a1)), -1);
	ck_assert_uint_eq(p.n_received, 2);

	ck_assert_uint_eq(p.attachments[0].len, sizeof(a0));
	ck_assert_mem_eq(p.attachments[0].data, a0, sizeof(a0));
	ck_assert_uint_eq(p.attachments[1].len, sizeof(a1));
	ck_assert_mem_eq(p.attachments[1].data, a1, sizeof(a1));
	sg_sio_packet_clear(&p);
	ck_assert_ptr_null(p.nsp);
	ck_assert_ptr_null(p.data);
	ck_assert_ptr_null(p.attachments);
	ck_assert_int_eq(p.id, -1);
	sg_sio_packet_clear(&p); /* clearing twice is harmless */
}
END_TEST

START_TEST(sio_attachment_empty_and_partial)
{
	struct sg_sio_packet p;

	/* A zero-length attachment is still an attachment. */
	decode_ok(LIT("61-9[{\"_placeholder\":true,\"num\":0}]"), &p);
	ck_assert_int_eq(sg_sio_add_attachment(&p, (const unsigned char *)"", 0), 1);
	ck_assert_uint_eq(p.attachments[0].len, 0);
	sg_sio_packet_clear(&p);

	/* Clearing a packet still waiting for attachments frees what it got. */
	decode_ok(LIT("53-[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1},"
		      "{\"_placeholder\":true,\"num\":2}]"), &p);
	ck_assert_int_eq(sg_sio_add_attachment(&p, (const unsigned char *)"xy", 2), 0);
	sg_sio_packet_clear(&p);

	/* A non-binary packet takes no attachment. */
	decode_ok(LIT("2[\"m\"]"), &p);
	ck_assert_int_eq(sg_sio_add_attachment(&p, (const unsigned char *)"x", 1), -1);
	sg_sio_packet_clear(&p);
}
END_TEST

/* socket.io-parser 4.2.7 accepts these (it checks only that each placeholder's num is below
 * the attachment count): fewer placeholders than attachments, or one attachment used twice. */
START_TEST(sio_placeholder_count_vs_attachments)
{
	struct sg_sio_packet p;

	decode_ok(LIT("52-[\"m\",{\"_placeholder\":true,\"num\":0}]"), &p);
	ck_assert_uint_eq(p.n_attachments, 2);
	ck_assert_int_eq(sg_sio_check_placeholders(p.data, p.n_attachments), 1);
	sg_sio_packet_clear(&p);

	decode_ok(LIT("51-[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":0}]"), &p);
	ck_assert_int_eq(sg_sio_check_placeholders(p.data, p.n_attachments), 2);
	sg_sio_packet_clear(&p);
}
END_TEST

static json_t *jload(const char *s)
{
	json_error_t err;
	json_t *v = json_loads(s, SG_JSON_DECODE_FLAGS, &err);

	ck_assert_msg(v != NULL, "bad test JSON %s: %s", s, err.text);
	return v;
}

START_TEST(sio_placeholder_helpers)
{
	static const struct {
		const char *json;
		long num;
	} ph[] = {
		{"{\"_placeholder\":true,\"num\":0}", 0},
		{"{\"num\":3,\"_placeholder\":true}", 3},
		{"{\"_placeholder\":true,\"num\":255}", 255},
		{"{\"_placeholder\":false,\"num\":0}", -1},
		{"{\"_placeholder\":true,\"num\":-1}", -1},
		{"{\"_placeholder\":true,\"num\":1.5}", -1},
		{"{\"_placeholder\":true,\"num\":null}", -1},
		{"{\"_placeholder\":true}", -1},
		{"{\"num\":0}", -1},
		{"{\"_placeholder\":true,\"num\":0,\"x\":0}", -1},
		{"[true,0]", -1},
		{"0", -1},
	};
	static const struct {
		const char *json;
		size_t n;
		long want;
	} chk[] = {
		{"[]", 0, 0},
		{"[\"a\",1,null,{\"b\":\"c\"}]", 0, 0},
		{"[{\"_placeholder\":true,\"num\":0}]", 1, 1},
		{"[{\"_placeholder\":true,\"num\":0}]", 0, -1},
		{"[{\"a\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]", 2, 2},
		{"[{\"a\":[{\"_placeholder\":true,\"num\":2}]},{\"_placeholder\":true,\"num\":0}]", 2, -1},
		{"{\"deep\":{\"er\":[[{\"_placeholder\":true,\"num\":4}]]}}", 5, 1},
		{"{\"deep\":{\"er\":[[{\"_placeholder\":true,\"num\":5}]]}}", 5, -1},
		{"[{\"_placeholder\":\"yes\",\"num\":0}]", 1, -1},
	};

	for (size_t i = 0; i < sizeof(ph) / sizeof(ph[0]); i++) {
		json_t *v = jload(ph[i].json);

		ck_assert_msg(sg_sio_placeholder_num(v) == ph[i].num, "placeholder_num(%s) = %ld", ph[i].json,
			      sg_sio_placeholder_num(v));
		json_decref(v);
	}
	for (size_t i = 0; i < sizeof(chk) / sizeof(chk[0]); i++) {
		json_t *v = jload(chk[i].json);

		ck_assert_msg(sg_sio_check_placeholders(v, chk[i].n) == chk[i].want,
			      "check_placeholders(%s, %zu) = %ld, want %ld", chk[i].json, chk[i].n,
			      sg_sio_check_placeholders(v, chk[i].n), chk[i].want);
		json_decref(v);
	}
}
END_TEST

/* ---- Socket.IO: encoding ----------------------------------------------------------- */

static void assert_encodes(enum sg_sio_type type, const char *nsp, int64_t id, const char *json,
			   size_t n_att, const char *want)
{
	struct sg_strbuf sb;
	json_t *data = json ? jload(json) : NULL;

	sg_strbuf_init(&sb);
	ck_assert_int_eq(sg_sio_encode(&sb, type, nsp, id, data, n_att), 0);
	ck_assert_ptr_nonnull(sb.data);
	ck_assert_str_eq(sb.data, want);
	ck_assert_uint_eq(sb.len, strlen(want));
	sg_strbuf_free(&sb);
	json_decref(data);
}

START_TEST(sio_encode_reference)
{
	assert_encodes(SG_SIO_CONNECT, "/", -1, "{\"sid\":\"x\"}", 0, "40{\"sid\":\"x\"}");
	assert_encodes(SG_SIO_CONNECT, NULL, -1, "{\"sid\":\"x\"}", 0, "40{\"sid\":\"x\"}");
	assert_encodes(SG_SIO_CONNECT, "/custom", -1, "{\"sid\":\"x\"}", 0, "40/custom,{\"sid\":\"x\"}");
	assert_encodes(SG_SIO_CONNECT_ERROR, "/random", -1, "{\"message\":\"Invalid namespace\"}", 0,
		       "44/random,{\"message\":\"Invalid namespace\"}");
	assert_encodes(SG_SIO_DISCONNECT, "/custom", -1, NULL, 0, "41/custom,");
	assert_encodes(SG_SIO_DISCONNECT, "/", -1, NULL, 0, "41");
	assert_encodes(SG_SIO_EVENT, "/", -1, "[\"a\",1,{\"b\":0.5}]", 0, "42[\"a\",1,{\"b\":0.5}]");
	assert_encodes(SG_SIO_EVENT, "/admin", 13, "[\"a\"]", 0, "42/admin,13[\"a\"]");
	assert_encodes(SG_SIO_ACK, "/", 456, "[1,\"2\",{\"3\":[false]}]", 0, "43456[1,\"2\",{\"3\":[false]}]");
	assert_encodes(SG_SIO_ACK, "/", 0, "[]", 0, "430[]");
	assert_encodes(SG_SIO_BINARY_EVENT, "/", -1,
		       "[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", 2,
		       "452-[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
	assert_encodes(SG_SIO_BINARY_ACK, "/", 789,
		       "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", 2,
		       "462-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
	assert_encodes(SG_SIO_BINARY_EVENT, "/chat", 4, "[\"m\",{\"_placeholder\":true,\"num\":0}]", 1,
		       "451-/chat,4[\"m\",{\"_placeholder\":true,\"num\":0}]");
	assert_encodes(SG_SIO_EVENT, "/", SG_SIO_MAX_ACK_ID, "[\"a\"]", 0, "429007199254740991[\"a\"]");
}
END_TEST

START_TEST(sio_encode_decode_roundtrip)
{
	/* What the encoder writes (minus the Engine.IO '4') the decoder reads back. */
	for (size_t i = 0; i < sizeof(sio_valid) / sizeof(sio_valid[0]); i++) {
		struct sg_sio_packet p, q;
		struct sg_strbuf sb;

		decode_ok(sio_valid[i].s, sio_valid[i].n, &p);
		sg_strbuf_init(&sb);
		ck_assert_int_eq(sg_sio_encode(&sb, p.type, p.nsp, p.id, p.data, p.n_attachments), 0);
		ck_assert_int_eq(sb.data[0], '4');
		decode_ok(sb.data + 1, sb.len - 1, &q);
		ck_assert_int_eq(q.type, p.type);
		ck_assert_str_eq(q.nsp, p.nsp);
		ck_assert_int_eq(q.id, p.id);
		ck_assert_uint_eq(q.n_attachments, p.n_attachments);
		ck_assert(p.data ? json_equal(p.data, q.data) : q.data == NULL);
		sg_sio_packet_clear(&q);
		sg_sio_packet_clear(&p);
		sg_strbuf_free(&sb);
	}
}
END_TEST

/* ---- strbuf ------------------------------------------------------------------------ */

START_TEST(strbuf_basics)
{
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	ck_assert_ptr_null(sb.data);
	ck_assert_uint_eq(sb.len, 0);
	sg_strbuf_append(&sb, "abc", 3);
	sg_strbuf_appendc(&sb, '-');
	sg_strbuf_appendf(&sb, "%d:%s", 42, "x");
	sg_strbuf_append(&sb, "\0z", 2); /* binary-safe */
	ck_assert_uint_eq(sb.len, 10);
	ck_assert_mem_eq(sb.data, "abc-42:x\0z", 10);
	ck_assert_int_eq(sb.data[sb.len], '\0');
	ck_assert_uint_ge(sb.cap, sb.len + 1);
	ck_assert(!sb.oom);
	sg_strbuf_free(&sb);
	ck_assert_ptr_null(sb.data);
	ck_assert_uint_eq(sb.len, 0);
	sg_strbuf_free(&sb); /* twice is harmless */
}
END_TEST

START_TEST(strbuf_growth)
{
	struct sg_strbuf sb;
	size_t total = 0;

	sg_strbuf_init(&sb);
	for (int i = 0; i < 20000; i++) {
		char c = (char)('a' + i % 26);

		if (i % 3) {
			sg_strbuf_appendc(&sb, c);
			total++;
		} else {
			sg_strbuf_appendf(&sb, "%05d", i);
			total += 5;
		}
		ck_assert_uint_eq(sb.len, total);
		ck_assert_int_eq(sb.data[sb.len], '\0');
	}
	/* Spot-check content after many reallocations. */
	ck_assert_mem_eq(sb.data, "00000bc00003", 12);
	sg_strbuf_free(&sb);
}
END_TEST

START_TEST(strbuf_headroom_steal)
{
	enum { HEAD = 16 };
	struct sg_strbuf sb;
	unsigned char *block;

	sg_strbuf_init_headroom(&sb, HEAD);
	ck_assert_uint_eq(sb.head, HEAD);
	for (int i = 0; i < 100; i++)
		sg_strbuf_appendf(&sb, "%d,", i); /* several reallocations */
	ck_assert_ptr_nonnull(sb.data);
	/* The headroom is writable (valgrind checks it is inside the allocation). */
	memset(sb.data - HEAD, 0xaa, HEAD);
	ck_assert_mem_eq(sb.data, "0,1,2,", 6);
	{
		char *data = sb.data;
		size_t len = sb.len;

		block = sg_strbuf_steal(&sb);
		ck_assert_ptr_eq(block, data - HEAD);
		ck_assert_mem_eq(block + HEAD, "0,1,2,", 6);
		ck_assert_int_eq(block[HEAD + len], '\0');
	}
	ck_assert_ptr_null(sb.data);
	ck_assert_uint_eq(sb.len, 0);
	ck_assert_uint_eq(sb.head, HEAD);
	free(block);

	/* Stealing an empty buffer still gives an allocation with the headroom. */
	block = sg_strbuf_steal(&sb);
	ck_assert_ptr_nonnull(block);
	memset(block, 0, HEAD + 1);
	free(block);

	/* free keeps the headroom setting for reuse. */
	sg_strbuf_append(&sb, "x", 1);
	sg_strbuf_free(&sb);
	ck_assert_uint_eq(sb.head, HEAD);
	sg_strbuf_append(&sb, "yz", 2);
	memset(sb.data - HEAD, 0, HEAD);
	ck_assert_str_eq(sb.data, "yz");
	sg_strbuf_free(&sb);
}
END_TEST

START_TEST(strbuf_oom_sticky)
{
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	sg_strbuf_append(&sb, "ab", 2);
	sb.oom = 1; /* as after a failed allocation */
	sg_strbuf_append(&sb, "cd", 2);
	sg_strbuf_appendc(&sb, 'e');
	sg_strbuf_appendf(&sb, "%s", "fgh");
	ck_assert_uint_eq(sb.len, 2);
	ck_assert_str_eq(sb.data, "ab");
	sg_strbuf_free(&sb);
}
END_TEST

/* ---- JSON printing (JSON.stringify) ------------------------------------------------ */

/* Parses `in` as client JSON (numbers as reals) and prints it. */
static char *json_reprint(const char *in, size_t n)
{
	json_error_t err;
	json_t *v = json_loadb(in, n, SG_JSON_DECODE_FLAGS, &err);
	struct sg_strbuf sb;
	char *out;

	ck_assert_msg(v != NULL, "bad test JSON %.*s: %s", (int)n, in, err.text);
	sg_strbuf_init(&sb);
	ck_assert_int_eq(sg_json_append(&sb, v), 0);
	json_decref(v);
	ck_assert(!sb.oom);
	out = strdup(sb.data ? sb.data : "");
	sg_strbuf_free(&sb);
	ck_assert_ptr_nonnull(out);
	return out;
}

static char *json_print(const json_t *v)
{
	struct sg_strbuf sb;
	char *out;

	sg_strbuf_init(&sb);
	ck_assert_int_eq(sg_json_append(&sb, v), 0);
	out = strdup(sb.data ? sb.data : "");
	sg_strbuf_free(&sb);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* Expected outputs are what node's JSON.stringify(JSON.parse(input)) prints. */
static const struct {
	const char *in, *out;
} json_numbers[] = {
	{"0.1", "0.1"},
	{"1.5", "1.5"},
	{"100", "100"},
	{"100.0", "100"},
	{"1e21", "1e+21"},
	{"1e-7", "1e-7"},
	{"0.000001", "0.000001"},
	{"123456789012345680000", "123456789012345680000"},
	{"1.2345678901234568e20", "123456789012345680000"},
	{"-0.0", "0"},
	{"0", "0"},
	{"5e-324", "5e-324"},
	{"1.7976931348623157e308", "1.7976931348623157e+308"},
	{"-1.7976931348623157e308", "-1.7976931348623157e+308"},
	{"1e20", "100000000000000000000"},
	{"999999999999999900000", "999999999999999900000"},
	{"1.5e-7", "1.5e-7"},
	{"0.0000015", "0.0000015"},
	{"-42", "-42"},
	{"-0.5", "-0.5"},
	{"3.14159", "3.14159"},
	{"0.30000000000000004", "0.30000000000000004"},
	{"9007199254740993", "9007199254740992"},
	{"1e100", "1e+100"},
	{"1.25e-100", "1.25e-100"},
	{"123e-20", "1.23e-18"},
	{"1E3", "1000"},
	{"2.5E+25", "2.5e+25"},
	{"12345.678", "12345.678"},
	{"4.35", "4.35"},
	{"1e23", "1e+23"},
	{"2.2250738585072014e-308", "2.2250738585072014e-308"},
};

START_TEST(json_number_layout)
{
	for (size_t i = 0; i < sizeof(json_numbers) / sizeof(json_numbers[0]); i++) {
		char *out = json_reprint(json_numbers[i].in, strlen(json_numbers[i].in));

		ck_assert_msg(!strcmp(out, json_numbers[i].out), "%s printed as %s, expected %s",
			      json_numbers[i].in, out, json_numbers[i].out);
		free(out);
	}
}
END_TEST

START_TEST(json_negative_zero)
{
	json_t *v = json_real(-0.0);
	char *out;

	ck_assert(signbit(json_real_value(v)));
	out = json_print(v);
	ck_assert_str_eq(out, "0");
	free(out);
	json_decref(v);
}
END_TEST

START_TEST(json_integers)
{
	/* Integers that did not come from client JSON (the server's own values). */
	json_t *v = json_pack("[I,I,I]", (json_int_t)0, (json_int_t)-17, (json_int_t)9007199254740993LL);
	char *out = json_print(v);

	ck_assert_str_eq(out, "[0,-17,9007199254740993]");
	free(out);
	json_decref(v);
}
END_TEST

/* jansson refuses to build non-finite reals, so the test writes one into a real's value
 * field; the layout check fails loudly if jansson's private struct ever changes. */
struct jansson_real_mirror {
	json_t json;
	double value;
};

START_TEST(json_nonfinite_rejected)
{
	const double bad[] = {NAN, INFINITY, -INFINITY};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = json_real(1.5), *arr;
		struct sg_strbuf sb;

		ck_assert_ptr_nonnull(r);
		ck_assert_double_eq(((struct jansson_real_mirror *)r)->value, 1.5);
		((struct jansson_real_mirror *)r)->value = bad[i];
		ck_assert(!isfinite(json_real_value(r)));

		sg_strbuf_init(&sb);
		ck_assert_int_eq(sg_json_append(&sb, r), -1);
		sg_strbuf_free(&sb);

		/* Also when nested. */
		arr = json_pack("[s,{s:O}]", "a", "k", r);
		ck_assert_ptr_nonnull(arr);
		sg_strbuf_init(&sb);
		ck_assert_int_eq(sg_json_append(&sb, arr), -1);
		sg_strbuf_free(&sb);
		json_decref(arr);
		json_decref(r);
	}
}
END_TEST

/* The number of significant digits of a printed number, and its value. */
static int sig_digits(const char *s)
{
	int n = 0, seen_nonzero = 0, trailing_zeros = 0;

	for (; *s && *s != 'e'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (*s != '0')
			seen_nonzero = 1;
		if (!seen_nonzero)
			continue;
		n++;
		trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
	}
	return n - trailing_zeros;
}

/* Checks one printed double against ECMAScript's Number::toString rules: it reads back as
 * the same value; no decimal with fewer significant digits does; and the layout (plain for
 * 1e-6 <= |v| < 1e21, else d[.ddd]e±n) with no superfluous zeros. */
static void check_js_number(double v)
{
	json_t *j = json_real(v);
	char *heap = json_print(j), out[64];
	char *end, *e;
	double a = fabs(v);
	int k;

	/* A stack copy, so a failed assertion leaks nothing under CK_FORK=no. */
	snprintf(out, sizeof(out), "%s", heap);
	free(heap);
	json_decref(j);
	e = strchr(out, 'e');
	k = sig_digits(out);
	ck_assert_msg(strtod(out, &end) == v && *end == '\0', "%.17g printed as %s", v, out);
	ck_assert_msg(k >= 1 && k <= 17, "%.17g printed as %s", v, out);
	if (v == 0) {
		ck_assert_str_eq(out, "0");
	} else if (a >= 1e-6 && a < 1e21) {
		ck_assert_msg(!e, "%.17g printed as %s: should be plain", v, out);
		if (strchr(out, '.'))
			ck_assert_msg(out[strlen(out) - 1] != '0', "%s has trailing zeros", out);
	} else {
		ck_assert_msg(e && (e[1] == '+' || e[1] == '-') && e[2] >= '1' && e[2] <= '9',
			      "%.17g printed as %s: should be d.ddde±n", v, out);
		ck_assert_msg(out[v < 0] >= '1' && out[v < 0] <= '9' &&
			      (out[(v < 0) + 1] == '.' || out + (v < 0) + 1 == e),
			      "%s: one digit before the point", out);
		ck_assert_msg(e[-1] != '0' && e[-1] != '.', "%s has superfluous digits", out);
	}
	/* Shortest: no (k-1)-digit decimal near v reads back as v. */
	if (k > 1 && v != 0) {
		char tmp[64], cand[80];
		long long mant;
		int exp10;

		snprintf(tmp, sizeof(tmp), "%.*e", k - 2, a);
		/* tmp is d.ddd...e±x with k-1 digits: as an integer mantissa and exponent. */
		{
			char digits[32];
			int nd = 0;

			for (const char *c = tmp; *c && *c != 'e'; c++)
				if (*c != '.')
					digits[nd++] = *c;
			digits[nd] = '\0';
			mant = atoll(digits);
			exp10 = atoi(strchr(tmp, 'e') + 1) - (k - 2);
		}
		for (long long dm = -1; dm <= 1; dm++) {
			if (mant + dm <= 0)
				continue;
			snprintf(cand, sizeof(cand), "%llde%d", mant + dm, exp10);
			ck_assert_msg(strtod(cand, NULL) != a,
				      "%.17g printed as %s (%d digits), but %s also reads back as it",
				      v, out, k, cand);
		}
	}
}

START_TEST(json_number_random)
{
	rng_seed(424242);
	for (int i = 0; i < 30000; i++) {
		double v;

		switch (i % 3) {
		case 0: { /* any finite bit pattern */
			uint64_t bits = rng_next();
			memcpy(&v, &bits, sizeof(v));
			if (!isfinite(v))
				continue;
			break;
		}
		case 1: /* decimals of moderate size, where the plain layout is used */
			v = (double)(int64_t)(rng_next() % 2000000001ULL - 1000000000LL) /
			    pow(10, (double)rng_below(12));
			break;
		default: /* around the layout thresholds 1e-6 and 1e21 */
			v = (double)(rng_below(999999) + 1) * pow(10, (double)rng_below(40) - 20.0);
			break;
		}
		check_js_number(v);
	}
	check_js_number(1e-6);
	check_js_number(nextafter(1e-6, 0));
	check_js_number(1e-7);
	check_js_number(1e21);
	check_js_number(nextafter(1e21, 0));
	check_js_number(5e-324);
	check_js_number(1.7976931348623157e308);
}
END_TEST

/* Regression (src/strbuf.c, append_real, fixed in 0944608): only the correctly rounded
 * decimal of each length was tried. At a power of two the gap below v is half the gap above,
 * so a shorter decimal one unit above can read back as v while the nearest one does not;
 * JavaScript prints the shorter one. Expected values from node 20. */
START_TEST(json_number_powers_of_two)
{
	static const struct {
		double v;
		const char *js;
	} cases[] = {
		{0x1p-24, "5.960464477539063e-8"},      /* was 5.9604644775390625e-8 */
		{0x1p-44, "5.684341886080802e-14"},     /* was 5.6843418860808015e-14 */
		{0x1p122, "5.316911983139664e+36"},     /* was 5.3169119831396635e+36 */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_real(cases[i].v);
		char *out = json_print(j), got[64];

		/* Release everything before asserting: with CK_FORK=no a failure longjmps out. */
		snprintf(got, sizeof(got), "%s", out);
		free(out);
		json_decref(j);
		ck_assert_msg(!strcmp(got, cases[i].js), "2^%d printed as %s, JSON.stringify gives %s",
			      ilogb(cases[i].v), got, cases[i].js);
	}
	for (int e = -1074; e <= 1023; e++)
		check_js_number(ldexp(1.0, e));
}
END_TEST

START_TEST(json_string_escapes)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} cases[] = {
		{LIT("plain"), "\"plain\""},
		{LIT(""), "\"\""},
		{LIT("q\"b\\"), "\"q\\\"b\\\\\""},
		{LIT("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\""},
		{LIT("\x01\x1f\x0b"), "\"\\u0001\\u001f\\u000b\""},
		{LIT("a\0b"), "\"a\\u0000b\""},
		{LIT("\x1e"), "\"\\u001e\""},
		{LIT("\x7f"), "\"\x7f\""},
		{LIT("a/b</script>"), "\"a/b</script>\""},
		{LIT("caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80\""},
		{LIT("\x1a" "end"), "\"\\u001aend\""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sg_strbuf sb;

		sg_strbuf_init(&sb);
		sg_json_append_string(&sb, cases[i].in, cases[i].n);
		ck_assert_msg(!strcmp(sb.data, cases[i].out), "case %zu: got %s, expected %s", i,
			      sb.data, cases[i].out);
		sg_strbuf_free(&sb);

		/* The same through a jansson string value. */
		{
			json_t *s = json_stringn(cases[i].in, cases[i].n);
			char *out;

			ck_assert_ptr_nonnull(s);
			out = json_print(s);
			ck_assert_str_eq(out, cases[i].out);
			free(out);
			json_decref(s);
		}
	}
}
END_TEST

START_TEST(json_string_all_control_chars)
{
	/* Every byte below 0x20 is escaped, the named ones by name, the rest as \u00xx. */
	for (int c = 0; c < 0x20; c++) {
		char in = (char)c, want[16];
		struct sg_strbuf sb;

		switch (c) {
		case '\b': strcpy(want, "\"\\b\""); break;
		case '\f': strcpy(want, "\"\\f\""); break;
		case '\n': strcpy(want, "\"\\n\""); break;
		case '\r': strcpy(want, "\"\\r\""); break;
		case '\t': strcpy(want, "\"\\t\""); break;
		default: snprintf(want, sizeof(want), "\"\\u%04x\"", c);
		}
		sg_strbuf_init(&sb);
		sg_json_append_string(&sb, &in, 1);
		ck_assert_str_eq(sb.data, want);
		sg_strbuf_free(&sb);
	}
}
END_TEST

START_TEST(json_structures)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"{}", "{}"},
		{"[]", "[]"},
		{" { \"b\" : 1 , \"a\" : [ true , false , null ] } ", "{\"b\":1,\"a\":[true,false,null]}"},
		{"{\"z\":1,\"y\":2,\"x\":{\"w\":3,\"v\":4}}", "{\"z\":1,\"y\":2,\"x\":{\"w\":3,\"v\":4}}"},
		{"[[[[]]],{},[{}],\"\"]", "[[[[]]],{},[{}],\"\"]"},
		{"{\"k\\n\\\"\":\"v\\u0001\"}", "{\"k\\n\\\"\":\"v\\u0001\"}"},
		{"\"\\u00e9\\/\"", "\"\xc3\xa9/\""},
		{"[0.1,1e21,-0.0]", "[0.1,1e+21,0]"},
		{"null", "null"},
		{"true", "true"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = json_reprint(cases[i].in, strlen(cases[i].in));

		ck_assert_msg(!strcmp(out, cases[i].out), "%s printed as %s, expected %s", cases[i].in, out,
			      cases[i].out);
		free(out);
	}
}
END_TEST

START_TEST(json_insertion_order)
{
	/* Keys come out in the order they were set, not sorted. */
	json_t *o = json_object();
	char *out;

	json_object_set_new(o, "zeta", json_true());
	json_object_set_new(o, "alpha", json_real(2));
	json_object_set_new(o, "mid", json_string("m"));
	json_object_set_new(o, "zeta", json_false()); /* replacing keeps the position */
	out = json_print(o);
	ck_assert_str_eq(out, "{\"zeta\":false,\"alpha\":2,\"mid\":\"m\"}");
	free(out);
	json_decref(o);
}
END_TEST

/* ---- main -------------------------------------------------------------------------- */

/* A v2 client's namespace carries its query: cut off, and on a CONNECT the auth (strings,
 * form-decoded; the last of a repeated key wins; a bad escape stays as it is). */
START_TEST(sio_v2_namespace_query)
{
	struct sg_sio_packet p;
	char why[128];
	const char *pkt = "0/admin?token=a%2Bb+c&x=1&x=2&empty=&flag&bad=%zz%4,";

	ck_assert_int_eq(sg_sio_decode(pkt, strlen(pkt), &p, why, sizeof why), 0);
	ck_assert_int_eq(sg_sio_v2_namespace(&p), 0);
	ck_assert_str_eq(p.nsp, "/admin");
	ck_assert_ptr_nonnull(p.data);
	ck_assert_str_eq(json_string_value(json_object_get(p.data, "token")), "a+b c");
	ck_assert_str_eq(json_string_value(json_object_get(p.data, "x")), "2");
	ck_assert_str_eq(json_string_value(json_object_get(p.data, "empty")), "");
	ck_assert_str_eq(json_string_value(json_object_get(p.data, "flag")), "");
	ck_assert_str_eq(json_string_value(json_object_get(p.data, "bad")), "%zz%4");
	ck_assert_int_eq(json_object_size(p.data), 5);
	sg_sio_packet_clear(&p);

	/* Another packet type: the query goes, the data stays. */
	pkt = "2/admin?x=1,[\"ev\"]";
	ck_assert_int_eq(sg_sio_decode(pkt, strlen(pkt), &p, why, sizeof why), 0);
	ck_assert_int_eq(sg_sio_v2_namespace(&p), 0);
	ck_assert_str_eq(p.nsp, "/admin");
	ck_assert(json_is_array(p.data));
	sg_sio_packet_clear(&p);

	/* No query: nothing changes. */
	pkt = "0/admin,";
	ck_assert_int_eq(sg_sio_decode(pkt, strlen(pkt), &p, why, sizeof why), 0);
	ck_assert_int_eq(sg_sio_v2_namespace(&p), 0);
	ck_assert_str_eq(p.nsp, "/admin");
	ck_assert_ptr_null(p.data);
	sg_sio_packet_clear(&p);
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc;

	tc = tcase_create("eio_frame");
	tcase_add_test(tc, eio_frame_text_types);
	tcase_add_test(tc, eio_frame_text_invalid);
	tcase_add_test(tc, eio_frame_binary);
	tcase_add_test(tc, eio_frame_callback_value);
	suite_add_tcase(s, tc);

	tc = tcase_create("eio_payload");
	tcase_add_test(tc, eio_payload_single);
	tcase_add_test(tc, eio_payload_multiple);
	tcase_add_test(tc, eio_payload_text_and_binary);
	tcase_add_test(tc, eio_payload_control_packets);
	tcase_add_test(tc, eio_payload_empty_binary);
	tcase_add_test(tc, eio_payload_invalid);
	tcase_add_test(tc, eio_payload_callback_stops);
	tcase_add_test(tc, eio_payload_append_format);
	tcase_add_test(tc, eio_payload_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("base64");
	tcase_add_test(tc, base64_rfc4648_encode);
	tcase_add_test(tc, base64_rfc4648_decode);
	tcase_add_test(tc, base64_alphabet);
	tcase_add_test(tc, base64_invalid);
	tcase_add_test(tc, base64_length_counts);
	tcase_add_test(tc, base64_roundtrip_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("sio_decode");
	tcase_add_loop_test(tc, sio_decode_valid, 0, (int)(sizeof(sio_valid) / sizeof(sio_valid[0])));
	tcase_add_loop_test(tc, sio_decode_invalid, 0, (int)(sizeof(sio_invalid) / sizeof(sio_invalid[0])));
	tcase_add_test(tc, sio_decode_attachment_limit);
	tcase_add_test(tc, sio_decode_nul_escape);
	tcase_add_test(tc, sio_decode_numbers_are_reals);
	tcase_add_test(tc, sio_decode_why_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("sio_attachments");
	tcase_add_test(tc, sio_attachment_flow);
	tcase_add_test(tc, sio_attachment_empty_and_partial);
	tcase_add_test(tc, sio_placeholder_count_vs_attachments);
	tcase_add_test(tc, sio_placeholder_helpers);
	suite_add_tcase(s, tc);

	tc = tcase_create("sio_encode");
	tcase_add_test(tc, sio_encode_reference);
	tcase_add_test(tc, sio_encode_decode_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("strbuf");
	tcase_add_test(tc, strbuf_basics);
	tcase_add_test(tc, strbuf_growth);
	tcase_add_test(tc, strbuf_headroom_steal);
	tcase_add_test(tc, strbuf_oom_sticky);
	suite_add_tcase(s, tc);

	tc = tcase_create("json_print");
	tcase_set_timeout(tc, 60); /* the randomized number checks are slow under valgrind */
	tcase_add_test(tc, json_number_layout);
	tcase_add_test(tc, json_negative_zero);
	tcase_add_test(tc, json_integers);
	tcase_add_test(tc, json_nonfinite_rejected);
	tcase_add_test(tc, json_number_random);
	tcase_add_test(tc, json_number_powers_of_two);
	tcase_add_test(tc, json_string_escapes);
	tcase_add_test(tc, json_string_all_control_chars);
	tcase_add_test(tc, json_structures);
	tcase_add_test(tc, json_insertion_order);
	suite_add_tcase(s, tc);

	/* Bugs found and fixed: each stays as a regression test (see its comment). */
	tc = tcase_create("regressions");
	tcase_add_test(tc, sio_decode_zero_attachments);
	tcase_add_test(tc, sio_v2_namespace_query);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
