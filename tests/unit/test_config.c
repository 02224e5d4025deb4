/* test_config.c - config loader tests: a folder of valid and invalid files plus API checks. */
/* Included by relative path: the build's top directory holds autoconf's own config.h,
 * which -I. would otherwise find first for a file outside src/. */
#include "../../src/config.h"
#include "../../src/template.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- fixtures ---------------------------------------------------------------------- */

/* The environment every case sees, so results never depend on the machine. */
/* server.event_loop as written (enum sg_event_loop order). */
static const char *const event_loops[] = {"auto", "poll", "libuv", "glib"};

static const char *const fake_env[][2] = {
	{ "PORT", "4000" },
	{ "HOST", "127.0.0.1" },
	{ "TOKEN", "s3cret" },
	{ "EMPTY", "" },
	{ "PING_MS", "1000" },
	{ "UPGRADES", "false" },
	{ "LEVEL", "debug" },
	{ "KAFKA_SERVERS", "kafka-1:9092,kafka-2:9092" },
	{ "SIOGATE_TOKEN", "example-secret" },
	{ "SIOGATE_ADMIN_UI_HASH", "$2b$10$heqvAkYMez.Va6Et2uXInOnkCT6/uQj1brkrbyG3LpopDklcq7ZOS" },
	{ NULL, NULL },
};

static const char *fake_getenv(const char *name, void *ud)
{
	(void)ud;
	for (size_t i = 0; fake_env[i][0]; i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return fake_env[i][1];
	return NULL;
}

/* Where the case folders are: $SG_CONFIG_CASES, else under $srcdir (automake runs tests
 * from the build directory with srcdir set: to the top source directory with our
 * non-recursive Makefile.am, to tests/ with a recursive one), else relative to the top. */
static char cases_dir[1024];

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void find_cases_dir(void)
{
	const char *env = getenv("SG_CONFIG_CASES"), *srcdir = getenv("srcdir");

	if (env && *env) {
		snprintf(cases_dir, sizeof cases_dir, "%s", env);
		return;
	}
	if (srcdir && *srcdir) {
		snprintf(cases_dir, sizeof cases_dir, "%s/tests/unit/config-cases", srcdir);
		if (is_dir(cases_dir))
			return;
		snprintf(cases_dir, sizeof cases_dir, "%s/unit/config-cases", srcdir);
		return;
	}
	snprintf(cases_dir, sizeof cases_dir, "tests/unit/config-cases");
}

/* Case names (file names without ".json") of one folder, sorted. */
struct case_list {
	char **names;
	size_t n;
};

static struct case_list valid_cases, invalid_cases;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_cases(const char *sub, struct case_list *out)
{
	char dir[1200];
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof dir, "%s/%s", cases_dir, sub);
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "test_config: cannot open %s: %s\n", dir, strerror(errno));
		exit(EXIT_FAILURE);
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		out->names = realloc(out->names, (out->n + 1) * sizeof *out->names);
		if (!out->names)
			abort();
		out->names[out->n++] = strndup(e->d_name, len - 5);
	}
	closedir(d);
	qsort(out->names, out->n, sizeof *out->names, cmp_str);
}

static void free_cases(struct case_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL;
	l->n = 0;
}

/* Whole file as a string, or NULL when it does not exist. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/* ---- a flat dump of a loaded config, for .check files ------------------------------ */

static const char *str_or_null(const char *s)
{
	return s ? s : "(null)";
}

static void dump_json(FILE *f, const char *key, const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	fprintf(f, "%s=%s\n", key, str_or_null(s));
	free(s);
}

/* One "key=value" line per field, in a fixed order: a .check file lists lines that must
 * appear, so a case asserts only what it is about. */
static char *dump_config(const struct sg_config *cfg)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	static const char *const formats[] = { "text", "json" };
	const struct sg_server_config *s = &cfg->server;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	fprintf(f, "server.host=%s\nserver.port=%d\nserver.path=%s\n", s->host, s->port, s->path);
	fprintf(f, "server.transports=%s%s%s\n",
		s->transports & SG_TRANSPORT_POLLING ? "polling" : "",
		s->transports == (SG_TRANSPORT_POLLING | SG_TRANSPORT_WEBSOCKET) ? "," : "",
		s->transports & SG_TRANSPORT_WEBSOCKET ? "websocket" : "");
	fprintf(f, "server.allow_upgrades=%s\n", s->allow_upgrades ? "true" : "false");
	fprintf(f, "server.ping_interval_ms=%u\nserver.ping_timeout_ms=%u\n",
		(unsigned)s->ping_interval_ms, (unsigned)s->ping_timeout_ms);
	fprintf(f, "server.connect_timeout_ms=%u\nserver.upgrade_timeout_ms=%u\n",
		(unsigned)s->connect_timeout_ms, (unsigned)s->upgrade_timeout_ms);
	fprintf(f, "server.drain_timeout_ms=%u\n", (unsigned)s->drain_timeout_ms);
	fprintf(f, "server.header_timeout_ms=%u\n", (unsigned)s->header_timeout_ms);
	fprintf(f, "server.max_connections=%zu\n", s->max_connections);
	fprintf(f, "server.event_loop=%s\n", event_loops[s->event_loop]);
	fprintf(f, "server.max_payload=%zu\nserver.max_send_queue=%zu\n", s->max_payload,
		s->max_send_queue);
	fprintf(f, "server.max_namespaces_per_client=%zu\n", s->max_namespaces_per_client);
	fprintf(f, "server.n_cors_origins=%zu\n", s->n_cors_origins);
	for (size_t i = 0; i < s->n_cors_origins; i++)
		fprintf(f, "server.cors_origins[%zu]=%s\n", i, s->cors_origins[i]);
	fprintf(f, "server.tls_cert=%s\nserver.tls_key=%s\n", str_or_null(s->tls_cert),
		str_or_null(s->tls_key));
	fprintf(f, "server.n_static=%zu\n", s->n_static);
	for (size_t i = 0; i < s->n_static; i++)
		fprintf(f, "server.static[%zu]=%s %s %s\n", i, s->static_mounts[i].url, s->static_mounts[i].dir,
			s->static_mounts[i].index[0] ? s->static_mounts[i].index : "(no index)");
	fprintf(f, "server.admin_host=%s\nserver.admin_port=%d\n", str_or_null(s->admin_host),
		s->admin_port);
	fprintf(f, "log.level=%s\nlog.format=%s\n", levels[cfg->log.level],
		formats[cfg->log.format]);
	dump_json(f, "brokers", cfg->brokers);
	fprintf(f, "n_namespaces=%zu\n", cfg->n_namespaces);
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const struct sg_nsp_config *n = &cfg->namespaces[i];
		const struct sg_room_policy *r = &n->rooms;
		char key[128];

		fprintf(f, "namespaces[%zu].name=%s\n", i, str_or_null(n->name));
		fprintf(f, "namespaces[%zu].match=%s\n", i, str_or_null(n->match));
		fprintf(f, "namespaces[%zu].n_middleware=%zu\n", i, n->n_middleware);
		for (size_t j = 0; j < n->n_middleware; j++) {
			const struct sg_mw_config *m = &n->middleware[j];

			snprintf(key, sizeof key, "namespaces[%zu].middleware[%zu].", i, j);
			fprintf(f, "%stype=%s\n", key,
				m->type == SG_MW_TOKEN ? "token" : m->type == SG_MW_ORIGIN ? "origin" :
				m->type == SG_MW_JWT ? "jwt" : "http");
			fprintf(f, "%salgorithms=%s%s%s%s%s\n", key,
				m->algorithms & SG_JWT_HS256 ? "HS256," : "", m->algorithms & SG_JWT_HS384 ? "HS384," : "",
				m->algorithms & SG_JWT_HS512 ? "HS512," : "", m->algorithms & SG_JWT_RS256 ? "RS256," : "",
				m->algorithms & SG_JWT_ES256 ? "ES256," : "");
			fprintf(f, "%sissuer=%s\n", key, str_or_null(m->issuer));
			fprintf(f, "%saudience=%s\n", key, str_or_null(m->audience));
			fprintf(f, "%sleeway_s=%u\n", key, (unsigned)m->leeway_s);
			fprintf(f, "%skey_pem_len=%zu\n", key, m->key_pem_len);
			fprintf(f, "%ssecret=%s\n", key, str_or_null(m->secret));
			fprintf(f, "%sauth_field=%s\n", key, str_or_null(m->auth_field));
			fprintf(f, "%sheader=%s\n", key, str_or_null(m->header));
			fprintf(f, "%smessage=%s\n", key, str_or_null(m->message));
			fprintf(f, "%sn_origins=%zu\n", key, m->n_origins);
			for (size_t k = 0; k < m->n_origins; k++)
				fprintf(f, "%sorigins[%zu]=%s\n", key, k, m->origins[k]);
			fprintf(f, "%surl=%s\n%surl_host=%s\n%surl_port=%d\n%surl_path=%s\n", key,
				str_or_null(m->url), key, str_or_null(m->url_host), key, m->url_port, key,
				str_or_null(m->url_path));
			fprintf(f, "%stimeout_ms=%u\n%scache_ms=%u\n%sn_headers=%zu\n", key,
				(unsigned)m->timeout_ms, key, (unsigned)m->cache_ms, key, m->n_headers);
			for (size_t k = 0; k < m->n_headers; k++)
				fprintf(f, "%sheaders[%zu]=%s\n", key, k, m->headers[k]);
		}
		snprintf(key, sizeof key, "namespaces[%zu].rooms.", i);
		fprintf(f, "%sn_auto_join=%zu\n", key, r->n_auto_join);
		for (size_t k = 0; k < r->n_auto_join; k++)
			fprintf(f, "%sauto_join[%zu]=%s\n", key, k, r->auto_join[k]);
		fprintf(f, "%sclient_join=%s\n", key, r->client_join ? "true" : "false");
		fprintf(f, "%sjoin_event=%s\n%sleave_event=%s\n", key, r->join_event, key,
			r->leave_event);
		fprintf(f, "%sallow=%s\n%smax_rooms=%zu\n", key, str_or_null(r->allow), key,
			r->max_rooms);
		if (n->recovery.enabled) {
			const struct sg_recovery_config *rc = &n->recovery;

			snprintf(key, sizeof key, "namespaces[%zu].recovery.", i);
			fprintf(f, "%smax_disconnection_ms=%u\n%sskip_middleware=%s\n", key,
				(unsigned)rc->max_disconnection_ms, key, rc->skip_middleware ? "true" : "false");
			fprintf(f, "%smax_packets=%zu\n%smax_bytes=%zu\n%smax_sessions=%zu\n", key, rc->max_packets,
				key, rc->max_bytes, key, rc->max_sessions);
			fprintf(f, "%ssessions_topic=%s\n", key, str_or_null(rc->sessions_topic));
		}
		snprintf(key, sizeof key, "namespaces[%zu].bridge", i);
		dump_json(f, key, n->bridge);
	}
	if (cfg->admin_ui.enabled) {
		const struct sg_admin_ui_config *a = &cfg->admin_ui;

		fprintf(f, "admin_ui.namespace=%s\nadmin_ui.auth=%s\n", a->nsp, a->auth_off ? "false" : "on");
		fprintf(f, "admin_ui.auth.username=%s\nadmin_ui.auth.password_hash=%s\n", str_or_null(a->username),
			str_or_null(a->password_hash));
		fprintf(f, "admin_ui.mode=%s\nadmin_ui.read_only=%s\nadmin_ui.stats_interval_ms=%u\n",
			a->mode == SG_ADMIN_UI_PRODUCTION ? "production" : "development", a->read_only ? "true" : "false",
			(unsigned)a->stats_interval_ms);
		fprintf(f, "admin_ui.server_id=%s\n", a->server_id ? "(set)" : "(null)");
	}
	fclose(f);
	return buf;
}

static int has_line(const char *dump, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = dump; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Every non-blank, non-comment line of `check` must be a whole line of `dump`. */
static void assert_check_lines(const char *name, const char *dump, char *check)
{
	for (char *save = NULL, *line = strtok_r(check, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		chomp(line);
		if (!*line || line[0] == '#')
			continue;
		ck_assert_msg(has_line(dump, line), "valid/%s: expected line '%s' in:\n%s", name,
			      line, dump);
	}
}

/* ---- the data-driven cases --------------------------------------------------------- */

START_TEST(test_valid_case)
{
	const char *name = valid_cases.names[_i];
	char path[1400], err[SG_CONFIG_ERR_MAX] = "", *text, *check, *dump;
	struct sg_config *cfg;

	snprintf(path, sizeof path, "%s/valid/%s.json", cases_dir, name);
	text = slurp(path);
	ck_assert_msg(text != NULL, "cannot read %s", path);

	cfg = sg_config_load_string(text, fake_getenv, NULL, err);
	ck_assert_msg(cfg != NULL, "valid/%s: load_string failed: %s", name, err);
	dump = dump_config(cfg);
	sg_config_destroy(cfg);

	/* The file path must give the same config as the text. */
	cfg = sg_config_load_file(path, fake_getenv, NULL, err);
	ck_assert_msg(cfg != NULL, "valid/%s: load_file failed: %s", name, err);
	{
		char *dump2 = dump_config(cfg);

		ck_assert_str_eq(dump, dump2);
		free(dump2);
	}
	sg_config_destroy(cfg);

	snprintf(path, sizeof path, "%s/valid/%s.check", cases_dir, name);
	check = slurp(path);
	if (check)
		assert_check_lines(name, dump, check);
	free(check);
	free(dump);
	free(text);
}
END_TEST

START_TEST(test_invalid_case)
{
	const char *name = invalid_cases.names[_i];
	char path[1400], errpath[1400], err[SG_CONFIG_ERR_MAX] = "", want_file[2048];
	char *text, *want;
	struct sg_config *cfg;

	snprintf(path, sizeof path, "%s/invalid/%s.json", cases_dir, name);
	snprintf(errpath, sizeof errpath, "%s/invalid/%s.err", cases_dir, name);
	text = slurp(path);
	want = slurp(errpath);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	ck_assert_msg(want != NULL, "invalid/%s: missing %s", name, errpath);
	chomp(want);

	cfg = sg_config_load_string(text, fake_getenv, NULL, err);
	ck_assert_msg(cfg == NULL, "invalid/%s: loaded but should fail with: %s", name, want);
	ck_assert_msg(strcmp(err, want) == 0, "invalid/%s:\n  want: %s\n  got:  %s", name, want,
		      err);

	/* Loading the file gives the same error; a syntax error names the file instead of
	 * "(string)". */
	if (strncmp(want, "(string):", 9) == 0)
		snprintf(want_file, sizeof want_file, "%s%s", path, want + 8);
	else
		snprintf(want_file, sizeof want_file, "%s", want);
	cfg = sg_config_load_file(path, fake_getenv, NULL, err);
	ck_assert_msg(cfg == NULL, "invalid/%s: load_file succeeded", name);
	ck_assert_msg(strcmp(err, want_file) == 0, "invalid/%s (file):\n  want: %s\n  got:  %s",
		      name, want_file, err);
	free(want);
	free(text);
}
END_TEST

/* ---- values asserted in C ---------------------------------------------------------- */

static struct sg_config *load_case(const char *rel)
{
	char path[1400], err[SG_CONFIG_ERR_MAX] = "";
	struct sg_config *cfg;

	snprintf(path, sizeof path, "%s/%s", cases_dir, rel);
	cfg = sg_config_load_file(path, fake_getenv, NULL, err);
	ck_assert_msg(cfg != NULL, "%s: %s", path, err);
	return cfg;
}

START_TEST(test_defaults)
{
	struct sg_config *cfg = sg_config_default(), *empty = load_case("valid/minimal.json");
	char *d1, *d2;

	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->server.host, "0.0.0.0");
	ck_assert_int_eq(cfg->server.port, 3000);
	ck_assert_str_eq(cfg->server.path, "/socket.io/");
	ck_assert_uint_eq(cfg->server.transports, SG_TRANSPORT_POLLING | SG_TRANSPORT_WEBSOCKET);
	ck_assert_int_eq(cfg->server.allow_upgrades, 1);
	ck_assert_uint_eq(cfg->server.ping_interval_ms, 25000);
	ck_assert_uint_eq(cfg->server.ping_timeout_ms, 20000);
	ck_assert_uint_eq(cfg->server.connect_timeout_ms, 45000);
	ck_assert_uint_eq(cfg->server.upgrade_timeout_ms, 10000);
	ck_assert_uint_eq(cfg->server.drain_timeout_ms, 10000);
	ck_assert_uint_eq(cfg->server.header_timeout_ms, 10000);
	ck_assert_uint_eq(cfg->server.max_connections, 0);
	ck_assert_uint_eq(cfg->server.max_payload, 1000000);
	ck_assert_uint_eq(cfg->server.max_send_queue, 4194304);
	ck_assert_uint_eq(cfg->server.max_namespaces_per_client, 32);
	ck_assert_uint_eq(cfg->server.n_cors_origins, 0);
	ck_assert_ptr_null(cfg->server.tls_cert);
	ck_assert_ptr_null(cfg->server.tls_key);
	ck_assert_int_eq(cfg->log.level, SG_LOG_INFO);
	ck_assert_int_eq(cfg->log.format, SG_LOG_TEXT);
	ck_assert(json_is_object(cfg->brokers));
	ck_assert_uint_eq(json_object_size(cfg->brokers), 0);
	ck_assert_uint_eq(cfg->n_namespaces, 0);
	ck_assert_ptr_null(sg_config_find_nsp(cfg, "/"));

	/* "{}" means exactly the defaults. */
	d1 = dump_config(cfg);
	d2 = dump_config(empty);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	sg_config_destroy(empty);
	sg_config_destroy(cfg);
}
END_TEST

START_TEST(test_full_values)
{
	struct sg_config *cfg = load_case("valid/full.json");
	const struct sg_nsp_config *chat, *tenant;
	const struct sg_mw_config *tok, *org;

	ck_assert_str_eq(cfg->server.host, "127.0.0.1");
	ck_assert_int_eq(cfg->server.port, 8443);
	ck_assert_str_eq(cfg->server.path, "/rt/");
	ck_assert_uint_eq(cfg->server.transports, SG_TRANSPORT_WEBSOCKET);
	ck_assert_int_eq(cfg->server.allow_upgrades, 0);
	ck_assert_uint_eq(cfg->server.ping_interval_ms, 300);
	ck_assert_uint_eq(cfg->server.ping_timeout_ms, 200);
	ck_assert_uint_eq(cfg->server.max_send_queue, 1024);
	ck_assert_uint_eq(cfg->server.n_cors_origins, 2);
	ck_assert_str_eq(cfg->server.cors_origins[1], "https://app.example.com");
	ck_assert_str_eq(cfg->server.tls_cert, "/etc/siogate/tls/cert.pem");
	ck_assert_str_eq(cfg->server.tls_key, "/etc/siogate/tls/key.pem");
	ck_assert_int_eq(cfg->log.level, SG_LOG_DEBUG);
	ck_assert_int_eq(cfg->log.format, SG_LOG_JSON);
	ck_assert_uint_eq(cfg->n_namespaces, 2);

	chat = sg_config_find_nsp(cfg, "/chat");
	ck_assert_ptr_eq(chat, &cfg->namespaces[0]);
	ck_assert_ptr_null(chat->match_re);
	ck_assert_uint_eq(chat->n_middleware, 2);
	tok = &chat->middleware[0];
	org = &chat->middleware[1];
	ck_assert_int_eq(tok->type, SG_MW_TOKEN);
	ck_assert_str_eq(tok->secret, "s3cret");
	ck_assert_str_eq(tok->auth_field, "key");
	ck_assert_str_eq(tok->header, "x-siogate-token");
	ck_assert_str_eq(tok->message, "go away");
	ck_assert_int_eq(org->type, SG_MW_ORIGIN);
	ck_assert_uint_eq(org->n_origins, 1);
	ck_assert_str_eq(org->origins[0], "https://app.example.com");
	ck_assert_str_eq(org->message, "origin not allowed");
	ck_assert_uint_eq(chat->rooms.n_auto_join, 2);
	ck_assert_str_eq(chat->rooms.auto_join[0], "user:{auth.user}");
	ck_assert_int_eq(chat->rooms.client_join, 1);
	ck_assert_ptr_nonnull(chat->rooms.allow_re);
	ck_assert_int_eq(sg_regex_full_match(chat->rooms.allow_re, "room:1"), 1);
	ck_assert_int_eq(sg_regex_full_match(chat->rooms.allow_re, "room 1"), 0);
	ck_assert_uint_eq(chat->rooms.max_rooms, 8);
	ck_assert_ptr_null(chat->bridge);

	tenant = sg_config_find_nsp(cfg, "/tenant-42");
	ck_assert_ptr_eq(tenant, &cfg->namespaces[1]);
	ck_assert_ptr_null(tenant->name);
	ck_assert_str_eq(tenant->match, "^/tenant-[0-9]+$");
	ck_assert_uint_eq(tenant->n_middleware, 0);
	ck_assert_ptr_null(tenant->rooms.allow_re);
	ck_assert_int_eq(tenant->rooms.client_join, 0);
	ck_assert_str_eq(tenant->rooms.join_event, "join");
	ck_assert_str_eq(tenant->rooms.leave_event, "leave");
	ck_assert_uint_eq(tenant->rooms.max_rooms, 64);
	ck_assert_ptr_null(sg_config_find_nsp(cfg, "/tenant-x"));
	ck_assert_ptr_null(sg_config_find_nsp(cfg, "/"));
	sg_config_destroy(cfg);
}
END_TEST

START_TEST(test_env_values)
{
	struct sg_config *cfg = load_case("valid/env-driven.json");
	const struct sg_nsp_config *n = &cfg->namespaces[0];

	ck_assert_str_eq(cfg->server.host, "127.0.0.1");
	ck_assert_int_eq(cfg->server.port, 4000);
	ck_assert_uint_eq(cfg->server.ping_interval_ms, 1000);   /* "${PING_MS}" */
	ck_assert_uint_eq(cfg->server.ping_timeout_ms, 5000);    /* "${NOPE:-5000}" */
	ck_assert_int_eq(cfg->server.allow_upgrades, 0);         /* "${UPGRADES}" */
	ck_assert_int_eq(cfg->log.level, SG_LOG_DEBUG);
	ck_assert_str_eq(n->name, "/${literal}");                /* "$${literal}" */
	ck_assert_str_eq(n->middleware[0].secret, "s3cret");
	ck_assert_str_eq(n->middleware[0].message, "fallback");  /* "${EMPTY:-fallback}" */
	ck_assert_str_eq(n->middleware[0].auth_field, "token-");  /* "token-${EMPTY}" */
	sg_config_destroy(cfg);
}
END_TEST

/* The shipped example must stay loadable: it is what people copy. */
START_TEST(test_example_file)
{
	struct sg_config *cfg = load_case("../../../etc/siogate.example.json");

	ck_assert_int_eq(cfg->server.port, 3000);
	ck_assert_ptr_nonnull(sg_config_find_nsp(cfg, "/chat"));
	ck_assert_ptr_nonnull(sg_config_find_nsp(cfg, "/tenant-7"));
	sg_config_destroy(cfg);
}
END_TEST

/* ---- API corners ------------------------------------------------------------------- */

START_TEST(test_destroy_null)
{
	sg_config_destroy(NULL);
}
END_TEST

START_TEST(test_file_errors)
{
	char path[1400], want[2048], err[SG_CONFIG_ERR_MAX];

	snprintf(path, sizeof path, "%s/no-such-file.json", cases_dir);
	ck_assert_ptr_null(sg_config_load_file(path, fake_getenv, NULL, err));
	snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
	ck_assert_str_eq(err, want);

	snprintf(path, sizeof path, "%s/valid", cases_dir);
	ck_assert_ptr_null(sg_config_load_file(path, fake_getenv, NULL, err));
	snprintf(want, sizeof want, "%s: %s", path, strerror(EISDIR));
	ck_assert_str_eq(err, want);

	/* A NULL error buffer is allowed. */
	ck_assert_ptr_null(sg_config_load_string("[]", fake_getenv, NULL, NULL));
	ck_assert_ptr_null(sg_config_load_file(path, fake_getenv, NULL, NULL));
}
END_TEST

START_TEST(test_real_getenv)
{
	char err[SG_CONFIG_ERR_MAX];
	struct sg_config *cfg;

	ck_assert_int_eq(setenv("SG_TEST_CONFIG_PORT", "4567", 1), 0);
	cfg = sg_config_load_string("{\"server\": {\"listen\": \":${SG_TEST_CONFIG_PORT}\"}}",
				    NULL, NULL, err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->server.port, 4567);
	sg_config_destroy(cfg);
	unsetenv("SG_TEST_CONFIG_PORT");
}
END_TEST

/* The user data pointer reaches the callback untouched. */
static const char *ud_getenv(const char *name, void *ud)
{
	return strcmp(name, "X") == 0 ? (const char *)ud : NULL;
}

START_TEST(test_getenv_ud)
{
	char err[SG_CONFIG_ERR_MAX];
	struct sg_config *cfg;

	cfg = sg_config_load_string("{\"server\": {\"path\": \"/${X}\"}}", ud_getenv, "abc", err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->server.path, "/abc/");
	sg_config_destroy(cfg);
}
END_TEST

START_TEST(test_find_nsp_order)
{
	/* A pattern listed first still loses to a static name, and patterns are tried in
	 * file order. */
	const char *text = "{\"namespaces\": ["
			   "{\"match\": \"/a.*\"},"
			   "{\"match\": \"/ab.*\", \"rooms\": {\"max_rooms\": 2}},"
			   "{\"name\": \"/abc\"}]}";
	char err[SG_CONFIG_ERR_MAX];
	struct sg_config *cfg = sg_config_load_string(text, fake_getenv, NULL, err);

	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_ptr_eq(sg_config_find_nsp(cfg, "/abc"), &cfg->namespaces[2]);
	ck_assert_ptr_eq(sg_config_find_nsp(cfg, "/abd"), &cfg->namespaces[0]);
	ck_assert_ptr_eq(sg_config_find_nsp(cfg, "/a"), &cfg->namespaces[0]);
	/* The match is on the whole name, never a substring. */
	ck_assert_ptr_null(sg_config_find_nsp(cfg, "/x/abc"));
	ck_assert_ptr_null(sg_config_find_nsp(cfg, "/b"));
	ck_assert_ptr_null(sg_config_find_nsp(cfg, NULL));
	ck_assert_ptr_null(sg_config_find_nsp(NULL, "/abc"));
	sg_config_destroy(cfg);
}
END_TEST

START_TEST(test_regex_full_match)
{
	static const struct {
		const char *re, *s;
		int want;
	} t[] = {
		{ "abc", "abc", 1 },
		{ "abc", "xabc", 0 },
		{ "abc", "abcx", 0 },
		{ "b", "abc", 0 },
		{ "a|ab", "ab", 1 },          /* leftmost-longest, not first alternative */
		{ "[a-z]+", "", 0 },
		{ "[a-z]*", "", 1 },
		{ "^/tenant-[0-9]+$", "/tenant-12", 1 },
		{ "^/tenant-[0-9]+$", "/tenant-", 0 },
		{ "(x|y){2}", "xy", 1 },
		{ "(x|y){2}", "xyx", 0 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		regex_t re;

		ck_assert_int_eq(regcomp(&re, t[i].re, REG_EXTENDED), 0);
		ck_assert_msg(sg_regex_full_match(&re, t[i].s) == t[i].want, "'%s' on '%s'",
			      t[i].re, t[i].s);
		regfree(&re);
	}
}
END_TEST

START_TEST(test_template_check)
{
	static const struct {
		const char *tpl, *why; /* why NULL: valid */
	} t[] = {
		{ "lobby", NULL },
		{ "user:{auth.user}", NULL },
		{ "{nsp}:{sid}", NULL },
		{ "{query.room}", NULL },
		{ "t-{auth.tenant_id}-{query.a-b}", NULL },
		{ "", "empty template" },
		{ "{foo}", "unknown placeholder '{foo}'" },
		{ "{auth}", "unknown placeholder '{auth}'" },
		{ "{NSP}", "unknown placeholder '{NSP}'" },
		{ "{}", "unknown placeholder '{}'" },
		{ "{auth.}", "empty key in placeholder '{auth.}'" },
		{ "{query.a b}",
		  "invalid key in placeholder '{query.a b}' (allowed: A-Z a-z 0-9 _ -)" },
		{ "user:{auth.user", "unclosed '{'" },
		{ "{auth.{sid}}", "unclosed '{'" },
		{ "a}b", "unmatched '}'" },
		{ "{sid}}", "unmatched '}'" },
	};
	char why[128];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		strcpy(why, "untouched");
		if (!t[i].why) {
			ck_assert_msg(sg_template_check(t[i].tpl, why, sizeof why) == 0,
				      "'%s': %s", t[i].tpl, why);
			continue;
		}
		ck_assert_msg(sg_template_check(t[i].tpl, why, sizeof why) == -1, "'%s'",
			      t[i].tpl);
		ck_assert_str_eq(why, t[i].why);
	}
	/* No reason buffer: still answers; a short one is cut, never overrun. */
	ck_assert_int_eq(sg_template_check("{foo}", NULL, 0), -1);
	ck_assert_int_eq(sg_template_check(NULL, why, sizeof why), -1);
	ck_assert_int_eq(sg_template_check("{foo}", why, 4), -1);
	ck_assert_str_eq(why, "unk");
}
END_TEST

/* An error text is bounded by SG_CONFIG_ERR_MAX whatever the input. */
START_TEST(test_long_error)
{
	char err[SG_CONFIG_ERR_MAX], *text;
	size_t n = 5000;

	text = malloc(n + 64);
	ck_assert_ptr_nonnull(text);
	strcpy(text, "{\"server\": {\"");
	memset(text + strlen(text), 'k', n);
	strcpy(text + strlen("{\"server\": {\"") + n, "\": 1}}");
	ck_assert_ptr_null(sg_config_load_string(text, fake_getenv, NULL, err));
	ck_assert_uint_eq(strlen(err), SG_CONFIG_ERR_MAX - 1);
	ck_assert(strncmp(err, "server: unknown key 'kkk", 24) == 0);
	free(text);
}
END_TEST

/* A reload warns about exactly the settings marked "restart" in their section's table
 * that changed: not the ones a reload applies, not the unchanged ones. */
struct found_keys {
	char list[256];
};

static void add_found(void *ud, const char *key_path)
{
	struct found_keys *f = ud;
	size_t n = strlen(f->list);

	snprintf(f->list + n, sizeof f->list - n, "%s%s", n ? " " : "", key_path);
}

START_TEST(test_restart_changes)
{
	struct sg_config *a = sg_config_load_string(
		"{\"server\": {\"listen\": \"127.0.0.1:3000\", \"ping_interval_ms\": 1000,"
		" \"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\"}}}", NULL, NULL, NULL);
	struct sg_config *b = sg_config_load_string(
		"{\"server\": {\"listen\": \"127.0.0.1:3001\", \"ping_interval_ms\": 2000,"
		" \"tls\": {\"cert\": \"c.pem\", \"key\": \"k2.pem\"}, \"max_connections\": 9},"
		" \"log\": {\"level\": \"debug\"}}", NULL, NULL, NULL);
	struct sg_config *c = sg_config_load_string(
		"{\"server\": {\"listen\": \"127.0.0.1:3000\", \"ping_interval_ms\": 5,"
		" \"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\"}}}", NULL, NULL, NULL);
	struct found_keys f = { "" };

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(c);
	sg_config_restart_changes(a, b, add_found, &f);
	ck_assert_str_eq(f.list, "server.listen server.max_connections server.tls");
	f.list[0] = '\0';
	sg_config_restart_changes(a, c, add_found, &f);
	ck_assert_str_eq(f.list, "");
	sg_config_destroy(a);
	sg_config_destroy(b);
	sg_config_destroy(c);
}
END_TEST

/* The tables' defaults are the documented ones, for a section present but empty too. */
START_TEST(test_table_defaults)
{
	struct sg_config *d = sg_config_default();
	struct sg_config *e = sg_config_load_string(
		"{\"server\": {}, \"log\": {}, \"namespaces\": [{\"name\": \"/a\", \"rooms\": {},"
		" \"middleware\": [{\"type\": \"http\", \"url\": \"http://h/\"}]}]}", NULL, NULL, NULL);
	const struct sg_nsp_config *n;

	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(d->server.ping_interval_ms, 25000);
	ck_assert_int_eq(e->server.ping_timeout_ms, 20000);
	ck_assert_uint_eq(e->server.max_send_queue, 4u << 20);
	ck_assert_uint_eq(e->server.max_namespaces_per_client, 32);
	ck_assert_int_eq(e->server.allow_upgrades, 1);
	ck_assert_str_eq(e->server.host, "0.0.0.0");
	ck_assert_int_eq(e->server.port, 3000);
	ck_assert_str_eq(e->server.path, "/socket.io/");
	ck_assert_int_eq(e->log.level, SG_LOG_INFO);
	n = sg_config_find_nsp(e, "/a");
	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(n->rooms.join_event, "join");
	ck_assert_str_eq(n->rooms.leave_event, "leave");
	ck_assert_uint_eq(n->rooms.max_rooms, 64);
	ck_assert_uint_eq(n->middleware[0].timeout_ms, 5000);
	ck_assert_str_eq(n->middleware[0].message, "unauthorized");
	sg_config_destroy(d);
	sg_config_destroy(e);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("cases");
	TCase *api = tcase_create("api");

	tcase_add_loop_test(tc, test_valid_case, 0, (int)valid_cases.n);
	tcase_add_loop_test(tc, test_invalid_case, 0, (int)invalid_cases.n);
	suite_add_tcase(s, tc);

	tcase_add_test(api, test_defaults);
	tcase_add_test(api, test_full_values);
	tcase_add_test(api, test_env_values);
	tcase_add_test(api, test_example_file);
	tcase_add_test(api, test_destroy_null);
	tcase_add_test(api, test_file_errors);
	tcase_add_test(api, test_real_getenv);
	tcase_add_test(api, test_getenv_ud);
	tcase_add_test(api, test_find_nsp_order);
	tcase_add_test(api, test_regex_full_match);
	tcase_add_test(api, test_template_check);
	tcase_add_test(api, test_long_error);
	tcase_add_test(api, test_restart_changes);
	tcase_add_test(api, test_table_defaults);
	suite_add_tcase(s, api);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	find_cases_dir();
	list_cases("valid", &valid_cases);
	list_cases("invalid", &invalid_cases);
	printf("config cases from %s: %zu valid, %zu invalid\n", cases_dir, valid_cases.n,
	       invalid_cases.n);
	/* Too few cases means the folder was not found, not that everything passed. */
	if (valid_cases.n < 6 || invalid_cases.n < 35) {
		fprintf(stderr, "test_config: too few cases in %s\n", cases_dir);
		return EXIT_FAILURE;
	}

	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free_cases(&valid_cases);
	free_cases(&invalid_cases);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
