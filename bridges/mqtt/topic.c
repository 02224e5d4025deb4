/* topic.c - MQTT topic templates, filters, matching and the percent-escaping of room names
 * and other placeholder values (see topic.h and docs/mqtt.md, "Room names in topics"). */
#include "topic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "template.h"

/* ---------------------------------------------------------------- filters */

int mq_filter_check(const char *f, char *why, size_t len)
{
	size_t n = strlen(f);

	if (!n)
		return sgm_errf(why, len, "an MQTT topic cannot be empty");
	if (n > MQ_TOPIC_MAX)
		return sgm_errf(why, len, "an MQTT topic has at most %d bytes", MQ_TOPIC_MAX);
	if (!strncmp(f, "$share/", 7))
		return sgm_errf(why, len, "shared subscriptions ($share/...) are not supported: every gateway "
			    "replica must receive every message");
	for (size_t i = 0; i < n; i++) {
		int level_start = i == 0 || f[i - 1] == '/', level_end = i + 1 == n || f[i + 1] == '/';

		if (f[i] == '+' && !(level_start && level_end))
			return sgm_errf(why, len, "'%s': '+' must be a whole topic level", f);
		if (f[i] == '#' && !(level_start && i + 1 == n))
			return sgm_errf(why, len, "'%s': '#' must be the whole last topic level", f);
	}
	return 0;
}

int mq_name_check(const char *t, char *why, size_t len)
{
	if (mq_filter_check(t, why, len))
		return -1;
	if (strpbrk(t, "+#"))
		return sgm_errf(why, len, "'%s': a topic to publish to cannot contain the wildcards '+' or '#'", t);
	if (t[0] == '$')
		return sgm_errf(why, len, "'%s': topics starting with '$' are reserved for the broker", t);
	return 0;
}

int mq_filter_match(const char *f, const char *t)
{
	if ((f[0] == '+' || f[0] == '#') && t[0] == '$')
		return 0;
	for (;;) {
		size_t fl, tl;

		if (f[0] == '#' && f[1] == '\0')
			return 1;
		fl = strcspn(f, "/");
		tl = strcspn(t, "/");
		if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, t, fl)))
			return 0;
		f += fl;
		t += tl;
		if (!*f && !*t)
			return 1;
		if (!*t)
			return !strcmp(f, "/#"); /* "a/#" matches "a" too */
		if (!*f)
			return 0;
		f++;
		t++;
	}
}

/* ---------------------------------------------------------------- to_clients templates */

void mq_topic_clear(struct mq_topic *t)
{
	free(t->filter);
	free(t->room_pre);
	free(t->room_suf);
	free(t->event_pre);
	free(t->event_suf);
	memset(t, 0, sizeof(*t));
	t->room_level = t->event_level = -1;
}

int mq_topic_parse(const char *tpl, struct mq_topic *t, char *why, size_t whylen)
{
	struct sg_strbuf f;
	const char *lv = tpl;
	int level = 0;

	memset(t, 0, sizeof(*t));
	t->room_level = t->event_level = -1;
	sg_strbuf_init(&f);
	for (;;) {
		size_t n = strcspn(lv, "/");
		const char *open = memchr(lv, '{', n), *close = memchr(lv, '}', n);
		int last = lv[n] == '\0';

		if (open || close) {
			const char *name, *what;
			size_t nl;
			char **pre, **suf;
			int *at;

			if (!open || !close || close < open)
				goto unbalanced;
			name = open + 1;
			nl = (size_t)(close - name);
			if (memchr(close + 1, '{', n - (size_t)(close + 1 - lv)) ||
			    memchr(close + 1, '}', n - (size_t)(close + 1 - lv)) || memchr(lv, '}', (size_t)(open - lv))) {
				sgm_errf(why, whylen, "'%s': one placeholder per topic level at most", tpl);
				goto fail;
			}
			if (nl == 4 && !memcmp(name, "room", 4)) {
				what = "room", at = &t->room_level, pre = &t->room_pre, suf = &t->room_suf;
			} else if (nl == 5 && !memcmp(name, "event", 5)) {
				what = "event", at = &t->event_level, pre = &t->event_pre, suf = &t->event_suf;
			} else {
				sgm_errf(why, whylen, "'%s': unknown placeholder '%.*s' (only {room} and {event} may appear "
				     "in a to_clients topic)", tpl, (int)(nl + 2), open);
				goto fail;
			}
			if (*at >= 0) {
				sgm_errf(why, whylen, "'%s': {%s} may appear only once", tpl, what);
				goto fail;
			}
			*at = level;
			if (memchr(lv, '+', n) || memchr(lv, '#', n)) {
				sgm_errf(why, whylen, "'%s': a level with a placeholder cannot hold '+' or '#'", tpl);
				goto fail;
			}
			*pre = strndup(lv, (size_t)(open - lv));
			*suf = strndup(close + 1, n - (size_t)(close + 1 - lv));
			if (!*pre || !*suf) {
				sgm_errf(why, whylen, "out of memory");
				goto fail;
			}
			sg_strbuf_appendc(&f, '+');
		} else {
			sg_strbuf_append(&f, lv, n);
		}
		if (last)
			break;
		sg_strbuf_appendc(&f, '/');
		lv += n + 1;
		level++;
	}
	if (f.oom || !f.data) {
		sgm_errf(why, whylen, f.oom ? "out of memory" : "an MQTT topic cannot be empty");
		goto fail;
	}
	if (mq_filter_check(f.data, why, whylen))
		goto fail;
	t->filter = sg_strbuf_steal(&f);
	return 0;
unbalanced:
	sgm_errf(why, whylen, "'%s': unbalanced '{' or '}'", tpl);
fail:
	sg_strbuf_free(&f);
	mq_topic_clear(t);
	return -1;
}

/* The level `k` of topic: *len bytes at the returned pointer. */
static const char *level_of(const char *topic, int k, size_t *len)
{
	const char *p = topic;

	while (k-- > 0) {
		p = strchr(p, '/');
		if (!p)
			return NULL;
		p++;
	}
	*len = strcspn(p, "/");
	return p;
}

/* 1: the level has pre/suf around a non-empty middle, decoded into out; 0: no; -1: bad. */
static int extract(const char *topic, int level, const char *pre, const char *suf, char *out, size_t outlen,
		   const char *what, char *why, size_t whylen)
{
	size_t n, pl = strlen(pre), sl = strlen(suf);
	const char *l = level_of(topic, level, &n);

	if (!l || n < pl + sl || memcmp(l, pre, pl) || memcmp(l + n - sl, suf, sl))
		return 0;
	if (n == pl + sl)
		return sgm_errf(why, whylen, "the %s level of topic '%s' is empty", what, topic);
	if (mq_unescape(l + pl, n - pl - sl, out, outlen) < 0)
		return sgm_errf(why, whylen, "the %s level of topic '%s' is too long or decodes to a NUL byte", what, topic);
	return 1;
}

int mq_topic_match(const struct mq_topic *t, const char *topic, char *room, size_t roomlen,
		   char *event, size_t eventlen, char *why, size_t whylen)
{
	int rc;

	if (room && roomlen)
		room[0] = '\0';
	if (event && eventlen)
		event[0] = '\0';
	if (!mq_filter_match(t->filter, topic))
		return 0;
	if (t->room_level >= 0) {
		rc = extract(topic, t->room_level, t->room_pre, t->room_suf, room, roomlen, "room", why, whylen);
		if (rc <= 0)
			return rc;
	}
	if (t->event_level >= 0) {
		rc = extract(topic, t->event_level, t->event_pre, t->event_suf, event, eventlen, "event", why, whylen);
		if (rc <= 0)
			return rc;
	}
	return 1;
}

/* ---------------------------------------------------------------- escaping */

static void pct(struct sg_strbuf *out, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3] = {'%', hex[c >> 4], hex[c & 15]};

	sg_strbuf_append(out, e, 3);
}

void mq_escape(struct sg_strbuf *out, const char *s, size_t n, int at_start)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%' || c == '/' || c == '+' || c == '#' || c < 0x20 || c == 0x7f || (c == '$' && at_start && i == 0)) {
			pct(out, c);
		} else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f) {
			/* U+0080-U+009F, C1 controls: MQTT brokers refuse them in topics. */
			pct(out, c);
			pct(out, (unsigned char)s[++i]);
		} else {
			sg_strbuf_appendc(out, (char)c);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long mq_unescape(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		if (c == '\0' || o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return (long)o;
}

/* ---------------------------------------------------------------- from_clients templates */

int mq_up_template_check(const char *tpl, char *why, size_t len)
{
	if (tpl[0] == '$')
		return sgm_errf(why, len, "'%s': topics starting with '$' are reserved for the broker", tpl);
	for (const char *p = tpl; *p; p++) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			if (!close)
				return sgm_errf(why, len, "'%s': unclosed '{'", tpl);
			p = close;
		} else if (*p == '+' || *p == '#') {
			return sgm_errf(why, len, "'%s': a topic to publish to cannot contain the wildcards '+' or '#'", tpl);
		}
	}
	return 0;
}

struct xctx {
	const struct sg_bridge_event *ev;
	const char *room_field;
	int no_room;
};

static int x_lookup(void *ud, const char *name, size_t len, struct sg_strbuf *out)
{
	struct xctx *c = ud;
	int at_start = out->len == 0;
	struct sg_strbuf v;
	char key[128];
	int rc = 0;

	sg_strbuf_init(&v);
	if (len == 3 && !memcmp(name, "nsp", 3)) {
		const char *n = c->ev->nsp;
		if (!strcmp(n, "/")) {
			sg_strbuf_appendc(&v, '_');
		} else {
			/* As the shared mapping writes it: "/chat/eu" -> "chat.eu". */
			for (n += n[0] == '/'; *n; n++)
				sg_strbuf_appendc(&v, *n == '/' ? '.' : *n);
		}
	} else if (len == 5 && !memcmp(name, "event", 5)) {
		sg_strbuf_append(&v, c->ev->event, strlen(c->ev->event));
	} else if (len == 3 && !memcmp(name, "sid", 3)) {
		sg_strbuf_append(&v, c->ev->sid, strlen(c->ev->sid));
	} else if (len == 4 && !memcmp(name, "room", 4)) {
		const json_t *first = json_array_get(c->ev->args, 0);
		const char *room = json_string_value(json_object_get(first, c->room_field));
		if (!room || !room[0]) {
			c->no_room = 1;
			rc = -1;
		} else {
			sg_strbuf_append(&v, room, strlen(room));
		}
	} else {
		rc = sg_template_field_append(&v, name, len, key, sizeof(key), c->ev->auth, c->ev->claims,
					      c->ev->query);
	}
	if (!rc)
		mq_escape(out, v.data ? v.data : "", v.len, at_start);
	if (v.oom)
		out->oom = 1;
	sg_strbuf_free(&v);
	return rc;
}

char *mq_expand_topic(const char *tpl, const struct sg_bridge_event *ev, const char *room_field,
		      char *why, size_t whylen)
{
	struct xctx c = {ev, room_field ? room_field : "room", 0};
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	if (sg_template_expand(tpl, x_lookup, &c, &sb) || sb.oom) {
		if (sb.oom)
			sgm_errf(why, whylen, "out of memory");
		else if (c.no_room)
			sgm_errf(why, whylen, "topic: the event has no room (expected a '%s' string in its first argument)",
			     c.room_field);
		else
			sgm_errf(why, whylen, "topic: a value for the template '%s' is missing", tpl);
		sg_strbuf_free(&sb);
		return NULL;
	}
	if (!sb.len || sb.len > MQ_TOPIC_MAX) {
		sgm_errf(why, whylen, "topic: the topic would be %s", sb.len ? "longer than 65535 bytes" : "empty");
		sg_strbuf_free(&sb);
		return NULL;
	}
	return sg_strbuf_steal(&sb);
}
