// mqtt-lifecycle.test.mjs - lifecycle events, instance heartbeats and presence queries (issue 17)
// through the MQTT bridge against Debian's mosquitto, once over MQTT 5 and once over MQTT 3.1.1,
// with the official client and mosquitto_pub/_sub as the backend: connect / join / leave /
// disconnect records with every field (user properties and content type over MQTT 5, the JSON
// record alone over 3.1.1), handshake fields and types as configured, the order per socket and
// the disconnect reasons (client, transport close, control, ping timeout, a namespace removed by
// a reload, the SIGTERM drain with the instance's "down" last, also for a socket that connects
// during the drain), heartbeats with socket counts per namespace (a dynamic family per child),
// the Last Will after kill -9 (and none after a clean stop), fetch_sockets / count / rooms
// answered by two replicas (and malformed queries dead-lettered), a backend's presence table
// kept from the events topic alone across two replicas and a crash, a broker outage while
// sockets churn (counted, the gateway stays responsive, records flow again after the restart),
// and the events object's config errors.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { describe, it } from 'node:test';

import {
	HOST, T, bridgeCounters, call, closeClients, connect, ms, once, rawWebSocket, serverHooks, sleep,
	stopGatewayAndBroker, until, waitExit,
} from './harness.mjs';
import {
	Broker, Subscriber, checkConfig, mqttSkipReason, pub, startMqttDaemon, waitCounter, waitReady,
} from './mqtt-harness.mjs';

const skip = mqttSkipReason();

const EV = 'sg/events';
const CTL = 'sg/ctl';
const DEAD = 'sg/dead';
const REPLIES = 'sg/replies';
const UP = 'sg/up';
const SECRET = 'it-lifecycle-secret-0123456789abcdef';
const OK = [{ ok: true }];
const WS = { transports: ['websocket'] };
const HEARTBEAT = ms(200);

const CONNECT_KEYS = ['type', 'namespace', 'sid', 'instance', 'time', 'rooms', 'address', 'query', 'claims'];
const JOIN_KEYS = ['type', 'namespace', 'sid', 'instance', 'time', 'room', 'by'];
const DISCONNECT_KEYS = ['type', 'namespace', 'sid', 'instance', 'time', 'reason', 'rooms'];
const UP_KEYS = ['type', 'instance', 'state', 'time', 'sockets', 'namespaces'];
const keys = (o) => Object.keys(o).sort();

/** An HS256 token for the /admin namespace's jwt middleware (node:crypto, no npm package). */
function jwt(payload) {
	const b64 = (text) => Buffer.from(text).toString('base64url');
	const data = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64(JSON.stringify(payload))}`;
	return `${data}.${crypto.createHmac('sha256', SECRET).update(data).digest('base64url')}`;
}

/**
 * A replica's config: /chat (client rooms, an auto-joined room per user, every lifecycle type,
 * heartbeats every 200 ms, a client event published upstream, a control topic shared by the
 * replicas, dead letters), and unless `admin` is false: the dynamic family /team-* and /admin
 * (jwt claims, every handshake field), both with only connect and disconnect and a long
 * heartbeat of their own (the topic's shortest wins); all produce to the same events topic.
 */
function gwConfig(port, protocol, { brokerExtra = {}, server = {}, admin = true, heartbeat = HEARTBEAT } = {}) {
	const namespaces = [
		{
			name: '/chat',
			rooms: { client_join: true, auto_join: ['u:{query.user}'] },
			bridge: {
				broker: 'main',
				events: { topic: EV, heartbeat_ms: heartbeat },
				from_clients: [{ event: 'up', topic: UP }],
				control_topic: CTL,
				dead_letter_topic: DEAD,
			},
		},
	];
	if (admin)
		namespaces.push({
			// A dynamic namespace family: each child is a namespace of its own in the records.
			match: '^/team-[a-z]+$',
			bridge: { broker: 'main', events: { topic: EV, types: ['connect', 'disconnect'], heartbeat_ms: 60000 } },
		}, {
			name: '/admin',
			middleware: [{ type: 'jwt', algorithms: ['HS256'], secret: SECRET }],
			rooms: { client_join: true },
			bridge: {
				broker: 'main',
				events: {
					topic: EV, types: ['connect', 'disconnect'], handshake: ['address', 'query', 'claims', 'auth', 'headers'],
					heartbeat_ms: 60000,
				},
			},
		});
	return {
		server,
		brokers: {
			main: {
				type: 'mqtt', host: HOST, port, protocol, keepalive: 5, reconnect_min_ms: 50, reconnect_max_ms: 300, ...brokerExtra,
			},
		},
		namespaces,
	};
}

// A parsed record per received message (the subscribers keep every message).
const parsed = new WeakMap();
function record(m) {
	let r = parsed.get(m);
	if (!r) {
		r = JSON.parse(m.payload);
		parsed.set(m, r);
	}
	return r;
}

/** The records on the events topic, in arrival order: [{ r (the JSON value), m (the message) }]. */
function events(sub) {
	const out = [];
	for (const m of sub.messages)
		if (m.topic === EV)
			out.push({ r: record(m), m });
	return out;
}

/** The first record satisfying `pred` (bounded). */
async function waitEvent(sub, pred, what, timeout = ms(5000)) {
	const deadline = Date.now() + timeout;
	for (;;) {
		const e = events(sub).find((x) => pred(x.r));
		if (e)
			return e;
		if (Date.now() > deadline)
			throw new Error(`no ${what} within ${timeout} ms; last records: ${JSON.stringify(events(sub).slice(-8).map((x) => x.r))}`);
		await sleep(20);
	}
}

/** The lifecycle records of socket `sid`, in arrival order. */
const ofSid = (sub, sid) => {
	assert.ok(sid, 'a socket id');
	return events(sub).filter((x) => x.r.sid === sid);
};

/** Waits until socket `sid` has `n` records; returns them. */
async function waitSid(sub, sid, n, what = `${n} records of ${sid}`, timeout = ms(5000)) {
	await until(() => ofSid(sub, sid).length >= n, what, timeout).catch((e) => {
		throw new Error(`${e.message}; got ${JSON.stringify(ofSid(sub, sid).map((x) => x.r))}`);
	});
	return ofSid(sub, sid);
}

/** A presence table kept from the events topic only, as a backend would (docs/bridges.md). */
function presenceTable(sub) {
	const table = new Map(); // "nsp sid" -> { instance, rooms: Set }
	for (const { r } of events(sub)) {
		const k = `${r.namespace} ${r.sid}`;
		if (r.type === 'connect') {
			table.set(k, { instance: r.instance, rooms: new Set(r.rooms) });
		} else if (r.type === 'join') {
			table.get(k)?.rooms.add(r.room);
		} else if (r.type === 'leave') {
			table.get(k)?.rooms.delete(r.room);
		} else if (r.type === 'disconnect') {
			table.delete(k);
		} else if (r.type === 'instance' && r.state === 'down') {
			for (const [key, v] of table)
				if (v.instance === r.instance)
					table.delete(key);
		}
	}
	return table;
}

/** A table as sorted plain data, for deepEqual. */
const tableData = (t) => [...t].map(([k, v]) => [k, v.instance, [...v.rooms].sort()]).sort((a, b) => (a[0] < b[0] ? -1 : 1));

for (const { protocol, v311 } of [{ protocol: '5', v311: false }, { protocol: '3.1.1', v311: true }]) {
	describe(`mqtt lifecycle events, heartbeats and presence over MQTT ${protocol}`, { skip }, () => {
		let broker;
		let gw; // replica A, up for the whole suite
		let sub; // the backend: events, answers and dead letters
		let instA;

		const config = (opts) => gwConfig(broker.port, protocol, opts);
		const publish = (topic, value) => pub(broker, topic, typeof value === 'string' ? value : JSON.stringify(value), { v311 });
		const subscriber = (filters) => new Subscriber(broker, filters, { v311 }).start();
		// socket.io-client forgets socket.id on disconnect: `sgid` keeps it.
		const keep = (s) => Object.assign(s, { sgid: s.id });
		const chat = async (g, user, opts = {}) => keep(await connect(`${g.url}/chat`, { ...WS, query: { user }, ...opts }));
		async function member(g, user, rooms = []) {
			const s = await chat(g, user);
			for (const r of rooms)
				assert.deepEqual(await call(s, 'join', r), OK, `join ${r}`);
			return s;
		}
		const admin = async (g, claims, opts = {}) => keep(await connect(`${g.url}/admin`, { ...WS, auth: { token: jwt(claims) }, ...opts }));

		/** The instance id of replica `g` (its pid is in it) and its first "up" record. */
		async function instanceOf(g, s = sub) {
			const re = new RegExp(`^.+-${g.child.pid}-[0-9a-f]{12}$`);
			// The first "up" goes out once the MQTT connection is up, which after a broker that
			// was just stopped and continued (the drain test) can take a reconnect or two.
			const isUp = (x) => x.type === 'instance' && x.state === 'up' && re.test(x.instance);
			await waitEvent(s, isUp, `an "up" record of ${g.name} (pid ${g.child.pid})`, ms(15000));
			// The first "up" is kept (QoS 1): it may wait for the connection, and a heartbeat
			// (QoS 0) published once the connection is up may overtake it on the wire. So it is
			// the QoS 1 one, and no "up" of this replica was produced before it.
			const ups = () => events(s).filter((x) => isUp(x.r));
			await until(() => ups().some((x) => x.m.qos === 1), `the QoS 1 "up" of ${g.name}`, ms(5000));
			const first = ups().find((x) => x.m.qos === 1);
			instanceMeta(first, 1);
			assert.ok(ups().every((x) => x.r.time >= first.r.time), 'the QoS 1 "up" is the first produced');
			return { id: first.r.instance, first: first.r };
		}

		/** Waits for a heartbeat of `inst` produced from now on that satisfies `pred`. */
		function heartbeat(inst, pred = () => true, what = 'a heartbeat', s = sub) {
			const since = Date.now() - 5;
			return waitEvent(s, (x) => x.type === 'instance' && x.instance === inst && x.state === 'up' && x.time >= since && pred(x),
				`${what} of ${inst}`);
		}

		/** Waits until replica `inst` reports no socket left (the clients of earlier tests are gone). */
		const quiet = (inst) => heartbeat(inst, (x) => x.sockets === 0, 'a heartbeat with no socket');

		/** Checks topic, QoS, retain, user properties and content type of a lifecycle record. */
		function lifecycleMeta({ r, m }) {
			assert.equal(m.topic, EV);
			assert.equal(m.qos, 1, 'produced with QoS 1');
			assert.equal(m.retain, false, 'not retained');
			if (v311) {
				assert.deepEqual(m.props, {}, 'MQTT 3.1.1: the record alone');
				assert.equal(m.contentType, undefined);
			} else {
				assert.deepEqual(m.props, { 'sio-namespace': r.namespace, 'sio-sid': r.sid, 'sio-event': r.type });
				assert.equal(m.contentType, 'application/json');
			}
		}

		/** Instance records: the first "up", "down" and the will at QoS 1, later heartbeats at QoS 0. */
		function instanceMeta({ r, m }, qos = 1) {
			assert.equal(m.topic, EV);
			assert.equal(m.qos, qos, `${r.state} record at QoS ${qos}`);
			assert.equal(m.retain, false);
			if (v311) {
				assert.deepEqual(m.props, {});
				assert.equal(m.contentType, undefined);
			} else {
				assert.deepEqual(m.props, { 'sio-event': 'instance', 'sio-instance': r.instance });
				assert.equal(m.contentType, 'application/json');
			}
		}

		/** `t` is a ms epoch between `t0` and now (same clock). */
		function timeIn(t, t0, what) {
			assert.ok(Number.isInteger(t) && t >= t0 - 5 && t <= Date.now() + 5, `${what}: time ${t} not in [${t0}, now]`);
		}

		/**
		 * Publishes a presence query to the control topic and waits for the answers of every
		 * replica in `instances`: Map instance -> { a (the answer), m (the message) }.
		 */
		async function query(q, instances) {
			await publish(CTL, { reply_to: REPLIES, ...q });
			const got = new Map();
			const scan = () => {
				for (const m of sub.messages)
					if (m.topic === REPLIES && record(m).id === q.id)
						got.set(record(m).instance, { a: record(m), m });
				return instances.every((i) => got.has(i));
			};
			await until(scan, `the answers to ${q.id} from ${instances.length} replica(s)`, ms(5000)).catch((e) => {
				throw new Error(`${e.message}; got ${JSON.stringify([...got.values()].map((x) => x.a))}`);
			});
			await sleep(ms(50));
			scan();
			assert.deepEqual([...got.keys()].sort(), [...instances].sort(), `${q.id}: one answer per replica`);
			for (const { a, m } of got.values()) {
				assert.equal(m.topic, REPLIES);
				assert.equal(m.qos, 1);
				if (v311) {
					assert.deepEqual(m.props, {});
				} else {
					assert.deepEqual(m.props, { 'sio-namespace': '/chat', 'sio-event': q.op });
					assert.equal(m.contentType, 'application/json');
				}
				assert.equal(a.namespace, '/chat');
			}
			return got;
		}

		/** A dead letter as { error, topic, payload } (user properties over MQTT 5, JSON over 3.1.1). */
		const deadLetter = (m) => (v311 ? JSON.parse(m.payload) : { error: m.props['sio-error'], topic: m.props['sio-topic'], payload: m.payload });

		serverHooks(async () => {
			if (skip)
				return;
			broker = await new Broker().start();
			sub = await subscriber([EV, REPLIES, DEAD]);
			gw = await startMqttDaemon(config({ brokerExtra: { delivery_timeout_ms: ms(500) } }), { name: `siogate-A-${protocol}` });
			instA = (await instanceOf(gw)).id;
		}, async () => {
			await sub?.stop();
			await stopGatewayAndBroker(gw, () => broker?.kill());
		});

		it('connect, join, leave and disconnect records carry every field', T(20000), async () => {
			await quiet(instA);
			const t0 = Date.now();
			const a = await chat(gw, 'ann');
			const c = await waitEvent(sub, (x) => x.type === 'connect' && x.sid === a.sgid, 'the connect record');
			lifecycleMeta(c);
			assert.deepEqual(keys(c.r), [...CONNECT_KEYS].sort());
			timeIn(c.r.time, t0, 'connect');
			assert.deepEqual({ ...c.r, time: 0 }, {
				type: 'connect', namespace: '/chat', sid: a.sgid, instance: instA, time: 0,
				rooms: [a.sgid, 'u:ann'], // its own room first, then the auto-joined one
				address: '127.0.0.1',
				query: { EIO: '4', transport: 'websocket', user: 'ann' },
				claims: {},
			});
			assert.match(instA, new RegExp(`-${gw.child.pid}-[0-9a-f]{12}$`), 'hostname-pid-12 hex');

			// Client joins and leaves, then control joins and leaves: "by" says who.
			assert.deepEqual(await call(a, 'join', 'lobby'), OK);
			assert.deepEqual(await call(a, 'join', 'x'), OK);
			assert.deepEqual(await call(a, 'leave', 'x'), OK);
			await waitSid(sub, a.sgid, 4);
			await publish(CTL, { op: 'join', namespace: '/chat', sids: [a.sgid], rooms: ['vip'] });
			await waitSid(sub, a.sgid, 5);
			await publish(CTL, { op: 'leave', sids: [a.sgid], rooms: ['lobby'] });
			await waitSid(sub, a.sgid, 6);
			const gone = once(a, 'disconnect');
			a.disconnect();
			await gone;
			const all = await waitSid(sub, a.sgid, 7);
			const steps = all.slice(1, 6);
			for (const s of steps) {
				lifecycleMeta(s);
				assert.deepEqual(keys(s.r), [...JOIN_KEYS].sort());
				timeIn(s.r.time, t0, s.r.type);
				assert.equal(s.r.instance, instA);
				assert.equal(s.r.namespace, '/chat');
			}
			assert.deepEqual(steps.map((s) => [s.r.type, s.r.room, s.r.by]), [
				['join', 'lobby', 'client'], ['join', 'x', 'client'], ['leave', 'x', 'client'],
				['join', 'vip', 'control'], ['leave', 'lobby', 'control'],
			]);
			const d = all[6];
			lifecycleMeta(d);
			assert.deepEqual(keys(d.r), [...DISCONNECT_KEYS].sort());
			assert.deepEqual({ ...d.r, time: 0, }, {
				type: 'disconnect', namespace: '/chat', sid: a.sgid, instance: instA, time: 0,
				reason: 'client namespace disconnect', rooms: [a.sgid, 'u:ann', 'vip'],
			});
			assert.ok(d.r.time >= steps[4].r.time, 'times never go back');

			// /admin: jwt claims, the opt-in auth and headers, and no join record (types).
			const claims = { sub: 'root', role: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 };
			const token = jwt(claims);
			const b = keep(await connect(`${gw.url}/admin`, {
				...WS, auth: { token }, query: { k: 'v' }, extraHeaders: { cookie: 'sid=c1', 'user-agent': 'siogate-it' },
			}));
			const bc = await waitEvent(sub, (x) => x.type === 'connect' && x.sid === b.sgid, 'the /admin connect record');
			lifecycleMeta(bc);
			assert.deepEqual(keys(bc.r), [...CONNECT_KEYS, 'auth', 'headers'].sort());
			assert.equal(bc.r.namespace, '/admin');
			assert.deepEqual(bc.r.rooms, [b.sgid]);
			assert.deepEqual(bc.r.claims, claims);
			assert.deepEqual(bc.r.auth, { token });
			assert.deepEqual(bc.r.query, { EIO: '4', transport: 'websocket', k: 'v' });
			assert.equal(bc.r.headers.cookie, 'sid=c1');
			assert.equal(bc.r.headers['user-agent'], 'siogate-it');
			assert.equal(bc.r.headers.host, `${HOST}:${gw.port}`);
			assert.deepEqual(await call(b, 'join', 'ops'), OK);
			b.disconnect();
			const bAll = await waitSid(sub, b.sgid, 2);
			await sleep(ms(200));
			assert.deepEqual(ofSid(sub, b.sgid).map((x) => x.r.type), ['connect', 'disconnect'], 'join is not among /admin\'s types');
			assert.equal(bAll[1].r.reason, 'client namespace disconnect');
			assert.deepEqual(bAll[1].r.rooms, [b.sgid, 'ops']);
		});

		it('keeps the order per socket; reasons for a transport close and a control disconnect', T(20000), async () => {
			// Several sockets at once, each: connect, three joins, a leave, then a disconnect.
			const users = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
			const socks = await Promise.all(users.map((u) => chat(gw, u)));
			await Promise.all(socks.map(async (s, i) => {
				const acks = [call(s, 'join', `k1-${i}`), call(s, 'join', `k2-${i}`), call(s, 'join', `k3-${i}`), call(s, 'leave', `k1-${i}`)];
				for (const r of await Promise.all(acks))
					assert.deepEqual(r, OK);
				if (i % 2)
					s.io.engine.close(); // the transport closes under the socket
				else
					s.disconnect();
			}));
			for (const [i, s] of socks.entries()) {
				const recs = await waitSid(sub, s.sgid, 6);
				assert.deepEqual(recs.map((x) => [x.r.type, x.r.room ?? x.r.reason]), [
					['connect', undefined], ['join', `k1-${i}`], ['join', `k2-${i}`], ['join', `k3-${i}`], ['leave', `k1-${i}`],
					['disconnect', i % 2 ? 'transport close' : 'client namespace disconnect'],
				], `the records of socket ${i}`);
				// Its own room first, then in join order (the auto-joined room at connect).
				assert.deepEqual(recs[5].r.rooms, [s.sgid, `u:${users[i]}`, `k2-${i}`, `k3-${i}`]);
				for (let j = 1; j < recs.length; j++)
					assert.ok(recs[j].r.time >= recs[j - 1].r.time, 'times per socket never go back');
			}

			// The backend disconnects a socket through the control topic.
			const c = await member(gw, 'carl', ['lobby']);
			const gone = once(c, 'disconnect');
			await publish(CTL, { op: 'disconnect', namespace: '/chat', sids: [c.sgid] });
			assert.equal((await gone)[0], 'io server disconnect');
			const recs = await waitSid(sub, c.sgid, 3);
			assert.deepEqual({ ...recs[2].r, time: 0 }, {
				type: 'disconnect', namespace: '/chat', sid: c.sgid, instance: instA, time: 0,
				reason: 'server namespace disconnect', rooms: [c.sgid, 'u:carl', 'lobby'],
			});
			await sleep(ms(200));
			assert.equal(ofSid(sub, c.sgid).length, 3, 'exactly one disconnect');
		});

		it('heartbeats every heartbeat_ms with the sockets per namespace', T(20000), async () => {
			await quiet(instA);
			const a = await chat(gw, 'h1');
			const b = await chat(gw, 'h2');
			const c = await admin(gw, { sub: 'h3' });
			const hb = await heartbeat(instA, (x) => x.sockets === 3, 'a heartbeat with 3 sockets');
			instanceMeta(hb, 0); // a heartbeat is stale once the next exists: QoS 0
			assert.deepEqual(keys(hb.r), [...UP_KEYS].sort());
			assert.deepEqual({ ...hb.r, time: 0 }, {
				type: 'instance', instance: instA, state: 'up', time: 0, sockets: 3, namespaces: { '/chat': 2, '/admin': 1 },
			});

			// One heartbeat per period for the topic (the shortest heartbeat_ms of its namespaces).
			const since = Date.now();
			await sleep(HEARTBEAT * 8);
			const beats = events(sub).filter((x) => x.r.type === 'instance' && x.r.instance === instA && x.r.time >= since);
			assert.ok(beats.length >= 3 && beats.length <= 10, `${beats.length} heartbeats in ${HEARTBEAT * 8} ms`);
			for (let i = 1; i < beats.length; i++)
				assert.ok(beats[i].r.time - beats[i - 1].r.time >= HEARTBEAT / 2, `heartbeats ${beats[i].r.time - beats[i - 1].r.time} ms apart`);
			assert.ok(beats.every((x) => x.r.state === 'up'));

			a.disconnect();
			c.disconnect();
			const one = await heartbeat(instA, (x) => x.sockets === 1, 'a heartbeat with 1 socket');
			assert.deepEqual(one.r.namespaces, { '/chat': 1, '/admin': 0 });
			b.disconnect();
			await quiet(instA);

			// A dynamic family lists each existing child.
			const t1 = keep(await connect(`${gw.url}/team-red`, WS));
			const t2 = keep(await connect(`${gw.url}/team-blue`, WS));
			const t3 = keep(await connect(`${gw.url}/team-blue`, WS));
			const tc = await waitSid(sub, t1.sgid, 1);
			assert.deepEqual({ ...tc[0].r, time: 0, query: null, address: null }, {
				type: 'connect', namespace: '/team-red', sid: t1.sgid, instance: instA, time: 0, rooms: [t1.sgid], claims: {}, query: null,
				address: null,
			});
			lifecycleMeta(tc[0]);
			const teams = await heartbeat(instA, (x) => x.sockets === 3, 'a heartbeat with the children');
			assert.deepEqual(teams.r.namespaces, { '/chat': 0, '/admin': 0, '/team-red': 1, '/team-blue': 2 });
			for (const t of [t1, t2, t3])
				t.disconnect();
			await quiet(instA);
		});

		it('the broker publishes the Last Will when a replica is killed (kill -9)', T(30000), async () => {
			const t0 = Date.now();
			const c = await startMqttDaemon(config(), { name: `siogate-will-${protocol}` });
			try {
				await lastWill(c, t0);
			} finally {
				closeClients();
				await c.kill();
			}
		});

		async function lastWill(c, t0) {
			const { id, first } = await instanceOf(c);
			assert.notEqual(id, instA);
			const s = await member(c, 'wendy', ['lobby']);
			await waitSid(sub, s.sgid, 2);
			const gone = once(s, 'disconnect', ms(5000));
			const killedAt = Date.now();
			process.kill(c.child.pid, 'SIGKILL');
			assert.ok(await waitExit(c.child, ms(5000)), 'the replica is gone');
			// Within the keepalive window (5 s, 1.5 times for the broker); a SIGKILL closes the
			// socket at once, so in practice at once.
			const will = await waitEvent(sub, (x) => x.type === 'instance' && x.instance === id && x.state === 'down', 'the Last Will', ms(7500));
			instanceMeta(will);
			assert.deepEqual(keys(will.r), ['instance', 'state', 'time', 'type', 'will']);
			assert.deepEqual({ ...will.r, time: 0 }, { type: 'instance', instance: id, state: 'down', time: 0, will: true });
			timeIn(will.r.time, t0, 'the will');
			assert.ok(will.r.time <= first.time, 'the will is dated when the replica connected, before its first "up"');
			assert.ok(Date.now() - killedAt < ms(7500));
			await gone;
			await sleep(ms(200));
			assert.deepEqual(ofSid(sub, s.sgid).map((x) => x.r.type), ['connect', 'join'], 'a dead replica reports nothing');
			assert.equal(events(sub).filter((x) => x.r.instance === id && x.r.state === 'down').length, 1, 'one will');
		}

		it('answers fetch_sockets, count and rooms from every replica; malformed queries are dead-lettered', T(30000), async () => {
			const b = await startMqttDaemon(config(), { name: `siogate-B-${protocol}` });
			try {
				const instB = (await instanceOf(b)).id;
				await quiet(instA);
				const t0 = Date.now();
				const a1 = await member(gw, 'p1', ['lobby']);
				const a2 = await member(gw, 'p2', ['lobby', 'x']);
				const a3 = await member(gw, 'p3');
				const b1 = await member(b, 'p4', ['lobby']);
				const both = [instA, instB];
				const sock = (s, rooms) => ({ sid: s.sgid, rooms: [s.sgid, ...rooms], claims: {} });
				const strip = (list) => list.map(({ connected_at: at, ...rest }) => {
					timeIn(at, t0, 'connected_at');
					return rest;
				});

				let r = await query({ op: 'fetch_sockets', namespace: '/chat', in: ['lobby'], except: ['x'], id: 'q1', limit: 1000 }, both);
				assert.deepEqual(keys(r.get(instA).a), ['id', 'instance', 'namespace', 'sockets', 'truncated']);
				assert.deepEqual(keys(r.get(instA).a.sockets[0]), ['claims', 'connected_at', 'rooms', 'sid']);
				assert.deepEqual({ ...r.get(instA).a, sockets: strip(r.get(instA).a.sockets) },
					{ id: 'q1', instance: instA, namespace: '/chat', sockets: [sock(a1, ['u:p1', 'lobby'])], truncated: false });
				assert.deepEqual({ ...r.get(instB).a, sockets: strip(r.get(instB).a.sockets) },
					{ id: 'q1', instance: instB, namespace: '/chat', sockets: [sock(b1, ['u:p4', 'lobby'])], truncated: false });

				// By socket id, namespace left out (a static namespace): the other replica has no match.
				r = await query({ op: 'fetch_sockets', sids: [a2.sgid], id: 'q2' }, both);
				assert.deepEqual(strip(r.get(instA).a.sockets), [sock(a2, ['u:p2', 'lobby', 'x'])]);
				assert.deepEqual(r.get(instB).a, { id: 'q2', instance: instB, namespace: '/chat', sockets: [], truncated: false });

				// limit: at most that many, and "truncated" says more matched.
				r = await query({ op: 'fetch_sockets', id: 'q3', limit: 2 }, both);
				assert.equal(r.get(instA).a.sockets.length, 2);
				assert.equal(r.get(instA).a.truncated, true);
				for (const x of r.get(instA).a.sockets)
					assert.ok([a1.sgid, a2.sgid, a3.sgid].includes(x.sid));
				assert.deepEqual(strip(r.get(instB).a.sockets), [sock(b1, ['u:p4', 'lobby'])]);
				assert.equal(r.get(instB).a.truncated, false);

				const counts = async (q, id) => {
					const got = await query({ op: 'count', id, ...q }, both);
					for (const [inst, { a }] of got)
						assert.deepEqual(keys(a), ['count', 'id', 'instance', 'namespace'], inst);
					return [got.get(instA).a.count, got.get(instB).a.count];
				};
				assert.deepEqual(await counts({ in: ['lobby'] }, 'q4'), [2, 1]);
				assert.deepEqual(await counts({}, 'q5'), [3, 1]);
				assert.deepEqual(await counts({ except: ['lobby'] }, 'q6'), [1, 0]);
				assert.deepEqual(await counts({ in: ['lobby'], except: ['x'], sids: [a1.sgid, a2.sgid, b1.sgid] }, 'q7'), [1, 1]);

				r = await query({ op: 'rooms', namespace: '/chat', id: 'q8' }, both);
				assert.deepEqual(r.get(instA).a, {
					id: 'q8', instance: instA, namespace: '/chat', rooms: { lobby: 2, x: 1, 'u:p1': 1, 'u:p2': 1, 'u:p3': 1 },
				});
				assert.deepEqual(r.get(instB).a, { id: 'q8', instance: instB, namespace: '/chat', rooms: { lobby: 1, 'u:p4': 1 } });
				await waitCounter(gw, 'queries_answered', 8);

				// Malformed: dead-lettered by each replica, counted, never answered.
				const before = [(await bridgeCounters(gw)).malformed ?? 0, (await bridgeCounters(b)).malformed ?? 0];
				const noPublish = "a topic to publish to cannot contain the wildcards '+' or '#'";
				const badLimit = '"limit": expected an integer from 1 to 10000 (fetch_sockets only)';
				const bad = [
					[{ op: 'fetch_sockets', reply_to: REPLIES }, '"fetch_sockets" needs "id" (a non-empty string of at most 256 bytes)'],
					[{ op: 'count', id: 'm2' }, '"count" needs "reply_to" (the topic to answer on)'],
					[{ op: 'count', id: 'm3', reply_to: 'sg/+/x' }, `"reply_to": 'sg/+/x': ${noPublish}`],
					[{ op: 'count', id: 'm8', reply_to: '$SYS/x' }, `"reply_to": '$SYS/x': topics starting with '$' are reserved for the broker`],
					[{ op: 'fetch_sockets', id: 'm4', reply_to: REPLIES, limit: 0 }, badLimit],
					[{ op: 'count', id: 'm5', reply_to: REPLIES, limit: 5 }, badLimit],
					[{ op: 'rooms', id: 'm6', reply_to: REPLIES, in: ['lobby'] }, '"rooms" takes no target (sids, in, except)'],
					[{ op: 'explode', id: 'm7', reply_to: REPLIES },
						"unknown op 'explode' (known: join, leave, disconnect, emit, fetch_sockets, count, rooms)"],
				];
				for (const [cmd] of bad)
					await publish(CTL, cmd);
				for (const [cmd, error] of bad) {
					const text = JSON.stringify(cmd);
					await until(() => sub.messages.filter((m) => m.topic === DEAD && deadLetter(m).payload === text).length >= 2,
						`two dead letters (one per replica) for ${text}`, ms(5000));
					for (const m of sub.messages.filter((x) => x.topic === DEAD && deadLetter(x).payload === text)) {
						const dl = deadLetter(m);
						assert.equal(dl.topic, CTL);
						assert.equal(dl.error, error);
					}
				}
				await waitCounter(gw, 'malformed', before[0] + bad.length);
				await waitCounter(b, 'malformed', before[1] + bad.length);
				assert.deepEqual(sub.messages.filter((m) => m.topic === REPLIES && /^m\d$/.test(record(m).id)), [], 'no answer');
				assert.equal((await bridgeCounters(gw)).queries_answered, 8);
			} finally {
				closeClients();
				await b.stop();
			}
		});

		it('a backend keeps an exact presence table from the events topic across two replicas and a crash', T(30000), async () => {
			const tsub = await subscriber(EV); // this backend starts from an empty table
			const b = await startMqttDaemon(config(), { name: `siogate-B2-${protocol}` });
			try {
				const instB = (await instanceOf(b, tsub)).id;
				await quiet(instA);
				const truth = new Map();
				const add = (s, nsp, inst, rooms) => truth.set(`${nsp} ${s.sgid}`, { instance: inst, rooms: new Set([s.sgid, ...rooms]) });
				const x1 = await member(gw, 't1', ['lobby', 'r']);
				add(x1, '/chat', instA, ['u:t1', 'lobby', 'r']);
				const x2 = await member(gw, 't2', ['lobby']);
				add(x2, '/chat', instA, ['u:t2', 'lobby']);
				const x3 = await member(gw, 't3');
				add(x3, '/chat', instA, ['u:t3']);
				const y1 = await admin(gw, { sub: 'y1' });
				add(y1, '/admin', instA, []);
				const z1 = await member(b, 't4', ['lobby']);
				add(z1, '/chat', instB, ['u:t4', 'lobby']);
				const z2 = await member(b, 't5', ['r']);
				add(z2, '/chat', instB, ['u:t5', 'r']);
				const z3 = await admin(b, { sub: 'z3' });
				add(z3, '/admin', instB, []);
				const z4 = await member(b, 't6');
				add(z4, '/chat', instB, ['u:t6']);

				// Churn: client and control joins and leaves, disconnects of both kinds.
				assert.deepEqual(await call(x1, 'leave', 'r'), OK);
				truth.get(`/chat ${x1.sgid}`).rooms.delete('r');
				await publish(CTL, { op: 'join', sids: [x3.sgid, z4.sgid], rooms: ['vip'] });
				truth.get(`/chat ${x3.sgid}`).rooms.add('vip');
				truth.get(`/chat ${z4.sgid}`).rooms.add('vip');
				await publish(CTL, { op: 'leave', sids: [z1.sgid], rooms: ['lobby'] });
				truth.get(`/chat ${z1.sgid}`).rooms.delete('lobby');
				x2.disconnect();
				truth.delete(`/chat ${x2.sgid}`);
				z2.io.engine.close();
				truth.delete(`/chat ${z2.sgid}`);

				const expect = (what) => until(() => JSON.stringify(tableData(presenceTable(tsub))) === JSON.stringify(tableData(truth)),
					what, ms(5000)).catch(() => assert.deepEqual(tableData(presenceTable(tsub)), tableData(truth), what));
				await expect('the table equal to the truth across two replicas');

				// B crashes: its sockets leave the table thanks to the broker's Last Will.
				const gone = once(z1, 'disconnect', ms(5000));
				process.kill(b.child.pid, 'SIGKILL');
				assert.ok(await waitExit(b.child, ms(5000)));
				for (const k of [...truth.keys()])
					if (truth.get(k).instance === instB)
						truth.delete(k);
				await expect('the table without the crashed replica\'s sockets');
				await gone;
				const will = events(tsub).find((x) => x.r.instance === instB && x.r.state === 'down');
				assert.equal(will.r.will, true);
				assert.deepEqual(events(tsub).filter((x) => [z1.sgid, z3.sgid, z4.sgid].includes(x.r.sid) && x.r.type === 'disconnect'), [],
					'no disconnect record from the dead replica: the will did it');

				// The survivor's own view agrees with the table.
				const r = await query({ op: 'fetch_sockets', namespace: '/chat', id: 't1' }, [instA]);
				const fromQuery = r.get(instA).a.sockets.map((s) => [`/chat ${s.sid}`, instA, [...s.rooms].sort()]).sort();
				const fromTable = tableData(presenceTable(tsub)).filter(([k]) => k.startsWith('/chat '));
				assert.deepEqual(fromTable, fromQuery);
			} finally {
				closeClients();
				await b.kill();
				await tsub.stop();
			}
		});

		it('a reload reports only the removed namespace; the SIGTERM drain reports every socket, then "down"', T(40000), async () => {
			const d = await startMqttDaemon(config({ server: { ping_interval_ms: ms(500), ping_timeout_ms: ms(500), drain_timeout_ms: ms(5000) } }),
				{ name: `siogate-D-${protocol}` });
			try {
				const { id } = await instanceOf(d);
				const d1 = await member(d, 'd1', ['lobby']);
				const d2 = await chat(d, 'd2');
				const e1 = await admin(d, { sub: 'e1' });
				await Promise.all([waitSid(sub, d1.sgid, 2), waitSid(sub, d2.sgid, 1), waitSid(sub, e1.sgid, 1)]);

				// A client that stops answering pings.
				const raw = await rawWebSocket(d.url, { autoPong: false, query: '&user=raw' });
				assert.match(await raw.next(), /^0\{/);
				raw.send('40/chat,');
				const sid = JSON.parse((await raw.next()).slice('40/chat,'.length)).sid;
				const pt = await waitSid(sub, sid, 2, 'the ping timeout', ms(8000));
				assert.deepEqual({ ...pt[1].r, time: 0 }, {
					type: 'disconnect', namespace: '/chat', sid, instance: id, time: 0, reason: 'ping timeout', rooms: [sid, 'u:raw'],
				});

				// A reload that removes /admin: its socket gets "namespace removed", the others nothing.
				const mark = sub.messages.length;
				const cfg = structuredClone(d.config);
				cfg.namespaces = cfg.namespaces.filter((n) => n.name !== '/admin');
				fs.writeFileSync(d.configPath, JSON.stringify(cfg));
				const kicked = once(e1, 'disconnect', ms(5000));
				d.signal('SIGHUP');
				await d.waitLog(/configuration reloaded/, ms(5000));
				const er = await waitSid(sub, e1.sgid, 2, 'the disconnect of the removed namespace\'s socket');
				assert.deepEqual({ ...er[1].r, time: 0 }, {
					type: 'disconnect', namespace: '/admin', sid: e1.sgid, instance: id, time: 0, reason: 'namespace removed', rooms: [e1.sgid],
				});
				await kicked;
				const hb = await heartbeat(id, () => true, 'a heartbeat after the reload');
				assert.deepEqual(hb.r.namespaces, { '/chat': 2 }, 'the reload keeps the instance id; /admin is gone');
				assert.deepEqual(await call(d2, 'join', 'after'), OK);
				await waitSid(sub, d2.sgid, 2);
				const since = sub.messages.slice(mark).filter((m) => m.topic === EV).map(record);
				assert.deepEqual(since.filter((r) => r.sid && r.sid !== e1.sgid).map((r) => [r.sid, r.type, r.room]),
					[[d2.sgid, 'join', 'after']], 'nothing for the sockets that stay');
				assert.deepEqual(since.filter((r) => r.type === 'instance' && r.state !== 'up'), [], 'no down, no will');

				// SIGTERM: "server shutting down" for each socket, then the instance's "down" last.
				// The broker is paused so that an upstream message keeps the drain waiting for its
				// confirmation: a socket that connects meanwhile gets its connect and disconnect too.
				const ends = [once(d1, 'disconnect', ms(5000)), once(d2, 'disconnect', ms(5000))];
				let late;
				broker.child.kill('SIGSTOP');
				let pending;
				try {
					pending = call(d1, 'up', 1);
					await sleep(ms(100));
					d.signal('SIGTERM');
					await waitReady(d, { status: 503 });
					late = await chat(d, 'late');
				} finally {
					broker.child.kill('SIGCONT');
				}
				assert.deepEqual(await pending, [{ ok: true, topic: UP, qos: 1 }], 'the drain waited for the confirmation');
				assert.ok(await waitExit(d.child, ms(10000)), 'the drain ends');
				assert.equal(d.child.exitCode, 0, `exit code (99: valgrind found errors):\n${d.log().slice(-3000)}`);
				await Promise.all(ends);
				const down = await waitEvent(sub, (x) => x.type === 'instance' && x.instance === id && x.state === 'down', 'the "down" record');
				instanceMeta(down);
				assert.deepEqual(keys(down.r), ['instance', 'state', 'time', 'type']);
				for (const [s, rooms] of [[d1, ['u:d1', 'lobby']], [d2, ['u:d2', 'after']], [late, ['u:late']]]) {
					const recs = await waitSid(sub, s.sgid, s === late ? 2 : 3); // connect, join, disconnect
					const last = recs[recs.length - 1];
					lifecycleMeta(last);
					assert.deepEqual({ ...last.r, time: 0 }, {
						type: 'disconnect', namespace: '/chat', sid: s.sgid, instance: id, time: 0, reason: 'server shutting down',
						rooms: [s.sgid, ...rooms],
					});
				}
				await sleep(ms(500));
				const mine = events(sub).filter((x) => x.r.instance === id);
				assert.equal(mine[mine.length - 1].m, down.m, 'the instance\'s "down" is its last record');
				assert.equal(mine.filter((x) => x.r.state === 'down').length, 1, 'no Last Will after a clean shutdown');
				assert.equal(mine.filter((x) => x.r.type === 'disconnect' && x.r.reason === 'server shutting down').length, 3);
				assert.deepEqual(ofSid(sub, late.sgid).map((x) => x.r.type), ['connect', 'disconnect'], 'a socket of the drain gets both');
			} finally {
				closeClients();
				if (broker.child.exitCode === null)
					broker.child.kill('SIGCONT');
				await d.kill();
			}
		});

		it('a broker outage: records counted as failed, clients keep working, records flow again after the restart', T(40000), async () => {
			// O: no heartbeat during the test, so that its counters count lifecycle records alone.
			const o = await startMqttDaemon(config({ brokerExtra: { delivery_timeout_ms: ms(500) }, heartbeat: 3600000, admin: false }),
				{ name: `siogate-O-${protocol}` });
			try {
				const instO = (await instanceOf(o)).id;
				await waitCounter(o, 'events_produced', 1); // its first "up"
				await quiet(instA);
				const a0 = await bridgeCounters(gw);
				const o0 = await bridgeCounters(o);
				await broker.stop();
				await waitReady(gw, { status: 503 });
				await waitReady(o, { status: 503 });

				// Sockets churn on both replicas while the broker is away: connects and join acks
				// come back at once.
				const t0 = Date.now();
				const N = 6;
				const sids = [];
				for (let i = 0; i < N; i++) {
					const s = await member(i % 3 ? o : gw, `out${i}`, ['lobby']);
					sids.push(s.sgid);
					if (i % 2)
						s.io.engine.close();
					else
						s.disconnect();
				}
				const took = Date.now() - t0;
				assert.ok(took < ms(3000), `${N} connects and joins took ${took} ms with the broker down`);
				const nO = sids.filter((_, i) => i % 3).length;

				// O: connect + join + disconnect per socket, QoS 1, not confirmed within
				// delivery_timeout_ms (500 ms): each counted once, nothing counted as produced.
				await waitCounter(o, 'events_failed', (o0.events_failed ?? 0) + 3 * nO, 'main', ms(8000));
				await sleep(ms(700));
				const o1 = await bridgeCounters(o);
				assert.equal(o1.events_failed - (o0.events_failed ?? 0), 3 * nO, 'one failure per record');
				assert.equal(o1.events_produced, o0.events_produced);
				await o.waitLog(new RegExp("bridge 'main': a lifecycle, heartbeat or presence record could not be produced " +
					'\\(the MQTT broker did not confirm the record within delivery_timeout_ms\\); 1 so far'));
				// A: its heartbeats (QoS 0) fail at once, and its sockets' records after the timeout.
				await waitCounter(gw, 'events_failed', (a0.events_failed ?? 0) + 3 * (N - nO) + 2, 'main', ms(8000));
				await gw.waitLog(/bridge 'main': a lifecycle, heartbeat or presence record could not be produced \([^)]+\); \d+ so far/);

				await broker.start();
				await waitReady(gw);
				await waitReady(o);
				const nsub = await subscriber(EV);
				try {
					const p0 = (await bridgeCounters(o)).events_produced;
					const s = await member(o, 'back', ['lobby']);
					const recs = await waitSid(nsub, s.sgid, 2, 'records after the restart');
					assert.deepEqual(recs.map((x) => x.r.type), ['connect', 'join']);
					recs.forEach(lifecycleMeta);
					assert.equal(recs[0].r.instance, instO);
					await waitCounter(o, 'events_produced', p0 + 2);
					await heartbeat(instA, () => true, 'a heartbeat after the restart', nsub);
				} finally {
					await nsub.stop();
				}
			} finally {
				closeClients();
				await o.stop(); // exit code 0 (valgrind-clean with SG_VALGRIND=1)
			}
		});
	});
}

describe('mqtt lifecycle events: config errors', { skip }, () => {
	it('refuses bad events objects with the JSON path and the reason', T(60000), async () => {
		const base = (bridge) => ({ brokers: { m: { type: 'mqtt' } }, namespaces: [{ name: '/x', bridge: { broker: 'm', ...bridge } }] });
		const p = 'namespaces[0].bridge';
		const cases = [
			[{ events: { topic: 'ev/+' } }, `${p}.events.topic: 'ev/+': a topic to publish to cannot contain the wildcards '+' or '#'`],
			[{ events: { topic: '$SYS/x' } }, `${p}.events.topic: '$SYS/x': topics starting with '$' are reserved for the broker`],
			[{ events: { topic: 'ev/{nsp}' } }, `${p}.events.topic: placeholders are not allowed here`],
			[{ events: { topic: 'ev', types: ['join', 'join'] } }, `${p}.events.types[1]: 'join' is listed twice`],
			[{ events: { topic: 'ev', heartbeat_ms: 99 } }, `${p}.events.heartbeat_ms: expected an integer from 100 to 3600000`],
			[{ events: { topic: 'ev', handshake: ['cookies'] } }, `${p}.events.handshake[0]: expected one of address, query, claims, auth, headers`],
			[{ events: { topc: 'ev' } }, `${p}.events: unknown key 'topc' (did you mean 'topic'?)`],
			[{}, `${p}: a bridge needs at least one of to_clients, from_clients, control_topic or events`],
		];
		for (const [bridge, msg] of cases) {
			const r = await checkConfig(base(bridge));
			assert.notEqual(r.code, 0, `accepted: ${JSON.stringify(bridge)}`);
			assert.ok(r.stderr.includes(msg), `expected '${msg}' in:\n${r.stderr}`);
		}
		// A bridge of events alone is enough.
		const r = await checkConfig(base({ events: { topic: 'ev' } }));
		assert.equal(r.code, 0, r.stderr);
	});
});
