/* lastval.h - the last-value cache behind retained_on_join: the retained message of every
 * topic a to_clients mapping with {room} consumes, found by (binding, room) when a socket
 * joins a room. Loop thread only; pure (no host calls). */
#ifndef MQ_LASTVAL_H
#define MQ_LASTVAL_H

#include <stddef.h>

#include "mapping.h"

#define MQ_LV_MAX 100000   /* topics kept at most (a bound on memory, not a tuning knob) */

struct mq_lv;

/* One cached message. Everything is owned by the cache. */
struct mq_lv_item {
	int binding, entry;           /* which binding and to_clients mapping it is for */
	char *topic, *room;
	struct sgm_header *h;         /* the headers the mapping reads (names and values owned) */
	size_t n_h;
	char *value;
	size_t value_len;
	struct mq_lv_item *next;
};

struct mq_lv *mq_lv_new(void);
void mq_lv_free(struct mq_lv *lv);   /* NULL: no-op */
/* Makes this message the last value of (binding, entry, topic), replacing the previous one;
 * an empty value removes it (MQTT's way to clear a retained message). Copies everything.
 * Returns 0, or -1 when out of memory or the cache holds MQ_LV_MAX topics. */
int mq_lv_set(struct mq_lv *lv, int binding, int entry, const char *topic, const char *room,
	      const struct sgm_header *h, size_t n_h, const void *value, size_t len);
size_t mq_lv_count(const struct mq_lv *lv);
/* Calls fn for each cached message of `binding` whose room is `room`. fn must not change
 * the cache. */
void mq_lv_foreach(struct mq_lv *lv, int binding, const char *room,
		   void (*fn)(void *ud, const struct mq_lv_item *it), void *ud);

#endif
