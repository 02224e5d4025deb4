// http-auth.test.mjs - the `http` CONNECT middleware against a small Node auth service started
// here on a free port: the request it sends (POST JSON with namespace, auth, query and headers;
// cookie and the configured headers also as request headers), accept with claims reaching an
// auto_join room and a bridge topic, 401/403 with the body's message or the default, timeout,
// 5xx, connection refused, the result cache (requests counted at the service), and a client
// that leaves while its call is in flight, and a shutdown with a call in flight (the gateway
// neither crashes nor leaks: under SG_VALGRIND=1 the daemon runs under valgrind and stop()
// fails on a leak).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
	BUILDDIR, HOST, T, call, client, closeClients, connect, connectError, connected, freePort, ms, serverHooks,
	startDaemon, until,
} from './harness.mjs';

const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');
const WS = { transports: ['websocket'] };

/** The auth service: answers by auth.mode, counts requests, keeps the last one. */
function authService() {
	const svc = { requests: [], held: [], count: (mode) => svc.requests.filter((r) => r.body.auth?.mode === mode).length };
	svc.server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			let body;
			try {
				body = JSON.parse(Buffer.concat(chunks).toString());
			} catch {
				body = { unparsable: true };
			}
			svc.requests.push({ method: req.method, url: req.url, headers: req.headers, body });
			const json = (status, obj) => {
				res.writeHead(status, { 'content-type': 'application/json' });
				res.end(JSON.stringify(obj));
			};
			switch (body.auth?.mode) {
			case 'ok': return json(200, { user: body.auth.user ?? 'alice', role: 'admin' });
			case 'plain': res.writeHead(204); return res.end();
			case 'deny401': return json(401, { message: 'session expired' });
			case 'deny403': return json(403, { error: 'nope' });
			case 'boom': return json(503, { message: 'down for maintenance' });
			case 'slow': return; // never answers: the gateway's timeout decides
			case 'hold': return svc.held.push(() => json(200, { user: 'late' }));
			default: return json(400, { message: 'bad mode' });
			}
		});
	});
	return svc;
}

describe('http auth middleware', () => {
	let gw, svc, deadPort;

	serverHooks(async () => {
		svc = authService();
		await new Promise((resolve) => svc.server.listen(0, HOST, resolve));
		const url = `http://${HOST}:${svc.server.address().port}/socket-auth?v=1`;
		deadPort = await freePort(); // nothing listens there
		const step = { type: 'http', url, headers: ['X-Tenant'], timeout_ms: ms(1000) };
		gw = await startDaemon({
			namespaces: [
				{
					name: '/app',
					middleware: [step],
					rooms: { auto_join: ['user:{claims.user}'], client_join: true, max_rooms: 1 },
					bridge: {
						type: 'local',
						from_clients: [{ event: 'whoami', topic: 'who.{claims.user}.{claims.role}' }],
						to_clients: [{ topic: 'who.{room}' }],
					},
				},
				{ name: '/cached', middleware: [{ ...step, cache_ms: 60000 }] },
				{ name: '/refused', middleware: [{ type: 'http', url: `http://${HOST}:${deadPort}/auth`, message: 'auth down' }] },
			],
		}, { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
	}, async () => {
		await gw?.stop();
		for (const release of svc?.held ?? [])
			release();
		svc?.server.closeAllConnections();
		await new Promise((resolve) => svc?.server.close(resolve) ?? resolve());
	});

	async function refused(nsp, opts, message, reason) {
		const err = await connectError(client(gw.url + nsp, opts), ms(8000));
		assert.equal(err.message, message);
		assert.deepEqual(err.data, { reason });
	}

	it('POSTs namespace, auth, query and headers; cookie and listed headers also as headers', T(), async () => {
		const before = svc.requests.length;
		await connect(gw.url + '/app', {
			...WS, auth: { mode: 'ok', user: 'bob' }, query: { room: 'r1' },
			extraHeaders: { cookie: 'sid=s%3Aabc; theme=dark', 'x-tenant': 'acme', 'x-other': 'not sent' },
		});
		assert.equal(svc.requests.length, before + 1);
		const r = svc.requests.at(-1);
		assert.equal(r.method, 'POST');
		assert.equal(r.url, '/socket-auth?v=1');
		assert.equal(r.headers['content-type'], 'application/json');
		assert.equal(r.headers.host, `${HOST}:${svc.server.address().port}`);
		assert.equal(r.headers.cookie, 'sid=s%3Aabc; theme=dark');
		assert.equal(r.headers['x-tenant'], 'acme');
		assert.equal(r.headers['x-other'], undefined);
		assert.equal(r.body.namespace, '/app');
		assert.deepEqual(r.body.auth, { mode: 'ok', user: 'bob' });
		assert.equal(r.body.query.room, 'r1');
		assert.equal(r.body.query.EIO, '4');
		assert.deepEqual(r.body.headers, { cookie: 'sid=s%3Aabc; theme=dark', 'x-tenant': 'acme' });
	});

	it('2xx accepts: the JSON body fields become claims in auto_join and bridge topics', T(), async () => {
		const s = await connect(gw.url + '/app', { ...WS, auth: { mode: 'ok', user: 'carol' } });
		assert.deepEqual(await call(s, 'join', 'user:carol'), [{ ok: true }], 'auto-joined: free');
		assert.deepEqual(await call(s, 'join', 'lobby'), [{ ok: true }], 'the one client slot');
		assert.deepEqual(await call(s, 'join', 'more'), [{ ok: false, error: 'too many rooms' }]);
		const [ack] = await call(s, 'whoami', {});
		assert.equal(ack.ok, true, JSON.stringify(ack));
		assert.equal(ack.topic, 'who.carol.admin');
		// An empty 2xx answer accepts without claims; polling works the same.
		await connect(gw.url + '/app', { transports: ['polling'], auth: { mode: 'plain' } });
	});

	it('401 and 403 reject with the body message, else the configured one', T(), async () => {
		await refused('/app', { ...WS, auth: { mode: 'deny401' } }, 'session expired', 'unauthorized');
		await refused('/app', { ...WS, auth: { mode: 'deny403' } }, 'unauthorized', 'forbidden');
	});

	it('5xx, a timeout and a refused connection reject with a clear reason', T(20000), async () => {
		await refused('/app', { ...WS, auth: { mode: 'boom' } }, 'unauthorized', 'auth service error (HTTP 503)');
		const t0 = Date.now();
		await refused('/app', { ...WS, auth: { mode: 'slow' } }, 'unauthorized', 'auth service timed out');
		assert.ok(Date.now() - t0 >= ms(1000) - 50, 'not before timeout_ms');
		await refused('/refused', WS, 'auth down', 'auth service unreachable');
		// The gateway still serves after all that.
		await connect(gw.url + '/app', { ...WS, auth: { mode: 'ok' } });
	});

	it('caches answers for cache_ms, keyed on the whole request', T(), async () => {
		const n = svc.requests.length;
		const opts = (user, extraHeaders = {}) => ({ ...WS, auth: { mode: 'ok', user, tag: 'cache' }, extraHeaders });
		await connect(gw.url + '/cached', opts('dave'));
		await connect(gw.url + '/cached', opts('dave'));
		await connect(gw.url + '/cached', opts('dave'));
		assert.equal(svc.requests.length, n + 1, 'one request for three identical connects');
		await connect(gw.url + '/cached', opts('erin'));
		await connect(gw.url + '/cached', opts('dave', { 'x-tenant': 'other' }));
		assert.equal(svc.requests.length, n + 3, 'another auth payload or header is another request');
		// Rejections are cached too; the uncached namespace asks every time.
		await refused('/cached', { ...WS, auth: { mode: 'deny401', tag: 'cache' } }, 'session expired', 'unauthorized');
		await refused('/cached', { ...WS, auth: { mode: 'deny401', tag: 'cache' } }, 'session expired', 'unauthorized');
		assert.equal(svc.requests.length, n + 4);
		await connect(gw.url + '/app', opts('dave'));
		await connect(gw.url + '/app', opts('dave'));
		assert.equal(svc.requests.length, n + 6);
	});

	it('survives a client that leaves while its auth call is in flight', T(20000), async () => {
		for (const transports of [['websocket'], ['polling']]) {
			const held = svc.held.length;
			const s = client(gw.url + '/app', { transports, auth: { mode: 'hold' } });
			await until(() => svc.held.length === held + 1, 'the held auth request', ms(5000));
			s.disconnect();
			s.io.engine?.close();
			closeClients();
			// Let the gateway notice the close, then answer the orphaned call.
			await new Promise((resolve) => setTimeout(resolve, ms(200)));
			svc.held.splice(held, 1)[0]();
		}
		// Answered into the void: the gateway is alive and still authenticates.
		const s = await connect(gw.url + '/app', { ...WS, auth: { mode: 'ok', user: 'frank' } });
		assert.equal((await call(s, 'whoami', {}))[0].topic, 'who.frank.admin');
	});

	// A reload swaps the chain while a CONNECT waits on its http step. The old chain is
	// [http, token]; the new one is [http] alone. Resumed in the new chain at the old
	// position, the CONNECT would skip the token step and be let in without a token.
	it('judges a CONNECT held across a reload by the chain it started with', T(30000), async () => {
		const url = `http://${HOST}:${svc.server.address().port}/socket-auth`;
		const http1 = { type: 'http', url, timeout_ms: 60000 };
		const gw3 = await startDaemon({
			namespaces: [{ name: '/app', middleware: [http1, { type: 'token', secret: 'old-secret', message: 'old chain' }] }],
		}, { name: 'siogate-http-reload' });
		try {
			const held = svc.held.length;
			const s = client(gw3.url + '/app', { ...WS, auth: { mode: 'hold' } });
			await until(() => svc.held.length === held + 1, 'the held auth request', ms(5000));
			const cfg = structuredClone(gw3.config);
			cfg.namespaces = [{ name: '/app', middleware: [http1] }];
			fs.writeFileSync(gw3.configPath, JSON.stringify(cfg));
			gw3.signal('SIGHUP');
			await gw3.waitLog(/configuration reloaded/);
			svc.held.splice(held, 1)[0]();
			const err = await connectError(s);
			assert.equal(err.message, 'old chain');
			// A CONNECT that starts now meets the new chain only.
			const later = client(gw3.url + '/app', { ...WS, auth: { mode: 'hold' } });
			await until(() => svc.held.length === held + 1, 'the second held auth request', ms(5000));
			svc.held.splice(held, 1)[0]();
			await connected(later);
		} finally {
			closeClients();
			await gw3.stop();
		}
	});

	it('stops cleanly (exit 0, nothing leaked) with an auth call in flight', T(30000), async () => {
		const url = `http://${HOST}:${svc.server.address().port}/socket-auth`;
		const gw2 = await startDaemon({ namespaces: [{ name: '/app', middleware: [{ type: 'http', url, timeout_ms: 60000 }] }] },
			{ name: 'siogate-http-stop' });
		try {
			const held = svc.held.length;
			client(gw2.url + '/app', { ...WS, auth: { mode: 'hold' } });
			await until(() => svc.held.length === held + 1, 'the held auth request', ms(5000));
		} finally {
			await gw2.stop(); // SIGTERM; throws unless the exit code is 0 (valgrind: 99 on a leak)
		}
	});
});
