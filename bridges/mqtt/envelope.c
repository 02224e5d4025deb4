/* envelope.c - JSON envelopes: routing fields in the payload for MQTT 3.1.1 (see envelope.h). */
#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio_codec.h"
#include "strbuf.h"

#define JSON_FLAGS (JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)

void mq_env_clear(struct mq_env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->hv[i]);
	free(e->value);
	memset(e, 0, sizeof(*e));
}

/* Adds a header; `value` is stolen. */
static int add(struct mq_env *e, const char *name, char *value)
{
	if (!value || e->n == MQ_ENV_MAX_HEADERS) {
		free(value);
		return -1;
	}
	e->hv[e->n] = value;
	e->h[e->n].name = name;
	e->h[e->n].value = value;
	e->h[e->n].len = strlen(value);
	e->n++;
	return 0;
}

static int is_plain_string(const json_t *v)
{
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* "rooms" / "except": an array of names or a comma-separated string, as one header value. */
static int room_list(struct mq_env *e, const json_t *v, const char *member, const char *header, char *why, size_t len)
{
	struct sg_strbuf sb;

	if (!v)
		return 0;
	if (is_plain_string(v))
		return add(e, header, strdup(json_string_value(v))) ? sgm_errf(why, len, "out of memory") : 0;
	if (!json_is_array(v) || json_array_size(v) > SGM_MAX_ROOMS)
		return sgm_errf(why, len, "envelope: \"%s\" must be an array of at most %d room names, or a string",
			    member, SGM_MAX_ROOMS);
	sg_strbuf_init(&sb);
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *r = json_array_get(v, i);
		const char *s = json_string_value(r);

		if (!is_plain_string(r) || !s[0] || strchr(s, ',')) {
			sg_strbuf_free(&sb);
			return sgm_errf(why, len, "envelope: \"%s\"[%zu] must be a non-empty room name without ','", member, i);
		}
		if (i)
			sg_strbuf_appendc(&sb, ',');
		sg_strbuf_append(&sb, s, strlen(s));
	}
	if (sb.oom) {
		sg_strbuf_free(&sb);
		return sgm_errf(why, len, "out of memory");
	}
	if (!sb.data)
		return 0; /* an empty list: as if absent */
	return add(e, header, sg_strbuf_steal(&sb)) ? sgm_errf(why, len, "out of memory") : 0;
}

static int str_field(struct mq_env *e, const json_t *env, const char *member, const char *header, char *why, size_t len)
{
	const json_t *v = json_object_get(env, member);

	if (!v)
		return 0;
	if (!is_plain_string(v) || !json_string_length(v))
		return sgm_errf(why, len, "envelope: \"%s\" must be a non-empty string", member);
	return add(e, header, strdup(json_string_value(v))) ? sgm_errf(why, len, "out of memory") : 0;
}

static char *to_text(const json_t *v, size_t *len)
{
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	if (sg_json_append(&sb, v) || sb.oom) {
		sg_strbuf_free(&sb);
		return NULL;
	}
	*len = sb.len;
	return sg_strbuf_steal(&sb);
}

int mq_env_parse(const void *payload, size_t plen, struct mq_env *e, char *why, size_t whylen)
{
	json_t *env = plen ? json_loadb(payload, plen, JSON_FLAGS, NULL) : NULL;
	const json_t *args, *value, *bin, *vol;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(env)) {
		sgm_errf(why, whylen, "envelope: the payload must be a JSON object");
		goto out;
	}
	args = json_object_get(env, "args");
	value = json_object_get(env, "value");
	bin = json_object_get(env, "binary");
	vol = json_object_get(env, "volatile");
	if (!!args + !!value + !!bin > 1) {
		sgm_errf(why, whylen, "envelope: at most one of \"args\", \"value\" and \"binary\"");
		goto out;
	}
	if (str_field(e, env, "event", SGM_H_EVENT, why, whylen) ||
	    str_field(e, env, "namespace", SGM_H_NAMESPACE, why, whylen) ||
	    str_field(e, env, "sid", SGM_H_SID, why, whylen) ||
	    room_list(e, json_object_get(env, "rooms"), "rooms", SGM_H_ROOMS, why, whylen) ||
	    room_list(e, json_object_get(env, "except"), "except", SGM_H_EXCEPT, why, whylen) ||
	    str_field(e, env, "reply_to", SGM_H_REPLY_TO, why, whylen) ||
	    str_field(e, env, "ack_id", SGM_H_ACK_ID, why, whylen))
		goto out;
	if (json_object_get(env, "ack_timeout_ms")) {
		const json_t *t = json_object_get(env, "ack_timeout_ms");
		char num[24];

		double d = json_number_value(t);

		/* (numbers are decoded as reals here) */
		if (!json_is_number(t) || d != (double)(long long)d) {
			sgm_errf(why, whylen, "envelope: \"ack_timeout_ms\" must be an integer");
			goto out;
		}
		snprintf(num, sizeof(num), "%lld", (long long)d);
		if (add(e, SGM_H_ACK_TIMEOUT, strdup(num)))
			goto oom;
	}
	if (vol) {
		if (!json_is_boolean(vol)) {
			sgm_errf(why, whylen, "envelope: \"volatile\" must be a boolean");
			goto out;
		}
		if (add(e, SGM_H_VOLATILE, strdup(json_is_true(vol) ? "true" : "false")))
			goto oom;
	}
	if (args) {
		if (!json_is_array(args)) {
			sgm_errf(why, whylen, "envelope: \"args\" must be an array");
			goto out;
		}
		if (!(e->value = to_text(args, &e->value_len)) || add(e, SGM_H_ARGS, strdup("spread")))
			goto oom;
	} else if (value) {
		if (!(e->value = to_text(value, &e->value_len)) || add(e, SGM_H_ARGS, strdup("value")))
			goto oom;
	} else if (bin) {
		const char *b64 = json_string_value(bin);
		size_t n = b64 ? json_string_length(bin) : 0;
		long dl;

		if (!b64) {
			sgm_errf(why, whylen, "envelope: \"binary\" must be a base64 string");
			goto out;
		}
		e->value = malloc(n / 4 * 3 + 1);
		if (!e->value)
			goto oom;
		dl = sg_base64_decode(b64, n, (unsigned char *)e->value);
		if (dl < 0) {
			sgm_errf(why, whylen, "envelope: \"binary\" is not valid base64");
			goto out;
		}
		e->value_len = (size_t)dl;
		if (add(e, SGM_H_ARGS, strdup("binary")))
			goto oom;
	}
	rc = 0;
	goto out;
oom:
	sgm_errf(why, whylen, "out of memory");
out:
	json_decref(env);
	if (rc)
		mq_env_clear(e);
	return rc;
}

static void member(struct sg_strbuf *sb, const char *name, const char *value)
{
	sg_strbuf_appendc(sb, sb->len > 1 ? ',' : '{');
	sg_json_append_string(sb, name, strlen(name));
	sg_strbuf_appendc(sb, ':');
	sg_json_append_string(sb, value, strlen(value));
}

char *mq_env_build(const struct sgm_out *o, size_t *len)
{
	static const struct {
		const char *header, *member;
	} known[] = {{SGM_H_NAMESPACE, "namespace"}, {SGM_H_EVENT, "event"}, {SGM_H_SID, "sid"}, {SGM_H_ROOMS, "rooms"},
		     {SGM_H_REPLY_TO, "reply_to"}, {SGM_H_ACK_ID, "ack_id"}};
	struct sg_strbuf sb;
	int extra = 0;

	sg_strbuf_init(&sb);
	sg_strbuf_appendc(&sb, '{');
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		for (size_t i = 0; i < o->n_headers; i++)
			if (!strcmp(o->hname[i], known[k].header)) {
				if (sb.len > 1)
					sg_strbuf_appendc(&sb, ',');
				sg_json_append_string(&sb, known[k].member, strlen(known[k].member));
				sg_strbuf_appendc(&sb, ':');
				sg_json_append_string(&sb, o->hvalue[i], strlen(o->hvalue[i]));
				break;
			}
	for (size_t i = 0; i < o->n_headers; i++) {
		if (!strncmp(o->hname[i], "sio-", 4))
			continue;
		if (!extra) {
			sg_strbuf_append(&sb, sb.len > 1 ? ",\"headers\":{" : "\"headers\":{", sb.len > 1 ? 12 : 11);
			extra = 1;
		} else {
			sg_strbuf_appendc(&sb, ',');
		}
		sg_json_append_string(&sb, o->hname[i], strlen(o->hname[i]));
		sg_strbuf_appendc(&sb, ':');
		sg_json_append_string(&sb, o->hvalue[i], strlen(o->hvalue[i]));
	}
	if (extra)
		sg_strbuf_appendc(&sb, '}');
	if (sb.len > 1)
		sg_strbuf_appendc(&sb, ',');
	sg_strbuf_append(&sb, "\"args\":", 7);
	sg_strbuf_append(&sb, o->value ? o->value : "[]", o->value ? o->value_len : 2);
	sg_strbuf_appendc(&sb, '}');
	if (sb.oom) {
		sg_strbuf_free(&sb);
		return NULL;
	}
	*len = sb.len;
	return sg_strbuf_steal(&sb);
}

char *mq_dead_letter_json(const char *why, const char *topic, const void *payload, size_t plen, size_t *len)
{
	json_t *text = json_stringn(plen ? payload : "", plen);
	struct sg_strbuf sb;

	sg_strbuf_init(&sb);
	member(&sb, "error", why);
	member(&sb, "topic", topic);
	if (text) {
		sg_strbuf_append(&sb, ",\"payload\":", 11);
		sg_json_append_string(&sb, plen ? payload : "", plen);
	} else {
		char *b64 = malloc(sg_base64_encoded_len(plen) + 1);

		if (!b64) {
			sg_strbuf_free(&sb);
			return NULL;
		}
		sg_base64_encode(payload, plen, b64);
		b64[sg_base64_encoded_len(plen)] = '\0';
		member(&sb, "payload_base64", b64);
		free(b64);
	}
	json_decref(text);
	sg_strbuf_appendc(&sb, '}');
	if (sb.oom) {
		sg_strbuf_free(&sb);
		return NULL;
	}
	*len = sb.len;
	return sg_strbuf_steal(&sb);
}
