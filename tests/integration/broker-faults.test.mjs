// broker-faults.test.mjs - broker outages under steady traffic. Clients emit acked events at
// a steady rate, each with a unique id; the broker (the Kafka mock cluster, then mosquitto)
// goes away mid-stream and comes back. Every event acked {ok: true} must be at the broker
// (counted by id: at least once, duplicates reported), /readyz must answer 503 during the
// outage, downstream (broker -> room) must resume, and the daemon's memory must stay bounded
// while the broker is away.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	HOST, T, VALGRIND, call, closeClients, collect, connect, ms, sleep, stopGatewayAndBroker, until, vmRSS, waitReady,
} from './harness.mjs';
import { KafkaMock, consumeAll, kafkaSkipReason, produce, startKafkaDaemon } from './kafka-harness.mjs';
import { Broker, Subscriber, mqttSkipReason, pub, startMqttDaemon } from './mqtt-harness.mjs';

const CLIENTS = 4;
// Each client emits one acked event per PERIOD. STEP: traffic before the outage, the outage
// after /readyz turned 503, and traffic after it is back. Under valgrind these are stretched
// less than SCALE: the daemon only has to keep up with a slower stream.
const PERIOD = VALGRIND ? 200 : 40;
const STEP = VALGRIND ? 2500 : 1000;
const WS = { transports: ['websocket'] };

/**
 * Steady acked traffic: every PERIOD each socket emits `event` with { id } (unique). stop()
 * ends it and resolves, once every ack is in, with { ok: [ids], failed: [{ id, error }] }.
 */
function steady(sockets, event, tag) {
	let n = 0;
	const acks = [];
	const timer = setInterval(() => {
		for (const s of sockets) {
			const id = `${tag}-${n++}`;
			acks.push(new Promise((resolve) => s.timeout(ms(90000)).emit(event, { id }, (err, r) =>
				resolve({ id, r: err ? { ok: false, error: `no ack: ${err.message}` } : r }))));
		}
	}, PERIOD);
	return {
		get sent() {
			return n;
		},
		async stop() {
			clearInterval(timer);
			const all = await Promise.all(acks);
			return { ok: all.filter((a) => a.r.ok).map((a) => a.id), failed: all.filter((a) => !a.r.ok).map((a) => ({ id: a.id, error: a.r.error })) };
		},
	};
}

/**
 * CLIENTS sockets on /f, each in room lobby, sending steady() traffic (ids `tag`-N) for STEP
 * ms: { sockets, traffic, sentBeforeOutage }.
 */
async function startTraffic(gw, tag) {
	const sockets = await Promise.all(Array.from({ length: CLIENTS }, () => connect(`${gw.url}/f`, WS)));
	for (const s of sockets)
		assert.deepEqual(await call(s, 'join', 'lobby'), [{ ok: true }]);
	const traffic = steady(sockets, 'up', tag);
	await sleep(STEP);
	return { sockets, traffic, sentBeforeOutage: traffic.sent };
}

/** Asserts that every acked id is among `atBroker` (ids, with repeats); returns the figures. */
function checkNothingLost(acked, atBroker) {
	const count = new Map();
	for (const id of atBroker)
		count.set(id, (count.get(id) ?? 0) + 1);
	const missing = acked.ok.filter((id) => !count.has(id));
	assert.deepEqual(missing, [], `${missing.length} event(s) acked ok but not at the broker`);
	const duplicates = [...count.values()].filter((c) => c > 1).length;
	return { acked: acked.ok.length, failed: acked.failed.length, atBroker: atBroker.length, duplicates, lost: 0 };
}

/**
 * Sends `"after"` to room lobby through the broker (`send()`) until `socket` gets it as event
 * 'message' (the consumer or subscription may take a moment to come back), within `timeout`.
 */
async function downstreamResumes(socket, send, timeout) {
	const got = collect(socket, 'message');
	await until(async () => {
		await send();
		await sleep(ms(300));
		return got.length > 0;
	}, 'a message sent through the broker after the outage to reach the room', timeout);
	assert.deepEqual(got[0], ['after']);
}

/** Samples the daemon's RSS every 200 ms until stop(); stop() resolves with { first, max }. */
function rssSampler(gw) {
	const samples = [vmRSS(gw.child.pid)];
	const timer = setInterval(() => samples.push(vmRSS(gw.child.pid)), 200);
	return {
		stop() {
			clearInterval(timer);
			samples.push(vmRSS(gw.child.pid));
			return { first: samples[0], max: Math.max(...samples) };
		},
	};
}

/** Fails unless the RSS sampled while the broker was away stayed within 32 MB of its start. */
function assertBounded(rss, what) {
	if (!VALGRIND)
		assert.ok(rss.max - rss.first < 32 * 1024, `${what}: RSS grew from ${rss.first} to ${rss.max} kB during the outage`);
}

describe('kafka: the cluster goes down and comes back under steady traffic', { skip: kafkaSkipReason() }, () => {
	it('nothing acked is lost, /readyz 503 meanwhile, downstream resumes, memory bounded', T(150000), async () => {
		const mock = await new KafkaMock().start();
		let gw;
		try {
			await mock.topics('f.in', 'f.out');
			gw = await startKafkaDaemon({
				brokers: { main: { type: 'kafka', bootstrap_servers: mock.bootstrap, delivery_timeout_ms: ms(90000) } },
				namespaces: [{
					name: '/f',
					rooms: { client_join: true },
					bridge: { broker: 'main', to_clients: [{ topic: 'f.out' }], from_clients: [{ event: 'up', topic: 'f.in' }] },
				}],
			}, { name: 'siogate-kafka-faults' });
			const { sockets, traffic, sentBeforeOutage } = await startTraffic(gw, 'k');
			await mock.down();
			const rss = rssSampler(gw);
			let down;
			try {
				// librdkafka notices that every broker is down within its reconnect backoff.
				down = await waitReady(gw, { status: 503, timeout: ms(30000) });
				await sleep(STEP);
			} finally {
				await mock.up();
			}
			assertBounded(rss.stop(), 'kafka');
			assert.equal(down.reason, "bridge 'main': all Kafka brokers are down");
			await waitReady(gw, { timeout: ms(40000) });
			await sleep(STEP);
			const acked = await traffic.stop();
			assert.ok(traffic.sent > sentBeforeOutage + CLIENTS, 'traffic went on during the outage');

			const records = await consumeAll(mock.bootstrap, 'f.in');
			const figures = checkNothingLost(acked, records.map((r) => JSON.parse(r.payload)[0].id));
			process.stdout.write(`kafka outage: ${traffic.sent} sent, ${JSON.stringify(figures)}\n`);
			assert.ok(figures.acked > 0);

			// Downstream resumes: records keyed by the room reach its members again.
			await downstreamResumes(sockets[0], () => produce(mock.bootstrap, 'f.out', '"after"', { key: 'lobby' }), ms(30000));
		} finally {
			closeClients();
			await stopGatewayAndBroker(gw, () => mock.stop());
		}
	});
});

describe('mqtt: mosquitto stops and restarts under steady traffic', { skip: mqttSkipReason() }, () => {
	it('nothing acked is lost, /readyz 503 meanwhile, downstream resumes, memory bounded', T(120000), async () => {
		const broker = await new Broker({ persistence: true }).start();
		let gw;
		const subs = [];
		try {
			gw = await startMqttDaemon({
				brokers: { main: { type: 'mqtt', host: HOST, port: broker.port, reconnect_min_ms: 100, reconnect_max_ms: 400 } },
				namespaces: [{
					name: '/f',
					rooms: { client_join: true },
					bridge: { broker: 'main', to_clients: [{ topic: 'down/{room}' }], from_clients: [{ event: 'up', topic: 'faults/up' }] },
				}],
			}, { name: 'siogate-mqtt-faults' });
			// The backend: a persistent session, so what the broker took while it was away is kept.
			const id = `faults-backend-${process.pid}`;
			subs.push(await new Subscriber(broker, 'faults/up', { id, persistent: true }).start());
			const { sockets, traffic, sentBeforeOutage } = await startTraffic(gw, 'm');
			await subs[0].stop();
			await broker.stop();
			const rss = rssSampler(gw);
			const down = await waitReady(gw, { status: 503, timeout: ms(15000) });
			assert.match(down.reason, /^bridge 'main': /);
			await sleep(STEP);
			await broker.start();
			assertBounded(rss.stop(), 'mqtt');
			subs.push(await new Subscriber(broker, 'faults/up', { id, persistent: true }).start());
			await waitReady(gw, { timeout: ms(15000) });
			await sleep(STEP);
			const acked = await traffic.stop();
			assert.ok(traffic.sent > sentBeforeOutage + CLIENTS, 'traffic went on during the outage');

			const ids = () => subs.flatMap((x) => x.messages).map((m) => JSON.parse(m.payload)[0].id);
			await until(() => {
				const have = new Set(ids());
				return acked.ok.every((i) => have.has(i));
			}, 'every acked event to reach the backend', ms(15000)).catch(() => {});
			const figures = checkNothingLost(acked, ids());
			process.stdout.write(`mqtt outage: ${traffic.sent} sent, ${JSON.stringify(figures)}\n`);
			assert.ok(figures.acked > 0);

			// Downstream resumes: the gateway subscribed again.
			await downstreamResumes(sockets[0], () => pub(broker, 'down/lobby', '"after"'), ms(15000));
		} finally {
			closeClients();
			for (const x of subs)
				await x.stop();
			await stopGatewayAndBroker(gw, () => broker.kill());
		}
	});
});
