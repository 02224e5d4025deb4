/* util/timer.c - timer sets: one FIFO queue per distinct delay, each driven by one lws timer. */
#include "util/timer.h"

#include <stdlib.h>

struct sg_timer_queue {
	lws_dll2_owner_t timers;       /* sg_timer.list, in deadline order */
	lws_sorted_usec_list_t sul;    /* armed at the head's deadline while not empty */
	struct lws_context *ctx;
	uint32_t delay_ms;
	struct sg_timer_queue *next;
};

static void timer_queue_fire(lws_sorted_usec_list_t *sul);

static void timer_queue_arm(struct sg_timer_queue *q)
{
	struct lws_dll2 *d = lws_dll2_get_head(&q->timers);
	lws_usec_t now, at;

	if (!d) {
		lws_sul_cancel(&q->sul);
		return;
	}
	at = lws_container_of(d, struct sg_timer, list)->at;
	now = lws_now_usecs();
	lws_sul_schedule(q->ctx, 0, &q->sul, timer_queue_fire, at > now ? at - now : 0);
}

static void timer_queue_fire(lws_sorted_usec_list_t *sul)
{
	struct sg_timer_queue *q = lws_container_of(sul, struct sg_timer_queue, sul);
	lws_usec_t now = lws_now_usecs();
	struct lws_dll2 *d;

	/* Callbacks may arm and cancel any timer, this queue's included: take one at a time.
	 * What they arm here expires after `now`, so the loop ends. */
	while ((d = lws_dll2_get_head(&q->timers))) {
		struct sg_timer *t = lws_container_of(d, struct sg_timer, list);

		if (t->at > now)
			break;
		lws_dll2_remove(d);
		t->cb(t);
	}
	timer_queue_arm(q);
}

int sg_timer_set(struct sg_timers *ts, struct lws_context *ctx, struct sg_timer *t,
		 uint32_t delay_ms, sg_timer_fn cb)
{
	struct sg_timer_queue *q;

	sg_timer_cancel(t);
	if (!delay_ms)
		delay_ms = 1; /* keeps deadlines after the "now" of a queue being run */
	for (q = ts->queues; q && q->delay_ms != delay_ms; q = q->next)
		;
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return -1;
		q->delay_ms = delay_ms;
		q->next = ts->queues;
		ts->queues = q;
	}
	q->ctx = ctx;
	t->at = lws_now_usecs() + (lws_usec_t)delay_ms * LWS_US_PER_MS;
	t->cb = cb;
	lws_dll2_add_tail(&t->list, &q->timers);
	if (q->timers.count == 1)
		lws_sul_schedule(ctx, 0, &q->sul, timer_queue_fire, (lws_usec_t)delay_ms * LWS_US_PER_MS);
	return 0;
}

void sg_timer_cancel(struct sg_timer *t)
{
	struct sg_timer_queue *q;

	if (!t->list.owner)
		return;
	q = lws_container_of(t->list.owner, struct sg_timer_queue, timers);
	lws_dll2_remove(&t->list);
	/* An earlier head only makes the queue's lws timer fire early (and re-arm); an empty
	 * queue holds no lws timer, so nothing is left in lws once every timer is disarmed. */
	if (!q->timers.count)
		lws_sul_cancel(&q->sul);
}

void sg_timers_free(struct sg_timers *ts)
{
	while (ts->queues) {
		struct sg_timer_queue *q = ts->queues;

		ts->queues = q->next;
		free(q);
	}
}
