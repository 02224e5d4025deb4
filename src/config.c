/* config.c - the config root: reads the file, parses the JSON (duplicate keys refused),
 * and hands each top-level section to its owner (server_config.c, log.c, bridges_config.c,
 * nsp_config.c) through the root key table. What every section shares is config_core.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges_config.h"

static int load_server(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		       void *base)
{
	struct sg_config *cfg = base;
	json_t *v;

	if (sg_cfg_obj(ld, obj, path, key, &v) < 0)
		return -1;
	return v ? sg_server_config_load(ld, v, key, &cfg->server) : 0;
}

static int load_log(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		    void *base)
{
	struct sg_config *cfg = base;

	return sg_cfg_section(ld, obj, path, key, sg_log_config_keys, &cfg->log);
}

static int load_brokers(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			void *base)
{
	struct sg_config *cfg = base;
	json_t *v = json_object_get(obj, key);

	(void)path;
	return v ? sg_brokers_config_load(ld, v, key, &cfg->brokers) : 0;
}

static int load_namespaces(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			   void *base)
{
	struct sg_config *cfg = base;
	json_t *v = json_object_get(obj, key);

	(void)path;
	return v ? sg_nsp_config_load_all(ld, v, key, cfg->brokers, &cfg->namespaces,
					  &cfg->n_namespaces) : 0;
}

static int load_admin_ui(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			 void *base)
{
	struct sg_config *cfg = base;

	(void)path;
	return sg_admin_ui_config_load(ld, obj, key, cfg->namespaces, cfg->n_namespaces, &cfg->admin_ui);
}

/* The sections, in load order: brokers before the namespaces whose bridges name them. */
static const struct sg_cfg_key root_keys[] = {
	SG_CFG_KEY_CUSTOM("server", load_server, NULL, 0),
	SG_CFG_KEY_CUSTOM("log", load_log, NULL, 0),
	SG_CFG_KEY_CUSTOM("brokers", load_brokers, NULL, 0),
	SG_CFG_KEY_CUSTOM("namespaces", load_namespaces, NULL, 0),
	SG_CFG_KEY_CUSTOM("admin_ui", load_admin_ui, NULL, 0),
	SG_CFG_KEY_END
};

/* Validates a parsed document into a new config. `root` stays the caller's; the bridge
 * and broker subtrees kept are referenced, after in-place expansion. */
static struct sg_config *load_root(json_t *root, sg_getenv_fn getenv_fn, void *ud, char *err)
{
	struct sg_cfg_ld ld = { getenv_fn, ud, err };
	struct sg_config *cfg = NULL;

	if (!json_is_object(root)) {
		sg_cfg_fail(&ld, "", "expected an object");
		return NULL;
	}
	if (!(cfg = sg_config_default())) {
		sg_cfg_oom(&ld, "");
		return NULL;
	}
	if (sg_cfg_load(&ld, root, "", root_keys, cfg) < 0) {
		sg_config_destroy(cfg);
		return NULL;
	}
	return cfg;
}

static const char *real_getenv(const char *name, void *ud)
{
	(void)ud;
	return getenv(name);
}

/* Parses `len` bytes; `source` names them in syntax errors ("FILE:LINE:COL: ..."). */
static struct sg_config *load_buffer(const char *buf, size_t len, const char *source,
				     sg_getenv_fn getenv_fn, void *ud, char *err)
{
	json_error_t je;
	json_t *root;
	struct sg_config *cfg;

	/* Duplicate keys are rejected: with two "listen" keys, which one did they mean? */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* jansson reports no position, and often no text, when it ran out of memory. */
		if (json_error_code(&je) == json_error_out_of_memory || !je.text[0])
			snprintf(err, SG_CONFIG_ERR_MAX, "%s: out of memory", source);
		else if (je.line < 0)
			snprintf(err, SG_CONFIG_ERR_MAX, "%s: %s", source, je.text);
		else
			snprintf(err, SG_CONFIG_ERR_MAX, "%s:%d:%d: %s", source, je.line, je.column,
				 je.text);
		return NULL;
	}
	cfg = load_root(root, getenv_fn ? getenv_fn : real_getenv, ud, err);
	json_decref(root);
	return cfg;
}

struct sg_config *sg_config_load_string(const char *text, sg_getenv_fn getenv_fn, void *ud,
					char err[SG_CONFIG_ERR_MAX])
{
	char scratch[SG_CONFIG_ERR_MAX];

	if (!err)
		err = scratch;
	if (!text) {
		snprintf(err, SG_CONFIG_ERR_MAX, "(string): no text");
		return NULL;
	}
	return load_buffer(text, strlen(text), "(string)", getenv_fn, ud, err);
}

/* Reads a whole file into a new buffer. Done by hand rather than with json_load_file so
 * that an unreadable file (missing, a directory, no permission) reads "FILE: <strerror>". */
static int read_file(const char *path, char **out, size_t *out_len, char *err)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;
	FILE *f;

	if (!(f = fopen(path, "rb"))) {
		snprintf(err, SG_CONFIG_ERR_MAX, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16384;
			if (!(nb = realloc(buf, cap))) {
				snprintf(err, SG_CONFIG_ERR_MAX, "%s: out of memory", path);
				goto sg_cfg_fail;
			}
			buf = nb;
		}
		errno = 0;
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n > 0)
			continue;
		if (ferror(f)) {
			snprintf(err, SG_CONFIG_ERR_MAX, "%s: %s", path, strerror(errno ? errno : EIO));
			goto sg_cfg_fail;
		}
		break;
	}
	fclose(f);
	*out = buf;
	*out_len = len;
	return 0;
sg_cfg_fail:
	fclose(f);
	free(buf);
	return -1;
}

struct sg_config *sg_config_load_file(const char *path, sg_getenv_fn getenv_fn, void *ud,
				      char err[SG_CONFIG_ERR_MAX])
{
	char scratch[SG_CONFIG_ERR_MAX], *buf;
	size_t len;
	struct sg_config *cfg;

	if (!err)
		err = scratch;
	if (read_file(path, &buf, &len, err) < 0)
		return NULL;
	cfg = load_buffer(buf, len, path, getenv_fn, ud, err);
	free(buf);
	return cfg;
}

struct sg_config *sg_config_default(void)
{
	struct sg_config *cfg = calloc(1, sizeof *cfg);

	if (!cfg)
		return NULL;
	cfg->refs = 1;
	if (sg_server_config_init(&cfg->server) < 0 ||
	    sg_cfg_defaults(sg_log_config_keys, &cfg->log) < 0 || !(cfg->brokers = json_object())) {
		sg_config_destroy(cfg);
		return NULL;
	}
	return cfg;
}

void sg_config_restart_changes(const struct sg_config *a, const struct sg_config *b,
			       void (*found)(void *ud, const char *key_path), void *ud)
{
	sg_cfg_restart_changes(sg_server_config_keys, "server", &a->server, &b->server, found, ud);
	sg_cfg_restart_changes(sg_log_config_keys, "log", &a->log, &b->log, found, ud);
}

const struct sg_config *sg_config_ref(const struct sg_config *cfg)
{
	if (cfg)
		((struct sg_config *)cfg)->refs++;
	return cfg;
}

void sg_config_destroy(const struct sg_config *ccfg)
{
	/* The config is immutable to its readers; the count is the one thing that changes. */
	struct sg_config *cfg = (struct sg_config *)ccfg;

	if (!cfg || --cfg->refs)
		return;
	sg_server_config_free(&cfg->server);
	json_decref(cfg->brokers);
	sg_nsp_config_free_all(cfg->namespaces, cfg->n_namespaces);
	sg_admin_ui_config_free(&cfg->admin_ui);
	free(cfg);
}

const struct sg_nsp_config *sg_config_find_nsp(const struct sg_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	/* Static names win over patterns, whatever their order in the file. */
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (cfg->namespaces[i].name && strcmp(cfg->namespaces[i].name, name) == 0)
			return &cfg->namespaces[i];
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (cfg->namespaces[i].match_re &&
		    sg_regex_full_match(cfg->namespaces[i].match_re, name))
			return &cfg->namespaces[i];
	return NULL;
}
