/* rooms.h - room membership of one namespace: O(1) join, leave and membership test. */
#ifndef SG_ROOMS_H
#define SG_ROOMS_H

#include <stddef.h>

#include "hmap.h"
#include "util/list.h"

struct sg_membership;

struct sg_room {
	char *name;                   /* owned, NUL-terminated */
	size_t len;
	struct sg_list members;       /* of sg_membership.in_room, most recent first */
};

/* A socket's side of its memberships: embedded in the socket, so that disconnect costs
 * O(rooms of that socket). */
struct sg_room_set {
	struct sg_list members;       /* of sg_membership.in_set */
};

struct sg_membership {
	struct sg_room *room;
	void *member;                 /* borrowed: the socket */
	struct sg_room_set *set;
	struct sg_list_node in_room, in_set;
	const void *key[2];           /* (room, member): the membership map's key */
};

struct sg_rooms {
	struct sg_hmap by_name;       /* name -> sg_room */
	struct sg_hmap members;       /* (room, member) -> sg_membership */
};

/* The most recent member of `room` (NULL for no room or no member), and the member after
 * `m`: for (m = sg_room_first(room); m; m = sg_room_next(m)). */
static inline struct sg_membership *sg_room_first(const struct sg_room *room)
{
	return room ? sg_list_item(room->members.head, struct sg_membership, in_room) : NULL;
}

static inline struct sg_membership *sg_room_next(const struct sg_membership *m)
{
	return sg_list_item(m->in_room.next, struct sg_membership, in_room);
}

void sg_rooms_init(struct sg_rooms *r);
/* Frees every room and membership; the sockets' sets must be reset by their owners. */
void sg_rooms_free(struct sg_rooms *r);

/* Returns 1 when joined, 0 when already a member, -1 on allocation failure. */
int sg_rooms_join(struct sg_rooms *r, struct sg_room_set *set, void *member, const char *name, size_t len);
/* Returns 1 when left, 0 when not a member. An emptied room is freed. */
int sg_rooms_leave(struct sg_rooms *r, struct sg_room_set *set, void *member, const char *name, size_t len);
void sg_rooms_leave_all(struct sg_rooms *r, struct sg_room_set *set);
int sg_rooms_has(const struct sg_rooms *r, const void *member, const char *name, size_t len);
struct sg_room *sg_rooms_get(const struct sg_rooms *r, const char *name, size_t len);
size_t sg_rooms_count(const struct sg_rooms *r);

/* Socket ids (sio_nsp.c) are SG_SOCKET_ID_LEN characters of the base64url alphabet. */
#define SG_SOCKET_ID_LEN 20
/* Engine.IO session ids (eio_session.c) are 24 characters of the same alphabet; a v2
 * client's socket id is one ("/"), or "<nsp>#" and one. Both shapes are private rooms too. */
#define SG_EIO_ID_LEN 24
/* 1 when `name` has the exact shape of a socket id: such a room is that socket's alone. */
int sg_rooms_is_socket_id(const char *name, size_t len);

#endif
