/* rooms_config.h - a namespace's `rooms` policy: which rooms a socket is in and how it gets
 * there. Parsed by rooms_config.c from its key table; applied by sio_rooms.c. */
#ifndef SG_ROOMS_CONFIG_H
#define SG_ROOMS_CONFIG_H

#include <stddef.h>
#include <regex.h>
#include <jansson.h>

struct sg_room_policy {
	char **auto_join;    /* owned; templates over {auth.X} {query.X} {nsp} {sid} */
	size_t n_auto_join;
	int client_join;     /* clients may send join/leave events */
	char *join_event;    /* owned; default "join" */
	char *leave_event;   /* owned; default "leave" */
	char *allow;         /* owned; POSIX ERE a room name must match entirely; NULL = any */
	regex_t *allow_re;   /* owned; compiled `allow`, or NULL */
	size_t max_rooms;    /* per socket, client-joined rooms; default 64 */
};

struct sg_cfg_ld;

/* Every default. Returns -1 when out of memory. */
int sg_room_policy_init(struct sg_room_policy *rp);
/* Loads the optional object obj[key] (the namespace at `path`) over the defaults. */
int sg_room_policy_load(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			struct sg_room_policy *rp);
void sg_room_policy_free(struct sg_room_policy *rp);

#endif
