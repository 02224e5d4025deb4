/* eio_ws.h - the Engine.IO WebSocket transport, as the endpoint's dispatch calls it. */
#ifndef SG_EIO_WS_H
#define SG_EIO_WS_H

#include "eio_session.h"

int sg_eio_ws_confirm(struct sg_eio *e, struct lws *wsi);
int sg_eio_ws_established(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c);
int sg_eio_ws_receive(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c, const void *in, size_t len);
int sg_eio_ws_writeable(struct sg_eio *e, struct lws *wsi, struct sg_eio_conn *c);
/* Writes s's queued frames now, outside any callback (the endpoint's flush, eio_session.c);
 * what does not go out is left to the writeable callback. */
void sg_eio_ws_write_now(struct sg_eio_session *s);
void sg_eio_ws_closed(struct sg_eio *e, struct sg_eio_conn *c);

#endif
