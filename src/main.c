/* main.c - the siogate daemon: command line, config, signals, and the loop's lifetime. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridges.h"
#include "gateway.h"
#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/siogate/siogate.json"
/* --health / --ready give up after this: a container probe must not hang. */
#define PROBE_TIMEOUT_MS 3000

/* The one global: the signal handlers need to reach the loop. */
static struct sg_gateway *g_gateway;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		if (g_gateway)
			sg_gateway_request_reload(g_gateway);
		return;
	}
	if (g_signals++) /* a second signal: stop waiting for the drain */
		_exit(1);
	if (g_gateway)
		sg_gateway_stop(g_gateway);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: siogate [-c FILE] [--check-config | --health | --ready]\n"
		"A Socket.IO gateway that bridges namespaces and rooms to message brokers.\n\n"
		"  -c, --config FILE   configuration file (default: $SIOGATE_CONFIG, else %s)\n"
		"                      bridge plugins are found in $SIOGATE_PLUGIN_PATH, else %s\n"
		"      --check-config  validate the configuration and exit (0 when valid)\n"
		"      --health        probe the running daemon's /healthz (on admin_listen if set,\n"
		"                      else listen) and exit 0 when it answers 200 (container HEALTHCHECK)\n"
		"      --ready         the same for /readyz\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n",
		DEFAULT_CONFIG, SG_PLUGIN_DIR);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'C'},
		{"health", no_argument, NULL, 'H'},
		{"ready", no_argument, NULL, 'R'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SIOGATE_CONFIG");
	char err[SG_CONFIG_ERR_MAX];
	struct sg_config *cfg = NULL;
	const char *probe = NULL;
	int check_only = 0, opt, rc, v6;
	struct sigaction sa;

	while ((opt = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check_only = 1;
			break;
		case 'H':
			probe = "/healthz";
			break;
		case 'R':
			probe = "/readyz";
			break;
		case 'V':
			printf("siogate %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "siogate: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!path || !path[0])
		path = DEFAULT_CONFIG;

	cfg = sg_config_load_file(path, NULL, NULL, err);
	if (!cfg) {
		fprintf(stderr, "siogate: invalid configuration: %s\n", err);
		return 1;
	}
	if (probe) {
		char why[256];

		rc = sg_server_probe(&cfg->server, probe, PROBE_TIMEOUT_MS, why, sizeof(why));
		sg_config_destroy(cfg);
		if (rc)
			fprintf(stderr, "siogate: %s: %s\n", probe + 1, why);
		return rc ? 1 : 0;
	}
	if (check_only) {
		/* The bridge plugins validate their own objects: load them too. */
		struct sg_bridges *b = sg_bridges_load(cfg, sg_bridges_default_path(), err);

		sg_config_destroy(cfg);
		if (!b) {
			fprintf(stderr, "siogate: invalid configuration: %s\n", err);
			return 1;
		}
		sg_bridges_destroy(b);
		printf("%s: configuration is valid\n", path);
		return 0;
	}
	sg_log_set(cfg->log.level, cfg->log.format);

	g_gateway = sg_gateway_create(cfg); /* takes cfg */
	if (!g_gateway) {
		sg_err("siogate", NULL, "could not start");
		return 1;
	}
	if (sg_gateway_set_config_path(g_gateway, path)) {
		sg_gateway_destroy(g_gateway);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	cfg = (struct sg_config *)sg_gateway_config(g_gateway);
	v6 = strchr(cfg->server.host, ':') != NULL;
	sg_info("siogate", NULL, "siogate %s listening on %s%s%s:%d%s (config %s, %zu namespace(s))",
		PACKAGE_VERSION, v6 ? "[" : "", cfg->server.host, v6 ? "]" : "", sg_server_port(sg_gateway_server(g_gateway)),
		cfg->server.path, path, cfg->n_namespaces);
	rc = sg_gateway_run(g_gateway);
	sg_gateway_destroy(g_gateway);
	g_gateway = NULL;
	sg_info("siogate", NULL, "stopped");
	return rc;
}
