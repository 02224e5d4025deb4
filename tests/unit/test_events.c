/* test_events.c - lifecycle records, instance heartbeats and presence answers
 * (bridges/common/events.c) through a fake host: the `events` config and its errors, each
 * record's JSON, headers and key, the driver's heartbeat groups and shutdown, the counting
 * of failures, and the presence queries through a control command. */
#include "events.h"
#include "mapping.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a fake host ------------------------------------------------------------------- */

#define MAX_OUT 16
#define MAX_TIMERS 4

struct sg_bridge_counter {
	double v;
};

struct sg_host {
	struct sgm_out out[MAX_OUT]; /* copies of what the driver produced */
	size_t n_out;
	int refuse;                  /* the produce function refuses */
	struct { unsigned ms; void (*fn)(void *); void *ud; } timers[MAX_TIMERS];
	size_t n_timers;
	struct sg_bridge_counter ctr[3]; /* events_produced, events_failed, queries_answered */
	char log[512];
	int n_logs;
	int n_sockets;               /* sockets in the fake namespace "/chat" */
	char asked_rooms[256];       /* the target rooms of the last sockets() call */
};

static struct sg_host H;

static void f_log(struct sg_host *h, enum sg_bridge_log_level level, const char *fmt, ...)
{
	va_list ap;

	(void)level;
	va_start(ap, fmt);
	vsnprintf(h->log, sizeof(h->log), fmt, ap);
	va_end(ap);
	h->n_logs++;
}

static const char *f_instance_id(struct sg_host *h)
{
	(void)h;
	return "inst-1";
}

static struct sg_bridge_counter *f_counter_handle(struct sg_host *h, const char *name, const char *const *labels)
{
	ck_assert_ptr_null(labels);
	if (!strcmp(name, "events_produced"))
		return &h->ctr[0];
	if (!strcmp(name, "events_failed"))
		return &h->ctr[1];
	if (!strcmp(name, "queries_answered"))
		return &h->ctr[2];
	ck_abort_msg("unexpected counter %s", name);
	return NULL;
}

static void f_counter_add(struct sg_bridge_counter *c, double d)
{
	c->v += d;
}

static void f_foreach_nsp(struct sg_host *h, const char *pattern, void (*fn)(void *ud, const char *nsp), void *ud)
{
	(void)h;
	ck_assert_str_eq(pattern, "^/t-[0-9]+$");
	fn(ud, "/t-1");
	fn(ud, "/t-2");
}

/* "/chat" has n_sockets sockets SIDn in rooms {SIDn, lobby}; "/t-N" has N sockets; the
 * rest does not exist (-2). */
static long f_sockets(struct sg_host *h, const struct sg_bridge_target *t,
		      void (*fn)(void *ud, const struct sg_bridge_socket *s), void *ud)
{
	json_t *claims = json_pack("{ss}", "sub", "ann");
	long n;

	h->asked_rooms[0] = '\0';
	for (size_t i = 0; i < t->n_rooms; i++)
		snprintf(h->asked_rooms + strlen(h->asked_rooms), sizeof(h->asked_rooms) - strlen(h->asked_rooms),
			 "%s%s", i ? "|" : "", t->rooms[i]);
	if (!strncmp(t->nsp, "/t-", 3))
		n = atoi(t->nsp + 3);
	else if (!strcmp(t->nsp, "/chat"))
		n = h->n_sockets;
	else
		n = -2;
	for (long i = 0; fn && i < n; i++) {
		char sid[16];
		const char *rooms[2] = {sid, "lobby"};
		struct sg_bridge_socket s = {.nsp = t->nsp, .sid = sid, .rooms = rooms, .n_rooms = 2,
					     .claims = claims, .connected_at = 1000 + i};

		snprintf(sid, sizeof(sid), "SID%ld", i);
		fn(ud, &s);
	}
	json_decref(claims);
	return n;
}

static long f_rooms(struct sg_host *h, const char *nsp, void (*fn)(void *ud, const char *room, size_t n), void *ud)
{
	(void)h;
	if (strcmp(nsp, "/chat"))
		return -2;
	fn(ud, "lobby", 3);
	fn(ud, "news", 1);
	return 2;
}

static int f_every(struct sg_host *h, unsigned ms, void (*fn)(void *ud), void *ud)
{
	ck_assert_uint_lt(h->n_timers, MAX_TIMERS);
	h->timers[h->n_timers].ms = ms;
	h->timers[h->n_timers].fn = fn;
	h->timers[h->n_timers].ud = ud;
	h->n_timers++;
	return 0;
}

static const struct sg_host_api api = {
	.abi_major = SG_BRIDGE_ABI_MAJOR, .abi_minor = SG_BRIDGE_ABI_MINOR,
	.log = f_log, .foreach_nsp = f_foreach_nsp, .instance_id = f_instance_id,
	.counter_handle = f_counter_handle, .counter_add = f_counter_add,
	.sockets = f_sockets, .rooms = f_rooms, .every = f_every,
	NULL, NULL, /* 1.6 replays: the Kafka bridge's sessions */
};

/* The driver's produce: keeps a copy of each record. */
static int produce(void *ud, const struct sgm_out *o, char *why, size_t whylen)
{
	struct sg_host *h = ud;
	struct sgm_out *c;

	if (h->refuse) {
		snprintf(why, whylen, "queue full");
		return -1;
	}
	ck_assert_uint_lt(h->n_out, MAX_OUT);
	c = &h->out[h->n_out++];
	memset(c, 0, sizeof(*c));
	c->topic = strdup(o->topic);
	c->key = o->key ? strdup(o->key) : NULL;
	c->value = strndup(o->value, o->value_len);
	c->value_len = o->value_len;
	c->lossy = o->lossy;
	for (size_t i = 0; i < o->n_headers; i++) {
		c->hname[i] = strdup(o->hname[i]);
		c->hvalue[i] = strdup(o->hvalue[i]);
	}
	c->n_headers = o->n_headers;
	return 0;
}

static void reset(void)
{
	for (size_t i = 0; i < H.n_out; i++)
		sgm_out_clear(&H.out[i]);
	memset(&H, 0, sizeof(H));
}

/* Kafka-like topic names. */
static int topic_ok(const char *t, char *why, size_t len)
{
	for (const char *c = t; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '-')) {
			snprintf(why, len, "'%s' is not a valid topic", t);
			return -1;
		}
	return 0;
}

static const struct sgm_flavor flavor = {"test", topic_ok, NULL, NULL};

/* A header's value from a produced record, or NULL. */
static const char *hdr(const struct sgm_out *o, const char *name)
{
	for (size_t i = 0; i < o->n_headers; i++)
		if (!strcmp(o->hname[i], name))
			return o->hvalue[i];
	return NULL;
}

static json_t *value_of(const struct sgm_out *o)
{
	json_t *v = json_loadb(o->value, o->value_len, 0, NULL);

	ck_assert_ptr_nonnull(v);
	return v;
}

/* Asserts that the record's value equals `want` (JSON text) once "time" is checked and
 * dropped. */
static void assert_value(const struct sgm_out *o, const char *want)
{
	json_t *v = value_of(o), *w = json_loads(want, 0, NULL);
	char *got;

	ck_assert_ptr_nonnull(w);
	ck_assert_msg(json_integer_value(json_object_get(v, "time")) > 1700000000000LL, "time is ms since the epoch");
	json_object_del(v, "time");
	got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_msg(json_equal(v, w), "got %s, want %s", got, want);
	free(got);
	json_decref(v);
	json_decref(w);
}

static struct sgm_binding *binding(const char *nsp, int is_pattern, const char *bridge_json)
{
	json_t *bridge = json_loads(bridge_json, 0, NULL);
	char err[SG_BRIDGE_ERR_MAX] = "";
	struct sgm_binding *b;

	ck_assert_ptr_nonnull(bridge);
	b = sgm_binding_new(nsp, is_pattern, bridge, &flavor, err, sizeof(err));
	ck_assert_msg(b != NULL, "binding refused: %s", err);
	json_decref(bridge);
	return b;
}

/* ---- config ------------------------------------------------------------------------ */

static const struct {
	const char *events;
	const char *err;
} bad_events[] = {
	{"[]", "events: expected an object ({\"topic\": \"...\"})"},
	{"{}", "events: missing required key 'topic'"},
	{"{\"topic\":\"\"}", "events.topic: expected a non-empty string"},
	{"{\"topic\":7}", "events.topic: expected a non-empty string"},
	{"{\"topic\":\"ev.{nsp}\"}", "events.topic: placeholders are not allowed here"},
	{"{\"topic\":\"Bad Topic\"}", "events.topic: 'Bad Topic' is not a valid topic"},
	{"{\"topic\":\"ev\",\"tipes\":[]}", "events: unknown key 'tipes' (did you mean 'types'?)"},
	{"{\"topic\":\"ev\",\"types\":[]}", "events.types: expected a non-empty array of names"},
	{"{\"topic\":\"ev\",\"types\":\"connect\"}", "events.types: expected a non-empty array of names"},
	{"{\"topic\":\"ev\",\"types\":[\"connect\",\"kick\"]}",
	 "events.types[1]: expected one of connect, join, leave, disconnect"},
	{"{\"topic\":\"ev\",\"types\":[\"join\",\"join\"]}", "events.types[1]: 'join' is listed twice"},
	{"{\"topic\":\"ev\",\"handshake\":[\"cookies\"]}",
	 "events.handshake[0]: expected one of address, query, claims, auth, headers"},
	{"{\"topic\":\"ev\",\"heartbeat_ms\":99}", "events.heartbeat_ms: expected an integer from 100 to 3600000"},
	{"{\"topic\":\"ev\",\"heartbeat_ms\":3600001}", "events.heartbeat_ms: expected an integer from 100 to 3600000"},
	{"{\"topic\":\"ev\",\"heartbeat_ms\":1000.5}", "events.heartbeat_ms: expected an integer from 100 to 3600000"},
	{"{\"topic\":\"ev\",\"heartbeat_ms\":\"10x\"}", "events.heartbeat_ms: expected an integer from 100 to 3600000"},
	{"{\"topic\":\"ev\",\"heartbeat_ms\":\"1e3\"}", "events.heartbeat_ms: expected an integer from 100 to 3600000"},
	{"{\"topic\":\"ev\",\"heartbeat_ms\":\"-500\"}", "events.heartbeat_ms: expected an integer from 100 to 3600000"},
	{"{\"topic\":\"ev\",\"heartbeat_ms\":\"\"}", "events.heartbeat_ms: expected an integer from 100 to 3600000"},
};

START_TEST(config_errors)
{
	char json[256], err[SG_BRIDGE_ERR_MAX];
	json_t *bridge;

	snprintf(json, sizeof(json), "{\"events\":%s}", bad_events[_i].events);
	bridge = json_loads(json, 0, NULL);
	ck_assert_ptr_nonnull(bridge);
	err[0] = '\0';
	ck_assert_int_eq(sgm_check(bridge, &flavor, err, sizeof(err)), -1);
	ck_assert_str_eq(err, bad_events[_i].err);
	json_decref(bridge);
}
END_TEST

START_TEST(config_defaults_and_choices)
{
	struct sgm_binding *b = binding("/chat", 0, "{\"events\":{\"topic\":\"ev\"}}");
	const struct sgm_events *e = sgm_binding_events(b);

	/* events alone is a bridge */
	ck_assert_str_eq(e->topic, "ev");
	ck_assert_uint_eq(e->types, 0xf);
	ck_assert_uint_eq(e->handshake, SGM_HS_ADDRESS | SGM_HS_QUERY | SGM_HS_CLAIMS);
	ck_assert_uint_eq(e->heartbeat_ms, 10000);
	sgm_binding_free(b);

	b = binding("/chat", 0, "{\"events\":{\"topic\":\"ev\",\"types\":[\"disconnect\",\"connect\"],"
			       "\"handshake\":[\"auth\",\"headers\"],\"heartbeat_ms\":100},\"control_topic\":\"ctl\"}");
	e = sgm_binding_events(b);
	ck_assert_uint_eq(e->types, (1u << SG_BRIDGE_LC_CONNECT) | (1u << SG_BRIDGE_LC_DISCONNECT));
	ck_assert_uint_eq(e->handshake, SGM_HS_AUTH | SGM_HS_HEADERS);
	ck_assert_uint_eq(e->heartbeat_ms, 100);
	sgm_binding_free(b);

	/* digits in a string, as "${HB:-250}" expands */
	b = binding("/chat", 0, "{\"events\":{\"topic\":\"ev\",\"heartbeat_ms\":\"250\"}}");
	ck_assert_uint_eq(sgm_binding_events(b)->heartbeat_ms, 250);
	sgm_binding_free(b);

	b = binding("/chat", 0, "{\"control_topic\":\"ctl\"}");
	ck_assert_ptr_null(sgm_binding_events(b));
	sgm_binding_free(b);
}
END_TEST

/* ---- records ----------------------------------------------------------------------- */

static const char *const rooms2[] = {"SID0", "u:ann"};

static struct sg_bridge_socket sock(json_t *query, json_t *claims, json_t *auth, json_t *headers)
{
	struct sg_bridge_socket s = {.nsp = "/chat", .sid = "SID0", .rooms = rooms2, .n_rooms = 2,
				     .address = "127.0.0.1", .query = query, .claims = claims, .auth = auth,
				     .headers = headers, .connected_at = 5};
	return s;
}

START_TEST(record_connect)
{
	struct sgm_events e = {"ev", 0xf, SGM_HS_ADDRESS | SGM_HS_QUERY | SGM_HS_CLAIMS, 10000};
	json_t *q = json_pack("{ss}", "EIO", "4"), *c = json_pack("{ss}", "sub", "ann"), *a = json_pack("{ss}", "token", "t"),
	       *h = json_pack("{ss}", "cookie", "k=v");
	struct sg_bridge_socket s = sock(q, c, a, h);
	struct sg_bridge_lifecycle ev = {.type = SG_BRIDGE_LC_CONNECT, .socket = &s};
	struct sgm_out o;

	ck_assert_int_eq(sgm_lifecycle_record(&e, &ev, "inst-1", 1800000000000LL, &o), 0);
	ck_assert_str_eq(o.topic, "ev");
	ck_assert_str_eq(o.key, "SID0");
	ck_assert_str_eq(hdr(&o, "sio-namespace"), "/chat");
	ck_assert_str_eq(hdr(&o, "sio-sid"), "SID0");
	ck_assert_str_eq(hdr(&o, "sio-event"), "connect");
	assert_value(&o, "{\"type\":\"connect\",\"namespace\":\"/chat\",\"sid\":\"SID0\",\"instance\":\"inst-1\","
			 "\"rooms\":[\"SID0\",\"u:ann\"],\"address\":\"127.0.0.1\",\"query\":{\"EIO\":\"4\"},"
			 "\"claims\":{\"sub\":\"ann\"}}");
	sgm_out_clear(&o);

	/* auth and headers only when listed; missing objects are {} */
	e.handshake = SGM_HS_AUTH | SGM_HS_HEADERS;
	ck_assert_int_eq(sgm_lifecycle_record(&e, &ev, "inst-1", 1800000000000LL, &o), 0);
	assert_value(&o, "{\"type\":\"connect\",\"namespace\":\"/chat\",\"sid\":\"SID0\",\"instance\":\"inst-1\","
			 "\"rooms\":[\"SID0\",\"u:ann\"],\"auth\":{\"token\":\"t\"},\"headers\":{\"cookie\":\"k=v\"}}");
	sgm_out_clear(&o);
	s.auth = NULL;
	e.handshake = SGM_HS_AUTH;
	ck_assert_int_eq(sgm_lifecycle_record(&e, &ev, "inst-1", 1800000000000LL, &o), 0);
	assert_value(&o, "{\"type\":\"connect\",\"namespace\":\"/chat\",\"sid\":\"SID0\",\"instance\":\"inst-1\","
			 "\"rooms\":[\"SID0\",\"u:ann\"],\"auth\":{}}");
	sgm_out_clear(&o);
	json_decref(q);
	json_decref(c);
	json_decref(a);
	json_decref(h);
}
END_TEST

START_TEST(record_join_leave_disconnect)
{
	struct sgm_events e = {"ev", 0xf, 0, 10000};
	struct sg_bridge_socket s = sock(NULL, NULL, NULL, NULL);
	struct sg_bridge_lifecycle ev = {.type = SG_BRIDGE_LC_JOIN, .socket = &s, .room = "lobby", .by = "control"};
	struct sgm_out o;

	ck_assert_int_eq(sgm_lifecycle_record(&e, &ev, "inst-1", 1800000000000LL, &o), 0);
	ck_assert_str_eq(hdr(&o, "sio-event"), "join");
	assert_value(&o, "{\"type\":\"join\",\"namespace\":\"/chat\",\"sid\":\"SID0\",\"instance\":\"inst-1\","
			 "\"room\":\"lobby\",\"by\":\"control\"}");
	sgm_out_clear(&o);

	ev.type = SG_BRIDGE_LC_LEAVE;
	ev.by = "client";
	ck_assert_int_eq(sgm_lifecycle_record(&e, &ev, "inst-1", 1800000000000LL, &o), 0);
	ck_assert_str_eq(hdr(&o, "sio-event"), "leave");
	assert_value(&o, "{\"type\":\"leave\",\"namespace\":\"/chat\",\"sid\":\"SID0\",\"instance\":\"inst-1\","
			 "\"room\":\"lobby\",\"by\":\"client\"}");
	sgm_out_clear(&o);

	ev.type = SG_BRIDGE_LC_DISCONNECT;
	ev.room = ev.by = NULL;
	ev.reason = "ping timeout";
	ck_assert_int_eq(sgm_lifecycle_record(&e, &ev, "inst-1", 1800000000000LL, &o), 0);
	ck_assert_str_eq(hdr(&o, "sio-event"), "disconnect");
	assert_value(&o, "{\"type\":\"disconnect\",\"namespace\":\"/chat\",\"sid\":\"SID0\",\"instance\":\"inst-1\","
			 "\"reason\":\"ping timeout\",\"rooms\":[\"SID0\",\"u:ann\"]}");
	sgm_out_clear(&o);

	/* a type the binding does not produce, and SHUTDOWN, build nothing */
	e.types = 1u << SG_BRIDGE_LC_CONNECT;
	ck_assert_int_eq(sgm_lifecycle_record(&e, &ev, "inst-1", 1800000000000LL, &o), 1);
	ev.type = SG_BRIDGE_LC_SHUTDOWN;
	ev.socket = NULL;
	ck_assert_int_eq(sgm_lifecycle_record(&e, &ev, "inst-1", 1800000000000LL, &o), 1);
}
END_TEST

START_TEST(record_instance)
{
	json_t *ns = json_pack("{sisi}", "/chat", 2, "/news", 3);
	struct sgm_out o;

	ck_assert_int_eq(sgm_instance_record("ev", "inst-1", 1, 1800000000000LL, ns, 0, &o), 0);
	ck_assert_str_eq(o.key, "inst-1");
	ck_assert_str_eq(hdr(&o, "sio-event"), "instance");
	ck_assert_str_eq(hdr(&o, "sio-instance"), "inst-1");
	ck_assert_ptr_null(hdr(&o, "sio-sid"));
	assert_value(&o, "{\"type\":\"instance\",\"instance\":\"inst-1\",\"state\":\"up\",\"sockets\":5,"
			 "\"namespaces\":{\"/chat\":2,\"/news\":3}}");
	sgm_out_clear(&o);
	ck_assert_int_eq(sgm_instance_record("ev", "inst-1", 0, 1800000000000LL, NULL, 0, &o), 0);
	assert_value(&o, "{\"type\":\"instance\",\"instance\":\"inst-1\",\"state\":\"down\"}");
	sgm_out_clear(&o);
	ck_assert_int_eq(sgm_instance_record("ev", "inst-1", 0, 1800000000000LL, NULL, 1, &o), 0);
	assert_value(&o, "{\"type\":\"instance\",\"instance\":\"inst-1\",\"state\":\"down\",\"will\":true}");
	sgm_out_clear(&o);
	json_decref(ns);
}
END_TEST

/* ---- the driver -------------------------------------------------------------------- */

START_TEST(driver_heartbeats_and_shutdown)
{
	struct sgm_binding *b1 = binding("/chat", 0, "{\"events\":{\"topic\":\"ev\",\"heartbeat_ms\":5000}}");
	struct sgm_binding *b2 = binding("^/t-[0-9]+$", 1, "{\"events\":{\"topic\":\"ev\",\"heartbeat_ms\":2000}}");
	struct sgm_binding *b3 = binding("/other", 0, "{\"events\":{\"topic\":\"ev2\"}}");
	struct sgm_binding *b4 = binding("/plain", 0, "{\"control_topic\":\"ctl\"}");
	struct sgm_evdrv *d;
	struct sgm_out w;
	json_t *v;

	reset();
	H.n_sockets = 4;
	d = sgm_evdrv_new(&api, &H, produce, &H);
	ck_assert_int_eq(sgm_binding_set_driver(b1, d), 0);
	ck_assert_int_eq(sgm_binding_set_driver(b2, d), 0);
	ck_assert_int_eq(sgm_binding_set_driver(b3, d), 0);
	ck_assert_int_eq(sgm_binding_set_driver(b4, d), 0);
	ck_assert_int_eq(sgm_evdrv_start(d), 0);

	/* one group per topic, the shortest interval of its bindings, a first "up" at once */
	ck_assert_uint_eq(H.n_timers, 2);
	ck_assert_uint_eq(H.timers[0].ms, 2000);
	ck_assert_uint_eq(H.timers[1].ms, 10000);
	ck_assert_uint_eq(H.n_out, 2);
	ck_assert_str_eq(H.out[0].topic, "ev");
	assert_value(&H.out[0], "{\"type\":\"instance\",\"instance\":\"inst-1\",\"state\":\"up\",\"sockets\":7,"
				"\"namespaces\":{\"/chat\":4,\"/t-1\":1,\"/t-2\":2}}");
	ck_assert_int_eq(H.out[0].lossy, 0); /* the first: the broker may not be connected yet */
	ck_assert_str_eq(H.out[1].topic, "ev2");
	assert_value(&H.out[1], "{\"type\":\"instance\",\"instance\":\"inst-1\",\"state\":\"up\",\"sockets\":0,"
				"\"namespaces\":{\"/other\":0}}");

	/* a heartbeat counts again */
	H.n_sockets = 1;
	H.timers[0].fn(H.timers[0].ud);
	ck_assert_uint_eq(H.n_out, 3);
	v = value_of(&H.out[2]);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "sockets")), 4);
	ck_assert_int_eq(H.out[2].lossy, 1); /* a heartbeat: a broker need not keep it while away */
	json_decref(v);

	/* the will goes to the first events topic */
	ck_assert_int_eq(sgm_evdrv_will(d, &w), 0);
	ck_assert_str_eq(w.topic, "ev");
	assert_value(&w, "{\"type\":\"instance\",\"instance\":\"inst-1\",\"state\":\"down\",\"will\":true}");
	sgm_out_clear(&w);

	/* a lifecycle of a binding without events produces nothing; SHUTDOWN: one down per topic,
	 * then nothing at all */
	{
		struct sg_bridge_socket s = sock(NULL, NULL, NULL, NULL);
		struct sg_bridge_lifecycle ev = {.type = SG_BRIDGE_LC_CONNECT, .socket = &s};
		struct sg_bridge_lifecycle down = {.type = SG_BRIDGE_LC_SHUTDOWN};

		sgm_evdrv_lifecycle(d, b4, &ev);
		ck_assert_uint_eq(H.n_out, 3);
		sgm_evdrv_lifecycle(d, b1, &ev);
		ck_assert_uint_eq(H.n_out, 4);
		ck_assert_str_eq(H.out[3].key, "SID0");
		sgm_evdrv_lifecycle(d, NULL, &down);
		ck_assert_uint_eq(H.n_out, 6);
		assert_value(&H.out[4], "{\"type\":\"instance\",\"instance\":\"inst-1\",\"state\":\"down\"}");
		ck_assert_int_eq(H.out[4].lossy, 0);
		ck_assert_int_eq(H.out[3].lossy, 0); /* a lifecycle record */
		ck_assert_str_eq(H.out[5].topic, "ev2");
		sgm_evdrv_lifecycle(d, b1, &ev);
		H.timers[0].fn(H.timers[0].ud);
		ck_assert_uint_eq(H.n_out, 6);
	}
	sgm_evdrv_free(d);
	sgm_binding_free(b1);
	sgm_binding_free(b2);
	sgm_binding_free(b3);
	sgm_binding_free(b4);
	reset();
}
END_TEST

START_TEST(driver_counts_and_logs_failures)
{
	struct sgm_binding *b = binding("/chat", 0, "{\"events\":{\"topic\":\"ev\"}}");
	struct sg_bridge_socket s = sock(NULL, NULL, NULL, NULL);
	struct sg_bridge_lifecycle ev = {.type = SG_BRIDGE_LC_CONNECT, .socket = &s};
	struct sgm_evdrv *d;

	reset();
	d = sgm_evdrv_new(&api, &H, produce, &H);
	ck_assert_int_eq(sgm_binding_set_driver(b, d), 0);
	H.refuse = 1;
	ck_assert_int_eq(sgm_evdrv_start(d), 0); /* the first up is refused: counted */
	sgm_evdrv_lifecycle(d, b, &ev);
	sgm_evdrv_result(d, 0, "Local: Message timed out");
	sgm_evdrv_result(d, 1, NULL);
	ck_assert_double_eq(H.ctr[1].v, 3);
	ck_assert_double_eq(H.ctr[0].v, 1);
	/* logged once per interval, with the first reason */
	ck_assert_int_eq(H.n_logs, 1);
	ck_assert_str_eq(H.log, "a lifecycle, heartbeat or presence record could not be produced (queue full); 1 so far");
	sgm_evdrv_free(d);
	sgm_binding_free(b);
	reset();
}
END_TEST

/* ---- presence queries -------------------------------------------------------------- */

/* Delivers `cmd` on the control topic of binding b (driven by d). */
static long query(struct sgm_binding *b, const char *cmd, char *why, size_t whylen)
{
	const struct sgm_sub *subs;
	size_t n = sgm_subs(b, &subs);
	struct sgm_msg m = {.topic = "ctl", .value = cmd, .value_len = strlen(cmd)};

	for (size_t i = 0; i < n; i++)
		if (subs[i].control)
			return sgm_deliver(b, &subs[i], &m, &api, &H, why, whylen);
	ck_abort_msg("no control subscription");
	return -3;
}

START_TEST(presence_answers)
{
	struct sgm_binding *b = binding("/chat", 0, "{\"control_topic\":\"ctl\"}");
	struct sgm_evdrv *d;
	char why[256] = "";
	json_t *v;

	reset();
	H.n_sockets = 3;
	d = sgm_evdrv_new(&api, &H, produce, &H);
	ck_assert_int_eq(sgm_binding_set_driver(b, d), 0);

	ck_assert_int_eq(query(b, "{\"op\":\"fetch_sockets\",\"in\":[\"lobby\",\"x\"],\"reply_to\":\"re\",\"id\":\"q1\","
				  "\"limit\":2}", why, sizeof(why)), 3);
	ck_assert_str_eq(H.asked_rooms, "lobby|x");
	ck_assert_uint_eq(H.n_out, 1);
	ck_assert_str_eq(H.out[0].topic, "re");
	ck_assert_str_eq(H.out[0].key, "q1");
	ck_assert_str_eq(hdr(&H.out[0], "sio-event"), "fetch_sockets");
	ck_assert_str_eq(hdr(&H.out[0], "sio-namespace"), "/chat");
	v = value_of(&H.out[0]);
	{
		json_t *w = json_loads("{\"id\":\"q1\",\"instance\":\"inst-1\",\"namespace\":\"/chat\",\"truncated\":true,"
				       "\"sockets\":[{\"sid\":\"SID0\",\"rooms\":[\"SID0\",\"lobby\"],\"claims\":{\"sub\":\"ann\"},"
				       "\"connected_at\":1000},{\"sid\":\"SID1\",\"rooms\":[\"SID1\",\"lobby\"],"
				       "\"claims\":{\"sub\":\"ann\"},\"connected_at\":1001}]}", 0, NULL);
		ck_assert(json_equal(v, w));
		json_decref(w);
	}
	json_decref(v);

	ck_assert_int_eq(query(b, "{\"op\":\"fetch_sockets\",\"reply_to\":\"re\",\"id\":\"q2\"}", why, sizeof(why)), 3);
	v = value_of(&H.out[1]);
	ck_assert_int_eq(json_array_size(json_object_get(v, "sockets")), 3);
	ck_assert(json_is_false(json_object_get(v, "truncated")));
	json_decref(v);

	ck_assert_int_eq(query(b, "{\"op\":\"count\",\"sids\":[\"SID0\"],\"reply_to\":\"re\",\"id\":\"q3\"}", why,
			       sizeof(why)), 3);
	ck_assert_str_eq(H.out[2].value, "{\"id\":\"q3\",\"instance\":\"inst-1\",\"namespace\":\"/chat\",\"count\":3}");

	ck_assert_int_eq(query(b, "{\"op\":\"rooms\",\"reply_to\":\"re\",\"id\":\"q4\"}", why, sizeof(why)), 2);
	ck_assert_str_eq(H.out[3].value,
			 "{\"id\":\"q4\",\"instance\":\"inst-1\",\"namespace\":\"/chat\",\"rooms\":{\"lobby\":3,\"news\":1}}");
	ck_assert_double_eq(H.ctr[2].v, 4);

	/* nobody of that namespace here: still an answer */
	H.n_sockets = 0;
	ck_assert_int_eq(query(b, "{\"op\":\"count\",\"reply_to\":\"re\",\"id\":\"q5\"}", why, sizeof(why)), 0);
	ck_assert_str_eq(H.out[4].value, "{\"id\":\"q5\",\"instance\":\"inst-1\",\"namespace\":\"/chat\",\"count\":0}");
	sgm_evdrv_free(d);
	sgm_binding_free(b);
	reset();
}
END_TEST

static const struct {
	const char *cmd;
	const char *why;
} bad_queries[] = {
	{"{\"op\":\"fetch_sockets\",\"reply_to\":\"re\"}",
	 "\"fetch_sockets\" needs \"id\" (a non-empty string of at most 256 bytes)"},
	{"{\"op\":\"count\",\"reply_to\":\"re\",\"id\":\"\"}", "\"count\" needs \"id\" (a non-empty string of at most 256 bytes)"},
	{"{\"op\":\"count\",\"id\":\"q\"}", "\"count\" needs \"reply_to\" (the topic to answer on)"},
	{"{\"op\":\"count\",\"id\":\"q\",\"reply_to\":\"Bad Topic\"}", "\"reply_to\": 'Bad Topic' is not a valid topic"},
	{"{\"op\":\"fetch_sockets\",\"id\":\"q\",\"reply_to\":\"re\",\"limit\":0}",
	 "\"limit\": expected an integer from 1 to 10000 (fetch_sockets only)"},
	{"{\"op\":\"fetch_sockets\",\"id\":\"q\",\"reply_to\":\"re\",\"limit\":10001}",
	 "\"limit\": expected an integer from 1 to 10000 (fetch_sockets only)"},
	{"{\"op\":\"count\",\"id\":\"q\",\"reply_to\":\"re\",\"limit\":5}",
	 "\"limit\": expected an integer from 1 to 10000 (fetch_sockets only)"},
	{"{\"op\":\"rooms\",\"id\":\"q\",\"reply_to\":\"re\",\"in\":[\"a\"]}", "\"rooms\" takes no target (sids, in, except)"},
	{"{\"op\":\"count\",\"id\":\"q\",\"reply_to\":\"re\",\"in\":\"a\"}", "'in' must be an array of at most 256 strings"},
};

START_TEST(presence_malformed)
{
	struct sgm_binding *b = binding("/chat", 0, "{\"control_topic\":\"ctl\"}");
	struct sgm_evdrv *d;
	char why[256] = "";

	reset();
	d = sgm_evdrv_new(&api, &H, produce, &H);
	ck_assert_int_eq(sgm_binding_set_driver(b, d), 0);
	ck_assert_int_eq(query(b, bad_queries[_i].cmd, why, sizeof(why)), -1);
	ck_assert_str_eq(why, bad_queries[_i].why);
	ck_assert_uint_eq(H.n_out, 0);
	sgm_evdrv_free(d);
	sgm_binding_free(b);
	reset();
}
END_TEST

START_TEST(presence_without_driver)
{
	struct sgm_binding *b = binding("/chat", 0, "{\"control_topic\":\"ctl\"}");
	char why[256] = "";

	/* a plugin that did not register the binding with a driver cannot answer */
	ck_assert_int_eq(query(b, "{\"op\":\"count\",\"id\":\"q\",\"reply_to\":\"re\"}", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "this bridge does not answer presence queries");
	sgm_binding_free(b);
}
END_TEST

static Suite *events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *tc = tcase_create("config");

	tcase_add_loop_test(tc, config_errors, 0, sizeof(bad_events) / sizeof(bad_events[0]));
	tcase_add_test(tc, config_defaults_and_choices);
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_test(tc, record_connect);
	tcase_add_test(tc, record_join_leave_disconnect);
	tcase_add_test(tc, record_instance);
	suite_add_tcase(s, tc);

	tc = tcase_create("driver");
	tcase_add_test(tc, driver_heartbeats_and_shutdown);
	tcase_add_test(tc, driver_counts_and_logs_failures);
	suite_add_tcase(s, tc);

	tc = tcase_create("presence");
	tcase_add_test(tc, presence_answers);
	tcase_add_loop_test(tc, presence_malformed, 0, sizeof(bad_queries) / sizeof(bad_queries[0]));
	tcase_add_test(tc, presence_without_driver);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(events_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
