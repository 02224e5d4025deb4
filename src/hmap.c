/* hmap.c - linear probing with backward-shift deletion over a keyed hash: O(1) average, no
 * tombstones, and no bucket a client can aim at. */
#include "hmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

/* SipHash-1-3 (Aumasson and Bernstein) under a key drawn from getrandom once per process.
 * Keys come from clients (room names, namespaces, session ids): with an unkeyed function a
 * client could pick names that all land in one bucket and turn every lookup into a scan.
 * Without the key, the bucket of a name cannot be predicted. Never returns 0 (0 marks an
 * empty slot). */
static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_seed(void)
{
	unsigned char k[16];
	size_t got = 0;

	while (got < sizeof(k)) {
		ssize_t n = getrandom(k + got, sizeof(k) - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	if (got < sizeof(k)) {
		/* No kernel randomness (getrandom is Linux 3.17+): a weaker per-process key is
		 * still better than none. */
		struct timespec ts;
		uint64_t x;
		clock_gettime(CLOCK_REALTIME, &ts);
		x = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
		    (uint64_t)(uintptr_t)&got;
		memcpy(k, &x, sizeof(x));
		x = x * 0x9e3779b97f4a7c15ULL + 1;
		memcpy(k + 8, &x, sizeof(x));
	}
	memcpy(&sip_k0, k, 8);
	memcpy(&sip_k1, k + 8, 8);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3)                                                 \
	do {                                                                     \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);        \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                           \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                           \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);        \
	} while (0)

static uint64_t load_le64(const unsigned char *b)
{
	return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
	       (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 | (uint64_t)b[7] << 56;
}

/* c compression rounds per word, d finalization rounds: inlined with constants. */
static inline uint64_t siphash(unsigned c, unsigned d, uint64_t k0, uint64_t k1, const void *p, size_t n)
{
	const unsigned char *b = p, *end = b + (n & ~(size_t)7);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m, last = (uint64_t)n << 56;

	for (; b != end; b += 8) {
		m = load_le64(b);
		v3 ^= m;
		for (unsigned r = 0; r < c; r++)
			SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t i = 0; i < (n & 7); i++)
		last |= (uint64_t)b[i] << (8 * i);
	v3 ^= last;
	for (unsigned r = 0; r < c; r++)
		SIPROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	for (unsigned r = 0; r < d; r++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t sg_siphash(unsigned c, unsigned d, uint64_t k0, uint64_t k1, const void *p, size_t n)
{
	return siphash(c, d, k0, k1, p, n);
}

uint64_t sg_hash_bytes(const void *p, size_t n)
{
	uint64_t h;

	pthread_once(&sip_once, sip_seed);
	h = siphash(1, 3, sip_k0, sip_k1, p, n);
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
