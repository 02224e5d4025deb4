/* admin_ui_login.c - the Admin UI's login: the step on its namespace that checks the
 * credentials the UI sends ({"username","password"}, or {"sessionId"} after a reload).
 *
 * The password is checked against the configured bcrypt hash by libcrypt on a worker thread
 * (a bcrypt takes tens of milliseconds: never on the event loop); its verdicts come back
 * through the loop's wake-up (sg_ui_login_run_done). Refusals say "invalid credentials" (the
 * official server's words, which the UI knows), are counted, and are logged at most once a
 * minute; an address with THROTTLE_FAILS failures within a minute is refused unverified
 * until the minute has passed. A login gets a session id (16 hex characters, kept a day, at
 * most MAX_SESSIONS), handed to the socket as a claim for admin_ui.c to send. */
#include "admin_ui_login.h"

#include <crypt.h>
#include <dlfcn.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "admin_ui_config.h"
#include "eio.h"
#include "hmap.h"
#include "log.h"
#include "stats.h"
#include "util/clock.h"

#define INVALID "invalid credentials" /* the official server's words: the UI knows them */
#define MAX_JOBS 64                   /* logins waiting for the worker */
#define MAX_SESSIONS 1024             /* UI sessions kept (a reload reconnects with one) */
#define SESSION_TTL_MS (24LL * 3600 * 1000)
#define THROTTLE_FAILS 5              /* failures per address within THROTTLE_WINDOW_MS ... */
#define THROTTLE_WINDOW_MS 60000      /* ... before its logins are refused unverified */
#define THROTTLE_MAX 10000            /* addresses remembered */
#define LOG_INTERVAL_S 60

struct job {
	struct job *next;
	struct sg_connect_req *req;
	char *password;
	char address[64];
	int user_ok;
	int ok;                       /* the worker's verdict */
};

struct session {
	char id[17];                  /* 16 hex characters, as the official server's */
	long long expires;            /* sg_mono_ms() */
};

struct strike {
	char address[64];
	int fails;
	long long since;              /* sg_mono_ms() of the window's first failure */
};

struct sg_ui_login {
	struct lws_context *ctx;
	struct sg_stats *stats;
	char nsp[256];                /* the admin namespace, "" when off */
	int auth_off;
	char user[256];
	char hash[64];                /* guarded by mu (the worker reads it) */
	pthread_t worker;
	int worker_up, stopping;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *todo, *done;      /* guarded by mu */
	char crypt_err[256];          /* guarded by mu: why libcrypt is unusable, "" when it is */
	int crypt_err_logged;
	size_t n_todo;
	struct session sessions[MAX_SESSIONS];
	size_t n_sessions;
	struct sg_hmap strikes;       /* address -> struct strike (keys: inside) */
	time_t failed_logged;
	unsigned long failures;
};

typedef char *(*crypt_r_fn)(const char *, const char *, struct crypt_data *);

/* libcrypt is opened by the worker at its first login, not linked: a gateway without the Admin
 * UI never maps it (each library mapped into every process is one more thing to trust). Debian's
 * libcrypt1 is an essential package; should it be missing, every login is refused, and the
 * loop logs why (ERR, filled here, is read under the lock). */
static crypt_r_fn open_crypt(void **dl, char *err, size_t n)
{
	crypt_r_fn f = NULL;
	const char *e;

	*dl = dlopen("libcrypt.so.1", RTLD_NOW | RTLD_LOCAL);
	if (*dl)
		*(void **)&f = dlsym(*dl, "crypt_r");
	if (!f) {
		e = dlerror();
		snprintf(err, n, "cannot load crypt_r from libcrypt.so.1 (%s): every login is refused",
			 e ? e : "no such symbol");
	}
	return f;
}

static void *worker_run(void *arg)
{
	struct sg_ui_login *a = arg;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	crypt_r_fn crypt_fn = NULL;
	void *dl = NULL;
	int opened = 0;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		struct job *j;
		const char *hash;

		while (!a->todo && !a->stopping)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->stopping)
			break;
		j = a->todo;
		a->todo = j->next;
		a->n_todo--;
		hash = a->hash;
		/* The loop may replace the hash (a reload): copied under the lock. */
		{
			char h[64] = "";
			const char *out;

			if (hash[0])
				snprintf(h, sizeof(h), "%s", hash);
			pthread_mutex_unlock(&a->mu);
			if (!opened) {
				char err[sizeof(a->crypt_err)] = "";

				crypt_fn = open_crypt(&dl, err, sizeof(err));
				opened = 1;
				pthread_mutex_lock(&a->mu);
				memcpy(a->crypt_err, err, sizeof(err));
				pthread_mutex_unlock(&a->mu);
			}
			out = cd && h[0] && crypt_fn ? crypt_fn(j->password, h, cd) : NULL;
			/* Compared in full whatever differs: no early exit to time. */
			if (out && strlen(out) == strlen(h)) {
				unsigned char diff = 0;

				for (size_t i = 0; h[i]; i++)
					diff |= (unsigned char)(out[i] ^ h[i]);
				j->ok = !diff && j->user_ok;
			}
			pthread_mutex_lock(&a->mu);
		}
		j->next = a->done;
		a->done = j;
		if (a->ctx)
			lws_cancel_service(a->ctx);
	}
	pthread_mutex_unlock(&a->mu);
	free(cd);
	if (dl)
		dlclose(dl);
	return NULL;
}

static void job_free(struct job *j)
{
	if (j->password) {
		explicit_bzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j);
}

static struct strike *strike_of(struct sg_ui_login *a, const char *address)
{
	return sg_hmap_get(&a->strikes, address, strlen(address));
}

static int throttled(struct sg_ui_login *a, const char *address)
{
	struct strike *s = strike_of(a, address);

	if (!s)
		return 0;
	if (sg_mono_ms() - s->since > THROTTLE_WINDOW_MS) {
		sg_hmap_del(&a->strikes, s->address, strlen(s->address));
		free(s);
		return 0;
	}
	return s->fails >= THROTTLE_FAILS;
}

/* Forgets every window that has passed (when the table is full), so that addresses that
 * come and go cannot fill it. */
static void strikes_sweep(struct sg_ui_login *a, int all)
{
	long long now = sg_mono_ms();

	for (size_t i = 0; i < a->strikes.cap; i++) {
		struct strike *s = a->strikes.slots[i].hash ? a->strikes.slots[i].val : NULL;

		if (s && (all || now - s->since > THROTTLE_WINDOW_MS)) {
			sg_hmap_del(&a->strikes, s->address, strlen(s->address));
			free(s);
			i = (size_t)-1; /* the table moved: start over */
		}
	}
}

static void strike(struct sg_ui_login *a, const char *address)
{
	struct strike *s = strike_of(a, address);

	if (!s) {
		if (a->strikes.count >= THROTTLE_MAX)
			strikes_sweep(a, 0);
		if (a->strikes.count >= THROTTLE_MAX || !(s = calloc(1, sizeof(*s))))
			return;
		snprintf(s->address, sizeof(s->address), "%s", address);
		s->since = sg_mono_ms();
		if (sg_hmap_put(&a->strikes, s->address, strlen(s->address), s)) {
			free(s);
			return;
		}
	}
	s->fails++;
}

static void refuse(struct sg_ui_login *a, struct sg_connect_req *req, const char *address, const char *why)
{
	time_t now = time(NULL);

	a->failures++;
	a->stats->admin_logins_failed++;
	if (now - a->failed_logged >= LOG_INTERVAL_S) {
		a->failed_logged = now;
		sg_warn("admin_ui", NULL, "login refused from %s: %s (%lu refused so far; at most one line a minute)",
			address, why, a->failures);
	}
	sg_connect_req_reject(req, INVALID, NULL);
}

static void session_new(struct sg_ui_login *a, char out[17])
{
	unsigned char rnd[8];
	long long now = sg_mono_ms();
	size_t i, k = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		abort();
	for (i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	/* Expired ones go; when full, the oldest. */
	for (i = 0; i < a->n_sessions; i++)
		if (a->sessions[i].expires > now)
			a->sessions[k++] = a->sessions[i];
	a->n_sessions = k;
	if (a->n_sessions == MAX_SESSIONS) {
		memmove(a->sessions, a->sessions + 1, (MAX_SESSIONS - 1) * sizeof(a->sessions[0]));
		a->n_sessions--;
	}
	memcpy(a->sessions[a->n_sessions].id, out, 17);
	a->sessions[a->n_sessions].expires = now + SESSION_TTL_MS;
	a->n_sessions++;
}

static int session_known(const struct sg_ui_login *a, const char *id)
{
	long long now = sg_mono_ms();

	for (size_t i = 0; id && i < a->n_sessions; i++)
		if (a->sessions[i].expires > now && !strcmp(a->sessions[i].id, id))
			return 1;
	return 0;
}

static const char *address_of(struct sg_connect_req *req)
{
	struct sg_eio_session *es = sg_connect_req_session(req);
	const char *r = es ? sg_eio_session_remote(es) : NULL;

	return r ? r : "?";
}

/* The login step of the admin namespace. */
enum sg_mw_result sg_ui_login_step(void *ud, struct sg_connect_req *req)
{
	struct sg_ui_login *a = ud;
	json_t *auth = sg_connect_req_auth(req);
	const char *user = json_string_value(json_object_get(auth, "username"));
	const char *pass = json_string_value(json_object_get(auth, "password"));
	const char *address = address_of(req);
	struct job *j = NULL;

	if (!a->nsp[0] || strcmp(a->nsp, sg_connect_req_nsp(req))) {
		sg_connect_req_reject(req, "Invalid namespace", NULL);
		return SG_MW_REJECT;
	}
	if (a->auth_off)
		return SG_MW_NEXT;
	if (session_known(a, json_string_value(json_object_get(auth, "sessionId"))))
		return SG_MW_NEXT;
	if (throttled(a, address)) {
		refuse(a, req, address, "too many failures from this address: refused unverified");
		return SG_MW_REJECT;
	}
	if (!user || !pass || strlen(pass) > 1024) {
		strike(a, address);
		refuse(a, req, address, "no username or password");
		return SG_MW_REJECT;
	}
	/* The worker starts at the first login: a gateway whose Admin UI nobody logs in to (or
	 * that has none) runs no extra thread. */
	if (!a->worker_up && pthread_create(&a->worker, NULL, worker_run, a) == 0)
		a->worker_up = 1;
	if (!a->worker_up) {
		refuse(a, req, address, "cannot start the login worker thread");
		return SG_MW_REJECT;
	}
	pthread_mutex_lock(&a->mu);
	if (a->n_todo >= MAX_JOBS || !(j = calloc(1, sizeof(*j))) || !(j->password = strdup(pass))) {
		pthread_mutex_unlock(&a->mu);
		if (j)
			free(j);
		refuse(a, req, address, "too many logins at once");
		return SG_MW_REJECT;
	}
	j->req = req;
	j->user_ok = !strcmp(user, a->user);
	snprintf(j->address, sizeof(j->address), "%s", address);
	j->next = a->todo;
	a->todo = j;
	a->n_todo++;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return SG_MW_PENDING;
}

void sg_ui_login_run_done(struct sg_ui_login *a)
{
	struct job *j;

	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	j = a->done;
	a->done = NULL;
	if (a->crypt_err[0] && !a->crypt_err_logged) {
		a->crypt_err_logged = 1;
		sg_err("admin_ui", NULL, "%s", a->crypt_err);
	}
	pthread_mutex_unlock(&a->mu);
	while (j) {
		struct job *next = j->next;

		if (sg_connect_req_cancelled(j->req)) {
			sg_connect_req_done(j->req, SG_MW_REJECT);
		} else if (j->ok) {
			char id[17];
			json_t *v;

			session_new(a, id);
			a->stats->admin_logins_ok++;
			v = json_string(id);
			sg_connect_req_set_claim(j->req, SG_UI_SESSION_CLAIM, v);
			json_decref(v);
			sg_info("admin_ui", NULL, "login from %s", j->address);
			sg_connect_req_done(j->req, SG_MW_NEXT);
		} else {
			strike(a, j->address);
			refuse(a, j->req, j->address, "wrong username or password");
			sg_connect_req_done(j->req, SG_MW_REJECT);
		}
		job_free(j);
		j = next;
	}
}


void sg_ui_login_set(struct sg_ui_login *a, const struct sg_admin_ui_config *c)
{
	pthread_mutex_lock(&a->mu);
	snprintf(a->nsp, sizeof(a->nsp), "%s", c && c->enabled ? c->nsp : "");
	a->auth_off = c && c->auth_off;
	snprintf(a->user, sizeof(a->user), "%s", c && c->username ? c->username : "");
	snprintf(a->hash, sizeof(a->hash), "%s", c && c->password_hash ? c->password_hash : "");
	pthread_mutex_unlock(&a->mu);
}

struct sg_ui_login *sg_ui_login_create(struct lws_context *ctx, struct sg_stats *stats)
{
	struct sg_ui_login *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->ctx = ctx;
	a->stats = stats;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	sg_hmap_init(&a->strikes);
	return a;
}

void sg_ui_login_destroy(struct sg_ui_login *a)
{
	struct job *j;

	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->worker_up)
		pthread_join(a->worker, NULL);
	/* Logins still waiting: their clients are gone with the server. */
	for (int pass = 0; pass < 2; pass++) {
		j = pass ? a->done : a->todo;
		while (j) {
			struct job *next = j->next;

			sg_connect_req_reject(j->req, INVALID, NULL);
			sg_connect_req_done(j->req, SG_MW_REJECT);
			job_free(j);
			j = next;
		}
	}
	strikes_sweep(a, 1);
	sg_hmap_free(&a->strikes);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a);
}
