/* config_core.c - the part of config loading every section shares: errors named by JSON
 * path, ${VAR} expansion, typed getters, and the key tables sections describe themselves
 * with (see config_core.h). */
#include "config_core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template.h"
#include "util/suggest.h"

/* ---- small helpers ---------------------------------------------------------------- */

/* Writes "<path>: <reason>" into the error buffer; always returns -1 so callers can
 * `return sg_cfg_fail(...)`. The empty path is the document itself. */
int sg_cfg_fail(struct sg_cfg_ld *ld, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(ld->err, SG_CONFIG_ERR_MAX, "%s: ", path[0] ? path : "(root)");
	if (n < 0 || n >= SG_CONFIG_ERR_MAX)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, SG_CONFIG_ERR_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

int sg_cfg_oom(struct sg_cfg_ld *ld, const char *path)
{
	return sg_cfg_fail(ld, path, "out of memory");
}

/* Marks a cut path with "..." so a truncated error does not look like a real path. */
static void path_fit(char out[SG_CFG_PATH_LEN], int n)
{
	if (n >= SG_CFG_PATH_LEN)
		memcpy(out + SG_CFG_PATH_LEN - 4, "...", 4);
}

void sg_cfg_path_key(char out[SG_CFG_PATH_LEN], const char *path, const char *key)
{
	path_fit(out, snprintf(out, SG_CFG_PATH_LEN, "%s%s%s", path, path[0] ? "." : "", key));
}

void sg_cfg_path_idx(char out[SG_CFG_PATH_LEN], const char *path, size_t i)
{
	path_fit(out, snprintf(out, SG_CFG_PATH_LEN, "%s[%zu]", path, i));
}

/* ASCII classes, spelled out so the current locale cannot change what a config means. */
int sg_cfg_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

int sg_cfg_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_name_char(int c) /* environment variable names */
{
	return sg_cfg_is_alpha(c) || sg_cfg_is_digit(c) || c == '_';
}

int sg_cfg_is_tchar(int c) /* RFC 9110 token: what an HTTP header name is made of */
{
	return sg_cfg_is_alpha(c) || sg_cfg_is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int sg_cfg_in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

void sg_cfg_free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void sg_cfg_free_re(regex_t *re)
{
	if (re) {
		regfree(re);
		free(re);
	}
}

/* Growable string for the ${VAR} expander. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Unknown keys are errors: a typo must not silently fall back to a default. */
int sg_cfg_check_keys(struct sg_cfg_ld *ld, json_t *obj, const char *path,
		      const char *const *known)
{
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it), *hint;

		if (sg_cfg_in_list(key, known))
			continue;
		hint = sg_suggest(key, known, NULL);
		if (hint)
			return sg_cfg_fail(ld, path, "unknown key '%s' (did you mean '%s'?)", key, hint);
		return sg_cfg_fail(ld, path, "unknown key '%s'", key);
	}
	return 0;
}

/* ---- ${VAR} expansion -------------------------------------------------------------- */

/* Expands ${VAR}, ${VAR:-default} (default when VAR is unset or empty, as in sh) and the
 * escape $${ (a literal "${") in `in`. Sets *out to a new string. */
int sg_cfg_expand(struct sg_cfg_ld *ld, const char *path, const char *in, char **out)
{
	struct sbuf b = { NULL, 0, 0 };
	const char *p = in;
	char *name = NULL;

	if (sbuf_add(&b, "", 0) < 0)
		goto nomem;
	while (*p) {
		const char *start, *end, *def = NULL, *val;
		size_t nlen;

		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			if (sbuf_add(&b, "${", 2) < 0)
				goto nomem;
			p += 3;
			continue;
		}
		if (p[0] != '$' || p[1] != '{') {
			/* Copy the run up to the next '$' in one go. */
			const char *q = strchr(p + 1, '$');
			size_t n = q ? (size_t)(q - p) : strlen(p);

			if (sbuf_add(&b, p, n) < 0)
				goto nomem;
			p += n;
			continue;
		}
		start = p + 2;
		end = strchr(start, '}');
		if (!end) {
			sg_cfg_fail(ld, path, "unterminated '${'");
			goto sg_cfg_fail;
		}
		for (nlen = 0; is_name_char(start[nlen]); nlen++)
			;
		if (start[nlen] == ':' && start[nlen + 1] == '-')
			def = start + nlen + 2;
		else if (start + nlen != end)
			nlen = 0; /* junk after the name: reported below */
		if (nlen == 0 || sg_cfg_is_digit(start[0])) {
			sg_cfg_fail(ld, path, "invalid environment variable name in '${%.*s}'",
			     (int)(end - start), start);
			goto sg_cfg_fail;
		}
		name = strndup(start, nlen);
		if (!name)
			goto nomem;
		val = ld->getenv_fn(name, ld->ud);
		if (def && (!val || !*val)) {
			if (sbuf_add(&b, def, (size_t)(end - def)) < 0)
				goto nomem;
		} else if (!val) {
			sg_cfg_fail(ld, path, "environment variable '%s' is not set", name);
			goto sg_cfg_fail;
		} else if (sbuf_add(&b, val, strlen(val)) < 0) {
			goto nomem;
		}
		free(name);
		name = NULL;
		p = end + 1;
	}
	*out = b.p;
	return 0;
nomem:
	sg_cfg_oom(ld, path);
sg_cfg_fail:
	free(name);
	free(b.p);
	return -1;
}

/* Expands every string inside a subtree we keep as JSON (bridge and broker settings),
 * in place, so the plugin sees final values. */
int sg_cfg_expand_tree(struct sg_cfg_ld *ld, json_t *v, const char *path)
{
	char p[SG_CFG_PATH_LEN];

	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *x;
		int rc;

		if (!strchr(s, '$'))
			return 0;
		if (sg_cfg_expand(ld, path, s, &x) < 0)
			return -1;
		rc = json_string_set(v, x);
		free(x);
		/* The only way json_string_set fails on memory we just allocated is an
		 * environment value that is not UTF-8. */
		return rc == 0 ? 0 : sg_cfg_fail(ld, path, "value is not valid UTF-8 after expansion");
	}
	if (json_is_object(v)) {
		for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
			sg_cfg_path_key(p, path, json_object_iter_key(it));
			if (sg_cfg_expand_tree(ld, json_object_iter_value(it), p) < 0)
				return -1;
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			sg_cfg_path_idx(p, path, i);
			if (sg_cfg_expand_tree(ld, json_array_get(v, i), p) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- typed getters: an absent key leaves the default in *out ----------------------- */

/* A string member, expanded; `nonempty` rejects "" (after expansion). */
int sg_cfg_str(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		   int nonempty, char **out)
{
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN], *s;

	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	if (!json_is_string(v))
		return sg_cfg_fail(ld, p, "expected a string");
	if (sg_cfg_expand(ld, p, json_string_value(v), &s) < 0)
		return -1;
	if (nonempty && !*s) {
		free(s);
		return sg_cfg_fail(ld, p, "expected a non-empty string");
	}
	free(*out);
	*out = s;
	return 0;
}

/* Decimal digits only: no sign, no spaces, no hex, so "0x10" or " 5" stay errors. */
int sg_cfg_parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!sg_cfg_is_digit(*s) || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* An integer member in [min, max]. A string is accepted too (after expansion, decimal
 * digits only) so that "${PING_MS:-25000}" can drive a number. */
int sg_cfg_uint(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN];
	uint64_t u = 0;
	int ok = 0;

	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		ok = i >= 0;
		u = (uint64_t)i;
	} else if (json_is_string(v)) {
		char *s;

		if (sg_cfg_expand(ld, p, json_string_value(v), &s) < 0)
			return -1;
		ok = sg_cfg_parse_digits(s, &u) == 0;
		free(s);
	}
	if (!ok || u < min || u > max)
		return sg_cfg_fail(ld, p, "expected an integer from %" PRIu64 " to %" PRIu64, min, max);
	*out = u;
	return 0;
}

/* A boolean member; the strings "true" and "false" count, for the same reason as above. */
int sg_cfg_bool(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		    int *out)
{
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN];
	int b = -1;

	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	if (json_is_boolean(v)) {
		b = json_is_true(v);
	} else if (json_is_string(v)) {
		char *s;

		if (sg_cfg_expand(ld, p, json_string_value(v), &s) < 0)
			return -1;
		b = strcmp(s, "true") == 0 ? 1 : strcmp(s, "false") == 0 ? 0 : -1;
		free(s);
	}
	if (b < 0)
		return sg_cfg_fail(ld, p, "expected a boolean");
	*out = b;
	return 0;
}

/* An object member, borrowed; NULL (and 0) when absent. */
int sg_cfg_obj(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		   json_t **out)
{
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN];

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v)) {
		sg_cfg_path_key(p, path, key);
		return sg_cfg_fail(ld, p, "expected an object");
	}
	*out = v;
	return 0;
}

/* An array-of-strings member, each expanded and passed to `check` (may be NULL). */
int sg_cfg_strv(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		    int nonempty, sg_cfg_check_fn check, char ***out, size_t *n_out)
{
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN], ep[SG_CFG_PATH_LEN], **arr = NULL;
	size_t n, i = 0;

	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	if (!json_is_array(v))
		return sg_cfg_fail(ld, p, "expected an array of strings");
	n = json_array_size(v);
	if (nonempty && n == 0)
		return sg_cfg_fail(ld, p, "expected a non-empty array of strings");
	if (n > 0 && !(arr = calloc(n, sizeof *arr)))
		return sg_cfg_oom(ld, p);
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);

		sg_cfg_path_idx(ep, p, i);
		if (!json_is_string(e)) {
			sg_cfg_fail(ld, ep, "expected a string");
			goto sg_cfg_fail;
		}
		if (sg_cfg_expand(ld, ep, json_string_value(e), &arr[i]) < 0)
			goto sg_cfg_fail;
		if (check && check(ld, ep, arr[i]) < 0)
			goto sg_cfg_fail;
	}
	sg_cfg_free_strv(*out, *n_out);
	*out = arr;
	*n_out = n;
	return 0;
sg_cfg_fail:
	sg_cfg_free_strv(arr, n); /* calloc'd: the slots not reached yet are NULL */
	return -1;
}

/* A string member that must be one of `names`; stores the index. */
int sg_cfg_enum(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		    const char *what, const char *const *names, int *out)
{
	char *s = NULL, p[SG_CFG_PATH_LEN], known[128] = "";
	int rc = 0;

	if (sg_cfg_str(ld, obj, path, key, 0, &s) < 0)
		return -1;
	if (!s)
		return 0;
	for (int i = 0; names[i]; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			goto done;
		}
		snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
			 i ? ", " : "", names[i]);
	}
	sg_cfg_path_key(p, path, key);
	rc = sg_cfg_fail(ld, p, "unknown %s '%s' (known: %s)", what, s, known);
done:
	free(s);
	return rc;
}

#define SG_REGEX_MAX_LEN 512

int sg_cfg_regex(struct sg_cfg_ld *ld, const char *path, const char *src, regex_t **out)
{
	regex_t *re = malloc(sizeof *re);
	char msg[200];
	int rc;

	if (!re)
		return sg_cfg_oom(ld, path);
	/* glibc's regcomp copies the pattern tree for every stacked quantifier ("a++++..."),
	 * which can take minutes: refuse what no sensible namespace or room pattern needs. */
	if (strlen(src) > SG_REGEX_MAX_LEN) {
		free(re);
		return sg_cfg_fail(ld, path, "invalid regular expression: longer than %d characters", SG_REGEX_MAX_LEN);
	}
	for (const char *c = src; *c; c++) {
		if (*c == '\\' && c[1]) {
			c++;
			continue;
		}
		if (*c == '[') { /* a bracket expression: its characters are literal ("[*+]") */
			const char *e = c + 1;
			if (*e == '^')
				e++;
			if (*e == ']')
				e++;
			while (*e && *e != ']')
				e++;
			if (!*e)
				break; /* unterminated: regcomp reports it */
			c = e;
			continue;
		}
		if (strchr("*+?}", *c) && c[1] && strchr("*+?{", c[1])) {
			free(re);
			return sg_cfg_fail(ld, path, "invalid regular expression: stacked repetition operators ('%c%c')",
				    *c, c[1]);
		}
	}
	/* No REG_NOSUB: sg_regex_full_match needs the match offsets. */
	rc = regcomp(re, src, REG_EXTENDED);
	if (rc != 0) {
		regerror(rc, re, msg, sizeof msg);
		free(re);
		return sg_cfg_fail(ld, path, "invalid regular expression: %s", msg);
	}
	*out = re;
	return 0;
}

int sg_cfg_regex_key(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		     char **src, regex_t **re)
{
	char p[SG_CFG_PATH_LEN];

	if (sg_cfg_str(ld, obj, path, key, 1, src) < 0)
		return -1;
	if (!*src)
		return 0;
	sg_cfg_path_key(p, path, key);
	return sg_cfg_regex(ld, p, *src, re);
}

/* ---- element checks ---------------------------------------------------------------- */

/* CORS and the origin middleware compare the Origin header exactly, and browsers send
 * scheme://host[:port] with no path, so a trailing '/' or a path would never match. */
int sg_cfg_check_origin(struct sg_cfg_ld *ld, const char *path, const char *s)
{
	const char *sep = strstr(s, "://");
	int ok = sep && sep > s && sep[3] && !strpbrk(sep + 3, "/?#* \t");

	for (const char *c = s; ok && c < sep; c++)
		ok = sg_cfg_is_alpha(*c) || (c > s && (sg_cfg_is_digit(*c) || strchr("+-.", *c)));
	if (strcmp(s, "*") == 0 || ok)
		return 0;
	return sg_cfg_fail(ld, path, "expected \"*\" or an origin like \"https://example.com\" "
		    "(scheme://host[:port], no path)");
}

int sg_cfg_check_template(struct sg_cfg_ld *ld, const char *path, const char *s)
{
	char why[160];

	if (sg_template_check(s, why, sizeof why) < 0)
		return sg_cfg_fail(ld, path, "%s", why);
	return 0;
}

/* ---- the key table ------------------------------------------------------------------ */

#define FIELD(base, k, type) ((type *)(void *)((char *)(base) + (k)->off))
#define CFIELD(base, k, type) ((const type *)(const void *)((const char *)(base) + (k)->off))

int sg_cfg_defaults(const struct sg_cfg_key *keys, void *base)
{
	for (const struct sg_cfg_key *k = keys; k->name; k++) {
		switch (k->type) {
		case SG_CFG_BOOL:
		case SG_CFG_ENUM:
			*FIELD(base, k, int) = (int)k->def;
			break;
		case SG_CFG_U32:
			*FIELD(base, k, uint32_t) = (uint32_t)k->def;
			break;
		case SG_CFG_SIZE:
			*FIELD(base, k, size_t) = (size_t)k->def;
			break;
		case SG_CFG_STR:
			if (k->def_str && !(*FIELD(base, k, char *) = strdup(k->def_str)))
				return -1;
			break;
		case SG_CFG_SECTION:
			if (sg_cfg_defaults(k->sub, (char *)base + k->off) < 0)
				return -1;
			break;
		case SG_CFG_STRV:
		case SG_CFG_CUSTOM:
			break;
		}
	}
	return 0;
}

static int read_key(struct sg_cfg_ld *ld, json_t *obj, const char *path,
		    const struct sg_cfg_key *k, void *base)
{
	int nonempty = (k->flags & SG_CFG_NONEMPTY) != 0;
	char p[SG_CFG_PATH_LEN];
	uint64_t u;

	switch (k->type) {
	case SG_CFG_BOOL:
		return sg_cfg_bool(ld, obj, path, k->name, FIELD(base, k, int));
	case SG_CFG_ENUM:
		return sg_cfg_enum(ld, obj, path, k->name, k->what, k->names, FIELD(base, k, int));
	case SG_CFG_U32:
	case SG_CFG_SIZE:
		u = k->type == SG_CFG_U32 ? *FIELD(base, k, uint32_t) : *FIELD(base, k, size_t);
		if (sg_cfg_uint(ld, obj, path, k->name, k->min, k->max, &u) < 0)
			return -1;
		if (k->type == SG_CFG_U32)
			*FIELD(base, k, uint32_t) = (uint32_t)u;
		else
			*FIELD(base, k, size_t) = (size_t)u;
		return 0;
	case SG_CFG_STR:
		if (sg_cfg_str(ld, obj, path, k->name, nonempty, FIELD(base, k, char *)) < 0)
			return -1;
		if (!k->check || !json_object_get(obj, k->name))
			return 0;
		sg_cfg_path_key(p, path, k->name);
		return k->check(ld, p, *FIELD(base, k, char *));
	case SG_CFG_STRV:
		return sg_cfg_strv(ld, obj, path, k->name, nonempty, k->check, FIELD(base, k, char **),
				   (size_t *)(void *)((char *)base + k->off_n));
	case SG_CFG_SECTION:
		return sg_cfg_section(ld, obj, path, k->name, k->sub, (char *)base + k->off);
	case SG_CFG_CUSTOM:
		return k->parse(ld, obj, path, k->name, base);
	}
	return 0;
}

static int load_key(struct sg_cfg_ld *ld, json_t *obj, const char *path,
		    const struct sg_cfg_key *k, void *base)
{
	char p[SG_CFG_PATH_LEN];

	if (read_key(ld, obj, path, k, base) < 0)
		return -1;
	if (!k->after)
		return 0;
	sg_cfg_path_key(p, path, k->name);
	return k->after(ld, p, base);
}

int sg_cfg_load(struct sg_cfg_ld *ld, json_t *obj, const char *path,
		const struct sg_cfg_key *keys, void *base)
{
	const char *names[64];
	size_t n = 0;

	for (const struct sg_cfg_key *k = keys; k->name; k++) {
		if (n + 1 == sizeof names / sizeof names[0])
			return sg_cfg_fail(ld, path, "internal error: key table too long");
		names[n++] = k->name;
	}
	names[n] = NULL;
	if (sg_cfg_check_keys(ld, obj, path, names) < 0)
		return -1;
	for (const struct sg_cfg_key *k = keys; k->name; k++)
		if ((k->flags & SG_CFG_REQUIRED) && !json_object_get(obj, k->name))
			return sg_cfg_fail(ld, path, "missing required key '%s'", k->name);
	for (const struct sg_cfg_key *k = keys; k->name; k++)
		if (load_key(ld, obj, path, k, base) < 0)
			return -1;
	return 0;
}

int sg_cfg_section(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		   const struct sg_cfg_key *keys, void *base)
{
	char p[SG_CFG_PATH_LEN];
	json_t *v;

	if (sg_cfg_obj(ld, obj, path, key, &v) < 0)
		return -1;
	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	return sg_cfg_load(ld, v, p, keys, base);
}

void sg_cfg_free(const struct sg_cfg_key *keys, void *base)
{
	for (const struct sg_cfg_key *k = keys; k->name; k++) {
		if (k->type == SG_CFG_STR) {
			free(*FIELD(base, k, char *));
			*FIELD(base, k, char *) = NULL;
		} else if (k->type == SG_CFG_STRV) {
			size_t *n = (size_t *)(void *)((char *)base + k->off_n);

			sg_cfg_free_strv(*FIELD(base, k, char **), *n);
			*FIELD(base, k, char **) = NULL;
			*n = 0;
		} else if (k->type == SG_CFG_SECTION) {
			sg_cfg_free(k->sub, (char *)base + k->off);
		}
	}
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_value(const struct sg_cfg_key *k, const void *a, const void *b)
{
	switch (k->type) {
	case SG_CFG_BOOL:
	case SG_CFG_ENUM:
		return *CFIELD(a, k, int) == *CFIELD(b, k, int);
	case SG_CFG_U32:
		return *CFIELD(a, k, uint32_t) == *CFIELD(b, k, uint32_t);
	case SG_CFG_SIZE:
		return *CFIELD(a, k, size_t) == *CFIELD(b, k, size_t);
	case SG_CFG_STR:
		return same_str(*CFIELD(a, k, char *), *CFIELD(b, k, char *));
	case SG_CFG_STRV: {
		size_t na = *(const size_t *)(const void *)((const char *)a + k->off_n);
		size_t nb = *(const size_t *)(const void *)((const char *)b + k->off_n);

		if (na != nb)
			return 0;
		for (size_t i = 0; i < na; i++)
			if (!same_str((*CFIELD(a, k, char **))[i], (*CFIELD(b, k, char **))[i]))
				return 0;
		return 1;
	}
	case SG_CFG_SECTION:
		for (const struct sg_cfg_key *s = k->sub; s->name; s++)
			if (!same_value(s, (const char *)a + k->off, (const char *)b + k->off))
				return 0;
		return 1;
	case SG_CFG_CUSTOM:
		return !k->same || k->same(a, b);
	}
	return 1;
}

void sg_cfg_restart_changes(const struct sg_cfg_key *keys, const char *path, const void *a,
			    const void *b, void (*found)(void *ud, const char *key_path), void *ud)
{
	char p[SG_CFG_PATH_LEN];

	for (const struct sg_cfg_key *k = keys; k->name; k++) {
		if (!(k->flags & SG_CFG_RESTART) || same_value(k, a, b))
			continue;
		sg_cfg_path_key(p, path, k->name);
		found(ud, p);
	}
}
