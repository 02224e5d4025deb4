/* template.h - expands room and topic templates such as "user:{auth.sub}". */
#ifndef SG_TEMPLATE_H
#define SG_TEMPLATE_H

#include <jansson.h>

#include "strbuf.h"

/* Resolves a placeholder name ("nsp", "auth.sub", ...) to a value appended to `out`.
 * Returns 0, or -1 when the value is missing (the whole expansion then fails). */
typedef int (*sg_template_lookup_fn)(void *ud, const char *name, size_t len, struct sg_strbuf *out);

/* Expands `tpl` into `out`. Returns 0, or -1 (a placeholder is missing or `tpl` is bad). */
int sg_template_expand(const char *tpl, sg_template_lookup_fn lookup, void *ud, struct sg_strbuf *out);

/* Appends a JSON scalar as text: strings as they are, numbers as JavaScript prints them,
 * booleans as true/false. Returns -1 for null, objects and arrays. */
int sg_json_scalar_append(struct sg_strbuf *out, const json_t *v);

/* The {auth.KEY}, {claims.KEY} and {query.KEY} placeholders, for every lookup function:
 * appends the KEY member of the object the prefix names (each may be NULL) as a scalar,
 * copying KEY through the caller's `key` buffer of `keysize` bytes. Returns -1 when `name`
 * has none of these prefixes, KEY does not fit or the member is missing or not a scalar. */
int sg_template_field_append(struct sg_strbuf *out, const char *name, size_t len, char *key, size_t keysize,
			     const json_t *auth, const json_t *claims, const json_t *query);

/* Checks the placeholder syntax of a room template: every `{...}` must be {nsp}, {sid},
 * {auth.KEY} or {query.KEY} with KEY in [A-Za-z0-9_-]+; braces must pair up and the
 * template must not be empty. Returns 0, or -1 with the reason in `why` (borrowed buffer
 * of `whylen` bytes, may be NULL). */
int sg_template_check(const char *tpl, char *why, size_t whylen);

#endif
