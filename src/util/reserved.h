/* util/reserved.h - the event names Socket.IO reserves: a client may not emit them, and no
 * server may send them (the official client drops the connection with "parse error"). Shared
 * by the host's packet checks and the bridges' deliveries. */
#ifndef SG_UTIL_RESERVED_H
#define SG_UTIL_RESERVED_H

#include <string.h>

static inline int sg_event_reserved(const char *name)
{
	static const char *const reserved[] = {
		"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
	};

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(name, reserved[i]))
			return 1;
	return 0;
}

#endif
