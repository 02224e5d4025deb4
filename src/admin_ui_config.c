/* admin_ui_config.c - the `admin_ui` section: its key table, the `auth` object (or false),
 * and the rule that the admin namespace is nobody else's. */
#include "admin_ui_config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_core.h"
#include "nsp_config.h"
#include "util/regex.h"

static int check_nsp(struct sg_cfg_ld *ld, const char *path, const char *s)
{
	if (s[0] != '/' || strlen(s) > 200 || strpbrk(s, "?#,") )
		return sg_cfg_fail(ld, path, "a namespace name starts with '/' and has no '?', '#' or ',' (at most 200 characters)");
	return 0;
}

/* "$2a$", "$2b$" or "$2y$", a two-digit cost, then 53 characters of bcrypt's base64: what
 * libcrypt's bcrypt verifies. */
static int check_hash(struct sg_cfg_ld *ld, const char *path, const char *s)
{
	static const char b64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	int cost;

	if (strlen(s) != 60 || s[0] != '$' || s[1] != '2' || !strchr("aby", s[2]) || s[3] != '$' ||
	    !sg_cfg_is_digit(s[4]) || !sg_cfg_is_digit(s[5]) || s[6] != '$' ||
	    strspn(s + 7, b64) != 53)
		return sg_cfg_fail(ld, path, "expected a bcrypt hash (\"$2b$10$...\", 60 characters; make one with "
				   "`htpasswd -nbBC 10 '' PASSWORD | cut -c2-`)");
	cost = (s[4] - '0') * 10 + (s[5] - '0');
	if (cost < 4 || cost > 31)
		return sg_cfg_fail(ld, path, "a bcrypt cost is 04 to 31");
	return 0;
}

#define A struct sg_admin_ui_config
static const struct sg_cfg_key auth_keys[] = {
	SG_CFG_KEY_STR("username", A, username, NULL, SG_CFG_REQUIRED | SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_STR("password_hash", A, password_hash, NULL, SG_CFG_REQUIRED, check_hash),
	SG_CFG_KEY_END
};

/* `auth`: required, the credentials the UI logs in with, or an explicit false. */
static int load_auth(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key, void *base)
{
	struct sg_admin_ui_config *ac = base;
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN];

	sg_cfg_path_key(p, path, key);
	if (!v)
		return sg_cfg_fail(ld, p, "required: {\"username\": ..., \"password_hash\": \"$2b$...\"}, or false "
				   "to let anyone who reaches the gateway in");
	if (json_is_false(v)) {
		ac->auth_off = 1;
		return 0;
	}
	if (!json_is_object(v))
		return sg_cfg_fail(ld, p, "expected an object {username, password_hash} or false");
	return sg_cfg_load(ld, v, p, auth_keys, ac);
}

static const char *const mode_names[] = {"development", "production", NULL};

static const struct sg_cfg_key admin_keys[] = {
	SG_CFG_KEY_STR("namespace", A, nsp, "/admin", SG_CFG_NONEMPTY, check_nsp),
	SG_CFG_KEY_CUSTOM("auth", load_auth, NULL, 0),
	SG_CFG_KEY_ENUM("mode", A, mode, mode_names, "mode", SG_ADMIN_UI_DEVELOPMENT, 0),
	SG_CFG_KEY_BOOL("read_only", A, read_only, 0, 0),
	SG_CFG_KEY_STR("server_id", A, server_id, NULL, SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_U32("stats_interval_ms", A, stats_interval_ms, 500, 60000, 2000, 0),
	SG_CFG_KEY_END
};
#undef A

int sg_admin_ui_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *key, const struct sg_nsp_config *nsps,
			    size_t n_nsps, struct sg_admin_ui_config *ac)
{
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN];

	if (!v)
		return 0;
	if (!json_is_object(v))
		return sg_cfg_fail(ld, key, "expected an object");
	if (sg_cfg_defaults(admin_keys, ac) < 0)
		return sg_cfg_oom(ld, key);
	ac->enabled = 1;
	if (sg_cfg_load(ld, v, key, admin_keys, ac) < 0)
		return -1;
	if (!ac->server_id) {
		char host[256] = "";

		if (gethostname(host, sizeof(host) - 1) || !host[0])
			strcpy(host, "siogate");
		if (!(ac->server_id = strdup(host)))
			return sg_cfg_oom(ld, key);
	}
	/* Its sockets are the UI's: a namespace of the config may not be it too. */
	sg_cfg_path_key(p, key, "namespace");
	for (size_t i = 0; i < n_nsps; i++) {
		if ((nsps[i].name && !strcmp(nsps[i].name, ac->nsp)) ||
		    (nsps[i].match_re && sg_regex_full_match(nsps[i].match_re, ac->nsp)))
			return sg_cfg_fail(ld, p, "'%s' is namespaces[%zu]'s: the admin namespace must be a namespace of "
					   "its own", ac->nsp, i);
	}
	return 0;
}

void sg_admin_ui_config_free(struct sg_admin_ui_config *ac)
{
	sg_cfg_free(admin_keys, ac);
	sg_cfg_free(auth_keys, ac);
	ac->enabled = 0;
}
