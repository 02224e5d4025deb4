/* util/list.h - the one intrusive doubly-linked list of the host and the plugins: a node
 * embedded in each item, O(1) insertion at either end and removal of any node, a count. */
#ifndef SG_UTIL_LIST_H
#define SG_UTIL_LIST_H

#include <stddef.h>

struct sg_list_node {
	struct sg_list_node *prev, *next;
};

struct sg_list {
	struct sg_list_node *head, *tail;
	size_t count;
};

/* The item of type `type` that embeds `node` as its member `member`; NULL for a NULL node,
 * so that a walk ends on the item after the last one. */
#define sg_list_item(node, type, member) ((type *)sg_list_item_at((node), offsetof(type, member)))

/* sg_list_item's arithmetic: the item whose node is `off` bytes in, or NULL. */
static inline void *sg_list_item_at(const struct sg_list_node *n, size_t off)
{
	return n ? (void *)((const char *)n - off) : NULL;
}

/* Links `n` (not in a list) first in `l`. */
void sg_list_push_front(struct sg_list *l, struct sg_list_node *n);
/* Links `n` (not in a list) last in `l`. */
void sg_list_push_back(struct sg_list *l, struct sg_list_node *n);
/* Unlinks `n` from `l`, the list it is in, and clears its links. */
/* Inserts `n` after `after` (at the front when `after` is NULL). */
void sg_list_insert_after(struct sg_list *l, struct sg_list_node *after, struct sg_list_node *n);
void sg_list_remove(struct sg_list *l, struct sg_list_node *n);
/* Unlinks and returns the first node of `l`: NULL when `l` is empty. */
struct sg_list_node *sg_list_pop_front(struct sg_list *l);

#endif
