/* siogate/bridge.h - the bridge plugin ABI: the only header a bridge plugin includes.
 *
 * A bridge maps Socket.IO namespaces and rooms to a message broker. It is a shared object
 * loaded with dlopen(RTLD_NOW|RTLD_LOCAL) that exports one symbol, `siogate_bridge`, a
 * const struct sg_bridge_plugin, declared with SG_BRIDGE_PLUGIN() (at the end). Plugins never
 * link against the host: everything they may call on the host is in the struct sg_host_api
 * table passed to init(), so a unit test can drive a plugin with a fake table.
 *
 * Building one: `cc -shared -fPIC $(pkg-config --cflags siogate-bridge) -o x.so x.c
 * $(pkg-config --libs siogate-bridge)`, installed in `pkg-config --variable=pluginsdir
 * siogate-bridge` (docs/bridges.md, "Writing a plugin").
 * This header stands alone: C99 or later (or C++20, for the designated initializers of
 * SG_BRIDGE_PLUGIN), with jansson's headers on the include path.
 *
 * Versioning (as Varnish VRT does): the host accepts a plugin with the same major and a
 * minor <= its own. Appending members at the end of a struct bumps the minor; any other
 * change bumps the major.
 *
 * ABI changelog (newest first)
 *   1.6  2026-12-06  recovery across restarts and replicas: sg_bridge_emit.position (where
 *                    the event sits in the broker's log: it rides in the recovery offset),
 *                    sg_bridge_plugin.session_topic, session_save, session_drop,
 *                    session_find and session_replay (a plugin that keeps dropped sockets'
 *                    sessions in its broker and replays what they missed), and
 *                    sg_host_api.replay_emit and replay_done (the replay's events to one
 *                    socket, ahead of the live ones held back meanwhile).
 *   1.5  2026-12-06  connection state recovery: sg_bridge_socket.recovered (a connect that
 *                    took a dropped socket's session over, with its sid). Read it only from
 *                    a host whose abi_minor >= 5 (an older host's struct ends before it).
 *   1.4  2026-12-05  request and reply: sg_host_api.emit_ack (an emit whose every recipient's
 *                    answer, timeout or disconnect is reported, struct sg_bridge_answer) and
 *                    complete_args (an upstream message answered with the backend's
 *                    arguments instead of one result object).
 *   1.3  2026-12-05  lifecycle and presence: sg_bridge_plugin.on_lifecycle (a socket connected,
 *                    joined, left, disconnected; the gateway shuts down), struct
 *                    sg_bridge_socket and sg_bridge_lifecycle; sg_host_api.sockets (the
 *                    sockets of a target, with their rooms and handshake), rooms (the rooms
 *                    of a namespace with their sizes) and every (a repeating timer on the
 *                    loop). The host reads on_lifecycle only from a plugin built for >= 1.3.
 *   1.2  2026-12-05  metrics fast path: sg_host_api.counter_handle, counter_add, gauge_handle
 *                    and gauge_set (a series looked up once, then lock-free updates; label
 *                    values passed raw and escaped by the host). count() and gauge() label
 *                    values must be escaped as the text format says (a malformed label set is
 *                    refused, not written). Counters now survive a reload (SIGHUP).
 *                    sg_host_api.is_member: whether a socket has joined a room, so that a
 *                    from_clients relay only reaches rooms its sender is in (an older host:
 *                    refuse the relay).
 *                    SG_BRIDGE_PLUGIN(): declares the descriptor (ABI fields, symbol name and
 *                    visibility filled in); no layout change. The header builds as C++.
 *   1.1  2026-11-23  sg_host_api.gauge (e.g. Kafka consumer lag) and set_info (facts shown
 *                    by /readyz and /demo/info). A plugin calls them only when the host's
 *                    abi_minor >= 1.
 *   1.0  2026-11-23  first version.
 *
 * Threads: one loop thread owns every socket, namespace and room. Each host function says
 * which threads may call it. A plugin's own threads (librdkafka's, libmosquitto's) hand work
 * to the loop with post(). Plugin entry points are called on the loop thread, except
 * check_broker and check_binding, which are pure and may run anywhere.
 *
 * Ownership: pointers passed to a plugin are borrowed for the duration of the call unless
 * said otherwise; pointers a plugin passes to the host likewise. JSON values are jansson
 * values (the plugin and the host use the same system libjansson).
 */
#ifndef SIOGATE_BRIDGE_H
#define SIOGATE_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SG_BRIDGE_ABI_MAJOR 1
#define SG_BRIDGE_ABI_MINOR 6

/* The symbol every plugin exports: SG_BRIDGE_SYMBOL is its name as a string (for dlsym),
 * spelled from the identifier SG_BRIDGE_PLUGIN() defines, so the two cannot differ. */
#define SG_BRIDGE_SYMBOL_ID siogate_bridge
#define SG_BRIDGE_STR_(x) #x
#define SG_BRIDGE_STR(x) SG_BRIDGE_STR_(x)
#define SG_BRIDGE_SYMBOL SG_BRIDGE_STR(SG_BRIDGE_SYMBOL_ID)

/* GNU attributes where the compiler has them (gcc, clang), nothing elsewhere. */
#if defined(__GNUC__)
#define SG_BRIDGE_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#define SG_BRIDGE_VISIBLE __attribute__((visibility("default")))
#else
#define SG_BRIDGE_PRINTF(fmt, first)
#define SG_BRIDGE_VISIBLE
#endif

/* Error texts the host prefixes with the JSON path of the object being checked. */
#define SG_BRIDGE_ERR_MAX 384

struct sg_host;          /* the host's context for one plugin instance (opaque) */
struct sg_bridge_ticket; /* one upstream message waiting for the broker's answer (opaque) */
struct sg_bridge_counter; /* one counter or gauge series (opaque; see counter_handle) */

enum sg_bridge_log_level {
	SG_BRIDGE_LOG_ERROR = 0,
	SG_BRIDGE_LOG_WARN = 1,
	SG_BRIDGE_LOG_INFO = 2,
	SG_BRIDGE_LOG_DEBUG = 3,
};

/* Binary data: a Socket.IO binary argument (Buffer / ArrayBuffer on the client). */
struct sg_bridge_bin {
	const unsigned char *data;
	size_t len;
};

/* A downstream delivery: one event to the sockets of a namespace (backend -> clients). */
struct sg_bridge_emit {
	const char *nsp;                 /* the namespace's name */
	const char *const *rooms;        /* target rooms; n_rooms == 0: every socket */
	size_t n_rooms;
	const char *const *except;       /* members of these rooms are skipped */
	size_t n_except;
	const char *except_sid;          /* this socket is skipped (e.g. the sender), or NULL */
	const char *event;
	const json_t *args;              /* array of arguments; binary ones are
	                                    {"_placeholder":true,"num":N} into `att` */
	const struct sg_bridge_bin *att;
	size_t n_att;
	int is_volatile;                 /* may be dropped for a slow client */
	/* Since 1.6 (the host reads it only from a plugin whose abi_minor >= 6): where the
	 * event sits in the broker's log, e.g. Kafka's "topic/partition/offset", or NULL. With
	 * connection state recovery it is part of the offset clients hand back, so that a
	 * session_replay can resume from it. At most 300 bytes, without '~'. */
	const char *position;
};

/* Sockets a control command applies to: those with an id in `sids`, plus the members of
 * `rooms`, minus the members of `except`. Both empty: every socket of the namespace. */
struct sg_bridge_target {
	const char *nsp;
	const char *const *sids;
	size_t n_sids;
	const char *const *rooms;
	size_t n_rooms;
	const char *const *except;
	size_t n_except;
};

/* An event a client emitted in a bridged namespace (clients -> backend). */
struct sg_bridge_event {
	const char *nsp;                 /* the namespace's name */
	const char *sid;                 /* the socket's id */
	const char *event;
	const json_t *args;              /* array; binary arguments are placeholders into `att` */
	const struct sg_bridge_bin *att;
	size_t n_att;
	const json_t *auth;              /* the CONNECT auth object */
	const json_t *claims;            /* claims from auth middleware (object, may be empty) */
	const json_t *query;             /* the handshake query (object of strings) */
	int wants_ack;                   /* the client waits for the broker's answer */
};

/* Since 1.3. A socket as lifecycle records and presence answers describe it (all borrowed,
 * valid during the call that passes it). */
struct sg_bridge_socket {
	const char *nsp;
	const char *sid;
	const char *const *rooms;        /* every room it is in, its own id room first */
	size_t n_rooms;
	const char *address;             /* the client's address as the gateway saw it */
	const json_t *query;             /* the handshake query (object of strings) */
	const json_t *claims;            /* claims from auth middleware (object, may be empty) */
	const json_t *auth;              /* the CONNECT auth object (may carry secrets) */
	const json_t *headers;           /* the request headers the gateway kept (object) */
	long long connected_at;          /* ms since the epoch */
	int recovered;                   /* since 1.5: this connect recovered a dropped session */
};

/* Since 1.4. A client's answer to an emit with ack (emit_ack): its arguments, or an error. */
struct sg_bridge_answer {
	const char *nsp;
	const char *sid;
	const json_t *args;              /* array (placeholders into att), or NULL with error */
	const struct sg_bridge_bin *att;
	size_t n_att;
	const char *error;               /* NULL, "timeout" or "disconnected" */
};

/* Since 1.3. What on_lifecycle reports. */
enum sg_bridge_lifecycle_type {
	SG_BRIDGE_LC_CONNECT = 0,        /* middleware accepted it; rooms: joined at connect */
	SG_BRIDGE_LC_JOIN = 1,           /* it joined `room` (not at connect) */
	SG_BRIDGE_LC_LEAVE = 2,          /* it left `room` (not by disconnecting) */
	SG_BRIDGE_LC_DISCONNECT = 3,     /* it is leaving its namespace; rooms: those it leaves */
	SG_BRIDGE_LC_SHUTDOWN = 4,       /* the gateway is shutting down (not a reload): the
	                                    last call before stop(); binding is -1 */
};

struct sg_bridge_lifecycle {
	enum sg_bridge_lifecycle_type type;
	const struct sg_bridge_socket *socket; /* NULL for SHUTDOWN */
	const char *room;                /* JOIN, LEAVE */
	const char *by;                  /* JOIN, LEAVE: "client" or "control" */
	const char *reason;              /* DISCONNECT: Socket.IO's reason ("transport close"...) */
};

/* The host functions. Unless noted, loop thread only. */
struct sg_host_api {
	unsigned abi_major, abi_minor;   /* the host's ABI version */

	/* Any thread. The host prefixes the line with "bridge 'NAME'". */
	void (*log)(struct sg_host *h, enum sg_bridge_log_level level, const char *fmt, ...)
		SG_BRIDGE_PRINTF(3, 4);

	/* Runs fn(ud) on the loop thread soon. Any thread. Returns 0, or -1 when the host
	 * is stopping or out of memory (fn will then never run). Bounded by the host: a
	 * plugin should post "there is work" signals, not one call per message. */
	int (*post)(struct sg_host *h, void (*fn)(void *ud), void *ud);

	/* Delivers an event to sockets. Returns the number of sockets it was queued to,
	 * -2 when the namespace does not exist here, -1 when it could not be encoded. */
	long (*emit)(struct sg_host *h, const struct sg_bridge_emit *em);

	/* Control commands (applied to this instance's local sockets). Each returns the number
	 * of sockets affected, or -2 for an unknown namespace. */
	long (*join)(struct sg_host *h, const struct sg_bridge_target *t, const char *const *rooms, size_t n);
	long (*leave)(struct sg_host *h, const struct sg_bridge_target *t, const char *const *rooms, size_t n);
	long (*disconnect)(struct sg_host *h, const struct sg_bridge_target *t);

	/* Completes an upstream message: `result` is the object the client's ack receives,
	 * {"ok":true,...} or {"ok":false,"error":"..."}. Exactly once per ticket, on the loop
	 * thread; the ticket is freed by the call. */
	void (*complete)(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *result);

	/* Readiness of this instance, shown by /readyz. `reason` says why not. Any thread. */
	void (*set_ready)(struct sg_host *h, int ready, const char *reason);

	/* Adds `delta` to the counter siogate_bridge_<name>_total{bridge="...",<labels>}.
	 * `labels` is "" or Prometheus label pairs without braces (`topic="a"`), values escaped
	 * as the text format says (\\, \" and \n); a malformed set is refused and counted in
	 * siogate_bridge_series_refused_total. One hash lookup under a lock: for per-message
	 * counting use counter_handle (1.2). Any thread. */
	void (*count)(struct sg_host *h, const char *name, const char *labels, double delta);

	/* The namespace names that exist now and match `pattern` (a dynamic namespace's
	 * regular expression as configured): calls fn once per name. */
	void (*foreach_nsp)(struct sg_host *h, const char *pattern, void (*fn)(void *ud, const char *nsp), void *ud);

	/* A unique id of this gateway process (stable for its lifetime): for per-instance
	 * consumer group ids and MQTT client ids. */
	const char *(*instance_id)(struct sg_host *h);

	/* Since 1.1 (check abi_minor first). Sets the gauge siogate_bridge_<name>{bridge="...",
	 * <labels>} to `value` (labels as for count; a name is either a counter or a gauge).
	 * Any thread. */
	void (*gauge)(struct sg_host *h, const char *name, const char *labels, double value);

	/* Since 1.1 (check abi_minor first). Publishes a fact about this instance (e.g. the
	 * address of an embedded broker), shown by /readyz and /demo/info as
	 * "info":{"BRIDGE":{"key":"value"}}. A NULL value removes the key. Only what is safe to
	 * show anyone who can reach the gateway's HTTP port: never credentials. Any thread. */
	void (*set_info)(struct sg_host *h, const char *key, const char *value);

	/* ---- Since 1.2 (2026-12-05): the metrics fast path. ----
	 * A plugin built against this header declares its minor, so a host that loads it has
	 * these members. */

	/* Returns the counter siogate_bridge_<name>_total{bridge="...",<labels>}, created at 0
	 * if new. `labels` is NULL or a NULL-terminated array of alternating label names and
	 * RAW values ({"topic", t, "partition", "0", NULL}): the host escapes the values. The
	 * same name and labels give the same series as count(). The handle belongs to the host
	 * and stays valid until fini() returns; the series outlives it (a reload keeps
	 * counting). NULL when refused (bad name, a gauge of that name, too many series, no
	 * memory): counter_add(NULL, ...) is a no-op. Any thread. */
	struct sg_bridge_counter *(*counter_handle)(struct sg_host *h, const char *name,
						    const char *const *labels);
	/* Adds `delta` atomically (no lock, no allocation). Any thread. */
	void (*counter_add)(struct sg_bridge_counter *c, double delta);
	/* The gauge siogate_bridge_<name>{bridge="...",<labels>}, as counter_handle; it shows
	 * once set. After a reload gauges are hidden until the new instance sets them again. */
	struct sg_bridge_counter *(*gauge_handle)(struct sg_host *h, const char *name,
						  const char *const *labels);
	/* Sets a gauge atomically. gauge_set(NULL, ...) is a no-op. Any thread. */
	void (*gauge_set)(struct sg_bridge_counter *c, double value);

	/* Since 1.2. 1 when socket `sid` of namespace `nsp` is a member
	 * of `room` now (every socket is a member of the room named by its own id), else 0 (also
	 * for an unknown namespace or socket). */
	int (*is_member)(struct sg_host *h, const char *nsp, const char *sid, const char *room);

	/* ---- Since 1.3 (2026-12-05): presence. ---- */

	/* Calls fn (which may be NULL: just count) for each socket of the target, each once.
	 * Returns the number of sockets, or -2 when the namespace does not exist here. */
	long (*sockets)(struct sg_host *h, const struct sg_bridge_target *t,
			void (*fn)(void *ud, const struct sg_bridge_socket *s), void *ud);
	/* Calls fn for each room of namespace `nsp` with its number of members, leaving out the
	 * rooms named by socket ids. Returns the number of rooms, or -2 for no such namespace. */
	long (*rooms)(struct sg_host *h, const char *nsp, void (*fn)(void *ud, const char *room, size_t n),
		      void *ud);
	/* Calls fn(ud) on the loop thread every `ms` milliseconds (>= 10) until stop() is
	 * called (the host cancels it just before). Returns 0, or -1 (out of memory). */
	int (*every)(struct sg_host *h, unsigned ms, void (*fn)(void *ud), void *ud);

	/* ---- Since 1.4 (2026-12-05): request and reply. ---- */

	/* Emits to the recipients of `em` (is_volatile must be 0) asking each for an answer:
	 * fn is called exactly once per recipient counted in the return value, later and on the
	 * loop thread, with its answer, or error "timeout" after timeout_ms, or "disconnected".
	 * Returns the number of recipients, -2 when the namespace does not exist here, -1 when
	 * the event could not be encoded or is volatile (fn is then never called). */
	long (*emit_ack)(struct sg_host *h, const struct sg_bridge_emit *em, unsigned timeout_ms,
			 void (*fn)(void *ud, const struct sg_bridge_answer *a), void *ud);
	/* Completes an upstream message as complete() does, the client's ack receiving `args`
	 * (an array; binary arguments are placeholders into `att`) instead of one result. */
	void (*complete_args)(struct sg_host *h, struct sg_bridge_ticket *t, const json_t *args,
			      const struct sg_bridge_bin *att, size_t n_att);

	/* ---- Since 1.6 (2026-12-06): sessions kept in the broker. ---- */

	/* During a session_replay: delivers `em` (rooms, except and position as a live emit
	 * would have them) to socket `sid` alone, if it is in one of em's rooms and in none
	 * of its except rooms, ahead of the live events held back for it. Returns 1 when
	 * queued, 0 when not for that socket, -2 when the socket or namespace is gone, -1 when
	 * it could not be encoded. Volatile events are not replayed (0). */
	long (*replay_emit)(struct sg_host *h, const char *sid, const struct sg_bridge_emit *em);
	/* Ends a session_replay: the events held back for socket `sid` meanwhile follow. Exactly
	 * once per session_replay that returned 0 (also when the socket has gone). */
	void (*replay_done)(struct sg_host *h, const char *nsp, const char *sid);
};

/* The plugin descriptor, exported as `siogate_bridge`: declare it with SG_BRIDGE_PLUGIN(). */
struct sg_bridge_plugin {
	unsigned abi_major, abi_minor;   /* SG_BRIDGE_ABI_MAJOR, SG_BRIDGE_ABI_MINOR */
	const char *name;                /* the broker/bridge "type" it implements */
	const char *version;

	/* Validates a broker object (brokers.NAME, with "type" already checked), pure.
	 * NULL: the plugin needs no broker (a bridge names it with "type"). Returns 0, or -1
	 * with "relative.path: reason" in err (the host adds "brokers.NAME."). */
	int (*check_broker)(const json_t *broker, char *err, size_t errlen);
	/* Validates a namespace's bridge object, pure; same contract (host adds
	 * "namespaces[i].bridge."). */
	int (*check_binding)(const json_t *bridge, char *err, size_t errlen);

	/* Creates an instance for one broker connection (broker is NULL for a plugin without
	 * check_broker: then one instance serves every binding). Nothing is started yet.
	 * Returns the instance, or NULL with err set. */
	void *(*init)(const struct sg_host_api *api, struct sg_host *host, const char *broker_name,
		      const json_t *broker, char *err, size_t errlen);
	/* Adds a namespace (is_pattern: `nsp` is a dynamic namespace's regex) with its bridge
	 * object. Returns a binding id >= 0 used in publish(), or -1 with err set. */
	int (*bind)(void *inst, const char *nsp, int is_pattern, const json_t *bridge,
		    char *err, size_t errlen);
	/* Connects and starts consuming. Returns 0 or -1 with err set. Failing to reach the
	 * broker is not an error here: report it with set_ready and keep retrying. */
	int (*start)(void *inst, char *err, size_t errlen);
	/* A client event for `binding`. Returns 0 when the plugin took it (the ticket will be
	 * completed later), 1 when this binding does not forward that event (the host then
	 * answers "no handler"; the ticket is untouched), or -1 when it was refused at once
	 * (the plugin has completed the ticket with an error). */
	int (*publish)(void *inst, int binding, const struct sg_bridge_event *ev,
		       struct sg_bridge_ticket *ticket);
	/* Optional (may be NULL): a socket joined a room of a bound namespace (at connect too). */
	void (*on_join)(void *inst, int binding, const char *nsp, const char *sid, const char *room);
	/* Stops: flushes upstream messages for at most drain_ms, completes every ticket still
	 * open (with an error if undelivered), joins its threads. No host calls after it
	 * returns. */
	void (*stop)(void *inst, unsigned drain_ms);
	/* Frees the instance (after stop). */
	void (*fini)(void *inst);

	/* ---- Since 1.3 (the host reads it only from a plugin whose abi_minor >= 3). ---- */

	/* Optional: a socket of a bound namespace connected, joined, left or disconnected, or
	 * (SG_BRIDGE_LC_SHUTDOWN, binding -1) the gateway is shutting down, after every
	 * socket's disconnect was reported. Per socket in order: CONNECT, its JOINs and LEAVEs,
	 * exactly one DISCONNECT. Not called during a reload (sockets stay connected). */
	void (*on_lifecycle)(void *inst, int binding, const struct sg_bridge_lifecycle *ev);

	/* ---- Since 1.6: sessions kept in the broker (connection state recovery across
	 * restarts and replicas). All optional, all or none; loop thread. ---- */

	/* The binding's namespace keeps its sessions in `topic` (its recovery.sessions_topic);
	 * called after bind(), before start(). Returns 0, or -1 with err set. */
	int (*session_topic)(void *inst, int binding, const char *topic, char *err, size_t errlen);
	/* Keeps a dropped socket's session, a JSON object the host builds: {"v":1,"namespace",
	 * "pid","sid","rooms","claims","client_rooms","time","expires"} (ms since the epoch);
	 * the plugin adds where the namespace's consumption stands ("positions") and the
	 * instance. Borrowed. */
	void (*session_save)(void *inst, int binding, const json_t *session);
	/* Forgets session `pid` everywhere (it was recovered, or it expired). */
	void (*session_drop)(void *inst, int binding, const char *pid);
	/* The kept session `pid` of namespace `nsp` (a new reference), or NULL when there is
	 * none, it expired, or it is another namespace's. */
	json_t *(*session_find)(void *inst, int binding, const char *nsp, const char *pid);
	/* Replays to socket `sid` (which has just taken `session` over) the events of its rooms
	 * it missed: those after `offset` (the last one it got, as the client hands it back;
	 * NULL: none) with replay_emit, then replay_done. Returns 0 when started (replay_done
	 * will follow, maybe at once), -1 when it cannot (nothing is held back then). */
	int (*session_replay)(void *inst, int binding, const char *sid, const json_t *session,
			      const char *offset);
};

/* Defines the exported descriptor from designated initializers, with abi_major and abi_minor
 * set to this header's version and the symbol's name and visibility (the only one a plugin
 * built with -fvisibility=hidden exports) filled in:
 *
 *   SG_BRIDGE_PLUGIN(.name = "echo", .version = "1.0", .check_binding = check_binding,
 *                    .init = init, .bind = bind, .start = start, .publish = publish,
 *                    .stop = stop, .fini = fini);
 *
 * Members left out are NULL (the optional check_broker, on_join and on_lifecycle). The descriptor claims the
 * minor of the header it was built with, so a host loads it only if it has every member that
 * header describes. C++ needs C++20 and the members in declaration order (g++ 12 with -Wextra
 * also wants the optional ones named, = nullptr). The declaration the macro starts with gives
 * the symbol its visibility and, in C++, external "C" linkage (a const would be file-local). */
#ifdef __cplusplus
#define SG_BRIDGE_EXTERN_ extern "C"
#else
#define SG_BRIDGE_EXTERN_ extern
#endif
#define SG_BRIDGE_PLUGIN(...)                                                                  \
	SG_BRIDGE_EXTERN_ SG_BRIDGE_VISIBLE const struct sg_bridge_plugin SG_BRIDGE_SYMBOL_ID;   \
	const struct sg_bridge_plugin SG_BRIDGE_SYMBOL_ID = {                                    \
		.abi_major = SG_BRIDGE_ABI_MAJOR, .abi_minor = SG_BRIDGE_ABI_MINOR, __VA_ARGS__ }

#ifdef __cplusplus
}
#endif

#endif
