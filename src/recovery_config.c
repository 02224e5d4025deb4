/* recovery_config.c - the `recovery` object of a namespace: its key table. */
#include "recovery_config.h"

#include <stddef.h>
#include <string.h>

#include "config_core.h"

/* A Kafka topic name: 1 to 249 of [A-Za-z0-9._-], not "." or "..". */
static int check_topic(struct sg_cfg_ld *ld, const char *path, const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 249 || !strcmp(s, ".") || !strcmp(s, ".."))
		return sg_cfg_fail(ld, path, "a Kafka topic name is 1 to 249 characters, not \".\" or \"..\"");
	for (size_t i = 0; i < n; i++)
		if (!sg_cfg_is_alpha(s[i]) && !sg_cfg_is_digit(s[i]) && !strchr("._-", s[i]))
			return sg_cfg_fail(ld, path, "a Kafka topic name is made of letters, digits, '.', '_' and '-'");
	return 0;
}

#define R struct sg_recovery_config
static const struct sg_cfg_key recovery_keys[] = {
	/* Node's maxDisconnectionDuration, whose default is also 2 minutes. */
	SG_CFG_KEY_U32("max_disconnection_ms", R, max_disconnection_ms, 1000, 86400000, 120000, 0),
	SG_CFG_KEY_BOOL("skip_middleware", R, skip_middleware, 0, 0),
	SG_CFG_KEY_SIZE("max_packets", R, max_packets, 1, 10000000, 100000, 0),
	SG_CFG_KEY_SIZE("max_bytes", R, max_bytes, 1024, (uint64_t)1 << 36, (uint64_t)64 << 20, 0),
	SG_CFG_KEY_SIZE("max_sessions", R, max_sessions, 1, 10000000, 100000, 0),
	/* Sessions kept in the broker (a Kafka bridge): bridges.c checks the bridge can. */
	SG_CFG_KEY_STR("sessions_topic", R, sessions_topic, NULL, 0, check_topic),
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

void sg_recovery_config_free(struct sg_recovery_config *rc)
{
	sg_cfg_free(recovery_keys, rc);
}
