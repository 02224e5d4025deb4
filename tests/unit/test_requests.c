/* test_requests.c - request and reply (bridges/common/requests.c) through a fake host: the
 * reply topic template, a client's request answered by the backend (before and after the
 * broker's confirmation, with JSON, spread and binary), its caps, failures, timeout and
 * shutdown, dropped answers, and a backend's question to clients with its answers, timeouts,
 * done record and refusals, reached through downstream headers and control emits. */
#include "events.h"
#include "mapping.h"
#include "requests.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a fake host ------------------------------------------------------------------- */

#define MAX_REC 16

struct sg_bridge_counter {
	char name[48];
	double v;
};

struct sg_bridge_ticket {
	int id;
};

struct sg_host {
	char completed[8][512];      /* JSON of each completion's args, in order */
	int completed_id[8];
	size_t n_completed;
	struct sgm_out rec[MAX_REC]; /* records produced through the driver */
	size_t n_rec;
	void (*tick)(void *);
	void *tick_ud;
	struct sg_bridge_counter ctr[24];
	size_t n_ctr;
	int gone;                    /* is_member says the socket has gone */
	/* emit_ack: what it answers, synchronously */
	int recipients;
	int late;                    /* how many of them time out */
	char asked_event[64];
	char log[400];
};

static struct sg_host H;

static void f_log(struct sg_host *h, enum sg_bridge_log_level l, const char *fmt, ...)
{
	va_list ap;

	(void)l;
	va_start(ap, fmt);
	vsnprintf(h->log, sizeof(h->log), fmt, ap);
	va_end(ap);
}

static void record_completion(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *args)
{
	char *s = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	ck_assert_uint_lt(h->n_completed, 8);
	snprintf(h->completed[h->n_completed], sizeof(h->completed[0]), "%s", s);
	h->completed_id[h->n_completed++] = t->id;
	free(s);
}

static void f_complete(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *result)
{
	json_t *a = json_pack("[O]", result);

	record_completion(h, t, a);
	json_decref(a);
}

static void f_complete_args(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *args,
			    const struct sg_bridge_bin *att, size_t n_att)
{
	json_t *a = sgm_args_json(args, att, n_att);

	record_completion(h, t, a);
	json_decref(a);
}

static const char *f_instance_id(struct sg_host *h)
{
	(void)h;
	return "inst";
}

static struct sg_bridge_counter *f_counter_handle(struct sg_host *h, const char *name, const char *const *labels)
{
	(void)labels;
	ck_assert_uint_lt(h->n_ctr, 24);
	snprintf(h->ctr[h->n_ctr].name, sizeof(h->ctr[0].name), "%s", name);
	return &h->ctr[h->n_ctr++];
}

static void f_counter_add(struct sg_bridge_counter *c, double d)
{
	c->v += d;
}

static double counted(const char *name)
{
	for (size_t i = 0; i < H.n_ctr; i++)
		if (!strcmp(H.ctr[i].name, name))
			return H.ctr[i].v;
	return -1;
}

static int f_every(struct sg_host *h, unsigned ms, void (*fn)(void *ud), void *ud)
{
	(void)ms;
	h->tick = fn;
	h->tick_ud = ud;
	return 0;
}

static int f_is_member(struct sg_host *h, const char *nsp, const char *sid, const char *room)
{
	(void)nsp;
	ck_assert_str_eq(sid, room); /* asked: is the socket still here */
	return !h->gone;
}

static long f_emit_ack(struct sg_host *h, const struct sg_bridge_emit *em, unsigned timeout_ms,
		       void (*fn)(void *ud, const struct sg_bridge_answer *a), void *ud)
{
	json_t *yes = json_pack("[s]", "yes");

	(void)timeout_ms;
	snprintf(h->asked_event, sizeof(h->asked_event), "%s", em->event);
	for (int i = 0; i < h->recipients; i++) {
		char sid[16];
		struct sg_bridge_answer a = {em->nsp, sid, i < h->late ? NULL : yes, NULL, 0,
					     i < h->late ? "timeout" : NULL};

		snprintf(sid, sizeof(sid), "S%d", i);
		fn(ud, &a);
	}
	json_decref(yes);
	return h->recipients;
}

static const struct sg_host_api api = {
	.abi_major = SG_BRIDGE_ABI_MAJOR, .abi_minor = SG_BRIDGE_ABI_MINOR,
	.log = f_log, .complete = f_complete, .instance_id = f_instance_id,
	.counter_handle = f_counter_handle, .counter_add = f_counter_add,
	.is_member = f_is_member, .every = f_every,
	.emit_ack = f_emit_ack, .complete_args = f_complete_args,
	NULL, NULL, /* 1.6 replays: the Kafka bridge's sessions */
};

static int produce(void *ud, const struct sgm_out *o, char *why, size_t whylen)
{
	struct sg_host *h = ud;
	struct sgm_out *c;

	(void)why;
	(void)whylen;
	ck_assert_uint_lt(h->n_rec, MAX_REC);
	c = &h->rec[h->n_rec++];
	memset(c, 0, sizeof(*c));
	c->topic = strdup(o->topic);
	c->key = strdup(o->key);
	c->value = strndup(o->value, o->value_len);
	c->value_len = o->value_len;
	for (size_t i = 0; i < o->n_headers; i++) {
		c->hname[i] = strdup(o->hname[i]);
		c->hvalue[i] = strdup(o->hvalue[i]);
	}
	c->n_headers = o->n_headers;
	return 0;
}

static struct sgm_evdrv *drv;
static struct sgm_reqs *reqs;

static void setup(unsigned max, unsigned per_socket)
{
	struct sgm_reqs_conf c = {"replies", max, per_socket};

	for (size_t i = 0; i < H.n_rec; i++)
		sgm_out_clear(&H.rec[i]);
	memset(&H, 0, sizeof(H));
	drv = sgm_evdrv_new(&api, &H, produce, &H);
	reqs = sgm_reqs_new(&api, &H, drv, &c);
	ck_assert_ptr_nonnull(reqs);
	sgm_evdrv_set_reqs(drv, reqs);
	ck_assert_int_eq(sgm_reqs_start(reqs), 0);
	ck_assert_ptr_nonnull(H.tick);
}

static void teardown(void)
{
	sgm_reqs_free(reqs);
	sgm_evdrv_free(drv);
	for (size_t i = 0; i < H.n_rec; i++)
		sgm_out_clear(&H.rec[i]);
	H.n_rec = 0;
}

static const char *hdr(const struct sgm_out *o, const char *name)
{
	for (size_t i = 0; i < o->n_headers; i++)
		if (!strcmp(o->hname[i], name))
			return o->hvalue[i];
	return NULL;
}

/* A reply message on the reply topic. */
static void reply(const char *id, const char *value, const char *args_mode)
{
	struct sgm_header h[2] = {{SGM_H_ACK_ID, id, id ? strlen(id) : 0}, {SGM_H_ARGS, args_mode, 0}};
	struct sgm_msg m = {.topic = "replies", .headers = h, .n_headers = id ? 1 : 0, .value = value,
			    .value_len = value ? strlen(value) : 0};

	if (args_mode) {
		h[1].len = strlen(args_mode);
		m.n_headers = 2;
	}
	sgm_reqs_reply(reqs, &m, NULL, 0);
}

/* ---- the reply topic template ------------------------------------------------------ */

START_TEST(reply_topic_template)
{
	char err[200], *t = sgm_reply_topic("siogate/replies/{instance}/{instance}", "host-1-ab");

	ck_assert_str_eq(t, "siogate/replies/host-1-ab/host-1-ab");
	free(t);
	t = sgm_reply_topic("siogate.replies", "x");
	ck_assert_str_eq(t, "siogate.replies");
	free(t);
	ck_assert_int_eq(sgm_reply_topic_check("a.{instance}", NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(sgm_reply_topic_check("a.{nsp}", NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "reply_topic: the only placeholder allowed is {instance}");
	ck_assert_int_eq(sgm_reply_topic_check("", NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "reply_topic: expected a non-empty string");
}
END_TEST

/* ---- the client asks --------------------------------------------------------------- */

START_TEST(request_answered_after_confirmation)
{
	struct sg_bridge_ticket t1 = {1};
	struct sgm_out o;
	char why[300];
	struct sgm_req *q;

	setup(10, 10);
	q = sgm_req_open(reqs, &t1, "/chat", "SID1", 10000, why, sizeof(why));
	ck_assert_ptr_nonnull(q);
	ck_assert_str_eq(sgm_req_id(q), "inst.1");
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(sgm_req_headers(q, &o), 0);
	ck_assert_str_eq(hdr(&o, "sio-reply-to"), "replies");
	ck_assert_str_eq(hdr(&o, "sio-ack-id"), "inst.1");
	sgm_out_clear(&o);
	ck_assert_ptr_eq(sgm_req_of(reqs, q), q);
	ck_assert_ptr_null(sgm_req_of(reqs, &t1));

	sgm_req_produced(q, 1, NULL);
	ck_assert_uint_eq(H.n_completed, 0); /* the broker has it: now the backend */
	reply("inst.1", "{\"order\":42,\"pic\":{\"$binary\":\"AAE=\"}}", NULL);
	ck_assert_uint_eq(H.n_completed, 1);
	ck_assert_str_eq(H.completed[0], "[{\"order\":42.0,\"pic\":{\"$binary\":\"AAE=\"}}]"); /* numbers decode as reals */
	ck_assert_ptr_null(sgm_req_of(reqs, q));

	/* a second answer, an unknown id of ours: dropped and counted; another replica's: not ours */
	reply("inst.1", "2", NULL);
	reply("inst.99", "2", NULL);
	reply("other.1", "2", NULL);
	reply(NULL, "2", NULL);
	ck_assert_uint_eq(H.n_completed, 1);
	ck_assert_double_eq(counted("replies_dropped"), 3);
	ck_assert_double_eq(counted("client_requests"), 1);
	ck_assert_double_eq(counted("client_requests_answered"), 1);
	teardown();
}
END_TEST

START_TEST(request_answered_before_confirmation)
{
	struct sg_bridge_ticket t1 = {1};
	char why[300];
	struct sgm_req *q;

	setup(10, 10);
	q = sgm_req_open(reqs, &t1, "/chat", "SID1", 10000, why, sizeof(why));
	reply("inst.1", "[1,\"two\"]", "spread");
	ck_assert_uint_eq(H.n_completed, 0); /* the ticket belongs to the message until confirmed */
	sgm_req_produced(q, 1, NULL);
	ck_assert_uint_eq(H.n_completed, 1);
	ck_assert_str_eq(H.completed[0], "[1.0,\"two\"]");
	teardown();
}
END_TEST

START_TEST(request_failures_and_timeouts)
{
	struct sg_bridge_ticket t1 = {1}, t2 = {2}, t3 = {3};
	char why[300];
	struct sgm_req *q1, *q2, *q3;
	struct timespec ms5 = {0, 5000000};

	setup(10, 10);
	q1 = sgm_req_open(reqs, &t1, "/chat", "SID1", 10000, why, sizeof(why));
	q2 = sgm_req_open(reqs, &t2, "/chat", "SID1", 1, why, sizeof(why));
	q3 = sgm_req_open(reqs, &t3, "/chat", "SID1", 1, why, sizeof(why));
	sgm_req_produced(q1, 0, "Broker: Topic authorization failed");
	ck_assert_str_eq(H.completed[0], "[{\"error\":\"Broker: Topic authorization failed\",\"ok\":false}]");
	sgm_req_produced(q2, 1, NULL);
	nanosleep(&ms5, NULL);
	H.tick(H.tick_ud);
	ck_assert_uint_eq(H.n_completed, 3);
	ck_assert_str_eq(H.completed[1], "[{\"error\":\"no reply within 1 ms\",\"ok\":false}]");
	ck_assert_int_eq(H.completed_id[1], 2);
	ck_assert_int_eq(H.completed_id[2], 3);
	/* q3 timed out before its confirmation: kept until it comes, then gone quietly */
	ck_assert_ptr_eq(sgm_req_of(reqs, q3), q3);
	sgm_req_produced(q3, 1, NULL);
	ck_assert_ptr_null(sgm_req_of(reqs, q3));
	ck_assert_uint_eq(H.n_completed, 3);
	reply("inst.2", "1", NULL); /* too late */
	ck_assert_double_eq(counted("replies_dropped"), 1);
	ck_assert_double_eq(counted("client_requests_timed_out"), 2);
	ck_assert_double_eq(counted("client_requests_failed"), 1);
	teardown();
}
END_TEST

START_TEST(request_caps)
{
	struct sg_bridge_ticket t[4] = {{1}, {2}, {3}, {4}};
	char why[300];

	setup(3, 2);
	ck_assert_ptr_nonnull(sgm_req_open(reqs, &t[0], "/chat", "A", 1000, why, sizeof(why)));
	ck_assert_ptr_nonnull(sgm_req_open(reqs, &t[1], "/chat", "A", 1000, why, sizeof(why)));
	ck_assert_ptr_null(sgm_req_open(reqs, &t[2], "/chat", "A", 1000, why, sizeof(why)));
	ck_assert_str_eq(why, "too many of this socket's requests are waiting for an answer (max_requests_per_socket 2)");
	ck_assert_ptr_nonnull(sgm_req_open(reqs, &t[2], "/chat", "B", 1000, why, sizeof(why)));
	ck_assert_ptr_null(sgm_req_open(reqs, &t[3], "/chat", "C", 1000, why, sizeof(why)));
	ck_assert_str_eq(why, "too many requests are waiting for an answer on this gateway (max_requests 3)");
	ck_assert_double_eq(counted("client_requests_refused"), 2);
	/* an answer frees a slot of its socket */
	reply("inst.1", "1", NULL); /* not confirmed yet: still counts */
	ck_assert_ptr_null(sgm_req_open(reqs, &t[3], "/chat", "A", 1000, why, sizeof(why)));
	teardown(); /* what is still open is answered "shutting down" */
	ck_assert_uint_eq(H.n_completed, 3);
}
END_TEST

START_TEST(request_gone_socket_and_stop)
{
	struct sg_bridge_ticket t1 = {1}, t2 = {2};
	char why[300];
	struct sgm_req *q1, *q2;

	setup(10, 10);
	q1 = sgm_req_open(reqs, &t1, "/chat", "SID1", 10000, why, sizeof(why));
	q2 = sgm_req_open(reqs, &t2, "/chat", "SID2", 10000, why, sizeof(why));
	sgm_req_produced(q1, 1, NULL);
	H.gone = 1;
	reply("inst.1", "1", NULL); /* counted as dropped; the ticket is still completed (host frees it) */
	ck_assert_double_eq(counted("replies_dropped"), 1);
	ck_assert_double_eq(counted("client_requests_answered"), 0); /* nobody received it */
	ck_assert_uint_eq(H.n_completed, 1);
	sgm_reqs_stop(reqs);
	ck_assert_uint_eq(H.n_completed, 2);
	ck_assert_str_eq(H.completed[1], "[{\"error\":\"the gateway is shutting down\",\"ok\":false}]");
	ck_assert_ptr_null(sgm_req_open(reqs, &t1, "/chat", "SID1", 10, why, sizeof(why)));
	ck_assert_str_eq(why, "the gateway is shutting down");
	sgm_req_produced(q2, 0, "purged"); /* after the stop: already answered, only freed */
	ck_assert_uint_eq(H.n_completed, 2);
	teardown();
}
END_TEST

/* ---- the backend asks -------------------------------------------------------------- */

START_TEST(ask_answers_and_done)
{
	const char *rooms[] = {"lobby"};
	struct sg_bridge_emit em = {.nsp = "/chat", .rooms = rooms, .n_rooms = 1, .event = "confirm"};
	char why[300];

	setup(10, 10);
	H.recipients = 3;
	H.late = 1;
	ck_assert_int_eq(sgm_ask(reqs, &em, "answers", "a1", 5000, why, sizeof(why)), 3);
	ck_assert_str_eq(H.asked_event, "confirm");
	ck_assert_uint_eq(H.n_rec, 4);
	ck_assert_str_eq(H.rec[0].topic, "answers");
	ck_assert_str_eq(H.rec[0].key, "a1");
	ck_assert_str_eq(hdr(&H.rec[0], "sio-ack-id"), "a1");
	ck_assert_str_eq(hdr(&H.rec[0], "sio-sid"), "S0");
	ck_assert_str_eq(H.rec[0].value, "{\"id\":\"a1\",\"instance\":\"inst\",\"sid\":\"S0\",\"namespace\":\"/chat\",\"error\":\"timeout\"}");
	ck_assert_str_eq(H.rec[1].value, "{\"id\":\"a1\",\"instance\":\"inst\",\"sid\":\"S1\",\"namespace\":\"/chat\",\"args\":[\"yes\"]}");
	ck_assert_str_eq(H.rec[3].value, "{\"id\":\"a1\",\"instance\":\"inst\",\"namespace\":\"/chat\",\"done\":true,"
					"\"recipients\":3,\"replied\":2,\"failed\":1}");
	ck_assert_ptr_null(hdr(&H.rec[3], "sio-sid"));

	/* nobody here: done at once */
	H.recipients = 0;
	ck_assert_int_eq(sgm_ask(reqs, &em, "answers", "a2", 5000, why, sizeof(why)), 0);
	ck_assert_str_eq(H.rec[4].value, "{\"id\":\"a2\",\"instance\":\"inst\",\"namespace\":\"/chat\",\"done\":true,"
					"\"recipients\":0,\"replied\":0,\"failed\":0}");

	/* volatile and ack do not mix */
	em.is_volatile = 1;
	ck_assert_int_eq(sgm_ask(reqs, &em, "answers", "a3", 5000, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "a volatile event cannot ask for answers (sio-volatile with sio-ack-id)");
	ck_assert_double_eq(counted("backend_requests"), 2);
	ck_assert_double_eq(counted("backend_answers"), 2);
	ck_assert_double_eq(counted("backend_answers_failed"), 1);
	teardown();
}
END_TEST

START_TEST(ask_over_the_cap)
{
	struct sg_bridge_emit em = {.nsp = "/chat", .event = "confirm"};
	struct sg_bridge_ticket t1 = {1};
	char why[300];

	setup(1, 1);
	ck_assert_ptr_nonnull(sgm_req_open(reqs, &t1, "/chat", "A", 1000, why, sizeof(why)));
	H.recipients = 2;
	ck_assert_int_eq(sgm_ask(reqs, &em, "answers", "a1", 5000, why, sizeof(why)), 0);
	ck_assert_uint_eq(H.n_rec, 1);
	ck_assert_str_eq(H.rec[0].value, "{\"id\":\"a1\",\"instance\":\"inst\",\"namespace\":\"/chat\",\"done\":true,"
					"\"recipients\":0,\"replied\":0,\"failed\":0,"
					"\"error\":\"too many requests are waiting for an answer on this gateway\"}");
	ck_assert_double_eq(counted("backend_requests_refused"), 1);
	teardown();
}
END_TEST

/* ---- through the mapping ----------------------------------------------------------- */

static long deliver(struct sgm_binding *b, int control, const struct sgm_header *h, size_t nh, const char *value,
		    char *why, size_t whylen)
{
	const struct sgm_sub *subs;
	size_t n = sgm_subs(b, &subs);
	struct sgm_msg m = {.topic = control ? "ctl" : "asks", .key = "lobby", .key_len = 5, .headers = h,
			    .n_headers = nh, .value = value, .value_len = strlen(value)};

	for (size_t i = 0; i < n; i++)
		if (!!subs[i].control == control)
			return sgm_deliver(b, &subs[i], &m, &api, &H, why, whylen);
	ck_abort_msg("no subscription");
	return -3;
}

START_TEST(mapping_asks)
{
	json_t *bridge = json_loads("{\"to_clients\":[{\"topic\":\"asks\",\"event\":\"confirm\"}],\"control_topic\":\"ctl\"}",
				    0, NULL);
	char err[SG_BRIDGE_ERR_MAX], why[300] = "";
	struct sgm_binding *b = sgm_binding_new("/chat", 0, bridge, NULL, err, sizeof(err));
	struct sgm_header ask[] = {{"sio-reply-to", "answers", 7}, {"sio-ack-id", "x1", 2}, {"sio-ack-timeout-ms", "900", 3}};
	struct sgm_header half[] = {{"sio-ack-id", "x1", 2}};
	struct sgm_header badt[] = {{"sio-reply-to", "answers", 7}, {"sio-ack-id", "x1", 2}, {"sio-ack-timeout-ms", "9s", 2}};
	struct sgm_header vol[] = {{"sio-reply-to", "answers", 7}, {"sio-ack-id", "x1", 2}, {"sio-volatile", "true", 4}};

	ck_assert_ptr_nonnull(b);
	setup(10, 10);
	ck_assert_int_eq(sgm_binding_set_driver(b, drv), 0);
	H.recipients = 1;
	ck_assert_int_eq(deliver(b, 0, ask, 3, "\"sure?\"", why, sizeof(why)), 1);
	ck_assert_uint_eq(H.n_rec, 2); /* the answer and the done record */
	ck_assert_int_eq(deliver(b, 0, half, 1, "1", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "bad request headers (sio-reply-to and sio-ack-id go together; sio-ack-timeout-ms is a number of ms)");
	ck_assert_int_eq(deliver(b, 0, badt, 3, "1", why, sizeof(why)), -1);
	ck_assert_int_eq(deliver(b, 0, vol, 3, "1", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "a volatile event cannot ask for answers (sio-volatile with sio-ack-id)");

	ck_assert_int_eq(deliver(b, 1, NULL, 0, "{\"op\":\"emit\",\"event\":\"confirm\",\"reply_to\":\"answers\",\"id\":\"c1\","
				 "\"timeout_ms\":500}", why, sizeof(why)), 1);
	ck_assert_uint_eq(H.n_rec, 4);
	ck_assert_int_eq(deliver(b, 1, NULL, 0, "{\"op\":\"emit\",\"event\":\"confirm\",\"id\":\"c1\"}", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "an \"emit\" that asks for answers needs \"reply_to\" and \"id\" (strings) and an integer "
			      "\"timeout_ms\" (optional)");
	ck_assert_int_eq(deliver(b, 1, NULL, 0, "{\"op\":\"emit\",\"event\":\"confirm\",\"reply_to\":\"answers\",\"id\":\"c1\","
				 "\"timeout_ms\":0}", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "the answer timeout must be an integer from 1 to 600000 ms");
	teardown();
	sgm_binding_free(b);
	json_decref(bridge);
}
END_TEST

static const struct {
	const char *up;
	const char *err;
} bad_up[] = {
	{"{\"event\":\"e\",\"topic\":\"t\",\"reply\":\"client\"}", "from_clients[0].reply: expected one of broker, backend"},
	{"{\"event\":\"e\",\"topic\":\"t\",\"reply_timeout_ms\":5}", "from_clients[0].reply_timeout_ms: only with \"reply\": \"backend\""},
	{"{\"event\":\"e\",\"topic\":\"t\",\"reply\":\"backend\",\"reply_timeout_ms\":0}",
	 "from_clients[0].reply_timeout_ms: expected an integer from 1 to 600000"},
	{"{\"event\":\"e\",\"topic\":\"t\",\"reply\":\"backend\",\"reply_timeout_ms\":600001}",
	 "from_clients[0].reply_timeout_ms: expected an integer from 1 to 600000"},
};

START_TEST(config_reply_keys)
{
	char json[300], err[SG_BRIDGE_ERR_MAX] = "";
	json_t *b;

	snprintf(json, sizeof(json), "{\"from_clients\":[%s]}", bad_up[_i].up);
	b = json_loads(json, 0, NULL);
	ck_assert_int_eq(sgm_check(b, NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, bad_up[_i].err);
	json_decref(b);
}
END_TEST

START_TEST(config_reply_route)
{
	json_t *bj = json_loads("{\"from_clients\":[{\"event\":\"a\",\"topic\":\"t\"},{\"event\":\"b\",\"topic\":\"t\","
				"\"reply\":\"backend\"},{\"event\":\"c\",\"topic\":\"t\",\"reply\":\"backend\","
				"\"reply_timeout_ms\":250}]}", 0, NULL);
	char err[SG_BRIDGE_ERR_MAX];
	struct sgm_binding *b = sgm_binding_new("/chat", 0, bj, NULL, err, sizeof(err));
	unsigned t = 0;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(sgm_binding_waits_for_backend(b), 1);
	ck_assert_int_eq(sgm_route_reply(b, sgm_route(b, "a"), &t), 0);
	ck_assert_int_eq(sgm_route_reply(b, sgm_route(b, "b"), &t), 1);
	ck_assert_uint_eq(t, 10000);
	ck_assert_int_eq(sgm_route_reply(b, sgm_route(b, "c"), &t), 1);
	ck_assert_uint_eq(t, 250);
	sgm_binding_free(b);
	json_decref(bj);
}
END_TEST

static Suite *requests_suite(void)
{
	Suite *s = suite_create("requests");
	TCase *tc = tcase_create("client");

	tcase_add_test(tc, reply_topic_template);
	tcase_add_test(tc, request_answered_after_confirmation);
	tcase_add_test(tc, request_answered_before_confirmation);
	tcase_add_test(tc, request_failures_and_timeouts);
	tcase_add_test(tc, request_caps);
	tcase_add_test(tc, request_gone_socket_and_stop);
	suite_add_tcase(s, tc);

	tc = tcase_create("backend");
	tcase_add_test(tc, ask_answers_and_done);
	tcase_add_test(tc, ask_over_the_cap);
	tcase_add_test(tc, mapping_asks);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_loop_test(tc, config_reply_keys, 0, sizeof(bad_up) / sizeof(bad_up[0]));
	tcase_add_test(tc, config_reply_route);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(requests_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
