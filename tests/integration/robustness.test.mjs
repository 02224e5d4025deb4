// robustness.test.mjs - bad and heavy input: oversize messages (WebSocket and polling),
// malformed Engine.IO and Socket.IO packets on raw connections, unknown session ids, the
// connect timeout, restarts with clients that reconnect, and 200 clients in one room. In
// each case the offender loses its connection and everybody else keeps being served.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import {
	T, VALGRIND, call, client, closeClients, collect, connect, connected, httpGet, httpRequest, ms, once, packets,
	pollingHandshake, rawWebSocket, serverHooks, sleep, startConformance, startDaemon, until, withDaemon,
} from './harness.mjs';

const noHandler = (name) => [{ ok: false, error: `no handler for event '${name}'` }];

/** Asserts that `s` (a connected official client) still gets answers. */
async function stillServed(s, label) {
	assert.equal(s.connected, true, `${label}: still connected`);
	assert.deepEqual(await call(s, 'alive'), noHandler('alive'), label);
}

describe('server.max_payload on the daemon', () => {
	let gw;

	serverHooks(async () => {
		gw = await startDaemon({ server: { max_payload: 2000 } });
	}, () => gw?.stop());

	for (const transport of ['websocket', 'polling']) {
		it(`over ${transport}: a bigger message closes that connection only`, T(), async () => {
			const bystanders = await Promise.all([
				connect(gw.url, { transports: ['websocket'] }),
				connect(gw.url, { transports: ['polling'] }),
			]);
			const s = await connect(gw.url, { transports: [transport] });
			// Just under the limit is fine.
			assert.deepEqual(await call(s, 'fits', 'x'.repeat(1900)), noHandler('fits'));
			const gone = once(s, 'disconnect', ms(3000));
			s.emit('too-big', 'x'.repeat(3000));
			const [reason] = await gone;
			assert.match(reason, /^transport (close|error)$/);
			for (const b of bystanders)
				await stillServed(b, `bystander after ${transport} oversize`);
			// And new connections are accepted.
			await stillServed(await connect(gw.url, { transports: [transport] }), 'newcomer');
			assert.match(gw.log(), transport === 'websocket'
				? /WebSocket message over max_payload \(2000 bytes\): closing/
				: /POST body over max_payload \(2000 bytes\): closing/);
		});
	}

	it('a binary attachment over the limit closes the connection too', T(), async () => {
		const other = await connect(gw.url, { transports: ['websocket'] });
		const s = await connect(gw.url, { transports: ['websocket'] });
		const gone = once(s, 'disconnect', ms(3000));
		s.emit('bin', Buffer.alloc(5000, 1));
		await gone;
		await stillServed(other, 'bystander');
	});

	it('raw polling: an oversize POST gets 413 and the session is gone', T(), async () => {
		const { sid, maxPayload } = await pollingHandshake(gw.url);
		assert.equal(maxPayload, 2000);
		const url = `${gw.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
		const res = await httpRequest('POST', url, '4' + 'y'.repeat(4000), { headers: { 'content-type': 'text/plain' } });
		assert.equal(res.status, 413);
		assert.deepEqual(JSON.parse(res.body), { code: 3, message: 'Payload too large' });
		const after = await httpGet(url);
		assert.ok(after.status === 400 || packets(after.body).includes('1'), `${after.status} ${after.body}`);
	});
});

describe('malformed packets (conformance server)', () => {
	let srv;

	serverHooks(async () => {
		srv = await startConformance();
	}, () => srv?.stop());

	/** A raw WebSocket session connected to "/" (so Socket.IO-level garbage is parsed). */
	async function rawConnected() {
		const ws = await rawWebSocket(srv.url);
		assert.match(await ws.next(), /^0\{"sid":/);
		ws.send('40');
		assert.match(await ws.next(), /^40\{"sid":"[^"]+"\}$/);
		assert.match(await ws.next(), /^42\["auth",\{\}\]$/);
		return ws;
	}

	const engineGarbage = ['x', '9', '7hello', '', '{"json":"object"}'];
	const sioGarbage = [
		'4', // a MESSAGE with no Socket.IO packet
		'47', '4x', // unknown packet types
		'42', '42[]', '42{}', '42"event"', '42[null]', '42[{"a":1}]', // EVENT payload must be [name, ...]
		'42["unterminated"', '42["a"]trailing', '42["a",]',
		'40"not an object"', '40[1,2]', // CONNECT auth must be an object
		'45-["a"]', '45x-["a"]', '4-1["a"]', // bad attachment counts
		'42/custom["no comma"]',
		'42abc["a"]', // bad ack id
	];

	for (const m of [...engineGarbage, ...sioGarbage]) {
		it(`websocket ${JSON.stringify(m)}: the session is closed, others are served`, T(), async () => {
			const bystander = await connect(srv.url, { transports: ['websocket'] });
			const ws = await rawConnected();
			ws.send(m);
			await ws.waitClosed();
			bystander.emit('message', 'still');
			assert.deepEqual(await once(bystander, 'message-back'), ['still']);
		});
	}

	it('a binary frame nobody announced closes the session', T(), async () => {
		const ws = await rawConnected();
		ws.send(Buffer.from([1, 2, 3]));
		await ws.waitClosed();
	});

	it('an announced attachment arrives as binary; text instead closes the session', T(), async () => {
		const ok = await rawConnected();
		ok.send('451-["message",{"_placeholder":true,"num":0}]');
		ok.send(Buffer.from([7, 7]));
		assert.equal(await ok.next(), '451-["message-back",{"_placeholder":true,"num":0}]');
		assert.deepEqual(await ok.next(), Buffer.from([7, 7]));

		const bad = await rawConnected();
		bad.send('451-["message",{"_placeholder":true,"num":0}]');
		bad.send('42["message","text where binary was due"]');
		await bad.waitClosed();
	});

	it('a placeholder pointing past the attachments closes the session', T(), async () => {
		const ws = await rawConnected();
		ws.send('451-["message",{"_placeholder":true,"num":3}]');
		ws.send(Buffer.from([1]));
		await ws.waitClosed();
	});

	it('a packet for a namespace the session has not joined closes it (as the reference server does)', T(), async () => {
		const ws = await rawConnected();
		ws.send('42/custom,["message","not joined"]');
		await ws.waitClosed();
	});

	it('polling: a malformed body gets 400 and ends the session; others are served', T(), async () => {
		const bystander = await connect(srv.url, { transports: ['polling'] });
		for (const body of ['x', '42[]', '4\x1ezz', '40\x1e42["unterminated']) {
			const { sid } = await pollingHandshake(srv.url);
			const url = `${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
			const res = await httpRequest('POST', url, body);
			if (res.status === 200) {
				// A well-formed Engine.IO payload with bad Socket.IO inside: the POST is
				// accepted, the session is closed right after.
				assert.equal(res.body, 'ok');
			} else {
				assert.equal(res.status, 400, JSON.stringify(body));
				assert.deepEqual(JSON.parse(res.body), { code: 3, message: 'Bad request' });
			}
			await until(async () => {
				const r = await httpGet(url);
				return r.status === 400 || packets(r.body).includes('1');
			}, `session ${sid} closed after ${JSON.stringify(body)}`);
		}
		bystander.emit('message', 'still');
		assert.deepEqual(await once(bystander, 'message-back'), ['still']);
	});

	it('after an upgrade, a polling GET on the session is refused', T(), async () => {
		const s = await connect(srv.url, { transports: ['polling', 'websocket'] });
		if (s.io.engine.transport.name !== 'websocket')
			await once(s.io.engine, 'upgrade');
		const res = await httpGet(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${s.io.engine.id}`);
		assert.equal(res.status, 400);
	});
});

describe('session ids and polling rules', () => {
	let srv;
	let gw;

	serverHooks(async () => {
		[srv, gw] = await Promise.all([startConformance(), startDaemon({})]);
	}, () => Promise.all([srv?.stop(), gw?.stop()]));

	const UNKNOWN = { code: 1, message: 'Session ID unknown' };

	const base = (which) => (which === 'daemon' ? gw : srv).url;

	async function expectUnknown(url, sid) {
		const poll = `${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
		const g = await httpGet(poll);
		assert.equal(g.status, 400, `GET sid=${sid}: ${g.body}`);
		assert.match(g.headers['content-type'], /^application\/json/);
		assert.deepEqual(JSON.parse(g.body), UNKNOWN);
		const p = await httpRequest('POST', poll, '42["x"]');
		assert.equal(p.status, 400, `POST sid=${sid}`);
		assert.deepEqual(JSON.parse(p.body), UNKNOWN, `POST sid=${sid}`);
		await assert.rejects(rawWebSocket(url, { query: `&sid=${sid}` }), (e) => e.status === 400, `websocket sid=${sid}`);
	}

	it('polling: overlapping GETs end the session (the first gets a close packet; daemon, long ping interval)', T(), async () => {
		const { sid } = await pollingHandshake(gw.url);
		const url = `${gw.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
		const first = httpGet(url);
		await sleep(ms(50));
		const second = await httpGet(url);
		assert.equal(second.status, 400);
		const r1 = await first;
		assert.equal(r1.status, 200);
		assert.ok(packets(r1.body).includes('1'), r1.body);
	});

	for (const which of ['conformance', 'daemon']) {
		it(`${which}: GET, POST and WebSocket with an unknown sid get 400 ${JSON.stringify(UNKNOWN)}`, T(), async () => {
			for (const sid of ['nope', 'A'.repeat(24), 'Zm9vYmFy-_0123456789abc'])
				await expectUnknown(base(which), sid);
			// A sid that existed once is unknown after the session closed.
			const s = await connect(base(which), { transports: ['polling'] });
			const old = s.io.engine.id;
			s.disconnect();
			s.io.engine.close();
			await until(async () => (await httpGet(`${base(which)}/socket.io/?EIO=4&transport=polling&sid=${old}`)).status === 400,
				'the closed session to be forgotten');
			await expectUnknown(base(which), old);
		});

		it(`${which}: a long unknown sid is unknown too, not a new handshake`, T(), async () => {
			// Real sids are 24 characters; a longer one must not be mistaken for "no sid".
			for (const n of [60, 100, 1000])
				await expectUnknown(base(which), 'A'.repeat(n));
		});
	}
});

describe('connect timeout', () => {
	let srv;

	serverHooks(async () => {
		srv = await startConformance();
	}, () => srv?.stop());

	it('a WebSocket session that never sends CONNECT is closed (connectTimeout 1000 ms)', T(), async () => {
		const ws = await rawWebSocket(srv.url); // answers pings, so only the connect timeout applies
		assert.match(await ws.next(), /^0\{/);
		const t0 = Date.now();
		await ws.waitClosed(ms(4000));
		assert.ok(Date.now() - t0 >= 700, `closed after ${Date.now() - t0} ms, before the timeout`);
	});

	it('a polling session that never sends CONNECT is closed', T(), async () => {
		const { sid } = await pollingHandshake(srv.url);
		const url = `${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
		const deadline = Date.now() + ms(4000);
		for (;;) {
			const r = await httpGet(url, { timeout: ms(2000) });
			if (r.status === 400 || packets(r.body).includes('1'))
				break;
			if (packets(r.body).includes('2'))
				await httpRequest('POST', url, '3');
			assert.ok(Date.now() < deadline, 'still open long after the connect timeout');
		}
	});

	it('a session that joined a namespace is not closed by it', T(), async () => {
		const ws = await rawWebSocket(srv.url);
		await ws.next();
		ws.send('40/custom,');
		assert.match(await ws.next(), /^40\/custom,\{"sid":/);
		await sleep(ms(1500));
		assert.equal(ws.isOpen, true);
		ws.send('42/custom,["message",1]');
		assert.match(await ws.next(), /^42\/custom,\["auth"/);
		assert.equal(await ws.next(), '42/custom,["message-back",1]');
	});

	it('the daemon closes a session that never connects after server.connect_timeout_ms', T(), async () => {
		await withDaemon({ server: { connect_timeout_ms: 500 } }, async (gw) => {
			const idle = await rawWebSocket(gw.url);
			assert.match(await idle.next(), /^0\{/);
			const busy = await rawWebSocket(gw.url);
			await busy.next();
			busy.send('40');
			assert.match(await busy.next(), /^40\{"sid":/);
			await idle.waitClosed(ms(3000));
			assert.equal(busy.isOpen, true, 'a connected session stays');
		});
	});

	it('a session refused by middleware and never connected elsewhere is closed too', T(), async () => {
		const ws = await rawWebSocket(srv.url);
		await ws.next();
		ws.send('40/async,{"token":"wrong"}');
		assert.equal(await ws.next(), '44/async,{"message":"unauthorized","data":{"code":42}}');
		await ws.waitClosed(ms(4000));
	});
});

describe('restarts', () => {
	afterEach(() => closeClients());

	for (const how of ['SIGTERM', 'SIGKILL']) {
		it(`clients reconnect to a new daemon on the same port after ${how}, and re-join`, T(20000), async () => {
			const config = { namespaces: [{ name: '/chat', rooms: { client_join: true } }] };
			let gw = await startDaemon(config);
			const port = gw.port;
			try {
				const opts = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300, randomizationFactor: 0 };
				const socks = [
					client(gw.url + '/chat', { ...opts, transports: ['websocket'] }),
					client(gw.url + '/chat', { ...opts, transports: ['polling'] }),
				];
				const joins = socks.map((s) => {
					const acks = [];
					// Re-join on every (re)connection, as an application does.
					s.on('connect', () => s.emit('join', 'lobby', (r) => acks.push(r)));
					return acks;
				});
				await Promise.all(socks.map((s) => connected(s)));
				await until(() => joins.every((a) => a.length === 1), 'the first joins');
				const firstIds = socks.map((s) => s.id);
				const reasons = socks.map((s) => once(s, 'disconnect', ms(5000)));

				if (how === 'SIGTERM')
					await gw.stop();
				else
					await gw.kill();
				const why = await Promise.all(reasons);
				gw = await startDaemon(config, { port });

				await until(() => joins.every((a) => a.length === 2), `reconnection and re-join (disconnect reasons: ${why.map((r) => r[0])})`, ms(8000));
				for (const [i, s] of socks.entries()) {
					assert.equal(s.connected, true);
					assert.notEqual(s.id, firstIds[i], 'a new session');
					assert.deepEqual(joins[i], [{ ok: true }, { ok: true }]);
				}
			} finally {
				closeClients();
				await gw.stop();
			}
		});
	}
});

describe('many clients', () => {
	let srv;

	serverHooks(async () => {
		srv = await startConformance();
	}, () => srv?.stop());

	// Under valgrind the conformance server's 300 ms ping interval cannot keep up with 200
	// clients (they time out on their side), so fewer clients there: it checks memory then.
	const N = VALGRIND ? 30 : 200;
	const BATCH = VALGRIND ? 10 : 50;

	it(`${N} clients in one room (3/4 websocket, 1/4 polling) each get one broadcast`, T(30000), async () => {
		const socks = [];
		for (let i = 0; i < N; i += BATCH)
			socks.push(...(await Promise.all(Array.from({ length: BATCH }, (_, j) => connect(srv.url + '/rooms', {
				transports: (i + j) % 4 === 3 ? ['polling'] : ['websocket'],
				query: { room: 'crowd' },
				timeout: ms(10000),
			}, ms(10000))))));
		const got = socks.map((s) => collect(s, 'crowd-news'));
		const sender = await connect(srv.url + '/rooms', { transports: ['websocket'] });
		const [n] = await call(sender, 'broadcast', { rooms: ['crowd'], event: 'crowd-news', args: ['hello', 42] });
		assert.equal(n, N);
		await until(() => got.every((g) => g.length >= 1), 'every client to get the broadcast', ms(10000));
		await sleep(ms(200));
		for (const g of got)
			assert.deepEqual(g, [['hello', 42]]);
		// Then they all leave at once and the room is empty.
		closeClients();
		const probe = await connect(srv.url + '/rooms', { transports: ['websocket'] });
		await until(async () => (await call(probe, 'broadcast', { rooms: ['crowd'], event: 'x', args: [] }))[0] === 0,
			'the room to empty', ms(5000));
	});
});
