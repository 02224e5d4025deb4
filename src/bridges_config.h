/* bridges_config.h - what the config core checks of `brokers` and of a namespace's `bridge`
 * before the plugins see them: every string expanded, a broker's type, a bridge's reference
 * to a broker or a plugin. The rest of both belongs to the plugin (src/bridges.c loads it). */
#ifndef SG_BRIDGES_CONFIG_H
#define SG_BRIDGES_CONFIG_H

#include <jansson.h>

struct sg_cfg_ld;

/* Checks and expands the `brokers` object at `path`; stores a new reference in *out. */
int sg_brokers_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path, json_t **out);
/* Checks and expands a namespace's `bridge` object at `path`, against the loaded brokers;
 * stores a new reference in *out. */
int sg_bridge_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path,
			  const json_t *brokers, json_t **out);

#endif
