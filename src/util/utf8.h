/* util/utf8.h - UTF-8 well-formedness, as JSON strings (jansson) and JavaScript need it. */
#ifndef SG_UTIL_UTF8_H
#define SG_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length of the well-formed UTF-8 sequence at p (at most n bytes), with its code point
 * in *cp; 0 when ill-formed: truncated, overlong, a surrogate or above U+10FFFF. */
size_t sg_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp);
/* 1 when the n bytes at p are well-formed UTF-8 throughout. */
int sg_utf8_valid(const unsigned char *p, size_t n);

#endif
