/* hmap.c - linear probing with backward-shift deletion: O(1) average, no tombstones. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, 64-bit; never returns 0 because 0 marks an empty slot. */
uint64_t sg_hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return h ? h : 1;
}

void sg_hmap_init(struct sg_hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void sg_hmap_free(struct sg_hmap *m)
{
	free(m->slots);
	sg_hmap_init(m);
}

static size_t find(const struct sg_hmap *m, uint64_t h, const void *key, size_t klen, int *found)
{
	size_t mask = m->cap - 1, i = (size_t)h & mask;

	for (;;) {
		const struct sg_hmap_slot *s = &m->slots[i];
		if (!s->hash) {
			*found = 0;
			return i;
		}
		if (s->hash == h && s->klen == klen && !memcmp(s->key, key, klen)) {
			*found = 1;
			return i;
		}
		i = (i + 1) & mask;
	}
}

static int resize(struct sg_hmap *m, size_t ncap)
{
	struct sg_hmap_slot *old = m->slots;
	size_t ocap = m->cap, i;

	m->slots = calloc(ncap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -1;
	}
	m->cap = ncap;
	for (i = 0; i < ocap; i++) {
		int found;
		if (old[i].hash)
			m->slots[find(m, old[i].hash, old[i].key, old[i].klen, &found)] = old[i];
	}
	free(old);
	return 0;
}

void *sg_hmap_get(const struct sg_hmap *m, const void *key, size_t klen)
{
	int found;
	size_t i;

	if (!m->count)
		return NULL;
	i = find(m, sg_hash_bytes(key, klen), key, klen, &found);
	return found ? m->slots[i].val : NULL;
}

int sg_hmap_put(struct sg_hmap *m, const void *key, size_t klen, void *val)
{
	uint64_t h = sg_hash_bytes(key, klen);
	int found;
	size_t i;

	/* Keep the load factor under 3/4. */
	if ((m->count + 1) * 4 > m->cap * 3 && resize(m, m->cap ? m->cap * 2 : 16))
		return -1;
	i = find(m, h, key, klen, &found);
	if (!found)
		m->count++;
	m->slots[i].hash = h;
	m->slots[i].key = key;
	m->slots[i].klen = klen;
	m->slots[i].val = val;
	return 0;
}

void *sg_hmap_del(struct sg_hmap *m, const void *key, size_t klen)
{
	size_t mask, i, j;
	void *val;
	int found;

	if (!m->count)
		return NULL;
	mask = m->cap - 1;
	i = find(m, sg_hash_bytes(key, klen), key, klen, &found);
	if (!found)
		return NULL;
	val = m->slots[i].val;
	m->count--;
	/* Shift back later entries of the same probe run so lookups never meet a hole. */
	j = i;
	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (!m->slots[j].hash)
			break;
		home = (size_t)m->slots[j].hash & mask;
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	memset(&m->slots[i], 0, sizeof(m->slots[i]));
	if (m->count == 0) {
		/* An empty map gives its memory back (rooms come and go). */
		sg_hmap_free(m);
	}
	return val;
}
