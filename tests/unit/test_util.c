/* test_util.c - the util layer (src/util/) that the host and the bridge plugins share:
 * did-you-mean, whole-string regex matching and the monotonic clock. Base64 is covered by
 * test_codec.c and the timer sets by test_timers.c. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/util/clock.h"
#include "../../src/util/list.h"
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

struct item {
	int v;
	struct sg_list_node node;
};

/* The list's values from head to tail, then checked back from tail to head. */
static void list_expect(const struct sg_list *l, const int *want, size_t n)
{
	const struct sg_list_node *p, *prev = NULL;
	size_t i = 0;

	ck_assert_uint_eq(l->count, n);
	for (p = l->head; p; prev = p, p = p->next, i++) {
		ck_assert_uint_lt(i, n);
		ck_assert_int_eq(sg_list_item(p, struct item, node)->v, want[i]);
		ck_assert_ptr_eq(p->prev, prev);
	}
	ck_assert_ptr_eq(l->tail, prev);
	ck_assert_uint_eq(i, n);
	for (p = l->tail; p; p = p->prev)
		ck_assert_int_eq(sg_list_item(p, struct item, node)->v, want[--i]);
	ck_assert_uint_eq(i, 0);
}

START_TEST(list_push_remove_pop)
{
	struct item it[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};
	struct sg_list l = {NULL, NULL, 0};

	ck_assert_ptr_null(sg_list_item(l.head, struct item, node));
	ck_assert_ptr_null(sg_list_pop_front(&l));
	sg_list_push_back(&l, &it[1].node);
	sg_list_push_back(&l, &it[2].node);
	sg_list_push_front(&l, &it[0].node);
	sg_list_push_back(&l, &it[3].node);
	list_expect(&l, (const int[]){0, 1, 2, 3}, 4);
	sg_list_remove(&l, &it[2].node); /* the middle */
	ck_assert_ptr_null(it[2].node.prev);
	ck_assert_ptr_null(it[2].node.next);
	list_expect(&l, (const int[]){0, 1, 3}, 3);
	sg_list_remove(&l, &it[3].node); /* the tail */
	list_expect(&l, (const int[]){0, 1}, 2);
	ck_assert_ptr_eq(sg_list_pop_front(&l), &it[0].node);
	list_expect(&l, (const int[]){1}, 1);
	sg_list_remove(&l, &it[1].node); /* the last one */
	ck_assert_ptr_null(l.head);
	ck_assert_ptr_null(l.tail);
	ck_assert_uint_eq(l.count, 0);
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
	tcase_add_test(tc, list_push_remove_pop);
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
