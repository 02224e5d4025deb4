/* conformance-server.c - the app the official Engine.IO v4 and Socket.IO v5 test suites
 * expect, on the core library: an Engine.IO echo server on /engine.io/ and, on /socket.io/,
 * "auth" on connect, "message" -> "message-back", "message-with-ack" acked with its args.
 * A few extras outside the suites serve the project's own integration tests:
 *   /async   an asynchronous middleware (50 ms) that wants auth {"token":"let-me-in"}
 *   /rooms   client join/leave (names ^[a-z0-9:-]{1,32}$, at most 4), auto-join
 *            "user:{auth.user}" and "{query.room}"
 * Engine.IO v3 (Socket.IO v2 clients) is allowed, for the v2 client tests.
 *   events   "request-ack" (server emits "server-ack" with an ack, reports the answer as
 *            "server-ack-result"), "broadcast" (see below), "disconnect-me". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"

static struct sg_gateway *g_gw;

static void on_signal(int sig)
{
	(void)sig;
	if (g_gw)
		sg_gateway_stop(g_gw);
}

/* ---- /engine.io/: every message goes back as it came */

static int echo_open(void *ud, struct sg_eio_session *s)
{
	(void)ud;
	(void)s;
	return 0;
}

static void echo_message(void *ud, struct sg_eio_session *s, const unsigned char *data, size_t len, int binary)
{
	struct sg_buf *b;

	(void)ud;
	if (binary) {
		b = sg_buf_new(data, len, 1);
	} else {
		struct sg_strbuf sb;
		sg_strbuf_init_headroom(&sb, LWS_PRE);
		sg_strbuf_appendc(&sb, '4');
		sg_strbuf_append(&sb, data, len);
		b = sg_buf_from_strbuf(&sb, 0);
		sg_strbuf_free(&sb);
	}
	if (b)
		sg_eio_send(s, b, 0);
	sg_buf_unref(b);
}

static void echo_close(void *ud, struct sg_eio_session *s, const char *reason)
{
	(void)ud;
	(void)s;
	(void)reason;
}

static const struct sg_eio_handlers echo_handlers = {echo_open, echo_message, echo_close, NULL};

/* ---- /socket.io/ */

static void on_connection(void *ud, struct sg_socket *s)
{
	json_t *args = json_array();

	(void)ud;
	json_array_append(args, sg_socket_auth(s));
	sg_socket_emit(s, "auth", args, NULL, 0, NULL, NULL, 0);
	json_decref(args);
}

static void on_client_ack(void *ud, struct sg_socket *s, json_t *args, const struct sg_bin *att,
			  size_t n_att, const char *err)
{
	json_t *out;

	(void)ud;
	if (err) {
		out = json_pack("[{ss}]", "error", err);
		sg_socket_emit(s, "server-ack-result", out, NULL, 0, NULL, NULL, 0);
	} else {
		out = json_pack("[O]", args);
		sg_socket_emit(s, "server-ack-result", out, att, n_att, NULL, NULL, 0);
	}
	json_decref(out);
}

static int on_event(void *ud, struct sg_socket *s, const char *event, json_t *args,
		    const struct sg_bin *att, size_t n_att, int64_t ack_id)
{
	(void)ud;
	if (!strcmp(event, "message")) {
		sg_socket_emit(s, "message-back", args, att, n_att, NULL, NULL, 0);
		return 1;
	}
	if (!strcmp(event, "message-with-ack")) {
		sg_socket_ack(s, ack_id, args, att, n_att);
		return 1;
	}
	/* Extras: the server asks the client for an ack and reports what came back. */
	if (!strcmp(event, "request-ack")) {
		double t = json_number_value(json_array_get(args, 0));
		sg_socket_emit(s, "server-ack", args, att, n_att, on_client_ack, NULL,
			       t > 0 ? (uint32_t)t : 2000);
		return 1;
	}
	/* {"rooms":[...], "except":[...], "event":"x", "args":[...], "volatile":bool,
	 * "exceptSelf":bool}: a broadcast in the sender's namespace, acked with the count. */
	if (!strcmp(event, "broadcast")) {
		json_t *o = json_array_get(args, 0), *ra = json_object_get(o, "rooms"),
		       *ea = json_object_get(o, "except");
		const char *rooms[64], *except[64];
		struct sg_broadcast b;
		size_t i;
		long n;

		memset(&b, 0, sizeof(b));
		for (i = 0; i < json_array_size(ra) && i < 64; i++)
			rooms[b.n_rooms++] = json_string_value(json_array_get(ra, i));
		for (i = 0; i < json_array_size(ea) && i < 64; i++)
			except[b.n_except++] = json_string_value(json_array_get(ea, i));
		b.rooms = rooms;
		b.except = except;
		b.is_volatile = json_is_true(json_object_get(o, "volatile"));
		b.except_socket = json_is_true(json_object_get(o, "exceptSelf")) ? s : NULL;
		n = sg_nsp_broadcast(sg_socket_nsp(s), &b,
				     json_string_value(json_object_get(o, "event")) ?: "broadcast",
				     json_object_get(o, "args"), att, n_att);
		if (ack_id >= 0) {
			json_t *r = json_pack("[I]", (json_int_t)n);
			sg_socket_ack(s, ack_id, r, NULL, 0);
			json_decref(r);
		}
		return 1;
	}
	if (!strcmp(event, "disconnect-me")) {
		sg_socket_disconnect(s, "server namespace disconnect");
		return 1;
	}
	return 0;
}

/* An asynchronous middleware on /async: answers 50 ms later, as a remote check would. */
struct later {
	lws_sorted_usec_list_t sul;
	struct sg_connect_req *req;
};

static void later_done(lws_sorted_usec_list_t *sul)
{
	struct later *l = lws_container_of(sul, struct later, sul);
	struct sg_connect_req *req = l->req;
	const char *tok = json_string_value(json_object_get(sg_connect_req_auth(req), "token"));

	free(l);
	if (sg_connect_req_cancelled(req) || (tok && !strcmp(tok, "let-me-in"))) {
		sg_connect_req_done(req, SG_MW_NEXT);
		return;
	}
	{
		json_t *data = json_pack("{si}", "code", 42);
		sg_connect_req_reject(req, "unauthorized", data);
		json_decref(data);
	}
	sg_connect_req_done(req, SG_MW_REJECT);
}

static enum sg_mw_result async_mw(void *ud, struct sg_connect_req *req)
{
	struct later *l = calloc(1, sizeof(*l));

	if (!l) {
		sg_connect_req_reject(req, "out of memory", NULL);
		return SG_MW_REJECT;
	}
	l->req = req;
	lws_sul_schedule(ud, 0, &l->sul, later_done, 50 * LWS_US_PER_MS);
	return SG_MW_PENDING;
}

int main(int argc, char **argv)
{
	static const struct sg_sio_app app = {.on_connection = on_connection, .on_event = on_event};
	char text[1024], err[SG_CONFIG_ERR_MAX];
	const char *host = getenv("SG_CONFORMANCE_HOST");
	int port = argc > 1 ? atoi(argv[1]) : 3000;
	struct sg_config *cfg;
	struct sg_eio *echo;
	struct sg_eio_opts eo;
	char *headers[4];
	struct sigaction sa;
	int rc;

	if (port <= 0 || port > 65535) {
		fprintf(stderr, "usage: conformance-server [PORT]\n");
		return 2;
	}
	snprintf(text, sizeof(text),
		 "{\"server\":{\"listen\":\"%s:%d\",\"allow_eio3\":true,\"ping_interval_ms\":300,\"ping_timeout_ms\":200,"
		 "\"max_payload\":1000000,\"connect_timeout_ms\":1000},"
		 "\"log\":{\"level\":\"%s\"},"
		 "\"namespaces\":[{\"name\":\"/custom\"},{\"name\":\"/async\"},"
		 "{\"name\":\"/rooms\",\"rooms\":{\"client_join\":true,\"allow\":\"^[a-z0-9:-]{1,32}$\","
		 "\"max_rooms\":4,\"auto_join\":[\"user:{auth.user}\",\"{query.room}\"]}}]}",
		 host ? host : "127.0.0.1", port, getenv("SG_DEBUG") ? "debug" : "warn");
	cfg = sg_config_load_string(text, NULL, NULL, err);
	if (!cfg) {
		fprintf(stderr, "conformance-server: %s\n", err);
		return 1;
	}
	sg_log_set(cfg->log.level, cfg->log.format);
	g_gw = sg_gateway_create(cfg);
	if (!g_gw)
		return 1;
	sg_eio_opts_from_config(sg_gateway_config(g_gw), &eo, headers, 4);
	eo.path = "/engine.io/";
	echo = sg_eio_create(&eo, &echo_handlers, NULL, NULL);
	if (!echo || sg_gateway_add_endpoint(g_gw, echo)) {
		sg_eio_destroy(echo);
		sg_gateway_destroy(g_gw);
		return 1;
	}
	sg_sio_set_app(sg_gateway_sio(g_gw), &app, NULL);
	sg_sio_add_middleware(sg_gateway_sio(g_gw), "/async", async_mw,
			      sg_server_context(sg_gateway_server(g_gw)));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	printf("conformance server listening on port %d\n", sg_server_port(sg_gateway_server(g_gw)));
	fflush(stdout);
	rc = sg_gateway_run(g_gw);
	sg_gateway_destroy(g_gw);
	return rc;
}
