/* recovery_config.h - a namespace's `recovery` (connection state recovery): how long a
 * dropped socket's session is kept and how much of the namespace's traffic is kept to replay
 * to it. Parsed by recovery_config.c from its key table; applied by sio_recovery.c. */
#ifndef SG_RECOVERY_CONFIG_H
#define SG_RECOVERY_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct sg_recovery_config {
	int enabled;                   /* the namespace has a `recovery` object */
	uint32_t max_disconnection_ms; /* how long a dropped socket's session is kept */
	int skip_middleware;           /* a recovered socket does not run the middleware again */
	size_t max_packets;            /* packets kept for replay, per namespace */
	size_t max_bytes;              /* their encoded bytes, per namespace */
	size_t max_sessions;           /* dropped sessions kept, per namespace */
	char *sessions_topic;          /* the broker topic sessions are kept in, or NULL */
};

struct sg_cfg_ld;

/* Every default, disabled. */
void sg_recovery_config_init(struct sg_recovery_config *rc);
/* Loads the optional object obj[key] (the namespace at `path`); present means enabled. */
int sg_recovery_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			    struct sg_recovery_config *rc);

/* Frees what a load stored (sessions_topic). */
void sg_recovery_config_free(struct sg_recovery_config *rc);

#endif
