/* eio_poll.h - the Engine.IO long-polling transport, as the endpoint's dispatch calls it. */
#ifndef SG_EIO_POLL_H
#define SG_EIO_POLL_H

#include "eio_session.h"

/* A GET or POST on the endpoint's path (handshake, poll, payload, CORS preflight). */
int sg_eio_poll_request(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c);
int sg_eio_poll_body(struct sg_eio *e, struct sg_eio_conn *c, const void *in, size_t len);
int sg_eio_poll_post_done(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c);
int sg_eio_poll_flush(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c);

#endif
