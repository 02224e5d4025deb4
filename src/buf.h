/* buf.h - refcounted, immutable frame buffers with LWS_PRE headroom, shared by all recipients. */
#ifndef SG_BUF_H
#define SG_BUF_H

#include <stddef.h>

#include "strbuf.h"

struct sg_stats;

/* One Engine.IO frame as sent over WebSocket: text ("4..." incl. the Engine.IO type) or
 * binary (raw bytes). `data` has LWS_PRE writable bytes in front of it, so lws_write() can
 * frame it in place. Loop thread only: the refcount is not atomic. */
struct sg_buf {
	unsigned magic;
	unsigned refs;
	size_t len;
	int binary;
	unsigned char *data;
	/* Fan-out measurement (sg_buf_track): when it arrived, recipients still to write it
	 * (plus the broadcaster's own hold), where the result goes. t0 == 0: not measured. */
	double t0;
	unsigned pending;
	struct sg_stats *fanout;
};

/* New buffer holding a copy of p[0..n). Returns NULL on allocation failure. */
struct sg_buf *sg_buf_new(const void *p, size_t n, int binary);
/* New buffer that steals the strbuf's memory (which must have been initialised with
 * sg_strbuf_init_headroom(sb, LWS_PRE)); the strbuf is left empty. NULL on failure (sb->oom). */
struct sg_buf *sg_buf_from_strbuf(struct sg_strbuf *sb, int binary);
struct sg_buf *sg_buf_ref(struct sg_buf *b);
void sg_buf_unref(struct sg_buf *b); /* NULL is a no-op */

/* Fan-out measurement of a broadcast frame: T0 is when its message arrived on the loop
 * (sg_mono_seconds). The broadcaster holds it until sg_buf_fanout_end; each send queue that
 * takes it adds one (sg_buf_queued) and lets go when the frame leaves the queue, written or
 * dropped (sg_buf_dequeued). When the last one lets go, the time since T0 goes into ST's
 * fan-out histogram, once: a frame queued again later (a recovery hold) is not measured. */
void sg_buf_track(struct sg_buf *b, double t0, struct sg_stats *st);
void sg_buf_fanout_end(struct sg_buf *b, unsigned long recipients);
static inline void sg_buf_queued(struct sg_buf *b)
{
	if (b->t0 > 0)
		b->pending++;
}
void sg_buf_fanout_done(struct sg_buf *b);
static inline void sg_buf_dequeued(struct sg_buf *b)
{
	if (b->t0 > 0)
		sg_buf_fanout_done(b);
}

#endif
