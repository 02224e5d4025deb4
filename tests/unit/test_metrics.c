/* test_metrics.c - the bridge metrics registry: the text format's escaping, label sets a
 * plugin passes, one series per name and labels whichever way it is asked for, exact
 * lock-free counting from several threads, gauges hidden after a reload, refusals. */
#include "../../src/metrics.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define ADDS_PER_THREAD 100000

static char *text(struct sg_metrics *m)
{
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	sg_metrics_write(m, &sb);
	ck_assert(!sb.oom);
	return sg_strbuf_steal(&sb);
}

START_TEST(test_escape_label)
{
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	sg_prom_escape_label(&sb, "a\\b\"c\nd/e{f}");
	ck_assert_str_eq(sb.data, "a\\\\b\\\"c\\nd/e{f}");
	sg_strbuf_free(&sb);
	sg_prom_escape_label(&sb, "");
	ck_assert(sb.data == NULL || !strcmp(sb.data, ""));
	sg_strbuf_free(&sb);
}
END_TEST

START_TEST(test_names_and_labels)
{
	static const char *const good[] = {"", "topic=\"a\"", "topic=\"a\",partition=\"0\"", "a=\"\"",
					   "x=\"q\\\"\\\\\\n\"", "_x1=\"{},=\"", NULL};
	static const char *const bad[] = {"topic", "topic=a", "topic=\"a", "topic=\"a\",", ",a=\"b\"",
					  "topic=\"a\"x=\"b\"", "1a=\"b\"", "a:b=\"c\"", "a=\"\\x\"",
					  "a=\"new\nline\"", "bridge=\"x\"", "a =\"b\"", NULL};

	for (const char *const *g = good; *g; g++)
		ck_assert_msg(sg_prom_labels_ok(*g), "refused: %s", *g);
	for (const char *const *b = bad; *b; b++)
		ck_assert_msg(!sg_prom_labels_ok(*b), "accepted: %s", *b);
	ck_assert(sg_prom_name_ok("messages_consumed"));
	ck_assert(sg_prom_name_ok("a:b_1"));
	ck_assert(!sg_prom_name_ok(""));
	ck_assert(!sg_prom_name_ok("1abc"));
	ck_assert(!sg_prom_name_ok("a-b"));
	ck_assert(!sg_prom_name_ok("a\"b"));
}
END_TEST

START_TEST(test_one_series_either_way)
{
	struct sg_metrics *m = sg_metrics_create();
	const char *kv[] = {"topic", "t\"1\\", "partition", "0", NULL};
	struct sg_series *a, *b, *c;
	char *out;

	ck_assert_ptr_nonnull(m);
	a = sg_metrics_series(m, "br\"oker\\\n", "consumed", "topic=\"t\\\"1\\\\\",partition=\"0\"", 0);
	b = sg_metrics_series_kv(m, "br\"oker\\\n", "consumed", kv, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
	/* Another bridge label is another series. */
	c = sg_metrics_series_kv(m, "other", "consumed", kv, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(a, c);
	sg_series_add(a, 2);
	sg_series_add(b, 0.5);
	ck_assert(sg_series_value(a) == 2.5);
	out = text(m);
	ck_assert_msg(strstr(out, "# TYPE siogate_bridge_consumed_total counter\n"
				  "siogate_bridge_consumed_total{bridge=\"br\\\"oker\\\\\\n\",topic=\"t\\\"1\\\\\","
				  "partition=\"0\"} 2.5\n"
				  "siogate_bridge_consumed_total{bridge=\"other\",topic=\"t\\\"1\\\\\",partition=\"0\"} 0\n"),
		      "%s", out);
	ck_assert(strstr(out, "siogate_bridge_series_refused_total 0\n"));
	free(out);
	sg_metrics_destroy(m);
}
END_TEST

static void *adder(void *ud)
{
	for (int i = 0; i < ADDS_PER_THREAD; i++)
		sg_series_add(ud, 1);
	return NULL;
}

START_TEST(test_concurrent_adds_are_exact)
{
	struct sg_metrics *m = sg_metrics_create();
	struct sg_series *s = sg_metrics_series(m, "b", "n", "", 0);
	pthread_t th[THREADS];

	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, adder, s), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert(sg_series_value(s) == (double)THREADS * ADDS_PER_THREAD);
	sg_metrics_destroy(m);
}
END_TEST

START_TEST(test_gauges_and_reload)
{
	struct sg_metrics *m = sg_metrics_create();
	struct sg_series *g = sg_metrics_series(m, "k", "lag", "partition=\"0\"", 1);
	struct sg_series *c = sg_metrics_series(m, "k", "consumed", "", 0);
	char *out;

	/* A gauge shows once set. */
	out = text(m);
	ck_assert_ptr_null(strstr(out, "lag"));
	free(out);
	sg_series_set(g, 7);
	sg_series_add(c, 3);
	out = text(m);
	ck_assert(strstr(out, "# TYPE siogate_bridge_lag gauge\nsiogate_bridge_lag{bridge=\"k\",partition=\"0\"} 7\n"));
	free(out);
	/* A reload hides gauges until set again; counters go on. */
	sg_metrics_reset_gauges(m);
	out = text(m);
	ck_assert_ptr_null(strstr(out, "lag"));
	ck_assert(strstr(out, "siogate_bridge_consumed_total{bridge=\"k\"} 3\n"));
	free(out);
	ck_assert_ptr_eq(sg_metrics_series(m, "k", "lag", "partition=\"0\"", 1), g);
	sg_series_set(g, 1);
	out = text(m);
	ck_assert(strstr(out, "siogate_bridge_lag{bridge=\"k\",partition=\"0\"} 1\n"));
	free(out);
	sg_metrics_destroy(m);
}
END_TEST

START_TEST(test_refusals)
{
	struct sg_metrics *m = sg_metrics_create();
	const char *odd[] = {"topic", NULL};
	char *out;

	ck_assert_ptr_nonnull(sg_metrics_series(m, "b", "n", "", 0));
	ck_assert_ptr_null(sg_metrics_series(m, "b", "n", "", 1));         /* a counter already */
	ck_assert_ptr_null(sg_metrics_series(m, "b", "n", "x=\"1\"", 1));  /* whatever the labels */
	ck_assert_ptr_null(sg_metrics_series(m, "b", "bad-name", "", 0));
	ck_assert_ptr_null(sg_metrics_series(m, "b", "n", "topic=\"a\"b", 0));
	ck_assert_ptr_null(sg_metrics_series_kv(m, "b", "n", odd, 0));
	sg_series_add(NULL, 1);
	sg_series_set(NULL, 1);
	out = text(m);
	ck_assert_msg(strstr(out, "siogate_bridge_series_refused_total 5\n"), "%s", out);
	ck_assert_ptr_null(strstr(out, "bad-name"));
	free(out);
	for (int i = 1; i < SG_METRICS_MAX_SERIES; i++) {
		char l[32];

		snprintf(l, sizeof(l), "i=\"%d\"", i);
		ck_assert_ptr_nonnull(sg_metrics_series(m, "b", "n", l, 0));
	}
	ck_assert_ptr_null(sg_metrics_series(m, "b", "n", "i=\"last\"", 0));
	/* Existing series are still found at the limit. */
	ck_assert_ptr_nonnull(sg_metrics_series(m, "b", "n", "i=\"1\"", 0));
	sg_metrics_destroy(m);
	sg_metrics_destroy(NULL);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("registry");

	tcase_add_test(tc, test_escape_label);
	tcase_add_test(tc, test_names_and_labels);
	tcase_add_test(tc, test_one_series_either_way);
	tcase_add_test(tc, test_concurrent_adds_are_exact);
	tcase_add_test(tc, test_gauges_and_reload);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
