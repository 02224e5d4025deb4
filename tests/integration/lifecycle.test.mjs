// lifecycle.test.mjs - issue 17 end to end: lifecycle events, instance heartbeats and presence
// queries through the broker, with the official socket.io-client, on librdkafka's mock cluster
// (tests/kafka-mock, kcat as the backend) and on the local bridge. Covers the connect / join /
// leave / disconnect records (every field, the handshake and types options, keys and
// headers), their order per socket in one partition of a 2-partition topic, the disconnect
// reasons (client, transport close, ping timeout, control disconnect, SIGTERM drain followed
// by the instance's "down"), one disconnect per connect under churn, a reload that removes a
// namespace, the "up" heartbeats with their per-namespace counts (a dynamic namespace family
// lists each child), fetch_sockets / count / rooms answered by two replicas (malformed queries
// dead-lettered), a presence table kept from the events topic alone across replicas (one
// stopped with SIGTERM, one killed and expired by its missing heartbeats), a broker outage
// while sockets churn (clients unaffected, failures counted and logged), the /metrics
// counters, the local bridge's delivery of these records to to_clients mappings (another
// namespace reads them with ignore_headers; reserved event names never reach a client), and
// --check-config for the events object. The backend reads each topic with one streaming kcat
// (started on first use, killed by PID), so waiting for a record costs no new consumer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import {
	BUILDDIR, T, call, client, closeClients, collect, connect, connected, eachLine, httpGet, httpRequest, metricValue, ms, once, own, rawWebSocket,
	sleep, startDaemon, stopChild, until,
} from './harness.mjs';
import { KafkaMock, checkConfig, counter, kafkaSkipReason, produce, startKafkaDaemon } from './kafka-harness.mjs';

const skip = kafkaSkipReason();
const WS = { transports: ['websocket'] };
const OK = [{ ok: true }];

// The main events topic's heartbeat, and how long a backend waits without any record of an
// instance before it drops that instance's sockets (several heartbeats, plus kcat's lag).
const HB = ms(250);
const EXPIRE = ms(1500);
const INSTANCE_RE = /^.+-\d+-[0-9a-f]{12}$/;

// ---------------------------------------------------------------- reading the events topic

/**
 * A backend's consumer: one kcat per topic that reads it from the beginning and keeps
 * reading (-u: unbuffered, one JSON envelope per line), so that waiting for a record costs
 * no new consumer each time. Started on first use; killed by PID (stopTails(), and on exit
 * through own()).
 */
class Tail {
	constructor(bootstrap, topic) {
		this.topic = topic;
		this.recs = [];
		this.stderr = '';
		this.child = own(spawn('kcat', ['-C', '-u', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-J', '-q',
			'-X', 'fetch.wait.max.ms=20'], { stdio: ['ignore', 'pipe', 'pipe'] }));
		this.child.on('error', (e) => {
			this.stderr += String(e);
		});
		eachLine(this.child.stdout, (line) => {
			const rec = JSON.parse(line);
			const headers = {};
			for (let i = 0; rec.headers && i < rec.headers.length; i += 2)
				headers[rec.headers[i]] = rec.headers[i + 1];
			let value = null;
			try {
				value = JSON.parse(rec.payload);
			} catch {
				/* not JSON */
			}
			this.recs.push({ ...rec, headers, value });
		});
		this.child.stderr.setEncoding('utf8');
		this.child.stderr.on('data', (d) => {
			this.stderr = (this.stderr + d).slice(-2000);
		});
	}

	get running() {
		return this.child.exitCode === null && this.child.signalCode === null;
	}
}

const tails = new Map();

function tailOf(bootstrap, topic) {
	const k = `${bootstrap} ${topic}`;
	if (!tails.has(k))
		tails.set(k, new Tail(bootstrap, topic));
	return tails.get(k);
}

/** Stops the consumers of the cluster at `bootstrap`. */
async function stopTails(bootstrap) {
	for (const [k, t] of tails) {
		if (k.startsWith(`${bootstrap} `)) {
			tails.delete(k);
			await stopChild(t.child, 2000, (c) => c.kill('SIGKILL'));
		}
	}
}

/** The records of `topic` read so far (JSON values parsed as `value`, null if not JSON). */
function records(bootstrap, topic) {
	return [...tailOf(bootstrap, topic).recs];
}

const show = (r) => `${r.partition}/${r.offset} ${r.key} ${r.payload}`;

/**
 * Waits (bounded) until `done(records)` returns something truthy for the records of `topic`
 * read so far; resolves with it. On timeout the error shows the last records.
 */
async function pollTopic(bootstrap, topic, done, what, timeout = ms(10000)) {
	const t = tailOf(bootstrap, topic);
	const deadline = Date.now() + timeout;
	for (;;) {
		const recs = [...t.recs];
		const r = done(recs);
		if (r)
			return r;
		if (Date.now() > deadline || !t.running)
			throw new Error(`${what}: not on ${topic} within ${timeout} ms${t.running ? '' : ` (kcat exited: ${t.stderr})`}; ` +
				`last records:\n${recs.slice(-25).map(show).join('\n')}`);
		await sleep(20);
	}
}

/** The lifecycle records of socket `sid`: asserted to be in one partition, in offset order. */
function ofSid(recs, sid) {
	const mine = recs.filter((r) => r.key === sid).sort((a, b) => a.offset - b.offset);
	assert.ok(new Set(mine.map((r) => r.partition)).size <= 1, `the records of ${sid} are in one partition: ${mine.map(show).join('\n')}`);
	for (const r of mine)
		assert.equal(r.value?.sid, r.key, show(r));
	return mine;
}

/** Waits for the disconnect record of `sid`; resolves with every record of that socket. */
async function lifecycleOf(bootstrap, topic, sid, what = `the disconnect record of ${sid}`, timeout = ms(10000)) {
	await pollTopic(bootstrap, topic, (recs) => recs.some((r) => r.key === sid && r.value?.type === 'disconnect'), what, timeout);
	return ofSid(records(bootstrap, topic), sid);
}

/** A record's value without the fields that vary (instance, time), for deepEqual. */
function stable(v) {
	const { instance, time, ...rest } = v;
	assert.match(instance, INSTANCE_RE);
	assert.ok(Number.isInteger(time) && time > 1.6e12, `time ${time}`);
	return rest;
}

/** The rooms of a record, own id first, the others sorted (their order is not specified). */
function roomsOf(v) {
	assert.equal(v.rooms[0], v.sid, `own room first: ${JSON.stringify(v.rooms)}`);
	return [v.rooms[0], ...v.rooms.slice(1).sort()];
}

// ---------------------------------------------------------------- a backend's presence table

/**
 * What a backend keeps from the events topic alone: connect adds a socket (with its rooms),
 * join / leave update them, disconnect removes it; an instance's "down" drops its sockets
 * and the instance for good (an instance id is per process), and an instance that has sent
 * nothing for `expire` ms is considered gone (it crashed: no disconnects will come).
 */
class PresenceTable {
	constructor() {
		this.sockets = new Map(); // sid -> { instance, namespace, rooms: Set }
		this.instances = new Map(); // id -> { last: ms, down: bool }
	}

	instance(id) {
		let i = this.instances.get(id);
		if (!i)
			this.instances.set(id, (i = { last: 0, down: false }));
		return i;
	}

	apply(v) {
		if (!v || typeof v !== 'object' || !v.instance)
			return;
		const inst = this.instance(v.instance);
		if (inst.down)
			return; // records of a replica that said goodbye (read from another partition late)
		inst.last = Math.max(inst.last, v.time);
		switch (v.type) {
		case 'instance':
			if (v.state === 'down') {
				inst.down = true;
				for (const [sid, s] of this.sockets)
					if (s.instance === v.instance)
						this.sockets.delete(sid);
			}
			break;
		case 'connect':
			this.sockets.set(v.sid, { instance: v.instance, namespace: v.namespace, rooms: new Set(v.rooms) });
			break;
		case 'join':
			this.sockets.get(v.sid)?.rooms.add(v.room);
			break;
		case 'leave':
			this.sockets.get(v.sid)?.rooms.delete(v.room);
			break;
		case 'disconnect':
			this.sockets.delete(v.sid);
			break;
		default:
			break;
		}
	}

	/** The sockets of live instances at `now`: { sid: { instance, namespace, rooms: [sorted] } }. */
	live(now, expire) {
		const out = {};
		for (const [sid, s] of this.sockets) {
			const i = this.instances.get(s.instance);
			if (i.down || now - i.last > expire)
				continue;
			out[sid] = { instance: s.instance, namespace: s.namespace, rooms: [...s.rooms].sort() };
		}
		return out;
	}

	static from(recs) {
		const t = new PresenceTable();
		for (const r of recs)
			t.apply(r.value);
		return t;
	}
}

// ---------------------------------------------------------------- configs

const broker = (bootstrap, extra = {}) => ({ main: { type: 'kafka', bootstrap_servers: bootstrap, ...extra } });

/** A replica with control topics: A and B run it. */
function replicaConfig(bootstrap) {
	return {
		// Short pings: the ping timeout test waits interval + timeout.
		server: { ping_interval_ms: ms(500), ping_timeout_ms: ms(500) },
		brokers: broker(bootstrap),
		namespaces: [
			{
				name: '/chat',
				rooms: { client_join: true, auto_join: ['members'] },
				bridge: { broker: 'main', events: { topic: 'ev', heartbeat_ms: HB }, control_topic: 'ctl', dead_letter_topic: 'dead' },
			},
			{
				// The opt-in handshake fields, and no join/leave records.
				name: '/hs',
				rooms: { client_join: true },
				bridge: { broker: 'main', events: { topic: 'ev', types: ['connect', 'disconnect'], handshake: ['auth', 'headers'] } },
			},
			{ match: '^/hb-[0-9]+$', bridge: { broker: 'main', events: { topic: 'ev.hb', heartbeat_ms: ms(200) } } },
			{
				// Presence queries need a control topic, not events.
				name: '/presence',
				rooms: { client_join: true },
				bridge: { broker: 'main', control_topic: 'ctl.p', dead_letter_topic: 'dead' },
			},
		],
	};
}

/**
 * A replica that only produces lifecycle records of `names` to `topic` (ready without a
 * consumer).
 */
function eventsOnlyConfig(bootstrap, topic, { heartbeat_ms, brokerExtra, names = ['/chat'] } = {}) {
	return {
		brokers: broker(bootstrap, brokerExtra),
		namespaces: names.map((name) => ({
			name,
			rooms: { client_join: true, auto_join: ['members'] },
			bridge: { broker: 'main', events: { topic, ...(heartbeat_ms ? { heartbeat_ms } : {}) } },
		})),
	};
}

// ---------------------------------------------------------------- the Kafka suite

describe('lifecycle events, heartbeats and presence queries on Kafka', { skip }, () => {
	let mock;
	// A and B: replicas with control topics; C: a third replica of /chat (killed by the
	// presence table test); D, E and R: gateways of their own topics, stopped by the drain,
	// churn and reload tests.
	const gw = {};
	const ctl = (cmd, topic = 'ctl', opts = {}) => produce(mock.bootstrap, topic, JSON.stringify(cmd), opts);

	before(async () => {
		mock = await new KafkaMock().start();
		await mock.topics('ev:2', 'ev.hb', 'ctl', 'ctl.p', 'dead', 'rep', 'ev.drain', 'ev.churn:2', 'ev.reload');
		const b = mock.bootstrap;
		// In parallel: the consumers' group joins take seconds each.
		const starts = {
			A: () => startKafkaDaemon(replicaConfig(b), { name: 'siogate-lc-a' }),
			B: () => startKafkaDaemon(replicaConfig(b), { name: 'siogate-lc-b' }),
			C: () => startKafkaDaemon(eventsOnlyConfig(b, 'ev', { heartbeat_ms: HB }), { name: 'siogate-lc-c' }),
			D: () => startKafkaDaemon(eventsOnlyConfig(b, 'ev.drain'), { name: 'siogate-lc-drain' }),
			E: () => startKafkaDaemon(eventsOnlyConfig(b, 'ev.churn'), { name: 'siogate-lc-churn' }),
			R: () => startKafkaDaemon(eventsOnlyConfig(b, 'ev.reload', { heartbeat_ms: ms(200), names: ['/chat', '/gone'] }),
				{ name: 'siogate-lc-reload' }),
		};
		const res = await Promise.allSettled(Object.entries(starts).map(async ([k, start]) => {
			gw[k] = await start();
		}));
		const failed = res.find((r) => r.status === 'rejected');
		if (failed)
			throw failed.reason;
	});
	afterEach(() => closeClients());
	after(async () => {
		closeClients();
		try {
			for (const g of Object.values(gw))
				if (g.running)
					await g.stop();
		} finally {
			if (mock) {
				await stopTails(mock.bootstrap);
				await mock.stop();
			}
		}
	});

	it('connect: every field, key and headers; handshake auth/headers and types connect/disconnect elsewhere', T(20000), async () => {
		const produced = await metricValue(gw.A, 'siogate_bridge_events_produced_total{bridge="main"}');
		assert.ok(Number.isFinite(produced), 'the counter is on /metrics');
		const t0 = Date.now();
		const s = await connect(`${gw.A.url}/chat`, { ...WS, query: { x: '1' } });
		const sid = s.id;
		const rec = await pollTopic(mock.bootstrap, 'ev', (recs) => recs.find((r) => r.key === sid), 'the connect record');
		const t1 = Date.now();
		assert.deepEqual(rec.headers, { 'sio-namespace': '/chat', 'sio-sid': sid, 'sio-event': 'connect' });
		const v = rec.value;
		assert.deepEqual(Object.keys(v).sort(), ['address', 'claims', 'instance', 'namespace', 'query', 'rooms', 'sid', 'time', 'type']);
		assert.deepEqual(stable(v), {
			type: 'connect', namespace: '/chat', sid, rooms: [sid, 'members'], address: '127.0.0.1',
			query: { x: '1', EIO: '4', transport: 'websocket' }, claims: {},
		});
		assert.ok(v.time >= t0 && v.time <= t1, `time ${v.time} within [${t0}, ${t1}]`);
		// The counter counts what the broker confirmed.
		await until(async () => (await metricValue(gw.A, 'siogate_bridge_events_produced_total{bridge="main"}')) > produced,
			'events_produced to grow', ms(5000));

		// /hs: handshake ["auth","headers"], types ["connect","disconnect"].
		const h = await connect(`${gw.A.url}/hs`, {
			...WS,
			auth: { token: 'secret', n: 1 },
			extraHeaders: { authorization: 'Bearer abc', 'x-forwarded-for': '10.1.2.3', cookie: 'k=v', 'x-not-kept': 'no' },
		});
		const hid = h.id;
		assert.deepEqual(await call(h, 'join', 'lobby'), OK);
		assert.deepEqual(await call(h, 'leave', 'lobby'), OK);
		assert.deepEqual(await call(h, 'join', 'stay'), OK);
		h.disconnect();
		const hrecs = await lifecycleOf(mock.bootstrap, 'ev', hid);
		assert.deepEqual(hrecs.map((r) => r.value.type), ['connect', 'disconnect'], 'no join/leave records with types [connect, disconnect]');
		const hv = hrecs[0].value;
		assert.deepEqual(hrecs[0].headers, { 'sio-namespace': '/hs', 'sio-sid': hid, 'sio-event': 'connect' });
		assert.deepEqual(Object.keys(hv).sort(), ['auth', 'headers', 'instance', 'namespace', 'rooms', 'sid', 'time', 'type'],
			'auth and headers instead of address, query and claims');
		assert.deepEqual(hv.auth, { token: 'secret', n: 1 });
		assert.equal(hv.headers.authorization, 'Bearer abc');
		assert.equal(hv.headers['x-forwarded-for'], '10.1.2.3');
		assert.equal(hv.headers.cookie, 'k=v');
		assert.equal(hv.headers.host, new URL(gw.A.url).host);
		assert.equal(hv.headers['x-not-kept'], undefined, `only the kept headers: ${JSON.stringify(hv.headers)}`);
		assert.equal(hv.instance, v.instance, 'one instance id per process');
		assert.deepEqual(hrecs[1].value.rooms, [hid, 'stay']);
		assert.equal(hrecs[1].headers['sio-event'], 'disconnect');
	});

	it('connect: the handshake query as sent, first value of a repeated key, no value that is not UTF-8', T(20000), async () => {
		// By hand over polling: a client library would tidy the query up before sending it.
		const base = `${gw.A.url}/socket.io/?EIO=4&transport=polling`;
		const open = await httpGet(`${base}&x=1&x=2&=empty-name&e=%C3%A9&bad=%FF&z=`);
		assert.equal(open.status, 200, open.body);
		const eioSid = JSON.parse(open.body.slice(1)).sid;
		const url = `${base}&sid=${eioSid}`;
		assert.equal((await httpRequest('POST', url, '40/chat,')).status, 200);
		const answer = await httpGet(url);
		const m = answer.body.match(/40\/chat,\{"sid":"([^"]+)"/);
		assert.ok(m, `the namespace connection: ${answer.body}`);
		const rec = await pollTopic(mock.bootstrap, 'ev', (recs) => recs.find((r) => r.key === m[1]), 'the connect record');
		assert.deepEqual(rec.value.query, { EIO: '4', transport: 'polling', x: '1', '': 'empty-name', e: '\u00e9', z: '' });
		assert.deepEqual(Object.keys(rec.value.query), ['EIO', 'transport', 'x', '', 'e', 'z'], 'in the order sent');
		await httpRequest('POST', url, '1'); // close
	});

	it('join / leave: by the client and by control commands, with "by"; auto_join rooms only in connect', T(20000), async () => {
		const s = await connect(`${gw.A.url}/chat`, WS);
		const sid = s.id;
		assert.deepEqual(await call(s, 'join', 'lobby'), OK);
		assert.deepEqual(await call(s, 'join', 'lobby'), OK); // already in: nothing to report
		assert.deepEqual(await call(s, 'leave', 'lobby'), OK);
		assert.deepEqual(await call(s, 'leave', 'never-joined'), OK); // not in: nothing to report
		// A control join (its own id room is nothing to join), then a leave (a socket keeps its own room).
		await ctl({ op: 'join', namespace: '/chat', sids: [sid], rooms: ['vip', 'gold', sid] });
		await pollTopic(mock.bootstrap, 'ev', (recs) => recs.some((r) => r.key === sid && r.value.room === 'gold'), 'the control join');
		await ctl({ op: 'leave', sids: [sid], rooms: ['vip', sid] });
		await pollTopic(mock.bootstrap, 'ev', (recs) => recs.some((r) => r.key === sid && r.value.type === 'leave' && r.value.room === 'vip'),
			'the control leave');
		s.disconnect();
		const mine = await lifecycleOf(mock.bootstrap, 'ev', sid);
		const base = { namespace: '/chat', sid };
		assert.deepEqual(mine.map((r) => stable(r.value)), [
			{ ...base, type: 'connect', rooms: [sid, 'members'], address: '127.0.0.1', query: { EIO: '4', transport: 'websocket' }, claims: {} },
			{ ...base, type: 'join', room: 'lobby', by: 'client' },
			{ ...base, type: 'leave', room: 'lobby', by: 'client' },
			{ ...base, type: 'join', room: 'vip', by: 'control' },
			{ ...base, type: 'join', room: 'gold', by: 'control' },
			{ ...base, type: 'leave', room: 'vip', by: 'control' },
			{ ...base, type: 'disconnect', reason: 'client namespace disconnect', rooms: mine.at(-1).value.rooms },
		]);
		assert.deepEqual(roomsOf(mine.at(-1).value), [sid, 'gold', 'members'], 'the disconnect lists the rooms left');
		for (const r of mine)
			assert.deepEqual(r.headers, { 'sio-namespace': '/chat', 'sio-sid': sid, 'sio-event': r.value.type });
		const times = mine.map((r) => r.value.time);
		assert.deepEqual(times, [...times].sort((a, b) => a - b), 'times do not go back');
	});

	it('order per socket: connect, joins, leaves, disconnect in one partition of a 2-partition topic', T(25000), async (t) => {
		const n = 8;
		const ss = await Promise.all(Array.from({ length: n }, () => connect(`${gw.A.url}/chat`, WS)));
		const sids = ss.map((s) => s.id);
		// Interleaved: every socket takes each step before the next step.
		for (const step of [['join', 'o1'], ['join', 'o2'], ['leave', 'o1']])
			assert.deepEqual(await Promise.all(ss.map((s) => call(s, ...step))), ss.map(() => OK));
		for (const s of ss)
			s.disconnect();
		await pollTopic(mock.bootstrap, 'ev',
			(recs) => sids.every((sid) => recs.some((r) => r.key === sid && r.value.type === 'disconnect')), 'every disconnect');
		const recs = records(mock.bootstrap, 'ev');
		const partitions = new Set();
		for (const sid of sids) {
			const mine = ofSid(recs, sid);
			partitions.add(mine[0].partition);
			assert.deepEqual(mine.map((r) => [r.value.type, r.value.room ?? null]),
				[['connect', null], ['join', 'o1'], ['join', 'o2'], ['leave', 'o1'], ['disconnect', null]], sid);
			for (let i = 1; i < mine.length; i++)
				assert.ok(mine[i].offset > mine[i - 1].offset);
			assert.deepEqual(roomsOf(mine.at(-1).value), [sid, 'members', 'o2']);
		}
		t.diagnostic(`partitions used by ${n} sockets: ${[...partitions].sort().join(', ')}`);
	});

	describe('disconnect reasons', () => {
		it('the client disconnects: "client namespace disconnect"', T(15000), async () => {
			const s = await connect(`${gw.A.url}/chat`, WS);
			const sid = s.id;
			assert.deepEqual(await call(s, 'join', 'r1'), OK);
			s.disconnect();
			const last = (await lifecycleOf(mock.bootstrap, 'ev', sid)).at(-1).value;
			assert.equal(last.reason, 'client namespace disconnect');
			assert.deepEqual(roomsOf(last), [sid, 'members', 'r1']);
		});

		it('the transport closes (engine.close()): "transport close"', T(15000), async () => {
			const s = await connect(`${gw.A.url}/chat`, WS);
			const p = await connect(`${gw.A.url}/chat`, { transports: ['polling'] });
			const sids = [s.id, p.id];
			s.io.engine.close();
			p.io.engine.close();
			for (const sid of sids) {
				const last = (await lifecycleOf(mock.bootstrap, 'ev', sid)).at(-1).value;
				assert.equal(last.reason, 'transport close', `${sid}: ${JSON.stringify(last)}`);
				assert.deepEqual(roomsOf(last), [sid, 'members']);
			}
		});

		it('a client that does not answer pings: "ping timeout"', T(20000), async () => {
			const raw = await rawWebSocket(gw.A.url, { autoPong: false });
			assert.match(await raw.next(), /^0\{/);
			raw.send('40/chat,');
			const ack = await raw.next();
			const m = ack.match(/^40\/chat,(\{.*\})$/);
			assert.ok(m, ack);
			const { sid } = JSON.parse(m[1]);
			// ping_interval_ms + ping_timeout_ms (1 s, scaled), with room to spare.
			await raw.waitClosed(ms(6000));
			const mine = await lifecycleOf(mock.bootstrap, 'ev', sid);
			assert.deepEqual(mine.map((r) => r.value.type), ['connect', 'disconnect']);
			assert.equal(mine[1].value.reason, 'ping timeout');
			assert.deepEqual(mine[1].value.rooms, [sid, 'members']);
		});

		it('a control disconnect: "server namespace disconnect"', T(15000), async () => {
			const s = await connect(`${gw.A.url}/chat`, WS);
			const sid = s.id;
			assert.deepEqual(await call(s, 'join', 'kick'), OK);
			const gone = once(s, 'disconnect', ms(8000));
			await ctl({ op: 'disconnect', sids: [sid] });
			assert.equal((await gone)[0], 'io server disconnect');
			const last = (await lifecycleOf(mock.bootstrap, 'ev', sid)).at(-1).value;
			assert.equal(last.reason, 'server namespace disconnect');
			assert.deepEqual(roomsOf(last), [sid, 'kick', 'members']);
		});

		it('SIGTERM: "server shutting down" for every socket, then the instance\'s "down" as its last record', T(20000), async () => {
			const D = gw.D;
			const ss = [
				await connect(`${D.url}/chat`, WS),
				await connect(`${D.url}/chat`, { transports: ['polling'] }),
				await connect(`${D.url}/chat`, WS),
			];
			assert.deepEqual(await call(ss[2], 'join', 'lobby'), OK);
			const sids = ss.map((s) => s.id);
			const connects = await pollTopic(mock.bootstrap, 'ev.drain', (recs) => {
				const c = recs.filter((r) => r.value.type === 'connect' && sids.includes(r.key));
				return c.length === 3 && recs.some((r) => r.key === sids[2] && r.value.type === 'join') && c;
			}, 'the connect records');
			const instance = connects[0].value.instance;
			const { code } = await D.stop();
			assert.equal(code, 0);
			await until(() => ss.every((s) => !s.connected), 'the clients to be disconnected', ms(5000));
			const recs = (await pollTopic(mock.bootstrap, 'ev.drain', (rs) => rs.some((r) => r.value.state === 'down') && rs, 'the down record'))
				.sort((a, b) => a.offset - b.offset); // one partition
			const disconnects = recs.filter((r) => r.value.type === 'disconnect');
			assert.deepEqual(disconnects.map((r) => r.key).sort(), [...sids].sort(), 'one disconnect per socket');
			for (const r of disconnects) {
				assert.equal(r.value.reason, 'server shutting down');
				assert.equal(r.value.instance, instance);
				assert.deepEqual(roomsOf(r.value), r.key === sids[2] ? [r.key, 'lobby', 'members'] : [r.key, 'members']);
			}
			const down = recs.at(-1);
			assert.deepEqual(down.value, { type: 'instance', instance, state: 'down', time: down.value.time });
			assert.equal(down.key, instance);
			assert.deepEqual(down.headers, { 'sio-event': 'instance', 'sio-instance': instance });
			assert.ok(disconnects.every((r) => r.offset < down.offset && r.value.time <= down.value.time));
			assert.equal(recs.filter((r) => r.value.state === 'down').length, 1, 'one down record');
			const ups = recs.filter((r) => r.value.state === 'up');
			assert.ok(ups.length >= 1 && ups.every((r) => r.value.instance === instance && r.offset < down.offset));
		});
	});

	it('every connect has exactly one disconnect: 20 clients churn, then the gateway stops', T(30000), async () => {
		const E = gw.E;
		const base = `${E.url}/chat`;
		const want = new Map(); // sid -> expected reason
		const churn = async (i) => {
			const s = await connect(base, i % 3 === 0 ? { transports: ['polling'] } : WS);
			const sid = s.id;
			if (i % 2)
				assert.deepEqual(await call(s, 'join', `room-${i % 4}`), OK);
			if (i % 4 === 0) {
				s.disconnect();
				want.set(sid, 'client namespace disconnect');
			} else if (i % 4 === 1) {
				s.io.engine.close();
				want.set(sid, 'transport close');
			} else if (i % 4 === 2) {
				want.set(sid, 'server shutting down');
			} else {
				// Reconnects: a new socket id, each with its own records.
				s.io.engine.close();
				want.set(sid, 'transport close');
				const again = await connect(base, WS);
				want.set(again.id, 'server shutting down');
			}
		};
		await Promise.all(Array.from({ length: 20 }, (_, i) => churn(i)));
		// Raw sockets that ask for the namespace and vanish at once: both records or none.
		for (let i = 0; i < 3; i++) {
			const raw = await rawWebSocket(E.url);
			await raw.next();
			raw.send('40/chat,');
			raw.close();
		}
		const { code } = await E.stop();
		assert.equal(code, 0);
		// Two partitions, read by one tail: the "down" record can be read before the other
		// partition's last records, so also wait (bounded) until every client, and every
		// socket seen, has its disconnect.
		const complete = (rs) => {
			const sids = new Set([...want.keys(), ...rs.filter((r) => r.value.type === 'connect').map((r) => r.key)]);
			return [...sids].every((sid) => rs.some((r) => r.key === sid && r.value.type === 'disconnect'));
		};
		const recs = await pollTopic(mock.bootstrap, 'ev.churn', (rs) => rs.some((r) => r.value.state === 'down') && complete(rs) && rs,
			'the down record and every socket\'s disconnect');
		const bySid = new Map();
		for (const r of recs.filter((x) => x.value.type !== 'instance'))
			bySid.set(r.key, [...(bySid.get(r.key) ?? []), r]);
		for (const sid of want.keys())
			assert.ok(bySid.has(sid), `records of ${sid}`);
		assert.ok(bySid.size >= want.size && bySid.size <= want.size + 3, `${bySid.size} sockets in the records, ${want.size} clients`);
		let instance;
		for (const [sid, mine] of bySid) {
			const sorted = ofSid(recs, sid);
			const types = sorted.map((r) => r.value.type).filter((x) => x !== 'join' && x !== 'leave');
			assert.deepEqual(types, ['connect', 'disconnect'], `${sid}: ${sorted.map(show).join('\n')}`);
			assert.equal(mine.length, sorted.length);
			if (want.has(sid))
				assert.equal(sorted.at(-1).value.reason, want.get(sid), sid);
			instance = sorted[0].value.instance;
		}
		const down = recs.filter((r) => r.value.state === 'down');
		assert.equal(down.length, 1);
		assert.equal(down[0].key, instance);
		assert.ok(recs.filter((r) => r.value.type === 'disconnect').every((r) => r.value.time <= down[0].value.time));
		// The down record is the last of its partition.
		assert.equal(Math.max(...recs.filter((r) => r.partition === down[0].partition).map((r) => r.offset)), down[0].offset);
	});

	it('a reload: nothing for the sockets that stay, "namespace removed" for the others, the same instance id', T(20000), async () => {
		const R = gw.R;
		const s = await connect(`${R.url}/chat`, WS);
		const g = await connect(`${R.url}/gone`, WS);
		const [sid, gid] = [s.id, g.id];
		assert.deepEqual(await call(s, 'join', 'stay'), OK);
		const { value: { instance } } = await pollTopic(mock.bootstrap, 'ev.reload',
			(recs) => recs.some((r) => r.key === sid && r.value.type === 'join') && recs.find((r) => r.key === gid), 'the records before the reload');
		const gone = once(g, 'disconnect', ms(8000));
		fs.writeFileSync(R.configPath, JSON.stringify({ ...R.config, namespaces: R.config.namespaces.filter((n) => n.name === '/chat') }));
		R.signal('SIGHUP');
		await R.waitLog(/configuration reloaded from .* \(1 namespace\(s\)\)/, ms(5000));
		assert.equal((await gone)[0], 'io server disconnect');
		const mine = await lifecycleOf(mock.bootstrap, 'ev.reload', gid);
		assert.deepEqual(mine.map((r) => stable(r.value)), [
			{ type: 'connect', namespace: '/gone', sid: gid, rooms: [gid, 'members'], address: '127.0.0.1', query: { EIO: '4', transport: 'websocket' }, claims: {} },
			{ type: 'disconnect', namespace: '/gone', sid: gid, reason: 'namespace removed', rooms: [gid, 'members'] },
		]);
		assert.equal(mine[1].value.instance, instance);
		assert.deepEqual(await call(s, 'join', 'after'), OK);
		const recs = await pollTopic(mock.bootstrap, 'ev.reload', (rs) => rs.some((r) => r.key === sid && r.value.room === 'after') && rs,
			'the join after the reload');
		assert.deepEqual(ofSid(recs, sid).map((r) => [r.value.type, r.value.room ?? null]), [['connect', null], ['join', 'stay'], ['join', 'after']],
			'nothing for a socket that stays');
		// The heartbeats after the reload: the same instance, /gone no longer counted.
		await pollTopic(mock.bootstrap, 'ev.reload', (rs) => rs.some((r) => r.value.state === 'up' && r.value.instance === instance &&
			JSON.stringify(r.value.namespaces) === JSON.stringify({ '/chat': 1 })), 'an up record without /gone');
		assert.deepEqual(new Set(recs.map((r) => r.value.instance)), new Set([instance]), 'one instance id across the reload');
		const { code } = await R.stop();
		assert.equal(code, 0);
		const last = (await lifecycleOf(mock.bootstrap, 'ev.reload', sid)).at(-1).value;
		assert.deepEqual([last.type, last.reason], ['disconnect', 'server shutting down']);
	});

	it('heartbeats: "up" records every heartbeat_ms with the counts of each child of a dynamic namespace', T(20000), async () => {
		const h1 = await connect(`${gw.A.url}/hb-1`, WS);
		const { value: { instance } } = await pollTopic(mock.bootstrap, 'ev.hb', (recs) => recs.find((r) => r.key === h1.id), 'the /hb-1 connect');
		const ups = (recs) => recs.filter((r) => r.key === instance && r.value.state === 'up');
		const h2 = await connect(`${gw.A.url}/hb-2`, WS);
		const h3 = await connect(`${gw.A.url}/hb-2`, WS);
		const norm = (ns) => Object.fromEntries(Object.entries(ns).sort());
		await pollTopic(mock.bootstrap, 'ev.hb', (recs) => ups(recs).some((r) => r.value.sockets === 3 &&
			JSON.stringify(norm(r.value.namespaces)) === JSON.stringify({ '/hb-1': 1, '/hb-2': 2 })), 'an up record counting 3 sockets');
		h3.disconnect();
		await pollTopic(mock.bootstrap, 'ev.hb', (recs) => ups(recs).some((r) => r.value.sockets === 2 &&
			JSON.stringify(norm(r.value.namespaces)) === JSON.stringify({ '/hb-1': 1, '/hb-2': 1 })), 'an up record counting 2 sockets');
		const recs = records(mock.bootstrap, 'ev.hb').filter((r) => r.key === instance).sort((a, b) => a.offset - b.offset);
		const all = ups(recs);
		assert.ok(all.length >= 4, `several up records: ${all.length}`);
		assert.ok(new Set(recs.map((r) => r.partition)).size === 1, 'an instance\'s records share a partition');
		for (const r of all) {
			assert.deepEqual(Object.keys(r.value).sort(), ['instance', 'namespaces', 'sockets', 'state', 'time', 'type']);
			assert.equal(r.value.type, 'instance');
			assert.deepEqual(r.headers, { 'sio-event': 'instance', 'sio-instance': instance });
			assert.equal(r.value.sockets, Object.values(r.value.namespaces).reduce((a, b) => a + b, 0));
		}
		for (let i = 1; i < all.length; i++) {
			const gap = all[i].value.time - all[i - 1].value.time;
			assert.ok(gap >= ms(200) - 50, `heartbeats ${gap} ms apart (heartbeat_ms ${ms(200)})`);
		}
		// Before any child existed, the family counted nothing.
		assert.deepEqual(all[0].value.namespaces, {});
		assert.equal(all[0].value.sockets, 0);
		assert.ok(h2.connected);
	});

	it('presence queries: fetch_sockets / count / rooms answered by both replicas; malformed ones dead-lettered', T(30000), async () => {
		const { A, B } = gw;
		const join = async (g, rooms) => {
			const s = await connect(`${g.url}/presence`, WS);
			for (const r of rooms)
				assert.deepEqual(await call(s, 'join', r), OK);
			return s;
		};
		const t0 = Date.now();
		const a1 = await join(A, ['lobby', 'x']);
		const a2 = await join(A, ['lobby']);
		const b1 = await join(B, ['lobby']);
		const b2 = await join(B, ['other']);
		const t1 = Date.now();
		const before = {
			A: { q: await counter(A, 'queries_answered'), m: await counter(A, 'malformed') },
			B: { q: await counter(B, 'queries_answered'), m: await counter(B, 'malformed') },
		};
		const run = `${Date.now()}`;
		const q = (id) => `${id}-${run}`;
		const queries = [
			{ op: 'fetch_sockets', namespace: '/presence', reply_to: 'rep', id: q('all') },
			{ op: 'fetch_sockets', namespace: '/presence', in: ['lobby'], except: ['x'], reply_to: 'rep', id: q('in') },
			{ op: 'fetch_sockets', namespace: '/presence', sids: [a1.id, b2.id], reply_to: 'rep', id: q('sids') },
			{ op: 'fetch_sockets', namespace: '/presence', limit: 1, reply_to: 'rep', id: q('limit') },
			{ op: 'count', namespace: '/presence', in: ['lobby'], reply_to: 'rep', id: q('count') },
			{ op: 'count', in: ['nobody'], reply_to: 'rep', id: q('count0') }, // namespace optional: a static one
			{ op: 'fetch_sockets', namespace: '/presence', in: ['nobody'], reply_to: 'rep', id: q('none') },
			{ op: 'rooms', namespace: '/presence', reply_to: 'rep', id: q('rooms') },
		];
		const mark = `bad-${run}`;
		const malformed = [
			[{ op: 'count', reply_to: 'rep' }, '"count" needs "id" (a non-empty string of at most 256 bytes)'],
			[{ op: 'fetch_sockets', id: 'x'.repeat(257), reply_to: 'rep' }, '"fetch_sockets" needs "id" (a non-empty string of at most 256 bytes)'],
			[{ op: 'count', id: q('m2') }, '"count" needs "reply_to" (the topic to answer on)'],
			[{ op: 'count', id: q('m3'), reply_to: 'a b' }, "\"reply_to\": 'a b' is not a valid Kafka topic name (letters, digits, '.', '_', '-')"],
			[{ op: 'fetch_sockets', id: q('m4'), reply_to: 'rep', limit: 0 }, '"limit": expected an integer from 1 to 10000 (fetch_sockets only)'],
			[{ op: 'count', id: q('m5'), reply_to: 'rep', limit: 5 }, '"limit": expected an integer from 1 to 10000 (fetch_sockets only)'],
			[{ op: 'rooms', id: q('m6'), reply_to: 'rep', in: ['lobby'] }, '"rooms" takes no target (sids, in, except)'],
			[{ op: 'who', id: q('m7'), reply_to: 'rep' }, "unknown op 'who' (known: join, leave, disconnect, emit, fetch_sockets, count, rooms)"],
		];
		for (const [cmd] of malformed)
			await ctl(cmd, 'ctl.p', { headers: { 'x-mark': mark } });
		for (const cmd of queries)
			await ctl(cmd, 'ctl.p');
		// One partition: once both replicas answered the last query, they answered every one.
		const answers = await pollTopic(mock.bootstrap, 'rep', (recs) => {
			const mine = recs.filter((r) => r.key?.endsWith(`-${run}`));
			return mine.filter((r) => r.key === q('rooms')).length >= 2 && mine;
		}, 'both answers to the last query', ms(15000));
		const byId = {};
		for (const r of answers) {
			assert.equal(r.value.id, r.key, 'keyed by the query id');
			assert.deepEqual(r.headers, { 'sio-namespace': '/presence', 'sio-event': queries.find((x) => x.id === r.key)?.op });
			assert.equal(r.value.namespace, '/presence');
			assert.match(r.value.instance, INSTANCE_RE);
			(byId[r.key] ??= {})[r.value.instance] = r.value;
		}
		assert.deepEqual(Object.keys(byId).sort(), queries.map((x) => x.id).sort(), 'no answer to a malformed query');
		for (const [id, per] of Object.entries(byId))
			assert.equal(Object.keys(per).length, 2, `${id}: one answer per replica: ${JSON.stringify(per)}`);
		// Which instance is which: a1 is on A.
		const iA = Object.keys(byId[q('sids')]).find((i) => byId[q('sids')][i].sockets.some((s) => s.sid === a1.id));
		const iB = Object.keys(byId[q('sids')]).find((i) => i !== iA);
		assert.ok(iA && iB, JSON.stringify(byId[q('sids')]));

		const sock = (s, rooms) => ({ sid: s.id, rooms: [s.id, ...rooms], claims: {} });
		const strip = (ans) => {
			const { id, instance, namespace, ...rest } = ans;
			if (rest.sockets) {
				for (const s of rest.sockets) {
					assert.ok(s.connected_at >= t0 - 1 && s.connected_at <= t1, `connected_at ${s.connected_at}`);
					delete s.connected_at;
					s.rooms = roomsOf(s);
				}
				rest.sockets.sort((x, y) => x.sid.localeCompare(y.sid));
			}
			return rest;
		};
		const sorted = (...socks) => socks.sort((x, y) => x.sid.localeCompare(y.sid));
		const expect = {
			all: [{ sockets: sorted(sock(a1, ['lobby', 'x']), sock(a2, ['lobby'])), truncated: false },
				{ sockets: sorted(sock(b1, ['lobby']), sock(b2, ['other'])), truncated: false }],
			in: [{ sockets: [sock(a2, ['lobby'])], truncated: false }, { sockets: [sock(b1, ['lobby'])], truncated: false }],
			sids: [{ sockets: [sock(a1, ['lobby', 'x'])], truncated: false }, { sockets: [sock(b2, ['other'])], truncated: false }],
			count: [{ count: 2 }, { count: 1 }],
			count0: [{ count: 0 }, { count: 0 }],
			none: [{ sockets: [], truncated: false }, { sockets: [], truncated: false }],
			rooms: [{ rooms: { lobby: 2, x: 1 } }, { rooms: { lobby: 1, other: 1 } }],
		};
		for (const [name, [wa, wb]] of Object.entries(expect)) {
			assert.deepEqual(strip(byId[q(name)][iA]), wa, `${name} on A`);
			assert.deepEqual(strip(byId[q(name)][iB]), wb, `${name} on B`);
		}
		for (const [i, mine] of [[iA, [a1.id, a2.id]], [iB, [b1.id, b2.id]]]) {
			const lim = byId[q('limit')][i];
			assert.equal(lim.truncated, true);
			assert.equal(lim.sockets.length, 1);
			assert.ok(mine.includes(lim.sockets[0].sid));
		}

		// Malformed: each replica dead-letters each one, with the reason in sio-error.
		const dead = await pollTopic(mock.bootstrap, 'dead', (recs) => {
			const mine = recs.filter((r) => r.headers['x-mark'] === mark);
			return mine.length >= 2 * malformed.length && mine;
		}, 'the dead letters', ms(10000));
		assert.equal(dead.length, 2 * malformed.length);
		const errors = dead.map((r) => r.headers['sio-error']).sort();
		assert.deepEqual(errors, malformed.flatMap(([, e]) => [e, e]).sort());
		for (const g of [A, B]) {
			assert.equal(await counter(g, 'malformed') - before[g === A ? 'A' : 'B'].m, malformed.length, `${g.name}: messages_malformed`);
			assert.equal(await counter(g, 'queries_answered') - before[g === A ? 'A' : 'B'].q, queries.length, `${g.name}: queries_answered`);
		}
		assert.ok((await metricValue(A, 'siogate_bridge_queries_answered_total{bridge="main"}')) >= queries.length);
	});

	it('a backend\'s presence table from the events topic alone equals the truth across replicas, SIGTERM and a crash', T(40000), async () => {
		const { A, B, C } = gw;
		const chat = (g) => connect(`${g.url}/chat`, WS);
		const [a1, a2, b1, b2, b3, c1, c2] = await Promise.all([A, A, B, B, B, C, C].map(chat));
		// (a client forgets its id when it disconnects)
		const [bids, cids] = [[b1.id, b2.id, b3.id], [c1.id, c2.id]];
		assert.deepEqual(await call(a1, 'join', 'lobby'), OK);
		assert.deepEqual(await call(b1, 'join', 'lobby'), OK);
		assert.deepEqual(await call(b1, 'join', 'x'), OK);
		assert.deepEqual(await call(b2, 'join', 'y'), OK);
		assert.deepEqual(await call(c1, 'join', 'lobby'), OK);
		// Control commands reach A and B (C has no control topic).
		await ctl({ op: 'join', namespace: '/chat', in: ['lobby'], rooms: ['vip'] });
		await ctl({ op: 'leave', sids: [b1.id], rooms: ['x'] });
		a2.disconnect();
		b3.io.engine.close();

		// The instance ids, from the connect records.
		const connects = await pollTopic(mock.bootstrap, 'ev', (recs) => {
			const m = new Map(recs.filter((r) => r.value.type === 'connect').map((r) => [r.key, r.value.instance]));
			return [a1, b1, c1].every((s) => m.has(s.id)) && m;
		}, 'the connect records');
		const [iA, iB, iC] = [a1, b1, c1].map((s) => connects.get(s.id));
		assert.equal(new Set([iA, iB, iC]).size, 3);

		const entry = (s, instance, rooms) => [s.id, { instance, namespace: '/chat', rooms: [s.id, 'members', ...rooms].sort() }];
		const truth = (...entries) => JSON.stringify(Object.fromEntries(entries.sort((x, y) => x[0].localeCompare(y[0]))));
		const sortedTable = (t) => JSON.stringify(Object.fromEntries(Object.entries(t).sort((x, y) => x[0].localeCompare(y[0]))));
		const tableEquals = (want, what) => pollTopic(mock.bootstrap, 'ev', (recs) => {
			const live = PresenceTable.from(recs).live(Date.now(), EXPIRE);
			return sortedTable(live) === want && recs;
		}, `${what} (want ${want})`, ms(15000));

		const A1 = entry(a1, iA, ['lobby', 'vip']);
		const Bs = [entry(b1, iB, ['lobby', 'vip']), entry(b2, iB, ['y'])];
		const Cs = [entry(c1, iC, ['lobby']), entry(c2, iC, [])];
		await tableEquals(truth(A1, ...Bs, ...Cs), 'the table with three replicas');

		// B stops cleanly: its sockets leave the table (disconnects, then its down).
		const { code } = await B.stop();
		assert.equal(code, 0);
		const recs = await tableEquals(truth(A1, ...Cs), 'the table without B');
		const t = PresenceTable.from(recs);
		assert.equal(t.instances.get(iB).down, true, 'B said down');
		const reasons = Object.fromEntries(recs.filter((r) => r.value.type === 'disconnect' && r.value.instance === iB).map((r) => [r.key, r.value.reason]));
		assert.deepEqual(bids.map((sid) => reasons[sid]), ['server shutting down', 'server shutting down', 'transport close']);

		// C crashes: no disconnects, no down; its heartbeats stop and the table expires it.
		await C.kill();
		const after = await tableEquals(truth(A1), 'the table without C (expired)');
		const t2 = PresenceTable.from(after);
		assert.ok(cids.every((sid) => t2.sockets.has(sid)) && !t2.instances.get(iC).down,
			`C's sockets went by expiry, not by records:\n${after.filter((r) => cids.includes(r.key) || r.key === iC).slice(-6).map(show).join('\n')}`);
		assert.equal([...t2.sockets.keys()].filter((sid) => t2.sockets.get(sid).instance === iA).length, 1,
			'every earlier socket of A (the other tests\' too) was removed by its disconnect');
	});

	it('metrics: events_produced and queries_answered grow, events_failed stays 0 while the broker is up', T(15000), async () => {
		const { body } = await httpGet(`${gw.A.url}/metrics`);
		for (const n of ['events_produced', 'events_failed', 'queries_answered'])
			assert.match(body, new RegExp(`^siogate_bridge_${n}_total\\{bridge="main"\\} \\d+$`, 'm'), n);
		const produced = await counter(gw.A, 'events_produced');
		const answered = await counter(gw.A, 'queries_answered');
		const s = await connect(`${gw.A.url}/chat`, WS);
		const id = `metrics-${Date.now()}`;
		await ctl({ op: 'count', namespace: '/presence', reply_to: 'rep', id }, 'ctl.p');
		await pollTopic(mock.bootstrap, 'rep', (recs) => recs.some((r) => r.key === id), 'the answer');
		await until(async () => (await counter(gw.A, 'events_produced')) >= produced + 2, 'the connect and the answer confirmed', ms(5000));
		assert.equal(await counter(gw.A, 'queries_answered'), answered + 1);
		assert.equal(await counter(gw.A, 'events_failed'), 0, 'nothing failed while the broker was up');
		assert.ok(s.connected);
	});
});

// ---------------------------------------------------------------- a broker outage

describe('lifecycle events through a broker outage (Kafka)', { skip }, () => {
	it('sockets churn while the broker is down: the gateway stays responsive, failures are counted and logged', T(45000), async () => {
		const mock = await new KafkaMock().start();
		let g;
		try {
			await mock.topics('ev.o');
			g = await startKafkaDaemon(eventsOnlyConfig(mock.bootstrap, 'ev.o', {
				heartbeat_ms: ms(500),
				brokerExtra: { delivery_timeout_ms: ms(1000) },
			}), { name: 'siogate-lc-outage' });
			const s0 = await connect(`${g.url}/chat`, WS);
			await pollTopic(mock.bootstrap, 'ev.o', (recs) => recs.some((r) => r.key === s0.id), 's0\'s connect record');
			await until(async () => (await counter(g, 'events_produced')) >= 2, 'the connect record confirmed', ms(5000));
			const failed0 = await counter(g, 'events_failed');
			const produced0 = await counter(g, 'events_produced');

			await mock.down();
			const churned = [];
			try {
				for (let i = 0; i < 8; i++) {
					const t = Date.now();
					const s = await connect(`${g.url}/chat`, WS);
					assert.deepEqual(await call(s, 'join', `r${i}`), OK);
					churned.push(s.id);
					if (i % 2)
						s.disconnect();
					else
						s.io.engine.close();
					const took = Date.now() - t;
					assert.ok(took < ms(1000), `connect + join ack took ${took} ms during the outage`);
				}
				const h = await httpGet(`${g.url}/healthz`);
				assert.equal(h.status, 200);
				// delivery_timeout_ms is 1 s: the records of the churn fail soon after.
				await until(async () => (await counter(g, 'events_failed')) >= failed0 + 2 * churned.length,
					'the churn\'s records to be counted as failed', ms(20000));
				await g.waitLog(/warn bridge 'main': a lifecycle, heartbeat or presence record could not be produced \(Local: Message timed out\); \d+ so far/, ms(5000));
				assert.ok(s0.connected, 'a client connected before the outage is still there');
				assert.deepEqual(await call(s0, 'join', 'still'), OK);
			} finally {
				await mock.up();
			}
			// Back up: records are produced again. (Our kcat gave up while every broker was down.)
			await stopTails(mock.bootstrap);
			const s1 = await connect(`${g.url}/chat`, WS);
			await pollTopic(mock.bootstrap, 'ev.o', (recs) => recs.some((r) => r.key === s1.id), 's1\'s connect after the outage', ms(20000));
			await until(async () => (await counter(g, 'events_produced')) > produced0, 'events_produced to grow again', ms(10000));
			// Nothing silently dropped: what is missing from the topic was counted as failed.
			const recs = records(mock.bootstrap, 'ev.o');
			const missing = churned.length * 3 - recs.filter((r) => churned.includes(r.key)).length; // connect, join, disconnect
			assert.ok(missing <= (await counter(g, 'events_failed')) - failed0, `${missing} records missing`);
			assert.ok(missing > 0, 'the outage did lose records');
			closeClients();
			const { code } = await g.stop();
			assert.equal(code, 0);
		} finally {
			closeClients();
			if (g?.running)
				await g.kill();
			await stopTails(mock.bootstrap);
			await mock.stop();
		}
	});
});

// ---------------------------------------------------------------- the local bridge

describe('lifecycle events on the local bridge', () => {
	const LOCAL = path.join(BUILDDIR, 'bridges', 'local', '.libs');
	let g;

	before(async () => {
		g = await startDaemon({
			namespaces: [
				{ name: '/chat', rooms: { client_join: true }, bridge: { type: 'local', events: { topic: 'ev', heartbeat_ms: ms(200) } } },
				{
					// Another namespace shows /chat's records: the mapping, not the records'
					// sio- headers (sio-namespace: /chat, sio-event: connect...), routes them.
					name: '/monitor',
					bridge: { type: 'local', to_clients: [{ topic: 'ev', rooms: 'all', event: 'lifecycle', ignore_headers: true }] },
				},
				{
					// The same topic without ignore_headers: only what has no sio-namespace
					// (the instance records) is for this namespace.
					name: '/plain',
					bridge: { type: 'local', to_clients: [{ topic: 'ev', rooms: 'all', event: 'lifecycle' }] },
				},
				{
					// A namespace that reads its own records with their headers: sio-event
					// names the event, and connect / disconnect are reserved names.
					name: '/self',
					rooms: { client_join: true },
					bridge: { type: 'local', events: { topic: 'ev.self' }, to_clients: [{ topic: 'ev.self', rooms: 'all' }] },
				},
			],
		}, { name: 'siogate-lc-local', env: { SIOGATE_PLUGIN_PATH: LOCAL } });
	});
	afterEach(() => closeClients());
	after(async () => {
		closeClients();
		await g?.stop();
	});

	/** A client of `nsp` that records every event ([name, ...args]) from before it connects. */
	async function watcher(nsp) {
		const w = client(`${g.url}${nsp}`, WS);
		const got = [];
		w.onAny((event, ...args) => got.push([event, ...args]));
		const gone = collect(w, 'disconnect');
		await connected(w);
		return { w, got, gone };
	}

	it('ignore_headers: a /monitor client gets /chat\'s connect, join, disconnect and instance records as "lifecycle"', T(15000), async () => {
		const { w, got, gone } = await watcher('/monitor');
		const produced = await counter(g, 'events_produced', 'local');
		const s = await connect(`${g.url}/chat`, { ...WS, query: { k: 'v' } });
		const sid = s.id;
		assert.deepEqual(await call(s, 'join', 'lobby'), OK);
		// The heartbeats come the same way, and count /chat's sockets.
		await until(() => got.some(([, v]) => v?.type === 'instance' && v.namespaces?.['/chat'] === 1), 'a heartbeat counting the socket', ms(5000));
		s.disconnect();
		const ofS = () => got.filter(([, v]) => v?.sid === sid);
		await until(() => ofS().some(([, v]) => v.type === 'disconnect'), 'the disconnect record on /monitor', ms(5000));
		for (const e of ofS())
			assert.equal(e.length, 2, `event "lifecycle" with one argument, the record: ${JSON.stringify(e)}`);
		assert.deepEqual(ofS().map(([event]) => event), ['lifecycle', 'lifecycle', 'lifecycle']);
		assert.deepEqual(ofS().map(([, v]) => stable(v)), [
			{ type: 'connect', namespace: '/chat', sid, rooms: [sid], address: '127.0.0.1', query: { k: 'v', EIO: '4', transport: 'websocket' }, claims: {} },
			{ type: 'join', namespace: '/chat', sid, room: 'lobby', by: 'client' },
			{ type: 'disconnect', namespace: '/chat', sid, reason: 'client namespace disconnect', rooms: [sid, 'lobby'] },
		]);
		const beat = got.find(([, v]) => v?.type === 'instance');
		assert.equal(beat[0], 'lifecycle');
		assert.deepEqual({ ...beat[1], instance: 0, time: 0, sockets: 0, namespaces: 0 },
			{ type: 'instance', instance: 0, state: 'up', time: 0, sockets: 0, namespaces: 0 });
		assert.deepEqual(gone, [], 'the monitor stays connected');
		assert.ok(w.connected);
		assert.ok((await counter(g, 'events_produced', 'local')) > produced, 'events_produced{bridge="local"} grows');
	});

	it('without ignore_headers another namespace gets only the instance records; reserved event names are refused', T(15000), async () => {
		const malformed = await counter(g, 'malformed', 'local');
		const plain = await watcher('/plain');
		const self = await watcher('/self');
		const s = await connect(`${g.url}/chat`, WS);
		const t = await connect(`${g.url}/self`, WS);
		const [sid, tid] = [s.id, t.id];
		assert.deepEqual(await call(t, 'join', 'lobby'), OK);
		assert.deepEqual(await call(t, 'leave', 'lobby'), OK);
		const counts = () => plain.got.map(([, v]) => v?.namespaces?.['/chat']);
		await until(() => counts().includes(1), 'a heartbeat on /plain counting the /chat socket', ms(5000));
		t.disconnect();
		s.disconnect();
		// /self: join and leave arrive named by sio-event; connect and disconnect are not sent.
		await until(() => self.got.some(([event, v]) => event === 'leave' && v?.sid === tid), 'the leave record on /self', ms(5000));
		await until(async () => (await counter(g, 'malformed', 'local')) >= malformed + 3,
			'the watcher\'s and t\'s connect and t\'s disconnect refused', ms(5000));
		assert.equal(await counter(g, 'malformed', 'local'), malformed + 3, 'counted as malformed');
		await g.waitLog(/message skipped \('connect' is a reserved event name \(Socket\.IO clients drop a connection that receives it\)\)/);
		assert.deepEqual(self.got.filter(([, v]) => v?.sid === tid).map(([event, v]) => [event, v.type, v.room]),
			[['join', 'join', 'lobby'], ['leave', 'leave', 'lobby']]);
		assert.deepEqual(self.gone, [], 'a reserved name never reaches the client: it stays connected');
		assert.ok(self.w.connected);
		// /plain: /chat's records carry sio-namespace: /chat and are not for /plain.
		await until(() => counts().lastIndexOf(0) > counts().indexOf(1), 'a heartbeat on /plain after the disconnect', ms(5000));
		assert.deepEqual(plain.got.filter(([, v]) => v?.type !== 'instance'), [], `only instance records: ${JSON.stringify(plain.got)}`);
		assert.ok(plain.got.every(([event]) => event === 'instance'), 'their sio-event names the event');
		assert.deepEqual(plain.gone, []);
		assert.ok(sid);
	});
});

// ---------------------------------------------------------------- --check-config

describe('--check-config: the events object', { skip }, () => {
	const BROKER = { type: 'kafka', bootstrap_servers: '127.0.0.1:1' };
	const kafka = (events, extra = {}) => ({ brokers: { main: BROKER }, namespaces: [{ name: '/chat', bridge: { broker: 'main', events, ...extra } }] });

	it('accepts a bridge of events alone; names the JSON path of a bad events object', T(30000), async () => {
		for (const good of [
			kafka({ topic: 'siogate.events' }),
			kafka({ topic: 'ev', types: ['disconnect', 'connect'], handshake: ['auth', 'headers', 'address'], heartbeat_ms: 100 }),
			kafka({ topic: 'ev', heartbeat_ms: 3600000 }, { control_topic: 'ctl' }),
			{ namespaces: [{ name: '/l', bridge: { type: 'local', events: { topic: 'any/topic here' } } }] },
		]) {
			const r = await checkConfig(good);
			assert.equal(r.code, 0, `${JSON.stringify(good)}: ${r.stderr}`);
		}
		const P = 'namespaces[0].bridge';
		const cases = [
			[kafka('ev'), `${P}.events: expected an object ({"topic": "..."})`],
			[kafka({ topic: 'ev', type: ['connect'] }), `${P}.events: unknown key 'type' (did you mean 'types'?)`],
			[kafka({ types: ['connect'] }), `${P}.events: missing required key 'topic'`],
			[kafka({ topic: '' }), `${P}.events.topic: expected a non-empty string`],
			[kafka({ topic: 'ev.{nsp}' }), `${P}.events.topic: placeholders are not allowed here`],
			[kafka({ topic: 'a b' }), `${P}.events.topic: 'a b' is not a valid Kafka topic name (letters, digits, '.', '_', '-')`],
			[kafka({ topic: 'ev', types: ['hello'] }), `${P}.events.types[0]: expected one of connect, join, leave, disconnect`],
			[kafka({ topic: 'ev', types: ['connect', 'join', 'join'] }), `${P}.events.types[2]: 'join' is listed twice`],
			[kafka({ topic: 'ev', types: [] }), `${P}.events.types: expected a non-empty array of names`],
			[kafka({ topic: 'ev', types: 'connect' }), `${P}.events.types: expected a non-empty array of names`],
			[kafka({ topic: 'ev', handshake: ['cookies'] }), `${P}.events.handshake[0]: expected one of address, query, claims, auth, headers`],
			[kafka({ topic: 'ev', heartbeat_ms: 99 }), `${P}.events.heartbeat_ms: expected an integer from 100 to 3600000`],
			[kafka({ topic: 'ev', heartbeat_ms: 1500.5 }), `${P}.events.heartbeat_ms: expected an integer from 100 to 3600000`],
			[kafka({ topic: 'ev', heartbeat_ms: 3600001 }), `${P}.events.heartbeat_ms: expected an integer from 100 to 3600000`],
			[{ brokers: { main: BROKER }, namespaces: [{ name: '/chat', bridge: { broker: 'main' } }] },
				`${P}: a bridge needs at least one of to_clients, from_clients, control_topic or events`],
			// Reading an events topic: the reserved names, and ignore_headers without sio-rooms.
			[kafka({ topic: 'ev' }, { to_clients: [{ topic: 'ev', rooms: 'all', event: 'disconnect' }] }),
				`${P}.to_clients[0].event: 'disconnect' is a reserved event name`],
			[kafka({ topic: 'ev' }, { to_clients: [{ topic: 'ev', rooms: 'header', ignore_headers: true }] }),
				`${P}.to_clients[0].rooms: "header" reads sio-rooms, which ignore_headers drops`],
			[kafka({ topic: 'ev' }, { to_clients: [{ topic: 'ev', rooms: 'all', ignore_headers: 1 }] }),
				`${P}.to_clients[0].ignore_headers: expected a boolean`],
		];
		for (const [config, want] of cases) {
			const r = await checkConfig(config);
			assert.equal(r.code, 1, `${want}: exit ${r.code} ${r.stdout}`);
			assert.equal(r.stderr.trim(), `siogate: invalid configuration: ${want}`);
		}
	});
});
