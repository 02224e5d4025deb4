/* admin_ui_config.h - the top-level `admin_ui` section: the official Socket.IO Admin UI
 * served by the gateway itself (admin_ui.c). Parsed from its key table by admin_ui_config.c. */
#ifndef SG_ADMIN_UI_CONFIG_H
#define SG_ADMIN_UI_CONFIG_H

#include <stdint.h>
#include <jansson.h>

enum sg_admin_ui_mode { SG_ADMIN_UI_DEVELOPMENT = 0, SG_ADMIN_UI_PRODUCTION = 1 };

struct sg_admin_ui_config {
	int enabled;                   /* the section is present */
	char *nsp;                     /* the admin namespace, "/admin" by default */
	int auth_off;                  /* "auth": false */
	char *username;                /* auth.username */
	char *password_hash;           /* auth.password_hash, a bcrypt hash */
	int mode;                      /* enum sg_admin_ui_mode */
	int read_only;                 /* operations are refused */
	char *server_id;               /* shown by the UI; the host name by default */
	uint32_t stats_interval_ms;    /* server_stats every so often */
};

struct sg_cfg_ld;
struct sg_nsp_config;

/* Loads obj[key] (absent: disabled). `nsps` are the namespaces loaded before: the admin
 * namespace may not be one of them. */
int sg_admin_ui_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *key, const struct sg_nsp_config *nsps,
			    size_t n_nsps, struct sg_admin_ui_config *ac);
void sg_admin_ui_config_free(struct sg_admin_ui_config *ac);

#endif
