// v2client.test.mjs - Socket.IO v2 clients (socket.io-client 2.5.0, Engine.IO v3) against a
// gateway with server.allow_eio3, over polling, WebSocket and polling upgraded to WebSocket:
// the implicit connection to "/", a custom namespace with its query as the middleware's
// auth, a middleware rejection as the v2 `error` event, rooms and relays through the local
// bridge, acks, binary both ways, a downstream message addressed to the id the v2 client
// computes itself. Raw Engine.IO v3: the length-prefixed payloads, the heartbeat the client
// drives, the refusal of EIO=3 when allow_eio3 is off, and the metric counting v3 sessions.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import {
	BUILDDIR, T, httpGet, httpRequest, metricValue, ms, sleep, startConformance, startDaemon, stopGatewayAndBroker, until,
} from './harness.mjs';
import { KafkaMock, consumeAll, counter, kafkaSkipReason, produce, startKafkaDaemon } from './kafka-harness.mjs';

const ioV2 = createRequire(import.meta.url)('socket.io-client-v2');
const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');

const CONFIG = {
	server: { allow_eio3: true },
	namespaces: [
		{ name: '/' },
		{
			name: '/chat',
			middleware: [{ type: 'token', secret: 's3cret', message: 'who are you' }],
			rooms: { client_join: true },
			bridge: {
				type: 'local',
				from_clients: [{ event: 'say', topic: 'chat', rooms: '{room}' }],
				to_clients: [{ topic: 'chat', rooms: 'header', except_sender: true }],
			},
		},
	],
};

const MODES = {
	polling: { transports: ['polling'], upgrade: false },
	websocket: { transports: ['websocket'], upgrade: false },
	upgrade: { transports: ['polling', 'websocket'], upgrade: true },
};

const open = new Set();

/** Closes every v2 client the test opened. */
function closeAll() {
	for (const s of open)
		s.close();
	open.clear();
}

function v2(url, mode, opts = {}) {
	const s = ioV2(url, { ...MODES[mode], forceNew: true, reconnection: false, ...opts });
	open.add(s);
	return s;
}

/** Resolves once connected (over websocket too when the mode upgrades); rejects on error. */
function connected(s, mode, timeout = ms(5000)) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error(`no connect within ${timeout} ms`)), timeout);
		s.once('error', (e) => { clearTimeout(t); reject(new Error(`error: ${JSON.stringify(e)}`)); });
		s.once('connect_error', (e) => { clearTimeout(t); reject(e); });
		s.once('connect', async () => {
			if (mode === 'upgrade')
				await until(() => s.io.engine.transport.name === 'websocket', 'the upgrade', ms(5000));
			clearTimeout(t);
			resolve(s);
		});
	});
}

function next(s, event, timeout = ms(3000)) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error(`no '${event}' within ${timeout} ms`)), timeout);
		s.once(event, (...args) => { clearTimeout(t); resolve(args); });
	});
}

function call(s, event, ...args) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error(`no ack for '${event}'`)), ms(3000));
		s.emit(event, ...args, (...res) => { clearTimeout(t); resolve(res); });
	});
}

describe('Socket.IO v2 clients (allow_eio3)', () => {
	let gw;

	before(async () => {
		gw = await startDaemon(CONFIG, { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
	});
	afterEach(closeAll);
	after(async () => {
		if (gw?.running)
			await gw.stop();
	});

	for (const mode of Object.keys(MODES)) {
		describe(`over ${mode}`, () => {
			it('connects to "/" without a CONNECT of its own, with the Engine.IO id as socket id', T(), async () => {
				const s = await connected(v2(gw.url, mode), mode);
				assert.equal(s.id, s.io.engine.id);
				assert.equal(s.io.engine.transport.name, mode === 'polling' ? 'polling' : 'websocket');
			});

			it('a custom namespace: the CONNECT query is the auth, the id "/chat#<engine id>", relays reach the room', T(), async () => {
				// The token step reads auth.token: a v2 client sends it in the CONNECT query.
				const s = await connected(v2(`${gw.url}/chat`, mode, { query: { token: 's3cret', user: 'ann' } }), mode);
				assert.equal(s.id, `/chat#${s.io.engine.id}`);
				const peer = await connected(v2(`${gw.url}/chat`, mode, { query: { token: 's3cret', user: 'bob' } }), mode);
				assert.deepEqual(await call(s, 'join', 'room-x'), [{ ok: true }]);
				assert.deepEqual(await call(peer, 'join', 'room-x'), [{ ok: true }]);
				const got = next(s, 'say');
				assert.deepEqual(await call(peer, 'say', { room: 'room-x', text: 'hi ann' }), [{ ok: true, topic: 'chat', delivered: 1 }]);
				assert.deepEqual(await got, [{ room: 'room-x', text: 'hi ann' }]);
			});

			it('a middleware rejection is the v2 `error` event with the step\'s data, nothing connects', T(), async () => {
				const s = v2(`${gw.url}/chat`, mode, { query: { token: 'wrong' } });
				const [err] = await next(s, 'error');
				assert.deepEqual(err, { reason: 'invalid token' });
				assert.equal(s.connected, false);
			});

			it('an unknown namespace is the v2 `error` event "Invalid namespace"', T(), async () => {
				const s = v2(`${gw.url}/nowhere`, mode);
				const [err] = await next(s, 'error');
				assert.deepEqual(err, { message: 'Invalid namespace' });
			});

			it('binary both ways: a Buffer relayed through the bridge arrives as a Buffer', T(), async () => {
				const q = (user) => ({ query: { token: 's3cret', user } });
				const a = await connected(v2(`${gw.url}/chat`, mode, q('a')), mode);
				const b = await connected(v2(`${gw.url}/chat`, mode, q('b')), mode);
				assert.deepEqual(await call(a, 'join', 'bin'), [{ ok: true }]);
				assert.deepEqual(await call(b, 'join', 'bin'), [{ ok: true }]);
				const got = next(b, 'say');
				const payload = Buffer.from([0, 1, 2, 250, 255]);
				assert.deepEqual(await call(a, 'say', { room: 'bin', blob: payload }), [{ ok: true, topic: 'chat', delivered: 1 }]);
				const [msg] = await got;
				assert.equal(msg.room, 'bin');
				assert.ok(Buffer.isBuffer(msg.blob), 'a Buffer, not base64 text');
				assert.deepEqual([...msg.blob], [...payload]);
			});

			it('a room named like another v2 socket\'s id is refused', T(), async () => {
				const q = (user) => ({ query: { token: 's3cret', user } });
				const a = await connected(v2(`${gw.url}/chat`, mode, q('a')), mode);
				const b = await connected(v2(`${gw.url}/chat`, mode, q('b')), mode);
				const [r] = await call(b, 'join', a.id);
				assert.equal(r.ok, false);
				const [r2] = await call(b, 'join', a.io.engine.id);
				assert.equal(r2.ok, false);
			});
		});
	}

	it('raw v3 polling: length-prefixed payloads, the client pings and the server pongs', T(), async () => {
		const base = `${gw.url}/socket.io/?EIO=3&transport=polling`;
		const hs = await httpGet(base);
		assert.equal(hs.status, 200);
		// The open packet, then the implicit connection to "/": "40" without payload.
		const m = /^(\d+):0(\{[^}]*\})2:40$/.exec(hs.body);
		assert.ok(m, `a v3 handshake payload: ${hs.body}`);
		const info = JSON.parse(m[2]);
		assert.equal(Number(m[1]), 1 + m[2].length);
		assert.deepEqual(Object.keys(info).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
		const url = `${base}&sid=${info.sid}`;
		assert.equal((await httpRequest('POST', url, '1:2')).status, 200);
		assert.equal((await httpGet(url)).body, '1:3');
		// A malformed length ends the session.
		assert.equal((await httpRequest('POST', url, '9:2')).status, 400);
	});

	it('the v3 heartbeat: a client that stops pinging is closed after interval + timeout', T(20000), async () => {
		const g = await startDaemon({ server: { allow_eio3: true, ping_interval_ms: ms(300), ping_timeout_ms: ms(200) } }, { name: 'v3-beat' });
		try {
			const base = `${g.url}/socket.io/?EIO=3&transport=polling`;
			const info = JSON.parse(/^\d+:0(\{[^}]*\})/.exec((await httpGet(base)).body)[1]);
			const url = `${base}&sid=${info.sid}`;
			// Pinging keeps it open past interval + timeout (no server ping arrives).
			for (let i = 0; i < 4; i++) {
				await sleep(ms(200));
				assert.equal((await httpRequest('POST', url, '1:2')).status, 200);
				assert.equal((await httpGet(url)).body, '1:3');
			}
			const t0 = Date.now();
			const r = await httpGet(url, { timeout: ms(3000) }); // held until the session ends
			assert.ok(['1:1', '1:6'].includes(r.body) || r.status === 400, `closed: ${r.status} ${r.body}`);
			assert.ok(Date.now() - t0 >= ms(300), 'not before the interval');
			await until(async () => (await httpGet(url)).status === 400, 'the session gone', ms(3000));
		} finally {
			await g.stop();
		}
	});

	it('metrics count the v3 sessions', T(), async () => {
		const before = await metricValue(gw, 'siogate_sessions_eio3_opened_total');
		await connected(v2(gw.url, 'websocket'), 'websocket');
		await until(async () => (await metricValue(gw, 'siogate_sessions_eio3_opened_total')) === before + 1,
			'the counter', ms(3000));
	});
});

describe('EIO=3 without allow_eio3', () => {
	it('gets the clear 400 Unsupported protocol version, polling and WebSocket', T(), async () => {
		const gw = await startDaemon({}, { name: 'no-eio3' });
		try {
			const r = await httpGet(`${gw.url}/socket.io/?EIO=3&transport=polling`);
			assert.equal(r.status, 400);
			assert.deepEqual(JSON.parse(r.body), { code: 5, message: 'Unsupported protocol version' });
			const s = ioV2(gw.url, { transports: ['websocket'], reconnection: false, forceNew: true });
			await new Promise((resolve) => s.once('connect_error', resolve));
			s.close();
		} finally {
			await gw.stop();
		}
	});
});

describe('v2 clients: the server asks, the client answers (conformance server)', () => {
	let srv;

	before(async () => {
		srv = await startConformance({ name: 'conformance-v2' });
	});
	afterEach(closeAll);
	after(async () => {
		if (srv?.running)
			await srv.stop();
	});

	for (const mode of Object.keys(MODES)) {
		it(`over ${mode}: an emit with an ack gets the client's answer, binary included`, T(), async () => {
			const s = await connected(v2(srv.url, mode), mode);
			s.on('server-ack', (...args) => {
				const ack = args.pop();
				ack('answer', ...args);
			});
			const result = next(s, 'server-ack-result');
			s.emit('request-ack', 1500, Buffer.from([7, 8]));
			const [res] = await result;
			assert.equal(res[0], 'answer');
			assert.equal(res[1], 1500);
			assert.ok(Buffer.isBuffer(res[2]) && res[2].equals(Buffer.from([7, 8])), JSON.stringify(res));
			// And the client's own ack, answered by the server with its arguments.
			assert.deepEqual(await call(s, 'message-with-ack', 1, 'two'), [1, 'two']);
		});
	}
});

describe('v2 clients with the Kafka bridge', { skip: kafkaSkipReason() }, () => {
	let mock;
	let gw;

	before(async () => {
		mock = await new KafkaMock().start();
		await mock.topics('v2.out', 'v2.in');
		gw = await startKafkaDaemon({
			server: { allow_eio3: true },
			brokers: { main: { type: 'kafka', bootstrap_servers: mock.bootstrap } },
			namespaces: [{
				name: '/chat',
				rooms: { client_join: true },
				bridge: { broker: 'main', to_clients: [{ topic: 'v2.out' }], from_clients: [{ event: 'message', topic: 'v2.in' }] },
			}],
		}, { name: 'siogate-kafka-v2' });
	});
	afterEach(closeAll);
	after(() => stopGatewayAndBroker(gw, () => mock?.stop()));

	for (const mode of Object.keys(MODES)) {
		it(`over ${mode}: a record keyed by the id the client computed reaches it; its event is produced`, T(20000), async () => {
			const s = await connected(v2(`${gw.url}/chat`, mode), mode);
			// Downstream: the record's key is the room; the socket's own id is its room.
			// Produced until consumed (the consumer may still be joining its partitions).
			const got = next(s, 'message', ms(15000));
			const before = await counter(gw, 'consumed');
			let n = 0;
			const t = setInterval(() => {
				if (n++ < 20)
					produce(mock.bootstrap, 'v2.out', JSON.stringify({ to: s.id }), { key: s.id }).catch(() => {});
			}, ms(700));
			try {
				assert.deepEqual(await got, [{ to: s.id }]);
			} finally {
				clearInterval(t);
			}
			assert.ok((await counter(gw, 'consumed')) > before);
			// Upstream: acked with where the broker put it, keyed by the v2 socket id.
			const [res] = await call(s, 'message', { mode }, Buffer.from([1, 2, 3]));
			assert.equal(res.ok, true, JSON.stringify(res));
			const rec = (await consumeAll(mock.bootstrap, 'v2.in', { partition: res.partition })).find((r) => r.offset === res.offset);
			assert.ok(rec, JSON.stringify(res));
			assert.equal(rec.key, s.id);
			assert.deepEqual(JSON.parse(rec.payload), [{ mode }, { $binary: 'AQID' }]);
		});
	}
});
