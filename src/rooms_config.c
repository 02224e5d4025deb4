/* rooms_config.c - the `rooms` policy of a namespace: its key table, and the keys a table
 * cannot say (the leave event must differ from the join event; `allow` is compiled). */
#include "rooms_config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_core.h"

/* Event names a Socket.IO client cannot emit, so they can never be join/leave events. */
static const char *const reserved_events[] = {
	"connect", "connect_error", "disconnect", "disconnecting", "newListener",
	"removeListener", NULL
};

static int check_event(struct sg_cfg_ld *ld, const char *path, const char *s)
{
	if (!sg_cfg_in_list(s, reserved_events))
		return 0;
	return sg_cfg_fail(ld, path, "'%s' is a reserved Socket.IO event name", s);
}

static int leave_differs(struct sg_cfg_ld *ld, const char *path, void *base)
{
	struct sg_room_policy *rp = base;

	if (strcmp(rp->join_event, rp->leave_event) == 0)
		return sg_cfg_fail(ld, path, "must differ from join_event ('%s')", rp->join_event);
	return 0;
}

static int load_allow(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		      void *base)
{
	struct sg_room_policy *rp = base;

	return sg_cfg_regex_key(ld, obj, path, key, &rp->allow, &rp->allow_re);
}

#define R struct sg_room_policy
static const struct sg_cfg_key rooms_keys[] = {
	SG_CFG_KEY_STRV("auto_join", R, auto_join, n_auto_join, 0, sg_cfg_check_template),
	SG_CFG_KEY_BOOL("client_join", R, client_join, 0, 0),
	SG_CFG_KEY_STR("join_event", R, join_event, "join", SG_CFG_NONEMPTY, check_event),
	{ .name = "leave_event", .type = SG_CFG_STR, .flags = SG_CFG_NONEMPTY,
	  .off = offsetof(R, leave_event), .def_str = "leave", .check = check_event,
	  .after = leave_differs },
	SG_CFG_KEY_CUSTOM("allow", load_allow, NULL, 0),
	SG_CFG_KEY_SIZE("max_rooms", R, max_rooms, 1, 100000, 64, 0),
	SG_CFG_KEY_END
};
#undef R

int sg_room_policy_init(struct sg_room_policy *rp)
{
	return sg_cfg_defaults(rooms_keys, rp);
}

int sg_room_policy_load(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			struct sg_room_policy *rp)
{
	return sg_cfg_section(ld, obj, path, key, rooms_keys, rp);
}

void sg_room_policy_free(struct sg_room_policy *rp)
{
	sg_cfg_free(rooms_keys, rp);
	free(rp->allow);
	rp->allow = NULL;
	sg_cfg_free_re(rp->allow_re);
	rp->allow_re = NULL;
}
