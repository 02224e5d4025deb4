/* hmap.h - open-addressing hash map from byte-string keys to pointers (keys are borrowed),
 * hashed with a keyed function so that keys chosen by clients cannot be aimed at one bucket. */
#ifndef SG_HMAP_H
#define SG_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct sg_hmap_slot {
	uint64_t hash;       /* 0 = empty */
	const void *key;     /* borrowed: must live as long as the entry (usually inside val) */
	size_t klen;
	void *val;
};

struct sg_hmap {
	struct sg_hmap_slot *slots;
	size_t cap;          /* power of two, or 0 */
	size_t count;
};

void sg_hmap_init(struct sg_hmap *m);
void sg_hmap_free(struct sg_hmap *m); /* frees the table, not the values */
void *sg_hmap_get(const struct sg_hmap *m, const void *key, size_t klen);
/* Inserts or replaces. Returns 0 or -1 (out of memory; the map is unchanged). */
int sg_hmap_put(struct sg_hmap *m, const void *key, size_t klen, void *val);
/* Removes and returns the value, or NULL when absent. */
void *sg_hmap_del(struct sg_hmap *m, const void *key, size_t klen);

/* Iteration: for (i = 0; i < m->cap; i++) if (m->slots[i].hash) ... (no changes meanwhile). */

/* The hash every map uses: SipHash-1-3 under a random per-process key (never 0). */
uint64_t sg_hash_bytes(const void *p, size_t n);
/* SipHash-c-d of p under the 128-bit key (k0, k1) (little-endian halves): the function
 * above with its round counts open, so tests can check it against the published
 * SipHash-2-4 vectors. */
uint64_t sg_siphash(unsigned c, unsigned d, uint64_t k0, uint64_t k1, const void *p, size_t n);

#endif
