/* test_mapping.c - the broker-neutral mapping (bridges/common/mapping.c) driven through a fake
 * host table that records every call: config checking, subscriptions, downstream delivery,
 * control commands, and upstream routing and message building. */
#include "mapping.h"

/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/eio_codec.h"
#include "../../src/strbuf.h"

#include <check.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a fake host ------------------------------------------------------------------- */

#define MAX_CALLS 16

/* One recorded host call; lists are joined with '|' ("" when empty). */
struct call {
	char kind[16];            /* emit, join, leave, disconnect */
	char nsp[64];
	char rooms[512];          /* emit: target rooms; control: target rooms ("in") */
	char except[512];
	char sids[512];
	char which[512];          /* join/leave: the rooms joined or left */
	char event[256];
	char except_sid[64];
	char args[1024];          /* compact JSON */
	int is_volatile;
	size_t n_att;
	unsigned char att[4][64];
	size_t att_len[4];
};

struct sg_host {
	struct call calls[MAX_CALLS];
	size_t n;
	long rc;                  /* what emit/join/leave/disconnect return */
	int logs;
	char joined[256];         /* is_member: the rooms SID1 has joined, '|'-separated */
	char asked[256];          /* is_member's last question: "nsp sid room" */
	double relay_refused;     /* the relay_refused counter */
};

static void join_list(char *out, size_t len, const char *const *l, size_t n)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "|" : "", l[i]);
}

static struct call *record(struct sg_host *h, const char *kind)
{
	struct call *c;

	ck_assert_uint_lt(h->n, MAX_CALLS);
	c = &h->calls[h->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->kind, sizeof(c->kind), "%s", kind);
	return c;
}

static void f_log(struct sg_host *h, enum sg_bridge_log_level level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
	h->logs++;
}

static int f_post(struct sg_host *h, void (*fn)(void *ud), void *ud)
{
	(void)h;
	fn(ud);
	return 0;
}

static long f_emit(struct sg_host *h, const struct sg_bridge_emit *em)
{
	struct call *c = record(h, "emit");
	struct sg_strbuf sb;

	snprintf(c->nsp, sizeof(c->nsp), "%s", em->nsp);
	join_list(c->rooms, sizeof(c->rooms), em->rooms, em->n_rooms);
	join_list(c->except, sizeof(c->except), em->except, em->n_except);
	snprintf(c->event, sizeof(c->event), "%s", em->event);
	snprintf(c->except_sid, sizeof(c->except_sid), "%s", em->except_sid ? em->except_sid : "");
	c->is_volatile = em->is_volatile;
	sg_strbuf_init(&sb);
	if (em->args)
		ck_assert_int_eq(sg_json_append(&sb, em->args), 0);
	else
		sg_strbuf_append(&sb, "(null)", 6);
	snprintf(c->args, sizeof(c->args), "%s", sb.data ? sb.data : "");
	sg_strbuf_free(&sb);
	c->n_att = em->n_att;
	for (size_t i = 0; i < em->n_att && i < 4; i++) {
		ck_assert_uint_le(em->att[i].len, sizeof(c->att[i]));
		if (em->att[i].len)
			memcpy(c->att[i], em->att[i].data, em->att[i].len);
		c->att_len[i] = em->att[i].len;
	}
	return h->rc;
}

static void target(struct call *c, const struct sg_bridge_target *t)
{
	snprintf(c->nsp, sizeof(c->nsp), "%s", t->nsp);
	join_list(c->sids, sizeof(c->sids), t->sids, t->n_sids);
	join_list(c->rooms, sizeof(c->rooms), t->rooms, t->n_rooms);
	join_list(c->except, sizeof(c->except), t->except, t->n_except);
}

static long f_join(struct sg_host *h, const struct sg_bridge_target *t, const char *const *rooms, size_t n)
{
	struct call *c = record(h, "join");

	target(c, t);
	join_list(c->which, sizeof(c->which), rooms, n);
	return h->rc;
}

static long f_leave(struct sg_host *h, const struct sg_bridge_target *t, const char *const *rooms, size_t n)
{
	struct call *c = record(h, "leave");

	target(c, t);
	join_list(c->which, sizeof(c->which), rooms, n);
	return h->rc;
}

static long f_disconnect(struct sg_host *h, const struct sg_bridge_target *t)
{
	target(record(h, "disconnect"), t);
	return h->rc;
}

static void f_complete(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *result)
{
	(void)h;
	(void)t;
	(void)result;
	ck_abort_msg("the mapping never completes tickets");
}

static void f_set_ready(struct sg_host *h, int ready, const char *reason)
{
	(void)h;
	(void)ready;
	(void)reason;
}

static void f_count(struct sg_host *h, const char *name, const char *labels, double delta)
{
	ck_assert_str_eq(labels, "");
	if (!strcmp(name, "relay_refused"))
		h->relay_refused += delta;
}

static int f_is_member(struct sg_host *h, const char *nsp, const char *sid, const char *room)
{
	char want[300], list[300];

	snprintf(h->asked, sizeof(h->asked), "%s %s %s", nsp, sid, room);
	snprintf(want, sizeof(want), "|%s|", room);
	snprintf(list, sizeof(list), "|%s|", h->joined);
	return !strcmp(sid, "SID1") && strstr(list, want) != NULL;
}

static void f_foreach_nsp(struct sg_host *h, const char *pattern, void (*fn)(void *ud, const char *nsp), void *ud)
{
	(void)h;
	(void)pattern;
	(void)fn;
	(void)ud;
}

static const char *f_instance_id(struct sg_host *h)
{
	(void)h;
	return "test";
}

static void f_set_info(struct sg_host *h, const char *key, const char *value)
{
	(void)h;
	(void)key;
	(void)value;
}

static const struct sg_host_api api = {
	SG_BRIDGE_ABI_MAJOR, SG_BRIDGE_ABI_MINOR,
	f_log, f_post, f_emit, f_join, f_leave, f_disconnect, f_complete, f_set_ready, f_count,
	f_foreach_nsp, f_instance_id, NULL, f_set_info,
	NULL, NULL, NULL, NULL, /* 1.2 counter handles: the mapping code counts none */
	f_is_member,
	NULL, NULL, NULL, /* 1.3 presence: tests/unit/test_events.c */
	NULL, NULL, /* 1.4 request and reply: tests/unit/test_requests.c */
	NULL, NULL, /* 1.6 replays: the Kafka bridge's sessions */
};

static struct sg_host host;

static void reset_host(void)
{
	memset(&host, 0, sizeof(host));
	host.rc = 3;
}

/* ---- helpers ----------------------------------------------------------------------- */

/* A flavor like Kafka's (letters, digits, '.', '_', '-'), with '+' too so that the regex
 * escaping of template subscriptions can be tested; and one extra bridge key. */
static int topic_ok(const char *t, char *why, size_t len)
{
	for (const char *c = t; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '.' || *c == '_' || *c == '-' || *c == '+')) {
			snprintf(why, len, "'%s' is not a valid topic", t);
			return -1;
		}
	return 0;
}

static const char *const extra_keys[] = {"qos", NULL};
static const struct sgm_flavor flavor = {"test", topic_ok, extra_keys, NULL};

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

	ck_assert_msg(v != NULL, "bad JSON in the test: %s (%s)", text, e.text);
	return v;
}

/* sgm_check must fail with exactly `want`. */
static void check_err(const char *bridge, const char *want)
{
	json_t *b = J(bridge);
	char err[SG_BRIDGE_ERR_MAX] = "";

	ck_assert_msg(sgm_check(b, &flavor, err, sizeof(err)) == -1, "accepted: %s", bridge);
	ck_assert_str_eq(err, want);
	json_decref(b);
}

static void check_ok(const char *bridge)
{
	json_t *b = J(bridge);
	char err[SG_BRIDGE_ERR_MAX] = "";

	ck_assert_msg(sgm_check(b, &flavor, err, sizeof(err)) == 0, "refused %s: %s", bridge, err);
	json_decref(b);
}

static struct sgm_binding *binding(const char *nsp, int is_pattern, const char *bridge)
{
	json_t *b = J(bridge);
	char err[SG_BRIDGE_ERR_MAX] = "";
	struct sgm_binding *bd = sgm_binding_new(nsp, is_pattern, b, &flavor, err, sizeof(err));

	ck_assert_msg(bd != NULL, "binding %s: %s", bridge, err);
	json_decref(b);
	return bd;
}

/* A message: topic, key (NULL: none), value, then header name/value pairs, NULL-ended. */
struct msgbuf {
	struct sgm_header h[SGM_MAX_HEADERS];
	struct sgm_msg m;
};

static struct sgm_msg *vmsg(struct msgbuf *mb, const char *topic, const char *key, const void *value,
			    size_t value_len, va_list ap)
{
	const char *name;

	memset(mb, 0, sizeof(*mb));
	mb->m.topic = topic;
	mb->m.key = key;
	mb->m.key_len = key ? strlen(key) : 0;
	mb->m.value = value;
	mb->m.value_len = value_len;
	while ((name = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		ck_assert_uint_lt(mb->m.n_headers, SGM_MAX_HEADERS);
		mb->h[mb->m.n_headers].name = name;
		mb->h[mb->m.n_headers].value = v;
		mb->h[mb->m.n_headers].len = strlen(v);
		mb->m.n_headers++;
	}
	mb->m.headers = mb->h;
	return &mb->m;
}

static char why[256];

/* Delivers a message through the first subscription that matches its topic (the plugins
 * do the same); -2 when none does. */
static long deliver_m(struct sgm_binding *b, const struct sgm_msg *m)
{
	const struct sgm_sub *subs;
	size_t n = sgm_subs(b, &subs);

	why[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (sgm_sub_match(&subs[i], m->topic, NULL, 0))
			return sgm_deliver(b, &subs[i], m, &api, &host, why, sizeof(why));
	return -2;
}

static long deliver(struct sgm_binding *b, const char *topic, const char *key, const char *value, ...)
{
	struct msgbuf mb;
	va_list ap;
	long rc;

	va_start(ap, value);
	rc = deliver_m(b, vmsg(&mb, topic, key, value, value ? strlen(value) : 0, ap));
	va_end(ap);
	return rc;
}

static long deliver_bin(struct sgm_binding *b, const char *topic, const char *key, const void *value, size_t len, ...)
{
	struct msgbuf mb;
	va_list ap;
	long rc;

	va_start(ap, len);
	rc = deliver_m(b, vmsg(&mb, topic, key, value, len, ap));
	va_end(ap);
	return rc;
}

/* The one emit the last delivery made. */
static const struct call *the_emit(void)
{
	ck_assert_uint_eq(host.n, 1);
	ck_assert_str_eq(host.calls[0].kind, "emit");
	return &host.calls[0];
}

/* ---- sgm_check --------------------------------------------------------------------- */

START_TEST(check_bridge_level)
{
	check_ok("{\"to_clients\":[{\"topic\":\"a\"}]}");
	check_ok("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\"}]}");
	check_ok("{\"control_topic\":\"ctl\"}");
	check_ok("{\"broker\":\"main\",\"type\":\"x\",\"qos\":1,\"control_topic\":\"ctl\",\"dead_letter_topic\":\"dlq\"}");

	check_err("{}", ": a bridge needs at least one of to_clients, from_clients, control_topic or events");
	check_err("{\"to_clients\":[],\"from_clients\":[]}",
		  ": a bridge needs at least one of to_clients, from_clients, control_topic or events");
	check_err("{\"control_topic\":\"c\",\"tpoic\":1}", ": unknown key 'tpoic'");
	check_err("{\"to_clients\":{}}", "to_clients: expected an array");
	check_err("{\"from_clients\":\"x\"}", "from_clients: expected an array");
	check_err("{\"control_topic\":5}", "control_topic: expected a non-empty string");
	check_err("{\"control_topic\":\"\"}", "control_topic: expected a non-empty string");
	check_err("{\"control_topic\":\"a b\"}", "control_topic: 'a b' is not a valid topic");
	check_err("{\"control_topic\":\"c.{room}\"}", "control_topic: placeholders are not allowed here");
	check_err("{\"control_topic\":\"c\",\"dead_letter_topic\":[]}", "dead_letter_topic: expected a non-empty string");
	check_err("{\"control_topic\":\"c\",\"dead_letter_topic\":\"dead/letters\"}",
		  "dead_letter_topic: 'dead/letters' is not a valid topic");
	check_err("{\"control_topic\":\"c\",\"dead_letter_topic\":\"{room}\"}",
		  "dead_letter_topic: placeholders are not allowed here");
}
END_TEST

START_TEST(check_to_clients)
{
	check_ok("{\"to_clients\":[{\"topic\":\"a\",\"rooms\":\"auto\",\"event\":\"e\",\"args\":\"value\","
		 "\"volatile\":true,\"except_sender\":false}]}");
	check_ok("{\"to_clients\":[{\"topic\":\"o.{room}\",\"rooms\":\"topic\"},{\"topic\":\"{room}\"},"
		 "{\"topic\":\"a\",\"rooms\":\"all\",\"args\":\"binary\"},{\"topic\":\"b\",\"rooms\":\"key\",\"args\":\"spread\"}]}");

	check_err("{\"to_clients\":[1]}", "to_clients[0]: expected an object");
	check_err("{\"to_clients\":[{\"topic\":\"a\"},{}]}", "to_clients[1]: missing required key 'topic'");
	check_err("{\"to_clients\":[{\"topic\":1}]}", "to_clients[0].topic: expected a non-empty string");
	check_err("{\"to_clients\":[{\"topic\":\"\"}]}", "to_clients[0].topic: expected a non-empty string");
	check_err("{\"to_clients\":[{\"topic\":\"a\",\"room\":\"key\"}]}", "to_clients[0]: unknown key 'room' (did you mean 'rooms'?)");
	/* Keys are checked before values. */
	check_err("{\"to_clients\":[{\"topic\":5,\"x\":1}]}", "to_clients[0]: unknown key 'x'");
	check_err("{\"to_clients\":[{\"topic\":\"a\",\"rooms\":\"everyone\"}]}",
		  "to_clients[0].rooms: expected one of auto, header, key, topic, all");
	check_err("{\"to_clients\":[{\"topic\":\"a\",\"rooms\":1}]}",
		  "to_clients[0].rooms: expected one of auto, header, key, topic, all");
	check_err("{\"to_clients\":[{\"topic\":\"a\",\"args\":\"json\"}]}",
		  "to_clients[0].args: expected one of value, spread, binary");
	check_err("{\"to_clients\":[{\"topic\":\"a\",\"event\":\"\"}]}", "to_clients[0].event: expected a non-empty string");
	check_err("{\"to_clients\":[{\"topic\":\"a\",\"volatile\":\"yes\"}]}", "to_clients[0].volatile: expected a boolean");
	check_err("{\"to_clients\":[{\"topic\":\"a\",\"except_sender\":1}]}", "to_clients[0].except_sender: expected a boolean");
	check_err("{\"to_clients\":[{\"topic\":\"a/b\"}]}", "to_clients[0].topic: 'a/b' is not a valid topic");
	check_err("{\"to_clients\":[{\"topic\":\"o.{user}\"}]}",
		  "to_clients[0].topic: unknown placeholder '{user}' (only {room} may appear in a to_clients topic)");
	check_err("{\"to_clients\":[{\"topic\":\"o.{room\"}]}",
		  "to_clients[0].topic: unclosed '{' (only {room} may appear in a to_clients topic)");
	check_err("{\"to_clients\":[{\"topic\":\"{room}.{room}\"}]}", "to_clients[0].topic: {room} may appear only once");
	check_err("{\"to_clients\":[{\"topic\":\"o.{room}\",\"rooms\":\"key\"}]}",
		  "to_clients[0].rooms: a topic template takes its room from the topic ('topic')");
	check_err("{\"to_clients\":[{\"topic\":\"o.{room}\",\"rooms\":\"all\"}]}",
		  "to_clients[0].rooms: a topic template takes its room from the topic ('topic')");
	check_err("{\"to_clients\":[{\"topic\":\"o\",\"rooms\":\"topic\"}]}",
		  "to_clients[0].rooms: 'topic' needs a topic template with {room}");
}
END_TEST

START_TEST(check_from_clients)
{
	check_ok("{\"from_clients\":[{\"event\":\"*\",\"topic\":\"{nsp}.{event}\",\"key\":\"{auth.user}\","
		 "\"room_field\":\"channel\",\"rooms\":\"{room}\",\"headers\":{\"x-u\":\"{claims.sub}\",\"x-q\":\"{query.v}\",\"x-s\":\"{sid}\"}}]}");

	check_err("{\"from_clients\":[[]]}", "from_clients[0]: expected an object");
	check_err("{\"from_clients\":[{\"topic\":\"t\"}]}", "from_clients[0]: missing required key 'event'");
	check_err("{\"from_clients\":[{\"event\":\"e\"}]}", "from_clients[0]: missing required key 'topic'");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"room\":\"r\"}]}", "from_clients[0]: unknown key 'room' (did you mean 'rooms'?)");
	check_err("{\"from_clients\":[{\"event\":\"\",\"topic\":\"t\"}]}", "from_clients[0].event: expected a non-empty string");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"key\":3}]}", "from_clients[0].key: expected a non-empty string");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"room_field\":\"\"}]}",
		  "from_clients[0].room_field: expected a non-empty string");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"{foo}\"}]}", "from_clients[0].topic: unknown placeholder '{foo}'");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t.{nsp\"}]}", "from_clients[0].topic: unclosed '{'");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"key\":\"{auth.}\"}]}",
		  "from_clients[0].key: unknown placeholder '{auth.}'");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"rooms\":\"{rooms}\"}]}",
		  "from_clients[0].rooms: unknown placeholder '{rooms}'");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"headers\":[]}]}", "from_clients[0].headers: expected an object");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"headers\":{\"x\":1}}]}",
		  "from_clients[0].headers.x: expected a string");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"headers\":{\"x\":\"{y}\"}}]}",
		  "from_clients[0].headers.x: unknown placeholder '{y}'");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"headers\":{\"sio-user\":\"u\"}}]}",
		  "from_clients[0].headers.sio-user: the sio- prefix is reserved");
	check_err("{\"from_clients\":[{\"event\":\"a\",\"topic\":\"t\"},{\"event\":\"b\",\"topic\":\"\"}]}",
		  "from_clients[1].topic: expected a non-empty string");

	/* unjoined_rooms: a regular expression, on an entry that takes a room at all. */
	check_ok("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"rooms\":\"{room}\",\"unjoined_rooms\":\"[A-Za-z0-9_-]{20}\"}]}");
	check_ok("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"headers\":{\"x\":\"{room}\"},\"unjoined_rooms\":\"dm-.+\"}]}");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t.{room}\",\"unjoined_rooms\":\"a(\"}]}",
		  "from_clients[0].unjoined_rooms: invalid regular expression (Unmatched ( or \\()");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t.{room}\",\"unjoined_rooms\":7}]}",
		  "from_clients[0].unjoined_rooms: expected a non-empty string");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"key\":\"{sid}\",\"unjoined_rooms\":\"x\"}]}",
		  "from_clients[0].unjoined_rooms: the entry targets no room (no rooms, and no {room} in topic, key or headers)");
	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t.{room}\",\"unjoined_room\":\"x\"}]}",
		  "from_clients[0]: unknown key 'unjoined_room' (did you mean 'unjoined_rooms'?)");
}
END_TEST

/* The headers a from_clients entry may add: SGM_MAX_HEADERS minus room for the sio- ones. */
START_TEST(check_too_many_headers)
{
	char buf[4096];
	int n;

	for (n = 27; n <= 29; n++) {
		json_t *b;
		char err[SG_BRIDGE_ERR_MAX] = "";
		int rc;

		snprintf(buf, sizeof(buf), "{\"from_clients\":[{\"event\":\"e\",\"topic\":\"t\",\"headers\":{");
		for (int i = 0; i < n; i++)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s\"h%d\":\"v\"", i ? "," : "", i);
		strcat(buf, "}}]}");
		b = J(buf);
		rc = sgm_check(b, &flavor, err, sizeof(err));
		json_decref(b);
		if (n <= 28) {
			ck_assert_msg(rc == 0, "%d headers: %s", n, err);
		} else {
			ck_assert_int_eq(rc, -1);
			ck_assert_str_eq(err, "from_clients[0].headers: too many headers");
		}
	}
}
END_TEST

/* The literal topic of a from_clients entry, and the literal parts of templates, obey the
 * broker's topic rules (a sample with "x" for each placeholder is checked). */
START_TEST(check_literal_topics_against_flavor)
{
	json_t *up = J("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"chat in\"}]}");
	json_t *down = J("{\"to_clients\":[{\"topic\":\"orders/{room}\"}]}");
	char err_up[SG_BRIDGE_ERR_MAX] = "", err_down[SG_BRIDGE_ERR_MAX] = "";
	int rc_up = sgm_check(up, &flavor, err_up, sizeof(err_up));
	int rc_down = sgm_check(down, &flavor, err_down, sizeof(err_down));

	/* Freed before asserting, so a failure here leaks nothing under CK_FORK=no. */
	json_decref(up);
	json_decref(down);
	ck_assert_msg(rc_up == -1, "from_clients topic 'chat in' accepted");
	ck_assert_str_eq(err_up, "from_clients[0].topic: 'chat in' is not a valid topic");
	ck_assert_msg(rc_down == -1, "to_clients template 'orders/{room}' accepted");
	ck_assert_str_eq(err_down, "to_clients[0].topic: 'orders/x' is not a valid topic");

	check_err("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"{nsp}/{event}\"}]}",
		  "from_clients[0].topic: 'x/x' is not a valid topic");
	check_ok("{\"from_clients\":[{\"event\":\"e\",\"topic\":\"{nsp}.in\",\"key\":\"a b/{sid}\"}]}");
}
END_TEST

START_TEST(check_bad_pattern)
{
	json_t *b = J("{\"control_topic\":\"c\"}");
	char err[SG_BRIDGE_ERR_MAX] = "";

	ck_assert_ptr_null(sgm_binding_new("^/t-(", 1, b, &flavor, err, sizeof(err)));
	ck_assert_str_eq(err, ": invalid namespace pattern");
	json_decref(b);
}
END_TEST

/* ---- subscriptions ----------------------------------------------------------------- */

START_TEST(subs_literal_and_templates)
{
	struct sgm_binding *b = binding("/chat", 0,
					"{\"to_clients\":[{\"topic\":\"chat.out\"},{\"topic\":\"orders.{room}\"},"
					"{\"topic\":\"{room}.feed\"},{\"topic\":\"a+b.{room}.x\"}],\"control_topic\":\"ctl\"}");
	const struct sgm_sub *s;
	char room[16];
	regex_t re;

	ck_assert_uint_eq(sgm_subs(b, &s), 5);
	ck_assert_str_eq(s[0].literal, "chat.out");
	ck_assert_ptr_null(s[0].regex);
	ck_assert_int_eq(s[0].control, 0);
	ck_assert_int_eq(s[0].index, 0);

	ck_assert_ptr_null(s[1].literal);
	ck_assert_str_eq(s[1].regex, "^orders\\.(.+)$");
	ck_assert_str_eq(s[1].prefix, "orders.");
	ck_assert_str_eq(s[1].suffix, "");
	ck_assert_int_eq(s[1].index, 1);
	ck_assert_str_eq(s[2].regex, "^(.+)\\.feed$");
	ck_assert_str_eq(s[2].prefix, "");
	ck_assert_str_eq(s[2].suffix, ".feed");
	ck_assert_str_eq(s[3].regex, "^a\\+b\\.(.+)\\.x$");

	ck_assert_str_eq(s[4].literal, "ctl");
	ck_assert_int_eq(s[4].control, 1);
	ck_assert_int_eq(s[4].index, -1);

	/* The regexes are what a broker gets: they match what sgm_sub_match matches. */
	ck_assert_int_eq(regcomp(&re, s[3].regex, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_int_eq(regexec(&re, "a+b.r1.x", 0, NULL, 0), 0);
	ck_assert_int_ne(regexec(&re, "aab.r1.x", 0, NULL, 0), 0);
	ck_assert_int_ne(regexec(&re, "a+b.r1.xy", 0, NULL, 0), 0);
	regfree(&re);

	/* Literal: exact names only. */
	ck_assert_int_eq(sgm_sub_match(&s[0], "chat.out", room, sizeof(room)), 1);
	ck_assert_int_eq(sgm_sub_match(&s[0], "chat.outx", NULL, 0), 0);
	ck_assert_int_eq(sgm_sub_match(&s[0], "chat", NULL, 0), 0);

	/* Templates: the room is what the placeholder covers, never empty. */
	ck_assert_int_eq(sgm_sub_match(&s[1], "orders.42", room, sizeof(room)), 1);
	ck_assert_str_eq(room, "42");
	ck_assert_int_eq(sgm_sub_match(&s[1], "orders.a.b", room, sizeof(room)), 1);
	ck_assert_str_eq(room, "a.b");
	ck_assert_int_eq(sgm_sub_match(&s[1], "orders.", room, sizeof(room)), 0);
	ck_assert_int_eq(sgm_sub_match(&s[1], "orders", room, sizeof(room)), 0);
	ck_assert_int_eq(sgm_sub_match(&s[1], "xorders.1", room, sizeof(room)), 0);
	ck_assert_int_eq(sgm_sub_match(&s[1], "orders.42", NULL, 0), 1);
	ck_assert_int_eq(sgm_sub_match(&s[2], "lobby.feed", room, sizeof(room)), 1);
	ck_assert_str_eq(room, "lobby");
	ck_assert_int_eq(sgm_sub_match(&s[2], ".feed", room, sizeof(room)), 0);
	ck_assert_int_eq(sgm_sub_match(&s[3], "a+b.x", room, sizeof(room)), 0);
	ck_assert_int_eq(sgm_sub_match(&s[3], "a+b.7.x", room, sizeof(room)), 1);
	ck_assert_str_eq(room, "7");
	/* A room that does not fit the buffer does not match (rather than being cut). */
	ck_assert_int_eq(sgm_sub_match(&s[1], "orders.0123456789abcdef", room, sizeof(room)), 0);

	ck_assert_str_eq(sgm_namespace(b), "/chat");
	ck_assert_ptr_null(sgm_dead_letter(b));
	sgm_binding_free(b);
	sgm_binding_free(NULL);
}
END_TEST

START_TEST(header_lookup)
{
	struct msgbuf mb;
	struct sgm_msg *m;
	size_t n = 99;

	m = &mb.m;
	memset(&mb, 0, sizeof(mb));
	mb.h[0] = (struct sgm_header){"SIO-Rooms", "a,bXYZ", 3};
	mb.h[1] = (struct sgm_header){"sio-rooms", "second", 6};
	m->headers = mb.h;
	m->n_headers = 2;
	ck_assert_ptr_eq(sgm_header(m, "sio-rooms", &n), mb.h[0].value);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_null(sgm_header(m, "sio-event", &n));
	ck_assert_uint_eq(n, 0);
}
END_TEST

/* ---- downstream -------------------------------------------------------------------- */

static struct sgm_binding *down_binding(void)
{
	return binding("/chat", 0,
		       "{\"to_clients\":["
		       "{\"topic\":\"auto\"},"
		       "{\"topic\":\"hdr\",\"rooms\":\"header\"},"
		       "{\"topic\":\"key\",\"rooms\":\"key\"},"
		       "{\"topic\":\"o.{room}\",\"event\":\"order\"},"
		       "{\"topic\":\"all\",\"rooms\":\"all\",\"volatile\":true},"
		       "{\"topic\":\"spread\",\"args\":\"spread\",\"event\":\"multi\"},"
		       "{\"topic\":\"bin\",\"args\":\"binary\"},"
		       "{\"topic\":\"relay\",\"rooms\":\"header\",\"except_sender\":true}],"
		       "\"control_topic\":\"ctl\",\"dead_letter_topic\":\"dlq\"}");
}

START_TEST(deliver_rooms_modes)
{
	struct sgm_binding *b = down_binding();
	const struct call *c;

	ck_assert_str_eq(sgm_dead_letter(b), "dlq");

	/* auto: the key is the room... */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "lobby", "\"hi\"", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->nsp, "/chat");
	ck_assert_str_eq(c->rooms, "lobby");
	ck_assert_str_eq(c->except, "");
	ck_assert_str_eq(c->event, "message");
	ck_assert_str_eq(c->args, "[\"hi\"]");
	ck_assert_str_eq(c->except_sid, "");
	ck_assert_int_eq(c->is_volatile, 0);
	ck_assert_uint_eq(c->n_att, 0);

	/* ... unless sio-rooms is there: a list, trimmed, empty items skipped. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "ignored", "1", "sio-rooms", " a, b,,c ,", NULL), 3);
	ck_assert_str_eq(the_emit()->rooms, "a|b|c");

	/* Neither: malformed. An empty key is no key. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", NULL, "1", NULL), -1);
	ck_assert_str_eq(why, "no room (no sio-rooms header and no key)");
	ck_assert_int_eq(deliver(b, "auto", "", "1", NULL), -1);
	ck_assert_int_eq(deliver(b, "auto", NULL, "1", "sio-rooms", " , ", NULL), -1);
	ck_assert_uint_eq(host.n, 0);

	/* header: only sio-rooms. */
	reset_host();
	ck_assert_int_eq(deliver(b, "hdr", "k", "1", NULL), -1);
	ck_assert_str_eq(why, "no room (no sio-rooms header)");
	ck_assert_int_eq(deliver(b, "hdr", "k", "1", "sio-rooms", "r", NULL), 3);
	ck_assert_str_eq(the_emit()->rooms, "r");

	/* key: only the key, even with sio-rooms. */
	reset_host();
	ck_assert_int_eq(deliver(b, "key", NULL, "1", "sio-rooms", "r", NULL), -1);
	ck_assert_str_eq(why, "no room (no key)");
	ck_assert_int_eq(deliver(b, "key", "k", "1", "sio-rooms", "r", NULL), 3);
	ck_assert_str_eq(the_emit()->rooms, "k");

	/* topic: from the template. */
	reset_host();
	ck_assert_int_eq(deliver(b, "o.42", "k", "{\"id\":1}", "sio-rooms", "r", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->rooms, "42");
	ck_assert_str_eq(c->event, "order");
	ck_assert_str_eq(c->args, "[{\"id\":1}]");

	/* all: no rooms (the whole namespace); the mapping's volatile flag. */
	reset_host();
	ck_assert_int_eq(deliver(b, "all", NULL, "1", "sio-rooms", "ignored", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->rooms, "");
	ck_assert_int_eq(c->is_volatile, 1);

	/* A topic the binding does not consume. */
	reset_host();
	ck_assert_int_eq(deliver(b, "nope", "k", "1", NULL), -2);
	ck_assert_uint_eq(host.n, 0);
	sgm_binding_free(b);
}
END_TEST

START_TEST(deliver_bad_rooms)
{
	struct sgm_binding *b = down_binding();
	char many[8192] = "", big[5000];
	static const char nul_key[] = {'a', '\0', 'b'};
	struct msgbuf mb;

	for (int i = 0; i < 257; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sr%d", i ? "," : "", i);
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", NULL, "1", "sio-rooms", many, NULL), -1);
	ck_assert_str_eq(why, "bad sio-rooms header (at most 256 rooms, no NUL)");
	ck_assert_int_eq(deliver(b, "auto", NULL, "1", "sio-except", many, "sio-rooms", "a", NULL), -1);
	ck_assert_str_eq(why, "bad sio-except header");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(deliver(b, "auto", NULL, "1", "sio-rooms", big, NULL), -1);
	ck_assert_int_eq(deliver(b, "auto", big, "1", NULL), -1);
	ck_assert_str_eq(why, "the key is not a room name");

	/* 256 rooms are fine. */
	*strrchr(many, ',') = '\0';
	ck_assert_int_eq(deliver(b, "auto", NULL, "1", "sio-rooms", many, NULL), 3);

	/* A key with a NUL byte is not a room name. */
	memset(&mb, 0, sizeof(mb));
	mb.m.topic = "auto";
	mb.m.key = nul_key;
	mb.m.key_len = sizeof(nul_key);
	mb.m.value = "1";
	mb.m.value_len = 1;
	mb.m.headers = mb.h;
	ck_assert_int_eq(deliver_m(b, &mb.m), -1);
	ck_assert_str_eq(why, "the key is not a room name");
	sgm_binding_free(b);
}
END_TEST

START_TEST(deliver_except_event_volatile_sender)
{
	struct sgm_binding *b = down_binding();
	char long_event[300];
	const struct call *c;

	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "1", "sio-except", "muted, banned", "sio-event", "notice",
				 "sio-volatile", "TRUE", "sio-sid", "S1", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->except, "muted|banned");
	ck_assert_str_eq(c->event, "notice");
	ck_assert_int_eq(c->is_volatile, 1);
	ck_assert_str_eq(c->except_sid, ""); /* except_sender is off for this mapping */

	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "1", "sio-volatile", "yes", NULL), 3);
	ck_assert_int_eq(the_emit()->is_volatile, 0);

	reset_host();
	ck_assert_int_eq(deliver(b, "relay", NULL, "[1]", "sio-rooms", "R", "sio-sid", "S1", NULL), 3);
	ck_assert_str_eq(the_emit()->except_sid, "S1");

	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "1", "sio-event", "", NULL), -1);
	ck_assert_str_eq(why, "bad sio-event header");
	memset(long_event, 'e', sizeof(long_event) - 1);
	long_event[sizeof(long_event) - 1] = '\0';
	ck_assert_int_eq(deliver(b, "auto", "r", "1", "sio-event", long_event, NULL), -1);
	ck_assert_str_eq(why, "bad sio-event header");
	ck_assert_uint_eq(host.n, 0);

	/* The host's answers: -2 (no such namespace here) is nobody reached, -1 an error. */
	reset_host();
	host.rc = -2;
	ck_assert_int_eq(deliver(b, "auto", "r", "1", NULL), 0);
	host.rc = -1;
	ck_assert_int_eq(deliver(b, "auto", "r", "1", NULL), -1);
	ck_assert_str_eq(why, "the event could not be encoded");
	host.rc = 0;
	ck_assert_int_eq(deliver(b, "auto", "r", "1", NULL), 0);
	sgm_binding_free(b);
}
END_TEST

/* A replay (connection state recovery from the broker): the event goes to the replay
 * function, with the record's position, instead of the host's emit; a record that asks
 * clients for answers is left out (its question was for those there at the time). */
static int replayed;
static char replayed_pos[64], replayed_rooms[64];

static long f_replay(void *ud, const struct sg_bridge_emit *em)
{
	ck_assert_ptr_eq(ud, &replayed);
	replayed++;
	snprintf(replayed_pos, sizeof(replayed_pos), "%s", em->position ? em->position : "(none)");
	join_list(replayed_rooms, sizeof(replayed_rooms), em->rooms, em->n_rooms);
	return 1;
}

static long deliver_replay(struct sgm_binding *b, const char *position, ...)
{
	struct msgbuf mb;
	va_list ap;
	long rc;

	va_start(ap, position);
	vmsg(&mb, "auto", "r", "1", 1, ap);
	va_end(ap);
	mb.m.position = position;
	mb.m.replay = f_replay;
	mb.m.replay_ud = &replayed;
	rc = deliver_m(b, &mb.m);
	return rc;
}

START_TEST(deliver_replay_mode)
{
	struct sgm_binding *b = down_binding();

	reset_host();
	replayed = 0;
	ck_assert_int_eq(deliver_replay(b, "auto/0/7", NULL), 1);
	ck_assert_int_eq(replayed, 1);
	ck_assert_str_eq(replayed_pos, "auto/0/7");
	ck_assert_str_eq(replayed_rooms, "r");
	ck_assert_uint_eq(host.n, 0); /* not the host's emit */

	/* Asking for answers: skipped, neither emitted nor asked. */
	ck_assert_int_eq(deliver_replay(b, "auto/0/8", "sio-reply-to", "answers", "sio-ack-id", "q1", NULL), 0);
	ck_assert_int_eq(replayed, 1);
	ck_assert_uint_eq(host.n, 0);
	sgm_binding_free(b);
}
END_TEST

START_TEST(deliver_args_modes)
{
	struct sgm_binding *b = down_binding();
	static const unsigned char raw[] = {0xff, 0x00, 0x01, '{'};
	const struct call *c;

	/* value: one argument, any JSON value. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "[1,\"two\"]", NULL), 3);
	ck_assert_str_eq(the_emit()->args, "[[1,\"two\"]]");
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "null", NULL), 3);
	ck_assert_str_eq(the_emit()->args, "[null]");
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", " 42 ", NULL), 3);
	ck_assert_str_eq(the_emit()->args, "[42]");

	/* An empty value: no arguments. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "", NULL), 3);
	ck_assert_str_eq(the_emit()->args, "[]");

	/* sio-args: spread (any case) spreads an array; anything else is malformed. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "[1,\"two\",{\"x\":null}]", "sio-args", "Spread", NULL), 3);
	ck_assert_str_eq(the_emit()->args, "[1,\"two\",{\"x\":null}]");
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "{\"a\":1}", "sio-args", "spread", NULL), -1);
	ck_assert_str_eq(why, "sio-args: spread needs a JSON array value");
	ck_assert_int_eq(deliver(b, "auto", "r", "[1,", "sio-args", "spread", NULL), -1);
	ck_assert_str_eq(why, "sio-args: spread needs a JSON array value");
	ck_assert_int_eq(deliver(b, "auto", "r", "", "sio-args", "spread", NULL), -1);
	ck_assert_int_eq(deliver(b, "auto", "r", "1", "sio-args", "json", NULL), -1);
	ck_assert_str_eq(why, "unknown sio-args value (expected value, spread or binary)");
	ck_assert_int_eq(deliver(b, "auto", "r", "1", "sio-args", "", NULL), -1);
	ck_assert_uint_eq(host.n, 0);

	/* The mapping's default, and the header overriding it. */
	reset_host();
	ck_assert_int_eq(deliver(b, "spread", "r", "[1,2]", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->args, "[1,2]");
	ck_assert_str_eq(c->event, "multi");
	reset_host();
	ck_assert_int_eq(deliver(b, "spread", "r", "[1,2]", "sio-args", "value", NULL), 3);
	ck_assert_str_eq(the_emit()->args, "[[1,2]]");

	/* Not JSON: one binary argument, the bytes as they are. */
	reset_host();
	ck_assert_int_eq(deliver_bin(b, "auto", "r", raw, sizeof(raw), NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->args, "[{\"_placeholder\":true,\"num\":0}]");
	ck_assert_uint_eq(c->n_att, 1);
	ck_assert_uint_eq(c->att_len[0], sizeof(raw));
	ck_assert_mem_eq(c->att[0], raw, sizeof(raw));

	/* binary (mapping or header): JSON-looking bytes stay bytes; empty is one empty buffer. */
	reset_host();
	ck_assert_int_eq(deliver(b, "bin", "r", "{\"a\":1}", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->args, "[{\"_placeholder\":true,\"num\":0}]");
	ck_assert_uint_eq(c->att_len[0], 7);
	ck_assert_mem_eq(c->att[0], "{\"a\":1}", 7);
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "[1]", "sio-args", "BINARY", NULL), 3);
	ck_assert_uint_eq(the_emit()->att_len[0], 3);
	reset_host();
	ck_assert_int_eq(deliver(b, "bin", "r", "", NULL), 3);
	c = the_emit();
	ck_assert_uint_eq(c->n_att, 1);
	ck_assert_uint_eq(c->att_len[0], 0);
	sgm_binding_free(b);
}
END_TEST

START_TEST(deliver_dollar_binary)
{
	struct sgm_binding *b = down_binding();
	const struct call *c;

	/* Objects and arrays, nested: each {"$binary"} becomes a placeholder, in order. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "{\"f\":{\"$binary\":\"aGk=\"},\"g\":[1,{\"$binary\":\"AQID\"}],\"n\":1}", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->args, "[{\"f\":{\"_placeholder\":true,\"num\":0},\"g\":[1,{\"_placeholder\":true,\"num\":1}],\"n\":1}]");
	ck_assert_uint_eq(c->n_att, 2);
	ck_assert_uint_eq(c->att_len[0], 2);
	ck_assert_mem_eq(c->att[0], "hi", 2);
	ck_assert_uint_eq(c->att_len[1], 3);
	ck_assert_mem_eq(c->att[1], "\1\2\3", 3);

	/* With spread, a top-level one is an argument of its own; "" is an empty buffer. */
	reset_host();
	ck_assert_int_eq(deliver(b, "spread", "r", "[{\"$binary\":\"\"},\"x\"]", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->args, "[{\"_placeholder\":true,\"num\":0},\"x\"]");
	ck_assert_uint_eq(c->n_att, 1);
	ck_assert_uint_eq(c->att_len[0], 0);

	/* Only an object with that one key is binary. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "{\"$binary\":\"AQID\",\"x\":1}", NULL), 3);
	c = the_emit();
	ck_assert_str_eq(c->args, "[{\"$binary\":\"AQID\",\"x\":1}]");
	ck_assert_uint_eq(c->n_att, 0);

	/* A value that is just {"$binary"}: one binary argument. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "{\"$binary\":\"AQID\"}", NULL), 3);
	ck_assert_str_eq(the_emit()->args, "[{\"_placeholder\":true,\"num\":0}]");

	/* Bad base64 is malformed. */
	reset_host();
	ck_assert_int_eq(deliver(b, "auto", "r", "{\"f\":{\"$binary\":\"not base64!\"}}", NULL), -1);
	ck_assert_str_eq(why, "bad {\"$binary\"} value (base64 expected)");
	ck_assert_int_eq(deliver(b, "auto", "r", "[{\"$binary\":\"AQI\"}]", "sio-args", "spread", NULL), -1);
	ck_assert_str_eq(why, "bad {\"$binary\"} value (base64 expected)");
	ck_assert_uint_eq(host.n, 0);
	sgm_binding_free(b);
}
END_TEST

START_TEST(deliver_namespace_header)
{
	struct sgm_binding *st = down_binding();
	struct sgm_binding *dyn = binding("^/t-[0-9]+$", 1, "{\"to_clients\":[{\"topic\":\"shared\",\"rooms\":\"all\"}]}");

	/* A static namespace takes messages without the header, or with its own name. */
	reset_host();
	ck_assert_int_eq(deliver(st, "auto", "r", "1", "sio-namespace", "/chat", NULL), 3);
	ck_assert_str_eq(the_emit()->nsp, "/chat");
	reset_host();
	ck_assert_int_eq(deliver(st, "auto", "r", "1", "sio-namespace", "/other", NULL), -2);
	ck_assert_int_eq(deliver(st, "auto", "r", "1", "sio-namespace", "", NULL), -1);
	ck_assert_str_eq(why, "bad sio-namespace header");
	ck_assert_uint_eq(host.n, 0);

	/* A dynamic one needs the header, and takes only names its pattern matches. */
	reset_host();
	ck_assert_int_eq(deliver(dyn, "shared", NULL, "\"x\"", "sio-namespace", "/t-1", NULL), 3);
	ck_assert_str_eq(the_emit()->nsp, "/t-1");
	reset_host();
	ck_assert_int_eq(deliver(dyn, "shared", NULL, "\"x\"", "sio-namespace", "/t-x", NULL), -2);
	ck_assert_int_eq(deliver(dyn, "shared", NULL, "\"x\"", "sio-namespace", "/chat", NULL), -2);
	ck_assert_int_eq(deliver(dyn, "shared", NULL, "\"x\"", NULL), -1);
	ck_assert_str_eq(why, "no sio-namespace header (the topic feeds a dynamic namespace)");
	ck_assert_uint_eq(host.n, 0);
	sgm_binding_free(st);
	sgm_binding_free(dyn);
}
END_TEST

/* Reserved event names never reach a client (the official client drops the connection), and
 * a mapping with ignore_headers takes a record whose sio- headers mean something else (an
 * events topic) by its own rules alone. */
START_TEST(deliver_reserved_and_ignore_headers)
{
	struct sgm_binding *st = down_binding();
	struct sgm_binding *mon = binding("/monitor", 0, "{\"to_clients\":[{\"topic\":\"ev\",\"rooms\":\"all\","
					  "\"event\":\"lifecycle\",\"ignore_headers\":true}],\"control_topic\":\"ctl\"}");
	json_t *b;
	char err[SG_BRIDGE_ERR_MAX];

	reset_host();
	ck_assert_int_eq(deliver(st, "auto", "r", "1", "sio-event", "connect", NULL), -1);
	ck_assert_str_eq(why, "'connect' is a reserved event name (Socket.IO clients drop a connection that receives it)");
	ck_assert_int_eq(deliver(st, "auto", "r", "1", "sio-event", "disconnecting", NULL), -1);
	ck_assert_int_eq(deliver(mon, "ctl", NULL, "{\"op\":\"emit\",\"event\":\"connect_error\"}", NULL), -1);
	ck_assert_str_eq(why, "'connect_error' is a reserved event name (Socket.IO clients drop a connection that receives it)");
	ck_assert_uint_eq(host.n, 0);

	/* a lifecycle record of /chat, as the events driver produces it */
	reset_host();
	ck_assert_int_eq(deliver(mon, "ev", "SID1", "{\"type\":\"connect\",\"sid\":\"SID1\"}", "sio-namespace", "/chat",
				 "sio-sid", "SID1", "sio-event", "connect", "sio-args", "spread", NULL), 3);
	ck_assert_str_eq(the_emit()->nsp, "/monitor");
	ck_assert_str_eq(the_emit()->event, "lifecycle");
	ck_assert_str_eq(the_emit()->rooms, "");
	ck_assert_str_eq(the_emit()->args, "[{\"type\":\"connect\",\"sid\":\"SID1\"}]");

	b = J("{\"to_clients\":[{\"topic\":\"ev\",\"rooms\":\"header\",\"ignore_headers\":true}]}");
	ck_assert_int_eq(sgm_check(b, &flavor, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "to_clients[0].rooms: \"header\" reads sio-rooms, which ignore_headers drops");
	json_decref(b);
	b = J("{\"to_clients\":[{\"topic\":\"ev\",\"event\":\"disconnect\"}]}");
	ck_assert_int_eq(sgm_check(b, &flavor, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "to_clients[0].event: 'disconnect' is a reserved event name");
	json_decref(b);
	sgm_binding_free(st);
	sgm_binding_free(mon);
}
END_TEST

/* Found by fuzz/fuzz_mapping.c: a dynamic namespace's pattern must match the whole
 * sio-namespace header (and a control command's "namespace"), as the config's `match`
 * does (sg_regex_full_match); an unanchored regexec took "x/org/acme" or "/org/acme/x"
 * for a namespace of "/org/[a-z]+". A regression test now that both match the whole name. */
START_TEST(deliver_pattern_whole_name)
{
	struct sgm_binding *dyn = binding("/org/[a-z]+", 1,
					  "{\"to_clients\":[{\"topic\":\"shared\",\"rooms\":\"all\"}],\"control_topic\":\"ctl\"}");

	reset_host();
	ck_assert_int_eq(deliver(dyn, "shared", NULL, "1", "sio-namespace", "/org/acme", NULL), 3);
	ck_assert_str_eq(the_emit()->nsp, "/org/acme");
	reset_host();
	ck_assert_int_eq(deliver(dyn, "shared", NULL, "1", "sio-namespace", "x/org/acme", NULL), -2);
	ck_assert_int_eq(deliver(dyn, "shared", NULL, "1", "sio-namespace", "/org/acme/x", NULL), -2);
	ck_assert_int_eq(deliver(dyn, "ctl", NULL,
				 "{\"op\":\"disconnect\",\"namespace\":\"/org/acme/x\",\"sids\":[\"s\"]}", NULL), -2);
	ck_assert_uint_eq(host.n, 0);
	sgm_binding_free(dyn);
}
END_TEST

/* ---- control commands -------------------------------------------------------------- */

static long ctl(struct sgm_binding *b, const char *cmd)
{
	return deliver(b, "ctl", NULL, cmd, NULL);
}

START_TEST(control_join_leave)
{
	struct sgm_binding *b = down_binding();
	const struct call *c;

	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"sids\":[\"s1\",\"s2\"],\"in\":[\"lobby\"],\"except\":[\"muted\"],\"rooms\":[\"vip\",\"gold\"]}"), 3);
	ck_assert_uint_eq(host.n, 1);
	c = &host.calls[0];
	ck_assert_str_eq(c->kind, "join");
	ck_assert_str_eq(c->nsp, "/chat");
	ck_assert_str_eq(c->sids, "s1|s2");
	ck_assert_str_eq(c->rooms, "lobby");
	ck_assert_str_eq(c->except, "muted");
	ck_assert_str_eq(c->which, "vip|gold");

	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"leave\",\"namespace\":\"/chat\",\"in\":[\"vip\"],\"rooms\":[\"vip\"]}"), 3);
	c = &host.calls[0];
	ck_assert_str_eq(c->kind, "leave");
	ck_assert_str_eq(c->sids, "");
	ck_assert_str_eq(c->rooms, "vip");
	ck_assert_str_eq(c->which, "vip");

	/* The namespace is not here: nobody affected, not an error. */
	reset_host();
	host.rc = -2;
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"sids\":[\"s\"],\"rooms\":[\"r\"]}"), 0);

	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"sids\":[\"s\"]}"), -1);
	ck_assert_str_eq(why, "\"join\" needs \"rooms\" (the rooms to join)");
	ck_assert_int_eq(ctl(b, "{\"op\":\"leave\",\"sids\":[\"s\"],\"rooms\":[]}"), -1);
	ck_assert_str_eq(why, "\"leave\" needs \"rooms\" (the rooms to leave)");
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"rooms\":[\"r\"]}"), -1);
	ck_assert_str_eq(why, "\"join\" needs \"sids\" or \"in\" (which sockets)");
	ck_assert_int_eq(ctl(b, "{\"op\":\"leave\",\"except\":[\"x\"],\"rooms\":[\"r\"]}"), -1);
	ck_assert_str_eq(why, "\"leave\" needs \"sids\" or \"in\" (which sockets)");
	ck_assert_uint_eq(host.n, 0);
	sgm_binding_free(b);
}
END_TEST

START_TEST(control_disconnect_emit)
{
	struct sgm_binding *b = down_binding();
	const struct call *c;

	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"disconnect\",\"sids\":[\"s1\"]}"), 3);
	c = &host.calls[0];
	ck_assert_str_eq(c->kind, "disconnect");
	ck_assert_str_eq(c->sids, "s1");

	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"disconnect\",\"all\":true}"), 3);
	c = &host.calls[0];
	ck_assert_str_eq(c->sids, "");
	ck_assert_str_eq(c->rooms, "");

	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"disconnect\",\"all\":false}"), -1);
	ck_assert_str_eq(why, "\"disconnect\" needs \"sids\", \"in\", or \"all\": true");
	ck_assert_int_eq(ctl(b, "{\"op\":\"disconnect\",\"except\":[\"vip\"]}"), -1);
	ck_assert_uint_eq(host.n, 0);

	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"emit\",\"in\":[\"lobby\",\"s9\"],\"except\":[\"muted\"],\"event\":\"notice\","
				"\"args\":[\"hello\",{\"n\":1}],\"volatile\":true}"), 3);
	c = the_emit();
	ck_assert_str_eq(c->nsp, "/chat");
	ck_assert_str_eq(c->rooms, "lobby|s9");
	ck_assert_str_eq(c->except, "muted");
	ck_assert_str_eq(c->event, "notice");
	ck_assert_str_eq(c->args, "[\"hello\",{\"n\":1}]");
	ck_assert_int_eq(c->is_volatile, 1);

	/* No "in": the whole namespace; no "args": none. */
	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"emit\",\"event\":\"all\"}"), 3);
	c = the_emit();
	ck_assert_str_eq(c->rooms, "");
	ck_assert_str_eq(c->args, "(null)");
	ck_assert_int_eq(c->is_volatile, 0);

	reset_host();
	host.rc = -1;
	ck_assert_int_eq(ctl(b, "{\"op\":\"emit\",\"event\":\"e\"}"), -1);
	ck_assert_str_eq(why, "the event could not be encoded");
	reset_host();
	ck_assert_int_eq(ctl(b, "{\"op\":\"emit\",\"args\":[1]}"), -1);
	ck_assert_str_eq(why, "\"emit\" needs \"event\" (a string) and \"args\" (an array, optional)");
	ck_assert_int_eq(ctl(b, "{\"op\":\"emit\",\"event\":\"\"}"), -1);
	ck_assert_int_eq(ctl(b, "{\"op\":\"emit\",\"event\":\"e\",\"args\":\"x\"}"), -1);
	ck_assert_str_eq(why, "\"emit\" needs \"event\" (a string) and \"args\" (an array, optional)");
	ck_assert_int_eq(ctl(b, "{\"op\":\"emit\",\"event\":\"e\",\"sids\":[\"s\"]}"), -1);
	ck_assert_str_eq(why, "\"emit\" targets rooms: use \"in\" (a socket id is a room too)");
	ck_assert_uint_eq(host.n, 0);
	sgm_binding_free(b);
}
END_TEST

START_TEST(control_errors)
{
	struct sgm_binding *b = down_binding();
	struct sgm_binding *dyn = binding("^/t-[0-9]+$", 1, "{\"control_topic\":\"ctl\"}");
	char cmd[512];

	reset_host();
	ck_assert_int_eq(ctl(b, "garbage"), -1);
	ck_assert_str_eq(why, "a control command must be a JSON object");
	ck_assert_int_eq(ctl(b, "[1]"), -1);
	ck_assert_str_eq(why, "a control command must be a JSON object");
	ck_assert_int_eq(ctl(b, ""), -1);
	ck_assert_int_eq(ctl(b, "{\"sids\":[\"s\"]}"), -1);
	ck_assert_str_eq(why, "a control command needs \"op\"");
	ck_assert_int_eq(ctl(b, "{\"op\":\"explode\",\"sids\":[\"s\"]}"), -1);
	ck_assert_str_eq(why, "unknown op 'explode' (known: join, leave, disconnect, emit, fetch_sockets, count, rooms)");
	snprintf(cmd, sizeof(cmd), "{\"op\":\"%s\"}", "0123456789012345678901234567890123456789");
	ck_assert_int_eq(ctl(b, cmd), -1);
	ck_assert_str_eq(why, "unknown op '01234567890123456789012345678901' (known: join, leave, disconnect, emit, fetch_sockets, count, rooms)");
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"namespace\":1}"), -1);
	ck_assert_str_eq(why, "\"namespace\" must be a string");
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"sids\":\"s\",\"rooms\":[\"r\"]}"), -1);
	ck_assert_str_eq(why, "'sids' must be an array of at most 256 strings");
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"in\":[\"\"],\"rooms\":[\"r\"]}"), -1);
	ck_assert_str_eq(why, "'in' must be an array of non-empty strings");
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"sids\":[\"s\"],\"except\":[1],\"rooms\":[\"r\"]}"), -1);
	ck_assert_str_eq(why, "'except' must be an array of non-empty strings");
	ck_assert_int_eq(ctl(b, "{\"op\":\"join\",\"sids\":[\"s\"],\"rooms\":{}}"), -1);
	ck_assert_str_eq(why, "'rooms' must be an array of at most 256 strings");

	/* Another namespace: not this binding's (whatever else is wrong with it). */
	ck_assert_int_eq(ctl(b, "{\"op\":\"explode\",\"namespace\":\"/other\"}"), -2);
	ck_assert_uint_eq(host.n, 0);

	/* A dynamic namespace's commands name it. */
	ck_assert_int_eq(ctl(dyn, "{\"op\":\"emit\",\"event\":\"e\"}"), -1);
	ck_assert_str_eq(why, "a control command for a dynamic namespace needs \"namespace\"");
	ck_assert_int_eq(ctl(dyn, "{\"op\":\"emit\",\"namespace\":\"/chat\",\"event\":\"e\"}"), -2);
	ck_assert_uint_eq(host.n, 0);
	ck_assert_int_eq(ctl(dyn, "{\"op\":\"emit\",\"namespace\":\"/t-7\",\"event\":\"e\",\"args\":[]}"), 3);
	ck_assert_str_eq(the_emit()->nsp, "/t-7");
	ck_assert_str_eq(the_emit()->args, "[]");
	sgm_binding_free(b);
	sgm_binding_free(dyn);
}
END_TEST

/* ---- upstream ---------------------------------------------------------------------- */

/* Found by fuzz/fuzz_mapping.c: a broker value (or a control "emit") may contain a literal
 * {"_placeholder":true,"num":N} object, and the mapping handed it to the host as an
 * attachment placeholder: dangling when the message has no attachment N, an alias of another
 * argument's bytes when a {"$binary"} made one. The decoder refuses dangling placeholders from
 * clients; from a broker such a value is now refused as malformed (regression test). */
static size_t count_str(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

START_TEST(deliver_literal_placeholder)
{
	struct sgm_binding *b = down_binding();
	long rc;

	reset_host();
	rc = deliver(b, "auto", "lobby", "{\"_placeholder\":true,\"num\":0}", NULL);
	ck_assert_msg(rc == -1 || (host.n == 1 && count_str(host.calls[0].args, "_placeholder") == 0),
		      "dangling placeholder delivered: rc %ld, args %s, %zu attachments", rc,
		      host.n ? host.calls[0].args : "", host.n ? host.calls[0].n_att : 0);

	reset_host();
	rc = ctl(b, "{\"op\":\"emit\",\"event\":\"e\",\"args\":[{\"_placeholder\":true,\"num\":0}]}");
	ck_assert_msg(rc == -1 || (host.n == 1 && count_str(host.calls[0].args, "_placeholder") == 0),
		      "dangling placeholder emitted by a control command: rc %ld, args %s", rc,
		      host.n ? host.calls[0].args : "");

	/* Next to a real binary argument: only that one may be a placeholder. */
	reset_host();
	rc = deliver(b, "spread", "k", "[{\"_placeholder\":true,\"num\":0},{\"$binary\":\"AQ==\"}]", NULL);
	ck_assert_msg(rc == -1 || (host.n == 1 && host.calls[0].n_att == 1 &&
				   count_str(host.calls[0].args, "_placeholder") == 1),
		      "literal placeholder aliases an attachment: rc %ld, args %s", rc,
		      host.n ? host.calls[0].args : "");
	sgm_binding_free(b);
}
END_TEST

START_TEST(route_first_match)
{
	struct sgm_binding *b = binding("/chat", 0,
					"{\"from_clients\":[{\"event\":\"a\",\"topic\":\"ta\"},{\"event\":\"*\",\"topic\":\"any\"},"
					"{\"event\":\"b\",\"topic\":\"tb\"}]}");
	struct sgm_binding *n = binding("/chat", 0, "{\"from_clients\":[{\"event\":\"a\",\"topic\":\"ta\"}]}");
	struct sgm_binding *none = binding("/chat", 0, "{\"to_clients\":[{\"topic\":\"t\"}]}");

	ck_assert_int_eq(sgm_route(b, "a"), 0);
	ck_assert_int_eq(sgm_route(b, "b"), 1); /* "*" comes first */
	ck_assert_int_eq(sgm_route(b, "zzz"), 1);
	ck_assert_int_eq(sgm_route(n, "a"), 0);
	ck_assert_int_eq(sgm_route(n, "A"), -1);
	ck_assert_int_eq(sgm_route(none, "a"), -1);
	sgm_binding_free(b);
	sgm_binding_free(n);
	sgm_binding_free(none);
}
END_TEST

/* An event as the host passes it. */
struct evbuf {
	struct sg_bridge_event ev;
	json_t *args, *auth, *claims, *query;
	struct sg_bridge_bin att[2];
};

static struct sg_bridge_event *event(struct evbuf *e, const char *nsp, const char *name, const char *args)
{
	memset(e, 0, sizeof(*e));
	e->args = J(args);
	e->auth = J("{\"user\":\"ann\",\"n\":42,\"ok\":true,\"obj\":{}}");
	e->claims = J("{\"sub\":\"u-1\"}");
	e->query = J("{\"v\":\"3\"}");
	e->ev.nsp = nsp;
	e->ev.sid = "SID1";
	e->ev.event = name;
	e->ev.args = e->args;
	e->ev.auth = e->auth;
	e->ev.claims = e->claims;
	e->ev.query = e->query;
	e->ev.wants_ack = 1;
	return &e->ev;
}

static void event_free(struct evbuf *e)
{
	json_decref(e->args);
	json_decref(e->auth);
	json_decref(e->claims);
	json_decref(e->query);
}

static const char *out_header(const struct sgm_out *o, const char *name)
{
	for (size_t i = 0; i < o->n_headers; i++)
		if (!strcmp(o->hname[i], name))
			return o->hvalue[i];
	return NULL;
}

/* The room in a test event "[{\"room\":\"NAME\"}]" (a static copy). */
static const char *rooms_of(const char *args)
{
	static char room[64];
	const char *a = strstr(args, "\"room\":\"") + 8;

	snprintf(room, sizeof(room), "%.*s", (int)(strchr(a, '"') - a), a);
	return room;
}

START_TEST(build_defaults)
{
	struct sgm_binding *b = binding("/chat", 0, "{\"from_clients\":[{\"event\":\"message\",\"topic\":\"chat.in\"}]}");
	struct evbuf e;
	struct sgm_out o;

	event(&e, "/chat", "message", "[{\"text\":\"hi\",\"n\":7},\"second\",null,[1.5]]");
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	ck_assert_str_eq(o.topic, "chat.in");
	ck_assert_str_eq(o.key, "SID1");
	ck_assert_uint_eq(o.n_headers, 4);
	ck_assert_str_eq(o.hname[0], "sio-namespace");
	ck_assert_str_eq(o.hvalue[0], "/chat");
	ck_assert_str_eq(o.hname[1], "sio-event");
	ck_assert_str_eq(o.hvalue[1], "message");
	ck_assert_str_eq(o.hname[2], "sio-sid");
	ck_assert_str_eq(o.hvalue[2], "SID1");
	ck_assert_str_eq(o.hname[3], "sio-args");
	ck_assert_str_eq(o.hvalue[3], "spread");
	ck_assert_str_eq(o.value, "[{\"text\":\"hi\",\"n\":7},\"second\",null,[1.5]]");
	ck_assert_uint_eq(o.value_len, strlen(o.value));
	sgm_out_clear(&o);
	ck_assert_ptr_null(o.topic);
	ck_assert_uint_eq(o.n_headers, 0);
	event_free(&e);

	/* No arguments: an empty array. */
	event(&e, "/chat", "message", "[]");
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	ck_assert_str_eq(o.value, "[]");
	sgm_out_clear(&o);
	event_free(&e);
	sgm_binding_free(b);
}
END_TEST

START_TEST(build_nsp_in_topics)
{
	struct sgm_binding *b = binding("^/.*$", 1,
					"{\"from_clients\":[{\"event\":\"*\",\"topic\":\"{nsp}.{event}\",\"key\":\"{nsp}\","
					"\"headers\":{\"x-nsp\":\"{nsp}\"}}]}");
	static const char *const cases[][3] = {
		{"/chat/eu", "chat.eu.ev", "/chat/eu"},
		{"/", "_.ev", "/"},
		{"/chat", "chat.ev", "/chat"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct evbuf e;
		struct sgm_out o;

		event(&e, cases[i][0], "ev", "[1]");
		ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
		ck_assert_str_eq(o.topic, cases[i][1]);
		/* Elsewhere {nsp} is the name as it is. */
		ck_assert_str_eq(o.key, cases[i][2]);
		ck_assert_str_eq(out_header(&o, "x-nsp"), cases[i][2]);
		ck_assert_str_eq(out_header(&o, "sio-namespace"), cases[i][0]);
		sgm_out_clear(&o);
		event_free(&e);
	}
	sgm_binding_free(b);
}
END_TEST

START_TEST(build_placeholders_and_headers)
{
	struct sgm_binding *b = binding("/chat", 0,
					"{\"from_clients\":[{\"event\":\"say\",\"topic\":\"rooms.{room}\",\"key\":\"{auth.user}:{auth.n}:{auth.ok}\","
					"\"rooms\":\"{room}\",\"headers\":{\"x-user\":\"{auth.user}\",\"x-sub\":\"{claims.sub}\","
					"\"x-v\":\"v{query.v}\",\"x-e\":\"{event}/{sid}\"}},"
					"{\"event\":\"chan\",\"topic\":\"c.{room}\",\"room_field\":\"channel\"}]}");
	struct evbuf e;
	struct sgm_out o;

	reset_host();
	snprintf(host.joined, sizeof(host.joined), "lobby|c1");
	event(&e, "/chat", "say", "[{\"room\":\"lobby\",\"text\":\"x\"}]");
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	ck_assert_str_eq(o.topic, "rooms.lobby");
	ck_assert_str_eq(o.key, "ann:42:true");
	ck_assert_uint_eq(o.n_headers, 9);
	ck_assert_str_eq(out_header(&o, "sio-rooms"), "lobby");
	ck_assert_str_eq(out_header(&o, "x-user"), "ann");
	ck_assert_str_eq(out_header(&o, "x-sub"), "u-1");
	ck_assert_str_eq(out_header(&o, "x-v"), "v3");
	ck_assert_str_eq(out_header(&o, "x-e"), "say/SID1");
	ck_assert_str_eq(out_header(&o, "sio-args"), "spread");
	sgm_out_clear(&o);
	event_free(&e);

	/* room_field */
	event(&e, "/chat", "chan", "[{\"channel\":\"c1\",\"room\":\"no\"}]");
	ck_assert_int_eq(sgm_build(b, 1, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	ck_assert_str_eq(o.topic, "c.c1");
	sgm_out_clear(&o);
	event_free(&e);
	sgm_binding_free(b);
}
END_TEST

START_TEST(build_missing_values)
{
	struct sgm_binding *b = binding("/chat", 0,
					"{\"from_clients\":[{\"event\":\"say\",\"topic\":\"rooms.{room}\"},"
					"{\"event\":\"k\",\"topic\":\"t\",\"key\":\"{auth.nobody}\"},"
					"{\"event\":\"kr\",\"topic\":\"t\",\"key\":\"{room}\"},"
					"{\"event\":\"h\",\"topic\":\"t\",\"headers\":{\"x-o\":\"{auth.obj}\"}},"
					"{\"event\":\"r\",\"topic\":\"t\",\"rooms\":\"{query.nope}\"},"
					"{\"event\":\"chan\",\"topic\":\"c.{room}\",\"room_field\":\"channel\"}]}");
	static const char *const cases[][3] = {
		{"say", "[{\"text\":\"x\"}]", "topic: the event has no room (expected a 'room' string in its first argument)"},
		{"say", "[\"lobby\"]", "topic: the event has no room (expected a 'room' string in its first argument)"},
		{"say", "[]", "topic: the event has no room (expected a 'room' string in its first argument)"},
		{"say", "[{\"room\":\"\"}]", "topic: the event has no room (expected a 'room' string in its first argument)"},
		{"say", "[{\"room\":5}]", "topic: the event has no room (expected a 'room' string in its first argument)"},
		{"k", "[1]", "key: a value for the template '{auth.nobody}' is missing"},
		{"kr", "[1]", "key: the event has no room (expected a 'room' string in its first argument)"},
		{"h", "[1]", "x-o: a value for the template '{auth.obj}' is missing"},
		{"r", "[1]", "rooms: a value for the template '{query.nope}' is missing"},
		{"chan", "[{\"room\":\"r\"}]", "topic: the event has no room (expected a 'channel' string in its first argument)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct evbuf e;
		struct sgm_out o;
		int route;

		event(&e, "/chat", cases[i][0], cases[i][1]);
		route = sgm_route(b, cases[i][0]);
		ck_assert_int_ge(route, 0);
		why[0] = '\0';
		ck_assert_int_eq(sgm_build(b, route, &e.ev, &api, &host, &o, why, sizeof(why)), -1);
		ck_assert_str_eq(why, cases[i][2]);
		/* Nothing is left to free after a failure. */
		ck_assert_ptr_null(o.topic);
		ck_assert_ptr_null(o.value);
		ck_assert_uint_eq(o.n_headers, 0);
		event_free(&e);
	}
	sgm_binding_free(b);
}
END_TEST

START_TEST(build_binary_arguments)
{
	struct sgm_binding *b = binding("/chat", 0, "{\"from_clients\":[{\"event\":\"*\",\"topic\":\"t\"}]}");
	struct evbuf e;
	struct sgm_out o;

	event(&e, "/chat", "file", "[{\"name\":\"a\",\"data\":{\"_placeholder\":true,\"num\":1}},{\"_placeholder\":true,\"num\":0},"
				   "[{\"_placeholder\":true,\"num\":1}],{\"_placeholder\":true,\"num\":0,\"x\":1}]");
	e.att[0] = (struct sg_bridge_bin){(const unsigned char *)"\1\2\3", 3};
	e.att[1] = (struct sg_bridge_bin){(const unsigned char *)"hi", 2};
	e.ev.att = e.att;
	e.ev.n_att = 2;
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	ck_assert_str_eq(o.value, "[{\"name\":\"a\",\"data\":{\"$binary\":\"aGk=\"}},{\"$binary\":\"AQID\"},"
				  "[{\"$binary\":\"aGk=\"}],{\"_placeholder\":true,\"num\":0,\"x\":1}]");
	sgm_out_clear(&o);
	event_free(&e);

	/* An empty buffer. */
	event(&e, "/chat", "file", "[{\"_placeholder\":true,\"num\":0}]");
	e.att[0] = (struct sg_bridge_bin){(const unsigned char *)"", 0};
	e.ev.att = e.att;
	e.ev.n_att = 1;
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	ck_assert_str_eq(o.value, "[{\"$binary\":\"\"}]");
	sgm_out_clear(&o);
	event_free(&e);
	sgm_binding_free(b);
}
END_TEST

/* Upstream {"$binary"} values come back as the same bytes downstream (a relay). */
START_TEST(build_then_deliver_roundtrip)
{
	struct sgm_binding *b = binding("/chat", 0,
					"{\"from_clients\":[{\"event\":\"chat\",\"topic\":\"relay\",\"rooms\":\"{room}\"}],"
					"\"to_clients\":[{\"topic\":\"relay\",\"rooms\":\"header\",\"except_sender\":true,\"args\":\"spread\"}]}");
	struct evbuf e;
	struct sgm_out o;
	struct msgbuf mb;
	const struct call *c;

	reset_host();
	snprintf(host.joined, sizeof(host.joined), "R");
	event(&e, "/chat", "chat", "[{\"room\":\"R\"},{\"_placeholder\":true,\"num\":0}]");
	e.att[0] = (struct sg_bridge_bin){(const unsigned char *)"\0\xff", 2};
	e.ev.att = e.att;
	e.ev.n_att = 1;
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), 0);

	memset(&mb, 0, sizeof(mb));
	mb.m.topic = o.topic;
	mb.m.key = o.key;
	mb.m.key_len = strlen(o.key);
	mb.m.value = o.value;
	mb.m.value_len = o.value_len;
	for (size_t i = 0; i < o.n_headers; i++)
		mb.h[i] = (struct sgm_header){o.hname[i], o.hvalue[i], strlen(o.hvalue[i])};
	mb.m.headers = mb.h;
	mb.m.n_headers = o.n_headers;
	reset_host();
	ck_assert_int_eq(deliver_m(b, &mb.m), 3);
	c = the_emit();
	ck_assert_str_eq(c->rooms, "R");
	ck_assert_str_eq(c->event, "chat");
	ck_assert_str_eq(c->except_sid, "SID1");
	ck_assert_str_eq(c->args, "[{\"room\":\"R\"},{\"_placeholder\":true,\"num\":0}]");
	ck_assert_uint_eq(c->n_att, 1);
	ck_assert_uint_eq(c->att_len[0], 2);
	ck_assert_mem_eq(c->att[0], "\0\xff", 2);
	sgm_out_clear(&o);
	event_free(&e);
	sgm_binding_free(b);
}
END_TEST

/* The relay rule: a from_clients entry that takes a room from the event ({room} in its
 * topic, key, rooms or headers) relays only for a sender who has joined that room. */
START_TEST(build_relay_needs_membership)
{
	struct sgm_binding *b = binding("/chat", 0,
					"{\"from_clients\":[{\"event\":\"message\",\"topic\":\"chat.messages\",\"rooms\":\"{room}\"},"
					"{\"event\":\"bykey\",\"topic\":\"t\",\"key\":\"{room}\"},"
					"{\"event\":\"bytopic\",\"topic\":\"r.{room}\"},"
					"{\"event\":\"byheader\",\"topic\":\"t\",\"headers\":{\"x-r\":\"{room}\"}},"
					"{\"event\":\"chan\",\"topic\":\"t\",\"rooms\":\"{room}\",\"room_field\":\"channel\"},"
					"{\"event\":\"plain\",\"topic\":\"t\"}]}");
	static const char *const refused[][2] = {
		{"message", "[{\"room\":\"user:bob\",\"text\":\"hi\"}]"},
		{"bykey", "[{\"room\":\"user:bob\"}]"},
		{"bytopic", "[{\"room\":\"user:bob\"}]"},
		{"byheader", "[{\"room\":\"user:bob\"}]"},
		{"chan", "[{\"channel\":\"user:bob\",\"room\":\"lobby\"}]"},
	};
	static const char *const allowed[][2] = {
		{"message", "[{\"room\":\"lobby\"}]"},
		{"bytopic", "[{\"room\":\"lobby\"}]"},
		{"chan", "[{\"channel\":\"lobby\",\"room\":\"user:bob\"}]"},
		{"message", "[{\"room\":\"SID1\"}]"},          /* its own room */
		{"plain", "[{\"room\":\"user:bob\"}]"},         /* no {room}: no target room */
	};
	struct evbuf e;
	struct sgm_out o;

	reset_host();
	snprintf(host.joined, sizeof(host.joined), "lobby");
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		event(&e, "/chat", refused[i][0], refused[i][1]);
		ck_assert_int_eq(sgm_build(b, sgm_route(b, refused[i][0]), &e.ev, &api, &host, &o, why, sizeof(why)), -1);
		ck_assert_str_eq(why, "not a member of room 'user:bob'");
		ck_assert_str_eq(host.asked, "/chat SID1 user:bob");
		ck_assert_ptr_null(o.topic);
		ck_assert_uint_eq(o.n_headers, 0);
		ck_assert(host.relay_refused == (double)(i + 1));
		event_free(&e);
	}
	/* Logged once per interval, not once per refusal: a client cannot flood the log. */
	ck_assert_int_eq(host.logs, 1);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		event(&e, "/chat", allowed[i][0], allowed[i][1]);
		ck_assert_msg(sgm_build(b, sgm_route(b, allowed[i][0]), &e.ev, &api, &host, &o, why, sizeof(why)) == 0,
			      "%s %s: %s", allowed[i][0], allowed[i][1], why);
		sgm_out_clear(&o);
		event_free(&e);
	}
	ck_assert(host.relay_refused == 5.0);
	sgm_binding_free(b);
}
END_TEST

/* The rooms an entry's `rooms` template makes are target rooms too, whatever placeholder
 * filled them: {query.x} and {auth.x} are the client's to choose, and a value may hold a
 * comma-separated list. Each needs membership. */
START_TEST(build_relay_rooms_template)
{
	struct sgm_binding *b = binding("/chat", 0,
					"{\"from_clients\":[{\"event\":\"q\",\"topic\":\"t\",\"rooms\":\"{query.v}\"},"
					"{\"event\":\"a\",\"topic\":\"t\",\"rooms\":\"user:{auth.user}\"},"
					"{\"event\":\"lit\",\"topic\":\"t\",\"rooms\":\"staff\"},"
					"{\"event\":\"open\",\"topic\":\"t\",\"rooms\":\"staff\",\"unjoined_rooms\":\"staff\"}]}");
	struct evbuf e;
	struct sgm_out o;

	reset_host();
	snprintf(host.joined, sizeof(host.joined), "lobby|user:ann");
	/* {query.v} is "3" in the test event: a room the sender is not in. */
	event(&e, "/chat", "q", "[{}]");
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "not a member of room '3'");
	event_free(&e);
	/* A list smuggled through one value: every room is checked. */
	event(&e, "/chat", "q", "[{}]");
	json_object_set_new(e.query, "v", json_string("lobby, user:bob"));
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "not a member of room 'user:bob'");
	json_object_set_new(e.query, "v", json_string("lobby,user:ann"));
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	ck_assert_str_eq(out_header(&o, "sio-rooms"), "lobby,user:ann");
	sgm_out_clear(&o);
	event_free(&e);
	/* Its own auto-joined room: allowed; another user's (auth is the client's): refused. */
	event(&e, "/chat", "a", "[{}]");
	ck_assert_int_eq(sgm_build(b, 1, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	sgm_out_clear(&o);
	json_object_set_new(e.auth, "user", json_string("bob"));
	ck_assert_int_eq(sgm_build(b, 1, &e.ev, &api, &host, &o, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "not a member of room 'user:bob'");
	event_free(&e);
	/* A literal room needs membership too, unless unjoined_rooms opens it. */
	event(&e, "/chat", "lit", "[{}]");
	ck_assert_int_eq(sgm_build(b, 2, &e.ev, &api, &host, &o, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "not a member of room 'staff'");
	ck_assert_int_eq(sgm_build(b, 3, &e.ev, &api, &host, &o, why, sizeof(why)), 0);
	sgm_out_clear(&o);
	event_free(&e);
	ck_assert(host.relay_refused == 4.0);
	sgm_binding_free(b);
}
END_TEST

/* unjoined_rooms opens an entry to rooms its sender need not be in (direct messages to
 * socket ids), as a whole-name match; everything else still needs membership. */
START_TEST(build_relay_unjoined_rooms)
{
	struct sgm_binding *b = binding("/chat", 0,
					"{\"from_clients\":[{\"event\":\"dm\",\"topic\":\"t\",\"rooms\":\"{room}\","
					"\"unjoined_rooms\":\"[A-Za-z0-9_-]{20}\"}]}");
	static const char *const cases[][2] = {
		{"[{\"room\":\"abcdefghijABCDEFGHIJ\"}]", ""},
		{"[{\"room\":\"abc-_fghijABCDEFGH01\"}]", ""},
		{"[{\"room\":\"abcdefghijABCDEFGHIJK\"}]", "not a member of room 'abcdefghijABCDEFGHIJK'"},
		{"[{\"room\":\"xabcdefghijABCDEFGHIJ\"}]", "not a member of room 'xabcdefghijABCDEFGHIJ'"},
		{"[{\"room\":\"user:bob\"}]", "not a member of room 'user:bob'"},
	};
	struct evbuf e;
	struct sgm_out o;

	reset_host();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int want = cases[i][1][0] ? -1 : 0;

		event(&e, "/chat", "dm", cases[i][0]);
		why[0] = '\0';
		ck_assert_int_eq(sgm_build(b, 0, &e.ev, &api, &host, &o, why, sizeof(why)), want);
		ck_assert_str_eq(why, cases[i][1]);
		if (!want)
			ck_assert_str_eq(out_header(&o, "sio-rooms"), rooms_of(cases[i][0]));
		sgm_out_clear(&o);
		event_free(&e);
	}
	ck_assert(host.relay_refused == 3.0);
	sgm_binding_free(b);
}
END_TEST

/* A host older than ABI 1.2 cannot say who is a member: relays to rooms are refused (its
 * own room and unjoined_rooms need no answer). */
START_TEST(build_relay_old_host)
{
	struct sg_host_api old = api;
	struct sgm_binding *b = binding("/chat", 0,
					"{\"from_clients\":[{\"event\":\"m\",\"topic\":\"t\",\"rooms\":\"{room}\",\"unjoined_rooms\":\"dm-.+\"}]}");
	struct evbuf e;
	struct sgm_out o;

	old.abi_minor = 1;
	old.is_member = NULL;
	reset_host();
	snprintf(host.joined, sizeof(host.joined), "lobby");
	event(&e, "/chat", "m", "[{\"room\":\"lobby\"}]");
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &old, &host, &o, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "this siogate cannot check room membership (bridge ABI < 1.2)");
	ck_assert(host.relay_refused == 1.0);
	event_free(&e);
	event(&e, "/chat", "m", "[{\"room\":\"SID1\"}]");
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &old, &host, &o, why, sizeof(why)), 0);
	sgm_out_clear(&o);
	event_free(&e);
	event(&e, "/chat", "m", "[{\"room\":\"dm-x\"}]");
	ck_assert_int_eq(sgm_build(b, 0, &e.ev, &old, &host, &o, why, sizeof(why)), 0);
	sgm_out_clear(&o);
	event_free(&e);
	sgm_binding_free(b);
}
END_TEST

/* ---- runner ------------------------------------------------------------------------ */

static Suite *mapping_suite(void)
{
	Suite *s = suite_create("mapping");
	TCase *tc;

	tc = tcase_create("check");
	tcase_add_test(tc, check_bridge_level);
	tcase_add_test(tc, check_to_clients);
	tcase_add_test(tc, check_from_clients);
	tcase_add_test(tc, check_too_many_headers);
	tcase_add_test(tc, check_literal_topics_against_flavor);
	tcase_add_test(tc, check_bad_pattern);
	suite_add_tcase(s, tc);

	tc = tcase_create("subscriptions");
	tcase_add_test(tc, subs_literal_and_templates);
	tcase_add_test(tc, header_lookup);
	suite_add_tcase(s, tc);

	tc = tcase_create("downstream");
	tcase_add_test(tc, deliver_rooms_modes);
	tcase_add_test(tc, deliver_bad_rooms);
	tcase_add_test(tc, deliver_except_event_volatile_sender);
	tcase_add_test(tc, deliver_replay_mode);
	tcase_add_test(tc, deliver_args_modes);
	tcase_add_test(tc, deliver_dollar_binary);
	tcase_add_test(tc, deliver_namespace_header);
	tcase_add_test(tc, deliver_pattern_whole_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("control");
	tcase_add_test(tc, control_join_leave);
	tcase_add_test(tc, control_disconnect_emit);
	tcase_add_test(tc, control_errors);
	tcase_add_test(tc, deliver_literal_placeholder);
	tcase_add_test(tc, deliver_reserved_and_ignore_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("upstream");
	tcase_add_test(tc, route_first_match);
	tcase_add_test(tc, build_defaults);
	tcase_add_test(tc, build_nsp_in_topics);
	tcase_add_test(tc, build_placeholders_and_headers);
	tcase_add_test(tc, build_missing_values);
	tcase_add_test(tc, build_binary_arguments);
	tcase_add_test(tc, build_then_deliver_roundtrip);
	tcase_add_test(tc, build_relay_needs_membership);
	tcase_add_test(tc, build_relay_unjoined_rooms);
	tcase_add_test(tc, build_relay_rooms_template);
	tcase_add_test(tc, build_relay_old_host);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mapping_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
