/* sio_connect.c - a client's CONNECT to a namespace: its chain of steps (the namespace's
 * configured middleware, then the programmatic ones) handed to a connect request, and the
 * socket it becomes, or the CONNECT_ERROR it ends in. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "middleware.h"
#include "sio_internal.h"

/* ---------------------------------------------------------------- programmatic steps */

int sg_sio_add_middleware(struct sg_sio *sio, const char *nsp, sg_mw_fn fn, void *ud)
{
	struct sg_prog_mw *m = calloc(1, sizeof(*m)), **pp;

	if (!m || !(m->nsp = strdup(nsp))) {
		free(m);
		return -1;
	}
	m->fn = fn;
	m->ud = ud;
	for (pp = &sio->mws; *pp; pp = &(*pp)->next)
		;
	*pp = m;
	return 0;
}

void sg_sio_free_middleware(struct sg_sio *sio)
{
	while (sio->mws) {
		struct sg_prog_mw *m = sio->mws;
		sio->mws = m->next;
		free(m->nsp);
		free(m);
	}
}

/* A programmatic step as a chain step: its data is the sg_prog_mw, which lives as long as
 * the sio; a request still pending when the sio goes is cancelled, and runs no more steps. */
static enum sg_mw_result run_prog(const void *data, struct sg_connect_req *req)
{
	const struct sg_prog_mw *m = data;

	return m->fn(m->ud, req);
}

/* ---------------------------------------------------------------- the client's requests */

static int reqs_add(struct sg_client *c, struct sg_connect_req *req)
{
	if (c->n_reqs == c->cap_reqs) {
		size_t cap = c->cap_reqs ? c->cap_reqs * 2 : 2;
		struct sg_connect_req **r = realloc(c->reqs, cap * sizeof(*r));

		if (!r)
			return -1;
		c->reqs = r;
		c->cap_reqs = cap;
	}
	c->reqs[c->n_reqs++] = req;
	return 0;
}

static void reqs_remove(struct sg_client *c, size_t i)
{
	c->reqs[i] = c->reqs[--c->n_reqs];
}

static void reqs_unlink(struct sg_client *c, const struct sg_connect_req *req)
{
	for (size_t i = 0; i < c->n_reqs; i++)
		if (c->reqs[i] == req) {
			reqs_remove(c, i);
			return;
		}
}

int sg_sio_connect_cancel(struct sg_client *c, const char *nsp)
{
	for (size_t i = 0; i < c->n_reqs; i++) {
		struct sg_connect_req *req = c->reqs[i];

		if (!strcmp(sg_connect_req_nsp(req), nsp)) {
			reqs_remove(c, i);
			sg_connect_req_cancel(req);
			return 1;
		}
	}
	return 0;
}

void sg_sio_connect_cancel_all(struct sg_client *c)
{
	while (c->n_reqs)
		sg_connect_req_cancel(c->reqs[--c->n_reqs]);
	free(c->reqs);
	c->reqs = NULL;
	c->cap_reqs = 0;
}

/* ---------------------------------------------------------------- the end of a CONNECT */

/* `by_middleware`: the chain refused (else the namespace itself was refused). */
static void send_connect_error(struct sg_client *c, const char *nsp, const char *message, json_t *data,
			       int by_middleware)
{
	json_t *err;

	if (by_middleware && sg_eio_session_protocol(c->session) == 3)
		/* v2: an ERROR packet (the same type 4) whose payload is the middleware's data,
		 * or else its message: the client's `error` event gets it as it is (Node). */
		err = data ? json_incref(data) : json_string(message);
	else if ((err = json_pack("{ss}", "message", message)) && data)
		json_object_set(err, "data", data);
	c->sio->stats->sockets_rejected++;
	sg_client_send(c, SG_SIO_CONNECT_ERROR, nsp, -1, err, NULL, 0);
	json_decref(err);
}

static void req_reject(struct sg_client *c, struct sg_connect_req *req)
{
	const char *why = sg_connect_req_reject_message(req);

	sg_dbg("sio", sg_eio_session_id(c->session), "CONNECT to %s refused: %s", sg_connect_req_nsp(req), why);
	send_connect_error(c, sg_connect_req_nsp(req), why, sg_connect_req_reject_data(req), 1);
}

static void rejoin(void *ud, const char *room)
{
	struct sg_socket *s = ud;

	if (strcmp(room, s->id))
		sg_socket_join(s, room, SG_JOIN_AUTO);
}

static void req_accept(struct sg_client *c, struct sg_connect_req *req)
{
	struct sg_sio *sio = c->sio;
	struct sg_nsp *nsp = sg_nsp_get(sio, sg_connect_req_nsp(req), 1);
	json_t *resume = sg_connect_req_owner_data(req);
	const char *pid = json_string_value(json_object_get(resume, "pid"));
	const char *offset = json_string_value(json_object_get(resume, "offset"));
	const struct sg_rec_session *rs = NULL;
	json_t *claims = sg_connect_req_claims(req);
	struct sg_socket *s;
	json_t *reply;

	if (!nsp) { /* removed by a reload while the chain ran */
		sg_connect_req_reject(req, "Invalid namespace", NULL);
		req_reject(c, req);
		return;
	}
	/* Looked up again: the session may have expired, or been taken by another CONNECT with
	 * the same pid, while the chain ran. */
	if (pid && !(rs = sg_recovery_find(nsp, pid, offset)))
		sg_recovery_missed(nsp);
	if (!rs && json_is_true(json_object_get(resume, "skipped"))) {
		/* Cannot happen (a chain without steps ends at once), but a socket that skipped
		 * the middleware must never come out of it without the session it relied on. */
		sg_connect_req_reject(req, "Session expired", NULL);
		req_reject(c, req);
		return;
	}
	/* Claims: those of the middleware that just ran, or the session's when it was skipped. */
	if (rs && (!claims || !json_object_size(claims)))
		claims = sg_rec_session_claims(rs);
	s = sg_socket_new(c, nsp, sg_connect_req_auth(req), claims, rs ? sg_rec_session_sid(rs) : NULL);
	if (!s)
		goto oom;
	sg_timer_cancel(&c->t_connect);
	if (sg_socket_join(s, s->id, SG_JOIN_AUTO) < 0 || sg_recovery_attach(s, rs)) {
		sg_socket_remove(s, "out of memory");
		goto oom;
	}
	if (rs) {
		json_t *chosen = sg_rec_session_client_rooms(rs);

		s->recovered = 1;
		sg_rec_session_foreach_room(rs, rejoin, s);
		if (chosen)
			s->client_rooms = json_deep_copy(chosen);
	}
	sg_auto_join(s);

	/* A v2 client gets a CONNECT without payload: it knows its id already. */
	reply = sg_eio_session_protocol(c->session) == 3 ? NULL : json_pack("{ss}", "sid", s->id);
	if (reply && s->rec)
		json_object_set_new(reply, "pid", json_string(s->rec->pid));
	sg_client_send(c, SG_SIO_CONNECT, nsp->name, -1, reply, NULL, 0);
	json_decref(reply);
	/* The missed packets come right after the answer, before anything new (one loop turn). */
	if (rs)
		sg_recovery_replay(s, rs, offset);
	sio->stats->sockets_connected++;
	sg_dbg("sio", s->id, "%s namespace %s", s->recovered ? "recovered its session in" : "joined", nsp->name);
	if (sio->obs.on_connection)
		sio->obs.on_connection(sio->obs_ud, s);
	if (sio->app.on_connection)
		sio->app.on_connection(sio->app_ud, s);
	return;
oom:
	/* The request is live, so the client's session is open (its close cancels requests);
	 * closing it frees the client through sio's close handler. */
	sg_eio_session_close(c->session, "out of memory");
}

/* The request's chain ended (connect_req calls this, then frees the request). */
static void req_end(void *owner, struct sg_connect_req *req, enum sg_mw_result result)
{
	struct sg_client *c = owner;

	reqs_unlink(c, req);
	if (result == SG_MW_NEXT)
		req_accept(c, req);
	else
		req_reject(c, req);
}

/* ---------------------------------------------------------------- the start of a CONNECT */

static int hexval(int ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
	       ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* application/x-www-form-urlencoded: '+' is a space, %XX a byte; a bad escape stays as it
 * is (as URLSearchParams does). NULL when out of memory. */
static char *form_decode(const char *p, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '+') {
			*o++ = ' ';
		} else if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			*o++ = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			i += 2;
		} else {
			*o++ = p[i];
		}
	}
	*o = '\0';
	return out;
}

int sg_sio_v2_namespace(struct sg_sio_packet *p)
{
	char *q = strchr(p->nsp, '?');
	json_t *auth;

	if (!q)
		return 0;
	*q++ = '\0';
	if (p->type != SG_SIO_CONNECT)
		return 0;
	if (!(auth = json_object()))
		return -1;
	while (*q) {
		size_t len = strcspn(q, "&"), klen = strcspn(q, "=");
		char *k, *v;

		if (klen > len)
			klen = len;
		k = form_decode(q, klen);
		v = form_decode(q + klen + (klen < len), len - klen - (klen < len));
		if (!k || !v) {
			free(k);
			free(v);
			json_decref(auth);
			return -1;
		}
		/* Later values of a repeated key win, as Object.fromEntries does. A key or
		 * value that is not UTF-8 is left out (jansson refuses it). */
		if (*k)
			json_object_set_new(auth, k, json_string(v));
		free(k);
		free(v);
		q += len + (q[len] == '&');
	}
	json_decref(p->data);
	p->data = auth;
	return 0;
}

/* The chain of namespace `name` under cfg: its configured steps, then the programmatic
 * ones for that name. Returns a malloc'ed array of *n steps, or NULL when out of memory. */
static struct sg_mw_step *build_chain(struct sg_sio *sio, const struct sg_nsp_config *nc,
				      const char *name, size_t *n)
{
	size_t max = nc ? nc->n_middleware : 0;
	struct sg_mw_step *steps;
	struct sg_prog_mw *m;

	for (m = sio->mws; m; m = m->next)
		max++;
	if (!(steps = malloc((max + 1) * sizeof(*steps))))
		return NULL;
	*n = sg_mw_steps(nc, steps);
	for (m = sio->mws; m; m = m->next)
		if (!strcmp(m->nsp, name))
			steps[(*n)++] = (struct sg_mw_step){run_prog, m};
	return steps;
}

/* In a namespace with recovery, the client's `pid` and `offset` are taken out of its auth
 * (a private id: never shown to middleware, lifecycle records or anyone) into *resume,
 * with "skipped": true when the session they name is live and skip_middleware is set.
 * A v2 client's auth is left alone (it has no pid). -1 when out of memory. */
static int take_resume(struct sg_client *c, const char *name, json_t **auth, json_t **resume)
{
	struct sg_nsp *nsp = sg_nsp_get(c->sio, name, 0);
	json_t *pid, *off, *a;

	*resume = NULL;
	if (!nsp || !nsp->rec || !json_is_object(*auth) || sg_eio_session_protocol(c->session) == 3)
		return 0;
	pid = json_object_get(*auth, "pid");
	off = json_object_get(*auth, "offset");
	if (!pid && !off)
		return 0;
	/* A copy: the packet's auth is the client's, and may be shared. */
	if (!(a = json_copy(*auth)) || !(*resume = json_object())) {
		json_decref(a);
		return -1;
	}
	json_object_del(a, "pid");
	json_object_del(a, "offset");
	json_decref(*auth);
	*auth = a;
	if (!json_is_string(pid) || json_string_length(pid) > 64)
		return 0; /* not one of ours: a fresh session */
	json_object_set(*resume, "pid", pid);
	if (json_is_string(off))
		json_object_set(*resume, "offset", off);
	if (nsp->cfg->recovery.skip_middleware &&
	    sg_recovery_find(nsp, json_string_value(pid), json_string_value(off)))
		json_object_set_new(*resume, "skipped", json_true());
	return 0;
}

const char *sg_sio_connect(struct sg_client *c, struct sg_sio_packet *p)
{
	struct sg_sio *sio = c->sio;
	struct sg_connect_req *req;
	struct sg_mw_step *steps;
	struct sg_socket *s;
	json_t *auth, *resume;
	size_t n;

	for (s = c->sockets; s; s = s->client_next)
		if (!strcmp(s->nsp->name, p->nsp))
			return "invalid state: already connected to the namespace";
	for (size_t i = 0; i < c->n_reqs; i++)
		if (!strcmp(sg_connect_req_nsp(c->reqs[i]), p->nsp))
			return "invalid state: already connecting to the namespace";
	if (!sg_nsp_get(sio, p->nsp, 1)) {
		send_connect_error(c, p->nsp, "Invalid namespace", NULL, 0);
		return NULL;
	}
	if (c->n_sockets + c->n_reqs >= sio->cfg->server.max_namespaces_per_client) {
		send_connect_error(c, p->nsp, "Too many namespaces on one connection", NULL, 0);
		return NULL;
	}
	/* Judged by the chain of the config it arrives under, from start to end (the request
	 * holds a reference to that config, whose steps the chain points into). */
	if (!(steps = build_chain(sio, sg_config_find_nsp(sio->cfg, p->nsp), p->nsp, &n)))
		return "out of memory";
	auth = json_incref(p->data ? p->data : sio->empty);
	if (take_resume(c, p->nsp, &auth, &resume) < 0) {
		json_decref(auth);
		free(steps);
		return "out of memory";
	}
	/* skip_middleware: a socket taking its session over goes without the chain. */
	if (json_is_true(json_object_get(resume, "skipped")))
		n = 0;
	req = sg_connect_req_new(p->nsp, auth, sio->cfg, steps, n, c->session, sio->ctx, req_end, c);
	json_decref(auth);
	free(steps);
	if (req)
		sg_connect_req_set_owner_data(req, resume);
	else
		json_decref(resume);
	if (!req || reqs_add(c, req)) {
		if (req)
			sg_connect_req_cancel(req);
		return "out of memory";
	}
	sg_connect_req_start(req);
	return NULL;
}
