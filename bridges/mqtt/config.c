/* config.c - validation of the MQTT bridge's broker and bridge objects. The MQTT-only keys
 * (qos, retain, retained_on_join, envelope) and MQTT topic syntax are checked here; the rest
 * goes to the shared mapping on a copy without them (see prepare()). Pure: no I/O. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "path.key", or "key" at the top (the host prefixes the object's own path). */
static const char *at(char *buf, size_t len, const char *path, const char *key)
{
	snprintf(buf, len, "%s%s%s", path, path[0] ? "." : "", key);
	return buf;
}

/* An integer: a JSON integer, or a string of decimal digits (so that "${PORT}" works). */
static int get_int(const json_t *o, const char *key, const char *path, long long min, long long max,
		   long long def, long long *out, char *err, size_t len)
{
	const json_t *v = json_object_get(o, key);
	char p[96];

	*out = def;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if (json_is_string(v) && json_string_length(v) && json_string_length(v) < 19 &&
		   strspn(json_string_value(v), "0123456789") == json_string_length(v)) {
		*out = strtoll(json_string_value(v), NULL, 10);
	} else {
		return sgm_errf(err, len, "%s: expected an integer from %lld to %lld", at(p, sizeof(p), path, key), min, max);
	}
	if (*out < min || *out > max)
		return sgm_errf(err, len, "%s: expected an integer from %lld to %lld", at(p, sizeof(p), path, key), min, max);
	return 0;
}

/* A boolean: true/false, or the strings "true"/"false". */
static int get_bool(const json_t *o, const char *key, const char *path, int def, int *out, char *err, size_t len)
{
	const json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);
	char p[96];

	*out = def;
	if (!v)
		return 0;
	if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (s && (!strcmp(s, "true") || !strcmp(s, "false")))
		*out = s[0] == 't';
	else
		return sgm_errf(err, len, "%s: expected a boolean", at(p, sizeof(p), path, key));
	return 0;
}

/* A non-empty string, or absent (NULL). */
static int get_str(const json_t *o, const char *key, const char *path, const char **out, char *err, size_t len)
{
	const json_t *v = json_object_get(o, key);
	char p[96];

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || !json_string_length(v) || strlen(json_string_value(v)) != json_string_length(v))
		return sgm_errf(err, len, "%s: expected a non-empty string", at(p, sizeof(p), path, key));
	*out = json_string_value(v);
	return 0;
}

/* Like get_str, but "" counts as absent: "${MQTT_USERNAME:-}" turns a setting off. */
static int get_opt_str(const json_t *o, const char *key, const char *path, const char **out, char *err, size_t len)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_string(v) && !json_string_length(v)) {
		*out = NULL;
		return 0;
	}
	return get_str(o, key, path, out, err, len);
}

static int check_keys(const json_t *o, const char *path, const char *const *keys, char *err, size_t len)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		const char *best;
		int ok = 0;

		for (const char *const *kk = keys; *kk && !ok; kk++)
			ok = !strcmp(k, *kk);
		if (ok)
			continue;
		best = sgm_suggest(k, keys, NULL); /* the shared did-you-mean (mapping.c) */
		if (best)
			return sgm_errf(err, len, "%s: unknown key '%s' (did you mean '%s'?)", path, k, best);
		return sgm_errf(err, len, "%s: unknown key '%s'", path, k);
	}
	return 0;
}

/* ---------------------------------------------------------------- the broker object */

static const char *const broker_keys[] = {"type", "host", "port", "protocol", "client_id", "username", "password",
					  "keepalive", "tls", "reconnect_min_ms", "reconnect_max_ms",
					  "delivery_timeout_ms", "max_pending", "max_queue", "reply_topic", "max_requests",
					  "max_requests_per_socket", NULL};
static const char *const tls_keys[] = {"ca_file", "ca_path", "cert_file", "key_file", "insecure", "version", NULL};

void mq_conf_clear(struct mq_conf *c)
{
	free(c->host);
	free(c->client_id);
	free(c->username);
	free(c->password);
	free(c->ca_file);
	free(c->ca_path);
	free(c->cert_file);
	free(c->key_file);
	free(c->tls_version);
	free(c->reply_topic);
	memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *s, int *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = 1;
	return d;
}

int mq_conf_load(const json_t *b, struct mq_conf *c, char *err, size_t len)
{
	const char *host, *client_id, *user, *pass, *reply_topic, *ca_file = NULL, *ca_path = NULL, *cert = NULL, *key = NULL,
				       *version = NULL;
	const json_t *proto = json_object_get(b, "protocol"), *tls = json_object_get(b, "tls");
	long long port, keepalive;
	int oom = 0;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(b))
		return sgm_errf(err, len, ": expected an object");
	if (check_keys(b, "", broker_keys, err, len) ||
	    get_str(b, "host", "", &host, err, len) ||
	    get_opt_str(b, "client_id", "", &client_id, err, len) ||
	    get_opt_str(b, "username", "", &user, err, len) ||
	    get_opt_str(b, "password", "", &pass, err, len) ||
	    get_int(b, "keepalive", "", 5, 65535, 30, &keepalive, err, len) ||
	    get_int(b, "reconnect_min_ms", "", 10, 3600000, 250, &c->reconnect_min_ms, err, len) ||
	    get_int(b, "reconnect_max_ms", "", 10, 3600000, 10000, &c->reconnect_max_ms, err, len) ||
	    get_int(b, "delivery_timeout_ms", "", 1, 3600000, 30000, &c->delivery_timeout_ms, err, len) ||
	    get_int(b, "max_pending", "", 1, 60000, 10000, &c->max_pending, err, len) ||
	    get_int(b, "max_queue", "", 1, 10000000, 10000, &c->max_queue, err, len) ||
	    get_int(b, "max_requests", "", 1, 1000000, SGM_MAX_REQUESTS_DEFAULT, &c->max_requests, err, len) ||
	    get_int(b, "max_requests_per_socket", "", 1, 100000, SGM_MAX_REQUESTS_PER_SOCKET_DEFAULT,
		    &c->max_requests_per_socket, err, len) ||
	    get_opt_str(b, "reply_topic", "", &reply_topic, err, len))
		goto fail;
	/* One reply topic per replica by default: MQTT has no consumer groups to share one. */
	if (!reply_topic)
		reply_topic = "siogate/replies/{instance}";
	if (sgm_reply_topic_check(reply_topic, mq_name_check, err, len))
		goto fail;
	/* A small reconnect_max_ms alone lowers the first wait too. */
	if (c->reconnect_max_ms < c->reconnect_min_ms && !json_object_get(b, "reconnect_min_ms"))
		c->reconnect_min_ms = c->reconnect_max_ms;
	if (c->reconnect_max_ms < c->reconnect_min_ms) {
		sgm_errf(err, len, "reconnect_max_ms: must not be less than reconnect_min_ms (%lld)", c->reconnect_min_ms);
		goto fail;
	}
	if (pass && !user) {
		sgm_errf(err, len, "password: needs a username");
		goto fail;
	}
	c->v5 = 1;
	if (proto) {
		const char *s = json_string_value(proto);
		if ((s && !strcmp(s, "5")) || (json_is_integer(proto) && json_integer_value(proto) == 5)) {
			c->v5 = 1;
		} else if (s && !strcmp(s, "3.1.1")) {
			c->v5 = 0;
		} else {
			sgm_errf(err, len, "protocol: expected one of \"5\", \"3.1.1\"");
			goto fail;
		}
	}
	if (tls) {
		if (json_is_object(tls)) {
			c->tls = 1;
			if (check_keys(tls, "tls", tls_keys, err, len) ||
			    get_opt_str(tls, "ca_file", "tls", &ca_file, err, len) ||
			    get_opt_str(tls, "ca_path", "tls", &ca_path, err, len) ||
			    get_opt_str(tls, "cert_file", "tls", &cert, err, len) ||
			    get_opt_str(tls, "key_file", "tls", &key, err, len) ||
			    get_opt_str(tls, "version", "tls", &version, err, len) ||
			    get_bool(tls, "insecure", "tls", 0, &c->tls_insecure, err, len))
				goto fail;
			if (!cert != !key) {
				sgm_errf(err, len, "tls.%s: cert_file and key_file go together", cert ? "key_file" : "cert_file");
				goto fail;
			}
			if (cert && !ca_file && !ca_path) {
				sgm_errf(err, len, "tls.cert_file: needs ca_file or ca_path (libmosquitto cannot combine a "
				     "client certificate with the system's CAs)");
				goto fail;
			}
			if (version && strcmp(version, "tlsv1.2") && strcmp(version, "tlsv1.3")) {
				sgm_errf(err, len, "tls.version: expected one of tlsv1.2, tlsv1.3");
				goto fail;
			}
		} else if (get_bool(b, "tls", "", 0, &c->tls, err, len)) {
			sgm_errf(err, len, "tls: expected a boolean or an object (ca_file, ca_path, cert_file, key_file, "
			     "insecure, version)");
			goto fail;
		}
	}
	if (get_int(b, "port", "", 1, 65535, c->tls ? 8883 : 1883, &port, err, len))
		goto fail;
	c->port = (int)port;
	c->keepalive = (int)keepalive;
	c->host = dup_or_null(host ? host : "localhost", &oom);
	c->client_id = dup_or_null(client_id, &oom);
	c->username = dup_or_null(user, &oom);
	c->password = dup_or_null(pass, &oom);
	c->ca_file = dup_or_null(ca_file, &oom);
	c->ca_path = dup_or_null(ca_path, &oom);
	c->cert_file = dup_or_null(cert, &oom);
	c->key_file = dup_or_null(key, &oom);
	c->tls_version = dup_or_null(version, &oom);
	c->reply_topic = dup_or_null(reply_topic, &oom);
	if (oom) {
		sgm_errf(err, len, ": out of memory");
		goto fail;
	}
	return 0;
fail:
	mq_conf_clear(c);
	return -1;
}

int mq_check_broker(const json_t *broker, char *err, size_t len)
{
	struct mq_conf c;

	if (mq_conf_load(broker, &c, err, len))
		return -1;
	mq_conf_clear(&c);
	return 0;
}

/* ---------------------------------------------------------------- the bridge object */

static const struct sgm_flavor flavor = {"mqtt", NULL, NULL, mq_name_check};

void mq_binding_clear(struct mq_binding *b)
{
	sgm_binding_free(b->m);
	for (size_t i = 0; i < b->n_down; i++)
		mq_topic_clear(&b->down[i].t);
	free(b->down);
	for (size_t i = 0; i < b->n_up; i++) {
		free(b->up[i].topic);
		free(b->up[i].room_field);
	}
	free(b->up);
	free(b->control);
	memset(b, 0, sizeof(*b));
}

/* Checks the MQTT parts of a bridge object and returns the copy the shared mapping gets:
 * the MQTT-only keys removed, and each to_clients topic replaced by a stand-in the mapping
 * accepts ("{room}" or "_": MQTT filters and {event} levels are matched here, not there).
 * With b, also fills in the MQTT side of the binding. NULL with err on an error. */
static json_t *prepare(const json_t *bridge, struct mq_binding *b, char *err, size_t len)
{
	json_t *copy = json_deep_copy(bridge), *down, *up;
	const char *control, *dlq;
	char p[64], why[SG_BRIDGE_ERR_MAX];

	if (!copy) {
		sgm_errf(err, len, ": out of memory");
		return NULL;
	}
	if (!json_is_object(copy))
		return copy; /* the mapping says what is wrong */
	if (get_bool(copy, "envelope", "", 0, b ? &b->envelope : &(int){0}, err, len))
		goto fail;
	json_object_del(copy, "envelope");
	down = json_object_get(copy, "to_clients");
	up = json_object_get(copy, "from_clients");
	if (b && json_is_array(down) && json_array_size(down)) {
		b->down = calloc(json_array_size(down), sizeof(*b->down));
		if (!b->down)
			goto oom;
	}
	if (b && json_is_array(up) && json_array_size(up)) {
		b->up = calloc(json_array_size(up), sizeof(*b->up));
		if (!b->up)
			goto oom;
	}
	for (size_t i = 0; json_is_array(down) && i < json_array_size(down); i++) {
		json_t *e = json_array_get(down, i);
		const char *topic = json_string_value(json_object_get(e, "topic")), *rooms;
		struct mq_topic t;
		long long qos;
		int rj;

		if (!json_is_object(e))
			continue;
		snprintf(p, sizeof(p), "to_clients[%zu]", i);
		if (get_int(e, "qos", p, 0, 2, 1, &qos, err, len) || get_bool(e, "retained_on_join", p, 0, &rj, err, len))
			goto fail;
		json_object_del(e, "qos");
		json_object_del(e, "retained_on_join");
		rooms = json_string_value(json_object_get(e, "rooms"));
		if (rooms && !strcmp(rooms, "key")) {
			sgm_errf(err, len, "%s.rooms: MQTT messages have no key (use header, topic or all)", p);
			goto fail;
		}
		if (!topic || !topic[0])
			continue;
		if (mq_topic_parse(topic, &t, why, sizeof(why))) {
			sgm_errf(err, len, "%s.topic: %s", p, why);
			goto fail;
		}
		if (rj && t.room_level < 0) {
			mq_topic_clear(&t);
			sgm_errf(err, len, "%s.retained_on_join: needs a topic template with {room} (the room a socket joins "
			     "names the topic)", p);
			goto fail;
		}
		json_object_set_new(e, "topic", json_string(t.room_level >= 0 ? "{room}" : "_"));
		if (b) {
			b->down[i].t = t;
			b->down[i].qos = (int)qos;
			b->down[i].retained_on_join = rj;
			b->any_retained |= rj;
			b->n_down = i + 1;
		} else {
			mq_topic_clear(&t);
		}
	}
	for (size_t i = 0; json_is_array(up) && i < json_array_size(up); i++) {
		json_t *e = json_array_get(up, i);
		const char *topic = json_string_value(json_object_get(e, "topic"));
		const char *rf = json_string_value(json_object_get(e, "room_field"));
		long long qos;
		int retain;

		if (!json_is_object(e))
			continue;
		snprintf(p, sizeof(p), "from_clients[%zu]", i);
		if (get_int(e, "qos", p, 0, 2, 1, &qos, err, len) || get_bool(e, "retain", p, 0, &retain, err, len))
			goto fail;
		json_object_del(e, "qos");
		json_object_del(e, "retain");
		if (json_object_get(e, "key")) {
			sgm_errf(err, len, "%s.key: MQTT messages have no key (use headers, sent as user properties)", p);
			goto fail;
		}
		if (topic && topic[0] && mq_up_template_check(topic, why, sizeof(why))) {
			sgm_errf(err, len, "%s.topic: %s", p, why);
			goto fail;
		}
		if (b) {
			b->up[i].qos = (int)qos;
			b->up[i].retain = retain;
			b->up[i].topic = strdup(topic ? topic : "");
			b->up[i].room_field = strdup(rf ? rf : "room");
			b->n_up = i + 1;
			if (!b->up[i].topic || !b->up[i].room_field)
				goto oom;
		}
	}
	control = json_string_value(json_object_get(copy, "control_topic"));
	dlq = json_string_value(json_object_get(copy, "dead_letter_topic"));
	if (control && control[0] && mq_filter_check(control, why, sizeof(why))) {
		sgm_errf(err, len, "control_topic: %s", why);
		goto fail;
	}
	if (dlq && dlq[0] && mq_name_check(dlq, why, sizeof(why))) {
		sgm_errf(err, len, "dead_letter_topic: %s", why);
		goto fail;
	}
	if (b && control && !(b->control = strdup(control)))
		goto oom;
	return copy;
oom:
	sgm_errf(err, len, ": out of memory");
fail:
	json_decref(copy);
	return NULL;
}

int mq_check_binding(const json_t *bridge, char *err, size_t len)
{
	json_t *copy = prepare(bridge, NULL, err, len);
	int rc;

	if (!copy)
		return -1;
	rc = sgm_check(copy, &flavor, err, len);
	json_decref(copy);
	return rc;
}

int mq_binding_init(struct mq_binding *b, const char *nsp, int is_pattern, const json_t *bridge,
		    char *err, size_t len)
{
	json_t *copy;
	const struct sgm_sub *subs;
	size_t n;

	memset(b, 0, sizeof(*b));
	copy = prepare(bridge, b, err, len);
	if (!copy) {
		mq_binding_clear(b);
		return -1;
	}
	b->m = sgm_binding_new(nsp, is_pattern, copy, &flavor, err, len);
	json_decref(copy);
	if (!b->m) {
		mq_binding_clear(b);
		return -1;
	}
	n = sgm_subs(b->m, &subs);
	for (size_t i = 0; i < n; i++)
		if (subs[i].control)
			b->control_sub = &subs[i];
	return 0;
}
