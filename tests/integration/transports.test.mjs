// transports.test.mjs - the official client against the conformance server: polling only,
// WebSocket only, the upgrade, several namespaces on one connection, acks both ways and
// binary both ways on each transport.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Manager } from 'socket.io-client';

import { T, call, client, connect, connected, ms, once, serverHooks, startConformance, track, until } from './harness.mjs';

let srv;

serverHooks(async () => {
	srv = await startConformance();
}, () => srv?.stop());

const TRANSPORTS = {
	polling: { transports: ['polling'] },
	websocket: { transports: ['websocket'] },
	upgrade: { transports: ['polling', 'websocket'] },
};

describe('transports', () => {
	it('polling only: connects, gets "auth", echoes, never upgrades', T(), async () => {
		const s = client(srv.url, { transports: ['polling'], auth: { hello: 'polling' } });
		const auth = once(s, 'auth');
		await connected(s);
		assert.deepEqual(await auth, [{ hello: 'polling' }]);
		assert.equal(s.io.engine.transport.name, 'polling');
		s.emit('message', 'a', 1, { b: [true, null] });
		assert.deepEqual(await once(s, 'message-back'), ['a', 1, { b: [true, null] }]);
		assert.equal(s.io.engine.transport.name, 'polling');
	});

	it('websocket only: connects straight over WebSocket', T(), async () => {
		const s = client(srv.url, { transports: ['websocket'] });
		const auth = once(s, 'auth');
		await connected(s);
		assert.equal(s.io.engine.transport.name, 'websocket');
		// No auth object given: the server reports an empty one.
		assert.deepEqual(await auth, [{}]);
		s.emit('message', 'ws', 2);
		assert.deepEqual(await once(s, 'message-back'), ['ws', 2]);
	});

	it('upgrade: starts on polling, moves to websocket, keeps working', T(), async () => {
		const s = client(srv.url, { transports: ['polling', 'websocket'] });
		await connected(s);
		const engine = s.io.engine;
		if (engine.transport.name !== 'websocket')
			await once(engine, 'upgrade', ms(3000));
		assert.equal(engine.transport.name, 'websocket');
		s.emit('message', 'after-upgrade');
		assert.deepEqual(await once(s, 'message-back'), ['after-upgrade']);
	});

	it('upgrade survives traffic in flight during the switch', T(), async () => {
		const s = client(srv.url, { transports: ['polling', 'websocket'] });
		const got = [];
		s.on('message-back', (n) => got.push(n));
		await connected(s);
		for (let i = 0; i < 50; i++)
			s.emit('message', i);
		await until(() => got.length === 50 && s.io.engine.transport.name === 'websocket',
			'50 echoes and the upgrade');
		for (let i = 50; i < 100; i++)
			s.emit('message', i);
		await until(() => got.length === 100, '100 echoes');
		assert.deepEqual(got, [...Array(100).keys()]);
	});

	it('stays connected across several ping intervals (300 ms) on each transport', T(), async () => {
		const socks = await Promise.all(Object.values(TRANSPORTS).map((o) => connect(srv.url, o)));
		let disconnects = 0;
		for (const s of socks)
			s.on('disconnect', () => disconnects++);
		await new Promise((r) => setTimeout(r, ms(1200)));
		assert.equal(disconnects, 0);
		for (const s of socks) {
			s.emit('message', 'still here');
			assert.deepEqual(await once(s, 'message-back'), ['still here']);
		}
	});
});

describe('namespaces on one connection', () => {
	it('io(url + "/custom") and io(url) share one Manager and one Engine.IO session', T(), async () => {
		const a = track(client(srv.url + '/custom', { forceNew: false, auth: { nsp: 'custom' } }));
		const b = track(client(srv.url, { forceNew: false, auth: { nsp: 'main' } }));
		assert.equal(a.io, b.io, 'the Manager is shared');
		const authA = once(a, 'auth');
		const authB = once(b, 'auth');
		await Promise.all([connected(a), connected(b)]);
		assert.deepEqual(await authA, [{ nsp: 'custom' }]);
		assert.deepEqual(await authB, [{ nsp: 'main' }]);
		assert.notEqual(a.id, b.id);
		a.emit('message', 'from custom');
		b.emit('message', 'from main');
		const [ra, rb] = await Promise.all([once(a, 'message-back'), once(b, 'message-back')]);
		assert.deepEqual(ra, ['from custom']);
		assert.deepEqual(rb, ['from main']);
	});

	it('Manager.socket(): /, /custom, /rooms and /async over one websocket; leaving one keeps the others', T(), async () => {
		const m = new Manager(srv.url, { transports: ['websocket'], reconnection: false, autoConnect: true });
		const main = track(m.socket('/'));
		const custom = track(m.socket('/custom'));
		const rooms = track(m.socket('/rooms', { auth: { user: 'multi' } }));
		const asyncNsp = track(m.socket('/async', { auth: { token: 'let-me-in' } }));
		await Promise.all([main, custom, rooms, asyncNsp].map((s) => connected(s)));
		assert.equal(new Set([main.id, custom.id, rooms.id, asyncNsp.id]).size, 4);

		custom.disconnect();
		main.emit('message', 'main still works');
		assert.deepEqual(await once(main, 'message-back'), ['main still works']);
		assert.deepEqual(await call(rooms, 'message-with-ack', 'x'), ['x']);

		// A server-side namespace disconnect closes that socket only.
		const gone = once(asyncNsp, 'disconnect');
		asyncNsp.emit('disconnect-me');
		assert.equal((await gone)[0], 'io server disconnect');
		assert.equal(main.connected, true);
		main.emit('message', 'and still');
		assert.deepEqual(await once(main, 'message-back'), ['and still']);
		m.engine.close();
	});
});

for (const [name, opts] of Object.entries(TRANSPORTS)) {
	describe(`acks over ${name}`, () => {
		it('client -> server: message-with-ack is acked with the same args', T(), async () => {
			const s = await connect(srv.url, opts);
			assert.deepEqual(await call(s, 'message-with-ack', 1, '2', { three: [3] }), [1, '2', { three: [3] }]);
			assert.deepEqual(await call(s, 'message-with-ack'), []);
			// Many acks in flight at once come back to the right callers.
			const res = await Promise.all(Array.from({ length: 30 }, (_, i) => call(s, 'message-with-ack', i)));
			assert.deepEqual(res, Array.from({ length: 30 }, (_, i) => [i]));
		});

		it('server -> client: the client acks server-ack and the server reports the answer', T(), async () => {
			const s = await connect(srv.url, opts);
			s.on('server-ack', (...args) => {
				const ack = args.pop();
				assert.equal(typeof ack, 'function');
				ack('pong', { args });
			});
			s.emit('request-ack', 2000, 'ping');
			const [result] = await once(s, 'server-ack-result');
			assert.deepEqual(result, ['pong', { args: [2000, 'ping'] }]);
		});

		it('server -> client: an ack that never comes is reported as a timeout', T(), async () => {
			const s = await connect(srv.url, opts);
			let asked = 0;
			s.on('server-ack', () => asked++); // never calls the ack
			s.emit('request-ack', 200);
			const [result] = await once(s, 'server-ack-result', ms(3000));
			assert.deepEqual(result, { error: 'timeout' });
			assert.equal(asked, 1);
			// A late ack for an expired id is ignored; the connection stays healthy.
			assert.deepEqual(await call(s, 'message-with-ack', 'ok'), ['ok']);
		});

		it('JSON values survive the round trip: unicode, control characters, big and small numbers', T(), async () => {
			const s = await connect(srv.url, opts);
			const values = [
				'emoji 😀, CJK 漢字, RTL עברית, U+2028 \u2028, NUL \u0000, quote " backslash \\ slash /',
				0, -1, 0.1, 1.5e-300, 1e300, 2 ** 53, 2 ** 64, -(2 ** 63), 1e21,
				true, false, null, [], {}, { '': '', 'ké': [[[]]], nested: { a: { b: { c: [1, 'two'] } } } },
				'x'.repeat(100000),
			];
			assert.deepEqual(await call(s, 'message-with-ack', ...values), values);
		});

		it('client ack timeout: an event the server does not ack fails the client timeout', T(), async () => {
			const s = await connect(srv.url, opts);
			// "message" is answered with an event, not an ack.
			await assert.rejects(s.timeout(ms(300)).emitWithAck('message', 'no ack'), /operation has timed out/);
			assert.equal(s.connected, true);
		});
	});

	describe(`binary over ${name}`, () => {
		const small = Buffer.from([0, 1, 2, 253, 254, 255]);
		const big = Buffer.alloc(100000, 0xab);
		big.writeUInt32BE(0xdeadbeef, 50000);

		it('a Buffer argument comes back byte for byte', T(), async () => {
			const s = await connect(srv.url, opts);
			s.emit('message', small);
			const [back] = await once(s, 'message-back');
			assert.ok(Buffer.isBuffer(back) || back instanceof ArrayBuffer, `got ${typeof back}`);
			assert.deepEqual(Buffer.from(back), small);
		});

		it('binary nested in objects and arrays, several attachments, mixed with JSON', T(), async () => {
			const s = await connect(srv.url, opts);
			const empty = Buffer.alloc(0);
			s.emit('message', 'text', { a: small, nested: { list: [big, 7, small] } }, [empty], 42);
			const back = await once(s, 'message-back');
			assert.equal(back.length, 4);
			assert.equal(back[0], 'text');
			assert.deepEqual(Buffer.from(back[1].a), small);
			assert.deepEqual(Buffer.from(back[1].nested.list[0]), big);
			assert.equal(back[1].nested.list[1], 7);
			assert.deepEqual(Buffer.from(back[1].nested.list[2]), small);
			assert.deepEqual(Buffer.from(back[2][0]), empty);
			assert.equal(back[3], 42);
		});

		it('binary in a client -> server ack (BINARY_ACK)', T(), async () => {
			const s = await connect(srv.url, opts);
			const res = await call(s, 'message-with-ack', small, { x: big });
			assert.deepEqual(Buffer.from(res[0]), small);
			assert.deepEqual(Buffer.from(res[1].x), big);
		});

		it('binary in a server -> client ack, reported back with attachments', T(), async () => {
			const s = await connect(srv.url, opts);
			s.on('server-ack', (...args) => args.pop()(Buffer.from('from-client'), { bin: small }));
			s.emit('request-ack', 2000, big);
			const [result] = await once(s, 'server-ack-result');
			assert.equal(result.length, 2);
			assert.deepEqual(Buffer.from(result[0]), Buffer.from('from-client'));
			assert.deepEqual(Buffer.from(result[1].bin), small);
		});

		it('binary the client receives in the server-ack event itself', T(), async () => {
			const s = await connect(srv.url, opts);
			const got = once(s, 'server-ack');
			s.emit('request-ack', 2000, small, { deep: [small] });
			const args = await got;
			const ack = args.pop();
			ack();
			assert.equal(args[0], 2000);
			assert.deepEqual(Buffer.from(args[1]), small);
			assert.deepEqual(Buffer.from(args[2].deep[0]), small);
			assert.deepEqual(await once(s, 'server-ack-result'), [[]]);
		});
	});
}
