/* util/utf8.c - UTF-8 well-formedness, as JSON strings need it (see util/utf8.h). */
#include "util/utf8.h"

/* The length of the well-formed UTF-8 sequence at p (at most n bytes), with its code point
 * in *cp; 0 when ill-formed: truncated, overlong, a surrogate or above U+10FFFF. */
size_t sg_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0; /* a continuation byte, or a lead byte that can only start overlongs */
	c &= 0x7fu >> len;
	min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int sg_utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	uint32_t cp;

	while (i < n) {
		size_t l = sg_utf8_seq(p + i, n - i, &cp);

		if (!l)
			return 0;
		i += l;
	}
	return 1;
}
