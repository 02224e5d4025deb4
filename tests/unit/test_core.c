/* test_core.c - templates, JSON scalars, constant-time comparison and frame buffers. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/buf.h"
#include "../../src/log.h"
#include "../../src/middleware.h"
#include "../../src/stats.h"
#include "../../src/strbuf.h"
#include "../../src/template.h"
#include "../../src/util/clock.h"

#include <check.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- templates ----------------------------------------------------------------------- */

/* A stand-in for the gateway's lookup: "nsp", "auth.<key>" and "query.<key>" from a JSON
 * object; every name asked for is recorded so the test can check the exact bytes passed. */
struct fake_ctx {
	json_t *vars; /* {"nsp": "...", "auth": {...}, "query": {...}} */
	char asked[8][32];
	size_t n_asked;
};

static int fake_lookup(void *ud, const char *name, size_t len, struct sg_strbuf *out)
{
	struct fake_ctx *ctx = ud;
	const json_t *v = NULL;

	if (ctx->n_asked < 8) {
		snprintf(ctx->asked[ctx->n_asked], sizeof(ctx->asked[0]), "%.*s", (int)len, name);
		ctx->n_asked++;
	}
	if (len == 3 && !memcmp(name, "nsp", 3)) {
		v = json_object_get(ctx->vars, "nsp");
	} else if (len > 5 && !memcmp(name, "auth.", 5)) {
		v = json_object_getn(json_object_get(ctx->vars, "auth"), name + 5, len - 5);
	} else if (len > 6 && !memcmp(name, "query.", 6)) {
		v = json_object_getn(json_object_get(ctx->vars, "query"), name + 6, len - 6);
	}
	if (!v)
		return -1;
	return sg_json_scalar_append(out, v);
}

static void fake_init(struct fake_ctx *ctx)
{
	json_error_t err;

	memset(ctx, 0, sizeof(*ctx));
	ctx->vars = json_loads("{\"nsp\":\"/chat\","
			       "\"auth\":{\"sub\":\"u-17\",\"n\":42.0,\"half\":0.5,\"admin\":true,"
			       "\"nothing\":null,\"obj\":{}},"
			       "\"query\":{\"room\":\"lobby\",\"empty\":\"\"}}",
			       JSON_DECODE_INT_AS_REAL, &err);
	ck_assert_ptr_nonnull(ctx->vars);
}

/* Expands `tpl`; returns the result (caller frees) or NULL when expansion failed. */
static char *expand(struct fake_ctx *ctx, const char *tpl)
{
	struct sg_strbuf sb;
	char *out = NULL;

	sg_strbuf_init(&sb);
	if (sg_template_expand(tpl, fake_lookup, ctx, &sb) == 0) {
		out = strdup(sb.data ? sb.data : "");
		ck_assert_ptr_nonnull(out);
	}
	sg_strbuf_free(&sb);
	return out;
}

/* A text log line is one event: a newline (or any control byte) in a client's string,
 * say a room name, must not start a forged line. */
START_TEST(log_text_one_line)
{
	char buf[2048];
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	ck_assert_ptr_nonnull(tmp);
	fflush(stderr);
	ck_assert_int_ge(dup2(fileno(tmp), 2), 0);
	sg_log_set(SG_LOG_INFO, SG_LOG_TEXT);
	sg_log(SG_LOG_WARN, "sio", "id\n1", "room '%s' refused", "x\n2026-01-01T00:00:00.000Z error forged\r\x7f");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	ck_assert_ptr_nonnull(strstr(buf, "warn sio 'id?1': room 'x?2026-01-01T00:00:00.000Z error forged?" "?' refused\n"));
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + n - 1);
}
END_TEST

START_TEST(template_valid)
{
	static const struct {
		const char *tpl, *want;
	} cases[] = {
		{"", ""},
		{"plain-text", "plain-text"},
		{"{nsp}", "/chat"},
		{"user:{auth.sub}", "user:u-17"},
		{"{nsp}/{query.room}/{auth.sub}", "/chat/lobby/u-17"},
		{"{nsp}{nsp}", "/chat/chat"},
		{"n={auth.n};h={auth.half};a={auth.admin}", "n=42;h=0.5;a=true"},
		{"[{query.empty}]", "[]"},
		{"tail}", "tail}"},
		{"a}b{auth.sub}c}", "a}bu-17c}"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_ctx ctx;
		char *out;

		fake_init(&ctx);
		out = expand(&ctx, cases[i].tpl);
		ck_assert_msg(out != NULL, "\"%s\" failed to expand", cases[i].tpl);
		ck_assert_msg(!strcmp(out, cases[i].want), "\"%s\" expanded to \"%s\", expected \"%s\"",
			      cases[i].tpl, out, cases[i].want);
		free(out);
		json_decref(ctx.vars);
	}
}
END_TEST

START_TEST(template_lookup_names)
{
	/* The lookup gets exactly the text between the braces, in order. */
	struct fake_ctx ctx;
	char *out;

	fake_init(&ctx);
	out = expand(&ctx, "x{nsp}-{auth.sub}-{query.room}");
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(ctx.n_asked, 3);
	ck_assert_str_eq(ctx.asked[0], "nsp");
	ck_assert_str_eq(ctx.asked[1], "auth.sub");
	ck_assert_str_eq(ctx.asked[2], "query.room");
	free(out);

	/* No placeholder, no lookup. */
	ctx.n_asked = 0;
	out = expand(&ctx, "no placeholders here");
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(ctx.n_asked, 0);
	free(out);
	json_decref(ctx.vars);
}
END_TEST

START_TEST(template_invalid)
{
	static const char *const bad[] = {
		"{auth.missing}",        /* missing value */
		"user:{auth.missing}",
		"{nsp}:{query.nope}",    /* the second of two is missing */
		"{auth.nothing}",        /* null is not a scalar value */
		"{auth.obj}",            /* neither is an object */
		"{unknown}",
		"{}",
		"abc{nsp",               /* unclosed brace */
		"{",
		"{nsp}{",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fake_ctx ctx;
		char *out;

		fake_init(&ctx);
		out = expand(&ctx, bad[i]);
		ck_assert_msg(out == NULL, "\"%s\" expanded to \"%s\", expected failure", bad[i], out);
		json_decref(ctx.vars);
	}
}
END_TEST

/* ---- JSON scalars -------------------------------------------------------------------- */

static char *scalar(const json_t *v, int *rc)
{
	struct sg_strbuf sb;
	char *out;

	sg_strbuf_init(&sb);
	*rc = sg_json_scalar_append(&sb, v);
	out = strdup(sb.data ? sb.data : "");
	sg_strbuf_free(&sb);
	ck_assert_ptr_nonnull(out);
	return out;
}

START_TEST(scalar_values)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"\"hello\"", "hello"},
		{"\"q\\\"uote/\\\\\"", "q\"uote/\\"},  /* strings as they are, not JSON-quoted */
		{"\"\"", ""},
		{"42", "42"},
		{"42.0", "42"},
		{"-3", "-3"},
		{"0.1", "0.1"},
		{"1e21", "1e+21"},
		{"true", "true"},
		{"false", "false"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t err;
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
		char *out;
		int rc;

		ck_assert_ptr_nonnull(v);
		out = scalar(v, &rc);
		ck_assert_int_eq(rc, 0);
		ck_assert_msg(!strcmp(out, cases[i].want), "%s appended as \"%s\", expected \"%s\"",
			      cases[i].json, out, cases[i].want);
		free(out);
		json_decref(v);
	}
}
END_TEST

START_TEST(scalar_string_with_nul)
{
	json_t *v = json_stringn("a\0b", 3);
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	ck_assert_int_eq(sg_json_scalar_append(&sb, v), 0);
	ck_assert_uint_eq(sb.len, 3);
	ck_assert_mem_eq(sb.data, "a\0b", 3);
	sg_strbuf_free(&sb);
	json_decref(v);
}
END_TEST

START_TEST(scalar_integer_value)
{
	json_t *v = json_integer(-12345);
	char *out;
	int rc;

	out = scalar(v, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "-12345");
	free(out);
	json_decref(v);
}
END_TEST

START_TEST(scalar_rejected)
{
	static const char *const bad[] = {"null", "{}", "{\"a\":1}", "[]", "[1]"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t err;
		json_t *v = json_loads(bad[i], JSON_DECODE_ANY, &err);
		char *out;
		int rc;

		ck_assert_ptr_nonnull(v);
		out = scalar(v, &rc);
		ck_assert_msg(rc == -1, "%s should be rejected", bad[i]);
		free(out);
		json_decref(v);
	}
}
END_TEST

/* ---- constant-time comparison -------------------------------------------------------- */

START_TEST(consttime_equal_cases)
{
	ck_assert_int_eq(sg_consttime_equal("secret", 6, "secret", 6), 1);
	ck_assert_int_eq(sg_consttime_equal("", 0, "", 0), 1);
	ck_assert_int_eq(sg_consttime_equal("a\0b", 3, "a\0b", 3), 1);
	/* Different lengths, including a prefix and a string padded with NULs. */
	ck_assert_int_eq(sg_consttime_equal("secret", 6, "secrets", 7), 0);
	ck_assert_int_eq(sg_consttime_equal("secrets", 7, "secret", 6), 0);
	ck_assert_int_eq(sg_consttime_equal("", 0, "x", 1), 0);
	ck_assert_int_eq(sg_consttime_equal("x", 1, "", 0), 0);
	ck_assert_int_eq(sg_consttime_equal("ab", 2, "ab\0", 3), 0);
	/* Same length, different content: first, middle, last byte, and high-bit bytes. */
	ck_assert_int_eq(sg_consttime_equal("secret", 6, "Secret", 6), 0);
	ck_assert_int_eq(sg_consttime_equal("secret", 6, "seXret", 6), 0);
	ck_assert_int_eq(sg_consttime_equal("secret", 6, "secreT", 6), 0);
	ck_assert_int_eq(sg_consttime_equal("\x80", 1, "\x00", 1), 0);
	ck_assert_int_eq(sg_consttime_equal("a\0b", 3, "a\0c", 3), 0);
	/* Only the given lengths count, not what follows. */
	ck_assert_int_eq(sg_consttime_equal("abcX", 3, "abcY", 3), 1);
}
END_TEST

START_TEST(consttime_every_position)
{
	char a[64], b[64];

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (char)('A' + i % 26);
	for (size_t pos = 0; pos < sizeof(a); pos++) {
		memcpy(b, a, sizeof(a));
		ck_assert_int_eq(sg_consttime_equal(a, sizeof(a), b, sizeof(b)), 1);
		b[pos] ^= 1;
		ck_assert_msg(sg_consttime_equal(a, sizeof(a), b, sizeof(b)) == 0, "difference at %zu missed",
			      pos);
	}
}
END_TEST

/* ---- frame buffers ------------------------------------------------------------------- */

START_TEST(buf_new_copy)
{
	char src[] = "42[\"hello\"]";
	struct sg_buf *b = sg_buf_new(src, strlen(src), 0);

	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->len, strlen(src));
	ck_assert_int_eq(b->binary, 0);
	ck_assert_uint_eq(b->refs, 1);
	src[0] = 'X'; /* the buffer holds its own copy */
	ck_assert_mem_eq(b->data, "42[\"hello\"]", b->len);
	/* LWS_PRE writable bytes in front of the data (valgrind checks they are ours). */
	memset(b->data - LWS_PRE, 0x5a, LWS_PRE);
	ck_assert_mem_eq(b->data, "42[\"hello\"]", b->len);
	sg_buf_unref(b);
}
END_TEST

START_TEST(buf_new_binary_and_empty)
{
	static const unsigned char bytes[] = {0, 1, 0xfe, 0xff};
	struct sg_buf *b = sg_buf_new(bytes, sizeof(bytes), 1), *e;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->binary, 1);
	ck_assert_uint_eq(b->len, sizeof(bytes));
	ck_assert_mem_eq(b->data, bytes, sizeof(bytes));
	memset(b->data - LWS_PRE, 0, LWS_PRE);
	sg_buf_unref(b);

	e = sg_buf_new(NULL, 0, 1);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->len, 0);
	ck_assert_ptr_nonnull(e->data);
	memset(e->data - LWS_PRE, 0, LWS_PRE);
	sg_buf_unref(e);
}
END_TEST

/* The fan-out measurement ends when the last send queue lets go of the frame, and only then;
 * the broadcaster's own hold keeps it open while recipients are still being queued. */
START_TEST(buf_fanout_tracking)
{
	struct sg_stats st;
	struct sg_buf *b = sg_buf_new("x", 1, 0), *u = sg_buf_new("y", 1, 0);

	memset(&st, 0, sizeof(st));
	sg_buf_track(b, sg_mono_seconds() - 0.002, &st); /* arrived 2 ms ago */
	sg_buf_queued(b);
	sg_buf_dequeued(b); /* written to the first recipient before the fan-out ended */
	ck_assert_uint_eq(st.fanout_count, 0);
	sg_buf_queued(b);
	sg_buf_queued(b);
	sg_buf_fanout_end(b, 3);
	ck_assert_uint_eq(st.fanout_count, 0);
	ck_assert_uint_eq(st.fanout_recipients, 3);
	sg_buf_dequeued(b);
	ck_assert_uint_eq(st.fanout_count, 0);
	sg_buf_dequeued(b); /* the last write */
	ck_assert_uint_eq(st.fanout_count, 1);
	ck_assert(st.fanout_seconds >= 0.002 && st.fanout_seconds < 1);
	/* At least 2 ms: above the 1 ms bound, so in bucket 7 (up to 2.5 ms; bounds start at
	 * 10 us) or, on a slow machine (valgrind), a later one; never an earlier one. */
	{
		int at = -1;

		for (int i = 0; i < (int)(sizeof(st.fanout_buckets) / sizeof(st.fanout_buckets[0])); i++)
			if (st.fanout_buckets[i]) {
				ck_assert_int_eq(at, -1); /* one bucket only */
				ck_assert_uint_eq(st.fanout_buckets[i], 1);
				at = i;
			}
		ck_assert_int_ge(at, 7);
	}
	/* Queued again afterwards (a recovery hold released): not measured twice. */
	sg_buf_queued(b);
	sg_buf_dequeued(b);
	ck_assert_uint_eq(st.fanout_count, 1);
	/* No recipient at all: measured when the broadcaster lets go. */
	sg_buf_track(u, sg_mono_seconds(), &st);
	sg_buf_fanout_end(u, 0);
	ck_assert_uint_eq(st.fanout_count, 2);
	/* Untracked frames never count. */
	sg_buf_queued(u);
	sg_buf_dequeued(u);
	sg_buf_fanout_end(u, 5);
	ck_assert_uint_eq(st.fanout_count, 2);
	ck_assert_uint_eq(st.fanout_recipients, 3);
	sg_buf_unref(b);
	sg_buf_unref(u);
}
END_TEST

START_TEST(buf_refcount)
{
	struct sg_buf *b = sg_buf_new("abc", 3, 0);

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_eq(sg_buf_ref(b), b);
	ck_assert_ptr_eq(sg_buf_ref(b), b);
	ck_assert_uint_eq(b->refs, 3);
	sg_buf_unref(b);
	sg_buf_unref(b);
	ck_assert_uint_eq(b->refs, 1);
	ck_assert_mem_eq(b->data, "abc", 3); /* still alive (valgrind would flag a freed read) */
	sg_buf_unref(b);                     /* last reference: freed (valgrind: no leak) */
	sg_buf_unref(NULL);                  /* no-op */
}
END_TEST

START_TEST(buf_from_strbuf)
{
	struct sg_strbuf sb;
	struct sg_buf *b;
	size_t len;

	sg_strbuf_init_headroom(&sb, LWS_PRE);
	for (int i = 0; i < 200; i++)
		sg_strbuf_appendf(&sb, "%d,", i); /* several reallocations */
	len = sb.len;
	b = sg_buf_from_strbuf(&sb, 0);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->len, len);
	ck_assert_int_eq(b->binary, 0);
	ck_assert_uint_eq(b->refs, 1);
	ck_assert_mem_eq(b->data, "0,1,2,3,", 8);
	ck_assert_mem_eq(b->data + len - 4, "199,", 4);
	/* The strbuf is left empty and reusable. */
	ck_assert_ptr_null(sb.data);
	ck_assert_uint_eq(sb.len, 0);
	sg_strbuf_append(&sb, "again", 5);
	ck_assert_str_eq(sb.data, "again");
	sg_strbuf_free(&sb);

	memset(b->data - LWS_PRE, 0x11, LWS_PRE);
	ck_assert_ptr_eq(sg_buf_ref(b), b);
	sg_buf_unref(b);
	ck_assert_mem_eq(b->data, "0,1,2,3,", 8);
	sg_buf_unref(b);
}
END_TEST

START_TEST(buf_from_strbuf_empty)
{
	struct sg_strbuf sb;
	struct sg_buf *b;

	sg_strbuf_init_headroom(&sb, LWS_PRE);
	b = sg_buf_from_strbuf(&sb, 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->len, 0);
	ck_assert_int_eq(b->binary, 1);
	memset(b->data - LWS_PRE, 0, LWS_PRE);
	sg_buf_unref(b);
	sg_strbuf_free(&sb);
}
END_TEST

START_TEST(buf_from_strbuf_oom)
{
	/* A strbuf whose appends failed gives no buffer and keeps its memory. */
	struct sg_strbuf sb;

	sg_strbuf_init_headroom(&sb, LWS_PRE);
	sg_strbuf_append(&sb, "partial", 7);
	sb.oom = 1;
	ck_assert_ptr_null(sg_buf_from_strbuf(&sb, 0));
	ck_assert_ptr_nonnull(sb.data);
	sg_strbuf_free(&sb);
}
END_TEST

/* ---- main -------------------------------------------------------------------------- */

static Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc;

	tc = tcase_create("log");
	tcase_add_test(tc, log_text_one_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("template");
	tcase_add_test(tc, template_valid);
	tcase_add_test(tc, template_lookup_names);
	tcase_add_test(tc, template_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("scalar");
	tcase_add_test(tc, scalar_values);
	tcase_add_test(tc, scalar_string_with_nul);
	tcase_add_test(tc, scalar_integer_value);
	tcase_add_test(tc, scalar_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("consttime");
	tcase_add_test(tc, consttime_equal_cases);
	tcase_add_test(tc, consttime_every_position);
	suite_add_tcase(s, tc);

	tc = tcase_create("buf");
	tcase_add_test(tc, buf_new_copy);
	tcase_add_test(tc, buf_new_binary_and_empty);
	tcase_add_test(tc, buf_refcount);
	tcase_add_test(tc, buf_fanout_tracking);
	tcase_add_test(tc, buf_from_strbuf);
	tcase_add_test(tc, buf_from_strbuf_empty);
	tcase_add_test(tc, buf_from_strbuf_oom);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(core_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
