/* fuzz_config.c - the config loader (JSON parse, ${VAR} / ${VAR:-default} expansion,
 * validation), with the fixed fake environment the unit tests use.
 *
 * Input: the config text (a NUL byte ends it, as for a C string).
 *
 * Invariants: exactly one of (a config, an error text) comes back; the error is a
 * terminated string within SG_CONFIG_ERR_MAX; a loaded config keeps the documented
 * shape (path ends with '/', a transport, every namespace named or matched, lookups by
 * each name work); loading is deterministic. */
#include "config.h"
#include "template.h"

#include "common.h"

static const char *const fake_env[][2] = {
	{"PORT", "4000"},
	{"HOST", "127.0.0.1"},
	{"TOKEN", "s3cret"},
	{"EMPTY", ""},
	{"PING_MS", "1000"},
	{"UPGRADES", "false"},
	{"LEVEL", "debug"},
	{"KAFKA_SERVERS", "kafka-1:9092,kafka-2:9092"},
	{"SIOGATE_TOKEN", "example-secret"},
	{NULL, NULL},
};

static const char *fake_getenv(const char *name, void *ud)
{
	FUZZ_CHECK(ud == (void *)fake_env);
	FUZZ_CHECK(name != NULL);
	for (size_t i = 0; fake_env[i][0]; i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return fake_env[i][1];
	return NULL;
}

static void check_config(const struct sg_config *cfg)
{
	const struct sg_server_config *s = &cfg->server;

	FUZZ_CHECK(s->host != NULL);
	FUZZ_CHECK(s->port >= 0 && s->port <= 65535);
	FUZZ_CHECK(s->path != NULL && s->path[0] != '\0' && s->path[strlen(s->path) - 1] == '/');
	FUZZ_CHECK(s->transports != 0 &&
		   (s->transports & ~(SG_TRANSPORT_POLLING | SG_TRANSPORT_WEBSOCKET)) == 0);
	FUZZ_CHECK(s->n_cors_origins == 0 || s->cors_origins != NULL);
	for (size_t i = 0; i < s->n_cors_origins; i++)
		FUZZ_CHECK(s->cors_origins[i] != NULL);
	FUZZ_CHECK((s->tls_cert == NULL) == (s->tls_key == NULL));
	FUZZ_CHECK(cfg->log.level >= SG_LOG_ERROR && cfg->log.level <= SG_LOG_DEBUG);
	FUZZ_CHECK(cfg->brokers != NULL && json_is_object(cfg->brokers));
	FUZZ_CHECK(cfg->n_namespaces == 0 || cfg->namespaces != NULL);
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const struct sg_nsp_config *n = &cfg->namespaces[i];

		FUZZ_CHECK((n->name != NULL) != (n->match != NULL));
		FUZZ_CHECK((n->match != NULL) == (n->match_re != NULL));
		FUZZ_CHECK(n->n_middleware == 0 || n->middleware != NULL);
		for (size_t j = 0; j < n->n_middleware; j++) {
			const struct sg_mw_config *mw = &n->middleware[j];

			FUZZ_CHECK(mw->type >= SG_MW_TOKEN); /* the enum grows (jwt) */
			for (size_t k = 0; k < mw->n_origins; k++)
				FUZZ_CHECK(mw->origins[k] != NULL);
		}
		FUZZ_CHECK((n->rooms.allow != NULL) == (n->rooms.allow_re != NULL));
		for (size_t j = 0; j < n->rooms.n_auto_join; j++)
			FUZZ_CHECK(sg_template_check(n->rooms.auto_join[j], NULL, 0) == 0);
		if (n->name) {
			const struct sg_nsp_config *f = sg_config_find_nsp(cfg, n->name);

			/* A static name finds itself (the first one of that name). */
			FUZZ_CHECK(f != NULL && f->name != NULL && strcmp(f->name, n->name) == 0);
		} else {
			/* Exercise the regexes on some names. */
			(void)sg_regex_full_match(n->match_re, "/");
			(void)sg_regex_full_match(n->match_re, n->match);
			(void)sg_config_find_nsp(cfg, n->match);
		}
		if (n->rooms.allow_re)
			(void)sg_regex_full_match(n->rooms.allow_re, "room-1");
	}
	(void)sg_config_find_nsp(cfg, "/");
	(void)sg_config_find_nsp(cfg, "/chat");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = (char *)fuzz_dup(data, size, 1);
	char err[SG_CONFIG_ERR_MAX], err2[SG_CONFIG_ERR_MAX];
	struct sg_config *cfg, *cfg2;

	memset(err, 0x55, sizeof(err));
	cfg = sg_config_load_string(text, fake_getenv, (void *)fake_env, err);
	if (cfg) {
		check_config(cfg);
	} else {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0');
	}

	memset(err2, 0x55, sizeof(err2));
	cfg2 = sg_config_load_string(text, fake_getenv, (void *)fake_env, err2);
	FUZZ_CHECK((cfg == NULL) == (cfg2 == NULL));
	if (!cfg)
		FUZZ_CHECK(strcmp(err, err2) == 0);
	sg_config_destroy(cfg);
	sg_config_destroy(cfg2);
	free(text);
	return 0;
}
