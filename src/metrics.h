/* metrics.h - the registry of bridge counters and gauges, owned by the gateway for its
 * lifetime so that a reload keeps them, and the Prometheus text format's escaping. */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <stddef.h>

#include "strbuf.h"

struct sg_metrics; /* the registry (opaque) */
struct sg_series;  /* one series; owned by the registry and valid as long as it is */

/* Most series one registry holds: a plugin that formats a label value from unbounded data
 * must not grow /metrics without end. */
#define SG_METRICS_MAX_SERIES 10000

struct sg_metrics *sg_metrics_create(void);
void sg_metrics_destroy(struct sg_metrics *m); /* NULL is a no-op */

/* Finds or adds the series siogate_bridge_NAME[_total]{bridge="BRIDGE",LABELS}. `bridge` is
 * the raw bridge label (escaped here); `labels` is "" or label pairs in the exposition
 * format, values already escaped (`topic="a",partition="0"`). Returns NULL, after counting
 * a refusal, for a bad name, malformed labels, a name already used by the other kind
 * (counter or gauge), the series limit, or no memory. One hash lookup, no formatting, once
 * `bridge` was seen before. Any thread. */
struct sg_series *sg_metrics_series(struct sg_metrics *m, const char *bridge, const char *name,
				    const char *labels, int gauge);
/* The same with raw label values: `kv` is NULL or a NULL-terminated array of alternating
 * label names and values (values escaped here). Any thread. */
struct sg_series *sg_metrics_series_kv(struct sg_metrics *m, const char *bridge, const char *name,
				       const char *const *kv, int gauge);

/* Lock-free updates of one series; a NULL series is a no-op. Any thread. */
void sg_series_add(struct sg_series *s, double delta);
void sg_series_set(struct sg_series *s, double value);
double sg_series_value(const struct sg_series *s);

/* A reload: gauges are hidden until the new bridges set them again (a partition that is
 * no longer assigned must not keep showing its last lag). Counters go on. */
void sg_metrics_reset_gauges(struct sg_metrics *m);

/* Appends every series, one TYPE line per metric name, in the Prometheus text format. */
void sg_metrics_write(struct sg_metrics *m, struct sg_strbuf *out);

/* Appends `v` escaped as a label value (backslash, double quote, newline). */
void sg_prom_escape_label(struct sg_strbuf *sb, const char *v);
/* 1 for a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), else 0. */
int sg_prom_name_ok(const char *name);
/* 1 for "" or valid, escaped label pairs (`a="x",b="y\"z"`), else 0. A label named `bridge`
 * is refused (the host sets it); a label given twice is not looked for. */
int sg_prom_labels_ok(const char *labels);

#endif
