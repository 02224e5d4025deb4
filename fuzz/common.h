/* common.h - helpers shared by the libFuzzer targets (see fuzz/README.md). */
#ifndef SG_FUZZ_COMMON_H
#define SG_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant the target checks: a violation is a crash (libFuzzer keeps the input). */
#define FUZZ_CHECK(cond)                                                                       \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                               \
		}                                                                              \
	} while (0)

/* An exact-size heap copy (no terminator unless `nul`), so that ASan sees any read past
 * the end of a borrowed buffer. Never returns NULL for n == 0. */
static inline unsigned char *fuzz_dup(const uint8_t *p, size_t n, int nul)
{
	unsigned char *c = malloc(n + (nul ? 1 : 0) + (n == 0 && !nul ? 1 : 0));

	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	if (nul)
		c[n] = '\0';
	return c;
}

/* Splits [p, p+n) on `sep` bytes: returns the next chunk and advances *pos; NULL when done. */
struct fuzz_split {
	const uint8_t *p;
	size_t n, pos;
	int done;
};

static inline const uint8_t *fuzz_next(struct fuzz_split *s, uint8_t sep, size_t *len)
{
	const uint8_t *start, *end;

	if (s->done)
		return NULL;
	start = s->p + s->pos;
	end = memchr(start, sep, s->n - s->pos);
	if (!end) {
		*len = s->n - s->pos;
		s->done = 1;
		return start;
	}
	*len = (size_t)(end - start);
	s->pos += *len + 1;
	return start;
}

#endif
