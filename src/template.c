/* template.c - placeholder expansion shared by room policies and bridge mappings, and the
 * room templates' syntax check (config loading). */
#include "template.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sg_template_expand(const char *tpl, sg_template_lookup_fn lookup, void *ud, struct sg_strbuf *out)
{
	const char *p = tpl;

	while (*p) {
		const char *open = strchr(p, '{'), *close;

		if (!open) {
			sg_strbuf_append(out, p, strlen(p));
			break;
		}
		sg_strbuf_append(out, p, (size_t)(open - p));
		close = strchr(open + 1, '}');
		if (!close)
			return -1;
		if (lookup(ud, open + 1, (size_t)(close - open - 1), out))
			return -1;
		p = close + 1;
	}
	return out->oom ? -1 : 0;
}

int sg_json_scalar_append(struct sg_strbuf *out, const json_t *v)
{
	if (json_is_string(v)) {
		sg_strbuf_append(out, json_string_value(v), json_string_length(v));
		return 0;
	}
	if (json_is_number(v) || json_is_boolean(v))
		return sg_json_append(out, v);
	return -1;
}

int sg_template_field_append(struct sg_strbuf *out, const char *name, size_t len, char *key, size_t keysize,
			     const json_t *auth, const json_t *claims, const json_t *query)
{
	const json_t *src = NULL;

	if (len > 5 && !memcmp(name, "auth.", 5)) {
		src = auth;
		name += 5, len -= 5;
	} else if (len > 7 && !memcmp(name, "claims.", 7)) {
		src = claims;
		name += 7, len -= 7;
	} else if (len > 6 && !memcmp(name, "query.", 6)) {
		src = query;
		name += 6, len -= 6;
	}
	if (!src || len >= keysize)
		return -1;
	memcpy(key, name, len);
	key[len] = '\0';
	return sg_json_scalar_append(out, json_object_get(src, key));
}

static int is_key_char(int c) /* {auth.KEY} / {query.KEY} */
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static int why_set(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int sg_template_check(const char *tpl, char *why, size_t whylen)
{
	const char *p = tpl;

	if (!tpl || !*tpl)
		return why_set(why, whylen, "empty template");
	while (*p) {
		const char *end, *key = NULL;
		int len;

		if (*p == '}')
			return why_set(why, whylen, "unmatched '}'");
		if (*p != '{') {
			p++;
			continue;
		}
		end = strpbrk(p + 1, "{}");
		if (!end || *end == '{')
			return why_set(why, whylen, "unclosed '{'");
		len = (int)(end - p + 1);
		if (len == 5 && (strncmp(p, "{nsp}", 5) == 0 || strncmp(p, "{sid}", 5) == 0)) {
			p = end + 1;
			continue;
		}
		if (strncmp(p, "{auth.", 6) == 0)
			key = p + 6;
		else if (strncmp(p, "{query.", 7) == 0)
			key = p + 7;
		else if (strncmp(p, "{claims.", 8) == 0)
			key = p + 8;
		if (!key)
			return why_set(why, whylen, "unknown placeholder '%.*s'", len, p);
		if (key == end)
			return why_set(why, whylen, "empty key in placeholder '%.*s'", len, p);
		for (const char *c = key; c < end; c++)
			if (!is_key_char(*c))
				return why_set(why, whylen,
					       "invalid key in placeholder '%.*s' (allowed: A-Z a-z 0-9 _ -)",
					       len, p);
		p = end + 1;
	}
	return 0;
}
