/* message.c - the broker message model shared by mapping, events and requests (message.h):
 * headers, the arguments a message carries, and the messages the gateway produces. */
#include "message.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"

#define JSON_FLAGS (JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)

int sgm_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

const char *sgm_header(const struct sgm_msg *m, const char *name, size_t *len)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (!strcasecmp(m->headers[i].name, name)) {
			*len = m->headers[i].len;
			return m->headers[i].value;
		}
	*len = 0;
	return NULL;
}

void sgm_headers_free(struct sgm_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)h[i].name);
		free((char *)h[i].value);
	}
	free(h);
}

int sgm_header_is(const struct sgm_msg *m, const char *name, const char *want)
{
	size_t n;
	const char *v = sgm_header(m, name, &n);

	return v && n == strlen(want) && !strncasecmp(v, want, n);
}

struct bins {
	struct sg_bridge_bin *b;     /* b[0] may point into the message (a binary value) */
	unsigned char **owned;       /* decoded {"$binary"} buffers */
	size_t n, cap;
};

static void bins_free(struct bins *bs)
{
	for (size_t i = 0; i < bs->n; i++)
		free(bs->owned[i]);
	free(bs->owned);
	free(bs->b);
	memset(bs, 0, sizeof(*bs));
}

static long bins_add(struct bins *bs, const unsigned char *data, size_t len, unsigned char *owned)
{
	if (bs->n == bs->cap) {
		size_t ncap = bs->cap ? bs->cap * 2 : 4;
		struct sg_bridge_bin *nb = realloc(bs->b, ncap * sizeof(*nb));
		unsigned char **no;

		if (!nb)
			return -1;
		bs->b = nb;
		no = realloc(bs->owned, ncap * sizeof(*no));
		if (!no)
			return -1;
		bs->owned = no;
		bs->cap = ncap;
	}
	bs->b[bs->n].data = data;
	bs->b[bs->n].len = len;
	bs->owned[bs->n] = owned;
	return (long)bs->n++;
}

int sgm_has_placeholder(const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		if (json_object_get(v, "_placeholder"))
			return 1;
		json_object_foreach((json_t *)v, k, x)
			if (sgm_has_placeholder(x))
				return 1;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if (sgm_has_placeholder(x))
				return 1;
	}
	return 0;
}

/* If `x` is {"$binary":"<base64>"}, decodes it into `bs` and returns its placeholder (a new
 * reference); NULL when `x` is anything else, or (with *bad set) when it is not valid. */
static json_t *binary_placeholder(const json_t *x, struct bins *bs, int *bad)
{
	const char *b64 = json_string_value(json_object_get(x, "$binary"));
	unsigned char *buf;
	long len, idx;
	size_t n;

	if (!b64 || json_object_size(x) != 1)
		return NULL;
	n = strlen(b64);
	buf = malloc(n / 4 * 3 + 1);
	len = buf ? sg_base64_decode(b64, n, buf) : -1;
	idx = len < 0 || bs->n >= SGM_MAX_ROOMS ? -1 : bins_add(bs, buf, (size_t)len, buf);
	if (idx < 0) {
		free(buf);
		*bad = 1;
		return NULL;
	}
	return json_pack("{sbsI}", "_placeholder", 1, "num", (json_int_t)idx);
}

/* Replaces every {"$binary":"<base64>"} inside `v` by an attachment placeholder (the form
 * upstream messages use for binary arguments, so a relay gives clients their bytes back). */
static int decode_binaries(json_t *v, struct bins *bs, char *why, size_t whylen)
{
	const char *k;
	json_t *x, *ph;
	void *tmp;
	size_t i;
	int bad = 0;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, k, x) {
			if ((ph = binary_placeholder(x, bs, &bad)))
				json_object_set_new(v, k, ph);
			else if (bad)
				break;
			else if (decode_binaries(x, bs, why, whylen))
				return -1;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if ((ph = binary_placeholder(x, bs, &bad)))
				json_array_set_new(v, i, ph);
			else if (bad)
				break;
			else if (decode_binaries(x, bs, why, whylen))
				return -1;
		}
	}
	if (bad)
		return sgm_errf(why, whylen, "bad {\"$binary\"} value (base64 expected)");
	return 0;
}

/* Turns the value into arguments per the mapping and the sio-args header: a JSON value is
 * one argument (spread: a JSON array is the arguments), anything else one binary argument;
 * {"$binary":"<base64>"} objects inside JSON become binary arguments too. */
static int make_args(enum sgm_args_mode mode, const struct sgm_msg *m, json_t **args, struct bins *bs, char *why,
		     size_t whylen)
{
	json_t *v = NULL;

	if (sgm_header_is(m, SGM_H_ARGS, "spread"))
		mode = SGM_ARGS_SPREAD;
	else if (sgm_header_is(m, SGM_H_ARGS, "binary"))
		mode = SGM_ARGS_BINARY;
	else if (sgm_header_is(m, SGM_H_ARGS, "value"))
		mode = SGM_ARGS_VALUE;
	else if (sgm_header(m, SGM_H_ARGS, &(size_t){0}))
		return sgm_errf(why, whylen, "unknown sio-args value (expected value, spread or binary)");

	if (mode != SGM_ARGS_BINARY && m->value_len)
		v = json_loadb(m->value, m->value_len, JSON_FLAGS, NULL);
	if (mode == SGM_ARGS_SPREAD) {
		if (!json_is_array(v)) {
			json_decref(v);
			return sgm_errf(why, whylen, "sio-args: spread needs a JSON array value");
		}
		*args = v;
	} else {
		*args = json_array();
		if (!*args) {
			json_decref(v);
			return sgm_errf(why, whylen, "out of memory");
		}
		if (v) {
			json_array_append_new(*args, v);
		} else if (m->value_len || mode == SGM_ARGS_BINARY) {
			/* Not JSON (or forced): one binary argument, the bytes as they are. */
			if (bins_add(bs, m->value, m->value_len, NULL) < 0) {
				json_decref(*args);
				return sgm_errf(why, whylen, "out of memory");
			}
			json_array_append_new(*args, json_pack("{sbsi}", "_placeholder", 1, "num", 0));
			return 0;
		} /* an empty value: an event without arguments */
	}
	if (sgm_has_placeholder(*args)) {
		json_decref(*args);
		return sgm_errf(why, whylen, "the value contains a \"_placeholder\" object (binary goes as {\"$binary\":\"<base64>\"})");
	}
	if (decode_binaries(*args, bs, why, whylen)) {
		json_decref(*args);
		return -1;
	}
	return 0;
}

int sgm_msg_args_as(const struct sgm_msg *m, enum sgm_args_mode mode, struct sgm_args *out, char *why,
		    size_t whylen)
{
	struct bins *bs = calloc(1, sizeof(*bs));

	memset(out, 0, sizeof(*out));
	if (!bs)
		return sgm_errf(why, whylen, "out of memory");
	if (make_args(mode, m, &out->args, bs, why, whylen)) {
		bins_free(bs);
		free(bs);
		return -1;
	}
	out->att = bs->b;
	out->n_att = bs->n;
	out->priv = bs;
	return 0;
}

int sgm_msg_args(const struct sgm_msg *m, struct sgm_args *out, char *why, size_t whylen)
{
	return sgm_msg_args_as(m, SGM_ARGS_VALUE, out, why, whylen);
}

void sgm_args_clear(struct sgm_args *a)
{
	json_decref(a->args);
	if (a->priv)
		bins_free(a->priv);
	free(a->priv);
	memset(a, 0, sizeof(*a));
}

json_t *sgm_args_json(const json_t *v, const struct sg_bridge_bin *att, size_t n_att)
{
	if (json_is_object(v)) {
		const json_t *ph = json_object_get(v, "_placeholder"), *num = json_object_get(v, "num");
		const char *k;
		json_t *x, *o;

		if (json_is_true(ph) && json_is_number(num) && json_object_size(v) == 2) {
			size_t i = (size_t)json_number_value(num), el;
			char *b64;
			if (i >= n_att)
				return NULL;
			el = sg_base64_encoded_len(att[i].len);
			b64 = malloc(el + 1);
			if (!b64)
				return NULL;
			sg_base64_encode(att[i].data, att[i].len, b64);
			b64[el] = '\0';
			o = json_pack("{ss}", "$binary", b64);
			free(b64);
			return o;
		}
		o = json_object();
		json_object_foreach((json_t *)v, k, x) {
			json_t *c = sgm_args_json(x, att, n_att);
			if (!c || json_object_set_new(o, k, c)) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < json_array_size(v); i++) {
			json_t *c = sgm_args_json(json_array_get(v, i), att, n_att);
			if (!c || json_array_append_new(a, c)) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	return json_incref((json_t *)v);
}

void sgm_out_clear(struct sgm_out *o)
{
	free(o->topic);
	free(o->key);
	free(o->value);
	for (size_t i = 0; i < o->n_headers; i++) {
		free(o->hname[i]);
		free(o->hvalue[i]);
	}
	memset(o, 0, sizeof(*o));
}
