// recovery.test.mjs - connection state recovery within one gateway, with the official client
// (socket.io-client 4.8, default recovery options): a client whose transport drops while
// messages go to its room comes back with the same id, its rooms, and the missed messages in
// order, once, before new ones; `recovered` is true. Expired sessions, forged or foreign pids,
// volatile messages, middleware on recovery (and skip_middleware), and the store's bounds.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import {
	BUILDDIR, T, call, client, closeClients, connect, connected, connectError, metricValue, ms, once, sleep,
	startDaemon, until,
} from './harness.mjs';

const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');

const relay = (prefix, extra = {}) => ({
	type: 'local',
	from_clients: [
		{ event: 'say', topic: `${prefix}.chat`, rooms: '{room}' },
		{ event: 'shout', topic: `${prefix}.vol`, rooms: '{room}' },
	],
	to_clients: [
		{ topic: `${prefix}.chat`, rooms: 'header', except_sender: true },
		{ topic: `${prefix}.vol`, rooms: 'header', except_sender: true, volatile: true },
	],
	...extra,
});

const CONFIG = {
	namespaces: [
		{
			name: '/chat',
			rooms: { client_join: true },
			recovery: { max_disconnection_ms: 30000 },
			bridge: relay('c'),
		},
		{
			name: '/short',
			rooms: { client_join: true },
			recovery: { max_disconnection_ms: 1000 },
			bridge: relay('s'),
		},
		{
			name: '/guarded',
			rooms: { client_join: true },
			middleware: [{ type: 'token', secret: 'good' }],
			recovery: {},
			bridge: relay('g'),
		},
		{
			name: '/trusting',
			rooms: { client_join: true },
			middleware: [{ type: 'token', secret: 'good' }],
			recovery: { skip_middleware: true },
			bridge: relay('t'),
		},
		{
			name: '/small',
			rooms: { client_join: true },
			recovery: { max_sessions: 3, max_packets: 4 },
			bridge: relay('m'),
		},
		{ name: '/plain', rooms: { client_join: true }, bridge: relay('p') },
		{
			// Lifecycle records of a recovering socket, shown to a /monitor client.
			name: '/lc',
			rooms: { client_join: true },
			recovery: {},
			bridge: relay('l', { events: { topic: 'lc.ev', types: ['connect', 'disconnect'] } }),
		},
		{
			name: '/monitor',
			bridge: { type: 'local', to_clients: [{ topic: 'lc.ev', rooms: 'all', event: 'lifecycle', ignore_headers: true }] },
		},
	],
};

// A client that reconnects by itself (the official defaults), so that recovery is its own doing.
function reconnecting(url, opts = {}) {
	return client(url, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, ...opts });
}

// The first arguments of each `event` (the offset the gateway appends is the last one).
function record(socket, event) {
	const got = [];
	socket.on(event, (...args) => got.push(args));
	return got;
}

// Drops the client's transport (as a network failure would) and resolves when the gateway saw it go.
async function drop(gw, socket, nsp) {
	const before = await metricValue(gw, 'siogate_recovery_sessions_total{event="kept"}');
	socket.io.engine.close();
	await until(async () => (await metricValue(gw, 'siogate_recovery_sessions_total{event="kept"}')) > before, `the gateway kept ${nsp}'s session`, ms(5000));
}

describe('connection state recovery (one gateway)', () => {
	let gw;
	before(async () => {
		gw = await startDaemon(CONFIG, { name: 'siogate-recovery', env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
	});
	after(async () => {
		await gw?.stop();
	});
	afterEach(() => closeClients());

	it('a dropped client gets its id, its room and the 5 messages it missed, in order, then new ones', T(20000), async () => {
		const a = reconnecting(`${gw.url}/chat`);
		await connected(a);
		const b = await connect(`${gw.url}/chat`);
		assert.deepEqual(await call(a, 'join', 'lobby'), [{ ok: true }]);
		assert.deepEqual(await call(b, 'join', 'lobby'), [{ ok: true }]);
		const got = record(a, 'say');
		await call(b, 'say', { room: 'lobby', n: 0 });
		await until(() => got.length === 1, 'the first message', ms(3000));
		const offset = got[0][got[0].length - 1];
		assert.equal(typeof offset, 'string', 'the offset rides as the last argument');
		const id = a.id;
		assert.equal(a.recovered, false);

		await drop(gw, a, '/chat');
		for (let n = 1; n <= 5; n++)
			await call(b, 'say', { room: 'lobby', n });
		await once(a, 'connect', ms(5000));
		assert.equal(a.recovered, true, 'the client reports the recovery');
		assert.equal(a.id, id, 'the same id');
		await until(() => got.length === 6, 'the missed messages', ms(3000));
		assert.deepEqual(got.map((args) => args[0].n), [0, 1, 2, 3, 4, 5], 'each once, in order');
		const offsets = got.map((args) => args[1]);
		assert.equal(new Set(offsets).size, 6, 'each message has its own offset');

		// Its room is back without a join: a new message reaches it, after the missed ones.
		await call(b, 'say', { room: 'lobby', n: 6 });
		await until(() => got.length === 7, 'the new message', ms(3000));
		assert.equal(got[6][0].n, 6);
		// And the room is still the client's own choice: it may leave it.
		assert.deepEqual(await call(a, 'leave', 'lobby'), [{ ok: true }]);
		await call(b, 'say', { room: 'lobby', n: 7 });
		await sleep(ms(200));
		assert.equal(got.length, 7, 'left the room');
		assert.ok((await metricValue(gw, 'siogate_recovery_sessions_total{event="recovered"}')) >= 1);
		assert.ok((await metricValue(gw, 'siogate_recovery_replayed_total')) >= 5);
	});

	it('messages to rooms it was not in, its own sent ones and volatile ones are not replayed', T(20000), async () => {
		const a = reconnecting(`${gw.url}/chat`);
		await connected(a);
		const b = await connect(`${gw.url}/chat`);
		await call(a, 'join', 'r1');
		await call(b, 'join', 'r1');
		await call(b, 'join', 'r2');
		const got = record(a, 'say');
		const vol = record(a, 'shout');
		await call(b, 'say', { room: 'r1', n: 0 });
		await until(() => got.length === 1, 'the first message', ms(3000));
		await drop(gw, a, '/chat');
		await call(b, 'say', { room: 'r2', n: 'other room' });
		await call(b, 'shout', { room: 'r1', n: 'volatile' });
		await call(b, 'say', { room: 'r1', n: 1 });
		await once(a, 'connect', ms(5000));
		assert.equal(a.recovered, true);
		await until(() => got.length === 2, 'the missed message', ms(3000));
		await sleep(ms(200));
		assert.deepEqual(got.map((args) => args[0].n), [0, 1]);
		assert.deepEqual(vol, [], 'volatile messages are not kept');
		// Relayed messages reach the others, not the sender, on replay too.
		const bGot = record(b, 'say');
		await drop(gw, b, '/chat');
		await call(a, 'say', { room: 'r1', n: 'from a' });
		await sleep(ms(100));
		b.io.reconnection(true);
		b.io.opts.reconnectionDelay = 100;
		b.connect();
		await once(b, 'connect', ms(5000));
		await until(() => bGot.length === 1, 'b got a\'s message', ms(3000));
		assert.equal(bGot[0][0].n, 'from a');
	});

	it('a client that got no message yet recovers too (no offset: from its start)', T(20000), async () => {
		const a = reconnecting(`${gw.url}/chat`);
		await connected(a);
		const b = await connect(`${gw.url}/chat`);
		await call(a, 'join', 'quiet');
		await call(b, 'join', 'quiet');
		const got = record(a, 'say');
		const id = a.id;
		await drop(gw, a, '/chat');
		await call(b, 'say', { room: 'quiet', n: 1 });
		await once(a, 'connect', ms(5000));
		assert.equal(a.recovered, true);
		assert.equal(a.id, id);
		await until(() => got.length === 1, 'the missed message', ms(3000));
	});

	it('recovers again and again: each drop replays only what that drop missed', T(20000), async () => {
		const a = reconnecting(`${gw.url}/chat`);
		await connected(a);
		const b = await connect(`${gw.url}/chat`);
		await call(a, 'join', 'again');
		await call(b, 'join', 'again');
		const got = record(a, 'say');
		const id = a.id;
		for (let round = 0; round < 3; round++) {
			await drop(gw, a, '/chat');
			await call(b, 'say', { room: 'again', n: round });
			await once(a, 'connect', ms(5000));
			assert.equal(a.recovered, true, `round ${round}`);
			assert.equal(a.id, id);
			await until(() => got.length === round + 1, `round ${round}'s message`, ms(3000));
		}
		await sleep(ms(200));
		assert.deepEqual(got.map((args) => args[0].n), [0, 1, 2], 'none twice');
	});

	it('an expired session gives a fresh one: new id, no rooms, nothing replayed', T(20000), async () => {
		const a = reconnecting(`${gw.url}/short`, { autoConnect: true });
		await connected(a);
		const b = await connect(`${gw.url}/short`);
		await call(a, 'join', 'lobby');
		await call(b, 'join', 'lobby');
		const got = record(a, 'say');
		await call(b, 'say', { room: 'lobby', n: 0 });
		await until(() => got.length === 1, 'the first message', ms(3000));
		const id = a.id;
		const expired = await metricValue(gw, 'siogate_recovery_sessions_total{event="expired"}');
		a.io.reconnection(false);
		await drop(gw, a, '/short');
		await call(b, 'say', { room: 'lobby', n: 1 });
		await until(async () => (await metricValue(gw, 'siogate_recovery_sessions_total{event="expired"}')) > expired, 'the session expired', ms(5000));
		a.connect();
		await once(a, 'connect', ms(5000));
		assert.equal(a.recovered, false);
		assert.notEqual(a.id, id);
		await call(b, 'say', { room: 'lobby', n: 2 });
		await sleep(ms(200));
		assert.equal(got.length, 1, 'not in the room any more, and nothing replayed');
	});

	it('a forged, foreign or malformed pid gives a fresh session, never someone else\'s', T(20000), async () => {
		const a = await connect(`${gw.url}/chat`);
		await call(a, 'join', 'secret');
		const pid = a._pid;
		assert.equal(typeof pid, 'string');
		// A pid of another namespace is not one of this namespace's.
		const p = await connect(`${gw.url}/plain`);
		assert.equal(p._pid, undefined, 'no pid where recovery is off');
		const missed = await metricValue(gw, 'siogate_recovery_sessions_total{event="missed"}');
		for (const auth of [{ pid: 'A'.repeat(20), offset: 'x.1' }, { pid: 42 }, { pid: 'short', offset: 7 }]) {
			const f = await connect(`${gw.url}/chat`, { auth });
			assert.equal(f.recovered, false);
			assert.notEqual(f.id, a.id);
			assert.notEqual(f._pid, pid);
			f.disconnect();
		}
		// The live socket's pid names no dropped session: nobody takes it over.
		const thief = await connect(`${gw.url}/chat`, { auth: { pid, offset: 'anything' } });
		assert.equal(thief.recovered, false);
		assert.notEqual(thief.id, a.id);
		assert.ok((await metricValue(gw, 'siogate_recovery_sessions_total{event="missed"}')) > missed);
		// After a drops, its pid with another namespace's name gets nothing either.
		await drop(gw, a, '/chat');
		const other = await connect(`${gw.url}/short`, { auth: { pid } });
		assert.equal(other.recovered, false);
	});

	it('middleware runs again on recovery: a token revoked meanwhile stays revoked', T(20000), async () => {
		const a = reconnecting(`${gw.url}/guarded`, { auth: { token: 'good' } });
		await connected(a);
		await drop(gw, a, '/guarded');
		a.auth.token = 'revoked';
		const err = await once(a, 'connect_error', ms(5000));
		assert.equal(err[0].message, 'unauthorized');
		a.io.reconnection(false);
	});

	it('skip_middleware: a recovered socket goes without the middleware; a fresh one does not', T(20000), async () => {
		const a = reconnecting(`${gw.url}/trusting`, { auth: { token: 'good' } });
		await connected(a);
		const id = a.id;
		await drop(gw, a, '/trusting');
		a.auth.token = 'revoked';
		await once(a, 'connect', ms(5000));
		assert.equal(a.recovered, true);
		assert.equal(a.id, id);
		const fresh = client(`${gw.url}/trusting`, { auth: { token: 'revoked' } });
		assert.equal((await connectError(fresh)).message, 'unauthorized');
	});

	it('bounded: at most max_sessions sessions and max_packets packets are kept', T(30000), async () => {
		const b = await connect(`${gw.url}/small`);
		await call(b, 'join', 'lobby');
		const kept = await metricValue(gw, 'siogate_recovery_sessions_total{event="kept"}');
		const expired = await metricValue(gw, 'siogate_recovery_sessions_total{event="expired"}');
		const olds = [];
		for (let i = 0; i < 6; i++) {
			const s = await connect(`${gw.url}/small`);
			await call(s, 'join', 'lobby');
			olds.push(s);
		}
		for (const s of olds)
			s.io.engine.close();
		await until(async () => (await metricValue(gw, 'siogate_recovery_sessions_total{event="kept"}')) >= kept + 6, 'six sessions kept', ms(5000));
		assert.ok((await metricValue(gw, 'siogate_recovery_sessions_total{event="expired"}')) >= expired + 3,
			'the oldest let go beyond max_sessions');
		for (let n = 0; n < 10; n++)
			await call(b, 'say', { room: 'lobby', n });
		assert.ok((await metricValue(gw, 'siogate_recovery_packets_dropped_total')) >= 6, 'beyond max_packets');
		// A session whose missed messages are no longer all kept starts afresh (as Node does).
		const last = olds[5];
		const id = last.id;
		last.connect();
		await once(last, 'connect', ms(5000));
		assert.equal(last.recovered, false);
		assert.notEqual(last.id, id);
	});

	it('lifecycle records: the disconnect, then a connect with the same sid marked "recovered" and its rooms', T(20000), async () => {
		const w = await connect(`${gw.url}/monitor`);
		const got = record(w, 'lifecycle');
		const a = reconnecting(`${gw.url}/lc`);
		await connected(a);
		await call(a, 'join', 'lobby');
		const sid = a.id;
		await drop(gw, a, '/lc');
		await once(a, 'connect', ms(5000));
		assert.equal(a.recovered, true);
		const ofA = () => got.map((args) => args[0]).filter((v) => v.sid === sid);
		await until(() => ofA().length === 3, 'connect, disconnect, recovered connect', ms(5000));
		const [first, gone, back] = ofA();
		assert.equal(first.type, 'connect');
		assert.equal(first.recovered, undefined);
		assert.equal(gone.type, 'disconnect');
		assert.equal(gone.reason, 'transport close');
		assert.equal(back.type, 'connect');
		assert.equal(back.recovered, true);
		assert.deepEqual(back.rooms, [sid, 'lobby']);
		assert.equal(JSON.stringify(got).includes(a._pid), false, 'the pid is never shown to the backend');
	});
});
