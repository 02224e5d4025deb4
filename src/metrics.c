/* metrics.c - the registry of bridge counters and gauges: a hash map finds a series once,
 * then updates are atomic (no lock, no formatting); /metrics reads it under a lock. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hmap.h"
#include "log.h"

#define METRICS_MAGIC 0x3e7a1c50u
#define SERIES_MAGIC 0x5e41e550u
#define KEY_STACK 512            /* keys up to this size are built without malloc */
#define REFUSED_LOG_INTERVAL_S 10

struct sg_series {
	unsigned magic;
	_Atomic uint64_t bits;         /* the value's IEEE 754 bit pattern */
	_Atomic unsigned gen;          /* gauges: the registry generation that last set it */
	struct sg_metrics *m;
	int gauge;
	size_t seq;                    /* creation order: series of a name keep it on output */
	char *bridge_esc;              /* the bridge label, escaped for output */
	const char *name, *labels;     /* point into key */
	size_t klen;
	char key[];                    /* name \0 raw bridge label \0 escaped labels */
};

struct sg_metrics {
	unsigned magic;
	pthread_mutex_t mu;            /* map, all, n, refused_log */
	struct sg_hmap map;            /* key -> series */
	struct sg_series **all;
	size_t n, cap;
	_Atomic unsigned gen;          /* bumped by sg_metrics_reset_gauges */
	_Atomic uint64_t refused;      /* series a plugin asked for and did not get */
	time_t refused_log;
};

/* ---------------------------------------------------------------- the text format */

void sg_prom_escape_label(struct sg_strbuf *sb, const char *v)
{
	for (; *v; v++) {
		if (*v == '\n')
			sg_strbuf_append(sb, "\\n", 2);
		else if (*v == '\\' || *v == '"')
			sg_strbuf_append(sb, (const char[]){'\\', *v}, 2);
		else
			sg_strbuf_appendc(sb, *v);
	}
}

static int name_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

int sg_prom_name_ok(const char *name)
{
	if (!name || !name[0])
		return 0;
	for (const char *c = name; *c; c++)
		if (!name_char(*c, c == name))
			return 0;
	return 1;
}

int sg_prom_labels_ok(const char *labels)
{
	const char *p = labels;

	if (!p)
		return 0;
	while (*p) {
		const char *start = p;

		/* A label name has no ':' and "bridge" is the host's. */
		if (!name_char(*p, 1) || *p == ':')
			return 0;
		while (name_char(*p, 0) && *p != ':')
			p++;
		if ((size_t)(p - start) == 6 && !strncmp(start, "bridge", 6))
			return 0;
		if (p[0] != '=' || p[1] != '"')
			return 0;
		for (p += 2; *p != '"'; p++) {
			if (!*p || *p == '\n')
				return 0;
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return 0;
			}
		}
		p++;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- the registry */

struct sg_metrics *sg_metrics_create(void)
{
	struct sg_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->magic = METRICS_MAGIC;
	pthread_mutex_init(&m->mu, NULL);
	sg_hmap_init(&m->map);
	return m;
}

void sg_metrics_destroy(struct sg_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		m->all[i]->magic = 0;
		free(m->all[i]->bridge_esc);
		free(m->all[i]);
	}
	free(m->all);
	sg_hmap_free(&m->map);
	pthread_mutex_destroy(&m->mu);
	m->magic = 0;
	free(m);
}

/* Counts a refused series and says so, at most once per interval. Called with m->mu held. */
static void refuse(struct sg_metrics *m, const char *bridge, const char *name, const char *why)
{
	time_t now = time(NULL);

	atomic_fetch_add(&m->refused, 1);
	if (now - m->refused_log >= REFUSED_LOG_INTERVAL_S) {
		m->refused_log = now;
		sg_warn("bridge", bridge, "metric '%s' refused (%s); %llu refused so far", name, why,
			(unsigned long long)atomic_load(&m->refused));
	}
}

/* Adds a series for `key`; called with m->mu held, after the lookup missed. */
static struct sg_series *add_series(struct sg_metrics *m, const char *key, size_t klen, const char *bridge,
				    size_t name_len, size_t bridge_len, int gauge)
{
	struct sg_series *s, **na;
	struct sg_strbuf esc;

	if (m->n >= SG_METRICS_MAX_SERIES) {
		refuse(m, bridge, key, "too many series");
		return NULL;
	}
	/* A name is a counter or a gauge, whatever its labels. */
	for (size_t i = 0; i < m->n; i++)
		if (m->all[i]->gauge != gauge && !strcmp(m->all[i]->name, key)) {
			refuse(m, bridge, key, gauge ? "already a counter" : "already a gauge");
			return NULL;
		}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 32;

		if (!(na = realloc(m->all, cap * sizeof(*na))))
			goto oom;
		m->all = na;
		m->cap = cap;
	}
	if (!(s = calloc(1, sizeof(*s) + klen)))
		goto oom;
	sg_strbuf_init(&esc);
	sg_prom_escape_label(&esc, bridge);
	s->bridge_esc = esc.oom ? NULL : sg_strbuf_steal(&esc);
	sg_strbuf_free(&esc);
	if (!s->bridge_esc) {
		free(s);
		goto oom;
	}
	memcpy(s->key, key, klen);
	s->klen = klen;
	s->name = s->key;
	s->labels = s->key + name_len + 1 + bridge_len + 1;
	s->gauge = gauge;
	s->m = m;
	s->seq = m->n;
	s->gen = atomic_load(&m->gen) - 1; /* a gauge shows once it is set */
	s->magic = SERIES_MAGIC;
	if (sg_hmap_put(&m->map, s->key, s->klen, s)) {
		free(s->bridge_esc);
		free(s);
		goto oom;
	}
	m->all[m->n++] = s;
	return s;
oom:
	refuse(m, bridge, key, "out of memory");
	return NULL;
}

struct sg_series *sg_metrics_series(struct sg_metrics *m, const char *bridge, const char *name,
				    const char *labels, int gauge)
{
	size_t nl, bl, ll, klen;
	char stack[KEY_STACK], *key;
	struct sg_series *s = NULL;

	if (!m || !bridge || !name)
		return NULL;
	if (!labels)
		labels = "";
	nl = strlen(name);
	bl = strlen(bridge);
	ll = strlen(labels);
	klen = nl + 1 + bl + 1 + ll + 1;
	key = klen <= sizeof(stack) ? stack : malloc(klen);
	if (key) {
		memcpy(key, name, nl + 1);
		memcpy(key + nl + 1, bridge, bl + 1);
		memcpy(key + nl + 1 + bl + 1, labels, ll + 1);
	}
	pthread_mutex_lock(&m->mu);
	if (!key) {
		refuse(m, bridge, name, "out of memory");
	} else if ((s = sg_hmap_get(&m->map, key, klen))) {
		if (s->gauge != gauge) {
			refuse(m, bridge, name, gauge ? "already a counter" : "already a gauge");
			s = NULL;
		}
	} else if (!sg_prom_name_ok(name)) {
		refuse(m, bridge, "(invalid)", "not a valid metric name");
	} else if (!sg_prom_labels_ok(labels)) {
		refuse(m, bridge, name, "malformed labels");
	} else {
		s = add_series(m, key, klen, bridge, nl, bl, gauge);
	}
	pthread_mutex_unlock(&m->mu);
	if (key != stack)
		free(key);
	return s;
}

struct sg_series *sg_metrics_series_kv(struct sg_metrics *m, const char *bridge, const char *name,
				       const char *const *kv, int gauge)
{
	struct sg_strbuf labels;
	struct sg_series *s = NULL;

	sg_strbuf_init(&labels);
	for (size_t i = 0; kv && kv[i]; i += 2) {
		if (i)
			sg_strbuf_appendc(&labels, ',');
		sg_strbuf_append(&labels, kv[i], strlen(kv[i]));
		sg_strbuf_append(&labels, "=\"", 2);
		/* An odd array (a value missing) gets a malformed label, refused below. */
		if (!kv[i + 1])
			break;
		sg_prom_escape_label(&labels, kv[i + 1]);
		sg_strbuf_appendc(&labels, '"');
	}
	if (labels.oom) {
		if (m) {
			pthread_mutex_lock(&m->mu);
			refuse(m, bridge ? bridge : "?", name ? name : "?", "out of memory");
			pthread_mutex_unlock(&m->mu);
		}
	} else {
		s = sg_metrics_series(m, bridge, name, labels.data ? labels.data : "", gauge);
	}
	sg_strbuf_free(&labels);
	return s;
}

static double from_bits(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static uint64_t to_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

void sg_series_add(struct sg_series *s, double delta)
{
	uint64_t old, nw;

	if (!s)
		return;
	old = atomic_load_explicit(&s->bits, memory_order_relaxed);
	do
		nw = to_bits(from_bits(old) + delta);
	while (!atomic_compare_exchange_weak_explicit(&s->bits, &old, nw, memory_order_relaxed,
						       memory_order_relaxed));
}

void sg_series_set(struct sg_series *s, double value)
{
	if (!s)
		return;
	atomic_store_explicit(&s->bits, to_bits(value), memory_order_relaxed);
	atomic_store_explicit(&s->gen, atomic_load_explicit(&s->m->gen, memory_order_relaxed),
			      memory_order_relaxed);
}

double sg_series_value(const struct sg_series *s)
{
	return s ? from_bits(atomic_load_explicit(&s->bits, memory_order_relaxed)) : 0;
}

void sg_metrics_reset_gauges(struct sg_metrics *m)
{
	if (m)
		atomic_fetch_add(&m->gen, 1);
}

static int shown(const struct sg_series *s)
{
	return !s->gauge || atomic_load_explicit(&s->gen, memory_order_relaxed) ==
				    atomic_load_explicit(&s->m->gen, memory_order_relaxed);
}

static int by_name(const void *a, const void *b)
{
	const struct sg_series *x = *(const struct sg_series *const *)a, *y = *(const struct sg_series *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

void sg_metrics_write(struct sg_metrics *m, struct sg_strbuf *out)
{
	struct sg_series **v;
	size_t n = 0;

	if (!m)
		return;
	sg_strbuf_appendf(out, "# HELP siogate_bridge_series_refused_total Bridge metrics refused (bad "
			       "name or labels, too many series, out of memory).\n"
			       "# TYPE siogate_bridge_series_refused_total counter\n"
			       "siogate_bridge_series_refused_total %llu\n",
			  (unsigned long long)atomic_load(&m->refused));
	pthread_mutex_lock(&m->mu);
	v = m->n ? malloc(m->n * sizeof(*v)) : NULL;
	for (size_t i = 0; v && i < m->n; i++)
		if (shown(m->all[i]))
			v[n++] = m->all[i];
	if (m->n && !v)
		out->oom = 1;
	pthread_mutex_unlock(&m->mu);
	/* Series are never removed while the registry lives: reading them unlocked is safe. */
	if (n)
		qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 0; i < n; i++) {
		const struct sg_series *s = v[i];
		const char *suffix = s->gauge ? "" : "_total";

		if (!i || strcmp(v[i - 1]->name, s->name))
			sg_strbuf_appendf(out, "# TYPE siogate_bridge_%s%s %s\n", s->name, suffix,
					  s->gauge ? "gauge" : "counter");
		sg_strbuf_appendf(out, "siogate_bridge_%s%s{bridge=\"%s\"%s%s} %.17g\n", s->name, suffix,
				  s->bridge_esc, s->labels[0] ? "," : "", s->labels, sg_series_value(s));
	}
	free(v);
}
