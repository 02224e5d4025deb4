/* util/http.h - the one helper every HTTP answer of the gateway goes through. */
#ifndef SG_UTIL_HTTP_H
#define SG_UTIL_HTTP_H

#include <stddef.h>
#include <libwebsockets.h>

/* Writes a complete HTTP response (headers + body) and completes the transaction.
 * Returns the value the lws callback must return. `extra` is a NULL-terminated list of
 * alternating "name:" and value strings, or NULL. */
int sg_http_respond(struct lws *wsi, unsigned status, const char *content_type,
		    const void *body, size_t len, const char *const *extra);
/* The gateway's own JSON error answer, {"error":"<msg>"} (admin and static 404s, 400s,
 * 405s; the Engine.IO endpoint answers in the Node server's own form instead). `msg` is a
 * constant without characters that need JSON escaping. */
int sg_http_respond_error(struct lws *wsi, unsigned status, const char *msg, const char *const *extra);

#endif
