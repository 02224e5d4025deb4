/* util/http.c - writes a whole HTTP response (headers, body) and completes the transaction. */
#include "util/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sg_http_respond(struct lws *wsi, unsigned status, const char *content_type,
		    const void *body, size_t len, const char *const *extra)
{
	unsigned char hdr[LWS_PRE + 2048];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;

	char conn[64];

	if (lws_add_http_common_headers(wsi, status, content_type, len, &p, end))
		return -1;
	/* lws ends the connection after answering a "Connection: close" request; saying so
	 * keeps clients with keep-alive agents (Node's) from reusing the dying socket. */
	if (lws_hdr_copy(wsi, conn, sizeof(conn), WSI_TOKEN_CONNECTION) > 0 && strcasestr(conn, "close") &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
					(const unsigned char *)"close", 5, &p, end))
		return -1;
	for (; extra && extra[0] && extra[1]; extra += 2)
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)extra[0],
						(const unsigned char *)extra[1], (int)strlen(extra[1]),
						&p, end))
			return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (len) {
		unsigned char *b = malloc(LWS_PRE + len);
		int n;

		if (!b)
			return -1;
		memcpy(b + LWS_PRE, body, len);
		n = lws_write(wsi, b + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
		free(b);
		if (n < 0)
			return -1;
	}
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

int sg_http_respond_error(struct lws *wsi, unsigned status, const char *msg, const char *const *extra)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", msg);

	if (n < 0 || (size_t)n >= sizeof(body))
		return -1;
	return sg_http_respond(wsi, status, "application/json", body, (size_t)n, extra);
}
