/* config_core.h - what every config section shares: the state of one load, JSON paths in
 * errors, ${VAR} expansion, typed getters, and the key table each section's owner fills.
 *
 * A section's owner (server_config.c, log.c, nsp_config.c, middleware_config.c,
 * rooms_config.c, bridges_config.c) describes its keys in a table of struct sg_cfg_key:
 * name, type, range, default, and whether a reload applies it. sg_cfg_load() then refuses
 * unknown keys (with a did-you-mean), missing required ones and values out of range, each
 * error named by its JSON path; what a table cannot say (a listen address, a URL, rules
 * across keys) is a CUSTOM key whose parse function the owner writes with the getters
 * below. Only config code includes this header. */
#ifndef SG_CONFIG_CORE_H
#define SG_CONFIG_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <regex.h>
#include <jansson.h>

/* Error text of a failed load: "<path>: <reason>", e.g.
 * "namespaces[1].rooms.allow: expected a string". */
#define SG_CONFIG_ERR_MAX 512

/* Where ${VAR} values come from; tests pass their own. */
typedef const char *(*sg_getenv_fn)(const char *name, void *ud);

/* Longest JSON path built; a longer one is cut (marked "..."), which only shortens an error. */
#define SG_CFG_PATH_LEN 256

#define SG_CFG_MS_MAX 86400000u          /* one day: longer timers are always a unit mistake */
#define SG_CFG_PAYLOAD_MAX 1073741824u   /* 1 GiB */

/* State of one load: where ${VAR} values come from and where the error text goes. */
struct sg_cfg_ld {
	sg_getenv_fn getenv_fn;
	void *ud;
	char *err; /* borrowed; SG_CONFIG_ERR_MAX bytes */
};

/* Writes "<path>: <reason>" into the error buffer; always returns -1 so callers can
 * `return sg_cfg_fail(...)`. The empty path is the document itself. */
int sg_cfg_fail(struct sg_cfg_ld *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int sg_cfg_oom(struct sg_cfg_ld *ld, const char *path);
/* "<path>.<key>" and "<path>[i]". */
void sg_cfg_path_key(char out[SG_CFG_PATH_LEN], const char *path, const char *key);
void sg_cfg_path_idx(char out[SG_CFG_PATH_LEN], const char *path, size_t i);

/* ASCII classes, spelled out so the current locale cannot change what a config means. */
int sg_cfg_is_digit(int c);
int sg_cfg_is_alpha(int c);
int sg_cfg_is_tchar(int c); /* RFC 9110 token: what an HTTP header name is made of */
int sg_cfg_in_list(const char *s, const char *const *list);
/* Decimal digits only: no sign, no spaces, no hex. */
int sg_cfg_parse_digits(const char *s, uint64_t *out);
void sg_cfg_free_strv(char **v, size_t n);
void sg_cfg_free_re(regex_t *re);

/* Unknown keys are errors (a typo must not silently fall back to a default), with the
 * nearest known key as a hint. */
int sg_cfg_check_keys(struct sg_cfg_ld *ld, json_t *obj, const char *path,
		      const char *const *known);
/* Expands ${VAR}, ${VAR:-default} and the escape $${ in `in` into a new string. */
int sg_cfg_expand(struct sg_cfg_ld *ld, const char *path, const char *in, char **out);
/* Expands every string of a subtree kept as JSON (bridge and broker settings), in place. */
int sg_cfg_expand_tree(struct sg_cfg_ld *ld, json_t *v, const char *path);

/* Typed getters: an absent key leaves *out as it is (the default). Strings are expanded;
 * integers and booleans may also be given as strings, so "${PING_MS:-25000}" works. */
int sg_cfg_str(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
	       int nonempty, char **out);
int sg_cfg_uint(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		uint64_t min, uint64_t max, uint64_t *out);
int sg_cfg_bool(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key, int *out);
/* An object member, borrowed; NULL (and 0) when absent. */
int sg_cfg_obj(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
	       json_t **out);
/* Validates one string (an element of an array, or a single value); `path` names it. */
typedef int (*sg_cfg_check_fn)(struct sg_cfg_ld *ld, const char *path, const char *s);
int sg_cfg_strv(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		int nonempty, sg_cfg_check_fn check, char ***out, size_t *n_out);
/* A string that must be one of `names`; stores the index. `what` names it in errors. */
int sg_cfg_enum(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		const char *what, const char *const *names, int *out);
/* Compiles a POSIX ERE, refusing what would make regcomp slow (too long, stacked
 * repetitions). */
int sg_cfg_regex(struct sg_cfg_ld *ld, const char *path, const char *src, regex_t **out);

/* A pattern key: the string (non-empty) into *src and its compiled form into *re. */
int sg_cfg_regex_key(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		     char **src, regex_t **re);

/* Element checks shared by sections. */
int sg_cfg_check_origin(struct sg_cfg_ld *ld, const char *path, const char *s);
int sg_cfg_check_template(struct sg_cfg_ld *ld, const char *path, const char *s);

/* ---- the key table --------------------------------------------------------------- */

enum sg_cfg_type {
	SG_CFG_BOOL,   /* int, 0 or 1 */
	SG_CFG_U32,    /* uint32_t in [min, max] */
	SG_CFG_SIZE,   /* size_t in [min, max] */
	SG_CFG_STR,    /* char *, owned */
	SG_CFG_STRV,   /* char **, owned, with its size_t count at off_n */
	SG_CFG_ENUM,   /* int: the index of the value in names */
	SG_CFG_SECTION, /* an object loaded with the table `sub` into the struct at off */
	SG_CFG_CUSTOM, /* parse() reads the key; the owner frees what it stored */
};

#define SG_CFG_REQUIRED 0x1u /* absent is an error, reported before any value is read */
#define SG_CFG_NONEMPTY 0x2u /* STR: "" is an error; STRV: [] is an error */
#define SG_CFG_RESTART  0x4u /* a reload does not apply it: a change is logged as waiting */

struct sg_cfg_key {
	const char *name;      /* NULL ends the table */
	enum sg_cfg_type type;
	unsigned flags;        /* SG_CFG_* */
	size_t off;            /* the field in the section's struct */
	size_t off_n;          /* STRV: the count's field */
	uint64_t min, max;     /* U32, SIZE */
	uint64_t def;          /* BOOL, U32, SIZE, ENUM: the default */
	const char *def_str;   /* STR: the default (copied), or NULL */
	const char *const *names; /* ENUM: the values, in the order of the C enum */
	const char *what;      /* ENUM: what a value is, in errors ("log level") */
	const struct sg_cfg_key *sub; /* SECTION: its keys */
	sg_cfg_check_fn check; /* STR, STRV: each value's check, or NULL */
	/* CUSTOM: reads obj[key] (absent included) into `base`. */
	int (*parse)(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		     void *base);
	/* Any type but CUSTOM: a rule across keys, run after the key's turn (present or not)
	 * with the key's path; may be NULL. */
	int (*after)(struct sg_cfg_ld *ld, const char *path, void *base);
	/* CUSTOM with SG_CFG_RESTART: whether two sections hold the same value. */
	int (*same)(const void *a, const void *b);
};

#define SG_CFG_KEY_U32(k, st, f, lo, hi, d, fl) \
	{ .name = (k), .type = SG_CFG_U32, .flags = (fl), .off = offsetof(st, f), \
	  .min = (lo), .max = (hi), .def = (d) }
#define SG_CFG_KEY_SIZE(k, st, f, lo, hi, d, fl) \
	{ .name = (k), .type = SG_CFG_SIZE, .flags = (fl), .off = offsetof(st, f), \
	  .min = (lo), .max = (hi), .def = (d) }
#define SG_CFG_KEY_BOOL(k, st, f, d, fl) \
	{ .name = (k), .type = SG_CFG_BOOL, .flags = (fl), .off = offsetof(st, f), .def = (d) }
#define SG_CFG_KEY_STR(k, st, f, d, fl, chk) \
	{ .name = (k), .type = SG_CFG_STR, .flags = (fl), .off = offsetof(st, f), \
	  .def_str = (d), .check = (chk) }
#define SG_CFG_KEY_STRV(k, st, f, n, fl, chk) \
	{ .name = (k), .type = SG_CFG_STRV, .flags = (fl), .off = offsetof(st, f), \
	  .off_n = offsetof(st, n), .check = (chk) }
#define SG_CFG_KEY_ENUM(k, st, f, nm, wh, d, fl) \
	{ .name = (k), .type = SG_CFG_ENUM, .flags = (fl), .off = offsetof(st, f), \
	  .names = (nm), .what = (wh), .def = (d) }
#define SG_CFG_KEY_SECTION(k, st, f, keys, fl) \
	{ .name = (k), .type = SG_CFG_SECTION, .flags = (fl), .off = offsetof(st, f), .sub = (keys) }
#define SG_CFG_KEY_CUSTOM(k, fn, sm, fl) \
	{ .name = (k), .type = SG_CFG_CUSTOM, .flags = (fl), .parse = (fn), .same = (sm) }
#define SG_CFG_KEY_END { .name = NULL }

/* Sets every default of the table in `base`. Returns -1 when out of memory. */
int sg_cfg_defaults(const struct sg_cfg_key *keys, void *base);
/* Loads one section object: unknown keys, then required ones, then each key in table
 * order (so errors come in that order). Values of absent keys stay as they are. */
int sg_cfg_load(struct sg_cfg_ld *ld, json_t *obj, const char *path,
		const struct sg_cfg_key *keys, void *base);
/* Loads the optional object obj[key] with `keys` into `base`: the body of a section. */
int sg_cfg_section(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		   const struct sg_cfg_key *keys, void *base);
/* Frees the STR and STRV fields of the table (CUSTOM ones are the owner's). */
void sg_cfg_free(const struct sg_cfg_key *keys, void *base);
/* Calls found() with "<path>.<key>" for each key marked SG_CFG_RESTART whose value differs
 * between the sections `a` and `b` (the running config and the one a reload loaded). */
void sg_cfg_restart_changes(const struct sg_cfg_key *keys, const char *path, const void *a,
			    const void *b, void (*found)(void *ud, const char *key_path), void *ud);

#endif
