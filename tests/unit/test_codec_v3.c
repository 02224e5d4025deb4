/* test_codec_v3.c - the Engine.IO v3 codec (src/eio3_codec.c): WebSocket frames, string and
 * binary polling payloads, against byte strings that engine.io-parser 2.2.1 (the parser of
 * socket.io-client 2.x, and the one Node's server keeps as parser-v3) produces. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/eio3_codec.h"
#include "../../src/strbuf.h"
#include "rng.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIT(s) (const unsigned char *)(s), (sizeof(s) - 1) /* a literal and its length */

/* ---- helpers ------------------------------------------------------------------------ */

/* Logs the packets a decoder delivers as text, one per packet: "<type>t:<data>;" for text,
 * "<type>b:<hex>;" for binary, so a test compares one string. */
struct log {
	struct sg_strbuf sb;
	size_t n;
	size_t stop_at; /* return stop_rc when delivering packet number stop_at (0-based) */
	int stop_rc;
};

static void log_init(struct log *l)
{
	memset(l, 0, sizeof(*l));
	sg_strbuf_init(&l->sb);
	sg_strbuf_append(&l->sb, "", 0); /* data is never NULL, even when nothing is logged */
	l->stop_at = SIZE_MAX;
}

static int log_cb(void *ud, enum sg_eio_type type, const unsigned char *data, size_t len, int binary)
{
	struct log *l = ud;

	ck_assert_int_ge(type, SG_EIO_OPEN);
	ck_assert_int_le(type, SG_EIO_NOOP);
	ck_assert(len == 0 || data != NULL);
	sg_strbuf_appendf(&l->sb, "%d%c:", (int)type, binary ? 'b' : 't');
	for (size_t i = 0; i < len; i++) {
		if (binary)
			sg_strbuf_appendf(&l->sb, "%02x", data[i]);
		else
			sg_strbuf_appendc(&l->sb, (char)data[i]);
	}
	sg_strbuf_appendc(&l->sb, ';');
	ck_assert(!l->sb.oom);
	return l->n++ == l->stop_at ? l->stop_rc : 0;
}

enum form { FRAME_TEXT, FRAME_BINARY, PAYLOAD_STRING, PAYLOAD_BINARY };

/* Decodes an exact-size heap copy (valgrind sees any read past the end) into l. */
static int decode(enum form f, const unsigned char *p, size_t n, struct log *l)
{
	unsigned char *copy = malloc(n ? n : 1);
	int rc = -2;

	ck_assert_ptr_nonnull(copy);
	if (n)
		memcpy(copy, p, n);
	switch (f) {
	case FRAME_TEXT:
		rc = sg_eio3_decode_frame(copy, n, 0, log_cb, l);
		break;
	case FRAME_BINARY:
		rc = sg_eio3_decode_frame(copy, n, 1, log_cb, l);
		break;
	case PAYLOAD_STRING:
		rc = sg_eio3_decode_payload(copy, n, log_cb, l);
		break;
	case PAYLOAD_BINARY:
		rc = sg_eio3_decode_binary_payload(copy, n, log_cb, l);
		break;
	}
	free(copy);
	return rc;
}

/* Decodes and checks the return value and the whole log. */
static void expect(enum form f, const unsigned char *p, size_t n, int rc, const char *logged)
{
	struct log l;
	int got;

	log_init(&l);
	got = decode(f, p, n, &l);
	ck_assert_msg(got == rc, "form %d, %zu bytes: returned %d, not %d (log \"%s\")", (int)f, n,
		      got, rc, l.sb.data);
	ck_assert_str_eq(l.sb.data, logged);
	sg_strbuf_free(&l.sb);
}

static void assert_bytes(const struct sg_strbuf *sb, const unsigned char *want, size_t n)
{
	ck_assert(!sb->oom);
	ck_assert_uint_eq(sb->len, n);
	ck_assert_mem_eq(sb->data, want, n);
}

/* Appends one random code point as UTF-8, from every encoded length (never a surrogate);
 * returns the UTF-16 units it takes. */
static size_t rand_utf8(struct sg_strbuf *sb)
{
	uint32_t c;
	unsigned char u[4];

	switch (rng_below(4)) {
	case 0:
		sg_strbuf_appendc(sb, (char)rng_below(0x80));
		return 1;
	case 1:
		c = 0x80 + (uint32_t)rng_below(0x800 - 0x80);
		u[0] = (unsigned char)(0xc0 | c >> 6);
		u[1] = (unsigned char)(0x80 | (c & 0x3f));
		sg_strbuf_append(sb, u, 2);
		return 1;
	case 2:
		do
			c = 0x800 + (uint32_t)rng_below(0x10000 - 0x800);
		while (c >= 0xd800 && c <= 0xdfff);
		u[0] = (unsigned char)(0xe0 | c >> 12);
		u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (c & 0x3f));
		sg_strbuf_append(sb, u, 3);
		return 1;
	default:
		c = 0x10000 + (uint32_t)rng_below(0x110000 - 0x10000);
		u[0] = (unsigned char)(0xf0 | c >> 18);
		u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (c & 0x3f));
		sg_strbuf_append(sb, u, 4);
		return 2;
	}
}

/* ---- WebSocket frames --------------------------------------------------------------- */

START_TEST(frame_text)
{
	expect(FRAME_TEXT, LIT("4hello"), 0, "4t:hello;");
	expect(FRAME_TEXT, LIT("2probe"), 0, "2t:probe;");
	expect(FRAME_TEXT, LIT("3"), 0, "3t:;");
	expect(FRAME_TEXT, LIT("0{\"sid\":\"x\"}"), 0, "0t:{\"sid\":\"x\"};");
	expect(FRAME_TEXT, LIT("6"), 0, "6t:;");
	/* engine.io-parser: encodePacket({type: 'message', data: '\u20ac'}) */
	expect(FRAME_TEXT, LIT("\x34\xe2\x82\xac"), 0, "4t:\xe2\x82\xac;");
	/* A client in base64 mode (forceBase64, b64=1) sends binary as text:
	 * encodePacket({type: 'message', data: Buffer [1, 2, 3]}, false) is "b4AQID". */
	expect(FRAME_TEXT, LIT("b4AQID"), 0, "4b:010203;");
	expect(FRAME_TEXT, LIT("b4"), 0, "4b:;");
}
END_TEST

START_TEST(frame_text_invalid)
{
	static const char *const bad[] = {"", "7", "9x", "x", "/4", " 4", "b", "b7AQID", "bxAQID",
					  "b4AQI", "b4AQ=D", "b4A*ID"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(FRAME_TEXT, (const unsigned char *)bad[i], strlen(bad[i]), -1, "");
}
END_TEST

START_TEST(frame_binary)
{
	/* engine.io-parser: encodePacket({type: 'message', data: Buffer [1, 2, 3]}, true) */
	expect(FRAME_BINARY, LIT("\x04\x01\x02\x03"), 0, "4b:010203;");
	expect(FRAME_BINARY, LIT("\x04"), 0, "4b:;");
	/* The type byte is delivered as it is; only messages come from real clients. */
	expect(FRAME_BINARY, LIT("\x02" "probe"), 0, "2b:70726f6265;");
	expect(FRAME_BINARY, LIT("\x00\xff"), 0, "0b:ff;");
	expect(FRAME_BINARY, LIT(""), -1, "");
	expect(FRAME_BINARY, LIT("\x07\x01"), -1, "");
	expect(FRAME_BINARY, LIT("4abc"), -1, ""); /* the digit '4' is not the type byte 4 */
}
END_TEST

START_TEST(frame_callback_value)
{
	struct log l;

	log_init(&l);
	l.stop_at = 0;
	l.stop_rc = 42;
	ck_assert_int_eq(decode(FRAME_BINARY, LIT("\x04\x01"), &l), 42);
	ck_assert_int_eq(decode(FRAME_TEXT, LIT("b4AQID"), &l), 0);
	ck_assert_str_eq(l.sb.data, "4b:01;4b:010203;");
	sg_strbuf_free(&l.sb);
}
END_TEST

START_TEST(frame_append)
{
	static const unsigned char bin[] = {1, 2, 3};
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	sg_eio3_frame_append(&sb, LIT("4hello"), 0, 0);
	assert_bytes(&sb, LIT("4hello"));
	sb.len = 0;
	sg_eio3_frame_append(&sb, LIT("4hello"), 0, 1); /* b64 changes binary frames only */
	assert_bytes(&sb, LIT("4hello"));
	sb.len = 0;
	sg_eio3_frame_append(&sb, bin, sizeof(bin), 1, 0);
	assert_bytes(&sb, LIT("\x04\x01\x02\x03"));
	sb.len = 0;
	sg_eio3_frame_append(&sb, bin, sizeof(bin), 1, 1);
	assert_bytes(&sb, LIT("b4AQID"));
	sb.len = 0;
	sg_eio3_frame_append(&sb, bin, 0, 1, 0);
	assert_bytes(&sb, LIT("\x04"));
	sg_strbuf_free(&sb);
}
END_TEST

/* ---- string payloads ---------------------------------------------------------------- */

/* engine.io-parser 2.2.1, encodePayload(packets, false), as UTF-8 bytes. */
static const unsigned char str_mixed[] = "6:4hello6:b4AQID"; /* 'hello', Buffer [1, 2, 3] */
/* '\u20ac\u{1F600}', {ping, 'probe'}, {noop}: the emoji counts 2, so "4:" for 8 bytes. */
static const unsigned char str_nonbmp[] = "4:4\xe2\x82\xac\xf0\x9f\x98\x80" "6:2probe1:6";
static const unsigned char str_open[] = "80:0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],"
					"\"pingInterval\":25000,\"pingTimeout\":20000}";

START_TEST(payload_string_fixtures)
{
	expect(PAYLOAD_STRING, str_mixed, sizeof(str_mixed) - 1, 0, "4t:hello;4b:010203;");
	expect(PAYLOAD_STRING, str_nonbmp, sizeof(str_nonbmp) - 1, 0,
	       "4t:\xe2\x82\xac\xf0\x9f\x98\x80;2t:probe;6t:;");
	expect(PAYLOAD_STRING, str_open, sizeof(str_open) - 1, 0,
	       "0t:{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
	       "\"pingTimeout\":20000};");
	expect(PAYLOAD_STRING, LIT("2:b4"), 0, "4b:;");
	expect(PAYLOAD_STRING, LIT("1:1"), 0, "1t:;");
}
END_TEST

START_TEST(payload_string_encode_fixtures)
{
	static const unsigned char bin[] = {1, 2, 3};
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	sg_eio3_payload_append(&sb, LIT("4hello"), 0);
	sg_eio3_payload_append(&sb, bin, sizeof(bin), 1);
	assert_bytes(&sb, str_mixed, sizeof(str_mixed) - 1);
	sb.len = 0;
	sg_eio3_payload_append(&sb, LIT("4\xe2\x82\xac\xf0\x9f\x98\x80"), 0);
	sg_eio3_payload_append(&sb, LIT("2probe"), 0);
	sg_eio3_payload_append(&sb, LIT("6"), 0);
	assert_bytes(&sb, str_nonbmp, sizeof(str_nonbmp) - 1);
	sb.len = 0;
	sg_eio3_payload_append(&sb, str_open + 3, sizeof(str_open) - 4, 0);
	assert_bytes(&sb, str_open, sizeof(str_open) - 1);
	sg_strbuf_free(&sb);
}
END_TEST

START_TEST(payload_string_utf16_lengths)
{
	/* One unit per code point up to U+FFFF whatever its UTF-8 length, two above. */
	expect(PAYLOAD_STRING, LIT("2:4\x7f"), 0, "4t:\x7f;");
	expect(PAYLOAD_STRING, LIT("2:4\xc3\xa9"), 0, "4t:\xc3\xa9;");
	expect(PAYLOAD_STRING, LIT("2:4\xef\xbf\xbf"), 0, "4t:\xef\xbf\xbf;");
	expect(PAYLOAD_STRING, LIT("3:4\xf0\x90\x80\x80"), 0, "4t:\xf0\x90\x80\x80;");
	expect(PAYLOAD_STRING, LIT("3:4\xf4\x8f\xbf\xbf" "1:6"), 0, "4t:\xf4\x8f\xbf\xbf;6t:;");
	/* A length that ends between the two halves of a pair: the reference would cut a
	 * lone surrogate out of it. */
	expect(PAYLOAD_STRING, LIT("2:4\xf0\x9f\x98\x80"), -1, "");
	expect(PAYLOAD_STRING, LIT("1:62:4\xf0\x9f\x98\x80" "1:6"), -1, "6t:;");
	/* Bytes are not units: the 8-byte, 4-unit packet with a byte count runs on. */
	expect(PAYLOAD_STRING, LIT("8:4\xe2\x82\xac\xf0\x9f\x98\x80" "1:6"), -1, "");
	/* Each count the encoder writes decodes back. */
	for (int i = 0; i < 200; i++) {
		struct sg_strbuf text, pay;
		struct log l;
		size_t units = 1;
		char want[32];

		sg_strbuf_init(&text);
		sg_strbuf_init(&pay);
		sg_strbuf_appendc(&text, '4');
		for (size_t k = rng_below(12); k; k--)
			units += rand_utf8(&text);
		sg_eio3_payload_append(&pay, (unsigned char *)text.data, text.len, 0);
		snprintf(want, sizeof(want), "%zu:", units);
		ck_assert(!pay.oom);
		ck_assert_msg(strncmp(pay.data, want, strlen(want)) == 0, "\"%s\" should start \"%s\"",
			      pay.data, want);
		log_init(&l);
		ck_assert_int_eq(decode(PAYLOAD_STRING, (unsigned char *)pay.data, pay.len, &l), 0);
		ck_assert_uint_eq(l.n, 1);
		ck_assert_uint_eq(l.sb.len, text.len + 3); /* "4t:" + data + ";" */
		ck_assert_mem_eq(l.sb.data + 3, text.data + 1, text.len - 1);
		sg_strbuf_free(&l.sb);
		sg_strbuf_free(&text);
		sg_strbuf_free(&pay);
	}
}
END_TEST

START_TEST(payload_string_invalid)
{
	/* Each bad packet sits between two good ones: the first is delivered, nothing after. */
	static const char *const bad[] = {
		":4",                          /* empty length */
		"a:4", "1x:4", "-1:4", "+1:4", " 1:4", "1e0:4", /* not decimal */
		"0:",                          /* zero */
		"01:4",                        /* leading zero */
		"99999999999999999999999:4",   /* overlong run, past SIZE_MAX */
		"18446744073709551617:4",      /* SIZE_MAX + 2: would wrap */
		"999:4",                       /* past the end */
		"2:4\xe2\x82",                 /* ends inside a UTF-8 sequence */
		"2:4\xff", "2:4\x80", "2:4\xc0\xaf", "3:4\xe0\x80\xaf", /* invalid, overlong */
		"2:4\xed\xa0\x80",             /* UTF-8 for a surrogate */
		"2:4\xf4\x90\x80\x80",         /* above U+10FFFF */
		"1:7", "1:x", "1:b", "2:b7", "2:bx", "1:\xc3\xa9", /* unknown type */
		"5:b4AQI", "6:b4AQ=D", "6:b4A*ID", "6:b4=QID", /* bad base64 */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sg_strbuf in;

		sg_strbuf_init(&in);
		sg_strbuf_appendf(&in, "1:2%s1:6", bad[i]);
		ck_assert(!in.oom);
		expect(PAYLOAD_STRING, (unsigned char *)in.data, in.len, -1, "2t:;");
		sg_strbuf_free(&in);
	}
	/* And alone. */
	expect(PAYLOAD_STRING, LIT(""), -1, "");
	expect(PAYLOAD_STRING, LIT("1"), -1, "");
	expect(PAYLOAD_STRING, LIT("1:"), -1, "");
	expect(PAYLOAD_STRING, LIT("1:6" "12"), -1, "6t:;"); /* a length with no colon at the end */
	expect(PAYLOAD_STRING, LIT("1:6:"), -1, "6t:;");
	expect(PAYLOAD_STRING, LIT("6:b4AQ=="), 0, "4b:01;"); /* the valid neighbour of the above */
}
END_TEST

START_TEST(payload_string_callback_stops)
{
	struct log l;

	log_init(&l);
	l.stop_at = 1;
	l.stop_rc = 7;
	ck_assert_int_eq(decode(PAYLOAD_STRING, LIT("1:66:4hello1:1"), &l), 7);
	ck_assert_str_eq(l.sb.data, "6t:;4t:hello;");
	sg_strbuf_free(&l.sb);
}
END_TEST

/* ---- binary payloads ---------------------------------------------------------------- */

/* engine.io-parser 2.2.1, encodePayload(packets, true) (encodePayloadAsBinary). */
static const unsigned char bin_mixed[] = { /* 'hello', Buffer [1, 2, 3] */
	0x00, 0x06, 0xff, 0x34, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
	0x01, 0x04, 0xff, 0x04, 0x01, 0x02, 0x03,
};
static const unsigned char bin_nonbmp[] = { /* '\u20ac\u{1F600}' (8 bytes), Buffer(12) of 0xab */
	0x00, 0x08, 0xff, 0x34, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80,
	0x01, 0x01, 0x03, 0xff, 0x04, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
	0xab, 0xab,
};

START_TEST(payload_binary_fixtures)
{
	expect(PAYLOAD_BINARY, bin_mixed, sizeof(bin_mixed), 0, "4t:hello;4b:010203;");
	expect(PAYLOAD_BINARY, bin_nonbmp, sizeof(bin_nonbmp), 0,
	       "4t:\xe2\x82\xac\xf0\x9f\x98\x80;4b:abababababababababababab;");
	/* A string packet in base64 form is accepted there too, as the reference does. */
	expect(PAYLOAD_BINARY, LIT("\x00\x06\xff" "b4AQID"), 0, "4b:010203;");
	/* Byte counts, not characters: 4 takes "4\u20ac", and the next kind byte is 0xf0. */
	expect(PAYLOAD_BINARY, LIT("\x00\x04\xff\x34\xe2\x82\xac\xf0\x9f\x98\x80"), -1,
	       "4t:\xe2\x82\xac;");
}
END_TEST

START_TEST(payload_binary_encode_fixtures)
{
	static const unsigned char bin[] = {1, 2, 3};
	unsigned char ab[12];
	struct sg_strbuf sb, text;

	sg_strbuf_init(&sb);
	sg_eio3_binary_payload_append(&sb, LIT("4hello"), 0);
	sg_eio3_binary_payload_append(&sb, bin, sizeof(bin), 1);
	assert_bytes(&sb, bin_mixed, sizeof(bin_mixed));
	sb.len = 0;
	memset(ab, 0xab, sizeof(ab));
	sg_eio3_binary_payload_append(&sb, LIT("4\xe2\x82\xac\xf0\x9f\x98\x80"), 0);
	sg_eio3_binary_payload_append(&sb, ab, sizeof(ab), 1);
	assert_bytes(&sb, bin_nonbmp, sizeof(bin_nonbmp));
	/* A three-digit length: 'x' x 120 is the 121-byte "4xxx...", header 00 01 02 01 ff;
	 * an empty Buffer is the type byte alone, 01 01 ff 04. */
	sb.len = 0;
	sg_strbuf_init(&text);
	sg_strbuf_appendc(&text, '4');
	for (int i = 0; i < 120; i++)
		sg_strbuf_appendc(&text, 'x');
	sg_eio3_binary_payload_append(&sb, (unsigned char *)text.data, text.len, 0);
	sg_eio3_binary_payload_append(&sb, bin, 0, 1);
	ck_assert(!sb.oom);
	ck_assert_uint_eq(sb.len, 5 + 121 + 4);
	ck_assert_mem_eq(sb.data, "\x00\x01\x02\x01\xff\x34\x78\x78", 8);
	ck_assert_mem_eq(sb.data + 5 + 121, "\x01\x01\xff\x04", 4);
	sg_strbuf_free(&text);
	sg_strbuf_free(&sb);
}
END_TEST

START_TEST(payload_binary_invalid)
{
	/* Each bad packet sits between two good ones: the first is delivered, nothing after. */
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
#define B(s) {s, sizeof(s) - 1}
		B("\x02\x01\xff\x04"),       /* kind neither 0 nor 1 */
		B("\x02\x01\xff\x36"),
		B("\xff\x01\xff\x04"),
		B("\x00\xff\x36"),           /* empty length */
		B("\x00\x00\xff"),           /* zero */
		B("\x00\x00\x01\xff\x36"),   /* leading zero */
		B("\x00\x0a\xff\x36"),       /* a digit byte above 9 */
		B("\x00\x01\x0a\xff\x36"),
		B("\x00" "1\xff\x36"),       /* an ASCII digit */
		B("\x00\x09\x09\xff\x36"),   /* past the end */
		B("\x00\x02\xff\x34\xff"),   /* invalid UTF-8 in a string packet */
		B("\x00\x02\xff\x34\xc0"),
		B("\x00\x04\xff\x34\xed\xb0\x80"), /* a lone surrogate */
		B("\x00\x01\xff\x37"),       /* unknown types */
		B("\x00\x01\xff" "b"),
		B("\x01\x01\xff\x07"),
		B("\x01\x01\xff" "4"),       /* the digit '4' is not the type byte 4 */
		B("\x00\x05\xff" "b4AQI"),   /* bad base64 */
		B("\x00\x06\xff" "b4AQ=D"),
#undef B
	};
	unsigned char in[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = 0;

		memcpy(in, "\x00\x01\xff\x32", 4); /* ping */
		n = 4;
		memcpy(in + n, bad[i].s, bad[i].n);
		n += bad[i].n;
		memcpy(in + n, "\x00\x01\xff\x36", 4); /* noop */
		n += 4;
		expect(PAYLOAD_BINARY, in, n, -1, "2t:;");
	}
	expect(PAYLOAD_BINARY, LIT(""), -1, "");
	expect(PAYLOAD_BINARY, LIT("\x00"), -1, "");
	expect(PAYLOAD_BINARY, LIT("\x00\x01"), -1, "");           /* no 0xff */
	expect(PAYLOAD_BINARY, LIT("\x00\x01\xff"), -1, "");       /* no packet */
	expect(PAYLOAD_BINARY, LIT("\x00\x01\xff\x36\x00"), -1, "6t:;");
	expect(PAYLOAD_BINARY, LIT("\x01\x01\xff\x04"), 0, "4b:;"); /* the good neighbour */
}
END_TEST

START_TEST(payload_binary_long_digit_runs)
{
	/* The reference gives up past 310 digits; here a run is cut as soon as its value
	 * exceeds what is left, long before, so a run of 9s never wraps a size_t. */
	static const size_t runs[] = {1, 19, 20, 21, 310, 311, 400};

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		size_t d = runs[i];
		unsigned char *in = malloc(d + 3);

		ck_assert_ptr_nonnull(in);
		in[0] = 0;
		memset(in + 1, 9, d);
		in[d + 1] = 0xff;
		in[d + 2] = '6';
		expect(PAYLOAD_BINARY, in, d + 3, -1, "");
		expect(PAYLOAD_BINARY, in, d + 1, -1, ""); /* and with no 0xff: digits to the end */
		free(in);
	}
}
END_TEST

START_TEST(payload_binary_callback_stops)
{
	struct log l;

	log_init(&l);
	l.stop_at = 0;
	l.stop_rc = 3;
	ck_assert_int_eq(decode(PAYLOAD_BINARY, bin_mixed, sizeof(bin_mixed), &l), 3);
	ck_assert_str_eq(l.sb.data, "4t:hello;");
	sg_strbuf_free(&l.sb);
}
END_TEST

/* ---- both forms: random mixed round trips --------------------------------------------- */

START_TEST(payload_roundtrip_mixed)
{
	for (int round = 0; round < 300; round++) {
		struct sg_strbuf want, want2, str, bin, frames;
		struct log ls, lb, lf;
		size_t npk = 1 + rng_below(6);

		sg_strbuf_init(&want);
		sg_strbuf_init(&want2);
		sg_strbuf_init(&str);
		sg_strbuf_init(&bin);
		sg_strbuf_init(&frames);
		for (size_t i = 0; i < npk; i++) {
			struct sg_strbuf pk, line;
			int binary = rng_below(3) == 0;

			sg_strbuf_init(&pk);
			sg_strbuf_init(&line);
			sg_strbuf_append(&pk, "", 0); /* never NULL, even for an empty binary message */
			if (binary) {
				for (size_t k = rng_below(40); k; k--)
					sg_strbuf_appendc(&pk, (char)rng_below(256));
				sg_strbuf_appendf(&line, "4b:");
				for (size_t k = 0; k < pk.len; k++)
					sg_strbuf_appendf(&line, "%02x", (unsigned char)pk.data[k]);
			} else {
				sg_strbuf_appendc(&pk, (char)('0' + rng_below(7)));
				for (size_t k = rng_below(30); k; k--)
					rand_utf8(&pk);
				sg_strbuf_appendf(&line, "%ct:", pk.data[0]);
				sg_strbuf_append(&line, pk.data + 1, pk.len - 1);
			}
			sg_strbuf_appendc(&line, ';');
			sg_strbuf_append(&want, line.data, line.len);
			sg_strbuf_append(&want2, line.data, line.len);
			sg_strbuf_append(&want2, line.data, line.len);
			sg_strbuf_free(&line);
			sg_eio3_payload_append(&str, (unsigned char *)pk.data, pk.len, binary);
			sg_eio3_binary_payload_append(&bin, (unsigned char *)pk.data, pk.len, binary);
			/* Frames one at a time, in both b64 modes. */
			{
				struct sg_strbuf f;

				for (int b64 = 0; b64 <= 1; b64++) {
					sg_strbuf_init(&f);
					sg_strbuf_append(&f, "", 0);
					sg_eio3_frame_append(&f, (unsigned char *)pk.data, pk.len, binary, b64);
					ck_assert(!f.oom);
					log_init(&lf);
					ck_assert_int_eq(decode(binary && !b64 ? FRAME_BINARY : FRAME_TEXT,
								(unsigned char *)f.data, f.len, &lf), 0);
					sg_strbuf_append(&frames, lf.sb.data, lf.sb.len);
					sg_strbuf_free(&lf.sb);
					sg_strbuf_free(&f);
				}
			}
			sg_strbuf_free(&pk);
		}
		ck_assert(!str.oom && !bin.oom && !want.oom && !want2.oom && !frames.oom);
		log_init(&ls);
		log_init(&lb);
		ck_assert_int_eq(decode(PAYLOAD_STRING, (unsigned char *)str.data, str.len, &ls), 0);
		ck_assert_int_eq(decode(PAYLOAD_BINARY, (unsigned char *)bin.data, bin.len, &lb), 0);
		ck_assert_uint_eq(ls.n, npk);
		ck_assert_uint_eq(lb.n, npk);
		ck_assert_uint_eq(ls.sb.len, want.len);
		ck_assert_mem_eq(ls.sb.data, want.data, want.len);
		ck_assert_uint_eq(lb.sb.len, want.len);
		ck_assert_mem_eq(lb.sb.data, want.data, want.len);
		/* Each packet twice (b64 off, on), in order. */
		ck_assert_uint_eq(frames.len, want2.len);
		ck_assert_mem_eq(frames.data, want2.data, want2.len);
		sg_strbuf_free(&ls.sb);
		sg_strbuf_free(&lb.sb);
		sg_strbuf_free(&want);
		sg_strbuf_free(&want2);
		sg_strbuf_free(&str);
		sg_strbuf_free(&bin);
		sg_strbuf_free(&frames);
	}
}
END_TEST

/* ---- helpers for the transports -------------------------------------------------------- */

START_TEST(transport_helpers)
{
	ck_assert_int_eq(sg_eio3_b64_requested(NULL), 0);
	ck_assert_int_eq(sg_eio3_b64_requested(""), 0);
	ck_assert_int_eq(sg_eio3_b64_requested("1"), 1);
	ck_assert_int_eq(sg_eio3_b64_requested("0"), 1); /* a non-empty string is truthy */
	ck_assert_int_eq(sg_eio3_b64_requested("true"), 1);

	ck_assert_int_eq(sg_eio3_body_is_binary("application/octet-stream"), 1);
	ck_assert_int_eq(sg_eio3_body_is_binary("text/plain;charset=UTF-8"), 0);
	ck_assert_int_eq(sg_eio3_body_is_binary("application/octet-stream; charset=UTF-8"), 0);
	ck_assert_int_eq(sg_eio3_body_is_binary(NULL), 0);

	ck_assert_int_eq(sg_eio3_use_binary_payload(0, 1), 1);
	ck_assert_int_eq(sg_eio3_use_binary_payload(0, 0), 0);
	ck_assert_int_eq(sg_eio3_use_binary_payload(1, 1), 0);
	ck_assert_int_eq(sg_eio3_use_binary_payload(1, 0), 0);
}
END_TEST

static Suite *codec_v3_suite(void)
{
	Suite *s = suite_create("codec_v3");
	TCase *tc;

	tc = tcase_create("frames");
	tcase_add_test(tc, frame_text);
	tcase_add_test(tc, frame_text_invalid);
	tcase_add_test(tc, frame_binary);
	tcase_add_test(tc, frame_callback_value);
	tcase_add_test(tc, frame_append);
	suite_add_tcase(s, tc);

	tc = tcase_create("string_payloads");
	tcase_add_test(tc, payload_string_fixtures);
	tcase_add_test(tc, payload_string_encode_fixtures);
	tcase_add_test(tc, payload_string_utf16_lengths);
	tcase_add_test(tc, payload_string_invalid);
	tcase_add_test(tc, payload_string_callback_stops);
	suite_add_tcase(s, tc);

	tc = tcase_create("binary_payloads");
	tcase_add_test(tc, payload_binary_fixtures);
	tcase_add_test(tc, payload_binary_encode_fixtures);
	tcase_add_test(tc, payload_binary_invalid);
	tcase_add_test(tc, payload_binary_long_digit_runs);
	tcase_add_test(tc, payload_binary_callback_stops);
	suite_add_tcase(s, tc);

	tc = tcase_create("both");
	tcase_set_timeout(tc, 60); /* the randomized round trips are slow under valgrind */
	tcase_add_test(tc, payload_roundtrip_mixed);
	tcase_add_test(tc, transport_helpers);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codec_v3_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
