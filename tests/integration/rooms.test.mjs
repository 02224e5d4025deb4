// rooms.test.mjs - rooms on the conformance server's /rooms namespace (client join/leave
// with an allow pattern and at most 4 rooms, auto-join "user:{auth.user}" and
// "{query.room}") and broadcasts through the library: targets, except rooms, exceptSelf,
// one copy per socket however many target rooms it is in, binary and volatile broadcasts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { T, call, collect, connect, ms, once, serverHooks, sleep, startConformance, until } from './harness.mjs';

let srv;
let url;

serverHooks(async () => {
	srv = await startConformance();
	url = srv.url + '/rooms';
}, () => srv?.stop());

const OK = [{ ok: true }];
const refused = (error) => [{ ok: false, error }];

/** Connects `n` clients to /rooms, alternating transports so both paths are exercised. */
async function clients(n, opts = {}) {
	const transports = [['websocket'], ['polling']];
	return Promise.all(Array.from({ length: n }, (_, i) => connect(url, { transports: transports[i % 2], ...opts })));
}

/** Broadcasts from `from`; resolves with the recipient count the server acked. */
async function broadcast(from, spec) {
	const [n] = await call(from, 'broadcast', spec);
	return n;
}

/** Lets in-flight deliveries land before a "received nothing" check. */
const settle = () => sleep(ms(300));

describe('client join/leave on /rooms', () => {
	it('join and leave are acked {ok:true}; refusals carry the reason', T(), async () => {
		const [s] = await clients(1);
		assert.deepEqual(await call(s, 'join', 'lobby'), OK);
		assert.deepEqual(await call(s, 'join', 'lobby'), OK, 'joining twice is fine');
		assert.deepEqual(await call(s, 'join', 'Not-Allowed'), refused('room name not allowed'));
		assert.deepEqual(await call(s, 'join', 'x'.repeat(33)), refused('room name not allowed'));
		assert.deepEqual(await call(s, 'join'), refused('expected a room name as the first argument'));
		assert.deepEqual(await call(s, 'join', 42), refused('expected a room name as the first argument'));
		assert.deepEqual(await call(s, 'leave', 'lobby'), OK);
		assert.deepEqual(await call(s, 'leave', 'never-joined'), OK);
	});

	it('at most 4 rooms joined by the client; leaving frees a slot', T(), async () => {
		const [s] = await clients(1, { auth: { user: 'max' }, query: { room: 'from-query' } });
		for (const r of ['r1', 'r2', 'r3', 'r4'])
			assert.deepEqual(await call(s, 'join', r), OK, r);
		assert.deepEqual(await call(s, 'join', 'r5'), refused('too many rooms'));
		assert.deepEqual(await call(s, 'join', 'r4'), OK, 'a room already joined is not a new one');
		assert.deepEqual(await call(s, 'leave', 'r1'), OK);
		assert.deepEqual(await call(s, 'join', 'r5'), OK);
		assert.deepEqual(await call(s, 'join', 'r6'), refused('too many rooms'));
	});

	it('leaving an auto-joined room does not free a slot for client joins', T(), async () => {
		// Auto-joined rooms do not count towards max_rooms, so leaving one must not let the
		// client go past 4 rooms of its own.
		const [s, probe] = await clients(2, { auth: { user: 'slot' } });
		for (const r of ['s1', 's2', 's3', 's4'])
			assert.deepEqual(await call(s, 'join', r), OK, r);
		assert.deepEqual(await call(s, 'leave', 'user:slot'), OK);
		assert.deepEqual(await call(s, 'join', 's5'), refused('too many rooms'));
		// And it really left user:slot: only `probe` is still there.
		assert.equal(await broadcast(probe, { rooms: ['user:slot'], event: 'x', args: [] }), 1);
	});
});

describe('broadcast to rooms', () => {
	it('reaches the members of the room only, the sender included', T(), async () => {
		const [a, b, c] = await clients(3);
		await call(a, 'join', 'red');
		await call(b, 'join', 'red');
		const gotC = collect(c, 'news');
		const ra = once(a, 'news');
		const rb = once(b, 'news');
		assert.equal(await broadcast(a, { rooms: ['red'], event: 'news', args: ['hello red', { n: 1 }] }), 2);
		assert.deepEqual(await ra, ['hello red', { n: 1 }]);
		assert.deepEqual(await rb, ['hello red', { n: 1 }]);
		await settle();
		assert.deepEqual(gotC, []);
	});

	it('no rooms: the whole namespace; other namespaces get nothing', T(), async () => {
		const [a, b] = await clients(2);
		const other = await connect(srv.url, { transports: ['websocket'] });
		const gotOther = collect(other, 'all');
		const ra = once(a, 'all');
		const rb = once(b, 'all');
		const n = await broadcast(b, { event: 'all', args: [1] });
		assert.ok(n >= 2, `count ${n}`);
		assert.deepEqual(await ra, [1]);
		assert.deepEqual(await rb, [1]);
		await settle();
		assert.deepEqual(gotOther, []);
	});

	it('except rooms are skipped', T(), async () => {
		const [a, b, c, d] = await clients(4);
		for (const s of [a, b, c])
			await call(s, 'join', 'team');
		await call(b, 'join', 'muted');
		await call(d, 'join', 'muted');
		const gotB = collect(b, 'ping');
		const gotD = collect(d, 'ping');
		const ra = once(a, 'ping');
		const rc = once(c, 'ping');
		assert.equal(await broadcast(d, { rooms: ['team'], except: ['muted'], event: 'ping', args: ['x'] }), 2);
		await Promise.all([ra, rc]);
		await settle();
		assert.deepEqual(gotB, []);
		assert.deepEqual(gotD, []);
	});

	it('exceptSelf skips the sender even when it is in the room', T(), async () => {
		const [a, b] = await clients(2);
		await call(a, 'join', 'chat');
		await call(b, 'join', 'chat');
		const gotA = collect(a, 'said');
		const rb = once(b, 'said');
		assert.equal(await broadcast(a, { rooms: ['chat'], exceptSelf: true, event: 'said', args: ['hi'] }), 1);
		assert.deepEqual(await rb, ['hi']);
		await settle();
		assert.deepEqual(gotA, []);
	});

	it('a socket in several target rooms gets one copy', T(), async () => {
		const [a, b, c] = await clients(3);
		await call(a, 'join', 'one');
		await call(a, 'join', 'two');
		await call(a, 'join', 'three');
		await call(b, 'join', 'two');
		const gotA = collect(a, 'dedup');
		const gotB = collect(b, 'dedup');
		assert.equal(await broadcast(c, { rooms: ['one', 'two', 'three', 'two'], event: 'dedup', args: ['once'] }), 2);
		await until(() => gotA.length && gotB.length, 'both deliveries');
		await settle();
		assert.deepEqual(gotA, [['once']]);
		assert.deepEqual(gotB, [['once']]);
	});

	it('auto-joined "user:{auth.user}" and "{query.room}" rooms receive broadcasts', T(), async () => {
		const [alice1, alice2] = await clients(2, { auth: { user: 'alice' } });
		const [bob] = await clients(1, { auth: { user: 'bob' }, query: { room: 'general' } });
		const [anon] = await clients(1, { query: { room: 'general' } });
		const gotBob = collect(bob, 'dm');
		const r1 = once(alice1, 'dm');
		const r2 = once(alice2, 'dm');
		assert.equal(await broadcast(anon, { rooms: ['user:alice'], event: 'dm', args: ['for alice'] }), 2);
		assert.deepEqual(await r1, ['for alice']);
		assert.deepEqual(await r2, ['for alice']);

		const rb = once(bob, 'room');
		const ra = once(anon, 'room');
		assert.equal(await broadcast(alice1, { rooms: ['general'], event: 'room', args: ['general'] }), 2);
		await Promise.all([rb, ra]);
		await settle();
		assert.deepEqual(gotBob, []);
		// Without auth.user there is no "user:" room to reach.
		assert.equal(await broadcast(alice1, { rooms: ['user:', 'user:undefined'], event: 'x', args: [] }), 0);
	});

	it("auto_join cannot put a socket into another socket's id room ({query.room} set to that id)", T(), async () => {
		const [victim] = await clients(1);
		const [spy] = await clients(1, { query: { room: victim.id } });
		const atSpy = collect(spy, 'secret');
		const got = once(victim, 'secret');
		assert.equal(await broadcast(spy, { rooms: [victim.id], event: 'secret', args: ['for the victim'] }), 1);
		assert.deepEqual(await got, ['for the victim']);
		await settle();
		assert.deepEqual(atSpy, []);
	});

	it('query values are URL-decoded before they fill a template', T(), async () => {
		const room = 'café:1/2 & more=yes';
		const [member] = await clients(1, { query: { room } });
		const [other] = await clients(1);
		const got = once(member, 'q');
		assert.equal(await broadcast(other, { rooms: [room], event: 'q', args: [room] }), 1);
		assert.deepEqual(await got, [room]);
	});

	it('leave stops delivery; a disconnected socket is no longer counted', T(), async () => {
		const [a, b] = await clients(2);
		await call(a, 'join', 'tmp');
		await call(b, 'join', 'tmp');
		assert.equal(await broadcast(a, { rooms: ['tmp'], event: 'e', args: [] }), 2);
		const gotB = collect(b, 'after-leave');
		assert.deepEqual(await call(b, 'leave', 'tmp'), OK);
		assert.equal(await broadcast(a, { rooms: ['tmp'], event: 'after-leave', args: [] }), 1);
		await settle();
		assert.deepEqual(gotB, []);
		a.disconnect();
		await sleep(ms(100));
		assert.equal(await broadcast(b, { rooms: ['tmp'], event: 'e', args: [] }), 0);
	});

	it('binary arguments are broadcast to websocket and polling members', T(), async () => {
		const [ws, poll, sender] = await clients(3);
		await call(ws, 'join', 'bin');
		await call(poll, 'join', 'bin');
		const payload = Buffer.from([9, 8, 7, 0, 255]);
		const rw = once(ws, 'blob');
		const rp = once(poll, 'blob');
		assert.equal(await broadcast(sender, { rooms: ['bin'], event: 'blob', args: [payload, { inner: payload }] }), 2);
		for (const got of [await rw, await rp]) {
			assert.deepEqual(Buffer.from(got[0]), payload);
			assert.deepEqual(Buffer.from(got[1].inner), payload);
		}
	});

	it('volatile broadcasts reach connected members', T(), async () => {
		const [a, b] = await clients(2);
		await call(a, 'join', 'v');
		const ra = once(a, 'vol');
		assert.equal(await broadcast(b, { rooms: ['v'], volatile: true, event: 'vol', args: [1] }), 1);
		assert.deepEqual(await ra, [1]);
	});
});
