// kafka.test.mjs - the Kafka bridge end to end: the daemon with the kafka plugin against
// librdkafka's mock cluster (tests/kafka-mock), kcat as the backend, and the official
// socket.io-client. Covers the wire contract of docs/bridges.md (rooms from the key, the
// sio-rooms / sio-except / sio-event / sio-args / sio-namespace headers, topic templates,
// binary values), upstream events acknowledged with their partition and offset, control
// commands, a relay across two gateway processes, malformed records and the dead-letter
// topic, a broker outage, a graceful stop, plugin loading errors and --check-config.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
	SRCDIR, T, call, closeClients, collect, configFile, connect, metricValue, ms, once, readyz, serverHooks, sleep,
	stopGatewayAndBroker, tempDir, until, waitReady,
} from './harness.mjs';
import {
	KAFKA_PLUGIN_DIR,
	KafkaMock,
	LOCAL_PLUGIN_DIR,
	checkConfig,
	consumeAll,
	counter,
	kafkaSkipReason,
	produce,
	runSiogate,
	startKafkaDaemon,
	waitRecord,
} from './kafka-harness.mjs';

const skip = kafkaSkipReason();
const WS = { transports: ['websocket'] };
const OK = [{ ok: true }];

// The topics every daemon of the main suite consumes or produces to, created before it
// starts: template subscriptions (orders.{room}) only see topics that exist at startup or
// after the next metadata refresh (10 s), and a producer would wait for an unknown topic.
const MAIN_TOPICS = [
	'chat.out:2', 'chat.spread', 'chat.all', 'orders.42', 'orders.7', 'chat.in:2', 'rooms.lobby', 'chat.by-nsp',
	'siogate.control', 'siogate.dead', 'tenants', 'tenants.control', 'tenant-1.reports', 'relay:2',
];

function mainConfig(bootstrap) {
	return {
		brokers: { main: { type: 'kafka', bootstrap_servers: bootstrap } },
		namespaces: [
			{
				name: '/chat',
				rooms: { client_join: true, auto_join: ['user:{auth.user}'] },
				bridge: {
					broker: 'main',
					to_clients: [
						{ topic: 'chat.out' },
						{ topic: 'orders.{room}', event: 'order' },
						{ topic: 'chat.spread', event: 'multi', args: 'spread' },
						{ topic: 'chat.all', rooms: 'all', event: 'everyone' },
					],
					from_clients: [
						{ event: 'message', topic: 'chat.in' },
						{ event: 'to-room', topic: 'rooms.{room}', key: '{auth.user}', headers: { 'x-user': '{auth.user}' } },
						{ event: 'by-nsp', topic: '{nsp}.{event}' },
					],
					control_topic: 'siogate.control',
					dead_letter_topic: 'siogate.dead',
				},
			},
			{
				match: '^/tenant-[0-9]+$',
				bridge: {
					broker: 'main',
					to_clients: [{ topic: 'tenants', rooms: 'all', event: 'tenant' }],
					from_clients: [{ event: 'report', topic: '{nsp}.reports' }],
					control_topic: 'tenants.control',
				},
			},
			{
				name: '/relay',
				rooms: { client_join: true },
				bridge: {
					broker: 'main',
					from_clients: [{ event: 'chat', topic: 'relay', rooms: '{room}' }],
					to_clients: [{ topic: 'relay', rooms: 'header', except_sender: true, args: 'spread' }],
				},
			},
		],
	};
}

/**
 * Makes sure records reach the gateway before a test produces the one it checks: probes on
 * the control topic (emits to a room nobody is in) are produced until one is consumed.
 * /readyz waits for the start offsets now (see the readiness regression test below); this
 * also covers a consumer that was just restarted by an outage.
 */
async function waitConsuming(gw, bootstrap, topic, namespace = '/chat') {
	const deadline = Date.now() + ms(15000);
	const before = await counter(gw, 'consumed');
	for (;;) {
		await produce(bootstrap, topic, JSON.stringify({ op: 'emit', namespace, in: ['siogate-test-probe'], event: 'probe' }));
		const t = Date.now() + ms(700);
		while (Date.now() < t) {
			if ((await counter(gw, 'consumed')) > before)
				return;
			await sleep(50);
		}
		if (Date.now() > deadline)
			throw new Error(`${gw.name}: the consumer never consumed a probe on ${topic}`);
	}
}

describe('kafka bridge', { skip }, () => {
	let mock;
	let gw;
	let uniq = 0;
	const id = (p = 'm') => `${p}-${++uniq}-${Date.now()}`;

	serverHooks(async () => {
		mock = await new KafkaMock().start();
		await mock.topics(...MAIN_TOPICS);
		gw = await startKafkaDaemon(mainConfig(mock.bootstrap), { name: 'siogate-kafka-a' });
		await waitConsuming(gw, mock.bootstrap, 'siogate.control');
	}, () => stopGatewayAndBroker(gw, () => mock?.stop()));

	/** n clients of /chat, each in room 'sync' (for sync()) and in the given rooms. */
	async function clients(n, rooms = [], opts = {}) {
		const out = [];
		for (let i = 0; i < n; i++) {
			const s = await connect(`${gw.url}/chat`, { ...WS, ...opts });
			for (const r of ['sync', ...(rooms[i] ?? [])])
				assert.deepEqual(await call(s, 'join', r), OK);
			out.push(s);
		}
		return out;
	}

	/**
	 * A marker through partition 0 of chat.out to room 'sync': once every socket has it,
	 * every record produced before it to partition 0 has been delivered (one partition is
	 * consumed in order), so "got nothing" checks are not races.
	 */
	async function sync(sockets) {
		const mark = id('sync');
		const got = sockets.map((s) => until(() => s.__syncs?.includes(mark), `sync marker ${mark} on ${s.id}`, ms(8000)));
		for (const s of sockets) {
			if (!s.__syncs) {
				s.__syncs = [];
				s.on('sync', (m) => s.__syncs.push(m));
			}
		}
		await produce(mock.bootstrap, 'chat.out', JSON.stringify(mark), { key: 'sync', partition: 0, headers: { 'sio-event': 'sync' } });
		await Promise.all(got);
	}

	const out0 = (value, opts = {}) => produce(mock.bootstrap, 'chat.out', value, { partition: 0, ...opts });

	describe('downstream (Kafka → clients)', () => {
		it('a record keyed by a room reaches that room only, as event "message" with the JSON value', T(15000), async () => {
			const [a, b] = await clients(2, [['lobby'], ['elsewhere']]);
			const gotB = collect(b, 'message');
			const ra = once(a, 'message', ms(8000));
			await out0(JSON.stringify({ text: 'hi', n: 42, list: [1, 'two', null], ok: true }), { key: 'lobby' });
			assert.deepEqual(await ra, [{ text: 'hi', n: 42, list: [1, 'two', null], ok: true }]);
			await sync([a, b]);
			assert.deepEqual(gotB, []);
		});

		it('sio-rooms: several rooms, one copy for a socket in two of them; sio-except skips members', T(15000), async () => {
			const [a, b, c, d] = await clients(4, [['red', 'blue'], ['blue'], ['red', 'muted'], ['green']]);
			const got = [a, b, c, d].map((s) => collect(s, 'message'));
			await out0('"to red and blue"', { headers: { 'sio-rooms': 'red, blue' } });
			await out0('"not muted"', { key: 'ignored-key', headers: { 'sio-rooms': 'red,blue', 'sio-except': 'muted' } });
			await sync([a, b, c, d]);
			assert.deepEqual(got[0], [['to red and blue'], ['not muted']], 'a is in red and blue: one copy each');
			assert.deepEqual(got[1], [['to red and blue'], ['not muted']]);
			assert.deepEqual(got[2], [['to red and blue']], 'c is muted');
			assert.deepEqual(got[3], [], 'd is in neither room');
		});

		it('the event is the sio-event header, else the mapping\'s default', T(15000), async () => {
			const [a] = await clients(1, [['ev']]);
			const got = [];
			a.onAny((event, ...args) => event !== 'sync' && got.push([event, ...args]));
			await out0('1', { key: 'ev', headers: { 'sio-event': 'custom:event' } });
			await out0('2', { key: 'ev' });
			await produce(mock.bootstrap, 'chat.spread', '[3, 4]', { headers: { 'sio-rooms': 'ev' } });
			await produce(mock.bootstrap, 'chat.spread', '[5]', { headers: { 'sio-rooms': 'ev', 'sio-event': 'other' } });
			await until(() => got.length >= 4, '4 events', ms(8000));
			await sync([a]);
			const sorted = [...got].sort((x, y) => String(x[1]).localeCompare(String(y[1])));
			assert.deepEqual(sorted, [['custom:event', 1], ['message', 2], ['multi', 3, 4], ['other', 5]]);
		});

		it('sio-args: spread makes a JSON array the arguments; value keeps it one argument', T(15000), async () => {
			const [a] = await clients(1, [['sp']]);
			const got = collect(a, 'message');
			await out0('[1, "two", {"three": 3}]', { key: 'sp', headers: { 'sio-args': 'spread' } });
			await out0('[1, "two"]', { key: 'sp' });
			await out0('[1, "two"]', { key: 'sp', headers: { 'sio-args': 'value' } });
			await out0('[]', { key: 'sp', headers: { 'sio-args': 'spread' } });
			await sync([a]);
			assert.deepEqual(got, [[1, 'two', { three: 3 }], [[1, 'two']], [[1, 'two']], []]);
		});

		it('binary: non-JSON bytes, sio-args: binary, and {"$binary"} inside JSON arrive as Buffers', T(15000), async () => {
			const [a] = await clients(1, [['bin']]);
			const got = collect(a, 'message');
			const raw = Buffer.from([0xff, 0x00, 0x01, 0x80, 0x0a, 0x7b]);
			await out0(raw, { key: 'bin' });
			await out0('{"looks":"like json"}', { key: 'bin', headers: { 'sio-args': 'binary' } });
			await out0(JSON.stringify({ file: { $binary: Buffer.from('hello').toString('base64') }, n: 1 }), { key: 'bin' });
			await out0(JSON.stringify([{ $binary: 'AQID' }, 'x']), { key: 'bin', headers: { 'sio-args': 'spread' } });
			await out0('plain text is not JSON', { key: 'bin' });
			await sync([a]);
			assert.equal(got.length, 5, JSON.stringify(got));
			assert.ok(Buffer.isBuffer(got[0][0]), `a Buffer: ${got[0][0]}`);
			assert.deepEqual(got[0][0], raw);
			assert.ok(Buffer.isBuffer(got[1][0]));
			assert.equal(got[1][0].toString(), '{"looks":"like json"}');
			assert.equal(got[2][0].n, 1);
			assert.ok(Buffer.isBuffer(got[2][0].file));
			assert.equal(got[2][0].file.toString(), 'hello');
			assert.ok(Buffer.isBuffer(got[3][0]));
			assert.deepEqual([...got[3][0]], [1, 2, 3]);
			assert.equal(got[3][1], 'x');
			assert.equal(got[4][0].toString(), 'plain text is not JSON');
		});

		it('a topic template orders.{room} takes the room from the topic name', T(15000), async () => {
			const [a, b] = await clients(2, [['42'], ['7']]);
			const gotA = collect(a, 'order');
			const gotB = collect(b, 'order');
			const updates = once(b, 'order:update', ms(8000));
			await produce(mock.bootstrap, 'orders.42', JSON.stringify({ id: 1, status: 'paid' }), { key: 'order-1' });
			await produce(mock.bootstrap, 'orders.7', JSON.stringify({ id: 2 }), { headers: { 'sio-event': 'order:update' } });
			await until(() => gotA.length === 1, 'order on 42', ms(8000));
			assert.deepEqual(await updates, [{ id: 2 }]);
			await sync([a, b]);
			assert.deepEqual(gotA, [[{ id: 1, status: 'paid' }]]);
			assert.deepEqual(gotB, []);
		});

		it('rooms: all reaches every socket of the namespace; sio-volatile still delivers to a fast client', T(15000), async () => {
			const [a, b] = await clients(2);
			const ra = once(a, 'everyone', ms(8000));
			const rb = once(b, 'everyone', ms(8000));
			await produce(mock.bootstrap, 'chat.all', '{"all":true}', { headers: { 'sio-volatile': 'true' } });
			assert.deepEqual(await ra, [{ all: true }]);
			assert.deepEqual(await rb, [{ all: true }]);
		});

		it('a dynamic namespace is fed by a shared topic: sio-namespace picks the namespace', T(15000), async () => {
			const t1 = await connect(`${gw.url}/tenant-1`, WS);
			const t2 = await connect(`${gw.url}/tenant-2`, WS);
			const got2 = collect(t2, 'tenant');
			const r1 = once(t1, 'tenant', ms(8000));
			await produce(mock.bootstrap, 'tenants', '"for tenant 1"', { headers: { 'sio-namespace': '/tenant-1' } });
			assert.deepEqual(await r1, ['for tenant 1']);
			const r2 = once(t2, 'tenant', ms(8000));
			await produce(mock.bootstrap, 'tenants', '"for tenant 2"', { headers: { 'sio-namespace': '/tenant-2' } });
			assert.deepEqual(await r2, ['for tenant 2']);
			assert.deepEqual(got2, [['for tenant 2']]);
			// A control command for a dynamic namespace names it.
			const e1 = once(t1, 'ctl', ms(8000));
			await produce(mock.bootstrap, 'tenants.control', JSON.stringify({ op: 'emit', namespace: '/tenant-1', event: 'ctl', args: [1] }));
			assert.deepEqual(await e1, [1]);
		});
	});

	describe('upstream (clients → Kafka)', () => {
		it('an ack carries topic, partition and offset; the record has the documented key, headers and value', T(20000), async () => {
			const [s] = await clients(1, [], { auth: { user: 'ann' } });
			const [res] = await call(s, 'message', { text: 'hello', n: 7 }, 'second', Buffer.from([1, 2, 3]));
			assert.equal(res.ok, true, JSON.stringify(res));
			assert.equal(res.topic, 'chat.in');
			assert.ok(res.partition === 0 || res.partition === 1, JSON.stringify(res));
			assert.ok(Number.isInteger(res.offset) && res.offset >= 0, JSON.stringify(res));
			const recs = await consumeAll(mock.bootstrap, 'chat.in', { partition: res.partition });
			const rec = recs.find((r) => r.offset === res.offset);
			assert.ok(rec, `offset ${res.offset} in ${JSON.stringify(recs)}`);
			assert.equal(rec.key, s.id);
			assert.deepEqual(rec.headers, { 'sio-namespace': '/chat', 'sio-event': 'message', 'sio-sid': s.id, 'sio-args': 'spread' });
			assert.deepEqual(JSON.parse(rec.payload), [{ text: 'hello', n: 7 }, 'second', { $binary: 'AQID' }]);
		});

		it('an event without an ack is produced all the same', T(20000), async () => {
			const [s] = await clients(1);
			const mark = id('noack');
			s.emit('message', mark);
			const rec = await waitRecord(mock.bootstrap, 'chat.in', (r) => r.payload === JSON.stringify([mark]), 'the un-acked event');
			assert.equal(rec.key, s.id);
		});

		it('templates: {room} from the first argument, {auth.user} as key and header, {nsp}.{event} as topic', T(20000), async () => {
			const [s] = await clients(1, [['lobby']], { auth: { user: 'ann' } });
			const [res] = await call(s, 'to-room', { room: 'lobby', text: 'x' });
			assert.equal(res.ok, true, JSON.stringify(res));
			assert.equal(res.topic, 'rooms.lobby');
			const [rec] = (await consumeAll(mock.bootstrap, 'rooms.lobby')).filter((r) => r.offset === res.offset);
			assert.equal(rec.key, 'ann');
			assert.equal(rec.headers['x-user'], 'ann');
			assert.equal(rec.headers['sio-event'], 'to-room');

			const [r2] = await call(s, 'by-nsp', 1);
			assert.deepEqual({ ok: r2.ok, topic: r2.topic }, { ok: true, topic: 'chat.by-nsp' });
			const t = await connect(`${gw.url}/tenant-1`, WS);
			const [r3] = await call(t, 'report', { cpu: 3 });
			assert.deepEqual({ ok: r3.ok, topic: r3.topic }, { ok: true, topic: 'tenant-1.reports' });
			const [rec3] = (await consumeAll(mock.bootstrap, 'tenant-1.reports')).filter((r) => r.offset === r3.offset);
			assert.equal(rec3.headers['sio-namespace'], '/tenant-1');
		});

		it('a relay into a room the sender has not joined is refused and produces nothing; a member relays', T(20000), async () => {
			const before = await counter(gw, 'relay_refused');
			const mallory = await connect(`${gw.url}/relay`, WS);
			const member = await connect(`${gw.url}/relay`, WS);
			assert.deepEqual(await call(member, 'join', 'lobby'), OK);
			const mark = id('spoof');
			assert.deepEqual(await call(mallory, 'chat', { room: 'user:bob', mark }),
				[{ ok: false, error: "not a member of room 'user:bob'" }]);
			mallory.emit('chat', { room: 'user:bob', mark }); // without an ack: dropped
			// Events of one connection are handled in order: once this is answered, the
			// one without an ack has been handled too.
			assert.deepEqual(await call(mallory, 'chat', { room: 'user:bob', mark }),
				[{ ok: false, error: "not a member of room 'user:bob'" }]);
			const [res] = await call(member, 'chat', { room: 'lobby', mark });
			assert.equal(res.ok, true, JSON.stringify(res));
			// A refused relay is never produced: only the member's record carries the mark.
			await waitRecord(mock.bootstrap, 'relay', (r) => r.headers['sio-sid'] === member.id && r.payload.includes(mark), 'the member relay');
			const spoofed = (await consumeAll(mock.bootstrap, 'relay')).filter((r) => r.payload.includes(mark) && r.headers['sio-sid'] !== member.id);
			assert.deepEqual(spoofed, []);
			assert.equal(await counter(gw, 'relay_refused'), before + 3);
		});

		it('a missing template value refuses the event with a reason, and counts it', T(), async () => {
			const before = await counter(gw, 'refused');
			const [noUser] = await clients(1, [['lobby']]);
			assert.deepEqual(await call(noUser, 'to-room', { text: 'no room' }), [
				{ ok: false, error: "topic: the event has no room (expected a 'room' string in its first argument)" },
			]);
			assert.deepEqual(await call(noUser, 'to-room', 'not an object'), [
				{ ok: false, error: "topic: the event has no room (expected a 'room' string in its first argument)" },
			]);
			assert.deepEqual(await call(noUser, 'to-room', { room: 'lobby' }), [
				{ ok: false, error: "key: a value for the template '{auth.user}' is missing" },
			]);
			assert.equal(await counter(gw, 'refused'), before + 3);
			// An event no entry takes is not the bridge's.
			assert.deepEqual(await call(noUser, 'unmapped', 1), [{ ok: false, error: "no handler for event 'unmapped'" }]);
		});
	});

	describe('control commands', () => {
		const ctl = (cmd) => produce(mock.bootstrap, 'siogate.control', JSON.stringify(cmd));

		it('join / emit / leave by sids and by rooms, with except', T(25000), async () => {
			const [a, b, c] = await clients(3, [['lobby'], ['lobby', 'muted'], []]);
			const got = [a, b, c].map((s) => collect(s, 'notice'));
			// One partition: the commands apply in order.
			await ctl({ op: 'join', sids: [c.id], rooms: ['vip'] });
			await ctl({ op: 'join', in: ['lobby'], except: ['muted'], rooms: ['vip', 'gold'] });
			await ctl({ op: 'emit', in: ['vip'], event: 'notice', args: ['vip', 1] });
			await ctl({ op: 'emit', in: ['lobby'], except: ['muted'], event: 'notice', args: ['lobby'] });
			await ctl({ op: 'leave', in: ['vip'], except: ['gold'], rooms: ['vip'] });
			await ctl({ op: 'emit', in: ['vip'], event: 'notice', args: ['vip', 2] });
			await ctl({ op: 'leave', sids: [a.id], rooms: ['vip', a.id] }); // a socket never leaves its own room
			await ctl({ op: 'emit', in: ['vip'], event: 'notice', args: ['vip', 3] }); // nobody is in vip now
			await ctl({ op: 'emit', in: [a.id, b.id], event: 'notice', args: ['by id'] });
			await ctl({ op: 'emit', event: 'notice', args: ['everyone'] });
			await until(() => got[0].length >= 5 && got[1].length >= 2 && got[2].length >= 2, 'the notices', ms(10000));
			await sleep(ms(300));
			assert.deepEqual(got[0], [['vip', 1], ['lobby'], ['vip', 2], ['by id'], ['everyone']], 'a: lobby, vip, gold');
			assert.deepEqual(got[1], [['by id'], ['everyone']], 'b is muted: not in vip');
			assert.deepEqual(got[2], [['vip', 1], ['everyone']], 'c left vip (not in gold)');
		});

		it("a control join of another socket's id room is refused: the private room stays private", T(25000), async () => {
			const [a, c] = await clients(2);
			const atC = collect(c, 'private');
			const before = await metricValue(gw, 'siogate_room_joins_refused_total{by="control"}');
			await ctl({ op: 'join', sids: [c.id], rooms: [a.id, 'ok-room'] });
			await ctl({ op: 'join', sids: [a.id], rooms: [a.id] }); // its own room: nothing to do
			await ctl({ op: 'emit', in: ['ok-room'], event: 'private', args: ['marker'] });
			await until(() => atC.length >= 1, 'the marker', ms(10000));
			const got = once(a, 'private', ms(8000));
			await ctl({ op: 'emit', in: [a.id], event: 'private', args: ['for a'] });
			assert.deepEqual(await got, ['for a']);
			await ctl({ op: 'emit', in: ['ok-room'], event: 'private', args: ['marker 2'] });
			await until(() => atC.length >= 2, 'the second marker', ms(10000));
			assert.deepEqual(atC, [['marker'], ['marker 2']], 'c joined ok-room, not a\'s id room');
			assert.equal(await metricValue(gw, 'siogate_room_joins_refused_total{by="control"}'), before + 1);
			await gw.waitLog(/a control join of room '\S{20}' in \/chat refused: a socket id's room belongs to that socket/);
		});

		it('disconnect by sids and by rooms', T(20000), async () => {
			const [a, b, c] = await clients(3, [['kick'], ['kick', 'stay'], []]);
			const da = once(c, 'disconnect', ms(8000));
			await ctl({ op: 'disconnect', sids: [c.id] });
			assert.equal((await da)[0], 'io server disconnect');
			const db = once(a, 'disconnect', ms(8000));
			await ctl({ op: 'disconnect', in: ['kick'], except: ['stay'] });
			assert.equal((await db)[0], 'io server disconnect');
			assert.equal(b.connected, true);
			assert.deepEqual(await call(b, 'join', 'still-here'), OK);
		});
	});

	describe('malformed records', () => {
		it('are counted, logged, dead-lettered with sio-error, and consumption goes on', T(25000), async () => {
			const [a] = await clients(1, [['lobby']]);
			const before = await counter(gw, 'malformed');
			const mark = id('bad');
			await out0('{not json', { key: 'lobby', headers: { 'sio-args': 'spread', 'x-mark': mark } });
			await out0('"no room"', { headers: { 'x-mark': mark } });
			await out0('1', { key: 'lobby', headers: { 'sio-args': 'weird', 'x-mark': mark } });
			await produce(mock.bootstrap, 'siogate.control', 'garbage', { headers: { 'x-mark': mark } });
			await produce(mock.bootstrap, 'siogate.control', '{"op":"explode"}', { headers: { 'x-mark': mark } });
			await produce(mock.bootstrap, 'siogate.control', '{"op":"join","in":["lobby"]}', { headers: { 'x-mark': mark } });
			await produce(mock.bootstrap, 'tenants', '"no namespace"', { headers: { 'x-mark': mark } });
			await produce(mock.bootstrap, 'tenants', '"unknown"', { headers: { 'x-mark': mark, 'sio-namespace': '/nobody' } });
			const good = once(a, 'message', ms(8000));
			await out0('"still consuming"', { key: 'lobby' });
			assert.deepEqual(await good, ['still consuming']);
			await until(async () => (await counter(gw, 'malformed')) >= before + 8, '8 more malformed', ms(8000));
			await sleep(ms(300));
			assert.equal(await counter(gw, 'malformed'), before + 8);
			await gw.waitLog(/message skipped \(/);

			// The /chat ones are dead-lettered (the other namespaces have no dead_letter_topic).
			let dead;
			await until(async () => {
				dead = (await consumeAll(mock.bootstrap, 'siogate.dead')).filter((r) => r.headers['x-mark'] === mark);
				return dead.length >= 6;
			}, '6 dead letters', ms(10000));
			const byError = Object.fromEntries(dead.map((r) => [r.headers['sio-error'], r]));
			assert.deepEqual(Object.keys(byError).sort(), [
				'"join" needs "rooms" (the rooms to join)',
				'a control command must be a JSON object',
				'no room (no sio-rooms header and no key)',
				'sio-args: spread needs a JSON array value',
				"unknown op 'explode' (known: join, leave, disconnect, emit, fetch_sockets, count, rooms)",
				'unknown sio-args value (expected value, spread or binary)',
			]);
			// The record is kept as it was: value, key and headers.
			const spread = byError['sio-args: spread needs a JSON array value'];
			assert.equal(spread.payload, '{not json');
			assert.equal(spread.key, 'lobby');
			assert.equal(spread.headers['sio-args'], 'spread');
			assert.ok((await counter(gw, 'dead_letters')) >= 6);
		});
	});

	describe('relay across two gateway processes', () => {
		let b;
		before(async () => {
			b = await startKafkaDaemon(mainConfig(mock.bootstrap), { name: 'siogate-kafka-b' });
			await waitConsuming(b, mock.bootstrap, 'siogate.control');
		});
		after(async () => {
			closeClients();
			await b?.stop();
		});

		it('a client on replica A emits to room R: R\'s members on A and B get it, the sender does not', T(20000), async () => {
			const join = async (url, room) => {
				const s = await connect(`${url}/relay`, WS);
				if (room)
					assert.deepEqual(await call(s, 'join', room), OK);
				return s;
			};
			const sender = await join(gw.url, 'R');
			const onA = await join(gw.url, 'R');
			const onB = await join(b.url, 'R');
			const otherB = await join(b.url, 'S');
			const gotSender = collect(sender, 'chat');
			const gotOther = collect(otherB, 'chat');
			const ra = once(onA, 'chat', ms(8000));
			const rb = once(onB, 'chat', ms(8000));
			const [ack] = await call(sender, 'chat', { room: 'R', text: 'hi' }, Buffer.from('bin'));
			assert.equal(ack.ok, true, JSON.stringify(ack));
			assert.equal(ack.topic, 'relay');
			for (const got of [await ra, await rb]) {
				assert.deepEqual(got[0], { room: 'R', text: 'hi' });
				assert.ok(Buffer.isBuffer(got[1]), 'the binary argument survives the relay');
				assert.equal(got[1].toString(), 'bin');
			}
			// The same from B: the replicas are symmetric.
			const back = once(onA, 'chat', ms(8000));
			assert.equal((await call(onB, 'chat', { room: 'R', text: 'back' }))[0].ok, true);
			assert.deepEqual(await back, [{ room: 'R', text: 'back' }]);
			await sleep(ms(500));
			assert.deepEqual(gotSender.map((g) => g[0].text), ['back'], 'the sender of "hi" did not get it back');
			assert.deepEqual(gotOther, []);
		});
	});

	describe('graceful stop', () => {
		it('SIGTERM with upstream messages in flight: every ack answered, exit 0 within the drain time', T(30000), async () => {
			const [s] = await clients(1);
			const sid = s.id;
			const n = 200;
			const acks = [];
			const pending = [];
			for (let i = 0; i < n; i++)
				pending.push(new Promise((resolve) => s.timeout(ms(10000)).emit('message', { i }, (err, res) => {
					acks.push(err ? { timeout: true } : res);
					resolve();
				})));
			await until(() => acks.length > 0, 'a first ack', ms(5000));
			// SIGTERM; throws unless it exits with status 0 within 5 s (drain_timeout_ms 2000).
			const { code } = await gw.stop();
			assert.equal(code, 0);
			await Promise.all(pending);
			const ok = acks.filter((r) => r.ok === true);
			for (const r of acks)
				assert.ok(r.ok === true || r.timeout || r.ok === false, JSON.stringify(r));
			// What was acknowledged is in Kafka.
			const recs = await consumeAll(mock.bootstrap, 'chat.in');
			const inKafka = new Set(recs.filter((r) => r.headers['sio-sid'] === sid).map((r) => JSON.parse(r.payload)[0].i));
			for (const r of ok)
				assert.ok(r.offset >= 0);
			assert.ok(inKafka.size >= ok.length, `${inKafka.size} records, ${ok.length} ok acks`);
		});
	});
});

// ------------------------------------------------------------------ a second gateway

describe('kafka bridge: readiness, shared topics, broker outage', { skip }, () => {
	let mock;
	let gw;

	const config = (bootstrap) => ({
		brokers: {
			main: {
				type: 'kafka',
				bootstrap_servers: bootstrap,
				delivery_timeout_ms: 3000,
				// Frequent offset commits (librdkafka's default is every 5 s), so that one is
				// waiting for the coordinator when the SIGTERM test stops the gateway.
				consumer: { 'auto.commit.interval.ms': 500 },
			},
		},
		namespaces: [
			{
				name: '/chat',
				rooms: { client_join: true },
				bridge: {
					broker: 'main',
					to_clients: [{ topic: 'o.out' }],
					from_clients: [{ event: 'message', topic: 'o.in' }],
					control_topic: 'o.control',
				},
			},
			// A dynamic namespace on the same control topic.
			{ match: '^/t-[0-9]+$', bridge: { broker: 'main', control_topic: 'o.control' } },
		],
	});

	serverHooks(async () => {
		mock = await new KafkaMock().start();
		await mock.topics('o.out', 'o.in', 'o.control');
		gw = await startKafkaDaemon(config(mock.bootstrap), { name: 'siogate-kafka-outage', ready: false });
	}, () => stopGatewayAndBroker(gw, () => mock?.stop()));

	it('/readyz: 503 with a reason until the consumer has its partitions; a record produced as soon as it is 200 is consumed', T(40000), async () => {
		const first = await readyz(gw);
		if (first.status === 503)
			assert.match(first.body.reason, /^bridge 'main': /);
		else
			assert.deepEqual(first.body, { status: 'ready' });
		const deadline = Date.now() + ms(30000);
		for (;;) {
			const r = await readyz(gw);
			if (r.status === 200) {
				assert.deepEqual(r.body, { status: 'ready' });
				break;
			}
			assert.equal(r.status, 503);
			assert.match(r.body.reason, /^bridge 'main': (starting|connecting to Kafka|waiting for the consumer's (partitions|start offsets))$/);
			assert.ok(Date.now() < deadline, `still not ready: ${JSON.stringify(r.body)}`);
			await sleep(20);
		}
		// Regression: readiness used to come at partition assignment, before the consumer had
		// resolved its start offsets ("latest"), and a record produced then was skipped.
		await produce(mock.bootstrap, 'o.out', '"first"', { key: 'lobby' });
		await until(async () => (await counter(gw, 'consumed')) >= 1, 'the first record to be consumed', ms(8000));
	});

	it('a control command without "namespace" on a topic shared with a dynamic namespace is applied, not malformed', T(15000), async () => {
		await waitConsuming(gw, mock.bootstrap, 'o.control');
		const before = await counter(gw, 'malformed');
		const s = await connect(`${gw.url}/chat`, WS);
		const got = once(s, 'hello', ms(8000));
		await produce(mock.bootstrap, 'o.control', JSON.stringify({ op: 'emit', event: 'hello', args: [1] }));
		assert.deepEqual(await got, [1]);
		await sleep(ms(500));
		// Regression: the /t-N binding used to count it malformed although /chat applied it.
		assert.equal(await counter(gw, 'malformed'), before);
	});

	it('broker down: acks fail after delivery_timeout_ms, /readyz 503; back up: ready and acked again', T(60000), async () => {
		await waitConsuming(gw, mock.bootstrap, 'o.control');
		const s = await connect(`${gw.url}/chat`, WS);
		assert.deepEqual(await call(s, 'join', 'lobby'), OK);
		assert.equal((await call(s, 'message', 'before'))[0].ok, true);

		await mock.down();
		try {
			// The bound: delivery_timeout_ms (3 s), plus up to librdkafka's
			// reconnect.backoff.max.ms (10 s): it notices that a record waiting for a down
			// broker timed out when it next tries to reconnect.
			const res = await new Promise((resolve, reject) =>
				s.timeout(ms(3000 + 10000 + 5000)).emit('message', 'during', (err, r) => (err ? reject(err) : resolve(r))));
			assert.deepEqual(res, { ok: false, error: 'Local: Message timed out', topic: 'o.in' });
			const down = await waitReady(gw, { status: 503, timeout: ms(15000) });
			assert.deepEqual(down, { status: 'not ready', reason: "bridge 'main': all Kafka brokers are down" });
			assert.ok((await counter(gw, 'failed')) >= 1);
		} finally {
			await mock.up();
		}
		await waitReady(gw, { timeout: ms(30000) });
		const [again] = await call(s, 'message', 'after');
		assert.equal(again.ok, true, JSON.stringify(again));
		assert.equal(again.topic, 'o.in');
		// Consumption resumes too.
		await waitConsuming(gw, mock.bootstrap, 'o.control');
		const got = once(s, 'message', ms(8000));
		await produce(mock.bootstrap, 'o.out', '"after the outage"', { key: 'lobby' });
		assert.deepEqual(await got, ['after the outage']);
		const values = (await consumeAll(mock.bootstrap, 'o.in')).map((r) => JSON.parse(r.payload)[0]);
		assert.ok(values.includes('before') && values.includes('after') && !values.includes('during'), JSON.stringify(values));
	});

	it('SIGTERM while the broker is down: queued messages are failed to their clients, exit 0 within the drain time', T(30000), async () => {
		const s = await connect(`${gw.url}/chat`, WS);
		// A record consumed, then the brokers go down. Regression: a periodic offset commit
		// waiting for the group coordinator used to block the shutdown about 45 s (the
		// session timeout) in fini()'s rd_kafka_destroy_flags(consumer).
		const consumed = await counter(gw, 'consumed');
		await produce(mock.bootstrap, 'o.out', '"x"', { key: 'nobody' });
		await until(async () => (await counter(gw, 'consumed')) > consumed, 'a consumed record', ms(8000));
		await mock.down();
		try {
			await sleep(1500); // > auto.commit.interval.ms: a commit is pending now
			const acks = [];
			for (let i = 0; i < 3; i++)
				s.timeout(ms(10000)).emit('message', `queued ${i}`, (err, res) => acks.push(err ? { timeout: err.message } : res));
			await sleep(ms(300)); // let the gateway read them
			// drain_timeout_ms is 2000 (the harness's default); stop() throws unless the
			// process exits with status 0 within 5 s of SIGTERM.
			const { code } = await gw.stop();
			assert.equal(code, 0);
			await until(() => acks.length === 3, '3 acks', ms(3000)).catch(() => {});
			assert.equal(acks.length, 3, `acks: ${JSON.stringify(acks)}`);
			for (const r of acks) {
				assert.equal(r.ok, false, JSON.stringify(r));
				// Purged by the shutdown, or (on a slow run, e.g. under valgrind) timed out by
				// delivery_timeout_ms just before it: either way, an error ack, nothing lost.
				assert.match(r.error, /^Local: (Purged in (queue|flight)|Message timed out)$/);
			}
		} finally {
			await mock.up();
		}
	});
});

// ------------------------------------------------------------------ loading and checking

describe('kafka bridge: plugin loading and --check-config', { skip }, () => {
	const BROKER = { type: 'kafka', bootstrap_servers: '127.0.0.1:1' };
	const NSP = { name: '/chat', bridge: { broker: 'main', to_clients: [{ topic: 'chat.out' }] } };
	const good = { brokers: { main: BROKER }, namespaces: [NSP] };

	async function refused(pluginPath, re) {
		const file = await configFile(good);
		const start = await runSiogate(['-c', file], { env: { SIOGATE_PLUGIN_PATH: pluginPath } });
		assert.notEqual(start.code, 0, 'the daemon must refuse to start');
		assert.match(start.stderr, re);
		const check = await runSiogate(['--check-config', '-c', file], { env: { SIOGATE_PLUGIN_PATH: pluginPath } });
		assert.equal(check.code, 1);
		assert.match(check.stderr, re);
	}

	it('a kafka.so that is another plugin is refused: it calls itself \'local\'', T(), async () => {
		const dir = tempDir('siogate-kafka-');
		fs.copyFileSync(path.join(LOCAL_PLUGIN_DIR, 'local.so'), path.join(dir, 'kafka.so'));
		await refused(dir, /brokers\.main\.type: bridge plugin \S+\/kafka\.so calls itself 'local', expected 'kafka'/);
	});

	it('a kafka.so that is not a plugin is refused', T(), async () => {
		const dir = tempDir('siogate-kafka-');
		const lib = ['/usr/lib/x86_64-linux-gnu/libjansson.so.4', '/usr/lib/aarch64-linux-gnu/libjansson.so.4',
			'/lib/x86_64-linux-gnu/libjansson.so.4'].find((f) => fs.existsSync(f));
		assert.ok(lib, 'libjansson.so.4 not found');
		fs.copyFileSync(lib, path.join(dir, 'kafka.so'));
		await refused(dir, /brokers\.main\.type: \S+\/kafka\.so is not a siogate bridge plugin \(no 'siogate_bridge' symbol\)/);
	});

	it('a type found twice on the path, or not at all, is refused', T(), async () => {
		await refused(`${KAFKA_PLUGIN_DIR}:${LOCAL_PLUGIN_DIR}:${KAFKA_PLUGIN_DIR}/`,
			/brokers\.main\.type: bridge plugin 'kafka' found twice: /);
		await refused(LOCAL_PLUGIN_DIR, /brokers\.main\.type: unknown type 'kafka' \(no kafka\.so in the plugin path /);
	});

	it('--check-config accepts a valid config and names the JSON path of a bad one', T(20000), async () => {
		const ok = await checkConfig(good);
		assert.equal(ok.code, 0, ok.stderr);
		assert.match(ok.stdout, /configuration is valid/);

		const cases = [
			[{ type: 'kafka' }, NSP, "brokers.main: missing required key 'bootstrap_servers'"],
			[{ ...BROKER, bootstrap_servers: '' }, NSP, 'brokers.main.bootstrap_servers: expected a non-empty string'],
			[{ ...BROKER, 'bootstrap.servers': 'x' }, NSP, "brokers.main: unknown key 'bootstrap.servers' (did you mean 'bootstrap_servers'?)"],
			[{ ...BROKER, 'linger.ms': 5 }, NSP, "brokers.main: unknown key 'linger.ms' (librdkafka settings go in \"properties\")"],
			[{ ...BROKER, start: 'now' }, NSP, 'brokers.main.start: expected one of latest, earliest'],
			[{ ...BROKER, group_id: 5 }, NSP, 'brokers.main.group_id: expected a non-empty string'],
			[{ ...BROKER, delivery_timeout_ms: 0 }, NSP, 'brokers.main.delivery_timeout_ms: expected an integer from 1 to 3600000'],
			[{ ...BROKER, properties: [] }, NSP, 'brokers.main.properties: expected an object of librdkafka properties'],
			[{ ...BROKER, producer: { 'linger.ms': null } }, NSP, 'brokers.main.producer.linger.ms: expected a string, number or boolean'],
			[BROKER, { name: '/chat', bridge: { broker: 'main', to_clients: [{ topic: 'orders.{room}', rooms: 'key' }] } },
				"namespaces[0].bridge.to_clients[0].rooms: a topic template takes its room from the topic ('topic')"],
			[BROKER, { name: '/chat', bridge: { broker: 'main', to_clients: [{ topic: 'chat/out' }] } },
				"namespaces[0].bridge.to_clients[0].topic: 'chat/out' is not a valid Kafka topic name (letters, digits, '.', '_', '-')"],
			[BROKER, { name: '/chat', bridge: { broker: 'main', to_clients: [{ topic: 'a', rooms: 'everyone' }] } },
				'namespaces[0].bridge.to_clients[0].rooms: expected one of auto, header, key, topic, all'],
			[BROKER, { name: '/chat', bridge: { broker: 'main', from_clients: [{ event: 'x', topic: '{user}' }] } },
				"namespaces[0].bridge.from_clients[0].topic: unknown placeholder '{user}'"],
			[BROKER, { name: '/chat', bridge: { broker: 'main', from_clients: [{ event: 'x', topic: 'chat in' }] } },
				"namespaces[0].bridge.from_clients[0].topic: 'chat in' is not a valid Kafka topic name (letters, digits, '.', '_', '-')"],
			[BROKER, { name: '/chat', bridge: { broker: 'main', to_clients: [{ topic: 'orders/{room}' }] } },
				"namespaces[0].bridge.to_clients[0].topic: 'orders/x' is not a valid Kafka topic name (letters, digits, '.', '_', '-')"],
			[BROKER, { name: '/chat', bridge: { broker: 'main', control_topic: 'a b' } },
				"namespaces[0].bridge.control_topic: 'a b' is not a valid Kafka topic name (letters, digits, '.', '_', '-')"],
			[BROKER, { name: '/chat', bridge: { broker: 'main', to_clients: [{ topic: 'a' }], tpoic: 'x' } },
				"namespaces[0].bridge: unknown key 'tpoic'"],
			[BROKER, { name: '/chat', bridge: { broker: 'other', to_clients: [{ topic: 'a' }] } },
				"namespaces[0].bridge.broker: no broker named 'other' in brokers"],
		];
		for (const [broker, nsp, want] of cases) {
			const r = await checkConfig({ brokers: { main: broker }, namespaces: [nsp] });
			assert.equal(r.code, 1, `${want}: exit ${r.code} ${r.stdout}`);
			assert.equal(r.stderr.trim(), `siogate: invalid configuration: ${want}`);
		}
	});

	it('a librdkafka property it rejects stops the daemon at startup with the property named', T(), async () => {
		const file = await configFile({ brokers: { main: { ...BROKER, properties: { 'no.such.property': 1 } } }, namespaces: [NSP] });
		const r = await runSiogate(['-c', file]);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /bridge 'main': cannot start \(property 'no\.such\.property': /);
	});

	it('etc/siogate.kafka.json is valid', T(), async () => {
		const r = await checkConfig(path.join(SRCDIR, 'etc', 'siogate.kafka.json'));
		assert.equal(r.code, 0, r.stderr);
	});
});
