// mqtt-restart.test.mjs - the MQTT bridge when the broker goes away: /readyz reports it, sockets
// keep working, QoS 0 events are refused at once, QoS 1 events wait and are delivered after the
// restart (or answered with an error after delivery_timeout_ms), subscriptions come back, a
// restart in the middle of a steady run loses nothing that was acked, and SIGTERM with the
// broker down answers every open ack and exits cleanly (valgrind-clean with SG_VALGRIND=1).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { HOST, T, call, collect, connect, ms, readyz, serverHooks, sleep, stopGatewayAndBroker } from './harness.mjs';
import { Broker, Subscriber, mqttSkipReason, startMqttDaemon, waitReady } from './mqtt-harness.mjs';

const skip = mqttSkipReason();

let broker;
let gw;

const config = (port) => ({
	brokers: {
		main: { type: 'mqtt', host: HOST, port, reconnect_min_ms: 100, reconnect_max_ms: 400 },
		short: { type: 'mqtt', host: HOST, port, reconnect_min_ms: 100, reconnect_max_ms: 400, delivery_timeout_ms: ms(600) },
	},
	namespaces: [
		{
			name: '/chat',
			rooms: { client_join: true },
			bridge: {
				broker: 'main',
				// A relay: what a client says in a room comes back to the room through the broker.
				to_clients: [{ topic: 'relay/{room}' }],
				from_clients: [
					{ event: 'say', topic: 'relay/{room}' },
					{ event: 'q0', topic: 'up/q0', qos: 0 },
					{ event: 'log', topic: 'log/{nsp}' },
				],
			},
		},
		{
			name: '/short',
			bridge: { broker: 'short', from_clients: [{ event: '*', topic: 'short/{event}' }] },
		},
	],
});

serverHooks(async () => {
	if (skip)
		return;
	broker = await new Broker({ persistence: true }).start();
	gw = await startMqttDaemon(config(broker.port));
}, () => stopGatewayAndBroker(gw, () => broker?.kill()));

/** Resolves with { value } or { error } of a promise, without throwing. */
const settled = (p) => p.then((value) => ({ value }), (error) => ({ error }));

describe('mqtt bridge: broker outages', { skip }, () => {
	it('a crash: not ready, sockets keep working, QoS 0 refused, QoS 1 delivered after the restart', T(30000), async () => {
		const a = await connect(`${gw.url}/chat`, { transports: ['websocket'] });
		assert.deepEqual(await call(a, 'join', 'r1'), [{ ok: true }]);
		const got = collect(a, 'say');

		await broker.kill();
		const down = await waitReady(gw, { status: 503 });
		// Both bridges use this broker: /readyz names whichever noticed first.
		assert.match(down.reason, /bridge '(main|short)': .*MQTT broker/);

		// Sockets keep working: a new client connects and joins rooms.
		const b = await connect(`${gw.url}/chat`, { transports: ['websocket'] });
		assert.deepEqual(await call(b, 'join', 'r1'), [{ ok: true }]);
		const gotB = collect(b, 'say');

		assert.deepEqual(await call(a, 'q0', 1), [{ ok: false, error: 'not connected to the MQTT broker', topic: 'up/q0' }]);

		// QoS 1: accepted now, acked once the broker has them.
		let answered = 0;
		const acks = [1, 2, 3, 4, 5].map((n) => settled(call(a, 'say', { room: 'r1', n })).finally(() => answered++));
		await sleep(ms(300));
		assert.equal(answered, 0, 'no ack before the broker confirms');

		await broker.start();
		for (const r of await Promise.all(acks))
			assert.deepEqual(r.value, [{ ok: true, topic: 'relay/r1', qos: 1 }], JSON.stringify(r.error?.message ?? r.value));
		await waitReady(gw);
		// Resubscribed before the queued messages went out: they come back to the room.
		const deadline = Date.now() + ms(5000);
		while ((got.length < 5 || gotB.length < 5) && Date.now() < deadline)
			await sleep(20);
		assert.deepEqual(got.map(([m]) => m.n).sort(), [1, 2, 3, 4, 5]);
		assert.deepEqual(gotB.map(([m]) => m.n).sort(), [1, 2, 3, 4, 5]);
		assert.match(gw.log(), /bridge 'main': lost the connection to the MQTT broker/);
		assert.match(gw.log(), /bridge 'main': connected to .* after retrying/);
	});

	it('a message not confirmed within delivery_timeout_ms gets an error ack', T(30000), async () => {
		const s = await connect(`${gw.url}/short`, { transports: ['websocket'] });
		await broker.kill();
		await waitReady(gw, { status: 503 });
		const t0 = Date.now();
		const [res] = await call(s, 'late', 1);
		assert.deepEqual(res, { ok: false, error: `the MQTT broker did not confirm the message within ${ms(600)} ms`, topic: 'short/late' });
		assert.ok(Date.now() - t0 >= ms(500), 'not before the timeout');
		await broker.start();
		await waitReady(gw);
		assert.deepEqual(await call(s, 'again', 2), [{ ok: true, topic: 'short/again', qos: 1 }]);
	});

	it('a restart in the middle of a steady run loses nothing that was acked', T(40000), async () => {
		// The backend: a persistent session, so that what the broker accepted while it was away
		// is kept for it (the broker saves its state when it stops).
		const id = `backend-${process.pid}`;
		const subs = [await new Subscriber(broker, 'log/#', { id, persistent: true }).start()];
		const s = await connect(`${gw.url}/chat`, { transports: ['websocket'] });
		const N = 60;
		const acks = [];
		const run = (async () => {
			for (let i = 0; i < N; i++) {
				acks.push(settled(call(s, 'log', { i })));
				await sleep(ms(25));
			}
		})();
		await sleep(ms(400));
		await subs[0].stop();
		await broker.stop();
		await sleep(ms(300));
		await broker.start();
		subs.push(await new Subscriber(broker, 'log/#', { id, persistent: true }).start());
		await run;
		const results = await Promise.all(acks);
		const ok = new Set();
		results.forEach((r, i) => {
			assert.ok(r.value, `ack ${i}: ${r.error?.message}`);
			if (r.value[0].ok)
				ok.add(i);
		});
		assert.equal(ok.size, N, `every message was acked ok: ${JSON.stringify(results.filter((r) => !r.value?.[0]?.ok).map((r) => r.value))}`);
		const deadline = Date.now() + ms(10000);
		let received;
		for (;;) {
			received = new Set(subs.flatMap((x) => x.messages).map((m) => JSON.parse(m.payload)[0].i));
			const missing = [...ok].filter((i) => !received.has(i));
			if (!missing.length)
				break;
			if (Date.now() > deadline)
				assert.fail(`acked but never received by the backend: ${missing.join(', ')}`);
			await sleep(50);
		}
		for (const x of subs)
			await x.stop();
		assert.match(gw.log(), /bridge 'main': lost the connection/);
	});

	it('SIGTERM with the broker down answers every open ack with an error and exits 0', T(30000), async () => {
		const s = await connect(`${gw.url}/chat`, { transports: ['websocket'] });
		assert.deepEqual(await call(s, 'join', 'r1'), [{ ok: true }]); // a relay needs membership
		await broker.kill();
		await waitReady(gw, { status: 503 });
		const pending = settled(call(s, 'say', { room: 'r1', n: 99 }));
		await sleep(ms(100));
		const stopped = gw.stop(); // drain_timeout_ms is 2000 (the harness's default)
		const r = await pending;
		assert.deepEqual(r.value, [{ ok: false, error: 'the gateway is shutting down (the MQTT broker has not confirmed the message)', topic: 'relay/r1' }]);
		await stopped;
		assert.match(gw.log(), /1 upstream message\(s\) not confirmed by the broker at shutdown/);
		assert.equal((await readyz(gw).catch(() => ({ status: 'gone' }))).status, 'gone');
	});
});
