// cxx.cc - siogate/bridge.h from C++20: SG_BRIDGE_PLUGIN must still export an unmangled
// `siogate_bridge` the daemon accepts (run.sh builds it and runs `siogate --check-config`).
#include <siogate/bridge.h>

static int check_binding(const json_t *, char *, size_t) { return 0; }
static void *init(const sg_host_api *, sg_host *, const char *, const json_t *, char *, size_t) { return nullptr; }
static int bind_nsp(void *, const char *, int, const json_t *, char *, size_t) { return -1; }
static int start(void *, char *, size_t) { return -1; }
static int publish(void *, int, const sg_bridge_event *, sg_bridge_ticket *) { return 1; }
static void stop(void *, unsigned) {}
static void fini(void *) {}

// g++ 12 -Wextra wants every member named in a designated initializer, optional ones too.
SG_BRIDGE_PLUGIN(.name = "cxx", .version = "1.0", .check_broker = nullptr, .check_binding = check_binding,
		 .init = init, .bind = bind_nsp, .start = start, .publish = publish, .on_join = nullptr,
		 .stop = stop, .fini = fini, .on_lifecycle = nullptr, .session_topic = nullptr,
		 .session_save = nullptr, .session_drop = nullptr, .session_find = nullptr, .session_replay = nullptr);
