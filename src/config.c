/* config.c - loads the JSON config: ${VAR} expansion, validation, errors named by JSON path. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/suggest.h"

/* Longest JSON path we build; a longer one is cut, which only shortens an error message. */
#define PATH_LEN 256

#define MS_MAX 86400000u          /* one day: longer timers are always a unit mistake */
#define PAYLOAD_MAX 1073741824u   /* 1 GiB */

/* State of one load: where ${VAR} values come from and where the error text goes. */
struct loader {
	sg_getenv_fn getenv_fn;
	void *ud;
	char *err; /* borrowed; SG_CONFIG_ERR_MAX bytes */
};

static const char *const root_keys[] = { "server", "log", "brokers", "namespaces", NULL };
static const char *const server_keys[] = {
	"listen", "path", "transports", "allow_upgrades", "ping_interval_ms", "ping_timeout_ms",
	"connect_timeout_ms", "upgrade_timeout_ms", "drain_timeout_ms", "header_timeout_ms",
	"max_connections", "max_payload", "max_send_queue", "max_namespaces_per_client",
	"cors_origins", "tls", "static", "admin_listen", NULL
};
static const char *const tls_keys[] = { "cert", "key", NULL };
static const char *const static_keys[] = { "url", "dir", "index", NULL };
static const char *const log_keys[] = { "level", "format", NULL };
static const char *const nsp_keys[] = { "name", "match", "middleware", "rooms", "bridge", NULL };
static const char *const token_keys[] = {
	"type", "secret", "auth_field", "header", "message", NULL
};
static const char *const origin_keys[] = { "type", "allow", "message", NULL };
static const char *const http_keys[] = {
	"type", "url", "headers", "timeout_ms", "cache_ms", "message", NULL
};
/* Headers the http step writes itself, so they cannot be forwarded from the handshake. */
static const char *const http_own_headers[] = {
	"host", "content-length", "content-type", "transfer-encoding", "connection", "cookie",
	"expect", "upgrade", "te", "keep-alive", NULL
};
static const char *const jwt_keys[] = {
	"type", "algorithms", "secret", "key_file", "auth_field", "header", "issuer", "audience",
	"leeway_s", "message", NULL
};
/* Names of the SG_JWT_* bits, in bit order. */
static const char *const jwt_algs[] = { "HS256", "HS384", "HS512", "RS256", "ES256", NULL };

#define JWT_LEEWAY_MAX 3600u    /* an hour: more is no longer clock skew */
#define KEY_FILE_MAX 65536u     /* a PEM public key is a few KiB at most */
static const char *const rooms_keys[] = {
	"auto_join", "client_join", "join_event", "leave_event", "allow", "max_rooms", NULL
};

/* Event names a Socket.IO client cannot emit, so they can never be join/leave events. */
static const char *const reserved_events[] = {
	"connect", "connect_error", "disconnect", "disconnecting", "newListener",
	"removeListener", NULL
};

/* ---- small helpers ---------------------------------------------------------------- */

static int fail(struct loader *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes "<path>: <reason>" into the error buffer; always returns -1 so callers can
 * `return fail(...)`. The empty path is the document itself. */
static int fail(struct loader *ld, const char *path, const char *fmt, ...)
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

static int oom(struct loader *ld, const char *path)
{
	return fail(ld, path, "out of memory");
}

/* Marks a cut path with "..." so a truncated error does not look like a real path. */
static void path_fit(char out[PATH_LEN], int n)
{
	if (n >= PATH_LEN)
		memcpy(out + PATH_LEN - 4, "...", 4);
}

static void path_key(char out[PATH_LEN], const char *path, const char *key)
{
	path_fit(out, snprintf(out, PATH_LEN, "%s%s%s", path, path[0] ? "." : "", key));
}

static void path_idx(char out[PATH_LEN], const char *path, size_t i)
{
	path_fit(out, snprintf(out, PATH_LEN, "%s[%zu]", path, i));
}

/* ASCII classes, spelled out so the current locale cannot change what a config means. */
static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_name_char(int c) /* environment variable names */
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

static int is_tchar(int c) /* RFC 9110 token: what an HTTP header name is made of */
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_re(regex_t *re)
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
static int check_keys(struct loader *ld, json_t *obj, const char *path,
		      const char *const *known)
{
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it), *hint;

		if (in_list(key, known))
			continue;
		hint = sg_suggest(key, known, NULL);
		if (hint)
			return fail(ld, path, "unknown key '%s' (did you mean '%s'?)", key, hint);
		return fail(ld, path, "unknown key '%s'", key);
	}
	return 0;
}

/* ---- ${VAR} expansion -------------------------------------------------------------- */

/* Expands ${VAR}, ${VAR:-default} (default when VAR is unset or empty, as in sh) and the
 * escape $${ (a literal "${") in `in`. Sets *out to a new string. */
static int expand(struct loader *ld, const char *path, const char *in, char **out)
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
			fail(ld, path, "unterminated '${'");
			goto fail;
		}
		for (nlen = 0; is_name_char(start[nlen]); nlen++)
			;
		if (start[nlen] == ':' && start[nlen + 1] == '-')
			def = start + nlen + 2;
		else if (start + nlen != end)
			nlen = 0; /* junk after the name: reported below */
		if (nlen == 0 || is_digit(start[0])) {
			fail(ld, path, "invalid environment variable name in '${%.*s}'",
			     (int)(end - start), start);
			goto fail;
		}
		name = strndup(start, nlen);
		if (!name)
			goto nomem;
		val = ld->getenv_fn(name, ld->ud);
		if (def && (!val || !*val)) {
			if (sbuf_add(&b, def, (size_t)(end - def)) < 0)
				goto nomem;
		} else if (!val) {
			fail(ld, path, "environment variable '%s' is not set", name);
			goto fail;
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
	oom(ld, path);
fail:
	free(name);
	free(b.p);
	return -1;
}

/* Expands every string inside a subtree we keep as JSON (bridge and broker settings),
 * in place, so the plugin sees final values. */
static int expand_tree(struct loader *ld, json_t *v, const char *path)
{
	char p[PATH_LEN];

	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *x;
		int rc;

		if (!strchr(s, '$'))
			return 0;
		if (expand(ld, path, s, &x) < 0)
			return -1;
		rc = json_string_set(v, x);
		free(x);
		/* The only way json_string_set fails on memory we just allocated is an
		 * environment value that is not UTF-8. */
		return rc == 0 ? 0 : fail(ld, path, "value is not valid UTF-8 after expansion");
	}
	if (json_is_object(v)) {
		for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
			path_key(p, path, json_object_iter_key(it));
			if (expand_tree(ld, json_object_iter_value(it), p) < 0)
				return -1;
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			path_idx(p, path, i);
			if (expand_tree(ld, json_array_get(v, i), p) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- typed getters: an absent key leaves the default in *out ----------------------- */

/* A string member, expanded; `nonempty` rejects "" (after expansion). */
static int opt_str(struct loader *ld, json_t *obj, const char *path, const char *key,
		   int nonempty, char **out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_LEN], *s;

	if (!v)
		return 0;
	path_key(p, path, key);
	if (!json_is_string(v))
		return fail(ld, p, "expected a string");
	if (expand(ld, p, json_string_value(v), &s) < 0)
		return -1;
	if (nonempty && !*s) {
		free(s);
		return fail(ld, p, "expected a non-empty string");
	}
	free(*out);
	*out = s;
	return 0;
}

/* Decimal digits only: no sign, no spaces, no hex, so "0x10" or " 5" stay errors. */
static int parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!is_digit(*s) || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* An integer member in [min, max]. A string is accepted too (after expansion, decimal
 * digits only) so that "${PING_MS:-25000}" can drive a number. */
static int opt_uint(struct loader *ld, json_t *obj, const char *path, const char *key,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_LEN];
	uint64_t u = 0;
	int ok = 0;

	if (!v)
		return 0;
	path_key(p, path, key);
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		ok = i >= 0;
		u = (uint64_t)i;
	} else if (json_is_string(v)) {
		char *s;

		if (expand(ld, p, json_string_value(v), &s) < 0)
			return -1;
		ok = parse_digits(s, &u) == 0;
		free(s);
	}
	if (!ok || u < min || u > max)
		return fail(ld, p, "expected an integer from %" PRIu64 " to %" PRIu64, min, max);
	*out = u;
	return 0;
}

static int opt_u32(struct loader *ld, json_t *obj, const char *path, const char *key,
		   uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t u = *out;

	if (opt_uint(ld, obj, path, key, min, max, &u) < 0)
		return -1;
	*out = (uint32_t)u;
	return 0;
}

static int opt_size(struct loader *ld, json_t *obj, const char *path, const char *key,
		    size_t min, size_t max, size_t *out)
{
	uint64_t u = *out;

	if (opt_uint(ld, obj, path, key, min, max, &u) < 0)
		return -1;
	*out = (size_t)u;
	return 0;
}

/* A boolean member; the strings "true" and "false" count, for the same reason as above. */
static int opt_bool(struct loader *ld, json_t *obj, const char *path, const char *key,
		    int *out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_LEN];
	int b = -1;

	if (!v)
		return 0;
	path_key(p, path, key);
	if (json_is_boolean(v)) {
		b = json_is_true(v);
	} else if (json_is_string(v)) {
		char *s;

		if (expand(ld, p, json_string_value(v), &s) < 0)
			return -1;
		b = strcmp(s, "true") == 0 ? 1 : strcmp(s, "false") == 0 ? 0 : -1;
		free(s);
	}
	if (b < 0)
		return fail(ld, p, "expected a boolean");
	*out = b;
	return 0;
}

/* An object member, borrowed; NULL (and 0) when absent. */
static int opt_obj(struct loader *ld, json_t *obj, const char *path, const char *key,
		   json_t **out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_LEN];

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v)) {
		path_key(p, path, key);
		return fail(ld, p, "expected an object");
	}
	*out = v;
	return 0;
}

/* Validates one element of a string array; `path` names the element. */
typedef int (*elem_check_fn)(struct loader *ld, const char *path, const char *s);

/* An array-of-strings member, each expanded and passed to `check` (may be NULL). */
static int opt_strv(struct loader *ld, json_t *obj, const char *path, const char *key,
		    int nonempty, elem_check_fn check, char ***out, size_t *n_out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_LEN], ep[PATH_LEN], **arr = NULL;
	size_t n, i = 0;

	if (!v)
		return 0;
	path_key(p, path, key);
	if (!json_is_array(v))
		return fail(ld, p, "expected an array of strings");
	n = json_array_size(v);
	if (nonempty && n == 0)
		return fail(ld, p, "expected a non-empty array of strings");
	if (n > 0 && !(arr = calloc(n, sizeof *arr)))
		return oom(ld, p);
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);

		path_idx(ep, p, i);
		if (!json_is_string(e)) {
			fail(ld, ep, "expected a string");
			goto fail;
		}
		if (expand(ld, ep, json_string_value(e), &arr[i]) < 0)
			goto fail;
		if (check && check(ld, ep, arr[i]) < 0)
			goto fail;
	}
	free_strv(*out, *n_out);
	*out = arr;
	*n_out = n;
	return 0;
fail:
	free_strv(arr, n); /* calloc'd: the slots not reached yet are NULL */
	return -1;
}

/* A string member that must be one of `names`; stores the index. */
static int opt_enum(struct loader *ld, json_t *obj, const char *path, const char *key,
		    const char *what, const char *const *names, int *out)
{
	char *s = NULL, p[PATH_LEN], known[128] = "";
	int rc = 0;

	if (opt_str(ld, obj, path, key, 0, &s) < 0)
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
	path_key(p, path, key);
	rc = fail(ld, p, "unknown %s '%s' (known: %s)", what, s, known);
done:
	free(s);
	return rc;
}

#define SG_REGEX_MAX_LEN 512

static int compile_re(struct loader *ld, const char *path, const char *src, regex_t **out)
{
	regex_t *re = malloc(sizeof *re);
	char msg[200];
	int rc;

	if (!re)
		return oom(ld, path);
	/* glibc's regcomp copies the pattern tree for every stacked quantifier ("a++++..."),
	 * which can take minutes: refuse what no sensible namespace or room pattern needs. */
	if (strlen(src) > SG_REGEX_MAX_LEN) {
		free(re);
		return fail(ld, path, "invalid regular expression: longer than %d characters", SG_REGEX_MAX_LEN);
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
			return fail(ld, path, "invalid regular expression: stacked repetition operators ('%c%c')",
				    *c, c[1]);
		}
	}
	/* No REG_NOSUB: sg_regex_full_match needs the match offsets. */
	rc = regcomp(re, src, REG_EXTENDED);
	if (rc != 0) {
		regerror(rc, re, msg, sizeof msg);
		free(re);
		return fail(ld, path, "invalid regular expression: %s", msg);
	}
	*out = re;
	return 0;
}

/* ---- element checks ---------------------------------------------------------------- */

/* CORS and the origin middleware compare the Origin header exactly, and browsers send
 * scheme://host[:port] with no path, so a trailing '/' or a path would never match. */
static int check_origin(struct loader *ld, const char *path, const char *s)
{
	const char *sep = strstr(s, "://");
	int ok = sep && sep > s && sep[3] && !strpbrk(sep + 3, "/?#* \t");

	for (const char *c = s; ok && c < sep; c++)
		ok = is_alpha(*c) || (c > s && (is_digit(*c) || strchr("+-.", *c)));
	if (strcmp(s, "*") == 0 || ok)
		return 0;
	return fail(ld, path, "expected \"*\" or an origin like \"https://example.com\" "
		    "(scheme://host[:port], no path)");
}

static int check_template(struct loader *ld, const char *path, const char *s)
{
	char why[160];

	if (sg_template_check(s, why, sizeof why) < 0)
		return fail(ld, path, "%s", why);
	return 0;
}

static int check_jwt_alg(struct loader *ld, const char *path, const char *s)
{
	if (in_list(s, jwt_algs))
		return 0;
	/* Unsigned tokens prove nothing: there is no way to allow them. */
	if (strcasecmp(s, "none") == 0)
		return fail(ld, path, "'%s' is never accepted (tokens must be signed)", s);
	/* Only a case slip gets a hint: one letter away (PS256, RS384) is another algorithm. */
	for (const char *const *a = jwt_algs; *a; a++)
		if (strcasecmp(s, *a) == 0)
			return fail(ld, path, "unknown algorithm '%s' (did you mean '%s'?)", s, *a);
	return fail(ld, path, "unknown algorithm '%s' (known: HS256, HS384, HS512, RS256, ES256)",
		    s);
}

/* ---- sections ---------------------------------------------------------------------- */

#define LISTEN_FORMAT "expected \"host:port\", \"[ipv6]:port\" or \":port\""

/* "host:port", "[v6addr]:port" or ":port" (all IPv4 interfaces). */
static int parse_listen(struct loader *ld, const char *path, const char *s,
			char **host_out, int *port_out)
{
	const char *h = s, *colon;
	size_t hlen;
	uint64_t port;
	char *host;
	int v6 = s[0] == '[';

	if (v6) {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return fail(ld, path, LISTEN_FORMAT);
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return fail(ld, path, LISTEN_FORMAT);
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen))
			return fail(ld, path, "an IPv6 address needs brackets, e.g. \"[::1]:3000\"");
	}
	if (parse_digits(colon + 1, &port) < 0 || port < 1 || port > 65535)
		return fail(ld, path, "expected a port from 1 to 65535");
	if (v6 && hlen == 0)
		return fail(ld, path, LISTEN_FORMAT);
	host = hlen ? strndup(h, hlen) : strdup("0.0.0.0");
	if (!host)
		return oom(ld, path);
	if (v6) {
		struct in6_addr a;

		if (inet_pton(AF_INET6, host, &a) != 1) {
			fail(ld, path, "'%s' is not an IPv6 address", host);
			free(host);
			return -1;
		}
	} else {
		for (const char *c = host; *c; c++) {
			if (!is_alpha(*c) && !is_digit(*c) && !strchr("-._", *c)) {
				fail(ld, path, "invalid host name '%s'", host);
				free(host);
				return -1;
			}
		}
	}
	free(*host_out);
	*host_out = host;
	*port_out = (int)port;
	return 0;
}

static int load_transports(struct loader *ld, json_t *obj, const char *path, unsigned *out)
{
	static const char *const names[] = { "polling", "websocket", NULL };
	static const unsigned bits[] = { SG_TRANSPORT_POLLING, SG_TRANSPORT_WEBSOCKET };
	json_t *v = json_object_get(obj, "transports");
	char p[PATH_LEN], ep[PATH_LEN];
	unsigned mask = 0;

	if (!v)
		return 0;
	path_key(p, path, "transports");
	if (!json_is_array(v) || json_array_size(v) == 0)
		return fail(ld, p, "expected a non-empty array of strings");
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);
		char *s;
		int k;

		path_idx(ep, p, i);
		if (!json_is_string(e))
			return fail(ld, ep, "expected a string");
		if (expand(ld, ep, json_string_value(e), &s) < 0)
			return -1;
		for (k = 0; names[k] && strcmp(s, names[k]) != 0; k++)
			;
		if (!names[k])
			fail(ld, ep, "unknown transport '%s' (known: polling, websocket)", s);
		else if (mask & bits[k])
			fail(ld, ep, "duplicate transport '%s'", s);
		free(s);
		if (!names[k] || (mask & bits[k]))
			return -1;
		mask |= bits[k];
	}
	*out = mask;
	return 0;
}

static int load_tls(struct loader *ld, json_t *obj, const char *path,
		    struct sg_server_config *srv)
{
	json_t *tls;
	char p[PATH_LEN];

	if (opt_obj(ld, obj, path, "tls", &tls) < 0)
		return -1;
	if (!tls)
		return 0;
	path_key(p, path, "tls");
	if (check_keys(ld, tls, p, tls_keys) < 0)
		return -1;
	/* Half a TLS setup is a mistake, never a request for plain HTTP. */
	if (!json_object_get(tls, "cert"))
		return fail(ld, p, "missing required key 'cert'");
	if (!json_object_get(tls, "key"))
		return fail(ld, p, "missing required key 'key'");
	if (opt_str(ld, tls, p, "cert", 1, &srv->tls_cert) < 0 ||
	    opt_str(ld, tls, p, "key", 1, &srv->tls_key) < 0)
		return -1;
	return 0;
}

/* One server.static entry: a URL prefix ("/", "/assets/") served from a folder. */
static int load_static_mount(struct loader *ld, json_t *m, const char *path,
			     const struct sg_server_config *srv, struct sg_static_mount *out)
{
	char p[PATH_LEN], *url = NULL;
	size_t n;

	if (!json_is_object(m))
		return fail(ld, path, "expected an object with \"url\" and \"dir\"");
	if (check_keys(ld, m, path, static_keys) < 0)
		return -1;
	if (!json_object_get(m, "dir"))
		return fail(ld, path, "missing required key 'dir'");
	if (opt_str(ld, m, path, "dir", 1, &out->dir) < 0 || opt_str(ld, m, path, "url", 1, &url) < 0 ||
	    opt_str(ld, m, path, "index", 0, &out->index) < 0)
		goto fail;
	path_key(p, path, "url");
	if (!url && !(url = strdup("/")))
		goto nomem;
	n = strlen(url);
	if (url[0] != '/' || strpbrk(url, "?#%\\ \t\r\n") || strstr(url, "/./") || strstr(url, "/../") ||
	    strstr(url, "//")) {
		fail(ld, p, "expected a URL path starting with '/' (no '?', '#', '%%', '\\', spaces, '//', '.' or '..' segments)");
		goto fail;
	}
	if (url[n - 1] != '/') {
		char *nu = realloc(url, n + 2);

		if (!nu)
			goto nomem;
		url = nu;
		memcpy(url + n, "/", 2);
	}
	/* The Engine.IO endpoint is matched first: a mount inside it would never be reached. */
	if (!strncmp(url, srv->path, strlen(srv->path))) {
		fail(ld, p, "'%s' is inside the Engine.IO path '%s'", url, srv->path);
		goto fail;
	}
	if (out->index) {
		path_key(p, path, "index");
		if (strchr(out->index, '/') || !strcmp(out->index, ".") || !strcmp(out->index, "..")) {
			fail(ld, p, "expected a file name (no '/')");
			goto fail;
		}
	} else if (!(out->index = strdup("index.html"))) {
		goto nomem;
	}
	out->url = url;
	return 0;
nomem:
	oom(ld, path);
fail:
	free(url);
	return -1;
}

static void static_free(struct sg_server_config *srv)
{
	for (size_t i = 0; i < srv->n_static; i++) {
		free(srv->static_mounts[i].url);
		free(srv->static_mounts[i].dir);
		free(srv->static_mounts[i].index);
	}
	free(srv->static_mounts);
	srv->static_mounts = NULL;
	srv->n_static = 0;
}

/* server.static: one mount object or an array of them. */
static int load_static(struct loader *ld, json_t *obj, const char *path, struct sg_server_config *srv)
{
	json_t *v = json_object_get(obj, "static"), *one = NULL;
	char p[PATH_LEN], ep[PATH_LEN];
	size_t n;

	if (!v)
		return 0;
	path_key(p, path, "static");
	if (json_is_object(v)) {
		one = json_array();
		if (!one || json_array_append(one, v))
			return json_decref(one), oom(ld, p);
	} else if (!json_is_array(v)) {
		return fail(ld, p, "expected an object or an array of objects");
	}
	n = json_array_size(one ? one : v);
	static_free(srv);
	if (n && !(srv->static_mounts = calloc(n, sizeof(*srv->static_mounts)))) {
		json_decref(one);
		return oom(ld, p);
	}
	for (size_t i = 0; i < n; i++) {
		if (one)
			snprintf(ep, sizeof(ep), "%s", p);
		else
			path_idx(ep, p, i);
		srv->n_static = i + 1;
		if (load_static_mount(ld, json_array_get(one ? one : v, i), ep, srv, &srv->static_mounts[i]) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(srv->static_mounts[j].url, srv->static_mounts[i].url)) {
				char up[PATH_LEN];

				path_key(up, ep, "url");
				fail(ld, up, "'%s' is mounted twice", srv->static_mounts[i].url);
				goto fail;
			}
	}
	json_decref(one);
	return 0;
fail:
	json_decref(one);
	return -1;
}

static int load_server(struct loader *ld, json_t *root, struct sg_server_config *srv)
{
	const char *path = "server";
	json_t *obj;
	char *s = NULL, p[PATH_LEN];

	if (opt_obj(ld, root, "", "server", &obj) < 0)
		return -1;
	if (!obj)
		return 0;
	if (check_keys(ld, obj, path, server_keys) < 0)
		goto fail;

	if (opt_str(ld, obj, path, "listen", 0, &s) < 0)
		goto fail;
	if (s) {
		path_key(p, path, "listen");
		if (parse_listen(ld, p, s, &srv->host, &srv->port) < 0)
			goto fail;
		free(s);
		s = NULL;
	}

	/* "" (e.g. an unset ${ADMIN_LISTEN:-}) means no admin listener. */
	if (opt_str(ld, obj, path, "admin_listen", 0, &s) < 0)
		goto fail;
	if (s && s[0]) {
		path_key(p, path, "admin_listen");
		if (parse_listen(ld, p, s, &srv->admin_host, &srv->admin_port) < 0)
			goto fail;
	}
	free(s);
	s = NULL;

	if (opt_str(ld, obj, path, "path", 0, &s) < 0)
		goto fail;
	if (s) {
		size_t n = strlen(s);
		char *np;

		path_key(p, path, "path");
		if (s[0] != '/' || strpbrk(s, "?# \t\r\n")) {
			fail(ld, p, "expected a URL path starting with '/' (no '?', '#' or spaces)");
			goto fail;
		}
		/* Engine.IO clients append the query to "<path>/", so keep exactly one '/'. */
		if (s[n - 1] != '/') {
			if (!(np = realloc(s, n + 2))) {
				oom(ld, p);
				goto fail;
			}
			s = np;
			memcpy(s + n, "/", 2);
		}
		free(srv->path);
		srv->path = s;
		s = NULL;
	}

	if (load_transports(ld, obj, path, &srv->transports) < 0 ||
	    opt_bool(ld, obj, path, "allow_upgrades", &srv->allow_upgrades) < 0 ||
	    opt_u32(ld, obj, path, "ping_interval_ms", 1, MS_MAX, &srv->ping_interval_ms) < 0 ||
	    opt_u32(ld, obj, path, "ping_timeout_ms", 1, MS_MAX, &srv->ping_timeout_ms) < 0 ||
	    opt_u32(ld, obj, path, "connect_timeout_ms", 1, MS_MAX,
		    &srv->connect_timeout_ms) < 0 ||
	    opt_u32(ld, obj, path, "upgrade_timeout_ms", 1, MS_MAX,
		    &srv->upgrade_timeout_ms) < 0 ||
	    opt_u32(ld, obj, path, "drain_timeout_ms", 1, MS_MAX, &srv->drain_timeout_ms) < 0 ||
	    opt_u32(ld, obj, path, "header_timeout_ms", 1000, 3600000, &srv->header_timeout_ms) < 0 ||
	    opt_size(ld, obj, path, "max_connections", 0, 10000000, &srv->max_connections) < 0 ||
	    opt_size(ld, obj, path, "max_payload", 1, PAYLOAD_MAX, &srv->max_payload) < 0 ||
	    opt_size(ld, obj, path, "max_send_queue", 1024, PAYLOAD_MAX,
		     &srv->max_send_queue) < 0 ||
	    opt_size(ld, obj, path, "max_namespaces_per_client", 1, 100000,
		     &srv->max_namespaces_per_client) < 0 ||
	    opt_strv(ld, obj, path, "cors_origins", 0, check_origin, &srv->cors_origins,
		     &srv->n_cors_origins) < 0 ||
	    load_tls(ld, obj, path, srv) < 0 || load_static(ld, obj, path, srv) < 0)
		goto fail;
	if (srv->admin_host && srv->admin_port == srv->port) {
		path_key(p, path, "admin_listen");
		fail(ld, p, "expected another port than server.listen's %d", srv->port);
		goto fail;
	}
	return 0;
fail:
	free(s);
	return -1;
}

static int load_log(struct loader *ld, json_t *root, struct sg_log_config *log)
{
	static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
	static const char *const formats[] = { "text", "json", NULL };
	json_t *obj;
	int level = (int)log->level, format = (int)log->format;

	if (opt_obj(ld, root, "", "log", &obj) < 0)
		return -1;
	if (!obj)
		return 0;
	/* The enums are declared in the same order as the names. */
	if (check_keys(ld, obj, "log", log_keys) < 0 ||
	    opt_enum(ld, obj, "log", "level", "log level", levels, &level) < 0 ||
	    opt_enum(ld, obj, "log", "format", "log format", formats, &format) < 0)
		return -1;
	log->level = (enum sg_log_level)level;
	log->format = (enum sg_log_format)format;
	return 0;
}

/* A broker's "type" names its plugin (loaded and checked later, in src/bridges.c). */
static int check_type_name(struct loader *ld, json_t *obj, const char *path)
{
	json_t *t = json_object_get(obj, "type");
	char p[PATH_LEN];

	if (!t)
		return fail(ld, path, "missing required key 'type'");
	path_key(p, path, "type");
	if (!json_is_string(t) || !json_string_length(t))
		return fail(ld, p, "expected a non-empty string");
	return 0;
}

/* A namespace's bridge names a broker (whose type picks the plugin) or a plugin "type". */
static int check_bridge_ref(struct loader *ld, json_t *obj, const char *path, const json_t *brokers)
{
	json_t *broker = json_object_get(obj, "broker"), *type = json_object_get(obj, "type");
	char p[PATH_LEN];

	if (broker && type)
		return fail(ld, path, "'broker' and 'type' are mutually exclusive (a broker has its type)");
	if (!broker && !type)
		return fail(ld, path, "expected one of 'broker' (a name from brokers) or 'type'");
	if (type) {
		path_key(p, path, "type");
		if (!json_is_string(type) || !json_string_length(type))
			return fail(ld, p, "expected a non-empty string");
		return 0;
	}
	path_key(p, path, "broker");
	if (!json_is_string(broker))
		return fail(ld, p, "expected a string");
	if (!json_is_object(json_object_get(brokers, json_string_value(broker))))
		return fail(ld, p, "no broker named '%s' in brokers", json_string_value(broker));
	return 0;
}

static int load_brokers(struct loader *ld, json_t *root, struct sg_config *cfg)
{
	json_t *obj;
	char p[PATH_LEN];

	if (opt_obj(ld, root, "", "brokers", &obj) < 0)
		return -1;
	if (!obj)
		return 0;
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		json_t *b = json_object_iter_value(it);

		path_key(p, "brokers", json_object_iter_key(it));
		if (!json_is_object(b))
			return fail(ld, p, "expected an object");
		/* Broker settings pass through to the client library: any keys, but every
		 * string is expanded like the rest of the file. */
		if (expand_tree(ld, b, p) < 0 || check_type_name(ld, b, p) < 0)
			return -1;
	}
	json_decref(cfg->brokers);
	cfg->brokers = json_incref(obj);
	return 0;
}

/* Stored lower-case: HTTP header names compare case-insensitively and the server sees
 * them lower-cased. */
static int normalize_header(struct loader *ld, const char *path, char *header)
{
	char p[PATH_LEN];

	path_key(p, path, "header");
	for (char *c = header; *c; c++) {
		if (!is_tchar(*c))
			return fail(ld, p, "expected an HTTP header name");
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	}
	return 0;
}

/* Reads the public key at load, so a missing or wrong file stops the start (or the
 * reload) instead of refusing every client later. Bounded: /dev/zero is not a key. */
static int load_key_file(struct loader *ld, json_t *obj, const char *path,
			 struct sg_mw_config *mw)
{
	char p[PATH_LEN], *file = NULL, *buf = NULL;
	size_t len;
	FILE *f = NULL;
	int rc = -1;

	path_key(p, path, "key_file");
	if (opt_str(ld, obj, path, "key_file", 1, &file) < 0)
		return -1;
	if (!(buf = malloc(KEY_FILE_MAX + 1))) {
		oom(ld, p);
		goto done;
	}
	if (!(f = fopen(file, "rb"))) {
		fail(ld, p, "%s: %s", file, strerror(errno));
		goto done;
	}
	errno = 0;
	len = fread(buf, 1, KEY_FILE_MAX + 1, f);
	if (ferror(f)) {
		fail(ld, p, "%s: %s", file, strerror(errno ? errno : EIO));
		goto done;
	}
	if (len > KEY_FILE_MAX) {
		fail(ld, p, "%s: too large for a public key", file);
		goto done;
	}
	buf[len] = '\0';
	/* libjwt reads the key with PEM_read_bio_PUBKEY: a certificate or a private key
	 * would only fail at the first client. */
	if (!strstr(buf, "-----BEGIN PUBLIC KEY-----")) {
		fail(ld, p, "%s: not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')", file);
		goto done;
	}
	mw->key_pem = buf;
	mw->key_pem_len = len;
	buf = NULL;
	rc = 0;
done:
	if (f)
		fclose(f);
	free(buf);
	free(file);
	return rc;
}

static int load_jwt(struct loader *ld, json_t *obj, const char *path, struct sg_mw_config *mw)
{
	char p[PATH_LEN], **algs = NULL;
	size_t n_algs = 0;
	uint64_t leeway = 0;

	if (check_keys(ld, obj, path, jwt_keys) < 0)
		return -1;
	if (!json_object_get(obj, "algorithms"))
		return fail(ld, path, "missing required key 'algorithms'");
	if (opt_strv(ld, obj, path, "algorithms", 1, check_jwt_alg, &algs, &n_algs) < 0)
		return -1;
	for (size_t i = 0; i < n_algs; i++)
		for (unsigned b = 0; jwt_algs[b]; b++)
			if (strcmp(algs[i], jwt_algs[b]) == 0)
				mw->algorithms |= 1u << b;
	free_strv(algs, n_algs);

	/* Each key serves one family only: an RS256 public key must never become an HMAC
	 * secret, so a key the listed algorithms do not use is a mistake, not a spare. */
	if (mw->algorithms & SG_JWT_HMAC) {
		if (!json_object_get(obj, "secret"))
			return fail(ld, path, "missing required key 'secret' (for HS256/HS384/HS512)");
	} else if (json_object_get(obj, "secret")) {
		path_key(p, path, "secret");
		return fail(ld, p, "only used with HS256, HS384 or HS512 (not in algorithms)");
	}
	if (mw->algorithms & SG_JWT_PUBKEY) {
		if (!json_object_get(obj, "key_file"))
			return fail(ld, path, "missing required key 'key_file' (for RS256/ES256)");
	} else if (json_object_get(obj, "key_file")) {
		path_key(p, path, "key_file");
		return fail(ld, p, "only used with RS256 or ES256 (not in algorithms)");
	}
	if (!(mw->auth_field = strdup("token")) || !(mw->message = strdup("unauthorized")))
		return oom(ld, path);
	if (opt_str(ld, obj, path, "secret", 1, &mw->secret) < 0 ||
	    opt_str(ld, obj, path, "auth_field", 1, &mw->auth_field) < 0 ||
	    opt_str(ld, obj, path, "header", 1, &mw->header) < 0 ||
	    opt_str(ld, obj, path, "issuer", 1, &mw->issuer) < 0 ||
	    opt_str(ld, obj, path, "audience", 1, &mw->audience) < 0 ||
	    opt_uint(ld, obj, path, "leeway_s", 0, JWT_LEEWAY_MAX, &leeway) < 0 ||
	    opt_str(ld, obj, path, "message", 0, &mw->message) < 0)
		return -1;
	mw->leeway_s = (uint32_t)leeway;
	if (mw->header && normalize_header(ld, path, mw->header) < 0)
		return -1;
	if ((mw->algorithms & SG_JWT_PUBKEY) && load_key_file(ld, obj, path, mw) < 0)
		return -1;
	return 0;
}

/* Splits an http:// URL into host, port and path. The step speaks plain HTTP only. */
static int parse_http_url(struct loader *ld, const char *path, struct sg_mw_config *mw)
{
	const char *u = mw->url, *h, *end, *colon = NULL;
	char p[PATH_LEN];
	uint64_t port = 80;

	path_key(p, path, "url");
	if (!strncmp(u, "https://", 8))
		return fail(ld, p, "https:// is not supported (use http://, e.g. to the application "
			    "on localhost)");
	if (strncmp(u, "http://", 7))
		return fail(ld, p, "expected an http:// URL, e.g. \"http://127.0.0.1:8080/socket-auth\"");
	for (const char *c = u; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '#')
			return fail(ld, p, "spaces, control characters and '#' are not allowed in the URL");
	h = u + 7;
	end = h + strcspn(h, "/?");
	if (memchr(h, '@', (size_t)(end - h)))
		return fail(ld, p, "credentials in the URL are not supported");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		struct in6_addr a;
		char buf[64];

		if (!rb || (size_t)(rb - h - 1) >= sizeof buf || (rb + 1 != end && rb[1] != ':'))
			return fail(ld, p, "invalid IPv6 host");
		memcpy(buf, h + 1, (size_t)(rb - h - 1));
		buf[rb - h - 1] = '\0';
		if (inet_pton(AF_INET6, buf, &a) != 1)
			return fail(ld, p, "invalid IPv6 host");
		mw->url_host = strdup(buf);
		colon = rb + 1 != end ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		for (const char *c = h; c < (colon ? colon : end); c++)
			if (!is_alpha(*c) && !is_digit(*c) && !strchr("-._", *c))
				return fail(ld, p, "invalid host name in the URL");
		if ((colon ? colon : end) == h)
			return fail(ld, p, "missing host in the URL");
		mw->url_host = strndup(h, (size_t)((colon ? colon : end) - h));
	}
	if (!mw->url_host)
		return oom(ld, p);
	if (colon) {
		char digits[8];
		size_t n = (size_t)(end - colon - 1);

		if (n == 0 || n >= sizeof digits)
			return fail(ld, p, "expected a port from 1 to 65535 in the URL");
		memcpy(digits, colon + 1, n);
		digits[n] = '\0';
		if (parse_digits(digits, &port) < 0 || port < 1 || port > 65535)
			return fail(ld, p, "expected a port from 1 to 65535 in the URL");
	}
	mw->url_port = (int)port;
	/* "http://h?x=1" asks for "/?x=1". */
	if ((mw->url_path = malloc(strlen(end) + 2)))
		snprintf(mw->url_path, strlen(end) + 2, "%s%s", *end == '/' ? "" : "/", end);
	return mw->url_path ? 0 : oom(ld, p);
}

/* A forwarded header: a lower-cased name the step does not write itself. */
static int check_http_header(struct loader *ld, const char *path, const char *s)
{
	if (!*s)
		return fail(ld, path, "expected an HTTP header name");
	for (const char *c = s; *c; c++)
		if (!is_tchar(*c))
			return fail(ld, path, "expected an HTTP header name");
	for (const char *const *h = http_own_headers; *h; h++)
		if (!strcasecmp(s, *h))
			return fail(ld, path, "'%s' cannot be forwarded (the cookie header always is)", s);
	return 0;
}

static int load_http(struct loader *ld, json_t *obj, const char *path, struct sg_mw_config *mw)
{
	if (check_keys(ld, obj, path, http_keys) < 0)
		return -1;
	if (!json_object_get(obj, "url"))
		return fail(ld, path, "missing required key 'url'");
	mw->timeout_ms = 5000;
	if (!(mw->message = strdup("unauthorized")))
		return oom(ld, path);
	if (opt_str(ld, obj, path, "url", 1, &mw->url) < 0 ||
	    parse_http_url(ld, path, mw) < 0 ||
	    opt_strv(ld, obj, path, "headers", 0, check_http_header, &mw->headers,
		     &mw->n_headers) < 0 ||
	    opt_u32(ld, obj, path, "timeout_ms", 1, 60000, &mw->timeout_ms) < 0 ||
	    opt_u32(ld, obj, path, "cache_ms", 0, 3600000, &mw->cache_ms) < 0 ||
	    opt_str(ld, obj, path, "message", 0, &mw->message) < 0)
		return -1;
	for (size_t i = 0; i < mw->n_headers; i++)
		for (char *c = mw->headers[i]; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	return 0;
}

static int load_middleware(struct loader *ld, json_t *obj, const char *path,
			   struct sg_mw_config *mw)
{
	char *type = NULL, p[PATH_LEN];

	if (!json_is_object(obj))
		return fail(ld, path, "expected an object");
	if (!json_object_get(obj, "type"))
		return fail(ld, path, "missing required key 'type'");
	if (opt_str(ld, obj, path, "type", 0, &type) < 0)
		return -1;
	path_key(p, path, "type");
	if (strcmp(type, "token") == 0) {
		mw->type = SG_MW_TOKEN;
	} else if (strcmp(type, "origin") == 0) {
		mw->type = SG_MW_ORIGIN;
	} else if (strcmp(type, "jwt") == 0) {
		mw->type = SG_MW_JWT;
	} else if (strcmp(type, "http") == 0) {
		mw->type = SG_MW_HTTP;
	} else {
		fail(ld, p, "unknown middleware type '%s' (known: token, origin, jwt, http)", type);
		free(type);
		return -1;
	}
	free(type);

	if (mw->type == SG_MW_JWT)
		return load_jwt(ld, obj, path, mw);
	if (mw->type == SG_MW_HTTP)
		return load_http(ld, obj, path, mw);
	if (mw->type == SG_MW_TOKEN) {
		if (check_keys(ld, obj, path, token_keys) < 0)
			return -1;
		if (!json_object_get(obj, "secret"))
			return fail(ld, path, "missing required key 'secret'");
		if (!(mw->auth_field = strdup("token")) || !(mw->message = strdup("unauthorized")))
			return oom(ld, path);
		if (opt_str(ld, obj, path, "secret", 1, &mw->secret) < 0 ||
		    opt_str(ld, obj, path, "auth_field", 1, &mw->auth_field) < 0 ||
		    opt_str(ld, obj, path, "header", 1, &mw->header) < 0 ||
		    opt_str(ld, obj, path, "message", 0, &mw->message) < 0)
			return -1;
		if (mw->header && normalize_header(ld, path, mw->header) < 0)
			return -1;
	} else {
		if (check_keys(ld, obj, path, origin_keys) < 0)
			return -1;
		if (!json_object_get(obj, "allow"))
			return fail(ld, path, "missing required key 'allow'");
		if (!(mw->message = strdup("origin not allowed")))
			return oom(ld, path);
		if (opt_strv(ld, obj, path, "allow", 1, check_origin, &mw->origins,
			     &mw->n_origins) < 0 ||
		    opt_str(ld, obj, path, "message", 0, &mw->message) < 0)
			return -1;
	}
	return 0;
}

static int check_event(struct loader *ld, const char *path, const char *key, const char *s)
{
	char p[PATH_LEN];

	if (!in_list(s, reserved_events))
		return 0;
	path_key(p, path, key);
	return fail(ld, p, "'%s' is a reserved Socket.IO event name", s);
}

static int load_rooms(struct loader *ld, json_t *nsp, const char *nsp_path,
		      struct sg_room_policy *rp)
{
	json_t *obj;
	char path[PATH_LEN], p[PATH_LEN];

	if (opt_obj(ld, nsp, nsp_path, "rooms", &obj) < 0)
		return -1;
	if (!obj)
		return 0;
	path_key(path, nsp_path, "rooms");
	if (check_keys(ld, obj, path, rooms_keys) < 0 ||
	    opt_strv(ld, obj, path, "auto_join", 0, check_template, &rp->auto_join,
		     &rp->n_auto_join) < 0 ||
	    opt_bool(ld, obj, path, "client_join", &rp->client_join) < 0 ||
	    opt_str(ld, obj, path, "join_event", 1, &rp->join_event) < 0 ||
	    check_event(ld, path, "join_event", rp->join_event) < 0 ||
	    opt_str(ld, obj, path, "leave_event", 1, &rp->leave_event) < 0 ||
	    check_event(ld, path, "leave_event", rp->leave_event) < 0)
		return -1;
	if (strcmp(rp->join_event, rp->leave_event) == 0) {
		path_key(p, path, "leave_event");
		return fail(ld, p, "must differ from join_event ('%s')", rp->join_event);
	}
	if (opt_str(ld, obj, path, "allow", 1, &rp->allow) < 0)
		return -1;
	if (rp->allow) {
		path_key(p, path, "allow");
		if (compile_re(ld, p, rp->allow, &rp->allow_re) < 0)
			return -1;
	}
	return opt_size(ld, obj, path, "max_rooms", 1, 100000, &rp->max_rooms);
}

static int load_nsp(struct loader *ld, json_t *obj, const char *path, struct sg_config *cfg,
		    size_t idx)
{
	struct sg_nsp_config *nsp = &cfg->namespaces[idx];
	json_t *v;
	char p[PATH_LEN], ep[PATH_LEN];
	int has_name, has_match;

	if (!json_is_object(obj))
		return fail(ld, path, "expected an object");
	if (check_keys(ld, obj, path, nsp_keys) < 0)
		return -1;
	has_name = json_object_get(obj, "name") != NULL;
	has_match = json_object_get(obj, "match") != NULL;
	if (has_name && has_match)
		return fail(ld, path, "'name' and 'match' are mutually exclusive");
	if (!has_name && !has_match)
		return fail(ld, path, "expected one of 'name' or 'match'");

	if (opt_str(ld, obj, path, "name", 0, &nsp->name) < 0)
		return -1;
	if (nsp->name) {
		path_key(p, path, "name");
		if (nsp->name[0] != '/')
			return fail(ld, p, "expected a string starting with '/'");
		/* A ',' ends the namespace in a Socket.IO packet, so no client could name it. */
		if (strchr(nsp->name, ','))
			return fail(ld, p, "a namespace name cannot contain ','");
		for (size_t i = 0; i < idx; i++)
			if (cfg->namespaces[i].name && strcmp(cfg->namespaces[i].name, nsp->name) == 0)
				return fail(ld, p, "duplicate namespace '%s' (first at namespaces[%zu])",
					    nsp->name, i);
	}
	if (opt_str(ld, obj, path, "match", 1, &nsp->match) < 0)
		return -1;
	if (nsp->match) {
		path_key(p, path, "match");
		if (compile_re(ld, p, nsp->match, &nsp->match_re) < 0)
			return -1;
	}

	if ((v = json_object_get(obj, "middleware"))) {
		path_key(p, path, "middleware");
		if (!json_is_array(v))
			return fail(ld, p, "expected an array");
		if (json_array_size(v) > 0) {
			nsp->middleware = calloc(json_array_size(v), sizeof *nsp->middleware);
			if (!nsp->middleware)
				return oom(ld, p);
			/* Counted first, filled next: destroy frees what a failure left. */
			nsp->n_middleware = json_array_size(v);
		}
		for (size_t i = 0; i < nsp->n_middleware; i++) {
			path_idx(ep, p, i);
			if (load_middleware(ld, json_array_get(v, i), ep, &nsp->middleware[i]) < 0)
				return -1;
		}
	}

	if (load_rooms(ld, obj, path, &nsp->rooms) < 0)
		return -1;

	if ((v = json_object_get(obj, "bridge"))) {
		path_key(p, path, "bridge");
		if (!json_is_object(v))
			return fail(ld, p, "expected an object");
		/* Only "broker" and "type" are ours; the rest belongs to the bridge plugin,
		 * which validates it when the plugins are loaded (src/bridges.c). */
		if (expand_tree(ld, v, p) < 0 || check_bridge_ref(ld, v, p, cfg->brokers) < 0)
			return -1;
		nsp->bridge = json_incref(v);
	}
	return 0;
}

static int nsp_init(struct sg_nsp_config *nsp)
{
	nsp->rooms.join_event = strdup("join");
	nsp->rooms.leave_event = strdup("leave");
	nsp->rooms.max_rooms = 64;
	return nsp->rooms.join_event && nsp->rooms.leave_event ? 0 : -1;
}

static int load_namespaces(struct loader *ld, json_t *root, struct sg_config *cfg)
{
	json_t *arr = json_object_get(root, "namespaces");
	char p[PATH_LEN];
	size_t n;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return fail(ld, "namespaces", "expected an array");
	n = json_array_size(arr);
	if (n == 0)
		return 0;
	cfg->namespaces = calloc(n, sizeof *cfg->namespaces);
	if (!cfg->namespaces)
		return oom(ld, "namespaces");
	cfg->n_namespaces = n;
	for (size_t i = 0; i < n; i++) {
		path_idx(p, "namespaces", i);
		if (nsp_init(&cfg->namespaces[i]) < 0)
			return oom(ld, p);
		if (load_nsp(ld, json_array_get(arr, i), p, cfg, i) < 0)
			return -1;
	}
	return 0;
}

/* Validates a parsed document into a new config. `root` stays the caller's; the bridge
 * and broker subtrees we keep are referenced, after in-place expansion. */
static struct sg_config *load_root(json_t *root, sg_getenv_fn getenv_fn, void *ud, char *err)
{
	struct loader ld = { getenv_fn, ud, err };
	struct sg_config *cfg = NULL;

	if (!json_is_object(root)) {
		fail(&ld, "", "expected an object");
		goto fail;
	}
	if (check_keys(&ld, root, "", root_keys) < 0)
		goto fail;
	if (!(cfg = sg_config_default())) {
		oom(&ld, "");
		goto fail;
	}
	if (load_server(&ld, root, &cfg->server) < 0 || load_log(&ld, root, &cfg->log) < 0 ||
	    load_brokers(&ld, root, cfg) < 0 || load_namespaces(&ld, root, cfg) < 0)
		goto fail;
	return cfg;
fail:
	sg_config_destroy(cfg);
	return NULL;
}

static const char *real_getenv(const char *name, void *ud)
{
	(void)ud;
	return getenv(name);
}

/* Parses `len` bytes; `source` names them in syntax errors ("FILE:LINE:COL: ..."). */
static struct sg_config *load_buffer(const char *buf, size_t len, const char *source,
				     sg_getenv_fn getenv_fn, void *ud, char *err)
{
	json_error_t je;
	json_t *root;
	struct sg_config *cfg;

	/* Duplicate keys are rejected: with two "listen" keys, which one did they mean? */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* jansson reports no position, and often no text, when it ran out of memory. */
		if (json_error_code(&je) == json_error_out_of_memory || !je.text[0])
			snprintf(err, SG_CONFIG_ERR_MAX, "%s: out of memory", source);
		else if (je.line < 0)
			snprintf(err, SG_CONFIG_ERR_MAX, "%s: %s", source, je.text);
		else
			snprintf(err, SG_CONFIG_ERR_MAX, "%s:%d:%d: %s", source, je.line, je.column,
				 je.text);
		return NULL;
	}
	cfg = load_root(root, getenv_fn ? getenv_fn : real_getenv, ud, err);
	json_decref(root);
	return cfg;
}

struct sg_config *sg_config_load_string(const char *text, sg_getenv_fn getenv_fn, void *ud,
					char err[SG_CONFIG_ERR_MAX])
{
	char scratch[SG_CONFIG_ERR_MAX];

	if (!err)
		err = scratch;
	if (!text) {
		snprintf(err, SG_CONFIG_ERR_MAX, "(string): no text");
		return NULL;
	}
	return load_buffer(text, strlen(text), "(string)", getenv_fn, ud, err);
}

/* Reads a whole file into a new buffer. Done by hand rather than with json_load_file so
 * that an unreadable file (missing, a directory, no permission) reads "FILE: <strerror>". */
static int read_file(const char *path, char **out, size_t *out_len, char *err)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;
	FILE *f;

	if (!(f = fopen(path, "rb"))) {
		snprintf(err, SG_CONFIG_ERR_MAX, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16384;
			if (!(nb = realloc(buf, cap))) {
				snprintf(err, SG_CONFIG_ERR_MAX, "%s: out of memory", path);
				goto fail;
			}
			buf = nb;
		}
		errno = 0;
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n > 0)
			continue;
		if (ferror(f)) {
			snprintf(err, SG_CONFIG_ERR_MAX, "%s: %s", path, strerror(errno ? errno : EIO));
			goto fail;
		}
		break;
	}
	fclose(f);
	*out = buf;
	*out_len = len;
	return 0;
fail:
	fclose(f);
	free(buf);
	return -1;
}

struct sg_config *sg_config_load_file(const char *path, sg_getenv_fn getenv_fn, void *ud,
				      char err[SG_CONFIG_ERR_MAX])
{
	char scratch[SG_CONFIG_ERR_MAX], *buf;
	size_t len;
	struct sg_config *cfg;

	if (!err)
		err = scratch;
	if (read_file(path, &buf, &len, err) < 0)
		return NULL;
	cfg = load_buffer(buf, len, path, getenv_fn, ud, err);
	free(buf);
	return cfg;
}

struct sg_config *sg_config_default(void)
{
	struct sg_config *cfg = calloc(1, sizeof *cfg);
	struct sg_server_config *s;

	if (!cfg)
		return NULL;
	cfg->refs = 1;
	s = &cfg->server;
	s->host = strdup("0.0.0.0");
	s->port = 3000;
	s->path = strdup("/socket.io/");
	s->transports = SG_TRANSPORT_POLLING | SG_TRANSPORT_WEBSOCKET;
	s->allow_upgrades = 1;
	s->ping_interval_ms = 25000;
	s->ping_timeout_ms = 20000;
	s->connect_timeout_ms = 45000;
	s->upgrade_timeout_ms = 10000;
	s->max_payload = 1000000;
	s->max_send_queue = 4u << 20;
	s->max_namespaces_per_client = 32;
	s->drain_timeout_ms = 10000;
	s->header_timeout_ms = 10000;
	cfg->log.level = SG_LOG_INFO;
	cfg->log.format = SG_LOG_TEXT;
	cfg->brokers = json_object();
	if (!s->host || !s->path || !cfg->brokers)
		goto fail;
	return cfg;
fail:
	sg_config_destroy(cfg);
	return NULL;
}

static void mw_free(struct sg_mw_config *mw)
{
	free(mw->secret);
	free(mw->auth_field);
	free(mw->header);
	free(mw->message);
	free_strv(mw->origins, mw->n_origins);
	free(mw->key_pem);
	free(mw->issuer);
	free(mw->audience);
	free(mw->url);
	free(mw->url_host);
	free(mw->url_path);
	free_strv(mw->headers, mw->n_headers);
}

static void nsp_free(struct sg_nsp_config *nsp)
{
	free(nsp->name);
	free(nsp->match);
	free_re(nsp->match_re);
	for (size_t i = 0; i < nsp->n_middleware; i++)
		mw_free(&nsp->middleware[i]);
	free(nsp->middleware);
	free_strv(nsp->rooms.auto_join, nsp->rooms.n_auto_join);
	free(nsp->rooms.join_event);
	free(nsp->rooms.leave_event);
	free(nsp->rooms.allow);
	free_re(nsp->rooms.allow_re);
	json_decref(nsp->bridge);
}

const struct sg_config *sg_config_ref(const struct sg_config *cfg)
{
	if (cfg)
		((struct sg_config *)cfg)->refs++;
	return cfg;
}

void sg_config_destroy(const struct sg_config *ccfg)
{
	/* The config is immutable to its readers; the count is the one thing that changes. */
	struct sg_config *cfg = (struct sg_config *)ccfg;

	if (!cfg || --cfg->refs)
		return;
	free(cfg->server.host);
	free(cfg->server.path);
	free_strv(cfg->server.cors_origins, cfg->server.n_cors_origins);
	free(cfg->server.tls_cert);
	free(cfg->server.tls_key);
	static_free(&cfg->server);
	free(cfg->server.admin_host);
	json_decref(cfg->brokers);
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		nsp_free(&cfg->namespaces[i]);
	free(cfg->namespaces);
	free(cfg);
}

const struct sg_nsp_config *sg_config_find_nsp(const struct sg_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	/* Static names win over patterns, whatever their order in the file. */
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (cfg->namespaces[i].name && strcmp(cfg->namespaces[i].name, name) == 0)
			return &cfg->namespaces[i];
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (cfg->namespaces[i].match_re &&
		    sg_regex_full_match(cfg->namespaces[i].match_re, name))
			return &cfg->namespaces[i];
	return NULL;
}
