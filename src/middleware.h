/* middleware.h - the built-in CONNECT middleware kinds configured per namespace. */
#ifndef SG_MIDDLEWARE_H
#define SG_MIDDLEWARE_H

#include "config.h"
#include "sio.h"

/* Runs one configured step (token, origin) for a CONNECT request. */
enum sg_mw_result sg_mw_run(const struct sg_mw_config *cfg, struct sg_connect_req *req);

/* Compares two byte strings in time that depends only on their lengths, not their content. */
int sg_consttime_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
