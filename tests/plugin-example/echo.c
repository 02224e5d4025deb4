/* echo.c - an example third-party bridge plugin, built out of the tree against the installed
 * siogate/bridge.h (pkg-config siogate-bridge): it acks each client event with what it got
 * and how many it has answered, and counts them on /metrics. Plain C99; it includes nothing of siogate's but that header.
 *
 *   cc -std=c99 -fPIC -shared -fvisibility=hidden $(pkg-config --cflags siogate-bridge) \
 *      -o echo.so echo.c $(pkg-config --libs siogate-bridge)
 *
 * Config: a namespace's "bridge": {"type": "echo", "tag": "optional string put in each ack"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <siogate/bridge.h>

struct echo {
	const struct sg_host_api *api;
	struct sg_host *host;
	struct sg_bridge_counter *events; /* siogate_bridge_echo_events_total; host-owned */
	char **tags;                      /* per binding: its "tag", or NULL */
	size_t n_bindings;
	unsigned long count;              /* events answered by this instance */
};

/* The bridge object: "type" (checked by the host) and an optional string "tag". */
static int check_binding(const json_t *bridge, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)bridge, key, val) {
		if (!strcmp(key, "type"))
			continue;
		if (strcmp(key, "tag")) {
			snprintf(err, errlen, "%s: unknown key (an echo bridge takes \"tag\")", key);
			return -1;
		}
		if (!json_is_string(val)) {
			snprintf(err, errlen, "tag: expected a string");
			return -1;
		}
	}
	return 0;
}

static void *init(const struct sg_host_api *api, struct sg_host *host, const char *broker_name,
		  const json_t *broker, char *err, size_t errlen)
{
	struct echo *e = calloc(1, sizeof(*e));

	(void)broker_name;
	(void)broker;
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->api = api;
	e->host = host;
	/* ABI 1.2: the descriptor claims this header's minor, so the host has counter_handle. */
	e->events = api->counter_handle(host, "echo_events", NULL);
	return e;
}

static int echo_bind(void *inst, const char *nsp, int is_pattern, const json_t *bridge, char *err,
		     size_t errlen)
{
	struct echo *e = inst;
	const char *tag = json_string_value(json_object_get(bridge, "tag"));
	char **tags = realloc(e->tags, (e->n_bindings + 1) * sizeof(*tags));

	(void)is_pattern;
	if (!tags) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->tags = tags;
	tags[e->n_bindings] = NULL;
	if (tag) {
		size_t len = strlen(tag) + 1;

		if (!(tags[e->n_bindings] = malloc(len))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(tags[e->n_bindings], tag, len);
	}
	e->api->log(e->host, SG_BRIDGE_LOG_INFO, "echoing events of %s", nsp);
	return (int)e->n_bindings++;
}

static int start(void *inst, char *err, size_t errlen)
{
	struct echo *e = inst;

	(void)err;
	(void)errlen;
	e->api->set_ready(e->host, 1, NULL); /* no broker to wait for */
	return 0;
}

/* Completes the ticket at once with {"ok":true,"event":E,"args":[...],"count":N[,"tag":T]}.
 * Binary arguments arrive as placeholders into ev->att: those are answered with
 * "binary":n_att instead of "args". */
static int publish(void *inst, int binding, const struct sg_bridge_event *ev,
		   struct sg_bridge_ticket *ticket)
{
	struct echo *e = inst;
	json_t *res = json_pack("{sbsssI}", "ok", 1, "event", ev->event, "count", (json_int_t)++e->count);

	if (res && ev->n_att)
		json_object_set_new(res, "binary", json_integer((json_int_t)ev->n_att));
	else if (res)
		json_object_set(res, "args", (json_t *)ev->args); /* a reference, not a copy */
	if (res && e->tags[binding])
		json_object_set_new(res, "tag", json_string(e->tags[binding]));
	if (!res)
		res = json_pack("{sbss}", "ok", 0, "error", "out of memory");
	e->api->counter_add(e->events, 1);
	e->api->complete(e->host, ticket, res); /* exactly once; res is only borrowed */
	json_decref(res);
	return 0;
}

static void stop(void *inst, unsigned drain_ms)
{
	(void)inst; /* nothing in flight: every ticket was completed in publish() */
	(void)drain_ms;
}

static void fini(void *inst)
{
	struct echo *e = inst;

	for (size_t i = 0; i < e->n_bindings; i++)
		free(e->tags[i]);
	free(e->tags);
	free(e);
}

SG_BRIDGE_PLUGIN(.name = "echo", .version = "1.0", .check_binding = check_binding, .init = init,
		 .bind = echo_bind, .start = start, .publish = publish, .stop = stop, .fini = fini);
