/* bridges_config.c - the host's part of `brokers` and `bridge`: expansion, a broker's
 * type, a bridge's reference. The plugin validates the rest when loaded (src/bridges.c). */
#include "bridges_config.h"

#include "config_core.h"

/* A broker's "type" names its plugin (loaded and checked later, in src/bridges.c). */
static int check_type_name(struct sg_cfg_ld *ld, json_t *obj, const char *path)
{
	json_t *t = json_object_get(obj, "type");
	char p[SG_CFG_PATH_LEN];

	if (!t)
		return sg_cfg_fail(ld, path, "missing required key 'type'");
	sg_cfg_path_key(p, path, "type");
	if (!json_is_string(t) || !json_string_length(t))
		return sg_cfg_fail(ld, p, "expected a non-empty string");
	return 0;
}

/* A namespace's bridge names a broker (whose type picks the plugin) or a plugin "type". */
static int check_bridge_ref(struct sg_cfg_ld *ld, json_t *obj, const char *path, const json_t *brokers)
{
	json_t *broker = json_object_get(obj, "broker"), *type = json_object_get(obj, "type");
	char p[SG_CFG_PATH_LEN];

	if (broker && type)
		return sg_cfg_fail(ld, path, "'broker' and 'type' are mutually exclusive (a broker has its type)");
	if (!broker && !type)
		return sg_cfg_fail(ld, path, "expected one of 'broker' (a name from brokers) or 'type'");
	if (type) {
		sg_cfg_path_key(p, path, "type");
		if (!json_is_string(type) || !json_string_length(type))
			return sg_cfg_fail(ld, p, "expected a non-empty string");
		return 0;
	}
	sg_cfg_path_key(p, path, "broker");
	if (!json_is_string(broker))
		return sg_cfg_fail(ld, p, "expected a string");
	if (!json_is_object(json_object_get(brokers, json_string_value(broker))))
		return sg_cfg_fail(ld, p, "no broker named '%s' in brokers", json_string_value(broker));
	return 0;
}
int sg_brokers_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path, json_t **out)
{
	char p[SG_CFG_PATH_LEN];

	if (!json_is_object(obj))
		return sg_cfg_fail(ld, path, "expected an object");
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		json_t *b = json_object_iter_value(it);

		sg_cfg_path_key(p, path, json_object_iter_key(it));
		if (!json_is_object(b))
			return sg_cfg_fail(ld, p, "expected an object");
		/* Broker settings pass through to the client library: any keys, but every
		 * string is expanded like the rest of the file. */
		if (sg_cfg_expand_tree(ld, b, p) < 0 || check_type_name(ld, b, p) < 0)
			return -1;
	}
	json_decref(*out);
	*out = json_incref(obj);
	return 0;
}

int sg_bridge_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path,
			  const json_t *brokers, json_t **out)
{
	if (!json_is_object(obj))
		return sg_cfg_fail(ld, path, "expected an object");
	/* Only "broker" and "type" are ours; the rest belongs to the bridge plugin, which
	 * validates it when the plugins are loaded (src/bridges.c). */
	if (sg_cfg_expand_tree(ld, obj, path) < 0 || check_bridge_ref(ld, obj, path, brokers) < 0)
		return -1;
	json_decref(*out);
	*out = json_incref(obj);
	return 0;
}
