/* mapping.c - validation and execution of to_clients / from_clients / control mappings,
 * shared by every bridge plugin (compiled into each; plugins never link the host). */
#include "mapping.h"
#include "util/reserved.h"
#include "events.h"
#include "requests.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"
#include "template.h"
#include "util/base64.h"
#include "util/regex.h"

#define JSON_FLAGS (JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)
#define REFUSED_LOG_INTERVAL_S 10   /* refused relays: at most one warning per interval */
#define LOG_ROOM_MAX 64             /* a client's room name in a log line, truncated */


struct down {
	char *topic;                 /* literal or template */
	enum sgm_rooms_from rooms;
	char *event;
	enum sgm_args_mode args;
	int is_volatile;
	int except_sender;
	int ignore_headers;          /* the record's sio- headers are not routing (a foreign topic) */
};

struct up {
	char *event;                 /* "*" = any */
	char *topic;                 /* template */
	char *key;                   /* template */
	char *room_field;
	char *rooms;                 /* template for sio-rooms, or NULL */
	size_t n_headers;
	char **hname, **htpl;
	int uses_room;               /* some template has {room}: the sender must be a member */
	int has_unjoined;
	regex_t unjoined;            /* unjoined_rooms: rooms a sender need not have joined */
	int reply_backend;           /* "reply": "backend": the backend's answer is the ack */
	unsigned reply_timeout_ms;
};

struct sgm_binding {
	char *nsp;                   /* a name, or the regex of a dynamic namespace */
	int is_pattern;
	regex_t re;
	struct down *down;
	size_t n_down;
	struct up *up;
	size_t n_up;
	char *control;
	char *dead_letter;
	struct sgm_events *events;   /* NULL: no lifecycle records */
	const struct sgm_flavor *fl;
	struct sgm_evdrv *drv;       /* borrowed: set by sgm_binding_set_driver */
	struct sgm_sub *subs;
	size_t n_subs;
	char **sub_strings;          /* owned strings the subs point to */
	size_t n_sub_strings;
	unsigned long relays_refused; /* relays to rooms the sender had not joined */
	time_t refused_logged;
};

/* ---------------------------------------------------------------- checking */

static const char *const bridge_keys[] = {"broker", "type", "to_clients", "from_clients",
					  "control_topic", "dead_letter_topic", "events", NULL};
static const char *const down_keys[] = {"topic", "rooms", "event", "args", "volatile", "except_sender",
					"ignore_headers", NULL};
static const char *const up_keys[] = {"event", "topic", "key", "room_field", "rooms", "headers", "reply",
				      "reply_timeout_ms",
				      "unjoined_rooms", NULL};

static int in_list(const char *k, const char *const *l)
{
	for (; l && *l; l++)
		if (!strcmp(k, *l))
			return 1;
	return 0;
}

static int check_keys(const json_t *o, const char *path, const char *const *keys,
		      const char *const *extra, char *err, size_t len)
{
	const char *k, *hint;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		if (in_list(k, keys) || in_list(k, extra))
			continue;
		hint = sg_suggest(k, keys, extra);
		if (hint)
			return sgm_errf(err, len, "%s: unknown key '%s' (did you mean '%s'?)", path, k, hint);
		return sgm_errf(err, len, "%s: unknown key '%s'", path, k);
	}
	return 0;
}

/* Placeholders allowed in upstream templates. */
static int up_placeholder_ok(const char *name, size_t n)
{
	static const char *const simple[] = {"nsp", "event", "room", "sid", NULL};
	static const char *const prefixes[] = {"auth.", "claims.", "query.", NULL};

	for (const char *const *s = simple; *s; s++)
		if (strlen(*s) == n && !memcmp(*s, name, n))
			return 1;
	for (const char *const *p = prefixes; *p; p++)
		if (n > strlen(*p) && !memcmp(*p, name, strlen(*p)))
			return 1;
	return 0;
}

static int check_template(const char *tpl, int (*ok)(const char *, size_t), char *why, size_t len)
{
	const char *p = tpl;

	if (!*tpl)
		return sgm_errf(why, len, "expected a non-empty string");
	while ((p = strchr(p, '{'))) {
		const char *end = strchr(p + 1, '}');

		if (!end)
			return sgm_errf(why, len, "unclosed '{'");
		if (!ok(p + 1, (size_t)(end - p - 1)))
			return sgm_errf(why, len, "unknown placeholder '%.*s'", (int)(end - p + 1), p);
		p = end + 1;
	}
	return 0;
}

/* The literal parts of a topic template must obey the broker's topic rules: checks a
 * sample with every placeholder written as "x". */
static int template_topic_ok(const struct sgm_flavor *fl, const char *tpl, char *why, size_t len)
{
	char sample[512], *w = sample;

	if (!fl || !fl->topic_ok)
		return 0;
	for (const char *c = tpl; *c && w < sample + sizeof(sample) - 2; c++) {
		if (*c == '{' && strchr(c, '}')) {
			*w++ = 'x';
			c = strchr(c, '}');
		} else {
			*w++ = *c;
		}
	}
	*w = '\0';
	return fl->topic_ok(sample, why, len);
}

static int room_placeholder_only(const char *name, size_t n)
{
	return n == 4 && !memcmp(name, "room", 4);
}

static int str_member(const json_t *o, const char *key, const char *path, int required,
		      const char **out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v) {
		if (required)
			return sgm_errf(err, len, "%s: missing required key '%s'", path, key);
		return 0;
	}
	if (!json_is_string(v) || !json_string_length(v))
		return sgm_errf(err, len, "%s%s%s: expected a non-empty string", path, path[0] ? "." : "", key);
	*out = json_string_value(v);
	return 0;
}

static int enum_member(const json_t *o, const char *key, const char *path, const char *const *vals,
		       int *out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (!v)
		return 0;
	s = json_string_value(v);
	for (int i = 0; s && vals[i]; i++)
		if (!strcmp(s, vals[i])) {
			*out = i;
			return 0;
		}
	{
		char known[128] = "";
		for (int i = 0; vals[i]; i++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "", vals[i]);
		return sgm_errf(err, len, "%s.%s: expected one of %s", path, key, known);
	}
}

static int bool_member(const json_t *o, const char *key, const char *path, int *out, char *err, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return sgm_errf(err, len, "%s.%s: expected a boolean", path, key);
	*out = json_is_true(v);
	return 0;
}

static int topic_check(const struct sgm_flavor *fl, const char *path, const char *topic, int tpl_ok,
		       char *err, size_t len)
{
	char why[160];

	if (strchr(topic, '{')) {
		if (!tpl_ok)
			return sgm_errf(err, len, "%s: placeholders are not allowed here", path);
		return 0; /* templates are checked separately; their literal parts below */
	}
	if (fl && fl->topic_ok && fl->topic_ok(topic, why, sizeof(why)))
		return sgm_errf(err, len, "%s: %s", path, why);
	return 0;
}

static const char *const rooms_vals[] = {"auto", "header", "key", "topic", "all", NULL};
static const char *const reply_vals[] = {"broker", "backend", NULL};
static const char *const args_vals[] = {"value", "spread", "binary", NULL};

static int parse_down(const json_t *o, const char *path, const struct sgm_flavor *fl, struct down *d,
		      char *err, size_t len)
{
	const char *topic, *event;
	char p[96], why[160];
	int rooms = SGM_ROOMS_AUTO, args = SGM_ARGS_VALUE;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(o))
		return sgm_errf(err, len, "%s: expected an object", path);
	if (check_keys(o, path, down_keys, NULL, err, len) ||
	    str_member(o, "topic", path, 1, &topic, err, len) ||
	    str_member(o, "event", path, 0, &event, err, len) ||
	    enum_member(o, "rooms", path, rooms_vals, &rooms, err, len) ||
	    enum_member(o, "args", path, args_vals, &args, err, len) ||
	    bool_member(o, "volatile", path, &d->is_volatile, err, len) ||
	    bool_member(o, "except_sender", path, &d->except_sender, err, len) ||
	    bool_member(o, "ignore_headers", path, &d->ignore_headers, err, len))
		return -1;
	if (event && sg_event_reserved(event))
		return sgm_errf(err, len, "%s.event: '%s' is a reserved event name", path, event);
	if (d->ignore_headers && rooms == SGM_ROOMS_HEADER)
		return sgm_errf(err, len, "%s.rooms: \"header\" reads sio-rooms, which ignore_headers drops", path);
	snprintf(p, sizeof(p), "%s.topic", path);
	if (strchr(topic, '{')) {
		const char *a = strchr(topic, '{');
		if (check_template(topic, room_placeholder_only, why, sizeof(why)))
			return sgm_errf(err, len, "%s: %s (only {room} may appear in a to_clients topic)", p, why);
		if (strchr(strchr(a, '}') + 1, '{'))
			return sgm_errf(err, len, "%s: {room} may appear only once", p);
		if (template_topic_ok(fl, topic, why, sizeof(why)))
			return sgm_errf(err, len, "%s: %s", p, why);
		if (rooms != SGM_ROOMS_AUTO && rooms != SGM_ROOMS_TOPIC)
			return sgm_errf(err, len, "%s.rooms: a topic template takes its room from the topic ('topic')", path);
		rooms = SGM_ROOMS_TOPIC;
	} else {
		if (topic_check(fl, p, topic, 0, err, len))
			return -1;
		if (rooms == SGM_ROOMS_TOPIC)
			return sgm_errf(err, len, "%s.rooms: 'topic' needs a topic template with {room}", path);
	}
	d->topic = strdup(topic);
	d->event = strdup(event ? event : "message");
	d->rooms = (enum sgm_rooms_from)rooms;
	d->args = (enum sgm_args_mode)args;
	return d->topic && d->event ? 0 : sgm_errf(err, len, "%s: out of memory", path);
}

static void free_down(struct down *d)
{
	free(d->topic);
	free(d->event);
}

static int parse_up(const json_t *o, const char *path, const struct sgm_flavor *fl, struct up *u,
		    char *err, size_t len)
{
	const char *event, *topic, *key, *room_field, *rooms, *unjoined;
	json_t *headers;
	char why[160];
	int rc;

	memset(u, 0, sizeof(*u));
	if (!json_is_object(o))
		return sgm_errf(err, len, "%s: expected an object", path);
	if (check_keys(o, path, up_keys, NULL, err, len) ||
	    str_member(o, "event", path, 1, &event, err, len) ||
	    str_member(o, "topic", path, 1, &topic, err, len) ||
	    str_member(o, "key", path, 0, &key, err, len) ||
	    str_member(o, "room_field", path, 0, &room_field, err, len) ||
	    str_member(o, "rooms", path, 0, &rooms, err, len) ||
	    str_member(o, "unjoined_rooms", path, 0, &unjoined, err, len) ||
	    enum_member(o, "reply", path, reply_vals, &u->reply_backend, err, len))
		return -1;
	u->reply_timeout_ms = SGM_REPLY_TIMEOUT_DEFAULT_MS;
	if (json_object_get(o, "reply_timeout_ms")) {
		const json_t *t = json_object_get(o, "reply_timeout_ms");
		double d = json_number_value(t);

		if (!json_is_number(t) || d != (double)(long long)d || d < 1 || d > SGM_REPLY_TIMEOUT_MAX_MS)
			return sgm_errf(err, len, "%s.reply_timeout_ms: expected an integer from 1 to %d", path,
					SGM_REPLY_TIMEOUT_MAX_MS);
		if (!u->reply_backend)
			return sgm_errf(err, len, "%s.reply_timeout_ms: only with \"reply\": \"backend\"", path);
		u->reply_timeout_ms = (unsigned)d;
	}
	if (check_template(topic, up_placeholder_ok, why, sizeof(why)))
		return sgm_errf(err, len, "%s.topic: %s", path, why);
	if (template_topic_ok(fl, topic, why, sizeof(why)))
		return sgm_errf(err, len, "%s.topic: %s", path, why);
	if (key && check_template(key, up_placeholder_ok, why, sizeof(why)))
		return sgm_errf(err, len, "%s.key: %s", path, why);
	if (rooms && check_template(rooms, up_placeholder_ok, why, sizeof(why)))
		return sgm_errf(err, len, "%s.rooms: %s", path, why);
	headers = json_object_get(o, "headers");
	if (headers) {
		const char *k;
		json_t *v;

		if (!json_is_object(headers))
			return sgm_errf(err, len, "%s.headers: expected an object", path);
		u->hname = calloc(json_object_size(headers) + 1, sizeof(char *));
		u->htpl = calloc(json_object_size(headers) + 1, sizeof(char *));
		if (!u->hname || !u->htpl)
			return sgm_errf(err, len, "%s.headers: out of memory", path);
		json_object_foreach(headers, k, v) {
			if (!json_is_string(v) || check_template(json_string_value(v), up_placeholder_ok, why, sizeof(why)))
				return sgm_errf(err, len, "%s.headers.%s: %s", path, k,
					    json_is_string(v) ? why : "expected a string");
			if (!strncmp(k, "sio-", 4))
				return sgm_errf(err, len, "%s.headers.%s: the sio- prefix is reserved", path, k);
			if (u->n_headers + 8 >= SGM_MAX_HEADERS) /* room for the sio- headers */
				return sgm_errf(err, len, "%s.headers: too many headers", path);
			u->hname[u->n_headers] = strdup(k);
			u->htpl[u->n_headers] = strdup(json_string_value(v));
			u->uses_room |= strstr(json_string_value(v), "{room}") != NULL;
			u->n_headers++;
		}
	}
	u->uses_room |= strstr(topic, "{room}") || (key && strstr(key, "{room}")) ||
			(rooms && strstr(rooms, "{room}"));
	if (unjoined) {
		if (!u->uses_room && !rooms)
			return sgm_errf(err, len, "%s.unjoined_rooms: the entry targets no room "
				    "(no rooms, and no {room} in topic, key or headers)", path);
		if ((rc = regcomp(&u->unjoined, unjoined, REG_EXTENDED))) {
			regerror(rc, &u->unjoined, why, sizeof(why));
			return sgm_errf(err, len, "%s.unjoined_rooms: invalid regular expression (%s)", path, why);
		}
		u->has_unjoined = 1;
	}
	u->event = strdup(event);
	u->topic = strdup(topic);
	u->key = strdup(key ? key : "{sid}");
	u->room_field = strdup(room_field ? room_field : "room");
	u->rooms = rooms ? strdup(rooms) : NULL;
	return 0;
}

static void free_up(struct up *u)
{
	free(u->event);
	free(u->topic);
	free(u->key);
	free(u->room_field);
	free(u->rooms);
	for (size_t i = 0; i < u->n_headers; i++) {
		free(u->hname[i]);
		free(u->htpl[i]);
	}
	free(u->hname);
	free(u->htpl);
	if (u->has_unjoined)
		regfree(&u->unjoined);
}

void sgm_binding_free(struct sgm_binding *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_down; i++)
		free_down(&b->down[i]);
	for (size_t i = 0; i < b->n_up; i++)
		free_up(&b->up[i]);
	free(b->down);
	free(b->up);
	if (b->is_pattern)
		regfree(&b->re);
	free(b->nsp);
	free(b->control);
	free(b->dead_letter);
	if (b->events)
		sgm_events_clear(b->events);
	free(b->events);
	free(b->subs);
	for (size_t i = 0; i < b->n_sub_strings; i++)
		free(b->sub_strings[i]);
	free(b->sub_strings);
	free(b);
}

static char *keep(struct sgm_binding *b, char *s)
{
	char **n = realloc(b->sub_strings, (b->n_sub_strings + 1) * sizeof(*n));

	if (!n || !s) {
		free(s);
		return NULL;
	}
	b->sub_strings = n;
	b->sub_strings[b->n_sub_strings++] = s;
	return s;
}

/* "^<escaped prefix>(.+)<escaped suffix>$" for a {room} template. */
static char *template_regex(const char *prefix, size_t plen, const char *suffix)
{
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	sg_strbuf_appendc(&sb, '^');
	for (size_t i = 0; i < plen; i++) {
		if (strchr(".[]{}()\\*+?|^$", prefix[i]))
			sg_strbuf_appendc(&sb, '\\');
		sg_strbuf_appendc(&sb, prefix[i]);
	}
	sg_strbuf_append(&sb, "(.+)", 4);
	for (const char *c = suffix; *c; c++) {
		if (strchr(".[]{}()\\*+?|^$", *c))
			sg_strbuf_appendc(&sb, '\\');
		sg_strbuf_appendc(&sb, *c);
	}
	sg_strbuf_appendc(&sb, '$');
	if (sb.oom) {
		sg_strbuf_free(&sb);
		return NULL;
	}
	return sg_strbuf_steal(&sb);
}

static struct sgm_binding *parse(const char *nsp, int is_pattern, const json_t *bridge,
				 const struct sgm_flavor *fl, const char *const *extra_keys,
				 char *err, size_t len)
{
	struct sgm_binding *b = calloc(1, sizeof(*b));
	json_t *down = json_object_get(bridge, "to_clients"), *up = json_object_get(bridge, "from_clients");
	const char *control, *dlq;
	char p[64];

	if (!b) {
		sgm_errf(err, len, ": out of memory");
		return NULL;
	}
	if (check_keys(bridge, "", bridge_keys, extra_keys, err, len) ||
	    str_member(bridge, "control_topic", "", 0, &control, err, len) ||
	    str_member(bridge, "dead_letter_topic", "", 0, &dlq, err, len))
		goto fail;
	/* str_member's path is empty at the top: drop the leading '.' it would print. */
	if ((control && topic_check(fl, "control_topic", control, 0, err, len)) ||
	    (dlq && topic_check(fl, "dead_letter_topic", dlq, 0, err, len)))
		goto fail;
	if (down && !json_is_array(down)) {
		sgm_errf(err, len, "to_clients: expected an array");
		goto fail;
	}
	if (up && !json_is_array(up)) {
		sgm_errf(err, len, "from_clients: expected an array");
		goto fail;
	}
	if (!json_array_size(down) && !json_array_size(up) && !control && !json_object_get(bridge, "events")) {
		sgm_errf(err, len, ": a bridge needs at least one of to_clients, from_clients, control_topic or events");
		goto fail;
	}
	b->fl = fl;
	if (json_object_get(bridge, "events")) {
		if (!(b->events = calloc(1, sizeof(*b->events)))) {
			sgm_errf(err, len, ": out of memory");
			goto fail;
		}
		if (sgm_events_parse(json_object_get(bridge, "events"), fl, b->events, err, len))
			goto fail;
	}
	b->down = calloc(json_array_size(down) + 1, sizeof(*b->down));
	b->up = calloc(json_array_size(up) + 1, sizeof(*b->up));
	if (!b->down || !b->up) {
		sgm_errf(err, len, ": out of memory");
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(down); i++) {
		snprintf(p, sizeof(p), "to_clients[%zu]", i);
		b->n_down = i + 1;
		if (parse_down(json_array_get(down, i), p, fl, &b->down[i], err, len))
			goto fail;
	}
	for (size_t i = 0; i < json_array_size(up); i++) {
		snprintf(p, sizeof(p), "from_clients[%zu]", i);
		b->n_up = i + 1;
		if (parse_up(json_array_get(up, i), p, fl, &b->up[i], err, len))
			goto fail;
	}
	b->control = control ? strdup(control) : NULL;
	b->dead_letter = dlq ? strdup(dlq) : NULL;
	b->nsp = strdup(nsp ? nsp : "/");
	b->is_pattern = is_pattern;
	if (is_pattern && regcomp(&b->re, nsp, REG_EXTENDED)) {
		b->is_pattern = 0;
		sgm_errf(err, len, ": invalid namespace pattern");
		goto fail;
	}

	/* Subscriptions. */
	b->subs = calloc(b->n_down + 1, sizeof(*b->subs));
	if (!b->subs)
		goto oom;
	for (size_t i = 0; i < b->n_down; i++) {
		struct sgm_sub *s = &b->subs[b->n_subs++];
		const char *t = b->down[i].topic, *open = strchr(t, '{');

		s->index = (int)i;
		if (!open) {
			s->literal = t;
			continue;
		}
		s->prefix = keep(b, strndup(t, (size_t)(open - t)));
		s->suffix = strchr(open, '}') + 1;
		s->regex = keep(b, template_regex(t, (size_t)(open - t), s->suffix));
		if (!s->prefix || !s->regex)
			goto oom;
	}
	if (b->control) {
		struct sgm_sub *s = &b->subs[b->n_subs++];
		s->literal = b->control;
		s->control = 1;
		s->index = -1;
	}
	return b;
oom:
	sgm_errf(err, len, ": out of memory");
fail:
	sgm_binding_free(b);
	return NULL;
}

int sgm_check(const json_t *bridge, const struct sgm_flavor *fl, char *err, size_t errlen)
{
	struct sgm_binding *b = parse("/", 0, bridge, fl, fl ? fl->extra_keys : NULL, err, errlen);

	if (!b)
		return -1;
	sgm_binding_free(b);
	return 0;
}

int sgm_bindings_add(struct sgm_binding ***v, size_t *n, const char *nsp, int is_pattern, const json_t *bridge,
		     const struct sgm_flavor *fl, char *err, size_t errlen)
{
	struct sgm_binding *b = sgm_binding_new(nsp, is_pattern, bridge, fl, err, errlen), **nv;

	if (!b)
		return -1;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		sgm_binding_free(b);
		snprintf(err, errlen, ": out of memory");
		return -1;
	}
	*v = nv;
	nv[*n] = b;
	return (int)(*n)++;
}

void sgm_bindings_free(struct sgm_binding **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sgm_binding_free(v[i]);
	free(v);
}

struct sgm_binding *sgm_binding_new(const char *nsp, int is_pattern, const json_t *bridge,
				    const struct sgm_flavor *fl, char *err, size_t errlen)
{
	return parse(nsp, is_pattern, bridge, fl, fl ? fl->extra_keys : NULL, err, errlen);
}

size_t sgm_subs(const struct sgm_binding *b, const struct sgm_sub **subs)
{
	*subs = b->subs;
	return b->n_subs;
}

int sgm_sub_match(const struct sgm_sub *s, const char *topic, char *room, size_t roomlen)
{
	size_t tl = strlen(topic), pl, sl;

	if (s->literal)
		return !strcmp(s->literal, topic);
	pl = strlen(s->prefix);
	sl = strlen(s->suffix);
	if (tl <= pl + sl || strncmp(topic, s->prefix, pl) || strcmp(topic + tl - sl, s->suffix))
		return 0;
	if (room) {
		size_t n = tl - pl - sl;
		if (n >= roomlen)
			return 0;
		memcpy(room, topic + pl, n);
		room[n] = '\0';
	}
	return 1;
}

const char *sgm_dead_letter(const struct sgm_binding *b) { return b->dead_letter; }
const char *sgm_namespace(const struct sgm_binding *b) { return b->nsp; }

int sgm_binding_waits_for_backend(const struct sgm_binding *b)
{
	for (size_t i = 0; i < b->n_up; i++)
		if (b->up[i].reply_backend)
			return 1;
	return 0;
}

int sgm_route_reply(const struct sgm_binding *b, int route, unsigned *timeout_ms)
{
	if (route < 0 || (size_t)route >= b->n_up || !b->up[route].reply_backend)
		return 0;
	*timeout_ms = b->up[route].reply_timeout_ms;
	return 1;
}
const struct sgm_events *sgm_binding_events(const struct sgm_binding *b) { return b->events; }
int sgm_binding_set_driver(struct sgm_binding *b, struct sgm_evdrv *d)
{
	if (sgm_evdrv_add(d, b, b->nsp, b->is_pattern, b->events))
		return -1;
	b->drv = d;
	return 0;
}

/* ---------------------------------------------------------------- downstream */

/* Splits "a, b,c" into owned strings; returns the count or -1 (too many / bad). */
static long split_list(const char *v, size_t n, char **out, size_t max, char *buf, size_t buflen)
{
	size_t count = 0, o = 0, i = 0;

	if (n >= buflen)
		return -1;
	while (i < n) {
		size_t start, end;

		while (i < n && (v[i] == ' ' || v[i] == ','))
			i++;
		start = i;
		while (i < n && v[i] != ',')
			i++;
		end = i;
		while (end > start && v[end - 1] == ' ')
			end--;
		if (end == start)
			continue;
		if (count == max || memchr(v + start, '\0', end - start))
			return -1;
		memcpy(buf + o, v + start, end - start);
		buf[o + end - start] = '\0';
		out[count++] = buf + o;
		o += end - start + 1;
	}
	return (long)count;
}

#define MAX_ASK_ID 256

/* An emit that asks each recipient for an answer, produced to `reply_to` keyed by `id`. */
static long ask(struct sgm_binding *b, const struct sg_bridge_emit *em, const char *reply_to, const char *id,
		long long timeout_ms, char *why, size_t whylen)
{
	struct sgm_reqs *r = sgm_evdrv_reqs(b->drv);
	char tw[160];

	if (!r)
		return sgm_errf(why, whylen, "this bridge does not ask clients for answers");
	if (!id[0] || strlen(id) > MAX_ASK_ID)
		return sgm_errf(why, whylen, "the request id must be a non-empty string of at most %d bytes", MAX_ASK_ID);
	if (!reply_to[0])
		return sgm_errf(why, whylen, "the reply topic is empty");
	if (sgm_publish_ok(b->fl, reply_to, tw, sizeof(tw)))
		return sgm_errf(why, whylen, "the reply topic: %s", tw);
	if (timeout_ms < 1 || timeout_ms > SGM_ACK_TIMEOUT_MAX_MS)
		return sgm_errf(why, whylen, "the answer timeout must be an integer from 1 to %d ms", SGM_ACK_TIMEOUT_MAX_MS);
	return sgm_ask(r, em, reply_to, id, (unsigned)timeout_ms, why, whylen);
}

/* A header's value as a NUL-terminated copy in buf, or NULL (absent); -1 in *bad when it
 * does not fit or holds a NUL. */
static const char *header_str(const struct sgm_msg *m, const char *name, char *buf, size_t len, int *bad)
{
	size_t hl;
	const char *hv = sgm_header(m, name, &hl);

	if (!hv)
		return NULL;
	if (hl >= len || memchr(hv, '\0', hl)) {
		*bad = 1;
		return NULL;
	}
	memcpy(buf, hv, hl);
	buf[hl] = '\0';
	return buf;
}

static long deliver_event(struct sgm_binding *b, const struct down *d, const char *nsp, const char *topic_room,
			  const struct sgm_msg *m, const struct sg_host_api *api, struct sg_host *h,
			  char *why, size_t whylen)
{
	char rbuf[4096], ebuf[4096], evbuf[256], sidbuf[64];
	char *rooms[SGM_MAX_ROOMS], *except[SGM_MAX_ROOMS];
	long n_rooms = 0, n_except = 0, rc;
	struct sg_bridge_emit em;
	struct sgm_args a;
	size_t hl;
	const char *hv;

	(void)b;
	switch (d->rooms) {
	case SGM_ROOMS_TOPIC:
		rooms[0] = (char *)topic_room;
		n_rooms = 1;
		break;
	case SGM_ROOMS_ALL:
		break;
	case SGM_ROOMS_HEADER:
	case SGM_ROOMS_KEY:
	case SGM_ROOMS_AUTO:
		if (d->rooms != SGM_ROOMS_KEY && (hv = sgm_header(m, SGM_H_ROOMS, &hl))) {
			n_rooms = split_list(hv, hl, rooms, SGM_MAX_ROOMS, rbuf, sizeof(rbuf));
			if (n_rooms < 0)
				return sgm_errf(why, whylen, "bad sio-rooms header (at most %d rooms, no NUL)", SGM_MAX_ROOMS);
		} else if (d->rooms != SGM_ROOMS_HEADER && m->key && m->key_len) {
			if (m->key_len >= sizeof(rbuf) || memchr(m->key, '\0', m->key_len))
				return sgm_errf(why, whylen, "the key is not a room name");
			memcpy(rbuf, m->key, m->key_len);
			rbuf[m->key_len] = '\0';
			rooms[0] = rbuf;
			n_rooms = 1;
		}
		if (!n_rooms)
			return sgm_errf(why, whylen, "no room (%s)",
				    d->rooms == SGM_ROOMS_HEADER ? "no sio-rooms header"
				    : d->rooms == SGM_ROOMS_KEY  ? "no key"
								 : "no sio-rooms header and no key");
		break;
	}
	if ((hv = sgm_header(m, SGM_H_EXCEPT, &hl))) {
		n_except = split_list(hv, hl, except, SGM_MAX_ROOMS, ebuf, sizeof(ebuf));
		if (n_except < 0)
			return sgm_errf(why, whylen, "bad sio-except header");
	}
	memset(&em, 0, sizeof(em));
	em.event = d->event;
	if ((hv = sgm_header(m, SGM_H_EVENT, &hl))) {
		if (!hl || hl >= sizeof(evbuf) || memchr(hv, '\0', hl))
			return sgm_errf(why, whylen, "bad sio-event header");
		memcpy(evbuf, hv, hl);
		evbuf[hl] = '\0';
		em.event = evbuf;
	}
	if (sg_event_reserved(em.event))
		return sgm_errf(why, whylen, "'%s' is a reserved event name (Socket.IO clients drop a connection that "
			    "receives it)", em.event);
	if (sgm_msg_args_as(m, d->args, &a, why, whylen))
		return -1;
	em.nsp = nsp;
	em.rooms = (const char *const *)rooms;
	em.n_rooms = (size_t)n_rooms;
	em.except = (const char *const *)except;
	em.n_except = (size_t)n_except;
	em.args = a.args;
	em.att = a.att;
	em.n_att = a.n_att;
	em.is_volatile = d->is_volatile || sgm_header_is(m, SGM_H_VOLATILE, "true");
	if (d->except_sender && (hv = sgm_header(m, SGM_H_SID, &hl)) && hl < sizeof(sidbuf)) {
		memcpy(sidbuf, hv, hl);
		sidbuf[hl] = '\0';
		em.except_sid = sidbuf;
	}
	{
		char rt[1024], id[MAX_ASK_ID + 2], tmo[24], *end;
		int bad = 0;
		const char *reply_to = header_str(m, SGM_H_REPLY_TO, rt, sizeof(rt), &bad);
		const char *ack_id = header_str(m, SGM_H_ACK_ID, id, sizeof(id), &bad);
		const char *t = header_str(m, SGM_H_ACK_TIMEOUT, tmo, sizeof(tmo), &bad);
		long long timeout = SGM_ACK_TIMEOUT_DEFAULT_MS;

		if (t) {
			timeout = strtoll(t, &end, 10);
			if (end == t || *end)
				bad = 1;
		}
		if (bad || (!reply_to != !ack_id) || (t && !ack_id)) {
			sgm_args_clear(&a);
			return sgm_errf(why, whylen, "bad request headers (sio-reply-to and sio-ack-id go together; "
				    "sio-ack-timeout-ms is a number of ms)");
		}
		em.position = m->position;
		if (reply_to && m->replay) {
			rc = 0; /* a question was for those there at the time: not replayed */
		} else if (reply_to) {
			rc = ask(b, &em, reply_to, ack_id, timeout, why, whylen);
			sgm_args_clear(&a);
			return rc; /* -1: why says it */
		} else {
			rc = m->replay ? m->replay(m->replay_ud, &em) : api->emit(h, &em);
		}
	}
	sgm_args_clear(&a);
	if (rc == -1)
		return sgm_errf(why, whylen, "the event could not be encoded");
	return rc < 0 ? 0 : rc; /* -2: nobody connected to that namespace here */
}

static int strlist(json_t *a, const char **out, size_t max, size_t *n, const char *what, char *why, size_t whylen)
{
	*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > max)
		return sgm_errf(why, whylen, "'%s' must be an array of at most %zu strings", what, max);
	for (size_t i = 0; i < json_array_size(a); i++) {
		out[i] = json_string_value(json_array_get(a, i));
		if (!out[i] || !out[i][0])
			return sgm_errf(why, whylen, "'%s' must be an array of non-empty strings", what);
	}
	*n = json_array_size(a);
	return 0;
}

static long control(struct sgm_binding *b, const char *nsp, const struct sgm_msg *m, const struct sg_host_api *api,
		    struct sg_host *h, char *why, size_t whylen)
{
	const char *sids[SGM_MAX_ROOMS], *in[SGM_MAX_ROOMS], *except[SGM_MAX_ROOMS], *rooms[SGM_MAX_ROOMS];
	size_t n_sids, n_in, n_except, n_rooms;
	struct sg_bridge_target t;
	json_t *cmd = json_loadb(m->value, m->value_len, JSON_FLAGS, NULL), *ns;
	const char *op, *target_nsp = nsp;
	long rc = -1;

	if (!json_is_object(cmd)) {
		sgm_errf(why, whylen, "a control command must be a JSON object");
		goto out;
	}
	op = json_string_value(json_object_get(cmd, "op"));
	if (!op) {
		sgm_errf(why, whylen, "a control command needs \"op\"");
		goto out;
	}
	ns = json_object_get(cmd, "namespace");
	if (ns) {
		target_nsp = json_string_value(ns);
		if (!target_nsp) {
			sgm_errf(why, whylen, "\"namespace\" must be a string");
			goto out;
		}
		if (b->is_pattern ? !sg_regex_full_match(&b->re, target_nsp) : strcmp(target_nsp, b->nsp)) {
			rc = -2; /* for another binding */
			goto out;
		}
	} else if (b->is_pattern) {
		sgm_errf(why, whylen, "a control command for a dynamic namespace needs \"namespace\"");
		goto out;
	}
	if (strlist(json_object_get(cmd, "sids"), sids, SGM_MAX_ROOMS, &n_sids, "sids", why, whylen) ||
	    strlist(json_object_get(cmd, "in"), in, SGM_MAX_ROOMS, &n_in, "in", why, whylen) ||
	    strlist(json_object_get(cmd, "except"), except, SGM_MAX_ROOMS, &n_except, "except", why, whylen) ||
	    strlist(json_object_get(cmd, "rooms"), rooms, SGM_MAX_ROOMS, &n_rooms, "rooms", why, whylen))
		goto out;
	memset(&t, 0, sizeof(t));
	t.nsp = target_nsp;
	t.sids = sids;
	t.n_sids = n_sids;
	t.rooms = in;
	t.n_rooms = n_in;
	t.except = except;
	t.n_except = n_except;
	if (!strcmp(op, "join") || !strcmp(op, "leave")) {
		if (!n_rooms) {
			sgm_errf(why, whylen, "\"%s\" needs \"rooms\" (the rooms to %s)", op, op);
			goto out;
		}
		if (!n_sids && !n_in) {
			sgm_errf(why, whylen, "\"%s\" needs \"sids\" or \"in\" (which sockets)", op);
			goto out;
		}
		rc = op[0] == 'j' ? api->join(h, &t, rooms, n_rooms) : api->leave(h, &t, rooms, n_rooms);
	} else if (!strcmp(op, "disconnect")) {
		if (!n_sids && !n_in && !json_is_true(json_object_get(cmd, "all"))) {
			sgm_errf(why, whylen, "\"disconnect\" needs \"sids\", \"in\", or \"all\": true");
			goto out;
		}
		rc = api->disconnect(h, &t);
	} else if (!strcmp(op, "emit")) {
		const char *event = json_string_value(json_object_get(cmd, "event"));
		json_t *args = json_object_get(cmd, "args");
		struct sg_bridge_emit em;

		if (!event || !event[0] || (args && !json_is_array(args))) {
			sgm_errf(why, whylen, "\"emit\" needs \"event\" (a string) and \"args\" (an array, optional)");
			goto out;
		}
		if (sg_event_reserved(event)) {
			sgm_errf(why, whylen, "'%s' is a reserved event name (Socket.IO clients drop a connection that "
				 "receives it)", event);
			goto out;
		}
		if (sgm_has_placeholder(args)) {
			sgm_errf(why, whylen, "\"args\" contains a \"_placeholder\" object");
			goto out;
		}
		if (n_sids) {
			sgm_errf(why, whylen, "\"emit\" targets rooms: use \"in\" (a socket id is a room too)");
			goto out;
		}
		memset(&em, 0, sizeof(em));
		em.nsp = target_nsp;
		em.rooms = in;
		em.n_rooms = n_in;
		em.except = except;
		em.n_except = n_except;
		em.event = event;
		em.args = args;
		em.is_volatile = json_is_true(json_object_get(cmd, "volatile"));
		if (json_object_get(cmd, "reply_to") || json_object_get(cmd, "id") || json_object_get(cmd, "timeout_ms")) {
			const char *rt = json_string_value(json_object_get(cmd, "reply_to"));
			const char *id = json_string_value(json_object_get(cmd, "id"));
			const json_t *tm = json_object_get(cmd, "timeout_ms");
			double tv = tm ? json_number_value(tm) : SGM_ACK_TIMEOUT_DEFAULT_MS;

			if (!rt || !id || (tm && (!json_is_number(tm) || tv != (double)(long long)tv))) {
				sgm_errf(why, whylen, "an \"emit\" that asks for answers needs \"reply_to\" and \"id\" "
					 "(strings) and an integer \"timeout_ms\" (optional)");
				goto out;
			}
			why[0] = '\0';
			rc = ask(b, &em, rt, id, (long long)tv, why, whylen);
			if (rc == -1)
				goto out;
		} else {
			rc = api->emit(h, &em);
		}
		if (rc == -1) {
			sgm_errf(why, whylen, "the event could not be encoded");
			goto out;
		}
	} else if (!strcmp(op, "fetch_sockets") || !strcmp(op, "count") || !strcmp(op, "rooms")) {
		if (op[0] == 'r' && (n_sids || n_in || n_except)) {
			sgm_errf(why, whylen, "\"rooms\" takes no target (sids, in, except)");
			goto out;
		}
		rc = sgm_presence_query(b->drv, b->fl, op, cmd, &t, why, whylen);
	} else {
		sgm_errf(why, whylen, "unknown op '%.32s' (known: join, leave, disconnect, emit, fetch_sockets, count, rooms)",
			 op);
		goto out;
	}
	if (rc == -2)
		rc = 0; /* nobody connected to that namespace on this replica */
out:
	json_decref(cmd);
	return rc;
}

long sgm_deliver(struct sgm_binding *b, const struct sgm_sub *s, const struct sgm_msg *m,
		 const struct sg_host_api *api, struct sg_host *h, char *why, size_t whylen)
{
	char room[1024], nsp[256];
	const char *hv;
	size_t hl;

	if (s->control)
		return control(b, b->nsp, m, api, h, why, whylen);
	if (!sgm_sub_match(s, m->topic, room, sizeof(room)))
		return -2;
	if (b->down[s->index].ignore_headers) {
		/* A topic whose sio- headers mean something else (an events topic): the mapping
		 * alone says where the record goes and how. */
		struct sgm_msg plain = *m;

		plain.headers = NULL;
		plain.n_headers = 0;
		if (b->is_pattern)
			return sgm_errf(why, whylen, "ignore_headers: a dynamic namespace needs a sio-namespace header");
		return deliver_event(b, &b->down[s->index], b->nsp, room, &plain, api, h, why, whylen);
	}
	hv = sgm_header(m, SGM_H_NAMESPACE, &hl);
	if (hv) {
		if (!hl || hl >= sizeof(nsp) || memchr(hv, '\0', hl))
			return sgm_errf(why, whylen, "bad sio-namespace header");
		memcpy(nsp, hv, hl);
		nsp[hl] = '\0';
		if (b->is_pattern ? !sg_regex_full_match(&b->re, nsp) : strcmp(nsp, b->nsp))
			return -2;
	} else if (b->is_pattern) {
		return sgm_errf(why, whylen, "no sio-namespace header (the topic feeds a dynamic namespace)");
	} else {
		snprintf(nsp, sizeof(nsp), "%s", b->nsp);
	}
	return deliver_event(b, &b->down[s->index], nsp, room, m, api, h, why, whylen);
}

/* ---------------------------------------------------------------- upstream */

int sgm_route(const struct sgm_binding *b, const char *event)
{
	for (size_t i = 0; i < b->n_up; i++)
		if (!strcmp(b->up[i].event, "*") || !strcmp(b->up[i].event, event))
			return (int)i;
	return -1;
}

struct up_ctx {
	const struct up *u;
	const struct sg_bridge_event *ev;
	int topic;   /* expanding a topic: {nsp} loses its '/' */
};

static int up_lookup(void *ud, const char *name, size_t len, struct sg_strbuf *out)
{
	struct up_ctx *c = ud;
	char key[128];

	if (len == 3 && !memcmp(name, "nsp", 3)) {
		const char *n = c->ev->nsp;
		if (!c->topic) {
			sg_strbuf_append(out, n, strlen(n));
		} else if (!strcmp(n, "/")) {
			sg_strbuf_appendc(out, '_');
		} else {
			/* "/chat/eu" -> "chat.eu": brokers' topic names have no '/' (Kafka). */
			for (n++; *n; n++)
				sg_strbuf_appendc(out, *n == '/' ? '.' : *n);
		}
		return 0;
	}
	if (len == 5 && !memcmp(name, "event", 5)) {
		sg_strbuf_append(out, c->ev->event, strlen(c->ev->event));
		return 0;
	}
	if (len == 3 && !memcmp(name, "sid", 3)) {
		sg_strbuf_append(out, c->ev->sid, strlen(c->ev->sid));
		return 0;
	}
	if (len == 4 && !memcmp(name, "room", 4)) {
		const json_t *first = json_array_get(c->ev->args, 0);
		const char *room = json_string_value(json_object_get(first, c->u->room_field));
		if (!room || !room[0])
			return -1;
		sg_strbuf_append(out, room, strlen(room));
		return 0;
	}
	return sg_template_field_append(out, name, len, key, sizeof(key), c->ev->auth, c->ev->claims,
				       c->ev->query);
}

static char *expand(const char *tpl, struct up_ctx *c, int topic, const char *what, char *why, size_t whylen)
{
	struct sg_strbuf sb;

	c->topic = topic;
	sg_strbuf_init(&sb);
	if (sg_template_expand(tpl, up_lookup, c, &sb) || sb.oom) {
		sg_strbuf_free(&sb);
		if (strstr(tpl, "{room}") && !sb.oom)
			sgm_errf(why, whylen, "%s: the event has no room (expected a '%s' string in its first argument)",
			     what, c->u->room_field);
		else
			sgm_errf(why, whylen, "%s: a value for the template '%s' is missing", what, tpl);
		return NULL;
	}
	if (!sb.data)
		sg_strbuf_append(&sb, "", 0);
	return sg_strbuf_steal(&sb);
}

static int add_header(struct sgm_out *o, const char *name, char *value)
{
	if (!value || o->n_headers == SGM_MAX_HEADERS) {
		free(value);
		return -1;
	}
	o->hname[o->n_headers] = strdup(name);
	o->hvalue[o->n_headers] = value;
	if (!o->hname[o->n_headers]) {
		free(value);
		return -1;
	}
	o->n_headers++;
	return 0;
}

/* A client's string (room, event name) for a log line: truncated, control bytes shown as
 * '?' (text logs are one line per event). */
static void log_safe(char *out, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
}

/* The relay rule: an event goes out to a room (the {room} it names, or any room of the
 * entry's `rooms` header, whatever placeholders made it) only when its sender has joined
 * that room, or the room matches the entry's unjoined_rooms. Without it a client writes
 * into any room it can name (another user's private room included), directly or through
 * values it controls such as {query.x}. Returns 0 when the relay may go, or -1 with the
 * reason, counted and logged. */
static int relay_refused(struct sgm_binding *b, const struct up *u, const struct sg_bridge_event *ev,
			 const char *room, const struct sg_host_api *api, struct sg_host *h, char *why,
			 size_t whylen)
{
	char shown[LOG_ROOM_MAX + 1], shown_ev[LOG_ROOM_MAX + 1];
	const char *reason = "the sender has not joined it";
	time_t now;

	if (!room || !room[0])
		return 0; /* no room: expand() says it is missing */
	if (!strcmp(room, ev->sid) || (u->has_unjoined && sg_regex_full_match(&u->unjoined, room)))
		return 0; /* its own room, or one the entry opens to non-members */
	if (api && api->abi_minor >= 2 && api->is_member) {
		if (api->is_member(h, ev->nsp, ev->sid, room) == 1)
			return 0;
		sgm_errf(why, whylen, "not a member of room '%s'", room);
	} else {
		/* A host older than ABI 1.2 cannot answer: refusing is the safe side. */
		reason = "this siogate cannot check room membership (bridge ABI < 1.2)";
		sgm_errf(why, whylen, "%s", reason);
		if (!api)
			return -1;
	}
	b->relays_refused++;
	api->count(h, "relay_refused", "", 1);
	now = time(NULL);
	if (now - b->refused_logged >= REFUSED_LOG_INTERVAL_S) {
		log_safe(shown, sizeof(shown), room);
		log_safe(shown_ev, sizeof(shown_ev), ev->event);
		api->log(h, SG_BRIDGE_LOG_WARN,
			 "namespace '%s': event '%s' from socket %s not relayed to room '%s': %s (%lu refused so far)",
			 ev->nsp, shown_ev, ev->sid, shown, reason, b->relays_refused);
		b->refused_logged = now;
	}
	return -1;
}

/* Every room of an expanded `rooms` header passes the relay rule (see relay_refused). */
static int rooms_refused(struct sgm_binding *b, const struct up *u, const struct sg_bridge_event *ev,
			 const char *list, const struct sg_host_api *api, struct sg_host *h, char *why,
			 size_t whylen)
{
	size_t n = strlen(list);
	char *buf = malloc(n + 1), *rooms[SGM_MAX_ROOMS];
	long count = buf ? split_list(list, n, rooms, SGM_MAX_ROOMS, buf, n + 1) : -1;
	int rc = 0;

	if (count < 0) {
		if (!buf)
			return sgm_errf(why, whylen, "out of memory");
		free(buf);
		return sgm_errf(why, whylen, "the rooms template names more than %d rooms", SGM_MAX_ROOMS);
	}
	for (long i = 0; i < count && !rc; i++)
		rc = relay_refused(b, u, ev, rooms[i], api, h, why, whylen);
	free(buf);
	return rc;
}

int sgm_build(struct sgm_binding *b, int route, const struct sg_bridge_event *ev,
	      const struct sg_host_api *api, struct sg_host *h, struct sgm_out *out, char *why, size_t whylen)
{
	const struct up *u = &b->up[route];
	struct up_ctx c = {u, ev, 0};
	struct sg_strbuf sb;
	json_t *args;

	memset(out, 0, sizeof(*out));
	if (u->uses_room &&
	    relay_refused(b, u, ev, json_string_value(json_object_get(json_array_get(ev->args, 0), u->room_field)),
			  api, h, why, whylen))
		return -1;
	if (!(out->topic = expand(u->topic, &c, 1, "topic", why, whylen)) ||
	    !(out->key = expand(u->key, &c, 0, "key", why, whylen)))
		goto fail;
	/* The value is the array of arguments: "spread" says so, and lets a to_clients
	 * mapping relay it back to clients as the same arguments. */
	if (add_header(out, SGM_H_NAMESPACE, strdup(ev->nsp)) ||
	    add_header(out, SGM_H_EVENT, strdup(ev->event)) ||
	    add_header(out, SGM_H_SID, strdup(ev->sid)) ||
	    add_header(out, SGM_H_ARGS, strdup("spread")))
		goto oom;
	if (u->rooms) {
		char *r = expand(u->rooms, &c, 0, "rooms", why, whylen);
		if (!r || rooms_refused(b, u, ev, r, api, h, why, whylen)) {
			free(r);
			goto fail;
		}
		if (add_header(out, SGM_H_ROOMS, r))
			goto fail;
	}
	for (size_t i = 0; i < u->n_headers; i++) {
		char *v = expand(u->htpl[i], &c, 0, u->hname[i], why, whylen);
		if (!v || add_header(out, u->hname[i], v))
			goto fail;
	}
	args = sgm_args_json(ev->args, ev->att, ev->n_att);
	if (!args)
		goto oom;
	sg_strbuf_init(&sb);
	if (sg_json_append(&sb, args) || sb.oom) {
		json_decref(args);
		sg_strbuf_free(&sb);
		sgm_errf(why, whylen, "the arguments cannot be encoded as JSON");
		goto fail;
	}
	json_decref(args);
	out->value_len = sb.len;
	out->value = sg_strbuf_steal(&sb);
	if (!out->value)
		goto oom;
	return 0;
oom:
	sgm_errf(why, whylen, "out of memory");
fail:
	sgm_out_clear(out);
	return -1;
}
