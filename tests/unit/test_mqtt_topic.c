/* test_mqtt_topic.c - the MQTT bridge's pure parts: topic templates, filter matching, the
 * percent-escaping of room names, envelopes, the last-value cache and config validation. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../bridges/mqtt/envelope.h"
#include "../../bridges/mqtt/lastval.h"
#include "../../bridges/mqtt/config.h"
#include "../../bridges/mqtt/topic.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- filters ------------------------------------------------------------------------ */

START_TEST(filter_check)
{
	static const char *const good[] = {"a", "a/b", "+", "#", "a/+/b", "a/#", "+/+/#", "/", "a//b", "$SYS/#", NULL};
	static const struct {
		const char *f, *why;
	} bad[] = {
		{"", "cannot be empty"},
		{"a+", "'+' must be a whole"},
		{"a/b+/c", "'+' must be a whole"},
		{"#/a", "'#' must be the whole last"},
		{"a#", "'#' must be the whole last"},
		{"$share/g/a", "shared subscriptions"},
	};
	char why[200];

	for (int i = 0; good[i]; i++)
		ck_assert_msg(mq_filter_check(good[i], why, sizeof(why)) == 0, "%s: %s", good[i], why);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(mq_filter_check(bad[i].f, why, sizeof(why)), -1);
		ck_assert_msg(strstr(why, bad[i].why), "%s: %s", bad[i].f, why);
	}
	ck_assert_int_eq(mq_name_check("a/b", why, sizeof(why)), 0);
	ck_assert_int_eq(mq_name_check("a/+", why, sizeof(why)), -1);
	ck_assert_int_eq(mq_name_check("$SYS/x", why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "reserved"));
}
END_TEST

START_TEST(filter_match)
{
	static const struct {
		const char *f, *t;
		int m;
	} cases[] = {
		{"a/b", "a/b", 1},       {"a/b", "a/c", 0},         {"a/b", "a/b/c", 0},   {"a/+", "a/b", 1},
		{"a/+", "a/b/c", 0},     {"a/+", "a", 0},           {"a/+", "a/", 1},      {"a/#", "a", 1},
		{"a/#", "a/b/c", 1},     {"a/#", "ab", 0},          {"#", "a/b", 1},       {"#", "$SYS/x", 0},
		{"+/x", "$SYS/x", 0},    {"$SYS/#", "$SYS/x", 1},   {"+/+", "/x", 1},      {"a/+/c", "a/b/c", 1},
		{"a/+/c", "a/b/d", 0},   {"+", "a", 1},             {"+", "a/b", 0},       {"a/b/#", "a/b", 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(mq_filter_match(cases[i].f, cases[i].t) == cases[i].m, "%s ~ %s", cases[i].f, cases[i].t);
}
END_TEST

/* ---- to_clients templates ----------------------------------------------------------- */

START_TEST(template_parse)
{
	struct mq_topic t;
	char why[200];

	ck_assert_int_eq(mq_topic_parse("chat/{room}/out", &t, why, sizeof(why)), 0);
	ck_assert_str_eq(t.filter, "chat/+/out");
	ck_assert_int_eq(t.room_level, 1);
	ck_assert_int_eq(t.event_level, -1);
	mq_topic_clear(&t);

	ck_assert_int_eq(mq_topic_parse("ev/{room}/x-{event}.json", &t, why, sizeof(why)), 0);
	ck_assert_str_eq(t.filter, "ev/+/+");
	ck_assert_int_eq(t.event_level, 2);
	ck_assert_str_eq(t.event_pre, "x-");
	ck_assert_str_eq(t.event_suf, ".json");
	mq_topic_clear(&t);

	ck_assert_int_eq(mq_topic_parse("sensors/+/temp", &t, why, sizeof(why)), 0);
	ck_assert_str_eq(t.filter, "sensors/+/temp");
	ck_assert_int_eq(t.room_level, -1);
	mq_topic_clear(&t);

	ck_assert_int_eq(mq_topic_parse("{room}/#", &t, why, sizeof(why)), 0);
	ck_assert_str_eq(t.filter, "+/#");
	mq_topic_clear(&t);

	{
		static const struct {
			const char *tpl, *why;
		} bad[] = {
			{"chat/{user}", "unknown placeholder '{user}'"},
			{"chat/{room}{event}", "one placeholder per topic level"},
			{"chat/{room}/{room}", "{room} may appear only once"},
			{"chat/{room", "unbalanced"},
			{"chat/room}", "unbalanced"},
			{"a+b/{room}", "'+' must be a whole"},
			{"#/{room}", "'#' must be the whole last"},
			{"chat/{room}+", "cannot hold '+' or '#'"},
			{"$share/g/{room}", "shared subscriptions"},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ck_assert_msg(mq_topic_parse(bad[i].tpl, &t, why, sizeof(why)) == -1, "%s accepted", bad[i].tpl);
			ck_assert_msg(strstr(why, bad[i].why), "%s: %s", bad[i].tpl, why);
			ck_assert_ptr_null(t.filter);
		}
	}
}
END_TEST

START_TEST(template_match)
{
	struct mq_topic t;
	char room[MQ_ROOM_MAX], event[MQ_EVENT_MAX], why[200];

	ck_assert_int_eq(mq_topic_parse("ev/r-{room}/{event}", &t, why, sizeof(why)), 0);
	ck_assert_int_eq(mq_topic_match(&t, "ev/r-lobby/news", room, sizeof(room), event, sizeof(event), why, sizeof(why)), 1);
	ck_assert_str_eq(room, "lobby");
	ck_assert_str_eq(event, "news");
	/* Escaped levels are decoded. */
	ck_assert_int_eq(mq_topic_match(&t, "ev/r-a%2Fb%2Bc/n%23x", room, sizeof(room), event, sizeof(event), why, sizeof(why)), 1);
	ck_assert_str_eq(room, "a/b+c");
	ck_assert_str_eq(event, "n#x");
	/* The level's literal part does not match: not for this mapping. */
	ck_assert_int_eq(mq_topic_match(&t, "ev/lobby/news", room, sizeof(room), event, sizeof(event), why, sizeof(why)), 0);
	ck_assert_int_eq(mq_topic_match(&t, "ev/r-lobby", room, sizeof(room), event, sizeof(event), why, sizeof(why)), 0);
	/* Matches, but unusable. */
	ck_assert_int_eq(mq_topic_match(&t, "ev/r-/news", room, sizeof(room), event, sizeof(event), why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "room level"));
	ck_assert_int_eq(mq_topic_match(&t, "ev/r-a%00/news", room, sizeof(room), event, sizeof(event), why, sizeof(why)), -1);
	ck_assert_int_eq(mq_topic_match(&t, "ev/r-a/", room, sizeof(room), event, sizeof(event), why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "event level"));
	mq_topic_clear(&t);

	ck_assert_int_eq(mq_topic_parse("news/#", &t, why, sizeof(why)), 0);
	ck_assert_int_eq(mq_topic_match(&t, "news/a/b", room, sizeof(room), event, sizeof(event), why, sizeof(why)), 1);
	ck_assert_str_eq(room, "");
	ck_assert_str_eq(event, "");
	mq_topic_clear(&t);
}
END_TEST

/* ---- escaping ------------------------------------------------------------------------- */

static char *esc(const char *s, int at_start)
{
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	mq_escape(&sb, s, strlen(s), at_start);
	sg_strbuf_appendc(&sb, '\0');
	return sg_strbuf_steal(&sb);
}

START_TEST(escape_roundtrip)
{
	static const struct {
		const char *in, *out;
		int at_start;
	} cases[] = {
		{"lobby", "lobby", 1},
		{"a/b", "a%2Fb", 0},
		{"+#%", "%2B%23%25", 0},
		{"$sys", "%24sys", 1},
		{"$sys", "$sys", 0},
		{"a\nb\x7f", "a%0Ab%7F", 0},
		{"\xc2\x85x", "%C2%85x", 0},     /* U+0085, a C1 control */
		{"caf\xc3\xa9", "caf\xc3\xa9", 0}, /* é stays */
		{"room:1 2", "room:1 2", 0},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *e = esc(cases[i].in, cases[i].at_start);
		ck_assert_str_eq(e, cases[i].out);
		ck_assert_int_eq(mq_unescape(e, strlen(e), buf, sizeof(buf)), (long)strlen(cases[i].in));
		ck_assert_str_eq(buf, cases[i].in);
		free(e);
	}
	/* Lenient decoding: a '%' without two hex digits stays. */
	ck_assert_int_eq(mq_unescape("100%", 4, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "100%");
	ck_assert_int_eq(mq_unescape("%zz%4", 5, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "%zz%4");
	ck_assert_int_eq(mq_unescape("%41%62", 6, buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "Ab");
	ck_assert_int_eq(mq_unescape("a%00", 4, buf, sizeof(buf)), -1);
	ck_assert_int_eq(mq_unescape("abcdef", 6, buf, 6), -1); /* no room for the NUL */
	ck_assert_int_eq(mq_unescape("abcde", 5, buf, 6), 5);
}
END_TEST

START_TEST(expand_upstream)
{
	json_t *args = json_pack("[{ss}]", "room", "a/b+c"), *auth = json_pack("{ss}", "user", "u#1");
	json_t *claims = json_pack("{si}", "tenant", 7), *query = json_object();
	struct sg_bridge_event ev;
	char why[200], *t;

	memset(&ev, 0, sizeof(ev));
	ev.nsp = "/chat/eu";
	ev.sid = "SID1";
	ev.event = "say/hi";
	ev.args = args;
	ev.auth = auth;
	ev.claims = claims;
	ev.query = query;
	t = mq_expand_topic("up/{nsp}/{room}/{event}/{sid}/{auth.user}/{claims.tenant}", &ev, "room", why, sizeof(why));
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, "up/chat.eu/a%2Fb%2Bc/say%2Fhi/SID1/u%231/7");
	free(t);

	ev.nsp = "/";
	t = mq_expand_topic("{nsp}/x", &ev, "room", why, sizeof(why));
	ck_assert_str_eq(t, "_/x");
	free(t);

	/* A value that would start the topic with '$' is escaped. */
	json_object_set_new(json_array_get(args, 0), "room", json_string("$SYS"));
	t = mq_expand_topic("{room}/in", &ev, "room", why, sizeof(why));
	ck_assert_str_eq(t, "%24SYS/in");
	free(t);

	ck_assert_ptr_null(mq_expand_topic("up/{room}", &ev, "channel", why, sizeof(why)));
	ck_assert_str_eq(why, "topic: the event has no room (expected a 'channel' string in its first argument)");
	ck_assert_ptr_null(mq_expand_topic("up/{query.x}", &ev, "room", why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "is missing"));

	ck_assert_int_eq(mq_up_template_check("up/{room}/in", why, sizeof(why)), 0);
	ck_assert_int_eq(mq_up_template_check("up/+/in", why, sizeof(why)), -1);
	ck_assert_int_eq(mq_up_template_check("up/#", why, sizeof(why)), -1);
	ck_assert_int_eq(mq_up_template_check("$SYS/{room}", why, sizeof(why)), -1);
	json_decref(args);
	json_decref(auth);
	json_decref(claims);
	json_decref(query);
}
END_TEST

/* ---- envelopes ------------------------------------------------------------------------ */

static const char *hdr(const struct mq_env *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->h[i].name, name))
			return e->h[i].value;
	return NULL;
}

START_TEST(envelope_parse)
{
	struct mq_env e;
	char why[200];
	const char *full = "{\"event\":\"news\",\"rooms\":[\"a\",\"b\"],\"except\":\"x, y\",\"namespace\":\"/chat\","
			   "\"sid\":\"S\",\"volatile\":true,\"value\":{\"n\":1.5},\"future\":1}";

	ck_assert_int_eq(mq_env_parse(full, strlen(full), &e, why, sizeof(why)), 0);
	ck_assert_str_eq(hdr(&e, SGM_H_EVENT), "news");
	ck_assert_str_eq(hdr(&e, SGM_H_ROOMS), "a,b");
	ck_assert_str_eq(hdr(&e, SGM_H_EXCEPT), "x, y");
	ck_assert_str_eq(hdr(&e, SGM_H_NAMESPACE), "/chat");
	ck_assert_str_eq(hdr(&e, SGM_H_SID), "S");
	ck_assert_str_eq(hdr(&e, SGM_H_VOLATILE), "true");
	ck_assert_str_eq(hdr(&e, SGM_H_ARGS), "value");
	ck_assert_int_eq((int)e.value_len, 9);
	ck_assert(!memcmp(e.value, "{\"n\":1.5}", 9));
	mq_env_clear(&e);

	ck_assert_int_eq(mq_env_parse("{\"args\":[1,\"two\"]}", 18, &e, why, sizeof(why)), 0);
	ck_assert_str_eq(hdr(&e, SGM_H_ARGS), "spread");
	ck_assert(!memcmp(e.value, "[1,\"two\"]", e.value_len));
	mq_env_clear(&e);

	ck_assert_int_eq(mq_env_parse("{\"binary\":\"AAEC\"}", 17, &e, why, sizeof(why)), 0);
	ck_assert_str_eq(hdr(&e, SGM_H_ARGS), "binary");
	ck_assert_int_eq((int)e.value_len, 3);
	ck_assert(!memcmp(e.value, "\0\1\2", 3));
	mq_env_clear(&e);

	/* a request to the recipients, and an answer to a client's request */
	ck_assert_int_eq(mq_env_parse("{\"reply_to\":\"answers\",\"ack_id\":\"a1\",\"ack_timeout_ms\":900,\"value\":1}", 67,
				      &e, why, sizeof(why)), 0);
	ck_assert_str_eq(hdr(&e, SGM_H_REPLY_TO), "answers");
	ck_assert_str_eq(hdr(&e, SGM_H_ACK_ID), "a1");
	ck_assert_str_eq(hdr(&e, SGM_H_ACK_TIMEOUT), "900");
	mq_env_clear(&e);

	ck_assert_int_eq(mq_env_parse("{}", 2, &e, why, sizeof(why)), 0);
	ck_assert_int_eq((int)e.n, 0);
	ck_assert_int_eq((int)e.value_len, 0);
	mq_env_clear(&e);

	{
		static const struct {
			const char *in, *why;
		} bad[] = {
			{"", "must be a JSON object"},
			{"[1]", "must be a JSON object"},
			{"not json", "must be a JSON object"},
			{"{\"args\":1}", "\"args\" must be an array"},
			{"{\"args\":[],\"value\":1}", "at most one of"},
			{"{\"rooms\":[\"a,b\"]}", "without ','"},
			{"{\"rooms\":[\"\"]}", "non-empty room name"},
			{"{\"rooms\":{}}", "\"rooms\" must be an array"},
			{"{\"event\":\"\"}", "\"event\" must be a non-empty string"},
			{"{\"event\":\"a\\u0000b\"}", "\"event\" must be a non-empty string"},
			{"{\"volatile\":\"yes\"}", "\"volatile\" must be a boolean"},
			{"{\"binary\":\"@@\"}", "not valid base64"},
			{"{\"ack_id\":7}", "\"ack_id\" must be a non-empty string"},
			{"{\"reply_to\":\"\"}", "\"reply_to\" must be a non-empty string"},
			{"{\"ack_timeout_ms\":\"9\"}", "\"ack_timeout_ms\" must be an integer"},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ck_assert_msg(mq_env_parse(bad[i].in, strlen(bad[i].in), &e, why, sizeof(why)) == -1, "%s", bad[i].in);
			ck_assert_msg(strstr(why, bad[i].why), "%s: %s", bad[i].in, why);
			ck_assert_int_eq((int)e.n, 0);
		}
	}
}
END_TEST

START_TEST(envelope_build)
{
	struct sgm_out o;
	size_t len;
	char *s;

	memset(&o, 0, sizeof(o));
	o.hname[0] = "sio-namespace", o.hvalue[0] = "/chat";
	o.hname[1] = "sio-event", o.hvalue[1] = "say";
	o.hname[2] = "sio-sid", o.hvalue[2] = "S\"1";
	o.hname[3] = "sio-args", o.hvalue[3] = "spread";
	o.hname[4] = "x-user", o.hvalue[4] = "bob";
	o.hname[5] = "sio-rooms", o.hvalue[5] = "lobby";
	o.n_headers = 6;
	o.value = "[1,{\"a\":true}]";
	o.value_len = strlen(o.value);
	s = mq_env_build(&o, &len);
	ck_assert_str_eq(s, "{\"namespace\":\"/chat\",\"event\":\"say\",\"sid\":\"S\\\"1\",\"rooms\":\"lobby\","
			    "\"headers\":{\"x-user\":\"bob\"},\"args\":[1,{\"a\":true}]}");
	ck_assert_int_eq((int)len, (int)strlen(s));
	free(s);

	/* a request waiting for the backend says where to answer, and under which id */
	o.hname[6] = "sio-reply-to", o.hvalue[6] = "siogate/replies/i1";
	o.hname[7] = "sio-ack-id", o.hvalue[7] = "i1.7";
	o.n_headers = 8;
	s = mq_env_build(&o, &len);
	ck_assert_str_eq(s, "{\"namespace\":\"/chat\",\"event\":\"say\",\"sid\":\"S\\\"1\",\"rooms\":\"lobby\","
			    "\"reply_to\":\"siogate/replies/i1\",\"ack_id\":\"i1.7\","
			    "\"headers\":{\"x-user\":\"bob\"},\"args\":[1,{\"a\":true}]}");
	free(s);

	s = mq_dead_letter_json("bad", "t/1", "\xff\x00", 2, &len);
	ck_assert_str_eq(s, "{\"error\":\"bad\",\"topic\":\"t/1\",\"payload_base64\":\"/wA=\"}");
	free(s);
	s = mq_dead_letter_json("bad", "t/1", "hi", 2, &len);
	ck_assert_str_eq(s, "{\"error\":\"bad\",\"topic\":\"t/1\",\"payload\":\"hi\"}");
	free(s);
}
END_TEST

/* ---- last-value cache ----------------------------------------------------------------- */

static void collect(void *ud, const struct mq_lv_item *it)
{
	char *out = ud;

	strcat(out, it->topic);
	strcat(out, "=");
	strncat(out, it->value, it->value_len);
	strcat(out, ";");
}

START_TEST(lastval_cache)
{
	struct mq_lv *lv = mq_lv_new();
	struct sgm_header h = {"sio-event", "ev", 2};
	char got[256];
	char topic[32], room[32];

	ck_assert_int_eq(mq_lv_set(lv, 0, 0, "s/a/x", "a", &h, 1, "1", 1), 0);
	ck_assert_int_eq(mq_lv_set(lv, 0, 0, "s/a/x", "a", &h, 1, "2", 1), 0); /* replaces */
	ck_assert_int_eq(mq_lv_set(lv, 0, 1, "t/a", "a", NULL, 0, "3", 1), 0);
	ck_assert_int_eq(mq_lv_set(lv, 1, 0, "s/a/x", "a", NULL, 0, "other binding", 13), 0);
	ck_assert_int_eq((int)mq_lv_count(lv), 3);
	got[0] = '\0';
	mq_lv_foreach(lv, 0, "a", collect, got);
	ck_assert_msg(!strcmp(got, "t/a=3;s/a/x=2;") || !strcmp(got, "s/a/x=2;t/a=3;"), "%s", got);
	ck_assert_int_eq(mq_lv_set(lv, 0, 0, "s/a/x", "a", NULL, 0, "", 0), 0); /* clears */
	got[0] = '\0';
	mq_lv_foreach(lv, 0, "a", collect, got);
	ck_assert_str_eq(got, "t/a=3;");
	/* Growth keeps everything reachable. */
	for (int i = 0; i < 1000; i++) {
		snprintf(topic, sizeof(topic), "r/%d", i);
		snprintf(room, sizeof(room), "room%d", i);
		ck_assert_int_eq(mq_lv_set(lv, 2, 0, topic, room, &h, 1, "v", 1), 0);
	}
	got[0] = '\0';
	mq_lv_foreach(lv, 2, "room777", collect, got);
	ck_assert_str_eq(got, "r/777=v;");
	ck_assert_int_eq((int)mq_lv_count(lv), 1002);
	mq_lv_free(lv);
	mq_lv_free(NULL);
}
END_TEST

/* ---- configuration -------------------------------------------------------------------- */

static int broker(const char *json, char *err, size_t len)
{
	json_t *b = json_loads(json, 0, NULL);
	int rc;

	ck_assert_ptr_nonnull(b);
	rc = mq_check_broker(b, err, len);
	json_decref(b);
	return rc;
}

static int binding(const char *json, char *err, size_t len)
{
	json_t *b = json_loads(json, 0, NULL);
	int rc;

	ck_assert_msg(b != NULL, "bad JSON in the test: %s", json);
	rc = mq_check_binding(b, err, len);
	json_decref(b);
	return rc;
}

START_TEST(config_broker)
{
	static const struct {
		const char *json, *err;
	} bad[] = {
		{"{\"type\":\"mqtt\",\"prot\":1}", ": unknown key 'prot' (did you mean 'port'?)"},
		{"{\"type\":\"mqtt\",\"port\":0}", "port: expected an integer from 1 to 65535"},
		{"{\"type\":\"mqtt\",\"port\":\"x1\"}", "port: expected an integer from 1 to 65535"},
		{"{\"type\":\"mqtt\",\"protocol\":\"4\"}", "protocol: expected one of \"5\", \"3.1.1\""},
		{"{\"type\":\"mqtt\",\"password\":\"p\"}", "password: needs a username"},
		{"{\"type\":\"mqtt\",\"keepalive\":1}", "keepalive: expected an integer from 5 to 65535"},
		{"{\"type\":\"mqtt\",\"tls\":{\"cert_file\":\"c\"}}", "tls.key_file: cert_file and key_file go together"},
		{"{\"type\":\"mqtt\",\"tls\":{\"cafile\":\"c\"}}", "tls: unknown key 'cafile' (did you mean 'ca_file'?)"},
		{"{\"type\":\"mqtt\",\"tls\":{\"version\":\"sslv3\"}}", "tls.version: expected one of tlsv1.2, tlsv1.3"},
		{"{\"type\":\"mqtt\",\"tls\":7}", "tls: expected a boolean or an object"},
		{"{\"type\":\"mqtt\",\"reconnect_min_ms\":500,\"reconnect_max_ms\":100}", "reconnect_max_ms: must not be less"},
		{"{\"type\":\"mqtt\",\"host\":\"\"}", "host: expected a non-empty string"},
	};
	char err[SG_BRIDGE_ERR_MAX];
	json_t *b = json_loads("{\"type\":\"mqtt\",\"port\":\"18830\",\"protocol\":\"3.1.1\",\"tls\":\"true\"}", 0, NULL);
	struct mq_conf c;

	ck_assert_int_eq(broker("{\"type\":\"mqtt\"}", err, sizeof(err)), 0);
	/* "" is "not set", so that "${MQTT_USERNAME:-}" can turn authentication off. */
	ck_assert_int_eq(broker("{\"type\":\"mqtt\",\"username\":\"\",\"password\":\"\",\"client_id\":\"\"}", err, sizeof(err)), 0);
	ck_assert_int_eq(broker("{\"type\":\"mqtt\",\"username\":\"\",\"password\":\"p\"}", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "password: needs a username");
	ck_assert_int_eq(mq_conf_load(b, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.port, 18830);
	ck_assert_int_eq(c.v5, 0);
	ck_assert_int_eq(c.tls, 1);
	ck_assert_str_eq(c.host, "localhost");
	ck_assert_int_eq((int)c.delivery_timeout_ms, 30000);
	mq_conf_clear(&c);
	json_decref(b);
	b = json_loads("{\"type\":\"mqtt\",\"reconnect_max_ms\":100}", 0, NULL);
	ck_assert_int_eq(mq_conf_load(b, &c, err, sizeof(err)), 0);
	ck_assert_int_eq((int)c.reconnect_min_ms, 100); /* follows a small maximum */
	mq_conf_clear(&c);
	json_decref(b);
	b = json_loads("{\"type\":\"mqtt\",\"tls\":{\"ca_file\":\"/x\"}}", 0, NULL);
	ck_assert_int_eq(mq_conf_load(b, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.port, 8883); /* the TLS default */
	mq_conf_clear(&c);
	json_decref(b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(broker(bad[i].json, err, sizeof(err)) == -1, "%s accepted", bad[i].json);
		ck_assert_msg(strstr(err, bad[i].err) == err, "%s: '%s'", bad[i].json, err);
	}
}
END_TEST

START_TEST(config_binding)
{
	static const char *const good[] = {
		"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"chat/{room}/out\",\"qos\":2,\"retained_on_join\":true}]}",
		"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"ev/{room}/{event}\"},{\"topic\":\"all/#\",\"rooms\":\"all\"}],"
		"\"envelope\":true}",
		"{\"broker\":\"m\",\"events\":{\"topic\":\"siogate/events\",\"heartbeat_ms\":500}}",
		"{\"broker\":\"m\",\"from_clients\":[{\"event\":\"*\",\"topic\":\"up/{nsp}/{event}\",\"qos\":0,\"retain\":\"true\"}],"
		"\"control_topic\":\"ctl/+\",\"dead_letter_topic\":\"dead\"}",
		"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"a/+/b\",\"rooms\":\"header\",\"qos\":\"1\"}]}",
		NULL,
	};
	static const struct {
		const char *json, *err;
	} bad[] = {
		{"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"a/{room}\",\"qos\":3}]}", "to_clients[0].qos: expected an integer from 0 to 2"},
		{"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"a/+\",\"rooms\":\"key\"}]}", "to_clients[0].rooms: MQTT messages have no key"},
		{"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"a/+\",\"retained_on_join\":true}]}", "to_clients[0].retained_on_join: needs a topic template"},
		{"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"a+/b\"}]}", "to_clients[0].topic: 'a+/b': '+' must be a whole"},
		{"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"a/{room}\",\"rooms\":\"header\"}]}", "to_clients[0].rooms: a topic template"},
		{"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"a/b\",\"rooms\":\"topic\"}]}", "to_clients[0].rooms: 'topic' needs"},
		{"{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"a/b\",\"qso\":1}]}", "to_clients[0]: unknown key 'qso'"},
		{"{\"broker\":\"m\",\"from_clients\":[{\"event\":\"*\",\"topic\":\"up/+/{event}\"}]}", "from_clients[0].topic: 'up/+/{event}': a topic to publish to"},
		{"{\"broker\":\"m\",\"from_clients\":[{\"event\":\"*\",\"topic\":\"up\",\"key\":\"{sid}\"}]}", "from_clients[0].key: MQTT messages have no key"},
		{"{\"broker\":\"m\",\"from_clients\":[{\"event\":\"*\",\"topic\":\"up\",\"retain\":1}]}", "from_clients[0].retain: expected a boolean"},
		{"{\"broker\":\"m\",\"control_topic\":\"c#\"}", "control_topic: 'c#': '#' must be"},
		{"{\"broker\":\"m\",\"control_topic\":\"c\",\"dead_letter_topic\":\"d/+\"}", "dead_letter_topic: 'd/+': a topic to publish to"},
		{"{\"broker\":\"m\",\"control_topic\":\"c\",\"envelope\":2}", "envelope: expected a boolean"},
		{"{\"broker\":\"m\",\"events\":{\"topic\":\"ev/+\"}}", "events.topic: 'ev/+': a topic to publish to"},
		{"{\"broker\":\"m\",\"events\":{\"topic\":\"$SYS/ev\"}}", "events.topic: '$SYS/ev': topics starting with '$'"},
		{"{\"broker\":\"m\"}", ": a bridge needs at least one of"},
	};
	char err[SG_BRIDGE_ERR_MAX];

	for (int i = 0; good[i]; i++)
		ck_assert_msg(binding(good[i], err, sizeof(err)) == 0, "%s: %s", good[i], err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(binding(bad[i].json, err, sizeof(err)) == -1, "%s accepted", bad[i].json);
		ck_assert_msg(strstr(err, bad[i].err) == err, "%s: '%s'", bad[i].json, err);
	}
}
END_TEST

START_TEST(config_binding_init)
{
	json_t *j = json_loads("{\"broker\":\"m\",\"to_clients\":[{\"topic\":\"ev/{room}/{event}\",\"qos\":0},"
			       "{\"topic\":\"s/{room}\",\"retained_on_join\":true}],"
			       "\"from_clients\":[{\"event\":\"*\",\"topic\":\"up/{room}\",\"room_field\":\"ch\",\"qos\":2,"
			       "\"retain\":true}],\"control_topic\":\"ctl/#\",\"envelope\":true}", 0, NULL);
	struct mq_binding b;
	char err[SG_BRIDGE_ERR_MAX];

	ck_assert_int_eq(mq_binding_init(&b, "/chat", 0, j, err, sizeof(err)), 0);
	ck_assert_int_eq((int)b.n_down, 2);
	ck_assert_str_eq(b.down[0].t.filter, "ev/+/+");
	ck_assert_int_eq(b.down[0].qos, 0);
	ck_assert_int_eq(b.down[1].qos, 1);
	ck_assert_int_eq(b.down[1].retained_on_join, 1);
	ck_assert_int_eq(b.any_retained, 1);
	ck_assert_int_eq((int)b.n_up, 1);
	ck_assert_str_eq(b.up[0].topic, "up/{room}");
	ck_assert_str_eq(b.up[0].room_field, "ch");
	ck_assert_int_eq(b.up[0].qos, 2);
	ck_assert_int_eq(b.up[0].retain, 1);
	ck_assert_str_eq(b.control, "ctl/#");
	ck_assert_ptr_nonnull(b.control_sub);
	ck_assert_int_eq(b.envelope, 1);
	ck_assert_int_eq(sgm_route(b.m, "anything"), 0);
	mq_binding_clear(&b);
	json_decref(j);
}
END_TEST

static Suite *mqtt_suite(void)
{
	Suite *s = suite_create("mqtt");
	TCase *tc = tcase_create("topics");

	tcase_add_test(tc, filter_check);
	tcase_add_test(tc, filter_match);
	tcase_add_test(tc, template_parse);
	tcase_add_test(tc, template_match);
	tcase_add_test(tc, escape_roundtrip);
	tcase_add_test(tc, expand_upstream);
	suite_add_tcase(s, tc);

	tc = tcase_create("envelope");
	tcase_add_test(tc, envelope_parse);
	tcase_add_test(tc, envelope_build);
	suite_add_tcase(s, tc);

	tc = tcase_create("lastval");
	tcase_add_test(tc, lastval_cache);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_test(tc, config_broker);
	tcase_add_test(tc, config_binding);
	tcase_add_test(tc, config_binding_init);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mqtt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
