/* util/list.c - intrusive doubly-linked lists: the items own no memory of the list's. */
#include "util/list.h"

/* Points `prev` (the head when NULL) forwards at `fwd` and `next` (the tail when NULL) back
 * at `back`: the relinking that insertion and removal share. */
static void relink(struct sg_list *l, struct sg_list_node *prev, struct sg_list_node *next,
		   struct sg_list_node *fwd, struct sg_list_node *back)
{
	if (prev)
		prev->next = fwd;
	else
		l->head = fwd;
	if (next)
		next->prev = back;
	else
		l->tail = back;
}

/* Links `n` between the neighbours `prev` and `next` of `l`. */
static void insert(struct sg_list *l, struct sg_list_node *n, struct sg_list_node *prev,
		   struct sg_list_node *next)
{
	n->prev = prev;
	n->next = next;
	relink(l, prev, next, n, n);
	l->count++;
}

void sg_list_push_front(struct sg_list *l, struct sg_list_node *n)
{
	insert(l, n, NULL, l->head);
}

void sg_list_push_back(struct sg_list *l, struct sg_list_node *n)
{
	insert(l, n, l->tail, NULL);
}

void sg_list_insert_after(struct sg_list *l, struct sg_list_node *after, struct sg_list_node *n)
{
	insert(l, n, after, after ? after->next : l->head);
}

void sg_list_remove(struct sg_list *l, struct sg_list_node *n)
{
	relink(l, n->prev, n->next, n->next, n->prev);
	n->prev = n->next = NULL;
	l->count--;
}

struct sg_list_node *sg_list_pop_front(struct sg_list *l)
{
	struct sg_list_node *n = l->head;

	if (n)
		sg_list_remove(l, n);
	return n;
}
