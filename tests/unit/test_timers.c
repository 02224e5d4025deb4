/* test_timers.c - the session timer queues (sg_timer_*): one FIFO queue per delay, each
 * driven by one lws timer. Run on a real lws context (no listener) and its event loop. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/eio.h"

#include <check.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 24

struct probe {
	struct sg_timer t;
	int id;
	lws_usec_t armed_at, due, fired_at;
	int fired;
};

static struct sg_timers timers;
static struct lws_context *ctx;
static int order[2 * N], n_order;
static struct probe probes[N];

static void on_fire(struct sg_timer *t)
{
	struct probe *p = lws_container_of(t, struct probe, t);

	p->fired++;
	p->fired_at = lws_now_usecs();
	if (n_order < 2 * N)
		order[n_order++] = p->id;
}

static void arm(struct probe *p, uint32_t delay_ms, sg_timer_fn cb)
{
	p->armed_at = lws_now_usecs();
	p->due = p->armed_at + (lws_usec_t)delay_ms * LWS_US_PER_MS;
	ck_assert_int_eq(sg_timer_set(&timers, ctx, &p->t, delay_ms, cb), 0);
}

/* Services the loop until `pred` holds or 5 s pass. */
static int run_until(int (*pred)(void))
{
	lws_usec_t end = lws_now_usecs() + 5 * LWS_US_PER_SEC;

	/* Non-blocking service: a bare context's poll() wait is not what is tested here. */
	while (!pred() && lws_now_usecs() < end) {
		lws_service(ctx, -1);
		usleep(500);
	}
	return pred();
}

static void setup(void)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	lws_set_log_level(LLL_ERR, NULL);
	ctx = lws_create_context(&info);
	ck_assert_ptr_nonnull(ctx);
	memset(&timers, 0, sizeof(timers));
	memset(probes, 0, sizeof(probes));
	for (int i = 0; i < N; i++)
		probes[i].id = i;
	n_order = 0;
}

static void teardown(void)
{
	lws_context_destroy(ctx);
	sg_timers_free(&timers);
}

static int all_even_fired(void)
{
	for (int i = 0; i < N; i += 2)
		if (!probes[i].fired)
			return 0;
	return 1;
}

START_TEST(fifo_per_delay_never_early)
{
	/* Three delays interleaved; every odd timer is cancelled again. */
	static const uint32_t delays[] = {60, 20, 40};

	for (int i = 0; i < N; i++)
		arm(&probes[i], delays[i % 3], on_fire);
	for (int i = 1; i < N; i += 2)
		sg_timer_cancel(&probes[i].t);
	sg_timer_cancel(&probes[1].t); /* twice: a no-op */
	ck_assert(run_until(all_even_fired));
	/* Give a cancelled timer the chance to fire wrongly. */
	lws_usec_t end = lws_now_usecs() + 100 * LWS_US_PER_MS;
	while (lws_now_usecs() < end) {
		lws_service(ctx, -1);
		usleep(500);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(probes[i].fired, i % 2 ? 0 : 1);
		if (!(i % 2))
			ck_assert_msg(probes[i].fired_at >= probes[i].due, "timer %d fired %lld us early", i,
				      (long long)(probes[i].due - probes[i].fired_at));
	}
	/* Ordered by deadline across queues, and by arming order within one. */
	ck_assert_int_eq(n_order, N / 2);
	for (int k = 1; k < n_order; k++)
		ck_assert(probes[order[k - 1]].due <= probes[order[k]].due);
}
END_TEST

static void on_fire_rearm(struct sg_timer *t)
{
	struct probe *p = lws_container_of(t, struct probe, t);

	on_fire(t);
	if (p->fired < 3)
		arm(p, 15, on_fire_rearm); /* the queue being run gains a timer */
	if (p->id == 0)
		sg_timer_cancel(&probes[1].t); /* and loses another one */
}

static int rearmed_done(void)
{
	return probes[0].fired == 3 && probes[2].fired == 3;
}

START_TEST(rearm_and_cancel_from_a_callback)
{
	arm(&probes[0], 15, on_fire_rearm);
	arm(&probes[1], 15, on_fire_rearm);
	arm(&probes[2], 15, on_fire_rearm);
	ck_assert(run_until(rearmed_done));
	ck_assert_int_eq(probes[1].fired, 0);
	ck_assert_int_eq(n_order, 6);
	for (int k = 0; k < 6; k++)
		ck_assert_int_eq(order[k], k % 2 ? 2 : 0);
}
END_TEST

static int first_fired(void)
{
	return probes[0].fired;
}

START_TEST(rearm_moves_the_deadline)
{
	/* Re-arming an armed timer replaces its deadline (a pong pushing the next ping). */
	arm(&probes[0], 20, on_fire);
	arm(&probes[0], 80, on_fire);
	ck_assert(run_until(first_fired));
	ck_assert_int_eq(probes[0].fired, 1);
	ck_assert(probes[0].fired_at >= probes[0].due);
}
END_TEST

static int second_fired(void)
{
	return probes[1].fired;
}

START_TEST(later_arm_same_delay_waits_its_turn)
{
	/* Two timers in one queue, armed 25 ms apart: the second must not ride along with
	 * the first. */
	lws_usec_t end;

	arm(&probes[0], 40, on_fire);
	end = lws_now_usecs() + 25 * LWS_US_PER_MS;
	while (lws_now_usecs() < end)
		usleep(1000);
	arm(&probes[1], 40, on_fire);
	ck_assert(run_until(second_fired));
	ck_assert(probes[0].fired_at >= probes[0].due);
	ck_assert_msg(probes[1].fired_at >= probes[1].due, "fired %lld us early",
		      (long long)(probes[1].due - probes[1].fired_at));
}
END_TEST

static Suite *timers_suite(void)
{
	Suite *s = suite_create("timers");
	TCase *tc = tcase_create("queues");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, fifo_per_delay_never_early);
	tcase_add_test(tc, rearm_and_cancel_from_a_callback);
	tcase_add_test(tc, rearm_moves_the_deadline);
	tcase_add_test(tc, later_arm_same_delay_waits_its_turn);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
