/* util/suggest.h - did-you-mean: the known key a typo most likely meant. */
#ifndef SG_UTIL_SUGGEST_H
#define SG_UTIL_SUGGEST_H

/* The key of `known`, then of `extra` (either may be NULL; NULL-terminated lists), that
 * `key` most likely meant: equal ignoring case, else the closest within an edit distance of
 * 2 (the first one on a tie, so the answer is stable). NULL when none is close. */
const char *sg_suggest(const char *key, const char *const *known, const char *const *extra);

#endif
