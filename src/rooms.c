/* rooms.c - rooms as hash-mapped lists; each membership is linked into its room and socket. */
#include "rooms.h"

#include <stdlib.h>
#include <string.h>

static int all_url64(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int sg_rooms_is_socket_id(const char *name, size_t len)
{
	const char *hash;

	if (len == SG_SOCKET_ID_LEN || len == SG_EIO_ID_LEN)
		return all_url64(name, len);
	/* A v2 client's socket in a namespace: "/nsp#<Engine.IO id>". */
	hash = len > SG_EIO_ID_LEN ? name + len - SG_EIO_ID_LEN - 1 : NULL;
	return hash && name[0] == '/' && *hash == '#' && all_url64(hash + 1, SG_EIO_ID_LEN);
}

void sg_rooms_init(struct sg_rooms *r)
{
	sg_hmap_init(&r->by_name);
	sg_hmap_init(&r->members);
}

static void room_free(struct sg_room *room)
{
	free(room->name);
	free(room);
}

void sg_rooms_free(struct sg_rooms *r)
{
	size_t i;

	for (i = 0; i < r->members.cap; i++)
		if (r->members.slots[i].hash)
			free(r->members.slots[i].val);
	for (i = 0; i < r->by_name.cap; i++)
		if (r->by_name.slots[i].hash)
			room_free(r->by_name.slots[i].val);
	sg_hmap_free(&r->members);
	sg_hmap_free(&r->by_name);
}

struct sg_room *sg_rooms_get(const struct sg_rooms *r, const char *name, size_t len)
{
	return sg_hmap_get(&r->by_name, name, len);
}

size_t sg_rooms_count(const struct sg_rooms *r)
{
	return r->by_name.count;
}

static struct sg_membership *find(const struct sg_rooms *r, const struct sg_room *room, const void *member)
{
	const void *key[2] = {room, member};

	return sg_hmap_get(&r->members, key, sizeof(key));
}

int sg_rooms_has(const struct sg_rooms *r, const void *member, const char *name, size_t len)
{
	struct sg_room *room = sg_rooms_get(r, name, len);

	return room && find(r, room, member) != NULL;
}

int sg_rooms_join(struct sg_rooms *r, struct sg_room_set *set, void *member, const char *name, size_t len)
{
	struct sg_room *room = sg_rooms_get(r, name, len);
	struct sg_membership *m;
	int new_room = 0;

	if (room && find(r, room, member))
		return 0;
	if (!room) {
		room = calloc(1, sizeof(*room));
		if (!room || !(room->name = malloc(len + 1))) {
			free(room);
			return -1;
		}
		memcpy(room->name, name, len);
		room->name[len] = '\0';
		room->len = len;
		if (sg_hmap_put(&r->by_name, room->name, len, room)) {
			room_free(room);
			return -1;
		}
		new_room = 1;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail;
	m->room = room;
	m->member = member;
	m->set = set;
	m->key[0] = room;
	m->key[1] = member;
	if (sg_hmap_put(&r->members, m->key, sizeof(m->key), m)) {
		free(m);
		goto fail;
	}
	sg_list_push_front(&room->members, &m->in_room);
	sg_list_push_front(&set->members, &m->in_set);
	return 1;
fail:
	if (new_room) {
		sg_hmap_del(&r->by_name, room->name, len);
		room_free(room);
	}
	return -1;
}

static void unlink_membership(struct sg_rooms *r, struct sg_membership *m)
{
	struct sg_room *room = m->room;
	struct sg_room_set *set = m->set;

	sg_hmap_del(&r->members, m->key, sizeof(m->key));
	sg_list_remove(&room->members, &m->in_room);
	sg_list_remove(&set->members, &m->in_set);
	free(m);
	if (!room->members.count) {
		sg_hmap_del(&r->by_name, room->name, room->len);
		room_free(room);
	}
}

int sg_rooms_leave(struct sg_rooms *r, struct sg_room_set *set, void *member, const char *name, size_t len)
{
	struct sg_room *room = sg_rooms_get(r, name, len);
	struct sg_membership *m;

	(void)set;
	if (!room || !(m = find(r, room, member)))
		return 0;
	unlink_membership(r, m);
	return 1;
}

void sg_rooms_leave_all(struct sg_rooms *r, struct sg_room_set *set)
{
	while (set->members.head)
		unlink_membership(r, sg_list_item(set->members.head, struct sg_membership, in_set));
}
