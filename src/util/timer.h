/* util/timer.h - O(1) timers for many sessions on one lws loop (Engine.IO heartbeats,
 * Socket.IO connect timeouts). */
#ifndef SG_UTIL_TIMER_H
#define SG_UTIL_TIMER_H

#include <stdint.h>
#include <libwebsockets.h>

/* Loop thread only. lws keeps its timers in one sorted list, so arming one timer per session costs a walk of
 * every other session's timers: O(N) per connection, O(N^2) to connect N clients. A timer set
 * keeps one FIFO queue per distinct delay instead (timers armed with the same delay expire
 * in the order they were armed), each queue driven by one lws timer at its head's deadline:
 * arming and cancelling are O(1) and expiry is as exact as an lws timer's. */
struct sg_timer;
typedef void (*sg_timer_fn)(struct sg_timer *t);
struct sg_timer {
	lws_dll2_t list;               /* in its queue while armed */
	lws_usec_t at;
	sg_timer_fn cb;
};
struct sg_timer_queue;
struct sg_timers {
	struct sg_timer_queue *queues; /* one per distinct delay, created on first use */
};

/* Arms `t` (re-arms it if it is armed) to call `cb(t)` in `delay_ms`, on `ctx`'s loop.
 * Returns 0, or -1 out of memory (the timer is then not armed). */
int sg_timer_set(struct sg_timers *ts, struct lws_context *ctx, struct sg_timer *t,
		 uint32_t delay_ms, sg_timer_fn cb);
/* Disarms `t` (no-op if it is not armed). A zeroed timer is disarmed. */
void sg_timer_cancel(struct sg_timer *t);
/* Frees the queues. Every timer must be disarmed already (or the lws context gone). */
void sg_timers_free(struct sg_timers *ts);

#endif
