/* util/regex.h - whole-string matching of a compiled POSIX ERE. */
#ifndef SG_UTIL_REGEX_H
#define SG_UTIL_REGEX_H

#include <regex.h>

/* Whole-string match of a compiled POSIX ERE (compiled with REG_EXTENDED, without
 * REG_NOSUB): 1 when the regex matches all of `s`, else 0. "/org/[a-z]+" takes
 * "/org/acme", not "x/org/acme" or "/org/acme/x". */
int sg_regex_full_match(const regex_t *re, const char *s);

#endif
