/* admin_ui.h - the official Socket.IO Admin UI (@socket.io/admin-ui) served by the gateway:
 * the `admin_ui` section's namespace, its login (bcrypt, verified off the loop), the
 * `config` and periodic `server_stats` it shows, and the operations it sends (join, leave,
 * _disconnect, emit), applied as the equivalent control commands are. */
#ifndef SG_ADMIN_UI_H
#define SG_ADMIN_UI_H

#include <jansson.h>

struct sg_admin_ui;
struct sg_config;
struct sg_sio;
struct sg_socket;
struct sg_stats;
struct lws_context;
struct sg_bin;
struct sg_sio_app;

/* NULL when out of memory (or the worker thread cannot start). `cfg` is borrowed, as the
 * sio's (sg_admin_ui_set_config after a reload). Does nothing until a config enables it. */
struct sg_admin_ui *sg_admin_ui_create(struct sg_sio *sio, struct lws_context *ctx, struct sg_stats *stats,
				       const struct sg_config *cfg);
void sg_admin_ui_set_config(struct sg_admin_ui *a, const struct sg_config *cfg);
/* On the loop's wake-up: finishes the logins the worker thread has verified. */
void sg_admin_ui_run_done(struct sg_admin_ui *a);
/* Stops the timer and the worker thread; pending logins are refused. NULL is a no-op. */
void sg_admin_ui_destroy(struct sg_admin_ui *a);

/* The sio's observer (sg_sio_set_observer): the UI's sockets connecting and the operations
 * they send. on_event returns 1 when the event was the UI's (not the bridges'). */
const struct sg_sio_app *sg_admin_ui_observer(void);
void sg_admin_ui_on_connection(void *ud, struct sg_socket *s);
int sg_admin_ui_on_event(void *ud, struct sg_socket *s, const char *event, json_t *args,
			 const struct sg_bin *att, size_t n_att, int64_t ack_id);

#endif
