/* test_util.c - the util layer (src/util/) that the host and the bridge plugins share:
 * did-you-mean, whole-string regex matching and the monotonic clock. Base64 is covered by
 * test_codec.c and the timer sets by test_timers.c. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/util/clock.h"
#include "../../src/util/regex.h"
#include "../../src/util/suggest.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ---- did-you-mean ------------------------------------------------------------------ */

static const char *const keys[] = {"listen", "ping_interval", "ping_timeout", "path", NULL};

START_TEST(suggest_case_and_typos)
{
	ck_assert_str_eq(sg_suggest("LISTEN", keys, NULL), "listen");       /* case only */
	ck_assert_str_eq(sg_suggest("lisen", keys, NULL), "listen");        /* one edit */
	ck_assert_str_eq(sg_suggest("lstn", keys, NULL), "listen");         /* two edits */
	ck_assert_ptr_null(sg_suggest("lst", keys, NULL));                  /* three: no hint */
	ck_assert_ptr_null(sg_suggest("xyzzy", keys, NULL));
	ck_assert_str_eq(sg_suggest("ping_timeou", keys, NULL), "ping_timeout");
}
END_TEST

START_TEST(suggest_ties_and_extra)
{
	static const char *const two[] = {"ax", "ay", NULL};
	static const char *const known[] = {"topic", NULL};
	static const char *const extra[] = {"topix", NULL};

	/* On a tie the first key wins, so the hint does not depend on hashing or luck. */
	ck_assert_str_eq(sg_suggest("az", two, NULL), "ax");
	/* `extra` is searched after `known` and wins only when strictly closer. */
	ck_assert_str_eq(sg_suggest("topix", known, extra), "topix");
	ck_assert_str_eq(sg_suggest("topicx", known, extra), "topic");
	ck_assert_str_eq(sg_suggest("topiq", NULL, extra), "topix");
	ck_assert_ptr_null(sg_suggest("topic", NULL, NULL));
}
END_TEST

START_TEST(suggest_long_keys)
{
	char longkey[300];
	static const char *const long_known[] = {
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL};

	/* A user's key of any length is compared without overflowing anything. */
	memset(longkey, 'l', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	ck_assert_ptr_null(sg_suggest(longkey, keys, NULL));
	/* A known key too long for the distance table is found by case only... */
	ck_assert_ptr_null(sg_suggest("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				      long_known, NULL));
	/* ...like this. */
	ck_assert_ptr_nonnull(sg_suggest("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
					 long_known, NULL));
}
END_TEST

/* ---- whole-string regex ------------------------------------------------------------ */

START_TEST(regex_whole_string_only)
{
	regex_t re;

	ck_assert_int_eq(regcomp(&re, "/org/[a-z]+", REG_EXTENDED), 0);
	ck_assert_int_eq(sg_regex_full_match(&re, "/org/acme"), 1);
	ck_assert_int_eq(sg_regex_full_match(&re, "x/org/acme"), 0);
	ck_assert_int_eq(sg_regex_full_match(&re, "/org/acme/x"), 0);
	ck_assert_int_eq(sg_regex_full_match(&re, "/org/"), 0);
	regfree(&re);
	/* Leftmost-longest: an alternation's shorter branch does not hide the whole match. */
	ck_assert_int_eq(regcomp(&re, "a|ab", REG_EXTENDED), 0);
	ck_assert_int_eq(sg_regex_full_match(&re, "ab"), 1);
	regfree(&re);
	ck_assert_int_eq(regcomp(&re, "a*", REG_EXTENDED), 0);
	ck_assert_int_eq(sg_regex_full_match(&re, ""), 1);
	ck_assert_int_eq(sg_regex_full_match(&re, "ab"), 0);
	regfree(&re);
}
END_TEST

/* ---- monotonic clock --------------------------------------------------------------- */

START_TEST(clock_is_one_monotonic_clock)
{
	long long a = sg_mono_ms(), b;
	double s;

	for (int i = 0; i < 1000; i++) {
		b = sg_mono_ms();
		ck_assert(b >= a);
		a = b;
	}
	/* Both units read the same clock (a wall clock would be decades away). */
	s = sg_mono_seconds();
	b = sg_mono_ms();
	ck_assert(b >= (long long)(s * 1000) - 1 && b - (long long)(s * 1000) < 60000);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, suggest_case_and_typos);
	tcase_add_test(tc, suggest_ties_and_extra);
	tcase_add_test(tc, suggest_long_keys);
	tcase_add_test(tc, regex_whole_string_only);
	tcase_add_test(tc, clock_is_one_monotonic_clock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
