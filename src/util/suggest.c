/* util/suggest.c - did-you-mean for unknown config keys (host config and bridge mappings). */
#include "util/suggest.h"

#include <string.h>
#include <strings.h>

/* Edit distance between a user's key (any length) and one of ours (short, so one row of
 * the usual table fits on the stack). Gives up early past `limit`. */
static size_t levenshtein(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (lb >= sizeof row / sizeof row[0])
		return limit + 1;
	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0], best;

		row[0] = i;
		best = row[0];
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], v;

			v = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
			if (v < best)
				best = v;
		}
		if (best > limit)
			return limit + 1;
	}
	return row[lb];
}

const char *sg_suggest(const char *key, const char *const *known, const char *const *extra)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (int pass = 0; pass < 2; pass++)
		for (const char *const *k = pass ? extra : known; k && *k; k++) {
			size_t d = strcasecmp(key, *k) == 0 ? 0 : levenshtein(key, *k, 2);

			if (d < best_d) {
				best = *k;
				best_d = d;
			}
		}
	return best;
}
