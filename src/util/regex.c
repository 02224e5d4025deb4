/* util/regex.c - whole-string matching of POSIX EREs (namespace patterns, room allow lists). */
#include "util/regex.h"

#include <string.h>

int sg_regex_full_match(const regex_t *re, const char *s)
{
	regmatch_t m;

	/* POSIX matching is leftmost-longest, so when a whole-string match exists this is
	 * it: an unanchored user pattern cannot match a mere substring. */
	if (regexec(re, s, 1, &m, 0) != 0)
		return 0;
	return m.rm_so == 0 && (size_t)m.rm_eo == strlen(s);
}
