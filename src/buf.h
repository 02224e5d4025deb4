/* buf.h - refcounted, immutable frame buffers with LWS_PRE headroom, shared by all recipients. */
#ifndef SG_BUF_H
#define SG_BUF_H

#include <stddef.h>

#include "strbuf.h"

/* One Engine.IO frame as sent over WebSocket: text ("4..." incl. the Engine.IO type) or
 * binary (raw bytes). `data` has LWS_PRE writable bytes in front of it, so lws_write() can
 * frame it in place. Loop thread only: the refcount is not atomic. */
struct sg_buf {
	unsigned magic;
	unsigned refs;
	size_t len;
	int binary;
	unsigned char *data;
};

/* New buffer holding a copy of p[0..n). Returns NULL on allocation failure. */
struct sg_buf *sg_buf_new(const void *p, size_t n, int binary);
/* New buffer that steals the strbuf's memory (which must have been initialised with
 * sg_strbuf_init_headroom(sb, LWS_PRE)); the strbuf is left empty. NULL on failure (sb->oom). */
struct sg_buf *sg_buf_from_strbuf(struct sg_strbuf *sb, int binary);
struct sg_buf *sg_buf_ref(struct sg_buf *b);
void sg_buf_unref(struct sg_buf *b); /* NULL is a no-op */

#endif
