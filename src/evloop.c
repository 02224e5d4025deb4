/* evloop.c - the event loop libwebsockets runs on: its own poll(2) backend, or an event library
 * (libuv: epoll underneath; or GLib's main loop) through Debian's libwebsockets-evlib-* plugins.
 *
 * Not libev, although Debian ships its plugin too: lws 4.1.6's libev glue re-arms its timer
 * watcher with ev_timer_set() while it is still active (lws_ev_idle_cb), which libev does not
 * allow, and the gateway's timers (heartbeats, the drain's ticks) then stop firing: clients
 * time out and a drain never ends (seen in tests/integration/event-loop.test.mjs).
 *
 * lws 4.1 loads an event-library plugin at context creation when an LWS_SERVER_OPTION_* names
 * one. Left to itself it creates the library's loop and runs it with no way back (lws_service()
 * becomes uv_run/g_main_loop_run until the loop is empty), and it takes over SIGINT and
 * SIGTERM. So siogate hands lws a *foreign* loop it created itself: it can then run one turn at
 * a time (the gateway's stop, drain and reload checks run between turns, as with poll) and lws
 * leaves the signals alone. The libraries are opened with dlopen, by their soname: the same
 * objects the plugin links, so siogate builds and runs without them (and their -dev packages)
 * and falls back to poll when the plugin or its library is not installed. */
#include "evloop.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* The constants used here, from the libraries' stable ABIs (uv.h, ev.h). */
#define UV_RUN_ONCE 1
#define UV_RUN_NOWAIT 2

/* Turns given to a loop after lws_context_destroy(), for lws to close its handles. */
#define FINISH_TURNS 1000
/* libuv: the longest a turn waits (ms) before lws is made to look at its timers; see POKE. */
#define POKE_MS 20
#define UV_TIMER 13 /* uv_handle_type */

struct sg_evloop {
	enum sg_event_loop kind;
	void *lib;            /* the event library (dlopen handle), NULL for poll */
	void *loop;           /* uv_loop_t *, GMainLoop * */
	void *foreign[1];     /* info->foreign_loops points here during lws_create_context */
	/* libuv */
	size_t (*uv_loop_size)(void);
	int (*uv_loop_init)(void *loop);
	int (*uv_run)(void *loop, int mode);
	int (*uv_loop_close)(void *loop);
	size_t (*uv_handle_size)(int type);
	int (*uv_timer_init)(void *loop, void *timer);
	int (*uv_timer_start)(void *timer, void (*cb)(void *timer), uint64_t timeout, uint64_t repeat);
	int (*uv_timer_stop)(void *timer);
	void (*uv_close)(void *handle, void (*cb)(void *handle));
	void *poke;           /* uv_timer_t *, its first field (data) points back here */
	struct lws_context *ctx; /* the context the poke wakes */
	/* GLib */
	void *(*g_main_loop_new)(void *context, int is_running);
	void *(*g_main_loop_get_context)(void *loop);
	int (*g_main_context_iteration)(void *context, int may_block);
	void (*g_main_loop_unref)(void *loop);
};

static const struct {
	const char *name;     /* as in the config and on /metrics */
	const char *lib;      /* the library's soname */
	const char *plugin;   /* lws's plugin for it */
	uint64_t option;
} kinds[] = {
	[SG_EVENT_LOOP_POLL] = {"poll", NULL, NULL, 0},
	[SG_EVENT_LOOP_LIBUV] = {"libuv", "libuv.so.1", "libwebsockets-evlib_uv.so", LWS_SERVER_OPTION_LIBUV},
	[SG_EVENT_LOOP_GLIB] = {"glib", "libglib-2.0.so.0", "libwebsockets-evlib_glib.so",
				LWS_SERVER_OPTION_GLIB},
};

const char *sg_evloop_kind_name(enum sg_event_loop k)
{
	return k > SG_EVENT_LOOP_AUTO && k <= SG_EVENT_LOOP_GLIB ? kinds[k].name : "auto";
}

#define SYM(ev, f, why, n) \
	((*(void **)&(ev)->f = dlsym((ev)->lib, #f)) ? 0 : (snprintf(why, n, "%s lacks %s", kinds[(ev)->kind].lib, #f), -1))

static int open_uv(struct sg_evloop *ev, char *why, size_t n)
{
	if (SYM(ev, uv_loop_size, why, n) || SYM(ev, uv_loop_init, why, n) || SYM(ev, uv_run, why, n) ||
	    SYM(ev, uv_loop_close, why, n) || SYM(ev, uv_handle_size, why, n) || SYM(ev, uv_timer_init, why, n) ||
	    SYM(ev, uv_timer_start, why, n) || SYM(ev, uv_timer_stop, why, n) || SYM(ev, uv_close, why, n))
		return -1;
	if (!(ev->loop = calloc(1, ev->uv_loop_size())) || ev->uv_loop_init(ev->loop)) {
		free(ev->loop);
		ev->loop = NULL;
		snprintf(why, n, "cannot create a libuv loop");
		return -1;
	}
	return 0;
}

static int open_glib(struct sg_evloop *ev, char *why, size_t n)
{
	if (SYM(ev, g_main_loop_new, why, n) || SYM(ev, g_main_loop_get_context, why, n) ||
	    SYM(ev, g_main_context_iteration, why, n) || SYM(ev, g_main_loop_unref, why, n))
		return -1;
	/* The default main context: lws's GLib sources attach to the loop's own context. */
	if (!(ev->loop = ev->g_main_loop_new(NULL, 0))) {
		snprintf(why, n, "cannot create a GLib main loop");
		return -1;
	}
	return 0;
}

struct sg_evloop *sg_evloop_open(enum sg_event_loop kind, struct lws_context_creation_info *info, char *why,
				 size_t n)
{
	struct sg_evloop *ev = calloc(1, sizeof(*ev));
	char plugin[512];
	int rc = 0;

	if (!ev) {
		snprintf(why, n, "out of memory");
		return NULL;
	}
	ev->kind = kind;
	info->foreign_loops = NULL;
	if (kind == SG_EVENT_LOOP_POLL)
		return ev;
	/* lws would only log its own error at context creation: say which package is missing. */
	snprintf(plugin, sizeof(plugin), "%s/%s", LWS_INSTALL_LIBDIR, kinds[kind].plugin);
	if (access(plugin, R_OK)) {
		snprintf(why, n, "%s is not installed (Debian package libwebsockets-evlib-%s)", plugin,
			 kind == SG_EVENT_LOOP_LIBUV ? "uv" : "glib");
		free(ev);
		return NULL;
	}
	/* Never closed: GLib cannot be unloaded, and the others are mapped by the plugin anyway
	 * for the context's life; the handles stay until the process exits. */
	if (!(ev->lib = dlopen(kinds[kind].lib, RTLD_NOW | RTLD_LOCAL))) {
		snprintf(why, n, "cannot load %s (%s)", kinds[kind].lib, dlerror());
		free(ev);
		return NULL;
	}
	rc = kind == SG_EVENT_LOOP_LIBUV ? open_uv(ev, why, n) : open_glib(ev, why, n);
	if (rc) {
		free(ev);
		return NULL;
	}
	ev->foreign[0] = ev->loop;
	info->foreign_loops = ev->foreign;
	info->options |= kinds[kind].option;
	return ev;
}

enum sg_event_loop sg_evloop_kind(const struct sg_evloop *ev)
{
	return ev ? ev->kind : SG_EVENT_LOOP_POLL;
}

/* POKE: lws 4.1.6's libuv glue arms its timer for the next lws timer (sul) only after it handled
 * I/O or when that timer fires. A timer scheduled between turns (the drain's tick, a socket's
 * close timeout set by sg_sio_close_all()) is not seen, and on a quiet loop uv_run() would wait
 * for the old deadline, or forever when there was none: a drain with no client left never
 * ended. So every turn also arms a timer of ours; when it fires (only on a loop that was quiet
 * for POKE_MS) it wakes lws through its event pipe, and lws then services what is due and
 * re-arms its own timer. A busy loop re-arms it on every turn and never sees it fire. */
static void on_poke(void *timer)
{
	struct sg_evloop *ev = *(struct sg_evloop **)timer; /* uv_handle_t.data */

	if (ev->ctx)
		lws_cancel_service(ev->ctx);
}

static int arm_poke(struct sg_evloop *ev, struct lws_context *ctx)
{
	if (!ev->poke) {
		size_t size = ev->uv_handle_size(UV_TIMER);

		/* Never smaller than a uv_timer_t of any libuv 1.x (152 bytes on 64-bit). */
		if (!(ev->poke = calloc(1, size > 512 ? size : 512)))
			return -1;
		if (ev->uv_timer_init(ev->loop, ev->poke)) {
			free(ev->poke);
			ev->poke = NULL;
			return -1;
		}
		*(struct sg_evloop **)ev->poke = ev;
	}
	ev->ctx = ctx;
	return ev->uv_timer_start(ev->poke, on_poke, POKE_MS, 0);
}

/* Stops the poke for good, before the context it wakes goes away. */
static void disarm_poke(struct sg_evloop *ev)
{
	ev->ctx = NULL;
	if (ev->poke) {
		ev->uv_timer_stop(ev->poke);
		ev->uv_close(ev->poke, NULL); /* freed in sg_evloop_close(), after the loop let go */
	}
}

/* One turn; with WAIT, until something happens. -1 when the context is gone (poll), else
 * whether the loop still has handles or sources (libuv, GLib; poll: 0). */
static int turn(struct sg_evloop *ev, struct lws_context *ctx, int wait)
{
	switch (ev ? ev->kind : SG_EVENT_LOOP_POLL) {
	case SG_EVENT_LOOP_LIBUV:
		if (wait && arm_poke(ev, ctx))
			sg_warn("server", NULL, "cannot arm the libuv poke timer: timers set between turns may wait");
		return ev->uv_run(ev->loop, wait ? UV_RUN_ONCE : UV_RUN_NOWAIT) != 0;
	case SG_EVENT_LOOP_GLIB:
		return ev->g_main_context_iteration(ev->g_main_loop_get_context(ev->loop), wait) != 0;
	default:
		/* lws_service: 0 waits for the next lws timer, a negative timeout does not wait. */
		return lws_service(ctx, wait ? 0 : -1) < 0 ? -1 : 0;
	}
}

int sg_evloop_run_once(struct sg_evloop *ev, struct lws_context *ctx)
{
	return turn(ev, ctx, 1) < 0 ? -1 : 0;
}

int sg_evloop_run_ready(struct sg_evloop *ev, struct lws_context *ctx)
{
	return turn(ev, ctx, 0) < 0 ? -1 : 0;
}

int sg_evloop_timers_when_idle(const struct sg_evloop *ev)
{
	return ev && ev->kind == SG_EVENT_LOOP_GLIB;
}

/* One turn that does not wait; 0 when the loop has nothing left (poll: never anything). */
static int run_nowait(struct sg_evloop *ev)
{
	return ev->kind == SG_EVENT_LOOP_POLL ? 0 : turn(ev, NULL, 0);
}

void sg_evloop_destroy_context(struct sg_evloop *ev, struct lws_context **pctx)
{
	int busy = 0;

	if (ev && ev->kind == SG_EVENT_LOOP_LIBUV)
		disarm_poke(ev);
	/* On a foreign loop lws_context_destroy() only starts closing: the handles close as the
	 * loop turns, and lws then frees the context, or (when the loop went idle first) waits
	 * to be called again to finish. Either way it sets *pctx (info.pcontext) to NULL. Called
	 * again only once the loop is idle: lws has then closed what it had to. */
	for (int round = 0; *pctx && round < 3 && !busy; round++) {
		int turns = 0;

		lws_context_destroy(*pctx);
		while (*pctx && ev && (busy = run_nowait(ev)) && ++turns < FINISH_TURNS)
			;
	}
	if (*pctx)
		sg_warn("server", NULL, "libwebsockets did not finish destroying its context on the %s loop%s",
			sg_evloop_kind_name(sg_evloop_kind(ev)), busy ? " (its loop is still busy)" : "");
}

void sg_evloop_close(struct sg_evloop *ev)
{
	int turns = 0;

	if (!ev)
		return;
	switch (ev->kind) {
	case SG_EVENT_LOOP_LIBUV:
		while (turns++ < FINISH_TURNS && ev->uv_run(ev->loop, UV_RUN_NOWAIT))
			;
		if (ev->uv_loop_close(ev->loop)) {
			/* Still busy: freeing it would leave libuv with dangling handles. */
			sg_warn("server", NULL, "the libuv loop still had handles at exit; left allocated");
			ev->loop = NULL;
			ev->poke = NULL;
		}
		free(ev->poke);
		free(ev->loop);
		break;
	case SG_EVENT_LOOP_GLIB:
		while (turns++ < FINISH_TURNS && ev->g_main_context_iteration(ev->g_main_loop_get_context(ev->loop), 0))
			;
		ev->g_main_loop_unref(ev->loop);
		break;
	default:
		break;
	}
	free(ev);
}
