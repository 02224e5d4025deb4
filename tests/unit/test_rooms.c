/* test_rooms.c - hash map and room membership tests, each with a randomized model check. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/hmap.h"
#include "../../src/rooms.h"
#include "rng.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------ */

/* Checks the linear-probing invariants on the public slot array: count matches the occupied
 * slots, the load stays below 3/4, cap is a power of two, and every entry is reachable from
 * its home slot without crossing an empty slot (what backward-shift deletion preserves). */
static void check_hmap_invariants(const struct sg_hmap *m)
{
	size_t used = 0;

	if (m->cap == 0) {
		ck_assert_ptr_null(m->slots);
		ck_assert_uint_eq(m->count, 0);
		return;
	}
	ck_assert_ptr_nonnull(m->slots);
	ck_assert_uint_eq(m->cap & (m->cap - 1), 0);
	ck_assert_uint_le(m->count * 4, m->cap * 3);
	for (size_t i = 0; i < m->cap; i++) {
		const struct sg_hmap_slot *s = &m->slots[i];

		if (!s->hash)
			continue;
		used++;
		ck_assert_uint_eq(s->hash, sg_hash_bytes(s->key, s->klen));
		for (size_t j = (size_t)s->hash & (m->cap - 1); j != i; j = (j + 1) & (m->cap - 1))
			ck_assert_msg(m->slots[j].hash != 0, "slot %zu unreachable: hole at %zu", i, j);
	}
	ck_assert_uint_eq(used, m->count);
}

/* ---- hash ---------------------------------------------------------------------------- */

START_TEST(hash_basics)
{
	ck_assert_uint_eq(sg_hash_bytes("abc", 3), sg_hash_bytes("abc", 3));
	ck_assert_uint_ne(sg_hash_bytes("abc", 3), sg_hash_bytes("abd", 3));
	ck_assert_uint_ne(sg_hash_bytes("abc", 3), sg_hash_bytes("abc", 2));
	ck_assert_uint_ne(sg_hash_bytes("", 0), 0);
	ck_assert_uint_ne(sg_hash_bytes("\0", 1), 0);
	ck_assert_uint_ne(sg_hash_bytes("\0", 1), sg_hash_bytes("\0\0", 2));
}
END_TEST

/* The published SipHash-2-4 vectors (key 00..0f, message 00..(n-1)): the same code with
 * the rounds the maps use (1-3) is then the reference algorithm. */
START_TEST(siphash_vectors)
{
	unsigned char msg[15];
	uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	ck_assert_uint_eq(sg_siphash(2, 4, k0, k1, msg, 0), 0x726fdb47dd0e0e31ULL);
	ck_assert_uint_eq(sg_siphash(2, 4, k0, k1, msg, 1), 0x74f839c593dc67fdULL);
	ck_assert_uint_eq(sg_siphash(2, 4, k0, k1, msg, 15), 0xa129ca6149be45e5ULL);
	/* Another key, another hash. */
	ck_assert_uint_ne(sg_siphash(1, 3, k0, k1, msg, 15), sg_siphash(1, 3, k0 + 1, k1, msg, 15));
}
END_TEST

/* The unkeyed function the maps used before (FNV-1a, 64-bit, folded): what an attacker who
 * read our source could aim at. */
static uint64_t old_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return h ? h : 1;
}

/* Total distance of the entries from their home slots: the probes lookups pay. */
static size_t displacement(const struct sg_hmap *m)
{
	size_t total = 0;

	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].hash)
			total += (i - ((size_t)m->slots[i].hash & (m->cap - 1))) & (m->cap - 1);
	return total;
}

/* Room names crafted so that the old function puts them all in one bucket of a 2,048-slot
 * table (the size 1,000 entries make it) cost no more than random names of the same shape:
 * a flood that would have made every lookup a scan of the whole run. */
START_TEST(hmap_crafted_names_do_not_collide)
{
	enum { N = 1000 };
	static char crafted[N][24], random_names[N][24];
	struct sg_hmap m;
	size_t n = 0, d_crafted, d_random, d_old = 0;
	uint64_t target = old_hash("room-0", 6) & 2047;

	for (unsigned long i = 0; n < N; i++) {
		char name[24];
		int len = snprintf(name, sizeof(name), "room-%lu", i);
		if ((old_hash(name, (size_t)len) & 2047) == target)
			memcpy(crafted[n++], name, (size_t)len + 1);
	}
	/* Against the old function (linear probing in 2,048 slots, simulated) these names cost
	 * a scan each: the test has teeth. */
	{
		static unsigned char used[2048];
		for (size_t i = 0; i < N; i++) {
			size_t j = (size_t)old_hash(crafted[i], strlen(crafted[i])) & 2047, home = j;
			while (used[j])
				j = (j + 1) & 2047;
			used[j] = 1;
			d_old += (j - home) & 2047;
		}
	}
	for (size_t i = 0; i < N; i++)
		snprintf(random_names[i], sizeof(random_names[i]), "room-%ld", random());

	sg_hmap_init(&m);
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(sg_hmap_put(&m, crafted[i], strlen(crafted[i]), crafted[i]), 0);
	ck_assert_uint_eq(m.cap, 2048);
	d_crafted = displacement(&m);
	check_hmap_invariants(&m);
	sg_hmap_free(&m);
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(sg_hmap_put(&m, random_names[i], strlen(random_names[i]), random_names[i]), 0);
	d_random = displacement(&m);
	sg_hmap_free(&m);
	/* Random keys at load 0.49 average well under one probe each; allow a wide margin
	 * (the key is random per run) that a one-bucket flood (d_old, ~N^2/2) cannot meet. */
	ck_assert_msg(d_crafted <= 3 * d_random + N, "crafted names cost %zu probes, random %zu", d_crafted, d_random);
	ck_assert_msg(d_old > 3 * d_random + N, "the crafted set would not have hurt the old hash");
}
END_TEST

/* ---- hmap ---------------------------------------------------------------------------- */

START_TEST(hmap_empty)
{
	struct sg_hmap m;

	sg_hmap_init(&m);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_uint_eq(m.cap, 0);
	ck_assert_ptr_null(sg_hmap_get(&m, "a", 1));
	ck_assert_ptr_null(sg_hmap_del(&m, "a", 1));
	check_hmap_invariants(&m);
	sg_hmap_free(&m);
	sg_hmap_free(&m); /* twice is harmless */
}
END_TEST

START_TEST(hmap_put_get_replace_del)
{
	struct sg_hmap m;
	int v1, v2, v3;

	sg_hmap_init(&m);
	ck_assert_int_eq(sg_hmap_put(&m, "alpha", 5, &v1), 0);
	ck_assert_int_eq(sg_hmap_put(&m, "beta", 4, &v2), 0);
	ck_assert_uint_eq(m.count, 2);
	ck_assert_ptr_eq(sg_hmap_get(&m, "alpha", 5), &v1);
	ck_assert_ptr_eq(sg_hmap_get(&m, "beta", 4), &v2);
	ck_assert_ptr_null(sg_hmap_get(&m, "gamma", 5));
	ck_assert_ptr_null(sg_hmap_get(&m, "alph", 4));   /* prefix is another key */
	ck_assert_ptr_null(sg_hmap_get(&m, "alphax", 6));

	/* Replacing keeps the count. */
	ck_assert_int_eq(sg_hmap_put(&m, "alpha", 5, &v3), 0);
	ck_assert_uint_eq(m.count, 2);
	ck_assert_ptr_eq(sg_hmap_get(&m, "alpha", 5), &v3);

	ck_assert_ptr_eq(sg_hmap_del(&m, "alpha", 5), &v3);
	ck_assert_uint_eq(m.count, 1);
	ck_assert_ptr_null(sg_hmap_get(&m, "alpha", 5));
	ck_assert_ptr_null(sg_hmap_del(&m, "alpha", 5));
	ck_assert_ptr_eq(sg_hmap_get(&m, "beta", 4), &v2);
	check_hmap_invariants(&m);

	/* Removing the last entry gives the table back. */
	ck_assert_ptr_eq(sg_hmap_del(&m, "beta", 4), &v2);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_uint_eq(m.cap, 0);
	ck_assert_ptr_null(m.slots);
	ck_assert_ptr_null(sg_hmap_get(&m, "beta", 4));

	/* ... and the map is usable again. */
	ck_assert_int_eq(sg_hmap_put(&m, "beta", 4, &v1), 0);
	ck_assert_ptr_eq(sg_hmap_get(&m, "beta", 4), &v1);
	sg_hmap_free(&m);
}
END_TEST

START_TEST(hmap_binary_keys)
{
	static const char k0[] = "", k1[] = "\0", k2[] = "\0\0", k3[] = "a\0b", k4[] = "a\0c";
	struct sg_hmap m;
	int v[5];

	sg_hmap_init(&m);
	ck_assert_int_eq(sg_hmap_put(&m, k0, 0, &v[0]), 0);
	ck_assert_int_eq(sg_hmap_put(&m, k1, 1, &v[1]), 0);
	ck_assert_int_eq(sg_hmap_put(&m, k2, 2, &v[2]), 0);
	ck_assert_int_eq(sg_hmap_put(&m, k3, 3, &v[3]), 0);
	ck_assert_int_eq(sg_hmap_put(&m, k4, 3, &v[4]), 0);
	ck_assert_uint_eq(m.count, 5);
	ck_assert_ptr_eq(sg_hmap_get(&m, "", 0), &v[0]);
	ck_assert_ptr_eq(sg_hmap_get(&m, "\0", 1), &v[1]);
	ck_assert_ptr_eq(sg_hmap_get(&m, "\0\0", 2), &v[2]);
	ck_assert_ptr_eq(sg_hmap_get(&m, "a\0b", 3), &v[3]);
	ck_assert_ptr_eq(sg_hmap_get(&m, "a\0c", 3), &v[4]);
	ck_assert_ptr_null(sg_hmap_get(&m, "a", 1));
	sg_hmap_free(&m);
}
END_TEST

/* Keys "c0", "c1", ... picked so that several share a home slot in a 16-slot table. */
static char collide_keys[64][8];

/* Finds `n` keys whose home slot in a table of `cap` slots is `home`. */
static void find_colliding(size_t home, size_t cap, size_t n, size_t first)
{
	size_t found = 0;

	for (int i = 0; found < n && i < 100000; i++) {
		char k[8];

		snprintf(k, sizeof(k), "c%d", i);
		if ((sg_hash_bytes(k, strlen(k)) & (cap - 1)) == home)
			strcpy(collide_keys[first + found++], k);
	}
	ck_assert_uint_eq(found, n);
}

/* Deleting from the middle of a probe run, including one that wraps around the end of the
 * table, leaves every other key reachable. */
START_TEST(hmap_backward_shift)
{
	for (size_t home = 0; home < 16; home++) {
		for (size_t victim = 0; victim < 9; victim++) {
			struct sg_hmap m;
			size_t n = 0;

			/* 5 keys with home slot `home`, then 4 with the next home slot: one run. */
			find_colliding(home, 16, 5, 0);
			find_colliding((home + 1) & 15, 16, 4, 5);
			sg_hmap_init(&m);
			for (n = 0; n < 9; n++)
				ck_assert_int_eq(sg_hmap_put(&m, collide_keys[n], strlen(collide_keys[n]),
							     collide_keys[n]), 0);
			ck_assert_uint_eq(m.cap, 16); /* the run really is in a 16-slot table */
			check_hmap_invariants(&m);

			ck_assert_ptr_eq(sg_hmap_del(&m, collide_keys[victim], strlen(collide_keys[victim])),
					 collide_keys[victim]);
			check_hmap_invariants(&m);
			for (size_t k = 0; k < 9; k++) {
				void *got = sg_hmap_get(&m, collide_keys[k], strlen(collide_keys[k]));

				if (k == victim)
					ck_assert_ptr_null(got);
				else
					ck_assert_msg(got == collide_keys[k], "home %zu, deleted %zu: key %zu lost",
						      home, victim, k);
			}
			sg_hmap_free(&m);
		}
	}
}
END_TEST

START_TEST(hmap_growth)
{
	enum { N = 100000 };
	char (*keys)[12] = malloc(sizeof(*keys) * N);
	struct sg_hmap m;
	size_t last_cap = 0, resizes = 0;

	ck_assert_ptr_nonnull(keys);
	sg_hmap_init(&m);
	for (size_t i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		ck_assert_int_eq(sg_hmap_put(&m, keys[i], strlen(keys[i]), keys[i]), 0);
		if (m.cap != last_cap) {
			resizes++;
			last_cap = m.cap;
		}
	}
	ck_assert_uint_eq(m.count, N);
	ck_assert_uint_ge(resizes, 10);
	check_hmap_invariants(&m);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_eq(sg_hmap_get(&m, keys[i], strlen(keys[i])), keys[i]);
	ck_assert_ptr_null(sg_hmap_get(&m, "k100000", 7));

	/* Delete the even keys, check, then the rest: the table is freed at the end. */
	for (size_t i = 0; i < N; i += 2)
		ck_assert_ptr_eq(sg_hmap_del(&m, keys[i], strlen(keys[i])), keys[i]);
	ck_assert_uint_eq(m.count, N / 2);
	check_hmap_invariants(&m);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_eq(sg_hmap_get(&m, keys[i], strlen(keys[i])), i % 2 ? keys[i] : NULL);
	for (size_t i = 1; i < N; i += 2)
		ck_assert_ptr_eq(sg_hmap_del(&m, keys[i], strlen(keys[i])), keys[i]);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_uint_eq(m.cap, 0);
	ck_assert_ptr_null(m.slots);
	sg_hmap_free(&m);
	free(keys);
}
END_TEST

/* Random put/replace/del/get against a plain array indexed by key number. */
START_TEST(hmap_model_random)
{
	enum { NKEYS = 300, OPS = 40000 };
	static char keys[NKEYS][8];
	static int vals[4];
	void *model[NKEYS];
	size_t model_count = 0;
	struct sg_hmap m;

	rng_seed(0xc0ffee);
	for (size_t k = 0; k < NKEYS; k++)
		snprintf(keys[k], sizeof(keys[k]), "%zu", k * 7919);
	memset(model, 0, sizeof(model));
	sg_hmap_init(&m);
	for (int op = 0; op < OPS; op++) {
		size_t k = rng_below(NKEYS), len = strlen(keys[k]);
		/* Bias toward puts in the first half and deletes in the second, so the map both
		 * fills up (several resizes) and drains to empty (table freed). */
		size_t r = rng_below(10), put_weight = op < OPS / 2 ? 6 : 3;

		if (r < put_weight) {
			void *v = &vals[rng_below(4)];

			ck_assert_int_eq(sg_hmap_put(&m, keys[k], len, v), 0);
			if (!model[k])
				model_count++;
			model[k] = v;
		} else if (r < 9) {
			ck_assert_ptr_eq(sg_hmap_del(&m, keys[k], len), model[k]);
			if (model[k])
				model_count--;
			model[k] = NULL;
		} else {
			ck_assert_ptr_eq(sg_hmap_get(&m, keys[k], len), model[k]);
		}
		ck_assert_uint_eq(m.count, model_count);
		if (model_count == 0)
			ck_assert_uint_eq(m.cap, 0);
		if (op % 97 == 0 || op == OPS - 1) {
			check_hmap_invariants(&m);
			for (size_t j = 0; j < NKEYS; j++)
				ck_assert_ptr_eq(sg_hmap_get(&m, keys[j], strlen(keys[j])), model[j]);
		}
	}
	sg_hmap_free(&m);
}
END_TEST

/* ---- rooms --------------------------------------------------------------------------- */

struct fake_socket {
	int id;
	struct sg_room_set set;
};

#define NAME(s) (s), strlen(s)

START_TEST(rooms_join_leave)
{
	struct sg_rooms r;
	struct fake_socket a = {.id = 1};
	struct sg_room *room;

	sg_rooms_init(&r);
	ck_assert_uint_eq(sg_rooms_count(&r), 0);
	ck_assert_ptr_null(sg_rooms_get(&r, NAME("lobby")));
	ck_assert_int_eq(sg_rooms_has(&r, &a, NAME("lobby")), 0);

	ck_assert_int_eq(sg_rooms_join(&r, &a.set, &a, NAME("lobby")), 1);
	ck_assert_int_eq(sg_rooms_join(&r, &a.set, &a, NAME("lobby")), 0);
	ck_assert_int_eq(sg_rooms_has(&r, &a, NAME("lobby")), 1);
	ck_assert_int_eq(sg_rooms_has(&r, &a, NAME("lobb")), 0);
	ck_assert_uint_eq(sg_rooms_count(&r), 1);
	room = sg_rooms_get(&r, NAME("lobby"));
	ck_assert_ptr_nonnull(room);
	ck_assert_str_eq(room->name, "lobby");
	ck_assert_uint_eq(room->len, 5);
	ck_assert_uint_eq(room->members.count, 1);
	ck_assert_ptr_nonnull(sg_room_first(room));
	ck_assert_ptr_eq(sg_room_first(room)->member, &a);
	ck_assert_ptr_eq(sg_room_first(room)->room, room);
	ck_assert_ptr_eq(sg_room_first(room)->set, &a.set);
	ck_assert_ptr_null(sg_room_next(sg_room_first(room)));
	ck_assert_uint_eq(a.set.members.count, 1);
	ck_assert_ptr_eq(a.set.members.head, &sg_room_first(room)->in_set);

	ck_assert_int_eq(sg_rooms_leave(&r, &a.set, &a, NAME("lobby")), 1);
	ck_assert_int_eq(sg_rooms_leave(&r, &a.set, &a, NAME("lobby")), 0);
	ck_assert_int_eq(sg_rooms_has(&r, &a, NAME("lobby")), 0);
	/* The emptied room is gone. */
	ck_assert_ptr_null(sg_rooms_get(&r, NAME("lobby")));
	ck_assert_uint_eq(sg_rooms_count(&r), 0);
	ck_assert_uint_eq(a.set.members.count, 0);
	ck_assert_ptr_null(a.set.members.head);

	/* Leaving a room that never existed. */
	ck_assert_int_eq(sg_rooms_leave(&r, &a.set, &a, NAME("nowhere")), 0);
	sg_rooms_free(&r);
}
END_TEST

START_TEST(rooms_several_sockets)
{
	struct sg_rooms r;
	struct fake_socket s[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
	struct sg_room *room;

	sg_rooms_init(&r);
	ck_assert_int_eq(sg_rooms_join(&r, &s[0].set, &s[0], NAME("a")), 1);
	ck_assert_int_eq(sg_rooms_join(&r, &s[1].set, &s[1], NAME("a")), 1);
	ck_assert_int_eq(sg_rooms_join(&r, &s[2].set, &s[2], NAME("a")), 1);
	ck_assert_int_eq(sg_rooms_join(&r, &s[0].set, &s[0], NAME("b")), 1);
	ck_assert_int_eq(sg_rooms_join(&r, &s[2].set, &s[2], NAME("c")), 1);
	ck_assert_uint_eq(sg_rooms_count(&r), 3);
	ck_assert_uint_eq(sg_rooms_get(&r, NAME("a"))->members.count, 3);
	ck_assert_uint_eq(sg_rooms_get(&r, NAME("b"))->members.count, 1);
	ck_assert_uint_eq(s[0].set.members.count, 2);
	ck_assert_uint_eq(s[1].set.members.count, 1);
	ck_assert_uint_eq(s[2].set.members.count, 2);
	ck_assert_int_eq(sg_rooms_has(&r, &s[1], NAME("b")), 0);
	ck_assert_int_eq(sg_rooms_has(&r, &s[0], NAME("b")), 1);

	/* Members are listed most recent first. */
	room = sg_rooms_get(&r, NAME("a"));
	ck_assert_ptr_eq(sg_room_first(room)->member, &s[2]);
	ck_assert_ptr_eq(sg_room_next(sg_room_first(room))->member, &s[1]);
	ck_assert_ptr_eq(sg_room_next(sg_room_next(sg_room_first(room)))->member, &s[0]);
	ck_assert_ptr_null(sg_room_next(sg_room_next(sg_room_next(sg_room_first(room)))));

	/* Leaving from the middle of the room's list keeps the list linked. */
	ck_assert_int_eq(sg_rooms_leave(&r, &s[1].set, &s[1], NAME("a")), 1);
	room = sg_rooms_get(&r, NAME("a"));
	ck_assert_uint_eq(room->members.count, 2);
	ck_assert_ptr_eq(sg_room_first(room)->member, &s[2]);
	ck_assert_ptr_eq(sg_room_next(sg_room_first(room))->member, &s[0]);
	ck_assert_ptr_eq(sg_room_next(sg_room_first(room))->in_room.prev, &sg_room_first(room)->in_room);
	ck_assert_ptr_null(s[1].set.members.head);

	/* leave_all touches only that socket's memberships. */
	sg_rooms_leave_all(&r, &s[0].set);
	ck_assert_uint_eq(s[0].set.members.count, 0);
	ck_assert_ptr_null(s[0].set.members.head);
	ck_assert_ptr_null(sg_rooms_get(&r, NAME("b")));
	ck_assert_uint_eq(sg_rooms_count(&r), 2);
	ck_assert_int_eq(sg_rooms_has(&r, &s[0], NAME("a")), 0);
	ck_assert_int_eq(sg_rooms_has(&r, &s[2], NAME("a")), 1);
	ck_assert_int_eq(sg_rooms_has(&r, &s[2], NAME("c")), 1);
	ck_assert_uint_eq(sg_rooms_get(&r, NAME("a"))->members.count, 1);
	ck_assert_uint_eq(s[2].set.members.count, 2);

	/* leave_all on a socket in no room is a no-op. */
	sg_rooms_leave_all(&r, &s[1].set);
	ck_assert_uint_eq(sg_rooms_count(&r), 2);

	sg_rooms_leave_all(&r, &s[2].set);
	ck_assert_uint_eq(sg_rooms_count(&r), 0);
	ck_assert_ptr_null(sg_rooms_get(&r, NAME("a")));
	sg_rooms_free(&r);
}
END_TEST

START_TEST(rooms_binary_names)
{
	/* Names are byte strings: "a\0b" and "a" are different rooms. */
	struct sg_rooms r;
	struct fake_socket a = {.id = 1};
	struct sg_room *room;

	sg_rooms_init(&r);
	ck_assert_int_eq(sg_rooms_join(&r, &a.set, &a, "a\0b", 3), 1);
	ck_assert_int_eq(sg_rooms_join(&r, &a.set, &a, "a", 1), 1);
	ck_assert_int_eq(sg_rooms_join(&r, &a.set, &a, "", 0), 1);
	ck_assert_uint_eq(sg_rooms_count(&r), 3);
	room = sg_rooms_get(&r, "a\0b", 3);
	ck_assert_ptr_nonnull(room);
	ck_assert_uint_eq(room->len, 3);
	ck_assert_mem_eq(room->name, "a\0b", 4); /* NUL-terminated copy */
	ck_assert_ptr_ne(sg_rooms_get(&r, "a", 1), room);
	ck_assert_int_eq(sg_rooms_leave(&r, &a.set, &a, "a", 1), 1);
	ck_assert_int_eq(sg_rooms_has(&r, &a, "a\0b", 3), 1);
	ck_assert_int_eq(sg_rooms_has(&r, &a, "", 0), 1);
	sg_rooms_free(&r); /* frees the rest (valgrind) */
}
END_TEST

START_TEST(rooms_name_copied)
{
	struct sg_rooms r;
	struct fake_socket a = {.id = 1};
	char name[16];

	sg_rooms_init(&r);
	strcpy(name, "temp");
	ck_assert_int_eq(sg_rooms_join(&r, &a.set, &a, name, 4), 1);
	strcpy(name, "XXXX"); /* the caller's buffer is not kept */
	ck_assert_ptr_nonnull(sg_rooms_get(&r, NAME("temp")));
	ck_assert_ptr_null(sg_rooms_get(&r, NAME("XXXX")));
	ck_assert_str_eq(sg_rooms_get(&r, NAME("temp"))->name, "temp");
	sg_rooms_free(&r);
}
END_TEST

START_TEST(rooms_free_with_members)
{
	/* Many rooms and memberships left behind: sg_rooms_free releases them all (valgrind). */
	struct sg_rooms r;
	struct fake_socket s[20];
	char name[16];

	sg_rooms_init(&r);
	for (int i = 0; i < 20; i++) {
		s[i].id = i;
		memset(&s[i].set, 0, sizeof(s[i].set));
		for (int j = 0; j < 50; j++) {
			snprintf(name, sizeof(name), "room-%d", (i * 7 + j) % 60);
			ck_assert_int_ge(sg_rooms_join(&r, &s[i].set, &s[i], NAME(name)), 0);
		}
	}
	ck_assert_uint_eq(sg_rooms_count(&r), 60);
	sg_rooms_free(&r);
}
END_TEST

/* ---- rooms: randomized model check ---------------------------------------------------- */

enum { MS = 10, MR = 14 }; /* sockets, room names */

static const char *const model_names[MR] = {
	"lobby", "room-1", "room-2", "a", "b", "", "user:42", "user:43", "long-room-name-for-hashing",
	"x", "y", "z", "room-10", "room-11",
};

/* The model check runs about 2 million comparisons: Check's ck_assert_* record every passing
 * one (a write to its log), which made this test take 10 s alone and 4 minutes under valgrind.
 * These check the same and only call into Check on a failure. */
#define MODEL_FAIL(expr) ck_abort_msg("model check failed at line %d: %s", __LINE__, expr)
#define MODEL_TRUE(x) do { if (!(x)) MODEL_FAIL(#x); } while (0)
#define MODEL_NULL(x) MODEL_TRUE((x) == NULL)
#define MODEL_EQ(a, b) MODEL_TRUE((a) == (b))
#define MODEL_LT(a, b) MODEL_TRUE((a) < (b))
#define MODEL_LE(a, b) MODEL_TRUE((a) <= (b))
#define MODEL_MSG(x, ...) do { if (!(x)) ck_abort_msg(__VA_ARGS__); } while (0)

static void check_rooms_model(const struct sg_rooms *r, struct fake_socket *socks, int model[MS][MR])
{
	size_t nonempty = 0;

	for (size_t ri = 0; ri < MR; ri++) {
		const char *name = model_names[ri];
		struct sg_room *room = sg_rooms_get(r, NAME(name));
		size_t want = 0, seen = 0;
		int seen_sock[MS] = {0};
		const struct sg_membership *m, *prev = NULL;

		for (size_t si = 0; si < MS; si++) {
			want += (size_t)model[si][ri];
			MODEL_EQ(sg_rooms_has(r, &socks[si], NAME(name)), model[si][ri]);
		}
		if (!want) {
			MODEL_MSG(room == NULL, "empty room '%s' still exists", name);
			continue;
		}
		nonempty++;
		MODEL_TRUE(room);
		MODEL_TRUE(!strcmp(room->name, name));
		MODEL_EQ(room->len, strlen(name));
		MODEL_EQ(room->members.count, want);
		for (m = sg_room_first(room); m; prev = m, m = sg_room_next(m)) {
			const struct fake_socket *fs = m->member;
			size_t si = (size_t)(fs - socks);

			MODEL_LT(si, MS);
			MODEL_EQ(m->room, room);
			MODEL_EQ(m->set, &socks[si].set);
			MODEL_EQ(sg_list_item(m->in_room.prev, const struct sg_membership, in_room), prev);
			MODEL_MSG(model[si][ri], "socket %zu listed in '%s' but not a member", si, name);
			MODEL_MSG(!seen_sock[si], "socket %zu listed twice in '%s'", si, name);
			seen_sock[si] = 1;
			MODEL_LE(++seen, want);
		}
		MODEL_EQ(seen, want);
	}
	MODEL_EQ(sg_rooms_count(r), nonempty);

	for (size_t si = 0; si < MS; si++) {
		const struct sg_room_set *set = &socks[si].set;
		const struct sg_membership *m, *prev = NULL;
		size_t want = 0, seen = 0;
		int seen_room[MR] = {0};

		for (size_t ri = 0; ri < MR; ri++)
			want += (size_t)model[si][ri];
		MODEL_EQ(set->members.count, want);
		#define SET_ITEM(n) sg_list_item(n, const struct sg_membership, in_set)
		for (m = SET_ITEM(set->members.head); m; prev = m, m = SET_ITEM(m->in_set.next)) {
			size_t ri;

			MODEL_EQ(m->member, &socks[si]);
			MODEL_EQ(m->set, set);
			MODEL_EQ(SET_ITEM(m->in_set.prev), prev);
			for (ri = 0; ri < MR; ri++)
				if (m->room->len == strlen(model_names[ri]) &&
				    !memcmp(m->room->name, model_names[ri], m->room->len))
					break;
			MODEL_LT(ri, MR);
			MODEL_MSG(model[si][ri], "set of socket %zu lists '%s'", si, model_names[ri]);
			MODEL_TRUE(!seen_room[ri]);
			seen_room[ri] = 1;
			MODEL_LE(++seen, want);
		}
#undef SET_ITEM
		MODEL_EQ(seen, want);
		if (!want)
			MODEL_NULL(set->members.head);
	}
}

START_TEST(rooms_model_random)
{
	struct sg_rooms r;
	struct fake_socket socks[MS];
	int model[MS][MR];

	rng_seed(1337);
	memset(model, 0, sizeof(model));
	for (int i = 0; i < MS; i++) {
		socks[i].id = i;
		memset(&socks[i].set, 0, sizeof(socks[i].set));
	}
	sg_rooms_init(&r);
	for (int op = 0; op < 6000; op++) {
		size_t si = rng_below(MS), ri = rng_below(MR), kind = rng_below(100);
		const char *name = model_names[ri];

		if (kind < 50) {
			ck_assert_int_eq(sg_rooms_join(&r, &socks[si].set, &socks[si], NAME(name)),
					 !model[si][ri]);
			model[si][ri] = 1;
		} else if (kind < 95) {
			ck_assert_int_eq(sg_rooms_leave(&r, &socks[si].set, &socks[si], NAME(name)),
					 model[si][ri]);
			model[si][ri] = 0;
		} else {
			sg_rooms_leave_all(&r, &socks[si].set);
			for (size_t k = 0; k < MR; k++)
				model[si][k] = 0;
		}
		check_rooms_model(&r, socks, model);
	}
	/* Whatever is left is freed by sg_rooms_free (valgrind checks). */
	sg_rooms_free(&r);
}
END_TEST

/* ---- main -------------------------------------------------------------------------- */

START_TEST(rooms_socket_id_shape)
{
	/* The names sio.c's ids take: 20 characters of the base64url alphabet, exactly. */
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghijABCDEFGHIJ")), 1);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("0123456789-_-_zzZZ09")), 1);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("internationalization")), 1); /* documented */
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghijABCDEFGHI")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghijABCDEFGHIJK")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghij:BCDEFGHIJ")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghij BCDEFGHIJ")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghij+BCDEFGHIJ")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghij/BCDEFGHIJ")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghij\xc3\xa9" "CDEFGHI")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id("abcdefghij\0BCDEFGHIJ", 20), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("")), 0);
	ck_assert_int_eq(SG_SOCKET_ID_LEN, 20);
	/* A v2 client's ids: its Engine.IO id (24 characters), or "<nsp>#" and that id. */
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghijABCDEFGHIJ0123")), 1);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("/chat#abcdefghijABCDEFGHIJ0123")), 1);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("/#abcdefghijABCDEFGHIJ0123")), 1);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("chat#abcdefghijABCDEFGHIJ0123")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("/chat#abcdefghijABCDEFGHIJ012")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("/chat:abcdefghijABCDEFGHIJ0123")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("/chat#abcdefghijABCDEFGHIJ012.")), 0);
	ck_assert_int_eq(sg_rooms_is_socket_id(NAME("abcdefghijABCDEFGHIJ012")), 0);
}
END_TEST

static Suite *rooms_suite(void)
{
	Suite *s = suite_create("rooms");
	TCase *tc;

	tc = tcase_create("hmap");
	tcase_set_timeout(tc, 120); /* the growth and model tests are slow under valgrind */
	tcase_add_test(tc, hash_basics);
	tcase_add_test(tc, siphash_vectors);
	tcase_add_test(tc, hmap_crafted_names_do_not_collide);
	tcase_add_test(tc, hmap_empty);
	tcase_add_test(tc, hmap_put_get_replace_del);
	tcase_add_test(tc, hmap_binary_keys);
	tcase_add_test(tc, hmap_backward_shift);
	tcase_add_test(tc, hmap_growth);
	tcase_add_test(tc, hmap_model_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("rooms");
	tcase_add_test(tc, rooms_join_leave);
	tcase_add_test(tc, rooms_several_sockets);
	tcase_add_test(tc, rooms_binary_names);
	tcase_add_test(tc, rooms_name_copied);
	tcase_add_test(tc, rooms_free_with_members);
	tcase_add_test(tc, rooms_socket_id_shape);
	suite_add_tcase(s, tc);

	tc = tcase_create("rooms_model");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, rooms_model_random);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rooms_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
