/* lastval.c - the retained_on_join last-value cache: a hash table keyed by room name. */
#include "lastval.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"

struct mq_lv {
	struct mq_lv_item **b;
	size_t nb, n;
};

/* Room names reach this table from topics that client relays can name: the keyed hash of
 * the host's maps, so that no one can aim names at one chain. */
static size_t hash(const char *s)
{
	return (size_t)sg_hash_bytes(s, strlen(s));
}

struct mq_lv *mq_lv_new(void)
{
	struct mq_lv *lv = calloc(1, sizeof(*lv));

	if (lv && !(lv->b = calloc(lv->nb = 64, sizeof(*lv->b)))) {
		free(lv);
		return NULL;
	}
	return lv;
}

static void item_free(struct mq_lv_item *it)
{
	sgm_headers_free(it->h, it->n_h);
	free(it->topic);
	free(it->room);
	free(it->value);
	free(it);
}

void mq_lv_free(struct mq_lv *lv)
{
	if (!lv)
		return;
	for (size_t i = 0; i < lv->nb; i++)
		while (lv->b[i]) {
			struct mq_lv_item *it = lv->b[i];
			lv->b[i] = it->next;
			item_free(it);
		}
	free(lv->b);
	free(lv);
}

size_t mq_lv_count(const struct mq_lv *lv)
{
	return lv ? lv->n : 0;
}

static void grow(struct mq_lv *lv)
{
	size_t nb = lv->nb * 2;
	struct mq_lv_item **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < lv->nb; i++)
		while (lv->b[i]) {
			struct mq_lv_item *it = lv->b[i];
			size_t k = hash(it->room) & (nb - 1);
			lv->b[i] = it->next;
			it->next = b[k];
			b[k] = it;
		}
	free(lv->b);
	lv->b = b;
	lv->nb = nb;
}

static struct mq_lv_item *item_new(int binding, int entry, const char *topic, const char *room,
				   const struct sgm_header *h, size_t n_h, const void *value, size_t len)
{
	struct mq_lv_item *it = calloc(1, sizeof(*it));

	if (!it)
		return NULL;
	it->binding = binding;
	it->entry = entry;
	it->topic = strdup(topic);
	it->room = strdup(room);
	it->value = malloc(len + 1);
	it->h = calloc(n_h + 1, sizeof(*it->h));
	if (!it->topic || !it->room || !it->value || !it->h)
		goto fail;
	memcpy(it->value, value, len);
	it->value[len] = '\0';
	it->value_len = len;
	for (size_t i = 0; i < n_h; i++) {
		char *v = malloc(h[i].len + 1);
		char *name = strdup(h[i].name);

		if (!v || !name) {
			free(v);
			free(name);
			goto fail;
		}
		memcpy(v, h[i].value, h[i].len);
		v[h[i].len] = '\0';
		it->h[i].name = name;
		it->h[i].value = v;
		it->h[i].len = h[i].len;
		it->n_h++;
	}
	return it;
fail:
	item_free(it);
	return NULL;
}

int mq_lv_set(struct mq_lv *lv, int binding, int entry, const char *topic, const char *room,
	      const struct sgm_header *h, size_t n_h, const void *value, size_t len)
{
	size_t k = hash(room) & (lv->nb - 1);
	struct mq_lv_item **pp = &lv->b[k], *it;

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->binding == binding && (*pp)->entry == entry && !strcmp((*pp)->topic, topic))
			break;
	if (*pp) {
		it = *pp;
		*pp = it->next;
		item_free(it);
		lv->n--;
	}
	if (!len)
		return 0;
	if (lv->n >= MQ_LV_MAX)
		return -1;
	it = item_new(binding, entry, topic, room, h, n_h, value, len);
	if (!it)
		return -1;
	it->next = lv->b[k];
	lv->b[k] = it;
	if (++lv->n > lv->nb * 2)
		grow(lv);
	return 0;
}

void mq_lv_foreach(struct mq_lv *lv, int binding, const char *room,
		   void (*fn)(void *ud, const struct mq_lv_item *it), void *ud)
{
	for (struct mq_lv_item *it = lv->b[hash(room) & (lv->nb - 1)]; it; it = it->next)
		if (it->binding == binding && !strcmp(it->room, room))
			fn(ud, it);
}
