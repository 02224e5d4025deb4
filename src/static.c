/* static.c - serves files from server.static folders with lws's file transfer: GET and
 * HEAD, a content type from the extension, and nothing outside the mounted folder. */
#include "static.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"
#include "util/http.h"

static const struct {
	const char *ext, *type;
} types[] = {
	{"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
	{"css", "text/css; charset=utf-8"}, {"json", "application/json"}, {"map", "application/json"},
	{"txt", "text/plain; charset=utf-8"}, {"svg", "image/svg+xml"}, {"png", "image/png"},
	{"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"webp", "image/webp"},
	{"ico", "image/x-icon"}, {"woff", "font/woff"}, {"woff2", "font/woff2"},
	{"wasm", "application/wasm"},
};

const char *sg_static_content_type(const char *path)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');

	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (!strcasecmp(dot + 1, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

/* The longest mount URL that prefixes `uri`. */
static const struct sg_static_mount *find_mount(const struct sg_static_mount *m, size_t n, const char *uri)
{
	const struct sg_static_mount *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(m[i].url);
		if (l > best_len && !strncmp(uri, m[i].url, l)) {
			best = &m[i];
			best_len = l;
		}
	}
	return best;
}

/* 0 when every segment of `rel` is a plain name: no "", ".", "..", no backslash or control
 * character. A segment starting with '.' (a hidden file) gives 1: not found, not an attack. */
static int check_rel(const char *rel)
{
	const char *s = rel;
	int hidden = 0;

	for (const char *c = rel; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return -1;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return -1;
		if (s[0] == '.')
			hidden = 1;
		s += n;
		if (*s == '/')
			s++;
	}
	return hidden;
}

static int inside(const char *root, const char *path)
{
	size_t n = strlen(root);

	if (strncmp(path, root, n))
		return 0;
	return path[n] == '\0' || path[n] == '/' || (n == 1 && root[0] == '/');
}

enum sg_static_result sg_static_resolve(const struct sg_static_mount *mounts, size_t n, const char *uri,
					char *out, size_t outlen)
{
	const struct sg_static_mount *m = uri ? find_mount(mounts, n, uri) : NULL;
	char root[PATH_MAX], want[PATH_MAX], real[PATH_MAX];
	const char *rel;
	struct stat st;
	int rc;

	if (!m)
		return SG_STATIC_NO_MOUNT;
	rel = uri + strlen(m->url);
	rc = check_rel(rel);
	if (rc < 0)
		return SG_STATIC_BAD_PATH;
	if (rc > 0 || !realpath(m->dir, root))
		return SG_STATIC_NOT_FOUND;
	if (snprintf(want, sizeof(want), "%s/%s", root, rel) >= (int)sizeof(want) || !realpath(want, real) ||
	    !inside(root, real) || stat(real, &st))
		return SG_STATIC_NOT_FOUND;
	if (S_ISDIR(st.st_mode)) {
		/* A folder: its index file, which must be inside too (it may be a symlink). */
		if (!m->index[0] || snprintf(want, sizeof(want), "%s/%s", real, m->index) >= (int)sizeof(want) ||
		    !realpath(want, real) || !inside(root, real) || stat(real, &st))
			return SG_STATIC_NOT_FOUND;
	}
	if (!S_ISREG(st.st_mode) || strlen(real) >= outlen)
		return SG_STATIC_NOT_FOUND;
	memcpy(out, real, strlen(real) + 1);
	return SG_STATIC_FILE;
}

int sg_static_handle(const struct sg_static_mount *mounts, size_t n, struct lws *wsi, const char *uri, int *rc)
{
	static const char *const allow[] = {"allow:", "GET, HEAD", NULL};
	unsigned char hdr[LWS_PRE + 256], *p = hdr + LWS_PRE, *end = hdr + sizeof(hdr);
	char path[PATH_MAX];
	enum sg_static_result r;
	int got;

	if (!find_mount(mounts, n, uri))
		return 0;
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) && !lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI)) {
		*rc = sg_http_respond_error(wsi, 405, "method not allowed", allow);
		return 1;
	}
	r = sg_static_resolve(mounts, n, uri, path, sizeof(path));
	if (r == SG_STATIC_BAD_PATH) {
		*rc = sg_http_respond_error(wsi, 400, "bad path", NULL);
		return 1;
	}
	if (r != SG_STATIC_FILE) {
		*rc = sg_http_respond_error(wsi, 404, "not found", NULL);
		return 1;
	}
	/* Demo and app assets change with deployments: revalidate rather than cache blindly. */
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:", (const unsigned char *)"no-cache", 8,
					&p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)"nosniff", 7, &p, end)) {
		*rc = -1;
		return 1;
	}
	got = lws_serve_http_file(wsi, path, sg_static_content_type(path), (const char *)hdr + LWS_PRE,
				  (int)(p - (hdr + LWS_PRE)));
	/* < 0: failed, close; > 0: sent whole, the transaction is over (close unless reusable). */
	*rc = got < 0 || (got > 0 && lws_http_transaction_completed(wsi)) ? -1 : 0;
	return 1;
}

void sg_static_check_dirs(const struct sg_static_mount *mounts, size_t n)
{
	struct stat st;

	for (size_t i = 0; i < n; i++) {
		const char *why = stat(mounts[i].dir, &st) ? strerror(errno) : !S_ISDIR(st.st_mode) ? "not a folder" : NULL;

		if (why)
			sg_warn("static", NULL, "server.static: '%s' (for %s): %s; its URLs answer 404", mounts[i].dir,
				mounts[i].url, why);
	}
}
