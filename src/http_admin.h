/* http_admin.h - the operational HTTP endpoints: /healthz, /readyz, /metrics. */
#ifndef SG_HTTP_ADMIN_H
#define SG_HTTP_ADMIN_H

#include <libwebsockets.h>

#include "bridges.h"
#include "sio.h"
#include "stats.h"
#include "strbuf.h"

/* Appends every metric in the Prometheus text format (`sio` may be NULL: no namespace gauges). */
void sg_admin_metrics(const struct sg_stats *st, struct sg_sio *sio, struct sg_bridges *b,
		      struct sg_strbuf *sb);
/* Answers the request when `uri` is one of the endpoints: returns 1 with the callback's
 * return value in *rc, else 0. */
int sg_admin_handle(const struct sg_stats *st, struct sg_sio *sio, struct sg_bridges *b, int stopping,
		    struct lws *wsi, const char *uri, int *rc);

/* /demo/info: the facts bridges published (sg_bridges_info), for a demo page. Returns 1
 * with the callback's return value in *rc when `uri` is /demo/info, else 0. */
int sg_admin_demo_info(struct sg_bridges *b, struct lws *wsi, const char *uri, int *rc);

#endif
