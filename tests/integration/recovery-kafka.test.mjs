// recovery-kafka.test.mjs - connection state recovery across gateway processes, with the
// sessions kept in Kafka (a namespace's recovery.sessions_topic): a client whose gateway
// restarted (SIGTERM), or whose transport dropped on one replica and who comes back on another,
// gets its id, its rooms, `recovered` true and every record of its rooms that it missed,
// replayed from Kafka, in order within each partition, once, before new ones. Also: the
// crash guarantee (SIGKILL: only sessions persisted before the crash come back), tombstones
// of recovered sessions, and --check-config refusing sessions_topic outside a Kafka bridge.
//
// Each test starts its own mock cluster and gateways (withCluster(), below) and kills them by
// PID at its end. The client reaches the gateways through a small TCP proxy (Gate, below): it
// lets the test hold the client's reconnection attempts while no gateway should be reached
// (during a drain, before a restarted gateway has loaded the sessions topic) and point the
// same client, with its own pid and offset, at another process, while socket.io-client
// reconnects by itself.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';

import { performance } from 'node:perf_hooks';

import {
	BUILDDIR, HOST, T, call, checkConfig, client, closeClients, connected, freePort, httpGet, metricValue, ms, once,
	sleep, startDaemon, until, waitReady,
} from './harness.mjs';
import { KafkaMock, PLUGIN_PATH, consumeAll, counter, kafkaSkipReason, produce, waitRecord } from './kafka-harness.mjs';

const skip = kafkaSkipReason();
const SESSIONS = 'siogate.sessions';
const WS = { transports: ['websocket'] };
const OK = [{ ok: true }];
const MQTT_PLUGIN_DIR = path.join(BUILDDIR, 'bridges', 'mqtt', '.libs');

/**
 * One namespace /chat whose rooms are fed by `topics` (records keyed by room), with recovery in
 * Kafka; `broker` adds keys to the broker's object.
 */
function config(bootstrap, topics, recovery = {}, broker = {}) {
	return {
		brokers: { main: { type: 'kafka', bootstrap_servers: bootstrap, ...broker } },
		namespaces: [
			{
				name: '/chat',
				rooms: { client_join: true },
				recovery: { max_disconnection_ms: 60000, sessions_topic: SESSIONS, ...recovery },
				bridge: { broker: 'main', to_clients: topics.map((topic) => ({ topic })) },
			},
		],
	};
}

/**
 * Stops every gateway still running (stop() asserts exit code 0: under valgrind, no leak), and
 * reports the first failure after trying them all. A SIGKILLed one is skipped.
 */
async function stopGateways(...gws) {
	let first;
	for (const gw of gws) {
		try {
			if (gw?.running)
				await gw.stop();
		} catch (e) {
			first ??= e;
		}
	}
	if (first)
		throw first;
}

/**
 * A TCP proxy on 127.0.0.1 in front of the gateways. to(port) sends new connections to that
 * port; to(null) closes them as soon as they arrive (the client sees a failed attempt and tries
 * again after its reconnection delay). Connections already forwarded are left alone: they end
 * when either side closes.
 */
class Gate {
	constructor() {
		this.target = null;
		this.pairs = new Set();
		this.server = null;
	}

	async start() {
		for (let attempt = 0; ; attempt++) {
			const port = await freePort();
			const server = net.createServer((c) => this.accept(c));
			try {
				await new Promise((resolve, reject) => {
					server.once('error', reject);
					server.listen(port, HOST, resolve);
				});
			} catch (e) {
				// Taken between freePort() and listen(): another one.
				if (attempt >= 5)
					throw e;
				continue;
			}
			this.server = server;
			this.port = port;
			this.url = `http://${HOST}:${port}`;
			return this;
		}
	}

	accept(c) {
		if (this.target === null) {
			c.destroy();
			return;
		}
		const up = net.connect(this.target, HOST);
		const pair = { c, up };
		this.pairs.add(pair);
		const end = () => {
			c.destroy();
			up.destroy();
			this.pairs.delete(pair);
		};
		for (const s of [c, up]) {
			s.on('error', end);
			s.on('close', end);
		}
		c.pipe(up);
		up.pipe(c);
	}

	to(port) {
		this.target = port;
	}

	close() {
		this.target = null;
		this.server?.close();
		for (const { c, up } of this.pairs) {
			c.destroy();
			up.destroy();
		}
		this.pairs.clear();
	}
}

// A client of /chat through the gate that reconnects by itself, quickly and at a steady pace.
function reconnecting(gate) {
	return client(`${gate.url}/chat`, {
		...WS, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, randomizationFactor: 0,
	});
}

// "<tag>.<seq>~<topic>/<partition>/<offset>" (seq in base 36): where a record-born packet
// sits in Kafka.
const OFFSET_RE = /^[^~]+\.[0-9a-z]+~([A-Za-z0-9._-]+)\/(\d+)\/(\d+)$/;

/**
 * Collects the `message` events of `socket` as { value, offset, topic, partition, kafka }:
 * the value is the first argument, the recovery offset the last one (checked here: every
 * record-born packet carries one naming its topic, partition and Kafka offset).
 */
function records(socket) {
	const got = [];
	socket.on('message', (...args) => {
		const offset = args[args.length - 1];
		const m = typeof offset === 'string' ? offset.match(OFFSET_RE) : null;
		got.push({
			args,
			value: args[0],
			offset,
			topic: m?.[1],
			partition: m ? Number(m[2]) : undefined,
			kafka: m ? Number(m[3]) : undefined,
		});
	});
	return got;
}

function assertOffsets(got) {
	for (const r of got) {
		assert.equal(r.args.length, 2, `the value, then the offset: ${JSON.stringify(r.args)}`);
		assert.match(String(r.offset), OFFSET_RE, 'the offset names the record\'s topic, partition and Kafka offset');
		assert.equal(r.topic, r.value.t, `the offset's topic: ${r.offset}`);
		assert.equal(r.partition, r.value.p, `the offset's partition: ${r.offset}`);
	}
}

/** The session records (value parsed; null for a tombstone) of `pid` in the sessions topic, oldest first. */
async function sessionRecords(bootstrap, pid) {
	return (await consumeAll(bootstrap, SESSIONS))
		.filter((r) => r.key === pid)
		.sort((x, y) => x.partition - y.partition || x.offset - y.offset)
		.map((r) => ({ ...r, session: r.payload === null ? null : JSON.parse(r.payload) }));
}

/** Waits (bounded) until the session of `pid` has been produced to the sessions topic; resolves with the record. */
async function waitSession(bootstrap, pid) {
	const rec = await waitRecord(bootstrap, SESSIONS, (r) => r.key === pid && r.payload !== null,
		`session record of pid ${pid}`, ms(10000));
	return { ...rec, session: JSON.parse(rec.payload) };
}

/**
 * Waits until gateway `gw` can recover the session whose pid is `probe.pid` (a client left it
 * behind on purpose): it then has read the sessions topic at least to that session's record.
 * A replica reads the topic on its own pace and tells nobody when it has a session; this
 * sacrificial session is the only way to know without guessing a delay. Each attempt is a
 * client with that pid in its auth: a failed one gets a fresh session and leaves the kept one
 * alone; the successful one takes it over (its old sid). socket.io-client computes `recovered`
 * from its own pid only, so the sid is what tells.
 */
async function untilRecoverable(gw, probe, timeout = ms(15000)) {
	const deadline = Date.now() + timeout;
	for (;;) {
		const s = client(`${gw.url}/chat`, { ...WS, auth: { pid: probe.pid } });
		await connected(s);
		const took = s.id === probe.sid;
		s.disconnect();
		if (took)
			return;
		if (Date.now() > deadline)
			throw new Error(`${gw.name} never recovered the probe session (sid ${probe.sid}) within ${timeout} ms`);
		await sleep(100);
	}
}

/**
 * Waits until replica `b` has read the sessions topic past `kept`, the session record of a
 * client dropped on `a`: a probe session dropped on `a` after it is written after it in the
 * (one-partition) topic, and `b` can recover the probe (see untilRecoverable()).
 */
async function untilLoadedPast(bootstrap, a, b, kept) {
	const probe = client(`${a.url}/chat`, WS);
	await connected(probe);
	const probeSession = { pid: probe._pid, sid: probe.id };
	probe.io.engine.close(); // client() does not reconnect: the session stays behind
	const probeRec = await waitSession(bootstrap, probeSession.pid);
	assert.ok(probeRec.partition === kept.partition && probeRec.offset > kept.offset,
		'the probe\'s session record follows the client\'s in the (one-partition) topic');
	await untilRecoverable(b, probeSession);
}

/** Values { t, p, n } produced to `topic`, keyed by `room`, in partition `p`, with Kafka `headers` if given. */
function producer(bootstrap) {
	return (topic, room, p, n, headers) =>
		produce(bootstrap, topic, JSON.stringify({ t: topic, p, n, room }), { key: room, partition: p, headers });
}

/**
 * After the client reconnected on its own (its 'connect' was awaited): if the gateway had
 * told it "io server disconnect" (which stops socket.io-client's own reconnection), the
 * handler below has already called connect(); either way `socket` is connected now.
 */
function reconnectEvenIfTold(socket) {
	socket.on('disconnect', (reason) => {
		if (reason === 'io server disconnect')
			socket.connect();
	});
}

/**
 * A client through `gate` that reconnects by itself, even after the gateway told it "io server
 * disconnect" (see reconnectEvenIfTold()), connected and in `rooms`.
 */
async function member(gate, ...rooms) {
	const s = reconnecting(gate);
	reconnectEvenIfTold(s);
	await connected(s);
	for (const room of rooms)
		assert.deepEqual(await call(s, 'join', room), OK);
	return s;
}

/** Points `gate` at gateway `gw` and waits (bounded) until `socket` has reconnected through it. */
async function backOn(gate, socket, gw) {
	const back = once(socket, 'connect', ms(10000));
	gate.to(gw.port);
	await back;
}

/**
 * Runs `test` against a mock cluster of its own with `topics` ("name:partitions", each feeding
 * the rooms of /chat) and the sessions topic, and a Gate in front of the gateways; `recovery`
 * overrides keys of the namespace's recovery object and `broker` adds keys to the broker's (see
 * config()). `test` gets:
 *   mock, gate, cfg (see config()), put (see producer());
 *   start(name, port): a gateway with the Kafka plugin (on `port` when given: a restart on the
 *     same address), ready (/readyz 200, which also means that it has read the sessions topic
 *     to its end);
 *   subscriber(gw, topic, room): a member() of `room` sent through the gate to `gw`, once it
 *     has got record 0 of `topic`/0 there, as { s, got (see records()), id, pid }.
 * Whatever happens, closes the clients and the gate, then stops every gateway that start()
 * launched and still runs (see stopGateways()), then the cluster.
 */
async function withCluster(topics, test, { recovery, broker } = {}) {
	const mock = await new KafkaMock().start();
	let gate;
	const gws = [];
	try {
		gate = await new Gate().start();
		await mock.topics(...topics, `${SESSIONS}:1`);
		const cfg = config(mock.bootstrap, topics.map((t) => t.split(':')[0]), recovery, broker);
		const put = producer(mock.bootstrap);
		const start = async (name, port) => {
			const gw = await startDaemon(cfg, { port, name, env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
			// Remembered before it is ready: one that never gets there is still stopped.
			gws.push(gw);
			await waitReady(gw);
			return gw;
		};
		const subscriber = async (gw, topic, room) => {
			gate.to(gw.port);
			const s = await member(gate, room);
			const got = records(s);
			await put(topic, room, 0, 0);
			await until(() => got.length === 1, 'the first record', ms(8000));
			return { s, got, id: s.id, pid: s._pid };
		};
		return await test({ mock, gate, cfg, put, start, subscriber });
	} finally {
		closeClients();
		gate?.close();
		try {
			await stopGateways(...gws);
		} finally {
			await mock.stop();
		}
	}
}

describe('connection state recovery across gateways (sessions in Kafka)', { skip }, () => {
	it('restart: SIGTERM persists the session; the restarted gateway gives back id, room and the 5 missed records, then new ones', T(60000), async () => {
		await withCluster(['rk1.out:1'], async ({ mock, gate, put, start, subscriber }) => {
			const a = await start('siogate-rk1-a');
			const { s, got, id, pid } = await subscriber(a, 'rk1.out', 'r1');
			assert.equal(typeof pid, 'string', 'recovery is on: the client has a pid');
			assert.equal(s.recovered, false);

			// SIGTERM: the drain persists the socket's session before the process exits. The
			// gate holds the client's reconnection attempts until the successor is ready.
			gate.to(null);
			const dropped = once(s, 'disconnect', ms(8000));
			await a.stop(); // throws unless exit code 0
			await dropped;
			const [kept] = await sessionRecords(mock.bootstrap, pid);
			assert.ok(kept && kept.session, `the session of pid ${pid} is in ${SESSIONS} once the gateway has exited`);
			assert.equal(kept.session.v, 1);
			assert.equal(kept.session.namespace, '/chat');
			assert.equal(kept.session.pid, pid);
			assert.equal(kept.session.sid, id);
			assert.ok(kept.session.rooms.includes('r1'), `rooms: ${JSON.stringify(kept.session.rooms)}`);
			assert.equal(kept.session.positions['rk1.out/0'], 1, `positions: ${JSON.stringify(kept.session.positions)}`);
			assert.ok(kept.session.expires > kept.session.time, JSON.stringify(kept.session));

			for (let n = 1; n <= 5; n++)
				await put('rk1.out', 'r1', 0, n);

			const b = await start('siogate-rk1-b', a.port);
			const back = once(s, 'connect', ms(10000));
			gate.to(b.port);
			await back;
			assert.equal(s.recovered, true, 'the client reports the recovery');
			assert.equal(s.id, id, 'the same id');
			await until(() => got.length === 6, 'the 5 missed records', ms(8000));
			// A new record, after the replayed ones, and the room is back without a join.
			await put('rk1.out', 'r1', 0, 6);
			await until(() => got.length >= 7, 'the new record', ms(8000));
			await sleep(ms(500));
			assert.deepEqual(got.map((r) => r.value.n), [0, 1, 2, 3, 4, 5, 6], 'each once, in order');
			assert.deepEqual(got.map((r) => r.kafka), [0, 1, 2, 3, 4, 5, 6], 'the offsets name the Kafka offsets');
			assertOffsets(got);
			assert.ok((await metricValue(b, 'siogate_recovery_sessions_restored_total')) >= 1, 'counted as restored');
		});
	});

	it('two replicas: a client dropped on A comes back on B with its id, its room and the 5 records it missed', T(60000), async () => {
		await withCluster(['rk2.out:1'], async ({ mock, gate, put, start, subscriber }) => {
			const a = await start('siogate-rk2-a');
			const b = await start('siogate-rk2-b');
			const { s, got, id, pid } = await subscriber(a, 'rk2.out', 'r2');
			const persisted = await metricValue(a, 'siogate_recovery_sessions_persisted_total');
			const restored = await metricValue(b, 'siogate_recovery_sessions_restored_total');

			// The transport drops (as in a network failure); its attempts go nowhere for now.
			gate.to(null);
			s.io.engine.close();
			for (let n = 1; n <= 5; n++)
				await put('rk2.out', 'r2', 0, n);
			const kept = await waitSession(mock.bootstrap, pid);
			assert.equal(kept.session.sid, id);
			assert.ok(kept.session.rooms.includes('r2'), `rooms: ${JSON.stringify(kept.session.rooms)}`);
			await until(async () => (await metricValue(a, 'siogate_recovery_sessions_persisted_total')) >= persisted + 1,
				'A to count the session persisted', ms(5000));

			// B has been reading the sessions topic all along; a probe session dropped after
			// the client's tells when B has got that far.
			await untilLoadedPast(mock.bootstrap, a, b, kept);

			await backOn(gate, s, b);
			assert.equal(s.recovered, true, 'the client reports the recovery');
			assert.equal(s.id, id, 'the same id, on another process');
			await until(() => got.length === 6, 'the 5 missed records', ms(8000));
			await put('rk2.out', 'r2', 0, 6);
			await until(() => got.length >= 7, 'a new record on B', ms(8000));
			await sleep(ms(500));
			assert.deepEqual(got.map((r) => r.value.n), [0, 1, 2, 3, 4, 5, 6], 'each once, in order');
			assert.deepEqual(got.map((r) => r.kafka), [0, 1, 2, 3, 4, 5, 6]);
			assertOffsets(got);
			assert.ok((await metricValue(b, 'siogate_recovery_sessions_restored_total')) >= restored + 1, 'B counts it restored');
		});
	});

	it('two topics of 4 partitions: every missed record once, in order within its partition, before new ones', T(90000), async () => {
		const TOPICS = { 'rk3.a': 'ra', 'rk3.b': 'rb' };
		const PARTS = [0, 1, 2, 3];
		const LIVE_P = 1; // the partition of each topic that gets a new record after the recovery
		await withCluster(['rk3.a:4', 'rk3.b:4'], async ({ gate, put, start }) => {
			// Partitions are produced to in parallel, each in its own order.
			const spread = (room, ns, { other = false } = {}) => Promise.all(Object.entries(TOPICS).flatMap(([t, r]) =>
				PARTS.map(async (p) => {
					for (const n of ns) {
						await put(t, room ?? r, p, n);
						if (other)
							await put(t, 'elsewhere', p, -n);
					}
				})));
			const a = await start('siogate-rk3-a');
			gate.to(a.port);
			const s = await member(gate, 'ra', 'rb');
			const got = records(s);
			// Delivered before the restart, on every partition: none of these may come again.
			await spread(undefined, [0]);
			await until(() => got.length === 8, 'the first record of each partition', ms(10000));
			const id = s.id;

			gate.to(null);
			await a.stop();
			// Missed: 3 per partition, interleaved with records for a room the client is not in.
			await spread(undefined, [1, 2, 3], { other: true });

			const b = await start('siogate-rk3-b', a.port);
			// New records produced the moment the client is back, while the replay may still
			// run: they must come after every replayed one, and once.
			let live;
			s.once('connect', () => {
				live = Promise.all(Object.keys(TOPICS).map((t) => put(t, TOPICS[t], LIVE_P, 4)));
			});
			const back = once(s, 'connect', ms(10000));
			gate.to(b.port);
			await back;
			assert.equal(s.recovered, true);
			assert.equal(s.id, id);
			await live;
			await until(() => got.length >= 8 + 24 + 2, 'the 24 missed records and the 2 new ones', ms(15000));
			await sleep(ms(500));
			assertOffsets(got);
			assert.equal(got.length, 8 + 24 + 2, `nothing twice, nothing for other rooms: ${JSON.stringify(got.map((r) => r.value))}`);
			for (const [t, room] of Object.entries(TOPICS)) {
				for (const p of PARTS) {
					const here = got.filter((r) => r.value.t === t && r.value.p === p);
					assert.deepEqual(here.map((r) => r.value.n), p === LIVE_P ? [0, 1, 2, 3, 4] : [0, 1, 2, 3],
						`${t}/${p}: each once, in order`);
					assert.ok(here.every((r) => r.value.room === room));
					const offs = here.map((r) => r.kafka);
					assert.deepEqual(offs, [...offs].sort((x, y) => x - y), `${t}/${p}: Kafka offsets ascending`);
				}
			}
			const firstNew = got.findIndex((r) => r.value.n === 4);
			const lastMissed = got.findLastIndex((r) => r.value.n >= 1 && r.value.n <= 3);
			assert.ok(firstNew > lastMissed, `the new records after every replayed one (new at ${firstNew}, replayed up to ${lastMissed})`);
		});
	});

	// A crash (SIGKILL) gives no drain: what the gateway had not produced to the sessions
	// topic is lost. The guarantee is: a session produced before the crash (the client had
	// dropped, and its session record is in the topic) is recovered by the next gateway with
	// nothing lost, replayed from the positions it was persisted with, also the records the
	// crashed gateway had consumed meanwhile; a client still connected at the moment of the
	// crash was never persisted, and gets a fresh session (new id, no rooms, recovered false).
	it('crash: a session persisted before SIGKILL is recovered, nothing lost; a socket connected at the crash starts afresh', T(60000), async () => {
		await withCluster(['rk4.out:1'], async ({ mock, gate, put, start }) => {
			const a = await start('siogate-rk4-a');
			gate.to(a.port);
			const dropped = await member(gate, 'r4');
			const live = await member(gate, 'r4');
			const gotDropped = records(dropped);
			const gotLive = records(live);
			await put('rk4.out', 'r4', 0, 0);
			await until(() => gotDropped.length === 1 && gotLive.length === 1, 'the first record, on both', ms(8000));
			const ids = { dropped: dropped.id, live: live.id };
			const livePid = live._pid;

			gate.to(null);
			dropped.io.engine.close();
			await waitSession(mock.bootstrap, dropped._pid);
			// Consumed by A after the drop (the connected client has them): in A's memory only.
			await put('rk4.out', 'r4', 0, 1);
			await put('rk4.out', 'r4', 0, 2);
			await until(() => gotLive.length === 3, 'A consumed 2 more records', ms(8000));

			const gone = once(live, 'disconnect', ms(8000));
			await a.kill(); // SIGKILL
			await gone;
			for (let n = 3; n <= 5; n++)
				await put('rk4.out', 'r4', 0, n);
			assert.deepEqual(await sessionRecords(mock.bootstrap, livePid), [], 'a connected socket was never persisted');

			const b = await start('siogate-rk4-b', a.port);
			const backs = [once(dropped, 'connect', ms(10000)), once(live, 'connect', ms(10000))];
			gate.to(b.port);
			await Promise.all(backs);
			assert.equal(dropped.recovered, true, 'the persisted session is recovered');
			assert.equal(dropped.id, ids.dropped);
			assert.equal(live.recovered, false, 'the socket connected at the crash gets a fresh session');
			assert.notEqual(live.id, ids.live);
			await until(() => gotDropped.length === 6, 'the 5 records missed since the drop', ms(8000));
			await put('rk4.out', 'r4', 0, 6);
			await until(() => gotDropped.length >= 7, 'a new record', ms(8000));
			await sleep(ms(500));
			assert.deepEqual(gotDropped.map((r) => r.value.n), [0, 1, 2, 3, 4, 5, 6], 'nothing lost, nothing twice');
			assertOffsets(gotDropped);
			assert.deepEqual(gotLive.map((r) => r.value.n), [0, 1, 2], 'the fresh socket is in no room: nothing replayed, nothing new');
		});
	});

	it('tombstone: a recovered session is deleted from the topic; its pid then gives a fresh session elsewhere', T(60000), async () => {
		await withCluster(['rk5.out:1'], async ({ mock, gate, put, start, subscriber }) => {
			const a = await start('siogate-rk5-a');
			const { s, got, id, pid } = await subscriber(a, 'rk5.out', 'r5');

			gate.to(null);
			await a.stop();
			await put('rk5.out', 'r5', 0, 1);
			const b = await start('siogate-rk5-b', a.port);
			const back = once(s, 'connect', ms(10000));
			gate.to(b.port);
			await back;
			assert.equal(s.recovered, true);
			assert.equal(s.id, id);
			await until(() => got.length === 2, 'the missed record', ms(8000));
			const lastOffset = got[1].offset;

			// The recovery tombstones the session: a null value with its pid as key, after it.
			const tomb = await waitRecord(mock.bootstrap, SESSIONS, (r) => r.key === pid && r.payload === null,
				`a tombstone for pid ${pid}`, ms(10000));
			const all = await sessionRecords(mock.bootstrap, pid);
			assert.ok(all.length >= 2, JSON.stringify(all));
			assert.ok(all[0].session, 'first the session');
			assert.equal(all[all.length - 1].session, null, 'the tombstone is the last word on that pid');
			assert.equal(all[all.length - 1].offset, tomb.offset);

			// A gateway that reads the topic now (ready: loaded to its end) knows the session is
			// gone: the same pid and offset in a CONNECT auth give a fresh session. (The client
			// stays connected on B meanwhile: a drain of B would persist it anew, legitimately.)
			const c = await start('siogate-rk5-c');
			const again = client(`${c.url}/chat`, { ...WS, auth: { pid, offset: lastOffset } });
			await connected(again);
			assert.notEqual(again.id, id, 'a fresh id');
			assert.notEqual(again._pid, pid, 'a fresh pid');
			assert.equal(again.recovered, false);
			// And no rooms: a record to r5 reaches the recovered client on B, not this one.
			// A marker to a room of its own, after it in the same partition, tells when C has
			// delivered everything before it.
			assert.deepEqual(await call(again, 'join', 'mark5'), OK);
			const gotAgain = records(again);
			await put('rk5.out', 'r5', 0, 2);
			await put('rk5.out', 'mark5', 0, 'marker');
			await until(() => gotAgain.some((r) => r.value.n === 'marker'), 'the marker on C', ms(8000));
			await until(() => got.length === 3, 'the new record on B', ms(8000));
			assert.deepEqual(gotAgain.map((r) => r.value.n), ['marker'], 'not in r5');
		});
	});

	// What Kafka replays is what the socket's rooms would have had live, less what Node does not
	// replay either: volatile records, and records that ask clients for answers (a question is
	// for those there when it is asked). An observer in the room on B, connected all along, gets
	// them live: they are well-formed, so their absence from the replay is the replay's doing.
	// It also tells when B has consumed them all: the replay then ends after them, and none of
	// them can reach the recovered client live instead.
	it('not replayed from Kafka: volatile records, records that ask clients for answers, records for rooms it is not in', T(60000), async () => {
		await withCluster(['rk6.out:1'], async ({ mock, gate, put, start, subscriber }) => {
			const REPLIES = 'rk6.replies';
			await mock.topics(REPLIES);
			const a = await start('siogate-rk6-a');
			const b = await start('siogate-rk6-b');
			const { s, got, id, pid } = await subscriber(a, 'rk6.out', 'r6');
			const observer = client(`${b.url}/chat`, WS);
			await connected(observer);
			assert.deepEqual(await call(observer, 'join', 'r6'), OK);
			const live = [];
			observer.on('message', (...args) => {
				const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
				ack?.('seen');
				// n=0 went out before the observer joined, but a loaded B may hand it over only
				// now: it is not what this observer is here to see.
				if (args[0]?.n !== 0)
					live.push({ n: args[0]?.n, args: args.length, asked: ack !== null });
			});

			gate.to(null);
			s.io.engine.close();
			const kept = await waitSession(mock.bootstrap, pid);
			assert.ok(kept.session.rooms.includes('r6'), `rooms: ${JSON.stringify(kept.session.rooms)}`);
			// One after the other: this order in the partition.
			await put('rk6.out', 'r6', 0, 1);
			await put('rk6.out', 'r6', 0, 2, { 'sio-volatile': 'true' });
			await put('rk6.out', 'r6', 0, 3, { 'sio-reply-to': REPLIES, 'sio-ack-id': 'q1' });
			await put('rk6.out', 'other', 0, 4);
			await put('rk6.out', 'r6', 0, 5);
			await until(() => live.some((r) => r.n === 5), 'the records live on B', ms(8000));
			// Only a delivery that is neither volatile nor a question carries an offset.
			assert.deepEqual(live, [
				{ n: 1, args: 2, asked: false },
				{ n: 2, args: 1, asked: false },
				{ n: 3, args: 1, asked: true },
				{ n: 5, args: 2, asked: false },
			], 'live on B: the volatile record, then the question (with an ack)');

			await untilLoadedPast(mock.bootstrap, a, b, kept);
			await backOn(gate, s, b);
			assert.equal(s.recovered, true, 'the client reports the recovery');
			assert.equal(s.id, id);
			await until(() => got.some((r) => r.value?.n === 5), 'the replayed record n=5', ms(8000));
			await put('rk6.out', 'r6', 0, 6);
			await until(() => got.some((r) => r.value?.n === 6), 'a new record on B', ms(8000));
			await sleep(ms(500));
			assert.deepEqual(got.map((r) => r.value?.n), [0, 1, 5, 6],
				`only the plain records of r6, once, in order: ${JSON.stringify(got.map((r) => r.args))}`);
			assert.deepEqual(got.map((r) => r.kafka), [0, 1, 5, 6]);
			assertOffsets(got);
		});
	});

	// A session kept in Kafka stops being recoverable at its `expires`, wherever the client
	// comes back. B starts once the session record is in the topic, so it has loaded it when
	// ready: what it refuses is the session's age, not a session it never saw.
	it('an expired session gives a fresh session on another gateway', T(60000), async () => {
		await withCluster(['rk7.out:1'], async ({ mock, gate, put, start, subscriber }) => {
			const a = await start('siogate-rk7-a');
			const { s, got, id, pid } = await subscriber(a, 'rk7.out', 'r7');

			gate.to(null);
			s.io.engine.close();
			const kept = await waitSession(mock.bootstrap, pid);
			assert.equal(kept.session.expires - kept.session.time, 1000, 'kept for max_disconnection_ms');
			await sleep(ms(1500));
			const b = await start('siogate-rk7-b');
			assert.ok((await counter(b, 'sessions_loaded')) >= 1, 'B has read the session record');
			assert.ok(Date.now() > kept.session.expires, `expired by now (expires ${kept.session.expires})`);

			await backOn(gate, s, b);
			assert.equal(s.recovered, false, 'the client reports a fresh session');
			assert.notEqual(s.id, id, 'a fresh id');
			assert.notEqual(s._pid, pid, 'a fresh pid');
			// And no rooms: a record to r7 does not reach it. A marker to a room it joins now,
			// after that record in the same partition, tells when B has delivered everything
			// before it.
			assert.deepEqual(await call(s, 'join', 'mark7'), OK);
			await put('rk7.out', 'r7', 0, 1);
			await put('rk7.out', 'mark7', 0, 'marker');
			await until(() => got.some((r) => r.value?.n === 'marker'), 'the marker', ms(8000));
			assert.deepEqual(got.map((r) => r.value?.n), [0, 'marker'], 'not in r7 any more');
			assert.equal(await metricValue(b, 'siogate_recovery_sessions_restored_total'), 0, 'B restored nothing');
		}, { recovery: { max_disconnection_ms: 1000 } });
	});

	// The sessions topic may hold records no gateway wrote (another writer, damage). Those
	// that are not sessions at all are skipped by each gateway's loader and counted; one shaped
	// like a session but with fields a gateway would not write is refused when a client asks
	// for it (it starts afresh) and counted. Neither stops the loader: a real session written
	// after them is recovered elsewhere.
	it('malformed session records: skipped by the loader or refused at recovery, counted; the rest still recovers', T(60000), async () => {
		await withCluster(['rk8.out:1'], async ({ mock, gate, start, subscriber }) => {
			const later = Date.now() + 60000;
			const notSessions = [
				['not JSON', { key: 'A'.repeat(20) }, 'not json'],
				['no expires', { key: 'B'.repeat(20) }, JSON.stringify({ namespace: '/chat' })],
				['a key longer than a pid', { key: 'x'.repeat(80) }, JSON.stringify({ namespace: '/chat', expires: later })],
				['no key', {}, JSON.stringify({ namespace: '/chat', expires: later })],
			];
			for (const [, opts, value] of notSessions)
				await produce(mock.bootstrap, SESSIONS, value, opts);
			// Shaped like a session of /chat, but its sid is not a socket id.
			const badPid = 'C'.repeat(20);
			await produce(mock.bootstrap, SESSIONS, JSON.stringify({
				namespace: '/chat', sid: 'short', rooms: ['r8'], claims: {}, expires: later, time: Date.now(),
			}), { key: badPid });

			const a = await start('siogate-rk8-a');
			assert.equal(await counter(a, 'sessions_malformed'), notSessions.length,
				`A skipped the ${notSessions.length} records that are not sessions, and only those`);
			const { s, got, id, pid } = await subscriber(a, 'rk8.out', 'r8');
			gate.to(null);
			s.io.engine.close();
			await waitSession(mock.bootstrap, pid);

			// B reads the whole topic before it is ready: the bad records, then A's session.
			const b = await start('siogate-rk8-b');
			assert.equal(await counter(b, 'sessions_malformed'), notSessions.length, 'B skipped the same ones');
			await backOn(gate, s, b);
			assert.equal(s.recovered, true, 'the real session is recovered past the bad records');
			assert.equal(s.id, id);
			assert.deepEqual(got.map((r) => r.value.n), [0]);

			// The session-shaped one: a client asking for it starts afresh, and B counts it.
			assert.equal(await metricValue(b, 'siogate_recovery_sessions_malformed_total'), 0);
			const forged = client(`${b.url}/chat`, { ...WS, auth: { pid: badPid, offset: 'x.0~rk8.out/0/0' } });
			await connected(forged);
			assert.equal(forged.recovered, false, 'a fresh session');
			assert.notEqual(forged.id, 'short');
			assert.equal(await metricValue(b, 'siogate_recovery_sessions_malformed_total'), 1, 'refused as malformed');
			assert.equal(await metricValue(b, 'siogate_recovery_sessions_restored_total'), 1, 'only the real one restored');
		});
	});

	// A Kafka outage between a restart and the client's return. The recovery needs no broker
	// (the session is in B's table), the replay of what the client missed does: it waits for
	// the brokers within its deadline (sessions.c REPLAY_TIMEOUT_MS, 10 s from the recovered
	// CONNECT), then is cut and counted; the client, already told it is recovered, stays
	// connected in its rooms and goes on live without the missed records. B serves
	// throughout and, with the cluster back, is ready and delivers again. Under valgrind B
	// must exit clean too: the replayer does not assign partitions while every broker is down
	// (librdkafka 2.0.2 leaks such an assignment once it is taken back unfetched).
	it('a Kafka outage during the replay: cut at its deadline and counted; the client stays recovered, live, without the missed records; the gateway serves throughout', T(120000), async () => {
		const REPLAY_TIMEOUT_MS = 10000;
		await withCluster(['rk9.out:1'], async ({ mock, gate, put, start, subscriber }) => {
			const a = await start('siogate-rk9-a');
			const { s, got, id, pid } = await subscriber(a, 'rk9.out', 'r9');
			gate.to(null);
			const dropped = once(s, 'disconnect', ms(8000));
			await a.stop();
			await dropped;
			for (let n = 1; n <= 5; n++)
				await put('rk9.out', 'r9', 0, n);
			const b = await start('siogate-rk9-b', a.port);
			assert.ok((await counter(b, 'sessions_loaded')) >= 1, 'B has read the session record');

			await mock.down();
			try {
				assert.deepEqual(await waitReady(b, { status: 503, timeout: ms(15000) }),
					{ status: 'not ready', reason: "bridge 'main': all Kafka brokers are down" });
				let disconnects = 0;
				s.on('disconnect', () => disconnects++);
				const t0 = performance.now(); // before B can see the CONNECT
				await backOn(gate, s, b);
				assert.equal(s.recovered, true);
				assert.equal(s.id, id);
				assert.equal(s._pid, pid);
				assert.equal(await counter(b, 'session_replays'), 1, 'a replay from Kafka was started');
				assert.equal(await counter(b, 'session_replays_cut'), 0, 'not cut before its deadline');

				// B serves meanwhile: /healthz, and a new client that joins the room.
				assert.equal((await httpGet(`${b.url}/healthz`)).status, 200);
				const other = client(`${b.url}/chat`, WS);
				await connected(other);
				assert.deepEqual(await call(other, 'join', 'r9'), OK);
				assert.deepEqual(await call(other, 'join', 'probe9'), OK);
				const gotOther = records(other);

				await until(async () => (await counter(b, 'session_replays_cut')) >= 1, 'the replay to be cut',
					ms(REPLAY_TIMEOUT_MS + 15000));
				const elapsed = performance.now() - t0;
				assert.ok(elapsed >= REPLAY_TIMEOUT_MS - 500, `cut at its deadline, not after ${Math.round(elapsed)} ms`);
				await b.waitLog(new RegExp(`the replay to ${id.replace(/[^A-Za-z0-9]/g, '\\$&')} ends before its end ` +
					'\\(the Kafka brokers stayed down\\): 0 record\\(s\\) fetched'), ms(3000));
				assert.equal(await counter(b, 'session_replayed_records'), 0);
				assert.equal(s.connected, true, 'the recovered client is still connected');
				assert.equal(disconnects, 0, 'and was never dropped');
				assert.deepEqual(got.map((r) => r.value.n), [0], 'the missed records are not delivered');
				assert.deepEqual(await call(s, 'join', 'after-cut'), OK, 'the socket is released: a round trip works');

				await mock.up();
				await waitReady(b, { timeout: ms(30000) });
				// Consumption has resumed once a probe to the other client's own room arrives.
				const probed = () => gotOther.some((r) => r.value.room === 'probe9');
				const deadline = Date.now() + ms(15000);
				for (let k = 0; !probed(); k++) {
					if (Date.now() > deadline)
						throw new Error('no probe delivered after the cluster came back');
					await put('rk9.out', 'probe9', 0, `probe ${k}`);
					await until(probed, 'a probe', ms(700)).catch(() => {});
				}
				await put('rk9.out', 'r9', 0, 6);
				await until(() => got.some((r) => r.value.n === 6) && gotOther.some((r) => r.value.n === 6),
					'record 6 on both clients', ms(15000));
				await sleep(ms(300));
				assert.deepEqual(got.map((r) => r.value.n), [0, 6], 'live again, in r9 without a join; 1-5 lost to the cut');
				assert.equal(disconnects, 0);
				assert.equal(await counter(b, 'session_replays_cut'), 1, 'one cut');
				// The recovered session's tombstone, produced during the outage, lands once the
				// cluster is back (within delivery_timeout_ms).
				await waitRecord(mock.bootstrap, SESSIONS, (r) => r.key === pid && r.payload === null,
					`a tombstone for pid ${pid}`, ms(15000));
				assert.equal(await counter(b, 'sessions_failed'), 0);
			} finally {
				await mock.up(); // a gateway stops sooner with its cluster there
			}
		}, { broker: { delivery_timeout_ms: ms(120000) } });
	});

	it('--check-config: sessions_topic is refused on a namespace without a Kafka bridge', T(30000), async () => {
		const env = { SIOGATE_PLUGIN_PATH: [PLUGIN_PATH, MQTT_PLUGIN_DIR].join(':') };
		const recovery = { max_disconnection_ms: 60000, sessions_topic: SESSIONS };
		const accepted = await checkConfig(config('127.0.0.1:1', ['a']), { env });
		assert.equal(accepted.code, 0, `a Kafka namespace takes it: ${accepted.stderr}`);
		assert.match(accepted.stdout, /configuration is valid/);

		const refused = [
			['the local bridge', { namespaces: [{ name: '/x', recovery, bridge: { type: 'local', to_clients: [{ topic: 'a' }] } }] }],
			['no bridge', { namespaces: [{ name: '/x', recovery }] }],
		];
		if (fs.existsSync(path.join(MQTT_PLUGIN_DIR, 'mqtt.so')))
			refused.push(['the MQTT bridge', {
				brokers: { m: { type: 'mqtt' } },
				namespaces: [{ name: '/x', recovery, bridge: { broker: 'm', to_clients: [{ topic: 'a/{room}' }] } }],
			}]);
		for (const [what, cfg] of refused) {
			const r = await checkConfig(cfg, { env });
			assert.notEqual(r.code, 0, `${what}: accepted (${r.stdout})`);
			assert.match(r.stderr, /namespaces\[0\]\.recovery\.sessions_topic/, `${what}: ${r.stderr}`);
			// Without the key, the same namespace is fine: the refusal is the key's.
			const without = structuredClone(cfg);
			delete without.namespaces[0].recovery.sessions_topic;
			const ok = await checkConfig(without, { env });
			assert.equal(ok.code, 0, `${what} without sessions_topic: ${ok.stderr}`);
		}
	});
});
