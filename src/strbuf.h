/* strbuf.h - a growable byte string and a JSON serializer that writes what JSON.stringify does. */
#ifndef SG_STRBUF_H
#define SG_STRBUF_H

#include <stddef.h>
#include <jansson.h>

/* `data` is always NUL-terminated (when non-NULL). After an allocation failure `oom` is set
 * and further appends are ignored, so callers check once at the end. */
struct sg_strbuf {
	char *data;
	size_t len;
	size_t cap;
	size_t head;   /* bytes reserved before data[0] (headroom for lws framing) */
	int oom;
};

void sg_strbuf_init(struct sg_strbuf *sb);
/* Like init, with `headroom` bytes kept in front of data (see sg_strbuf_steal). */
void sg_strbuf_init_headroom(struct sg_strbuf *sb, size_t headroom);
void sg_strbuf_append(struct sg_strbuf *sb, const void *p, size_t n);
void sg_strbuf_appendc(struct sg_strbuf *sb, char c);
void sg_strbuf_appendf(struct sg_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sg_strbuf_free(struct sg_strbuf *sb);
/* Returns the allocation (data - head); the caller owns it and frees it with free(). */
void *sg_strbuf_steal(struct sg_strbuf *sb);

/* Appends `s` (n bytes of UTF-8) as a JSON string literal with JSON.stringify's escapes. */
void sg_json_append_string(struct sg_strbuf *sb, const char *s, size_t n);
/* Appends a compact serialization of `v`: keys in insertion order, numbers in their shortest
 * round-trip form (0.1 stays "0.1"), like JSON.stringify. Returns 0, or -1 on an unserializable
 * value (non-finite real). */
int sg_json_append(struct sg_strbuf *sb, const json_t *v);

#endif
