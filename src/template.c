/* template.c - placeholder expansion shared by room policies and bridge mappings. */
#include "template.h"

#include <string.h>

int sg_template_expand(const char *tpl, sg_template_lookup_fn lookup, void *ud, struct sg_strbuf *out)
{
	const char *p = tpl;

	while (*p) {
		const char *open = strchr(p, '{'), *close;

		if (!open) {
			sg_strbuf_append(out, p, strlen(p));
			break;
		}
		sg_strbuf_append(out, p, (size_t)(open - p));
		close = strchr(open + 1, '}');
		if (!close)
			return -1;
		if (lookup(ud, open + 1, (size_t)(close - open - 1), out))
			return -1;
		p = close + 1;
	}
	return out->oom ? -1 : 0;
}

int sg_json_scalar_append(struct sg_strbuf *out, const json_t *v)
{
	if (json_is_string(v)) {
		sg_strbuf_append(out, json_string_value(v), json_string_length(v));
		return 0;
	}
	if (json_is_number(v) || json_is_boolean(v))
		return sg_json_append(out, v);
	return -1;
}
