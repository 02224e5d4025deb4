/* nsp_config.h - one entry of `namespaces`: a name or a `match` pattern, its middleware
 * chain (middleware_config.h), its room policy (rooms_config.h), its connection state
 * recovery (recovery_config.h) and its bridge. */
#ifndef SG_NSP_CONFIG_H
#define SG_NSP_CONFIG_H

#include <stddef.h>
#include <regex.h>
#include <jansson.h>

#include "middleware_config.h"
#include "recovery_config.h"
#include "rooms_config.h"

/* One namespace (static name) or family of namespaces (`match` regex). */
struct sg_nsp_config {
	char *name;          /* owned; "/chat", or NULL when `match` is set */
	char *match;         /* owned; POSIX ERE matched against the whole namespace name */
	regex_t *match_re;   /* owned; compiled `match`, or NULL */
	struct sg_mw_config *middleware; /* owned array */
	size_t n_middleware;
	struct sg_room_policy rooms;
	struct sg_recovery_config recovery; /* connection state recovery (recovery_config.h) */
	json_t *bridge;      /* owned reference; validated by the bridge plugin, may be NULL */
};

struct sg_cfg_ld;

/* Loads the `namespaces` array at `path` into a new array (*out, *n_out). Names must be
 * unique; bridges must name one of `brokers`. On failure *out holds what was loaded so
 * far, for sg_nsp_config_free_all. */
int sg_nsp_config_load_all(struct sg_cfg_ld *ld, json_t *arr, const char *path,
			   const json_t *brokers, struct sg_nsp_config **out, size_t *n_out);
void sg_nsp_config_free_all(struct sg_nsp_config *nsps, size_t n);

#endif
