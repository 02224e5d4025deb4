/* sessions.c - connection state recovery kept in Kafka (a namespace's recovery.sessions_topic).
 *
 * The host hands over a dropped socket's session (session_save); it is produced to the
 * namespace's sessions topic keyed by its private id (pid), with where the namespace's
 * consumption stood then: for each topic-partition it consumes, the offset of the next
 * record not yet handed to sockets ("positions"). Every replica reads every sessions topic
 * from its beginning (the loader: a group of its own, nothing committed) into a table, and
 * keeps reading it, so that a socket can come back to any of them; a recovered or expired
 * session is tombstoned (a null value: compaction forgets it).
 *
 * A socket that takes a session over from the broker (session_replay) gets what it missed
 * from Kafka: per topic-partition, from the stored position (in the partition of the record
 * its offset names, from right after that record) up to where this replica's consumption
 * stands now; records from there on reach it live, and the host holds those back until the
 * replay is done (replay_done). The replayer is one consumer (assign, no group), serving
 * replays one after another; records are merged across partitions by timestamp, each
 * partition in its own order, and go through the binding's mapping as live ones do, to that
 * socket alone (replay_emit), which keeps only those of its rooms. Records that ask clients
 * for answers are not replayed.
 *
 * Everything runs on the loop thread (librdkafka's threads only post). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "sessions.h"
#include "util/clock.h"

#define SWEEP_MS 10000            /* expired sessions are tombstoned this often */
#define TICK_MS 100               /* replay deadlines are checked this often */
#define REPLAY_TIMEOUT_MS 10000   /* a replay that has not reached its end by then ends */
#define REPLAY_MAX_RECORDS 100000 /* records fetched for one replay, at most */
#define REPLAY_MAX_BYTES ((size_t)64 << 20)
#define MAX_TABLE 1000000         /* sessions kept in the table, at most */
#define POLL_BATCH 1000
#define MALFORMED_LOG_INTERVAL_S 10 /* records that are not sessions: one warning per interval */
#define UNKNOWN_END INT64_MAX
char kafka_session_tag;

#define TOPIC_KEY " topic"        /* in a table entry: the topic it was read from */

struct replay {
	struct replay *next;
	int binding;
	char *nsp, *sid;
	rd_kafka_topic_partition_list_t *parts; /* offset: the first one replayed */
	int64_t *end;                 /* per part: the first offset not replayed (live from there),
	                                 or UNKNOWN_END: to the partition's end, bounded once the
	                                 consumption here hands its first record over */
	int *done;
	rd_kafka_message_t **msgs;    /* fetched, in arrival order (each partition in order) */
	size_t n_msgs, cap, bytes;
	long long deadline;
	int assigned;                 /* its partitions are the replayer's (replay_assign) */
};

struct ksess {
	struct kafka *k;
	char **topic_of;              /* per binding: its sessions topic, or NULL */
	size_t n_topic_of;
	json_t *table;                /* pid -> session (an object) */
	json_t *pos;                  /* "topic/partition" -> the next offset handed to sockets */
	rd_kafka_t *loader, *replayer;
	rd_kafka_queue_t *lq, *rq;
	atomic_int l_posted, r_posted;
	json_t *eof;                  /* "topic/partition" of the loader's partitions read to the end */
	int l_assigned, loaded;
	struct replay *head, **tail;  /* head: the one running */
	int running, stopped, full_logged;
	unsigned long malformed;      /* records of the sessions topics that are not sessions */
	time_t malformed_logged;
	struct sg_bridge_counter *c_saved, *c_failed, *c_loaded, *c_replayed, *c_replays, *c_cut, *c_malformed;
};

static struct ksess *of(void *inst)
{
	return ((struct kafka *)inst)->sess;
}

static const struct sg_host_api *api(const struct ksess *s)
{
	return s->k->api;
}

/* librdkafka thread: a consumer's queue has work. Asks the loop to run `fn` once; `posted`
 * stays set until fn runs, so a burst of records costs one post. */
static void post_once(struct ksess *s, atomic_int *posted, void (*fn)(void *ud))
{
	if (!atomic_exchange(posted, 1) && api(s)->post(s->k->host, fn, s))
		atomic_store(posted, 0);
}

static void tp_key(char *out, size_t len, const char *topic, int32_t partition)
{
	snprintf(out, len, "%s/%d", topic, (int)partition);
}

struct ksess *ksess_new(struct kafka *k)
{
	struct ksess *s = calloc(1, sizeof(*s));

	if (!s || !(s->table = json_object()) || !(s->pos = json_object()) || !(s->eof = json_object())) {
		if (s) {
			json_decref(s->table);
			json_decref(s->pos);
		}
		free(s);
		return NULL;
	}
	s->k = k;
	s->tail = &s->head;
	s->c_saved = k->api->counter_handle(k->host, "sessions_produced", NULL);
	s->c_failed = k->api->counter_handle(k->host, "sessions_failed", NULL);
	s->c_loaded = k->api->counter_handle(k->host, "sessions_loaded", NULL);
	s->c_replays = k->api->counter_handle(k->host, "session_replays", NULL);
	s->c_replayed = k->api->counter_handle(k->host, "session_replayed_records", NULL);
	s->c_cut = k->api->counter_handle(k->host, "session_replays_cut", NULL);
	s->c_malformed = k->api->counter_handle(k->host, "sessions_malformed", NULL);
	return s;
}

int ksess_topic(struct ksess *s, int binding, const char *topic, char *err, size_t len)
{
	if (binding < 0)
		return snprintf(err, len, "no such binding"), -1;
	if ((size_t)binding >= s->n_topic_of) {
		char **v = realloc(s->topic_of, ((size_t)binding + 1) * sizeof(*v));

		if (!v)
			return snprintf(err, len, "out of memory"), -1;
		for (size_t i = s->n_topic_of; i <= (size_t)binding; i++)
			v[i] = NULL;
		s->topic_of = v;
		s->n_topic_of = (size_t)binding + 1;
	}
	free(s->topic_of[binding]);
	if (!(s->topic_of[binding] = strdup(topic)))
		return snprintf(err, len, "out of memory"), -1;
	return 0;
}

static const char *topic_of(const struct ksess *s, int binding)
{
	return binding >= 0 && (size_t)binding < s->n_topic_of ? s->topic_of[binding] : NULL;
}

int ksess_loaded(const struct ksess *s)
{
	return s->loaded;
}

/* ---------------------------------------------------------------- producing */

static void produce(struct ksess *s, const char *topic, const char *pid, const char *nsp, const char *value)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(1);
	rd_kafka_resp_err_t err;

	if (nsp)
		rd_kafka_header_add(h, "sio-namespace", -1, nsp, -1);
	err = rd_kafka_producev(s->k->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(pid, strlen(pid)),
				RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0), RD_KAFKA_V_HEADERS(h),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(KAFKA_SESSION_TAG),
				RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(h);
		api(s)->counter_add(s->c_failed, 1);
		api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN, "session %s to '%s' not produced: %s",
			    value ? "record" : "tombstone", topic, rd_kafka_err2str(err));
	}
}

void ksess_produced(struct ksess *s, const rd_kafka_message_t *m)
{
	if (!s)
		return;
	if (m->err) {
		api(s)->counter_add(s->c_failed, 1);
		api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN, "a session record to '%s' was not delivered: %s",
			    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
	} else {
		api(s)->counter_add(s->c_saved, 1);
	}
}

/* Whether the binding consumes `topic` for its sockets (not its control topic). */
static int consumes(struct ksess *s, int binding, const char *topic)
{
	const struct sgm_sub *subs;
	size_t n = sgm_subs(s->k->bindings[binding], &subs);

	for (size_t j = 0; j < n; j++)
		if (!subs[j].control && sgm_sub_match(&subs[j], topic, NULL, 0))
			return 1;
	return 0;
}

void ksess_save(void *inst, int binding, const json_t *session)
{
	struct ksess *s = of(inst);
	const char *topic = s ? topic_of(s, binding) : NULL;
	const char *pid = json_string_value(json_object_get(session, "pid")), *key;
	json_t *v, *positions = json_object(), *o;
	char *text;

	if (!topic || !pid || !positions || !(v = json_deep_copy(session))) {
		json_decref(positions);
		return;
	}
	json_object_foreach(s->pos, key, o) {
		char t[256];
		const char *slash = strrchr(key, '/');

		if (!slash || (size_t)(slash - key) >= sizeof(t))
			continue;
		memcpy(t, key, (size_t)(slash - key));
		t[slash - key] = '\0';
		if (consumes(s, binding, t))
			json_object_set(positions, key, o);
	}
	json_object_set_new(v, "positions", positions);
	json_object_set_new(v, "instance", json_string(api(s)->instance_id(s->k->host)));
	if ((text = json_dumps(v, JSON_COMPACT))) {
		produce(s, topic, pid, json_string_value(json_object_get(v, "namespace")), text);
		free(text);
	}
	json_decref(v);
}

void ksess_drop(void *inst, int binding, const char *pid)
{
	struct ksess *s = of(inst);
	const char *topic = s ? topic_of(s, binding) : NULL;

	if (!topic)
		return;
	json_object_del(s->table, pid);
	produce(s, topic, pid, NULL, NULL);
}

json_t *ksess_find(void *inst, int binding, const char *nsp, const char *pid)
{
	struct ksess *s = of(inst);
	json_t *v = s && topic_of(s, binding) ? json_object_get(s->table, pid) : NULL;

	if (!v || !json_is_string(json_object_get(v, "namespace")) ||
	    strcmp(json_string_value(json_object_get(v, "namespace")), nsp) ||
	    json_integer_value(json_object_get(v, "expires")) <= sg_wall_ms())
		return NULL;
	return json_incref(v);
}

/* Tombstones the expired sessions of the table (any replica may: tombstones are idempotent). */
static void sweep(void *ud)
{
	struct ksess *s = ud;
	long long now = sg_wall_ms();
	const char *pid;
	json_t *v, *dead = json_array();
	size_t i;

	json_object_foreach(s->table, pid, v)
		if (json_integer_value(json_object_get(v, "expires")) <= now)
			json_array_append_new(dead, json_string(pid));
	json_array_foreach(dead, i, v) {
		const char *p = json_string_value(v);
		const char *topic = json_string_value(json_object_get(json_object_get(s->table, p), TOPIC_KEY));

		if (topic && !s->stopped)
			produce(s, topic, p, NULL, NULL);
		json_object_del(s->table, p);
	}
	json_decref(dead);
}

/* ---------------------------------------------------------------- positions */

void ksess_seen(struct ksess *s, const rd_kafka_message_t *m)
{
	char key[300];
	json_t *v;

	/* A replay that did not know where the consumption here would start on this partition
	 * (read to its end): it starts here, and this record goes live (held back for it). */
	for (struct replay *r = s->head; r; r = r->next)
		for (int i = 0; i < r->parts->cnt; i++)
			if (r->end[i] == UNKNOWN_END && r->parts->elems[i].partition == m->partition &&
			    !strcmp(r->parts->elems[i].topic, rd_kafka_topic_name(m->rkt)))
				r->end[i] = m->offset;
	tp_key(key, sizeof(key), rd_kafka_topic_name(m->rkt), m->partition);
	if ((v = json_object_get(s->pos, key)))
		json_integer_set(v, (json_int_t)m->offset + 1);
	else
		json_object_set_new(s->pos, key, json_integer((json_int_t)m->offset + 1));
}

/* Where this replica's consumption of topic/partition stands: the next record it hands to
 * sockets. Nothing handed over yet: the partition's end as last fetched (the consumer
 * started there), or -1 when not known yet (not fetched from, or not consumed here). */
static int64_t live_from(struct ksess *s, const char *topic, int32_t partition)
{
	char key[300];
	json_t *v;
	int64_t lo = -1, hi = -1;

	tp_key(key, sizeof(key), topic, partition);
	if ((v = json_object_get(s->pos, key)))
		return (int64_t)json_integer_value(v);
	if (s->k->consumer && !rd_kafka_get_watermark_offsets(s->k->consumer, topic, partition, &lo, &hi) && hi >= 0)
		return hi;
	return -1;
}

/* ---------------------------------------------------------------- the loader */

static void loader_event(rd_kafka_t *rk, void *opaque);

static void note_eof(struct ksess *s, const char *topic, int32_t partition)
{
	char key[300];

	tp_key(key, sizeof(key), topic, partition);
	if (json_object_get(s->eof, key))
		return;
	json_object_set_new(s->eof, key, json_true());
	if (!s->loaded && s->l_assigned > 0 && json_object_size(s->eof) >= (size_t)s->l_assigned) {
		s->loaded = 1;
		api(s)->log(s->k->host, SG_BRIDGE_LOG_INFO, "recovery sessions loaded: %zu kept",
			    json_object_size(s->table));
		s->k->ready_changed(s->k);
	}
}

/* A record of a sessions topic that is not a session (another writer's, a damaged one):
 * skipped, counted, and logged at most once per interval. */
static void load_malformed(struct ksess *s, const rd_kafka_message_t *m, const char *why)
{
	time_t now = time(NULL);

	s->malformed++;
	api(s)->counter_add(s->c_malformed, 1);
	if (now - s->malformed_logged >= MALFORMED_LOG_INTERVAL_S) {
		api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN,
			    "sessions topic '%s' partition %d offset %lld: not a session record (%s), skipped; "
			    "%lu so far", rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, why,
			    s->malformed);
		s->malformed_logged = now;
	}
}

static void load_record(struct ksess *s, const rd_kafka_message_t *m)
{
	char pid[64];
	json_t *v;

	if (!m->key || !m->key_len || m->key_len >= sizeof(pid) || memchr(m->key, '\0', m->key_len)) {
		load_malformed(s, m, m->key && m->key_len ? "its key is not a pid" : "no key");
		return;
	}
	memcpy(pid, m->key, m->key_len);
	pid[m->key_len] = '\0';
	if (!m->payload) {
		json_object_del(s->table, pid);
		return;
	}
	v = json_loadb(m->payload, m->len, 0, NULL);
	if (!json_is_object(v) || !json_is_string(json_object_get(v, "namespace")) ||
	    !json_is_integer(json_object_get(v, "expires"))) {
		json_decref(v);
		load_malformed(s, m, "not a JSON object with \"namespace\" and \"expires\"");
		return;
	}
	if (json_object_size(s->table) >= MAX_TABLE && !json_object_get(s->table, pid)) {
		json_decref(v);
		if (!s->full_logged++)
			api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN, "more than %d recovery sessions in the sessions "
				    "topics: the newer are not kept", MAX_TABLE);
		return;
	}
	/* Where it came from: its tombstone goes there when it expires. */
	json_object_set_new(v, TOPIC_KEY, json_string(rd_kafka_topic_name(m->rkt)));
	json_object_set_new(s->table, pid, v);
	api(s)->counter_add(s->c_loaded, 1);
}

static void drain_loader(void *ud)
{
	struct ksess *s = ud;
	int budget = POLL_BATCH;

	atomic_store(&s->l_posted, 0);
	while (!s->stopped && budget--) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(s->loader, 0);

		if (!m)
			return;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			note_eof(s, rd_kafka_topic_name(m->rkt), m->partition);
		else if (m->err)
			api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN, "sessions consumer: %s", rd_kafka_message_errstr(m));
		else
			load_record(s, m);
		rd_kafka_message_destroy(m);
	}
	if (!s->stopped)
		loader_event(s->loader, s->k);
}

static void loader_event(rd_kafka_t *rk, void *opaque)
{
	struct ksess *s = ((struct kafka *)opaque)->sess;

	(void)rk;
	post_once(s, &s->l_posted, drain_loader);
}

static void loader_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			     void *opaque)
{
	struct ksess *s = ((struct kafka *)opaque)->sess;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		/* From the beginning: the group is this process's alone, nothing was committed. */
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
		rd_kafka_assign(rk, parts);
		s->l_assigned = parts->cnt;
	} else {
		rd_kafka_assign(rk, NULL);
	}
}

/* ---------------------------------------------------------------- the replayer */

static void replayer_event(rd_kafka_t *rk, void *opaque);
static void replay_next(struct ksess *s);

static void replay_free(struct replay *r)
{
	for (size_t i = 0; i < r->n_msgs; i++)
		rd_kafka_message_destroy(r->msgs[i]);
	free(r->msgs);
	if (r->parts)
		rd_kafka_topic_partition_list_destroy(r->parts);
	free(r->end);
	free(r->done);
	free(r->nsp);
	free(r->sid);
	free(r);
}

struct replay_ctx {
	struct ksess *s;
	struct replay *r;
};

static long replay_emit(void *ud, const struct sg_bridge_emit *em)
{
	struct replay_ctx *c = ud;
	long n = api(c->s)->replay_emit(c->s->k->host, c->r->sid, em);

	if (n > 0)
		api(c->s)->counter_add(c->s->c_replayed, 1);
	return n < 0 && n != -1 ? 0 : n;
}

/* Delivers what was fetched, merged across partitions by timestamp (each partition in its
 * order), through the binding's mapping to the socket alone; then lets its live ones go. */
static void replay_finish(struct ksess *s)
{
	struct replay *r = s->head;
	struct replay_ctx ctx = {s, r};
	size_t n_parts = (size_t)r->parts->cnt, *next = calloc(n_parts ? n_parts : 1, sizeof(size_t));
	size_t *idx_of = calloc(r->n_msgs ? r->n_msgs : 1, sizeof(size_t));

	s->head = r->next;
	if (!s->head)
		s->tail = &s->head;
	s->running = 0;
	if (r->assigned)
		rd_kafka_assign(s->replayer, NULL);
	if (next && idx_of) {
		/* Each record's partition index (a record the consumption here has handed over
		 * meanwhile is left out: it went live), then a k-way merge over the partitions. */
		for (size_t i = 0; i < r->n_msgs; i++) {
			idx_of[i] = n_parts;
			for (size_t p = 0; p < n_parts; p++)
				if (r->parts->elems[p].partition == r->msgs[i]->partition &&
				    !strcmp(r->parts->elems[p].topic, rd_kafka_topic_name(r->msgs[i]->rkt)) &&
				    r->msgs[i]->offset < r->end[p])
					idx_of[i] = p;
		}
		for (;;) {
			size_t best = r->n_msgs;
			int64_t best_ts = 0;

			for (size_t p = 0; p < n_parts; p++) {
				size_t i = next[p];

				while (i < r->n_msgs && idx_of[i] != p)
					i++;
				next[p] = i;
				if (i < r->n_msgs) {
					int64_t ts = rd_kafka_message_timestamp(r->msgs[i], NULL);

					if (best == r->n_msgs || ts < best_ts || (ts == best_ts && i < best)) {
						best = i;
						best_ts = ts;
					}
				}
			}
			if (best == r->n_msgs)
				break;
			{
				const rd_kafka_message_t *m = r->msgs[best];
				struct sgm_header h[SGM_MAX_HEADERS];
				struct sgm_msg msg;
				const struct sgm_sub *subs;
				struct sgm_binding *b = s->k->bindings[r->binding];
				size_t n = sgm_subs(b, &subs);
				char pos[300], why[256];

				kafka_msg_of(m, &msg, h);
				snprintf(pos, sizeof(pos), "%s/%d/%lld", msg.topic, (int)m->partition, (long long)m->offset);
				msg.position = pos;
				msg.replay = replay_emit;
				msg.replay_ud = &ctx;
				for (size_t j = 0; j < n; j++)
					if (!subs[j].control && sgm_sub_match(&subs[j], msg.topic, NULL, 0))
						sgm_deliver(b, &subs[j], &msg, api(s), s->k->host, why, sizeof(why));
			}
			next[idx_of[best]] = best + 1;
		}
	} else {
		api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN, "out of memory: the replay to %s is cut", r->sid);
		api(s)->counter_add(s->c_cut, 1);
	}
	free(next);
	free(idx_of);
	api(s)->log(s->k->host, SG_BRIDGE_LOG_DEBUG, "replay to %s done: %zu record(s) read", r->sid, r->n_msgs);
	api(s)->replay_done(s->k->host, r->nsp, r->sid);
	replay_free(r);
}

static int all_done(const struct replay *r)
{
	for (int i = 0; i < r->parts->cnt; i++)
		if (!r->done[i])
			return 0;
	return 1;
}

static int part_of(const struct replay *r, const rd_kafka_message_t *m)
{
	for (int i = 0; i < r->parts->cnt; i++)
		if (r->parts->elems[i].partition == m->partition &&
		    !strcmp(r->parts->elems[i].topic, rd_kafka_topic_name(m->rkt)))
			return i;
	return -1;
}

/* Can the replayer fetch now? The main consumer's view of the cluster (its statistics, every
 * second, and the all-brokers-down error) stands for the replayer's, which talks to the same
 * brokers. */
static int brokers_up(const struct ksess *s)
{
	return s->k->consumer ? s->k->consumer_up : s->k->producer_up;
}

/* Gives the replay's partitions to the replayer. Only with the brokers up: librdkafka 2.0.2
 * (Debian 12) leaks the partitions' objects of an assignment made while every broker is down
 * and taken back before anything was fetched (fixed in librdkafka 2.1.0, edenhill/librdkafka
 * #4187), which is what a replay cut during an outage would do. Returns 0, or -1 (counted as a
 * cut, every partition marked done). */
static int replay_assign(struct ksess *s, struct replay *r)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(r->parts);
	rd_kafka_resp_err_t err;

	for (int i = 0; i < l->cnt; i++)
		if (r->done[i])
			l->elems[i].offset = RD_KAFKA_OFFSET_END; /* nothing to read there */
	err = rd_kafka_assign(s->replayer, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (err) {
		api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN, "replay to %s: %s", r->sid, rd_kafka_err2str(err));
		api(s)->counter_add(s->c_cut, 1);
		for (int i = 0; i < r->parts->cnt; i++)
			r->done[i] = 1;
		return -1;
	}
	r->assigned = 1;
	return 0;
}

static void drain_replayer(void *ud)
{
	struct ksess *s = ud;
	struct replay *r = s->head;
	int budget = POLL_BATCH;

	atomic_store(&s->r_posted, 0);
	/* Waiting for the brokers (replay_next): a failed assign marks every partition done, and
	 * the replay ends below like one that has read everything. */
	if (!s->stopped && s->running && !r->assigned && brokers_up(s))
		replay_assign(s, r);
	while (!s->stopped && s->running && r->assigned && budget--) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(s->replayer, 0);
		int i;

		if (!m)
			break;
		i = part_of(r, m);
		if (i < 0 || r->done[i]) {
			rd_kafka_message_destroy(m);
		} else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			r->done[i] = 1; /* the partition ends before the live position: nothing more */
			rd_kafka_message_destroy(m);
		} else if (m->err) {
			api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN, "replay consumer: %s", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
		} else if (m->offset < r->parts->elems[i].offset) {
			rd_kafka_message_destroy(m); /* from an earlier assignment: not this replay's */
		} else if (m->offset >= r->end[i]) {
			r->done[i] = 1;
			rd_kafka_message_destroy(m);
		} else {
			r->parts->elems[i].offset = m->offset + 1; /* the next one expected */
			if (r->n_msgs == r->cap) {
				size_t cap = r->cap ? r->cap * 2 : 64;
				rd_kafka_message_t **v = realloc(r->msgs, cap * sizeof(*v));

				if (!v) {
					rd_kafka_message_destroy(m);
					r->deadline = 0; /* end it with what it has */
					break;
				}
				r->msgs = v;
				r->cap = cap;
			}
			r->msgs[r->n_msgs++] = m;
			r->bytes += m->len + m->key_len;
			if (m->offset + 1 >= r->end[i])
				r->done[i] = 1;
			if (r->n_msgs >= REPLAY_MAX_RECORDS || r->bytes >= REPLAY_MAX_BYTES)
				r->deadline = 0;
		}
	}
	if (!s->running)
		return;
	if (all_done(r)) {
		replay_finish(s);
		replay_next(s);
	} else if (r->deadline <= sg_mono_ms()) {
		api(s)->log(s->k->host, SG_BRIDGE_LOG_WARN, "the replay to %s ends before its end (%s): %zu record(s) "
			    "fetched", r->sid,
			    !r->assigned ? "the Kafka brokers stayed down" : r->deadline ? "it took too long"
										  : "too much to replay",
			    r->n_msgs);
		api(s)->counter_add(s->c_cut, 1);
		replay_finish(s);
		replay_next(s);
	} else if (budget < 0) {
		replayer_event(s->replayer, s->k);
	}
}

static void replayer_event(rd_kafka_t *rk, void *opaque)
{
	struct ksess *s = ((struct kafka *)opaque)->sess;

	(void)rk;
	post_once(s, &s->r_posted, drain_replayer);
}

static void tick(void *ud)
{
	struct ksess *s = ud;

	if (s->running)
		drain_replayer(s);
}

static void replay_next(struct ksess *s)
{
	struct replay *r;

	while (!s->running && !s->stopped && (r = s->head)) {
		if (all_done(r)) {
			replay_finish(s);
			continue;
		}
		/* With the brokers down it waits for them (drain_replayer, every tick) within the
		 * same deadline. */
		if (brokers_up(s) && replay_assign(s, r))
			continue;
		r->deadline = sg_mono_ms() + REPLAY_TIMEOUT_MS;
		s->running = 1;
		replayer_event(s->replayer, s->k);
	}
}

/* Parses "<tag>.<seq>~topic/partition/offset" (the last packet the client got). */
static int named_record(const char *offset, char *topic, size_t tlen, int32_t *partition, int64_t *off)
{
	const char *p = offset ? strchr(offset, '~') : NULL, *a, *b;
	char *end;
	long long v;
	long pt;

	if (!p || !(b = strrchr(++p, '/')) || b == p)
		return -1;
	for (a = b - 1; a > p && *a != '/'; a--)
		;
	if (a == p || (size_t)(a - p) >= tlen)
		return -1;
	memcpy(topic, p, (size_t)(a - p));
	topic[a - p] = '\0';
	pt = strtol(a + 1, &end, 10);
	if (end != b || pt < 0 || pt > INT32_MAX)
		return -1;
	v = strtoll(b + 1, &end, 10);
	if (*end || end == b + 1 || v < 0)
		return -1;
	*partition = (int32_t)pt;
	*off = v;
	return 0;
}

int ksess_replay(void *inst, int binding, const char *sid, const json_t *session, const char *offset)
{
	struct ksess *s = of(inst);
	const json_t *positions = json_object_get(session, "positions"), *v;
	char ntopic[256] = "";
	int32_t npart = -1;
	int64_t noff = -1;
	struct replay *r;
	const char *key;
	size_t n;

	if (!s || s->stopped || !s->replayer || !topic_of(s, binding) || !json_is_object(positions))
		return -1;
	if (named_record(offset, ntopic, sizeof(ntopic), &npart, &noff))
		ntopic[0] = '\0';
	n = json_object_size(positions);
	if (!(r = calloc(1, sizeof(*r))) || !(r->parts = rd_kafka_topic_partition_list_new((int)(n ? n : 1))) ||
	    !(r->end = calloc(n ? n : 1, sizeof(*r->end))) || !(r->done = calloc(n ? n : 1, sizeof(*r->done))) ||
	    !json_is_string(json_object_get(session, "namespace")) ||
	    !(r->nsp = strdup(json_string_value(json_object_get(session, "namespace")))) ||
	    !(r->sid = strdup(sid))) {
		if (r)
			replay_free(r);
		return -1;
	}
	r->binding = binding;
	json_object_foreach((json_t *)positions, key, v) {
		char topic[256];
		const char *slash = strrchr(key, '/');
		char *end;
		long pt;
		int64_t from = json_integer_value(v), live;
		int i;

		if (!slash || (size_t)(slash - key) >= sizeof(topic) || !json_is_integer(v))
			continue;
		memcpy(topic, key, (size_t)(slash - key));
		topic[slash - key] = '\0';
		pt = strtol(slash + 1, &end, 10);
		if (*end || pt < 0 || pt > INT32_MAX || !consumes(s, binding, topic))
			continue;
		/* In the partition of the last record the client got: right after it. */
		if (ntopic[0] && !strcmp(ntopic, topic) && npart == (int32_t)pt)
			from = noff + 1;
		/* Not known yet (this replica has just started on it): read to the partition's end,
		 * and what the consumption here hands over meanwhile bounds it at the finish. */
		live = live_from(s, topic, (int32_t)pt);
		i = r->parts->cnt;
		rd_kafka_topic_partition_list_add(r->parts, topic, (int32_t)pt)->offset = from;
		r->end[i] = live < 0 ? UNKNOWN_END : live;
		r->done[i] = live >= 0 && from >= live;
	}
	api(s)->counter_add(s->c_replays, 1);
	{
		int todo = 0;

		for (int i = 0; i < r->parts->cnt; i++)
			todo += !r->done[i];
		api(s)->log(s->k->host, SG_BRIDGE_LOG_DEBUG, "replay to %s: %d partition(s), %d to read", sid,
			    r->parts->cnt, todo);
	}
	*s->tail = r;
	s->tail = &r->next;
	replay_next(s);
	return 0;
}

/* ---------------------------------------------------------------- start and stop */

static rd_kafka_t *consumer(struct ksess *s, const char *group, int eof, char *err, size_t len)
{
	rd_kafka_conf_t *conf = s->k->consumer_conf(s->k, err, len);
	char e[256];

	if (!conf)
		return NULL;
	/* Not the main consumer: its statistics would read as the main one's. */
	if (rd_kafka_conf_set(conf, "statistics.interval.ms", "0", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "group.id", group, e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "allow.auto.create.topics", "true", e, sizeof(e)) ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", eof ? "true" : "false", e, sizeof(e))) {
		snprintf(err, len, "sessions consumer: %s", e);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_stats_cb(conf, NULL);
	if (eof == 1)
		rd_kafka_conf_set_rebalance_cb(conf, loader_rebalance);
	return kafka_new_client(RD_KAFKA_CONSUMER, conf, "sessions consumer", err, len);
}

int ksess_start(struct ksess *s, char *err, size_t len)
{
	rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(2);
	char group[200];
	rd_kafka_resp_err_t rerr;

	for (size_t i = 0; i < s->n_topic_of; i++)
		if (s->topic_of[i] && !rd_kafka_topic_partition_list_find(subs, s->topic_of[i], RD_KAFKA_PARTITION_UA))
			rd_kafka_topic_partition_list_add(subs, s->topic_of[i], RD_KAFKA_PARTITION_UA);
	snprintf(group, sizeof(group), "siogate-sessions-%s", api(s)->instance_id(s->k->host));
	if (!(s->loader = consumer(s, group, 1, err, len))) {
		rd_kafka_topic_partition_list_destroy(subs);
		return -1;
	}
	rd_kafka_poll_set_consumer(s->loader);
	s->lq = rd_kafka_queue_get_consumer(s->loader);
	rd_kafka_queue_cb_event_enable(s->lq, loader_event, s->k);
	rerr = rd_kafka_subscribe(s->loader, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (rerr) {
		snprintf(err, len, "sessions consumer: subscribe: %s", rd_kafka_err2str(rerr));
		return -1;
	}
	snprintf(group, sizeof(group), "siogate-replay-%s", api(s)->instance_id(s->k->host));
	if (!(s->replayer = consumer(s, group, 2, err, len)))
		return -1;
	rd_kafka_poll_set_consumer(s->replayer);
	s->rq = rd_kafka_queue_get_consumer(s->replayer);
	rd_kafka_queue_cb_event_enable(s->rq, replayer_event, s->k);
	if (api(s)->every(s->k->host, SWEEP_MS, sweep, s) || api(s)->every(s->k->host, TICK_MS, tick, s)) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	api(s)->log(s->k->host, SG_BRIDGE_LOG_INFO, "loading recovery sessions from %d topic(s)", (int)s->n_topic_of);
	return 0;
}

void ksess_stop(struct ksess *s)
{
	/* Each socket waiting gets what was fetched for it; the rest is for a later replica. */
	s->stopped = 1;
	while (s->head) {
		s->running = 0;
		replay_finish(s);
	}
	if (s->lq)
		rd_kafka_queue_cb_event_enable(s->lq, NULL, NULL);
	if (s->rq)
		rd_kafka_queue_cb_event_enable(s->rq, NULL, NULL);
}

void ksess_free(struct ksess *s)
{
	if (!s)
		return;
	while (s->head) {
		struct replay *r = s->head;

		s->head = r->next;
		replay_free(r);
	}
	if (s->lq)
		rd_kafka_queue_destroy(s->lq);
	if (s->rq)
		rd_kafka_queue_destroy(s->rq);
	/* A group of its own, nothing committed: no close needed. */
	if (s->loader)
		rd_kafka_destroy_flags(s->loader, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	if (s->replayer)
		rd_kafka_destroy_flags(s->replayer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	for (size_t i = 0; i < s->n_topic_of; i++)
		free(s->topic_of[i]);
	free(s->topic_of);
	json_decref(s->table);
	json_decref(s->pos);
	json_decref(s->eof);
	free(s);
}
