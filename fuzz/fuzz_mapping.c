/* fuzz_mapping.c - the broker-message <-> event mapping (bridges/common/mapping.c) driven
 * through a fake host table, with two fixed bindings (a static namespace and a dynamic
 * one) built from one bridge object that uses every rooms/args mode, a control topic and
 * from_clients templates.
 *
 * Input: the first byte picks the direction (even: downstream, odd: upstream); the rest is
 * NUL-separated fields.
 *   downstream: topic, key (empty: none), then header name, header value, ..., and the
 *               value last (so 2 fields: topic and key only; 3: value; 5: one header...).
 *   upstream:   event name, args JSON (an array), auth JSON (object; optional), query JSON
 *               (object of strings; optional), then up to 4 binary attachments.
 * Every borrowed buffer is an exact-size heap copy without a terminator where the API
 * says "not necessarily NUL-terminated", so ASan catches reads past the end.
 *
 * Invariants: what the host receives is well-formed (an args array whose placeholders all
 * name an attachment, rooms lists within bounds); a malformed message has a reason; a
 * built upstream message has a topic and JSON text, and feeding it back downstream works. */
#include "mapping.h"
#include "events.h"
#include "requests.h"
#include "eio_codec.h"
#include "sio_codec.h"
#include "strbuf.h"

#include <regex.h>
#include <stdarg.h>

#include "common.h"

struct sg_host {
	unsigned long sink;
	long rc;
	int binding;   /* which of bindings[] is delivering */
};

/* What the host may be told as a namespace by binding i: its own name, or a name its
 * pattern matches entirely (as the config's `match` does). */
static regex_t whole_re;

static void check_nsp(const struct sg_host *h, const char *nsp)
{
	FUZZ_CHECK(nsp != NULL);
	if (h->binding < 0) /* the events driver's host: serves both bindings */
		return;
	if (h->binding == 0)
		FUZZ_CHECK(strcmp(nsp, "/chat") == 0);
	else
		FUZZ_CHECK(regexec(&whole_re, nsp, 0, NULL, 0) == 0);
}

static void touch(struct sg_host *h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h->sink += c[i];
}

static void touch_list(struct sg_host *h, const char *const *l, size_t n)
{
	FUZZ_CHECK(n <= SGM_MAX_ROOMS + 64 || l != NULL);
	FUZZ_CHECK(n == 0 || l != NULL);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(l[i] != NULL);
		touch(h, l[i], strlen(l[i]));
	}
}

static void f_log(struct sg_host *h, enum sg_bridge_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	(void)level;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	touch(h, line, strlen(line));
}

static int f_post(struct sg_host *h, void (*fn)(void *ud), void *ud)
{
	(void)h;
	fn(ud);
	return 0;
}

static void check_args(struct sg_host *h, const json_t *args, const struct sg_bridge_bin *att, size_t n_att)
{
	struct sg_strbuf sb;

	if (!args) { /* a control "emit" without "args": no arguments */
		FUZZ_CHECK(n_att == 0);
		return;
	}
	FUZZ_CHECK(json_is_array(args));
	FUZZ_CHECK(n_att == 0 || att != NULL);
	/* The host forwards placeholders as is: each must name one of the attachments. */
	FUZZ_CHECK(sg_sio_check_placeholders(args, n_att) >= 0);
	for (size_t i = 0; i < n_att; i++) {
		FUZZ_CHECK(att[i].len == 0 || att[i].data != NULL);
		touch(h, att[i].data, att[i].len);
	}
	sg_strbuf_init(&sb);
	FUZZ_CHECK(sg_json_append(&sb, args) == 0);
	sg_strbuf_free(&sb);
}

static long f_emit(struct sg_host *h, const struct sg_bridge_emit *em)
{
	check_nsp(h, em->nsp);
	FUZZ_CHECK(em->event != NULL && em->event[0] != '\0');
	FUZZ_CHECK(em->n_rooms <= SGM_MAX_ROOMS && em->n_except <= SGM_MAX_ROOMS);
	touch_list(h, em->rooms, em->n_rooms);
	touch_list(h, em->except, em->n_except);
	if (em->except_sid)
		touch(h, em->except_sid, strlen(em->except_sid));
	touch(h, em->event, strlen(em->event));
	check_args(h, em->args, em->att, em->n_att);
	return h->rc;
}

static void target(struct sg_host *h, const struct sg_bridge_target *t)
{
	check_nsp(h, t->nsp);
	touch_list(h, t->sids, t->n_sids);
	touch_list(h, t->rooms, t->n_rooms);
	touch_list(h, t->except, t->n_except);
}

static long f_join(struct sg_host *h, const struct sg_bridge_target *t, const char *const *rooms, size_t n)
{
	target(h, t);
	FUZZ_CHECK(n > 0);
	touch_list(h, rooms, n);
	return h->rc;
}

static long f_disconnect(struct sg_host *h, const struct sg_bridge_target *t)
{
	target(h, t);
	return h->rc;
}

static void f_complete(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *result)
{
	(void)h;
	(void)t;
	(void)result;
	fprintf(stderr, "the mapping never completes tickets\n");
	abort();
}

static void f_set_ready(struct sg_host *h, int ready, const char *reason)
{
	(void)h;
	(void)ready;
	(void)reason;
}

static void f_count(struct sg_host *h, const char *name, const char *labels, double delta)
{
	touch(h, name, strlen(name));
	touch(h, labels, strlen(labels));
	(void)delta;
}

static void f_foreach_nsp(struct sg_host *h, const char *pattern, void (*fn)(void *ud, const char *nsp), void *ud)
{
	(void)h;
	(void)pattern;
	fn(ud, "/dyn/a");
}

static const char *f_instance_id(struct sg_host *h)
{
	(void)h;
	return "fuzz";
}

static void f_set_info(struct sg_host *h, const char *key, const char *value)
{
	(void)h;
	(void)key;
	(void)value;
}

/* A member of the rooms whose name starts with an even byte: both relay paths run. */
static int f_is_member(struct sg_host *h, const char *nsp, const char *sid, const char *room)
{
	check_nsp(h, nsp);
	touch(h, sid, strlen(sid));
	touch(h, room, strlen(room));
	FUZZ_CHECK(room[0] != '\0');
	return !((unsigned char)room[0] & 1);
}

/* Two sockets in every target, so that fetch_sockets, count and its limit all run. */
static long f_sockets(struct sg_host *h, const struct sg_bridge_target *t,
		      void (*fn)(void *ud, const struct sg_bridge_socket *s), void *ud)
{
	static const char *const rooms[] = {"SID1", "lobby"};
	struct sg_bridge_socket s = {.sid = "SID1", .rooms = rooms, .n_rooms = 2, .address = "127.0.0.1"};

	check_nsp(h, t->nsp);
	for (size_t i = 0; i < t->n_rooms; i++)
		touch(h, t->rooms[i], strlen(t->rooms[i]));
	s.nsp = t->nsp;
	for (int i = 0; fn && i < 2; i++)
		fn(ud, &s);
	return 2;
}

static long f_rooms(struct sg_host *h, const char *nsp, void (*fn)(void *ud, const char *room, size_t n), void *ud)
{
	check_nsp(h, nsp);
	fn(ud, "lobby", 2);
	return 1;
}

static int f_every(struct sg_host *h, unsigned ms, void (*fn)(void *ud), void *ud)
{
	(void)h;
	(void)ms;
	(void)fn;
	(void)ud;
	return 0;
}

/* Two recipients, answered at once (the requests code must take answers that come before
 * emit_ack returns): one with the event's own arguments, one timing out. */
static long f_emit_ack(struct sg_host *h, const struct sg_bridge_emit *em, unsigned timeout_ms,
		       void (*fn)(void *ud, const struct sg_bridge_answer *a), void *ud)
{
	struct sg_bridge_answer ok = {em->nsp, "SID1", em->args ? em->args : NULL, em->att, em->n_att, NULL};
	struct sg_bridge_answer late = {em->nsp, "SID2", NULL, NULL, 0, "timeout"};
	json_t *none = json_array();

	check_nsp(h, em->nsp);
	FUZZ_CHECK(!em->is_volatile && timeout_ms >= 1);
	if (!ok.args)
		ok.args = none;
	fn(ud, &ok);
	fn(ud, &late);
	json_decref(none);
	return 2;
}

static void f_complete_args(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *args,
			    const struct sg_bridge_bin *att, size_t n_att)
{
	(void)h;
	(void)t;
	(void)args;
	(void)att;
	(void)n_att;
	FUZZ_CHECK(0); /* no ticket is ever opened here */
}

static const struct sg_host_api api = {
	SG_BRIDGE_ABI_MAJOR, SG_BRIDGE_ABI_MINOR,
	f_log, f_post, f_emit, f_join, f_join, f_disconnect, f_complete, f_set_ready, f_count,
	f_foreach_nsp, f_instance_id, NULL, f_set_info,
	NULL, NULL, NULL, NULL, /* 1.2 counter handles: the mapping code counts none */
	f_is_member,
	f_sockets, f_rooms, f_every, /* 1.3 presence */
	f_emit_ack, f_complete_args, /* 1.4 request and reply */
	NULL, NULL, /* 1.6 replays: the Kafka bridge's sessions */
};

/* What the events driver produces (presence answers): checked to be JSON, then dropped. */
static int f_produce(void *ud, const struct sgm_out *o, char *why, size_t whylen)
{
	json_t *v = json_loadb(o->value, o->value_len, 0, NULL);

	(void)ud;
	(void)why;
	(void)whylen;
	FUZZ_CHECK(v != NULL && o->topic && o->topic[0]);
	json_decref(v);
	return 0;
}

/* Kafka-like topic names, plus '+'. */
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
static const struct sgm_flavor flavor = {"fuzz", topic_ok, extra_keys, NULL};

static const char bridge_json[] =
	"{\"to_clients\":["
	"{\"topic\":\"auto\"},"
	"{\"topic\":\"hdr\",\"rooms\":\"header\"},"
	"{\"topic\":\"key\",\"rooms\":\"key\"},"
	"{\"topic\":\"o.{room}\",\"event\":\"order\"},"
	"{\"topic\":\"all\",\"rooms\":\"all\",\"volatile\":true},"
	"{\"topic\":\"spread\",\"args\":\"spread\",\"event\":\"multi\"},"
	"{\"topic\":\"bin\",\"args\":\"binary\"},"
	"{\"topic\":\"relay\",\"rooms\":\"header\",\"except_sender\":true,\"args\":\"spread\"}],"
	"\"from_clients\":["
	"{\"event\":\"chat\",\"topic\":\"relay\",\"rooms\":\"{room}\",\"unjoined_rooms\":\"dm-[a-z]+\"},"
	"{\"event\":\"*\",\"topic\":\"up.{nsp}.{event}\",\"key\":\"{auth.user}\",\"room_field\":\"channel\","
	"\"rooms\":\"{room}\",\"headers\":{\"x-u\":\"{claims.sub}\",\"x-q\":\"{query.v}\",\"x-s\":\"{sid}\"}}],"
	"\"control_topic\":\"ctl\",\"dead_letter_topic\":\"dlq\",\"events\":{\"topic\":\"ev\"},\"qos\":1}";

/* [0]: the static namespace "/chat"; [1]: the dynamic "/dyn/[a-z0-9]+". */
static struct sgm_binding *bindings[2];
static struct sgm_evdrv *drv; /* answers the presence queries of both */
static struct sg_host drv_host = {0, 0, -1};
static struct sgm_reqs *reqs; /* asks clients (sio-reply-to / control emits with reply_to) */
static const char *const binding_nsp[2] = {"/chat", "/dyn/x1"};

static void setup(void)
{
	json_error_t jerr;
	json_t *bridge;
	char err[SG_BRIDGE_ERR_MAX];

	if (bindings[0])
		return;
	bridge = json_loads(bridge_json, 0, &jerr);
	FUZZ_CHECK(bridge != NULL);
	if (sgm_check(bridge, &flavor, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz bridge refused: %s\n", err);
		abort();
	}
	bindings[0] = sgm_binding_new("/chat", 0, bridge, &flavor, err, sizeof(err));
	bindings[1] = sgm_binding_new("/dyn/[a-z0-9]+", 1, bridge, &flavor, err, sizeof(err));
	FUZZ_CHECK(bindings[0] && bindings[1]);
	drv = sgm_evdrv_new(&api, &drv_host, f_produce, NULL);
	FUZZ_CHECK(drv && !sgm_binding_set_driver(bindings[0], drv) && !sgm_binding_set_driver(bindings[1], drv));
	{
		struct sgm_reqs_conf rc = {"replies", 4, 2};

		reqs = sgm_reqs_new(&api, &drv_host, drv, &rc);
		FUZZ_CHECK(reqs != NULL);
		sgm_evdrv_set_reqs(drv, reqs);
	}
	FUZZ_CHECK(regcomp(&whole_re, "^(/dyn/[a-z0-9]+)$", REG_EXTENDED | REG_NOSUB) == 0);
	json_decref(bridge);
}

/* Delivers through the first subscription that matches the topic, as the plugins do. */
static long deliver(int bi, const struct sgm_msg *m)
{
	struct sgm_binding *b = bindings[bi];
	const struct sgm_sub *subs;
	size_t n = sgm_subs(b, &subs);
	struct sg_host host = {0, 2, bi};
	char why[256];

	for (size_t i = 0; i < n; i++) {
		char room[256] = ""; /* sgm_sub_match fills it only for a template */

		FUZZ_CHECK(subs[i].literal || subs[i].regex);
		if (sgm_sub_match(&subs[i], m->topic, room, sizeof(room))) {
			long rc;

			FUZZ_CHECK(memchr(room, '\0', sizeof(room)) != NULL);
			why[0] = '\0';
			rc = sgm_deliver(b, &subs[i], m, &api, &host, why, sizeof(why));
			FUZZ_CHECK(rc >= -2);
			if (rc == -1)
				FUZZ_CHECK(why[0] != '\0' && memchr(why, '\0', sizeof(why)) != NULL);
			return rc;
		}
	}
	return -2;
}

#define MAX_FIELDS (2 * SGM_MAX_HEADERS + 3)

struct fields {
	unsigned char *f[MAX_FIELDS];
	size_t len[MAX_FIELDS];
	size_t n;
};

static void split(struct fields *fs, const uint8_t *p, size_t n)
{
	struct fuzz_split sp = {p, n, 0, 0};
	const uint8_t *c;
	size_t len;

	fs->n = 0;
	while (fs->n < MAX_FIELDS && (c = fuzz_next(&sp, 0, &len)) != NULL) {
		/* Exact size, but with a terminator one past the end for fields used as C
		 * strings; values and keys are read through their length only. */
		fs->f[fs->n] = fuzz_dup(c, len, 0);
		fs->len[fs->n++] = len;
	}
}

static void fields_free(struct fields *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->f[i]);
}

static char *cstr(const unsigned char *p, size_t n)
{
	return (char *)fuzz_dup(p, n, 1);
}

static void downstream(const uint8_t *data, size_t size)
{
	struct fields fs;
	struct sgm_header h[SGM_MAX_HEADERS];
	char *names[SGM_MAX_HEADERS];
	struct sgm_msg m;
	char *topic;
	size_t nh = 0;

	split(&fs, data, size);
	memset(&m, 0, sizeof(m));
	topic = cstr(fs.f[0], fs.len[0]);
	m.topic = topic;
	if (fs.n > 1 && fs.len[1]) {
		m.key = fs.f[1];
		m.key_len = fs.len[1];
	}
	if (fs.n > 2) {
		m.value = fs.f[fs.n - 1];
		m.value_len = fs.len[fs.n - 1];
		for (size_t i = 2; i + 1 < fs.n && nh < SGM_MAX_HEADERS; i += 2) {
			names[nh] = cstr(fs.f[i], fs.len[i]);
			h[nh].name = names[nh];
			if (i + 2 < fs.n) {
				h[nh].value = (const char *)fs.f[i + 1];
				h[nh].len = fs.len[i + 1];
			} else {
				h[nh].value = "";
				h[nh].len = 0;
			}
			nh++;
		}
	}
	m.headers = h;
	m.n_headers = nh;
	for (size_t i = 0; i < 2; i++)
		(void)deliver((int)i, &m);
	for (size_t i = 0; i < nh; i++) {
		size_t hl;
		const char *v = sgm_header(&m, names[i], &hl);

		/* The first header of that name. */
		FUZZ_CHECK(v != NULL);
		FUZZ_CHECK(hl <= SIZE_MAX / 2);
	}
	for (size_t i = 0; i < nh; i++)
		free(names[i]);
	free(topic);
	fields_free(&fs);
}

static json_t *parse(const struct fields *fs, size_t i, const char *dflt)
{
	json_error_t jerr;

	if (i < fs->n && fs->len[i])
		return json_loadb((const char *)fs->f[i], fs->len[i], SG_JSON_DECODE_FLAGS, &jerr);
	return json_loads(dflt, 0, &jerr);
}

static int strings_only(const json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v)
		if (!json_is_string(v))
			return 0;
	return 1;
}

static void upstream(const uint8_t *data, size_t size)
{
	struct fields fs;
	struct sg_bridge_bin att[4];
	struct sg_bridge_event ev;
	json_t *args = NULL, *auth = NULL, *query = NULL, *claims;
	char *event;
	size_t n_att = 0;

	split(&fs, data, size);
	event = cstr(fs.f[0], fs.len[0]);
	claims = json_pack("{s:s}", "sub", "u-1");
	if (fs.n < 2)
		goto out;
	args = parse(&fs, 1, "[]");
	auth = parse(&fs, 2, "{\"user\":\"ann\",\"n\":42}");
	query = parse(&fs, 3, "{\"v\":\"3\"}");
	for (size_t i = 4; i < fs.n && n_att < 4; i++) {
		att[n_att].data = fs.f[i];
		att[n_att++].len = fs.len[i];
	}
	/* What the host guarantees: a non-empty event name, an args array with valid
	 * placeholders, an auth object and a query object of strings. */
	if (!event[0] || !json_is_array(args) || sg_sio_check_placeholders(args, n_att) < 0 ||
	    !json_is_object(auth) || !json_is_object(query) || !strings_only(query))
		goto out;

	for (size_t bi = 0; bi < 2; bi++) {
		struct sgm_out o;
		char why[256];
		int route = sgm_route(bindings[bi], event), rc;
		struct sg_host host = {0, 2, (int)bi};

		if (route < 0)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.nsp = binding_nsp[bi];
		ev.sid = "SID1";
		ev.event = event;
		ev.args = args;
		ev.att = n_att ? att : NULL;
		ev.n_att = n_att;
		ev.auth = auth;
		ev.claims = claims;
		ev.query = query;
		ev.wants_ack = 1;
		why[0] = '\0';
		rc = sgm_build(bindings[bi], route, &ev, &api, &host, &o, why, sizeof(why));
		FUZZ_CHECK(rc == 0 || rc == -1);
		if (rc == -1) {
			FUZZ_CHECK(why[0] != '\0' && memchr(why, '\0', sizeof(why)) != NULL);
			continue;
		}
		FUZZ_CHECK(o.topic != NULL && o.topic[0] != '\0');
		FUZZ_CHECK(o.value != NULL && strlen(o.value) == o.value_len);
		FUZZ_CHECK(o.n_headers <= SGM_MAX_HEADERS);
		{
			json_error_t jerr;
			json_t *v = json_loadb(o.value, o.value_len, SG_JSON_DECODE_FLAGS, &jerr);

			if (!v) {
				fprintf(stderr, "built value is not JSON: %s (%s)\n", o.value, jerr.text);
				abort();
			}
			json_decref(v);
		}
		/* Feed it back downstream (the relay topic is consumed by the same binding). */
		{
			struct sgm_header h[SGM_MAX_HEADERS];
			struct sgm_msg m;

			memset(&m, 0, sizeof(m));
			m.topic = o.topic;
			m.key = o.key;
			m.key_len = o.key ? strlen(o.key) : 0;
			m.value = o.value;
			m.value_len = o.value_len;
			for (size_t i = 0; i < o.n_headers; i++) {
				FUZZ_CHECK(o.hname[i] && o.hvalue[i]);
				h[i] = (struct sgm_header){o.hname[i], o.hvalue[i], strlen(o.hvalue[i])};
			}
			m.headers = h;
			m.n_headers = o.n_headers;
			(void)deliver((int)bi, &m);
		}
		sgm_out_clear(&o);
		FUZZ_CHECK(o.topic == NULL && o.n_headers == 0);
	}
out:
	json_decref(args);
	json_decref(auth);
	json_decref(query);
	json_decref(claims);
	free(event);
	fields_free(&fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		downstream(data + 1, size - 1);
	else
		upstream(data + 1, size - 1);
	return 0;
}
