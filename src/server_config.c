/* server_config.c - the `server` section: its key table and the keys a table cannot say
 * (listen addresses, the Engine.IO path, transports, TLS, static mounts). */
#include "server_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_core.h"

static const char *const static_keys[] = { "url", "dir", "index", NULL };

#define LISTEN_FORMAT "expected \"host:port\", \"[ipv6]:port\" or \":port\""

/* "host:port", "[v6addr]:port" or ":port" (all IPv4 interfaces). */
static int parse_listen(struct sg_cfg_ld *ld, const char *path, const char *s,
			char **host_out, int *port_out)
{
	const char *h = s, *colon;
	size_t hlen;
	uint64_t port;
	char *host;
	int v6 = s[0] == '[';

	if (v6) {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return sg_cfg_fail(ld, path, LISTEN_FORMAT);
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return sg_cfg_fail(ld, path, LISTEN_FORMAT);
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen))
			return sg_cfg_fail(ld, path, "an IPv6 address needs brackets, e.g. \"[::1]:3000\"");
	}
	if (sg_cfg_parse_digits(colon + 1, &port) < 0 || port < 1 || port > 65535)
		return sg_cfg_fail(ld, path, "expected a port from 1 to 65535");
	if (v6 && hlen == 0)
		return sg_cfg_fail(ld, path, LISTEN_FORMAT);
	host = hlen ? strndup(h, hlen) : strdup("0.0.0.0");
	if (!host)
		return sg_cfg_oom(ld, path);
	if (v6) {
		struct in6_addr a;

		if (inet_pton(AF_INET6, host, &a) != 1) {
			sg_cfg_fail(ld, path, "'%s' is not an IPv6 address", host);
			free(host);
			return -1;
		}
	} else {
		for (const char *c = host; *c; c++) {
			if (!sg_cfg_is_alpha(*c) && !sg_cfg_is_digit(*c) && !strchr("-._", *c)) {
				sg_cfg_fail(ld, path, "invalid host name '%s'", host);
				free(host);
				return -1;
			}
		}
	}
	free(*host_out);
	*host_out = host;
	*port_out = (int)port;
	return 0;
}

static int load_transports(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
			   void *base)
{
	unsigned *out = &((struct sg_server_config *)base)->transports;
	static const char *const names[] = { "polling", "websocket", NULL };
	static const unsigned bits[] = { SG_TRANSPORT_POLLING, SG_TRANSPORT_WEBSOCKET };
	json_t *v = json_object_get(obj, key);
	char p[SG_CFG_PATH_LEN], ep[SG_CFG_PATH_LEN];
	unsigned mask = 0;

	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	if (!json_is_array(v) || json_array_size(v) == 0)
		return sg_cfg_fail(ld, p, "expected a non-empty array of strings");
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);
		char *s;
		int k;

		sg_cfg_path_idx(ep, p, i);
		if (!json_is_string(e))
			return sg_cfg_fail(ld, ep, "expected a string");
		if (sg_cfg_expand(ld, ep, json_string_value(e), &s) < 0)
			return -1;
		for (k = 0; names[k] && strcmp(s, names[k]) != 0; k++)
			;
		if (!names[k])
			sg_cfg_fail(ld, ep, "unknown transport '%s' (known: polling, websocket)", s);
		else if (mask & bits[k])
			sg_cfg_fail(ld, ep, "duplicate transport '%s'", s);
		free(s);
		if (!names[k] || (mask & bits[k]))
			return -1;
		mask |= bits[k];
	}
	*out = mask;
	return 0;
}

/* One server.static entry: a URL prefix ("/", "/assets/") served from a folder. */
static int load_static_mount(struct sg_cfg_ld *ld, json_t *m, const char *path,
			     const struct sg_server_config *srv, struct sg_static_mount *out)
{
	char p[SG_CFG_PATH_LEN], *url = NULL;
	size_t n;

	if (!json_is_object(m))
		return sg_cfg_fail(ld, path, "expected an object with \"url\" and \"dir\"");
	if (sg_cfg_check_keys(ld, m, path, static_keys) < 0)
		return -1;
	if (!json_object_get(m, "dir"))
		return sg_cfg_fail(ld, path, "missing required key 'dir'");
	if (sg_cfg_str(ld, m, path, "dir", 1, &out->dir) < 0 || sg_cfg_str(ld, m, path, "url", 1, &url) < 0 ||
	    sg_cfg_str(ld, m, path, "index", 0, &out->index) < 0)
		goto sg_cfg_fail;
	sg_cfg_path_key(p, path, "url");
	if (!url && !(url = strdup("/")))
		goto nomem;
	n = strlen(url);
	if (url[0] != '/' || strpbrk(url, "?#%\\ \t\r\n") || strstr(url, "/./") || strstr(url, "/../") ||
	    strstr(url, "//")) {
		sg_cfg_fail(ld, p, "expected a URL path starting with '/' (no '?', '#', '%%', '\\', spaces, '//', '.' or '..' segments)");
		goto sg_cfg_fail;
	}
	if (url[n - 1] != '/') {
		char *nu = realloc(url, n + 2);

		if (!nu)
			goto nomem;
		url = nu;
		memcpy(url + n, "/", 2);
	}
	/* The Engine.IO endpoint is matched first: a mount inside it would never be reached. */
	if (!strncmp(url, srv->path, strlen(srv->path))) {
		sg_cfg_fail(ld, p, "'%s' is inside the Engine.IO path '%s'", url, srv->path);
		goto sg_cfg_fail;
	}
	if (out->index) {
		sg_cfg_path_key(p, path, "index");
		if (strchr(out->index, '/') || !strcmp(out->index, ".") || !strcmp(out->index, "..")) {
			sg_cfg_fail(ld, p, "expected a file name (no '/')");
			goto sg_cfg_fail;
		}
	} else if (!(out->index = strdup("index.html"))) {
		goto nomem;
	}
	out->url = url;
	return 0;
nomem:
	sg_cfg_oom(ld, path);
sg_cfg_fail:
	free(url);
	return -1;
}

static void static_free(struct sg_server_config *srv)
{
	for (size_t i = 0; i < srv->n_static; i++) {
		free(srv->static_mounts[i].url);
		free(srv->static_mounts[i].dir);
		free(srv->static_mounts[i].index);
	}
	free(srv->static_mounts);
	srv->static_mounts = NULL;
	srv->n_static = 0;
}

/* server.static: one mount object or an array of them. */
static int load_static(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		       void *base)
{
	struct sg_server_config *srv = base;
	json_t *v = json_object_get(obj, key), *one = NULL;
	char p[SG_CFG_PATH_LEN], ep[SG_CFG_PATH_LEN];
	size_t n;

	if (!v)
		return 0;
	sg_cfg_path_key(p, path, key);
	if (json_is_object(v)) {
		one = json_array();
		if (!one || json_array_append(one, v))
			return json_decref(one), sg_cfg_oom(ld, p);
	} else if (!json_is_array(v)) {
		return sg_cfg_fail(ld, p, "expected an object or an array of objects");
	}
	n = json_array_size(one ? one : v);
	static_free(srv);
	if (n && !(srv->static_mounts = calloc(n, sizeof(*srv->static_mounts)))) {
		json_decref(one);
		return sg_cfg_oom(ld, p);
	}
	for (size_t i = 0; i < n; i++) {
		if (one)
			snprintf(ep, sizeof(ep), "%s", p);
		else
			sg_cfg_path_idx(ep, p, i);
		srv->n_static = i + 1;
		if (load_static_mount(ld, json_array_get(one ? one : v, i), ep, srv, &srv->static_mounts[i]) < 0)
			goto sg_cfg_fail;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(srv->static_mounts[j].url, srv->static_mounts[i].url)) {
				char up[SG_CFG_PATH_LEN];

				sg_cfg_path_key(up, ep, "url");
				sg_cfg_fail(ld, up, "'%s' is mounted twice", srv->static_mounts[i].url);
				goto sg_cfg_fail;
			}
	}
	json_decref(one);
	return 0;
sg_cfg_fail:
	json_decref(one);
	return -1;
}

/* "host:port" into the two fields at `host` and `port`. */
static int load_addr(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		     char **host, int *port)
{
	char p[SG_CFG_PATH_LEN], *s = NULL;
	int rc = 0;

	if (sg_cfg_str(ld, obj, path, key, 0, &s) < 0)
		return -1;
	/* "" (e.g. an unset ${ADMIN_LISTEN:-}) means no admin listener; listen needs one. */
	if (s && (s[0] || !strcmp(key, "listen"))) {
		sg_cfg_path_key(p, path, key);
		rc = parse_listen(ld, p, s, host, port);
	}
	free(s);
	return rc;
}

static int load_listen(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		       void *base)
{
	struct sg_server_config *srv = base;

	return load_addr(ld, obj, path, key, &srv->host, &srv->port);
}

static int load_admin_listen(struct sg_cfg_ld *ld, json_t *obj, const char *path,
			     const char *key, void *base)
{
	struct sg_server_config *srv = base;

	return load_addr(ld, obj, path, key, &srv->admin_host, &srv->admin_port);
}

static int load_path(struct sg_cfg_ld *ld, json_t *obj, const char *path, const char *key,
		     void *base)
{
	struct sg_server_config *srv = base;
	char *s = NULL, *np, p[SG_CFG_PATH_LEN];
	size_t n;

	if (sg_cfg_str(ld, obj, path, key, 0, &s) < 0)
		return -1;
	if (!s)
		return 0;
	n = strlen(s);
	sg_cfg_path_key(p, path, key);
	if (s[0] != '/' || strpbrk(s, "?# \t\r\n")) {
		free(s);
		return sg_cfg_fail(ld, p, "expected a URL path starting with '/' (no '?', '#' or spaces)");
	}
	/* Engine.IO clients append the query to "<path>/", so keep exactly one '/'. */
	if (s[n - 1] != '/') {
		if (!(np = realloc(s, n + 2))) {
			free(s);
			return sg_cfg_oom(ld, p);
		}
		s = np;
		memcpy(s + n, "/", 2);
	}
	free(srv->path);
	srv->path = s;
	return 0;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_listen(const void *a, const void *b)
{
	const struct sg_server_config *x = a, *y = b;

	return same_str(x->host, y->host) && x->port == y->port;
}

static int same_admin_listen(const void *a, const void *b)
{
	const struct sg_server_config *x = a, *y = b;

	return same_str(x->admin_host, y->admin_host) && x->admin_port == y->admin_port;
}

static int same_path(const void *a, const void *b)
{
	return same_str(((const struct sg_server_config *)a)->path,
			((const struct sg_server_config *)b)->path);
}

static const char *const event_loop_names[] = {"auto", "poll", "libuv", "glib", NULL};

#define S struct sg_server_config
/* Half a TLS setup is a mistake, never a request for plain HTTP: both keys are required.
 * Its fields are the server's own (the section's offset is 0). */
static const struct sg_cfg_key tls_keys[] = {
	SG_CFG_KEY_STR("cert", S, tls_cert, NULL, SG_CFG_REQUIRED | SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_STR("key", S, tls_key, NULL, SG_CFG_REQUIRED | SG_CFG_NONEMPTY, NULL),
	SG_CFG_KEY_END
};

/* Table order is load order: `path` before `static`, whose mounts must stay outside it. */
static const struct sg_cfg_key server_keys[] = {
	SG_CFG_KEY_CUSTOM("listen", load_listen, same_listen, SG_CFG_RESTART),
	SG_CFG_KEY_CUSTOM("admin_listen", load_admin_listen, same_admin_listen, SG_CFG_RESTART),
	SG_CFG_KEY_CUSTOM("path", load_path, same_path, SG_CFG_RESTART),
	SG_CFG_KEY_CUSTOM("transports", load_transports, NULL, 0),
	SG_CFG_KEY_BOOL("allow_upgrades", S, allow_upgrades, 1, 0),
	SG_CFG_KEY_BOOL("allow_eio3", S, allow_eio3, 0, 0),
	SG_CFG_KEY_U32("ping_interval_ms", S, ping_interval_ms, 1, SG_CFG_MS_MAX, 25000, 0),
	SG_CFG_KEY_U32("ping_timeout_ms", S, ping_timeout_ms, 1, SG_CFG_MS_MAX, 20000, 0),
	SG_CFG_KEY_U32("connect_timeout_ms", S, connect_timeout_ms, 1, SG_CFG_MS_MAX, 45000, 0),
	SG_CFG_KEY_U32("upgrade_timeout_ms", S, upgrade_timeout_ms, 1, SG_CFG_MS_MAX, 10000, 0),
	SG_CFG_KEY_U32("drain_timeout_ms", S, drain_timeout_ms, 1, SG_CFG_MS_MAX, 10000, 0),
	SG_CFG_KEY_U32("header_timeout_ms", S, header_timeout_ms, 1000, 3600000, 10000,
		       SG_CFG_RESTART),
	SG_CFG_KEY_SIZE("max_connections", S, max_connections, 0, 10000000, 0, SG_CFG_RESTART),
	SG_CFG_KEY_ENUM("event_loop", S, event_loop, event_loop_names, "event loop", SG_EVENT_LOOP_AUTO,
			SG_CFG_RESTART),
	SG_CFG_KEY_SIZE("max_payload", S, max_payload, 1, SG_CFG_PAYLOAD_MAX, 1000000, 0),
	SG_CFG_KEY_SIZE("max_send_queue", S, max_send_queue, 1024, SG_CFG_PAYLOAD_MAX, 4u << 20, 0),
	SG_CFG_KEY_SIZE("max_namespaces_per_client", S, max_namespaces_per_client, 1, 100000, 32, 0),
	SG_CFG_KEY_STRV("cors_origins", S, cors_origins, n_cors_origins, 0, sg_cfg_check_origin),
	{ .name = "tls", .type = SG_CFG_SECTION, .flags = SG_CFG_RESTART, .off = 0, .sub = tls_keys },
	SG_CFG_KEY_CUSTOM("static", load_static, NULL, 0),
	SG_CFG_KEY_END
};
#undef S
const struct sg_cfg_key *const sg_server_config_keys = server_keys;

int sg_server_config_init(struct sg_server_config *srv)
{
	if (sg_cfg_defaults(server_keys, srv) < 0)
		return -1;
	srv->port = 3000;
	srv->transports = SG_TRANSPORT_POLLING | SG_TRANSPORT_WEBSOCKET;
	srv->host = strdup("0.0.0.0");
	srv->path = strdup("/socket.io/");
	return srv->host && srv->path ? 0 : -1;
}

int sg_server_config_load(struct sg_cfg_ld *ld, json_t *obj, const char *path,
			  struct sg_server_config *srv)
{
	char p[SG_CFG_PATH_LEN];

	if (sg_cfg_load(ld, obj, path, server_keys, srv) < 0)
		return -1;
	if (srv->admin_host && srv->admin_port == srv->port) {
		sg_cfg_path_key(p, path, "admin_listen");
		return sg_cfg_fail(ld, p, "expected another port than server.listen's %d", srv->port);
	}
	return 0;
}

void sg_server_config_free(struct sg_server_config *srv)
{
	sg_cfg_free(server_keys, srv);
	free(srv->host);
	free(srv->path);
	static_free(srv);
	free(srv->admin_host);
}
