/* buf.c - refcounted frame buffers; one allocation holds header, headroom and bytes. */
#include "buf.h"

#include <assert.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util/clock.h"

#define SG_BUF_MAGIC 0x5b0f5b0fu

/* Layout: [struct sg_buf][LWS_PRE][bytes][NUL]; the header sits in front of the headroom. */
struct sg_buf *sg_buf_new(const void *p, size_t n, int binary)
{
	struct sg_buf *b = malloc(sizeof(*b) + LWS_PRE + n + 1);

	if (!b)
		return NULL;
	b->magic = SG_BUF_MAGIC;
	b->refs = 1;
	b->len = n;
	b->binary = binary;
	b->t0 = 0;
	b->pending = 0;
	b->fanout = NULL;
	b->data = (unsigned char *)(b + 1) + LWS_PRE;
	if (n)
		memcpy(b->data, p, n);
	b->data[n] = 0;
	return b;
}

/* A stolen strbuf block keeps its own layout, so the header is a separate small allocation
 * whose last member remembers the block to free. */
struct sg_buf_ext {
	struct sg_buf b;
	void *block;
};

struct sg_buf *sg_buf_from_strbuf(struct sg_strbuf *sb, int binary)
{
	struct sg_buf_ext *e;
	size_t len = sb->len;

	if (sb->oom || sb->head != LWS_PRE)
		return NULL;
	e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	e->block = sg_strbuf_steal(sb);
	if (!e->block) {
		free(e);
		return NULL;
	}
	e->b.magic = SG_BUF_MAGIC + 1;
	e->b.refs = 1;
	e->b.len = len;
	e->b.binary = binary;
	e->b.t0 = 0;
	e->b.pending = 0;
	e->b.fanout = NULL;
	e->b.data = (unsigned char *)e->block + LWS_PRE;
	return &e->b;
}

struct sg_buf *sg_buf_ref(struct sg_buf *b)
{
	assert(b->magic == SG_BUF_MAGIC || b->magic == SG_BUF_MAGIC + 1);
	b->refs++;
	return b;
}

void sg_buf_unref(struct sg_buf *b)
{
	if (!b)
		return;
	assert(b->magic == SG_BUF_MAGIC || b->magic == SG_BUF_MAGIC + 1);
	if (--b->refs)
		return;
	if (b->magic == SG_BUF_MAGIC + 1) {
		struct sg_buf_ext *e = (struct sg_buf_ext *)b;
		free(e->block);
		b->magic = 0;
		free(e);
		return;
	}
	b->magic = 0;
	free(b);
}

void sg_buf_track(struct sg_buf *b, double t0, struct sg_stats *st)
{
	if (!st || t0 <= 0)
		return;
	b->t0 = t0;
	b->pending = 1;
	b->fanout = st;
}

void sg_buf_fanout_done(struct sg_buf *b)
{
	static const double bounds[SG_FANOUT_BUCKETS] = SG_FANOUT_BOUNDS;
	struct sg_stats *st = b->fanout;

	if (b->t0 <= 0 || !b->pending || --b->pending)
		return;
	sg_hist_observe(st->fanout_buckets, bounds, SG_FANOUT_BUCKETS, &st->fanout_count, &st->fanout_seconds,
			sg_mono_seconds() - b->t0);
	b->t0 = 0;
}

void sg_buf_fanout_end(struct sg_buf *b, unsigned long recipients)
{
	if (b->t0 <= 0)
		return;
	b->fanout->fanout_recipients += recipients;
	sg_buf_fanout_done(b);
}
