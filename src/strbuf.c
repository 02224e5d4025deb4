/* strbuf.c - growable strings and a JSON.stringify-compatible serializer over jansson values. */
#include "strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sg_strbuf_init(struct sg_strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void sg_strbuf_init_headroom(struct sg_strbuf *sb, size_t headroom)
{
	memset(sb, 0, sizeof(*sb));
	sb->head = headroom;
}

static int grow(struct sg_strbuf *sb, size_t extra)
{
	size_t need, ncap;
	char *base, *nb;

	if (sb->oom)
		return -1;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return 0;
	ncap = sb->cap ? sb->cap : 64;
	while (ncap < need)
		ncap *= 2;
	base = sb->data ? sb->data - sb->head : NULL;
	nb = realloc(base, sb->head + ncap);
	if (!nb) {
		sb->oom = 1;
		return -1;
	}
	sb->data = nb + sb->head;
	sb->cap = ncap;
	return 0;
}

void sg_strbuf_append(struct sg_strbuf *sb, const void *p, size_t n)
{
	if (grow(sb, n))
		return;
	memcpy(sb->data + sb->len, p, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void sg_strbuf_appendc(struct sg_strbuf *sb, char c)
{
	sg_strbuf_append(sb, &c, 1);
}

void sg_strbuf_appendf(struct sg_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sg_strbuf_free(struct sg_strbuf *sb)
{
	if (sb->data)
		free(sb->data - sb->head);
	sg_strbuf_init_headroom(sb, sb->head);
}

void *sg_strbuf_steal(struct sg_strbuf *sb)
{
	void *p;

	if (!sb->data && grow(sb, 0))
		return NULL;
	p = sb->data - sb->head;
	sb->data = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void sg_json_append_string(struct sg_strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	sg_strbuf_appendc(sb, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sg_strbuf_append(sb, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
			elen = 6;
		}
		sg_strbuf_append(sb, esc, elen);
	}
	sg_strbuf_append(sb, s + run, n - run);
	sg_strbuf_appendc(sb, '"');
}

/* Adds one unit in the last mantissa digit of "d.ddde+XX" (carrying; 9.99e5 -> 1.00e6).
 * Returns 0 when the string has no digits to bump. */
static int bump_last_digit(char *s)
{
	char *e = strchr(s, 'e'), *p;
	int exp;

	if (!e)
		return 0;
	for (p = e - 1; p >= s; p--) {
		if (*p == '.')
			continue;
		if (*p < '9') {
			(*p)++;
			return 1;
		}
		*p = '0';
	}
	/* Carried out of the first digit: 9.99e5 became 0.00e5; make it 1.00e6. */
	s[0] = '1';
	exp = atoi(e + 1) + 1;
	sprintf(e, "e%+03d", exp);
	return 1;
}

/* Number::toString as ECMAScript defines it: the shortest digits that read back as the same
 * double, laid out in plain or exponent notation by the decimal exponent. */
static int append_real(struct sg_strbuf *sb, double v)
{
	char tmp[40], digits[24];
	int prec, k = 0, n, i;
	char *e;

	if (!isfinite(v))
		return -1;
	if (v == 0) {
		sg_strbuf_appendc(sb, '0');
		return 0;
	}
	if (v < 0) {
		sg_strbuf_appendc(sb, '-');
		v = -v;
	}
	/* The fewest digits that read back as v. printf rounds a tie to even, which can miss
	 * the candidate one unit above (2^-24 needs ...063, not ...062): try both. */
	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
		if (bump_last_digit(tmp) && strtod(tmp, NULL) == v)
			break;
	}
	e = strchr(tmp, 'e');
	for (i = 0; tmp + i < e; i++)
		if (tmp[i] != '.')
			digits[k++] = tmp[i];
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';
	n = atoi(e + 1) + 1;

	if (k <= n && n <= 21) {
		sg_strbuf_append(sb, digits, (size_t)k);
		for (i = k; i < n; i++)
			sg_strbuf_appendc(sb, '0');
	} else if (0 < n && n <= 21) {
		sg_strbuf_append(sb, digits, (size_t)n);
		sg_strbuf_appendc(sb, '.');
		sg_strbuf_append(sb, digits + n, (size_t)(k - n));
	} else if (-6 < n && n <= 0) {
		sg_strbuf_append(sb, "0.", 2);
		for (i = 0; i < -n; i++)
			sg_strbuf_appendc(sb, '0');
		sg_strbuf_append(sb, digits, (size_t)k);
	} else {
		sg_strbuf_appendc(sb, digits[0]);
		if (k > 1) {
			sg_strbuf_appendc(sb, '.');
			sg_strbuf_append(sb, digits + 1, (size_t)(k - 1));
		}
		sg_strbuf_appendf(sb, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	return 0;
}

int sg_json_append(struct sg_strbuf *sb, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;
		int first = 1;

		sg_strbuf_appendc(sb, '{');
		json_object_foreach((json_t *)v, key, val) {
			if (!first)
				sg_strbuf_appendc(sb, ',');
			first = 0;
			sg_json_append_string(sb, key, strlen(key));
			sg_strbuf_appendc(sb, ':');
			if (sg_json_append(sb, val))
				return -1;
		}
		sg_strbuf_appendc(sb, '}');
		return 0;
	}
	case JSON_ARRAY: {
		size_t i;

		sg_strbuf_appendc(sb, '[');
		for (i = 0; i < json_array_size(v); i++) {
			if (i)
				sg_strbuf_appendc(sb, ',');
			if (sg_json_append(sb, json_array_get(v, i)))
				return -1;
		}
		sg_strbuf_appendc(sb, ']');
		return 0;
	}
	case JSON_STRING:
		sg_json_append_string(sb, json_string_value(v), json_string_length(v));
		return 0;
	case JSON_INTEGER:
		sg_strbuf_appendf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	case JSON_REAL:
		return append_real(sb, json_real_value(v));
	case JSON_TRUE:
		sg_strbuf_append(sb, "true", 4);
		return 0;
	case JSON_FALSE:
		sg_strbuf_append(sb, "false", 5);
		return 0;
	case JSON_NULL:
		sg_strbuf_append(sb, "null", 4);
		return 0;
	}
	return -1;
}
