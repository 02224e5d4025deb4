/* config.h - the gateway configuration: one JSON file parsed, expanded and validated.
 * Each section's type and keys belong to its owner: server_config.h, log.h,
 * nsp_config.h (with middleware_config.h and rooms_config.h), bridges_config.h. */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include "admin_ui_config.h"
#include <stddef.h>
#include <jansson.h>

#include "config_core.h"   /* sg_getenv_fn, SG_CONFIG_ERR_MAX */
#include "log.h"           /* struct sg_log_config */
#include "nsp_config.h"
#include "server_config.h"
#include "util/regex.h"    /* sg_regex_full_match, for the patterns compiled here */

struct sg_config {
	struct sg_server_config server;
	struct sg_log_config log;
	json_t *brokers;     /* owned reference; object of named broker settings, may be empty */
	struct sg_nsp_config *namespaces; /* owned array */
	size_t n_namespaces;
	struct sg_admin_ui_config admin_ui; /* the Socket.IO Admin UI (admin_ui.c), or disabled */
	unsigned refs;       /* sg_config_ref / sg_config_destroy; loop thread only */
};

/* Loads, expands ${VAR} / ${VAR:-default} in every string value, and validates a config.
 * Returns a new config (free with sg_config_destroy) or NULL with `err` filled.
 * `getenv_fn` may be NULL (uses getenv); tests pass their own. */
struct sg_config *sg_config_load_file(const char *path, sg_getenv_fn getenv_fn, void *ud,
				      char err[SG_CONFIG_ERR_MAX]);
struct sg_config *sg_config_load_string(const char *text, sg_getenv_fn getenv_fn, void *ud,
					char err[SG_CONFIG_ERR_MAX]);
/* A config with every default and no namespaces (the core always serves "/" without
 * middleware); `brokers` is an empty object. */
struct sg_config *sg_config_default(void);
/* A new reference to cfg (returned). A reload replaces the running config while work that
 * started under the old one (a CONNECT waiting on an http middleware step) still reads it:
 * such work holds a reference, so that it is judged by one config from start to end. */
const struct sg_config *sg_config_ref(const struct sg_config *cfg);
/* Drops a reference; the last one frees the config. NULL is a no-op. */
void sg_config_destroy(const struct sg_config *cfg);

/* Calls found() with the path ("server.listen") of each setting a reload cannot apply
 * (marked SG_CFG_RESTART in its section's key table) that differs between `a` (running)
 * and `b` (just loaded). */
void sg_config_restart_changes(const struct sg_config *a, const struct sg_config *b,
			       void (*found)(void *ud, const char *key_path), void *ud);

/* Finds the namespace config for a name: a static name first, then the first `match`
 * regex that matches the whole name. Returns a borrowed pointer or NULL. */
const struct sg_nsp_config *sg_config_find_nsp(const struct sg_config *cfg, const char *name);

#endif
