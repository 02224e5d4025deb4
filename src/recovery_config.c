/* recovery_config.c - the `recovery` object of a namespace: its key table. */
#include "recovery_config.h"

#include <stddef.h>
#include <string.h>

#include "config_core.h"

#define R struct sg_recovery_config
static const struct sg_cfg_key recovery_keys[] = {
	/* Node's maxDisconnectionDuration, whose default is also 2 minutes. */
	SG_CFG_KEY_U32("max_disconnection_ms", R, max_disconnection_ms, 1000, 86400000, 120000, 0),
	SG_CFG_KEY_BOOL("skip_middleware", R, skip_middleware, 0, 0),
	SG_CFG_KEY_SIZE("max_packets", R, max_packets, 1, 10000000, 100000, 0),
	SG_CFG_KEY_SIZE("max_bytes", R, max_bytes, 1024, (uint64_t)1 << 36, (uint64_t)64 << 20, 0),
	SG_CFG_KEY_SIZE("max_sessions", R, max_sessions, 1, 10000000, 100000, 0),
	SG_CFG_KEY_END
};
#undef R

void sg_recovery_config_init(struct sg_recovery_config *rc)
{
	memset(rc, 0, sizeof(*rc));
	sg_cfg_defaults(recovery_keys, rc);
}

int sg_recovery_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			    struct sg_recovery_config *rc)
{
	if (!json_object_get(obj, key))
		return 0;
	rc->enabled = 1;
	return sg_cfg_section(ld, obj, path, key, recovery_keys, rc);
}
