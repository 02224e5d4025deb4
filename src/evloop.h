/* evloop.h - the event loop under libwebsockets (evloop.c): poll(2), or libuv / GLib
 * through lws's event-library plugins, run one turn at a time. */
#ifndef SG_EVLOOP_H
#define SG_EVLOOP_H

#include <stddef.h>
#include <libwebsockets.h>

#include "server_config.h"

struct sg_evloop;

/* Opens KIND (not AUTO) for a context about to be created with INFO: loads the event library,
 * creates its loop and sets info->options and info->foreign_loops (which must stay valid until
 * lws_create_context returns). NULL, with WHY filled, when the plugin or library is missing. */
struct sg_evloop *sg_evloop_open(enum sg_event_loop kind, struct lws_context_creation_info *info, char *why,
				 size_t n);
enum sg_event_loop sg_evloop_kind(const struct sg_evloop *ev);
/* 1 when lws timers run only once no socket is ready (GLib: idle priority). */
int sg_evloop_timers_when_idle(const struct sg_evloop *ev);
/* "poll", "libuv", "glib" ("auto" for AUTO). */
const char *sg_evloop_kind_name(enum sg_event_loop kind);
/* One turn: waits for an event, a timer or lws_cancel_service(), handles what is ready.
 * -1 when the context is gone (poll only). */
int sg_evloop_run_once(struct sg_evloop *ev, struct lws_context *ctx);
/* One turn that does not wait: handles what is ready now, if anything. -1 as above. */
int sg_evloop_run_ready(struct sg_evloop *ev, struct lws_context *ctx);
/* Destroys the context created on EV (with info.pcontext = PCTX), turning the loop until lws
 * has closed its handles and freed the context (*pctx is NULL then). */
void sg_evloop_destroy_context(struct sg_evloop *ev, struct lws_context **pctx);
/* Frees the loop (after its context is gone, or if it never got one). NULL is a no-op. */
void sg_evloop_close(struct sg_evloop *ev);

#endif
