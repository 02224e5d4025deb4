// daemon.test.mjs - the siogate daemon with the official client: namespaces from the config
// (static names and `match` regexes, "/" always there, unknown ones refused), the room
// policy (auto-join templates, join/leave events and every refusal), events without a
// handler, the token and origin middleware, server.path, CORS, the transports setting,
// and a clean exit 0 on SIGTERM with clients connected.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Manager } from 'socket.io-client';

import {
	SIOGATE, T, call, client, closeClients, connect, connectError, connected, httpGet, httpRequest, ms, once, run, runSiogate,
	serverHooks, startDaemon, track, until, withDaemon, writeConfig,
} from './harness.mjs';

const OK = [{ ok: true }];
const refused = (error) => [{ ok: false, error }];

const CONFIG = {
	server: { connect_timeout_ms: 5000 },
	namespaces: [
		{
			name: '/chat',
			rooms: {
				auto_join: ['user:{auth.user}', '{query.room}', 'ns:{nsp}', 'me:{sid}'],
				client_join: true,
				allow: '^[A-Za-z0-9:_/-]{1,40}$',
				max_rooms: 2,
			},
		},
		{ name: '/open', rooms: { client_join: true } },
		{ name: '/custom-events', rooms: { client_join: true, join_event: 'subscribe', leave_event: 'unsubscribe' } },
		{ name: '/no-rooms' },
		{ match: '^/tenant-[0-9]+$', rooms: { client_join: true, max_rooms: 1 } },
		{ match: '/.*-ops', middleware: [{ type: 'token', secret: 'ops-secret' }] },
		{
			name: '/secure',
			middleware: [{ type: 'token', secret: 's3cret', header: 'x-siogate-token', message: 'go away' }],
		},
		{ name: '/api-key', middleware: [{ type: 'token', secret: '${SG_IT_TOKEN}', auth_field: 'apiKey' }] },
		{ name: '/origin', middleware: [{ type: 'origin', allow: ['http://good.example', 'https://also.example:8443'] }] },
		{
			name: '/both',
			middleware: [
				{ type: 'token', secret: 'first', message: 'token first' },
				{ type: 'origin', allow: ['http://good.example'], message: 'bad origin' },
			],
		},
	],
};

for (const transport of ['websocket', 'polling']) {
	describe(`daemon over ${transport}`, () => {
		let gw;
		const opts = { transports: [transport] };

		serverHooks(async () => {
			gw = await startDaemon(CONFIG, { env: { SG_IT_TOKEN: 'from-env' } });
		}, () => gw?.stop());

		describe('namespaces', () => {
			it('"/" exists although no rule names it; an unhandled event is acked with an error', T(), async () => {
				const s = await connect(gw.url, opts);
				assert.deepEqual(await call(s, 'hello', 1, { a: 2 }), refused("no handler for event 'hello'"));
				// Without an ack request nothing comes back, and the connection stays.
				s.emit('fire-and-forget', 1);
				assert.deepEqual(await call(s, 'still-there'), refused("no handler for event 'still-there'"));
				// Join/leave are plain events where client_join is off (the default for "/").
				assert.deepEqual(await call(s, 'join', 'room'), refused("no handler for event 'join'"));
			});

			it('a long event name is cut in the error, not overflowed', T(), async () => {
				const s = await connect(gw.url, opts);
				const [res] = await call(s, 'e'.repeat(500));
				assert.equal(res.ok, false);
				assert.match(res.error, /^no handler for event 'e+'$/);
				assert.ok(res.error.length < 100, res.error);
			});

			it('static and regex namespaces connect; unknown ones get "Invalid namespace"', T(), async () => {
				await connect(gw.url + '/chat', opts);
				await connect(gw.url + '/tenant-42', opts);
				for (const nsp of ['/nope', '/tenant-x', '/tenant-42/sub', '/chat2', '/CHAT']) {
					const err = await connectError(client(gw.url + nsp, opts));
					assert.equal(err.message, 'Invalid namespace', nsp);
					assert.equal(err.data, undefined, nsp);
				}
			});

			it('a refused namespace does not disturb the others on the same connection', T(), async () => {
				const m = new Manager(gw.url, { ...opts, reconnection: false });
				const main = track(m.socket('/'));
				const bad = track(m.socket('/does-not-exist'));
				const chat = track(m.socket('/chat'));
				const [err] = await Promise.all([connectError(bad), connected(main), connected(chat)]);
				assert.equal(err.message, 'Invalid namespace');
				assert.deepEqual(await call(chat, 'join', 'after-refusal'), OK);
				assert.deepEqual(await call(main, 'x'), refused("no handler for event 'x'"));
				m.engine.close();
			});

			it('one connection joins several namespaces, each with its own socket id', T(), async () => {
				const m = new Manager(gw.url, { ...opts, reconnection: false });
				const socks = ['/', '/chat', '/open', '/tenant-7', '/no-rooms'].map((n) => track(m.socket(n)));
				await Promise.all(socks.map((s) => connected(s)));
				assert.equal(new Set(socks.map((s) => s.id)).size, socks.length);
				assert.deepEqual(await call(socks[2], 'join', 'anything goes here!'), OK);
				assert.deepEqual(await call(socks[4], 'join', 'x'), refused("no handler for event 'join'"));
				m.engine.close();
			});
		});

		describe('rooms', () => {
			it('join/leave acks and every refusal', T(), async () => {
				const s = await connect(gw.url + '/chat', opts);
				assert.deepEqual(await call(s, 'join', 'lobby'), OK);
				assert.deepEqual(await call(s, 'join', 'lobby'), OK, 'again');
				assert.deepEqual(await call(s, 'join', 'bad room'), refused('room name not allowed'));
				assert.deepEqual(await call(s, 'join', 'x'.repeat(41)), refused('room name not allowed'));
				assert.deepEqual(await call(s, 'join'), refused('expected a room name as the first argument'));
				assert.deepEqual(await call(s, 'join', ''), refused('expected a room name as the first argument'));
				assert.deepEqual(await call(s, 'join', ['lobby']), refused('expected a room name as the first argument'));
				assert.deepEqual(await call(s, 'join', s.id), refused("cannot join or leave the socket's own room"));
				assert.deepEqual(await call(s, 'leave', s.id), refused("cannot join or leave the socket's own room"));
				assert.deepEqual(await call(s, 'join', 'second'), OK);
				assert.deepEqual(await call(s, 'join', 'third'), refused('too many rooms'));
				assert.deepEqual(await call(s, 'leave', 'lobby'), OK);
				assert.deepEqual(await call(s, 'join', 'third'), OK);
				assert.deepEqual(await call(s, 'leave', 'not-a-member'), OK);
				// Without an ack request the join still happens (and nothing crashes).
				s.emit('leave', 'third');
				s.emit('join', 'fourth');
				assert.deepEqual(await call(s, 'join', 'fourth'), OK, 'already in it: no slot used');
				assert.deepEqual(await call(s, 'join', 'fifth'), refused('too many rooms'));
			});

			it('the own-sid room of one namespace is checked against that namespace\'s socket id', T(), async () => {
				const m = new Manager(gw.url, { ...opts, reconnection: false });
				const a = track(m.socket('/open'));
				const b = track(m.socket('/chat'));
				await Promise.all([connected(a), connected(b)]);
				// b's id (the same client, another namespace) is not a's own room. It is refused
				// all the same, as a name of the form of a socket id: it could be one's on /open.
				assert.deepEqual(await call(a, 'join', b.id), refused('room name not allowed: it has the form of a socket id'),
					"another socket's id is not a's own room, and not joinable");
				assert.deepEqual(await call(a, 'join', a.id), refused("cannot join or leave the socket's own room"));
				m.engine.close();
			});

			it('auto_join templates: auto-joined rooms are already joined and use no slot', T(), async () => {
				// max_rooms is 2 on /chat. Joining rooms the socket is already in costs nothing,
				// so all four auto-joined rooms plus two more fit; a third does not.
				const s = await connect(gw.url + '/chat', { ...opts, auth: { user: 'alice' }, query: { room: 'general' } });
				for (const r of ['user:alice', 'general', 'ns:/chat', `me:${s.id}`])
					assert.deepEqual(await call(s, 'join', r), OK, r);
				assert.deepEqual(await call(s, 'join', 'extra-1'), OK);
				assert.deepEqual(await call(s, 'join', 'extra-2'), OK);
				assert.deepEqual(await call(s, 'join', 'extra-3'), refused('too many rooms'));
			});

			it('auto_join templates with a missing value are skipped, not joined literally', T(), async () => {
				const s = await connect(gw.url + '/chat', opts); // no auth.user, no query.room
				assert.deepEqual(await call(s, 'join', 'user:'), OK, 'counts as a client join');
				assert.deepEqual(await call(s, 'join', 'user:undefined'), OK, 'counts as a client join');
				assert.deepEqual(await call(s, 'join', 'ns:/chat'), OK, 'auto-joined: free');
				assert.deepEqual(await call(s, 'join', 'one-more'), refused('too many rooms'));
			});

			it('leaving an auto-joined room does not free a client slot', T(), async () => {
				const s = await connect(gw.url + '/chat', { ...opts, auth: { user: 'bob' } });
				assert.deepEqual(await call(s, 'join', 'a'), OK);
				assert.deepEqual(await call(s, 'join', 'b'), OK);
				assert.deepEqual(await call(s, 'leave', 'user:bob'), OK);
				assert.deepEqual(await call(s, 'join', 'c'), refused('too many rooms'));
			});

			it('custom join_event/leave_event names; "join" is then an ordinary event', T(), async () => {
				const s = await connect(gw.url + '/custom-events', opts);
				assert.deepEqual(await call(s, 'subscribe', 'news'), OK);
				assert.deepEqual(await call(s, 'unsubscribe', 'news'), OK);
				assert.deepEqual(await call(s, 'join', 'news'), refused("no handler for event 'join'"));
				assert.deepEqual(await call(s, 'leave', 'news'), refused("no handler for event 'leave'"));
			});

			it('regex-matched namespaces take their rule\'s room policy', T(), async () => {
				const s = await connect(gw.url + '/tenant-9', opts);
				assert.deepEqual(await call(s, 'join', 'one'), OK);
				assert.deepEqual(await call(s, 'join', 'two'), refused('too many rooms'));
			});
		});

		describe('middleware', () => {
			it('token via auth: accepted with the secret, refused with a reason otherwise', T(), async () => {
				await connect(gw.url + '/secure', { ...opts, auth: { token: 's3cret' } });
				let err = await connectError(client(gw.url + '/secure', opts));
				assert.equal(err.message, 'go away');
				assert.deepEqual(err.data, { reason: 'missing token' });
				err = await connectError(client(gw.url + '/secure', { ...opts, auth: { token: 'wrong' } }));
				assert.equal(err.message, 'go away');
				assert.deepEqual(err.data, { reason: 'invalid token' });
				err = await connectError(client(gw.url + '/secure', { ...opts, auth: { token: '' } }));
				assert.deepEqual(err.data, { reason: 'missing token' });
				for (const bad of ['s3cre', 's3cret ', 's3cretX', 'S3CRET']) {
					err = await connectError(client(gw.url + '/secure', { ...opts, auth: { token: bad } }));
					assert.deepEqual(err.data, { reason: 'invalid token' }, bad);
				}
				// A token that is not a string is no token.
				err = await connectError(client(gw.url + '/secure', { ...opts, auth: { token: 12345 } }));
				assert.equal(err.message, 'go away');
			});

			it('token via the configured header (extraHeaders), plain or "Bearer"', T(), async () => {
				await connect(gw.url + '/secure', { ...opts, extraHeaders: { 'x-siogate-token': 's3cret' } });
				await connect(gw.url + '/secure', { ...opts, extraHeaders: { 'X-Siogate-Token': 'Bearer s3cret' } });
				const err = await connectError(client(gw.url + '/secure', { ...opts, extraHeaders: { 'x-siogate-token': 'nope' } }));
				assert.equal(err.message, 'go away');
				assert.deepEqual(err.data, { reason: 'invalid token' });
			});

			it('auth_field and a secret from the environment; no header configured means no header', T(), async () => {
				await connect(gw.url + '/api-key', { ...opts, auth: { apiKey: 'from-env' } });
				let err = await connectError(client(gw.url + '/api-key', { ...opts, auth: { token: 'from-env' } }));
				assert.equal(err.message, 'unauthorized', 'the default message');
				assert.deepEqual(err.data, { reason: 'missing token' });
				err = await connectError(client(gw.url + '/api-key', { ...opts, extraHeaders: { 'x-siogate-token': 'from-env' } }));
				assert.deepEqual(err.data, { reason: 'missing token' });
			});

			it('middleware on a regex rule applies to every namespace it matches', T(), async () => {
				await connect(gw.url + '/eu-ops', { ...opts, auth: { token: 'ops-secret' } });
				const err = await connectError(client(gw.url + '/us-ops', opts));
				assert.equal(err.message, 'unauthorized');
				assert.deepEqual(err.data, { reason: 'missing token' });
			});

			it('a refused namespace leaves the connection usable for others and for a retry', T(), async () => {
				const m = new Manager(gw.url, { ...opts, reconnection: false });
				const main = track(m.socket('/'));
				const bad = track(m.socket('/secure', { auth: { token: 'wrong' } }));
				const [err] = await Promise.all([connectError(bad), connected(main)]);
				assert.deepEqual(err.data, { reason: 'invalid token' });
				// Retry the same namespace on the same connection with the right token.
				bad.auth = { token: 's3cret' };
				bad.connect();
				await connected(bad);
				assert.deepEqual(await call(main, 'y'), refused("no handler for event 'y'"));
				m.engine.close();
			});

			it('origin: listed origins pass, others are refused', T(), async () => {
				await connect(gw.url + '/origin', { ...opts, extraHeaders: { origin: 'http://good.example' } });
				await connect(gw.url + '/origin', { ...opts, extraHeaders: { origin: 'https://also.example:8443' } });
				let err = await connectError(client(gw.url + '/origin', { ...opts, extraHeaders: { origin: 'http://evil.example' } }));
				assert.equal(err.message, 'origin not allowed');
				assert.deepEqual(err.data, { reason: 'origin not allowed' });
				err = await connectError(client(gw.url + '/origin', { ...opts, extraHeaders: { origin: 'http://good.example:80' } }));
				assert.deepEqual(err.data, { reason: 'origin not allowed' });
			});

			it('origin: a request without an Origin header is refused as "missing origin"', T(), async () => {
				const err = await connectError(client(gw.url + '/origin', opts));
				assert.equal(err.message, 'origin not allowed');
				assert.deepEqual(err.data, { reason: 'missing origin' });
			});

			it('a chain runs in order and the first rejection wins', T(), async () => {
				const good = { origin: 'http://good.example' };
				await connect(gw.url + '/both', { ...opts, auth: { token: 'first' }, extraHeaders: good });
				let err = await connectError(client(gw.url + '/both', { ...opts, extraHeaders: { origin: 'http://evil.example' } }));
				assert.equal(err.message, 'token first');
				assert.deepEqual(err.data, { reason: 'missing token' });
				err = await connectError(client(gw.url + '/both', { ...opts, auth: { token: 'first' }, extraHeaders: { origin: 'http://evil.example' } }));
				assert.equal(err.message, 'bad origin');
				assert.deepEqual(err.data, { reason: 'origin not allowed' });
			});
		});
	});
}

describe('daemon server settings', () => {
	afterEach(() => closeClients());

	it('transports ["polling"]: polling works, no upgrade offered, websocket refused', T(), async () => {
		await withDaemon({ server: { transports: ['polling'] } }, async (gw) => {
			const hs = await httpGet(`${gw.url}/socket.io/?EIO=4&transport=polling`);
			assert.equal(hs.status, 200);
			assert.deepEqual(JSON.parse(hs.body.slice(1)).upgrades, []);
			const s = await connect(gw.url, { transports: ['polling', 'websocket'] });
			assert.deepEqual(await call(s, 'x'), refused("no handler for event 'x'"));
			assert.equal(s.io.engine.transport.name, 'polling');
			const ws = await httpGet(`${gw.url}/socket.io/?EIO=4&transport=websocket`);
			assert.equal(ws.status, 400);
			assert.deepEqual(JSON.parse(ws.body), { code: 0, message: 'Transport unknown' });
			const err = await connectError(client(gw.url, { transports: ['websocket'] }));
			assert.match(err.message, /websocket error/);
		});
	});

	it('transports ["websocket"]: websocket works, polling refused with "Transport unknown"', T(), async () => {
		await withDaemon({ server: { transports: ['websocket'] } }, async (gw) => {
			const s = await connect(gw.url, { transports: ['websocket'] });
			assert.deepEqual(await call(s, 'x'), refused("no handler for event 'x'"));
			const hs = await httpGet(`${gw.url}/socket.io/?EIO=4&transport=polling`);
			assert.equal(hs.status, 400);
			assert.deepEqual(JSON.parse(hs.body), { code: 0, message: 'Transport unknown' });
			const err = await connectError(client(gw.url, { transports: ['polling'] }));
			assert.match(err.message, /xhr poll error/);
		});
	});

	it('allow_upgrades false: a polling client stays on polling', T(), async () => {
		await withDaemon({ server: { allow_upgrades: false } }, async (gw) => {
			const hs = await httpGet(`${gw.url}/socket.io/?EIO=4&transport=polling`);
			assert.deepEqual(JSON.parse(hs.body.slice(1)).upgrades, []);
			const s = await connect(gw.url, { transports: ['polling', 'websocket'] });
			await new Promise((r) => setTimeout(r, ms(300)));
			assert.equal(s.io.engine.transport.name, 'polling');
			assert.deepEqual(await call(s, 'x'), refused("no handler for event 'x'"));
			// A client that goes straight to websocket is still served.
			await connect(gw.url, { transports: ['websocket'] });
		});
	});

	it('handshake advertises the configured ping and payload settings; server.path is honoured', T(), async () => {
		await withDaemon({
			server: { path: '/rt', ping_interval_ms: 1234, ping_timeout_ms: 567, max_payload: '4321' },
		}, async (gw) => {
			assert.equal(gw.path, '/rt/');
			const hs = await httpGet(`${gw.url}/rt/?EIO=4&transport=polling`);
			assert.equal(hs.status, 200);
			const open = JSON.parse(hs.body.slice(1));
			assert.deepEqual(Object.keys(open), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
			assert.equal(open.pingInterval, 1234);
			assert.equal(open.pingTimeout, 567);
			assert.equal(open.maxPayload, 4321);
			const other = await httpGet(`${gw.url}/socket.io/?EIO=4&transport=polling`);
			assert.equal(other.status, 404);
			for (const transport of ['polling', 'websocket']) {
				const s = await connect(gw.url, { path: '/rt/', transports: [transport] });
				assert.deepEqual(await call(s, 'x'), refused("no handler for event 'x'"));
			}
		});
	});

	it('cors_origins: listed origins get CORS headers, others 403', T(), async () => {
		await withDaemon({ server: { cors_origins: ['http://app.example'] } }, async (gw) => {
			const url = `${gw.url}/socket.io/?EIO=4&transport=polling`;
			const ok = await httpGet(url, { headers: { origin: 'http://app.example' } });
			assert.equal(ok.status, 200);
			assert.equal(ok.headers['access-control-allow-origin'], 'http://app.example');
			assert.equal(ok.headers['access-control-allow-credentials'], 'true');
			const pre = await httpRequest('OPTIONS', url, null, {
				headers: { origin: 'http://app.example', 'access-control-request-headers': 'x-siogate-token' },
			});
			assert.equal(pre.status, 204);
			assert.equal(pre.headers['access-control-allow-origin'], 'http://app.example');
			assert.match(pre.headers['access-control-allow-methods'], /POST/);
			const bad = await httpGet(url, { headers: { origin: 'http://evil.example' } });
			assert.equal(bad.status, 403);
			assert.equal(bad.headers['access-control-allow-origin'], undefined);
			const none = await httpGet(url);
			assert.equal(none.status, 200, 'no Origin (not a browser): served');
			assert.equal(none.headers['access-control-allow-origin'], undefined);
			await connect(gw.url, { transports: ['websocket'], extraHeaders: { origin: 'http://app.example' } });
			const err = await connectError(client(gw.url, { transports: ['websocket'], extraHeaders: { origin: 'http://evil.example' } }));
			assert.match(err.message, /websocket error/);
		});
	});

	it('max_namespaces_per_client: one more namespace is refused until one is left', T(), async () => {
		await withDaemon({
			server: { max_namespaces_per_client: 2 },
			namespaces: [{ name: '/a' }, { name: '/b' }],
		}, async (gw) => {
			const m = new Manager(gw.url, { transports: ['websocket'], reconnection: false });
			const a = track(m.socket('/a'));
			const b = track(m.socket('/b'));
			await Promise.all([connected(a), connected(b)]);
			const main = track(m.socket('/'));
			const err = await connectError(main);
			assert.equal(err.message, 'Too many namespaces on one connection');
			a.disconnect();
			main.connect();
			await connected(main);
			assert.deepEqual(await call(main, 'x'), refused("no handler for event 'x'"));
			assert.deepEqual(await call(b, 'y'), refused("no handler for event 'y'"));
			m.engine.close();
		});
	});

	it('SIGHUP reloads the config; connected clients stay; a bad file keeps the running config', T(), async () => {
		const gw = await startDaemon({ namespaces: [{ name: '/before' }] });
		try {
			const kept = await connect(gw.url + '/before', { transports: ['websocket'] });
			const cfg = structuredClone(gw.config);
			cfg.namespaces = [{ name: '/before' }, { name: '/after', rooms: { client_join: true } }];
			fs.writeFileSync(gw.configPath, JSON.stringify(cfg));
			gw.signal('SIGHUP');
			await until(async () => {
				assert.ok(gw.running, `the daemon died on SIGHUP:\n${gw.log()}`);
				const s = client(gw.url + '/after', { transports: ['websocket'] });
				try {
					await connected(s, ms(1000));
					return true;
				} catch {
					return false;
				} finally {
					s.disconnect();
				}
			}, 'the new namespace /after after SIGHUP', ms(5000));
			assert.equal(kept.connected, true);
			assert.deepEqual(await call(kept, 'x'), refused("no handler for event 'x'"));

			fs.writeFileSync(gw.configPath, '{"server": {"listn": 1}}');
			gw.signal('SIGHUP');
			await gw.waitLog(/listn/);
			assert.ok(gw.running, 'a bad file must not stop the daemon');
			const s = await connect(gw.url + '/after', { transports: ['websocket'] });
			assert.deepEqual(await call(s, 'join', 'r'), OK);
		} finally {
			closeClients();
			if (gw.running) // else the test has already failed on it
				await gw.stop();
		}
	});

	it('SIGHUP says which settings wait for the next start (listener limits included)', T(), async () => {
		const gw = await startDaemon({ namespaces: [{ name: '/n' }] });
		try {
			const cfg = structuredClone(gw.config);
			cfg.server.header_timeout_ms = 20000;
			cfg.server.max_connections = 500;
			fs.writeFileSync(gw.configPath, JSON.stringify(cfg));
			gw.signal('SIGHUP');
			await gw.waitLog(/reload: .*server\.header_timeout_ms and server\.max_connections changes take effect at the next start/);
			assert.ok(gw.running);
			await connect(gw.url + '/n', { transports: ['websocket'] });
		} finally {
			closeClients();
			if (gw.running)
				await gw.stop();
		}
	});

	it('the build tree\'s daemon loads the plugins built beside it; a copy of it elsewhere does not', T(), async () => {
		const cfg = { namespaces: [{ name: '/n', bridge: { type: 'local', from_clients: [{ event: 'x', topic: 't' }] } }] };
		const file = writeConfig(cfg, 'plugins');
		const env = { SIOGATE_PLUGIN_PATH: '' }; // empty: as if unset
		const own = await runSiogate(['--check-config', '-c', file], { env });
		assert.equal(own.code, 0, own.stderr.toString());
		// The same binary under another name is an installed one: it looks in the install's
		// folder only, never in the build tree or the working directory.
		const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'siogate-copy-')), 'siogate');
		fs.copyFileSync(SIOGATE, copy);
		fs.chmodSync(copy, 0o755);
		const other = await run([copy, '--check-config', '-c', file], { env });
		assert.notEqual(other.code, 0);
		assert.match(other.stderr.toString(), /unknown type 'local' \(no local\.so in the plugin path /);
	});

	it('SIGTERM with clients connected: they are disconnected and the daemon exits 0', T(), async () => {
		const gw = await startDaemon({});
		const a = await connect(gw.url, { transports: ['websocket'] });
		const b = await connect(gw.url, { transports: ['polling'] });
		const da = once(a, 'disconnect', ms(5000));
		const db = once(b, 'disconnect', ms(5000));
		const t0 = Date.now();
		const { code } = await gw.stop();
		assert.equal(code, 0);
		assert.ok(Date.now() - t0 < ms(4000), 'well within the 2 s drain timeout plus margin');
		await Promise.all([da, db]);
		assert.match(gw.log(), /shutting down: disconnecting \d+ client\(s\)/);
	});
});
