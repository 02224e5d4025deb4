/* nsp_config.c - the entries of `namespaces`: a key table whose keys are each parsed here
 * (name, match) or by their owners (middleware_config.c, rooms_config.c,
 * recovery_config.c, bridges_config.c). Every key of a namespace is applied by a reload. */
#include "nsp_config.h"

#include <stdlib.h>
#include <string.h>

#include "bridges_config.h"
#include "config_core.h"

/* What loading one entry needs besides the entry: the ones before it (unique names) and
 * the brokers (bridge references). */
struct nsp_ctx {
	struct sg_nsp_config *all;
	size_t idx;
	const json_t *brokers;
};

static int load_name(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		     void *base)
{
	struct nsp_ctx *c = base;
	struct sg_nsp_config *nsp = &c->all[c->idx];
	int has_match = json_object_get(obj, "match") != NULL;
	char p[SG_CFG_PATH_LEN];

	/* First in the table: the rule between name and match comes before either is read. */
	if (json_object_get(obj, key) && has_match)
		return sg_cfg_fail(ld, path, "'name' and 'match' are mutually exclusive");
	if (!json_object_get(obj, key) && !has_match)
		return sg_cfg_fail(ld, path, "expected one of 'name' or 'match'");
	if (sg_cfg_str(ld, obj, path, key, 0, &nsp->name) < 0)
		return -1;
	if (!nsp->name)
		return 0;
	sg_cfg_path_key(p, path, key);
	if (nsp->name[0] != '/')
		return sg_cfg_fail(ld, p, "expected a string starting with '/'");
	/* A ',' ends the namespace in a Socket.IO packet, so no client could name it. */
	if (strchr(nsp->name, ','))
		return sg_cfg_fail(ld, p, "a namespace name cannot contain ','");
	for (size_t i = 0; i < c->idx; i++)
		if (c->all[i].name && strcmp(c->all[i].name, nsp->name) == 0)
			return sg_cfg_fail(ld, p, "duplicate namespace '%s' (first at namespaces[%zu])",
					   nsp->name, i);
	return 0;
}

static int load_match(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		      void *base)
{
	struct nsp_ctx *c = base;
	struct sg_nsp_config *nsp = &c->all[c->idx];

	return sg_cfg_regex_key(ld, obj, path, key, &nsp->match, &nsp->match_re);
}

static int load_middleware(struct sg_cfg_ld *ld, json_t *obj, const char *path,
			   const char *key, void *base)
{
	struct nsp_ctx *c = base;
	struct sg_nsp_config *nsp = &c->all[c->idx];
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN], ep[SG_CFG_PATH_LEN];

	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	if (!json_is_array(v))
		return sg_cfg_fail(ld, p, "expected an array");
	if (json_array_size(v) > 0) {
		nsp->middleware = calloc(json_array_size(v), sizeof *nsp->middleware);
		if (!nsp->middleware)
			return sg_cfg_oom(ld, p);
		/* Counted first, filled next: free_all frees what a failure left. */
		nsp->n_middleware = json_array_size(v);
	}
	for (size_t i = 0; i < nsp->n_middleware; i++) {
		sg_cfg_path_idx(ep, p, i);
		if (sg_mw_config_load(ld, json_array_get(v, i), ep, &nsp->middleware[i]) < 0)
			return -1;
	}
	return 0;
}

static int load_rooms(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		      void *base)
{
	struct nsp_ctx *c = base;

	return sg_room_policy_load(ld, obj, path, key, &c->all[c->idx].rooms);
}

static int load_recovery(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			 void *base)
{
	struct nsp_ctx *c = base;

	return sg_recovery_config_load(ld, obj, path, key, &c->all[c->idx].recovery);
}

static int load_bridge(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		       void *base)
{
	struct nsp_ctx *c = base;
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN];

	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	return sg_bridge_config_load(ld, v, p, c->brokers, &c->all[c->idx].bridge);
}

static const struct sg_cfg_key nsp_keys[] = {
	SG_CFG_KEY_CUSTOM("name", load_name, NULL, 0),
	SG_CFG_KEY_CUSTOM("match", load_match, NULL, 0),
	SG_CFG_KEY_CUSTOM("middleware", load_middleware, NULL, 0),
	SG_CFG_KEY_CUSTOM("rooms", load_rooms, NULL, 0),
	SG_CFG_KEY_CUSTOM("recovery", load_recovery, NULL, 0),
	SG_CFG_KEY_CUSTOM("bridge", load_bridge, NULL, 0),
	SG_CFG_KEY_END
};

static int load_nsp(struct sg_cfg_ld *ld, json_t *obj, const char *path, struct nsp_ctx *c)
{
	if (!json_is_object(obj))
		return sg_cfg_fail(ld, path, "expected an object");
	return sg_cfg_load(ld, obj, path, nsp_keys, c);
}

int sg_nsp_config_load_all(struct sg_cfg_ld *ld, json_t *arr, const char *path,
			   const json_t *brokers, struct sg_nsp_config **out, size_t *n_out)
{
	struct nsp_ctx c = { NULL, 0, brokers };
	char p[SG_CFG_PATH_LEN];
	size_t n;

	if (!json_is_array(arr))
		return sg_cfg_fail(ld, path, "expected an array");
	n = json_array_size(arr);
	if (n == 0)
		return 0;
	if (!(c.all = calloc(n, sizeof *c.all)))
		return sg_cfg_oom(ld, path);
	*out = c.all;
	*n_out = n;
	for (c.idx = 0; c.idx < n; c.idx++) {
		sg_cfg_path_idx(p, path, c.idx);
		if (sg_room_policy_init(&c.all[c.idx].rooms) < 0)
			return sg_cfg_oom(ld, p);
		sg_recovery_config_init(&c.all[c.idx].recovery);
		if (load_nsp(ld, json_array_get(arr, c.idx), p, &c) < 0)
			return -1;
	}
	return 0;
}

void sg_nsp_config_free_all(struct sg_nsp_config *nsps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sg_nsp_config *nsp = &nsps[i];

		free(nsp->name);
		free(nsp->match);
		sg_cfg_free_re(nsp->match_re);
		for (size_t j = 0; j < nsp->n_middleware; j++)
			sg_mw_config_free(&nsp->middleware[j]);
		free(nsp->middleware);
		sg_room_policy_free(&nsp->rooms);
		sg_recovery_config_free(&nsp->recovery);
		json_decref(nsp->bridge);
	}
	free(nsps);
}
