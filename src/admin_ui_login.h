/* admin_ui_login.h - the Admin UI's login step (admin_ui_login.c): bcrypt off the loop,
 * sessions for reloads, throttling per address. */
#ifndef SG_ADMIN_UI_LOGIN_H
#define SG_ADMIN_UI_LOGIN_H

#include "connect_req.h"

/* The claim that carries a new session id to the socket (admin_ui.c sends it). */
#define SG_UI_SESSION_CLAIM "admin_ui_session"

struct sg_ui_login;
struct sg_admin_ui_config;
struct sg_stats;
struct lws_context;

/* NULL when out of memory. Off until sg_ui_login_set gives it a config; its worker thread
 * starts at the first login that needs a password checked (if it cannot, logins are refused). */
struct sg_ui_login *sg_ui_login_create(struct lws_context *ctx, struct sg_stats *stats);
/* The credentials and namespace to judge by, copied (a reload calls it again). */
void sg_ui_login_set(struct sg_ui_login *l, const struct sg_admin_ui_config *c);
/* The step (sg_sio_add_middleware's sg_mw_fn; `ud` is the login). */
enum sg_mw_result sg_ui_login_step(void *ud, struct sg_connect_req *req);
/* On the loop's wake-up: ends the logins the worker has judged. */
void sg_ui_login_run_done(struct sg_ui_login *l);
/* Joins the worker; logins still waiting are refused. NULL is a no-op. */
void sg_ui_login_destroy(struct sg_ui_login *l);

#endif
