/* static.h - static files from server.static folders (the demo page, an app's assets). */
#ifndef SG_STATIC_H
#define SG_STATIC_H

#include <stddef.h>

#include <libwebsockets.h>

#include "server_config.h"

enum sg_static_result {
	SG_STATIC_NO_MOUNT = 0,   /* no mount covers the URL: not ours */
	SG_STATIC_FILE,           /* `out` is the real path of a regular file to send */
	SG_STATIC_NOT_FOUND,      /* under a mount, but no such file (or it is hidden) */
	SG_STATIC_BAD_PATH,       /* a '.' or '..' segment, a backslash, a control character */
};

/* Maps a decoded URL path to a file under the longest matching mount. A file is served
 * only if its real path (symlinks resolved) is inside the mount's real folder, it is a
 * regular file, and no path segment starts with '.' (no .git, .env). A folder serves its
 * `index` file. Pure apart from the file system lookups. */
enum sg_static_result sg_static_resolve(const struct sg_static_mount *mounts, size_t n, const char *uri,
					char *out, size_t outlen);

/* The Content-Type for a file name, from its extension (application/octet-stream when
 * unknown). */
const char *sg_static_content_type(const char *path);

/* Answers a request for a static file: GET and HEAD only (405 otherwise), 404 or 400 as
 * sg_static_resolve says. Returns 1 when it answered (*rc: the callback's return value),
 * 0 when no mount covers the URL. */
int sg_static_handle(const struct sg_static_mount *mounts, size_t n, struct lws *wsi, const char *uri, int *rc);

/* Logs a warning for each mount whose folder does not exist (its URLs will answer 404). */
void sg_static_check_dirs(const struct sg_static_mount *mounts, size_t n);

#endif
