// mqtt.test.mjs - the MQTT bridge against Debian's mosquitto, with mosquitto_pub/_sub as the
// backend: rooms from topic levels, events from a level or the sio-event property, routing by
// user properties, wildcards, retained messages as last value on join (also on auto-join),
// upstream publishing with acks per QoS, room names escaped in topics, control commands, dead
// letters, the JSON envelope over MQTT 3.1.1, and config errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
	HOST, SRCDIR, T, bridgeCounters, call, client, closeClients, collect, connect, connected, ms, once, readyz, serverHooks,
	sleep, until,
} from './harness.mjs';
import { Broker, Subscriber, checkConfig, mqttSkipReason, pub, startMqttDaemon, waitCounter } from './mqtt-harness.mjs';

const skip = mqttSkipReason();

let broker;
let gw;
let url;
let backend; // a mosquitto_sub on every topic the gateway publishes to

const config = (port) => ({
	brokers: {
		main: { type: 'mqtt', host: HOST, port, reconnect_min_ms: 50, reconnect_max_ms: 1000 },
		// The same broker over MQTT 3.1.1 (port as a string, as "${PORT}" would give).
		old: { type: 'mqtt', host: HOST, port: String(port), protocol: '3.1.1', client_id: `siogate-it-311-${port}` },
	},
	namespaces: [
		{
			name: '/chat',
			rooms: { client_join: true, auto_join: ['{query.room}'] },
			bridge: {
				broker: 'main',
				to_clients: [
					{ topic: 'chat/{room}/out', retained_on_join: true },
					{ topic: 'ev/{room}/{event}', qos: 2 },
					{ topic: 'hdr/#', rooms: 'header', qos: 0 },
					{ topic: 'sensors/+/temp', rooms: 'all', event: 'temp' },
				],
				from_clients: [
					{ event: 'say', topic: 'up/{nsp}/{room}', rooms: '{room}', headers: { 'x-user': '{auth.user}' } },
					{ event: 'q0', topic: 'up/q0', qos: 0 },
					{ event: 'q2', topic: 'up/q2', qos: 2 },
					{ event: 'needs', topic: 'up/{query.missing}' },
					{ event: 'state', topic: 'chat/{room}/out', retain: true },
				],
				control_topic: 'ctl/chat',
				dead_letter_topic: 'dead/chat',
			},
		},
		{
			name: '/env',
			rooms: { client_join: true },
			bridge: {
				broker: 'old',
				envelope: true,
				to_clients: [{ topic: 'env/in' }],
				from_clients: [{ event: '*', topic: 'env/up/{event}' }],
				dead_letter_topic: 'dead/env',
			},
		},
	],
});

serverHooks(async () => {
	if (skip)
		return;
	broker = await new Broker().start();
	gw = await startMqttDaemon(config(broker.port));
	url = gw.url;
	backend = await new Subscriber(broker, ['up/#', 'dead/#', 'env/up/#'], { qos: 2 }).start();
}, async () => {
	await backend?.stop();
	try {
		await gw?.stop();
	} finally {
		await broker?.kill();
	}
});

const settle = () => sleep(ms(300));

/** Connects to /chat and joins `rooms` (client join events). */
async function member(rooms = [], opts = {}) {
	const s = await connect(`${url}/chat`, { transports: ['websocket'], ...opts });
	for (const r of rooms)
		assert.deepEqual(await call(s, 'join', r), [{ ok: true }], `join ${r}`);
	return s;
}

describe('mqtt bridge', { skip }, () => {
	it('is ready once connected and subscribed, over MQTT 5 and 3.1.1', T(), async () => {
		const r = await readyz(gw);
		assert.equal(r.status, 200);
		assert.ok((await bridgeCounters(gw, 'main')).connections >= 1);
		assert.ok((await bridgeCounters(gw, 'old')).connections >= 1);
		assert.match(gw.log(), /bridge 'main': connected to 127\.0\.0\.1:\d+ \(MQTT 5/);
		assert.match(gw.log(), /bridge 'old': connected to 127\.0\.0\.1:\d+ \(MQTT 3\.1\.1, client id 'siogate-it-311-/);
	});

	it('delivers a message to the room named by a topic level: JSON is one argument, other bytes binary', T(), async () => {
		const a = await member(['lobby']);
		const b = await member(['other']);
		const gotB = collect(b, 'message');
		let got = once(a, 'message');
		await pub(broker, 'chat/lobby/out', '{"text":"hi","n":1.5}');
		assert.deepEqual(await got, [{ text: 'hi', n: 1.5 }]);
		got = once(a, 'message');
		await pub(broker, 'chat/lobby/out', Buffer.from([0, 1, 2, 255]));
		const [bin] = await got;
		assert.ok(Buffer.isBuffer(bin), 'a binary argument');
		assert.deepEqual([...bin], [0, 1, 2, 255]);
		got = once(a, 'message');
		await pub(broker, 'chat/lobby/out', null);
		assert.deepEqual(await got, [], 'an empty payload is an event without arguments');
		await settle();
		assert.deepEqual(gotB, [], 'another room got nothing');
	});

	it('takes the event from the sio-event property, a topic level, or the mapping default', T(), async () => {
		const a = await member(['lobby']);
		let got = once(a, 'news');
		await pub(broker, 'ev/lobby/news', '"n1"');
		assert.deepEqual(await got, ['n1']);
		got = once(a, 'override');
		await pub(broker, 'ev/lobby/news', '"n2"', { props: { 'sio-event': 'override' } });
		assert.deepEqual(await got, ['n2']);
		got = once(a, 'message');
		await pub(broker, 'chat/lobby/out', '"n3"');
		assert.deepEqual(await got, ['n3'], 'the default event is "message"');
	});

	it('routes by user properties: sio-rooms, sio-except, sio-args, across levels of a # filter', T(), async () => {
		const a = await member(['r1']);
		const b = await member(['r1', 'muted']);
		const c = await member(['r2']);
		const gotB = collect(b, 'multi');
		const ga = once(a, 'multi');
		const gc = once(c, 'multi');
		await pub(broker, 'hdr/deep/level', '[1,"two",{"three":3}]', {
			props: [['sio-rooms', 'r1, r2'], ['sio-except', 'muted'], ['sio-args', 'spread'], ['sio-event', 'multi']],
		});
		assert.deepEqual(await ga, [1, 'two', { three: 3 }]);
		assert.deepEqual(await gc, [1, 'two', { three: 3 }]);
		await settle();
		assert.deepEqual(gotB, [], 'a member of an except room is skipped');
	});

	it('a + filter with rooms "all" reaches every socket of the namespace; other topics nobody', T(), async () => {
		const a = await member([]);
		const b = await member(['x']);
		const ga = once(a, 'temp');
		const gb = once(b, 'temp');
		const gotA = collect(a, 'message');
		await pub(broker, 'sensors/kitchen/temp', '21.5');
		assert.deepEqual(await ga, [21.5]);
		assert.deepEqual(await gb, [21.5]);
		await pub(broker, 'sensors/kitchen/humidity', '40');
		await settle();
		assert.deepEqual(gotA, []);
	});

	it('a socket joining a room gets the topic\'s retained message first (last value)', T(15000), async () => {
		await pub(broker, 'chat/news/out', '{"v":1}', { retain: true });
		await pub(broker, 'chat/news/out', '{"v":2}', { retain: true }); // replaces v1
		const a = await member([]);
		const gotA = collect(a, 'message');
		assert.deepEqual(await call(a, 'join', 'news'), [{ ok: true }]);
		await pub(broker, 'chat/news/out', '{"v":3}'); // live, not retained
		await until(() => gotA.length >= 2, 'two messages');
		assert.deepEqual(gotA, [[{ v: 2 }], [{ v: 3 }]], 'the retained value first, then live messages');

		// A later joiner gets the retained value, not the last live message.
		const b = await member([]);
		const gotB = collect(b, 'message');
		await call(b, 'join', 'news');
		await until(() => gotB.length >= 1, 'the retained message');
		assert.deepEqual(gotB, [[{ v: 2 }]]);

		// Auto-join on connect: the retained message comes after the CONNECT.
		const c = client(`${url}/chat`, { transports: ['websocket'], query: { room: 'news' } });
		const gotC = collect(c, 'message');
		await connected(c);
		await until(() => gotC.length >= 1, 'the retained message after the auto-join');
		assert.deepEqual(gotC, [[{ v: 2 }]]);

		// A client can set the retained state itself (from_clients with retain): members get it
		// as the client's event (sio-event), and so does a socket that joins later.
		const gotState = collect(a, 'state');
		assert.deepEqual(await call(a, 'state', { room: 'news', v: 4 }), [{ ok: true, topic: 'chat/news/out', qos: 1 }]);
		await until(() => gotState.length >= 1, 'the relayed state');
		assert.deepEqual(gotState, [[{ room: 'news', v: 4 }]]);
		const d = await member([]);
		const gotD = collect(d, 'state');
		await call(d, 'join', 'news');
		await until(() => gotD.length >= 1, 'the new retained message');
		assert.deepEqual(gotD, [[{ room: 'news', v: 4 }]]);

		// Clearing the retained message (an empty retained publish) clears the last value.
		await pub(broker, 'chat/news/out', null, { retain: true });
		await settle();
		const e = await member([]);
		const gotE = collect(e, 'message');
		const gotES = collect(e, 'state');
		await call(e, 'join', 'news');
		await settle();
		assert.deepEqual([...gotE, ...gotES], []);
		assert.ok((await bridgeCounters(gw)).retained_deliveries >= 4);
	});

	it('publishes client events with user properties; acks answer after PUBACK, PUBCOMP, or the write (QoS 0)', T(), async () => {
		const s = await member(['lobby'], { auth: { user: 'ann' } });
		assert.deepEqual(await call(s, 'say', { room: 'lobby', text: 'x' }), [{ ok: true, topic: 'up/chat/lobby', qos: 1 }]);
		const m = await backend.waitFor((x) => x.topic === 'up/chat/lobby', 'the upstream message');
		assert.deepEqual(JSON.parse(m.payload), [{ room: 'lobby', text: 'x' }]);
		assert.deepEqual(m.props, {
			'sio-namespace': '/chat', 'sio-event': 'say', 'sio-sid': s.id, 'sio-args': 'spread', 'sio-rooms': 'lobby', 'x-user': 'ann',
		});
		assert.equal(m.contentType, 'application/json');

		assert.deepEqual(await call(s, 'q0', Buffer.from('bin')), [{ ok: true, topic: 'up/q0', qos: 0 }]);
		const m0 = await backend.waitFor((x) => x.topic === 'up/q0', 'the QoS 0 message');
		assert.deepEqual(JSON.parse(m0.payload), [{ $binary: Buffer.from('bin').toString('base64') }]);
		assert.deepEqual(await call(s, 'q2', 1, 'two'), [{ ok: true, topic: 'up/q2', qos: 2 }]);
		const m2 = await backend.waitFor((x) => x.topic === 'up/q2', 'the QoS 2 message');
		assert.equal(m2.payload, '[1,"two"]');

		assert.deepEqual(await call(s, 'needs', 1), [{ ok: false, error: "topic: a value for the template 'up/{query.missing}' is missing" }]);
		assert.deepEqual(await call(s, 'say', 'no room'),
			[{ ok: false, error: "topic: the event has no room (expected a 'room' string in its first argument)" }]);
		assert.deepEqual(await call(s, 'unrouted'), [{ ok: false, error: "no handler for event 'unrouted'" }]);
		// Without an ack the message is published all the same.
		s.emit('q2', 'no ack');
		await backend.waitFor((x) => x.topic === 'up/q2' && x.payload === '["no ack"]', 'the message without ack');
	});

	it('escapes unsafe room names in topics and decodes them from topic levels', T(), async () => {
		const room = 'a/b+c#d%e';
		const s = await member([room], { auth: { user: 'u' } });
		assert.deepEqual(await call(s, 'say', { room }), [{ ok: true, topic: 'up/chat/a%2Fb%2Bc%23d%25e', qos: 1 }]);
		const m = await backend.waitFor((x) => x.topic === 'up/chat/a%2Fb%2Bc%23d%25e', 'the escaped topic');
		assert.equal(m.props['sio-rooms'], room, 'the sio-rooms property keeps the room as it is');
		const got = once(s, 'message');
		await pub(broker, 'chat/a%2Fb%2Bc%23d%25e/out', '"back"');
		assert.deepEqual(await got, ['back']);

		// An empty room level, or one that decodes to NUL, is malformed: counted, dead-lettered.
		const before = (await bridgeCounters(gw)).malformed ?? 0;
		await pub(broker, 'chat//out', '"x"');
		await pub(broker, 'chat/a%00/out', '"y"');
		await waitCounter(gw, 'malformed', before + 2);
		const dl = await backend.waitFor((x) => x.topic === 'dead/chat' && x.props['sio-topic'] === 'chat//out', 'the dead letter');
		assert.match(dl.props['sio-error'], /room level of topic 'chat\/\/out' is empty/);
		assert.equal(dl.payload, '"x"');
	});

	it('applies control commands from the control topic; a bad one goes to the dead-letter topic', T(), async () => {
		const s = await member([]);
		await pub(broker, 'ctl/chat', JSON.stringify({ op: 'join', sids: [s.id], rooms: ['vip'] }));
		await sleep(ms(100));
		let got = once(s, 'notice');
		await pub(broker, 'ctl/chat', JSON.stringify({ op: 'emit', in: ['vip'], event: 'notice', args: ['hi', 2] }));
		assert.deepEqual(await got, ['hi', 2]);
		got = once(s, 'message');
		await pub(broker, 'chat/vip/out', '"room message"');
		assert.deepEqual(await got, ['room message'], 'the backend joined it to vip');

		await pub(broker, 'ctl/chat', 'not json', { props: { trace: 't1' } });
		const dl = await backend.waitFor((x) => x.topic === 'dead/chat' && x.props.trace === 't1', 'the dead letter');
		assert.equal(dl.props['sio-error'], 'a control command must be a JSON object');
		assert.equal(dl.props['sio-topic'], 'ctl/chat');

		const gone = once(s, 'disconnect');
		await pub(broker, 'ctl/chat', JSON.stringify({ op: 'disconnect', sids: [s.id] }));
		assert.equal((await gone)[0], 'io server disconnect');
	});

	it('messages with no room go to the dead-letter topic with the reason', T(), async () => {
		const before = (await bridgeCounters(gw)).malformed ?? 0;
		await pub(broker, 'hdr/x', '1', { props: { 'sio-event': 'lost' } });
		await waitCounter(gw, 'malformed', before + 1);
		const dl = await backend.waitFor((x) => x.topic === 'dead/chat' && x.props['sio-topic'] === 'hdr/x', 'the dead letter');
		assert.equal(dl.props['sio-error'], 'no room (no sio-rooms header)');
		assert.equal(dl.props['sio-event'], 'lost', 'the original properties are kept');
	});

	it('carries the same fields in a JSON envelope over MQTT 3.1.1', T(), async () => {
		const s = await connect(`${url}/env`, { transports: ['websocket'] });
		assert.deepEqual(await call(s, 'join', 'r'), [{ ok: true }]);
		let got = once(s, 'e');
		await pub(broker, 'env/in', JSON.stringify({ rooms: ['r'], event: 'e', args: [1, 'two'] }), { v311: true });
		assert.deepEqual(await got, [1, 'two']);
		got = once(s, 'message');
		await pub(broker, 'env/in', JSON.stringify({ rooms: 'r', value: { x: 1 } }), { v311: true });
		assert.deepEqual(await got, [{ x: 1 }]);
		got = once(s, 'blob');
		await pub(broker, 'env/in', JSON.stringify({ rooms: 'r', event: 'blob', binary: Buffer.from([7, 8]).toString('base64') }), { v311: true });
		const [bin] = await got;
		assert.deepEqual([...bin], [7, 8]);

		// Upstream: the envelope carries namespace, event and sid.
		assert.deepEqual(await call(s, 'hello', { a: 1 }), [{ ok: true, topic: 'env/up/hello', qos: 1 }]);
		const m = await backend.waitFor((x) => x.topic === 'env/up/hello', 'the enveloped message');
		assert.deepEqual(JSON.parse(m.payload), { namespace: '/env', event: 'hello', sid: s.id, args: [{ a: 1 }] });
		assert.deepEqual(m.props, {}, 'no user properties over MQTT 3.1.1');

		// Not an envelope: malformed, dead-lettered as JSON (3.1.1 has no properties).
		const before = (await bridgeCounters(gw, 'old')).malformed ?? 0;
		await pub(broker, 'env/in', 'plain text', { v311: true });
		await waitCounter(gw, 'malformed', before + 1, 'old');
		const dl = await backend.waitFor((x) => x.topic === 'dead/env', 'the dead letter');
		assert.deepEqual(JSON.parse(dl.payload), { error: 'envelope: the payload must be a JSON object', topic: 'env/in', payload: 'plain text' });
	});

	it('runs the example configuration etc/siogate.mqtt.json', T(20000), async () => {
		const example = JSON.parse(fs.readFileSync(path.join(SRCDIR, 'etc', 'siogate.mqtt.json'), 'utf8'));
		const ex = await startMqttDaemon(example, { name: 'siogate-example', env: { MQTT_HOST: HOST, MQTT_PORT: String(broker.port) } });
		try {
			const s = await connect(`${ex.url}/chat`, { transports: ['websocket'], auth: { user: 'ann' } });
			assert.deepEqual(await call(s, 'join', 'lobby'), [{ ok: true }]);
			const got = once(s, 'message');
			await pub(broker, 'chat/lobby/out', '{"text":"hello"}');
			assert.deepEqual(await got, [{ text: 'hello' }]);
			assert.deepEqual(await call(s, 'message', { room: 'lobby', text: 'hi' }), [{ ok: true, topic: 'chat/lobby/in', qos: 1 }]);
			const d = await connect(`${ex.url}/devices`, { transports: ['websocket'], query: { device: 'd1' } });
			const st = once(d, 'state');
			await pub(broker, 'devices/device:d1/state', JSON.stringify({ value: { on: true } }), { v311: true });
			assert.deepEqual(await st, [{ on: true }]);
		} finally {
			closeClients();
			await ex.stop();
		}
	});

	it('refuses bad MQTT configs with the JSON path and the reason', T(20000), async () => {
		const base = (bridge, brokerExtra = {}) => ({
			brokers: { m: { type: 'mqtt', ...brokerExtra } },
			namespaces: [{ name: '/x', bridge: { broker: 'm', ...bridge } }],
		});
		const cases = [
			[base({ from_clients: [{ event: '*', topic: 'up/+/x' }] }),
				"namespaces[0].bridge.from_clients[0].topic: 'up/+/x': a topic to publish to cannot contain the wildcards '+' or '#'"],
			[base({ to_clients: [{ topic: 'a/+', rooms: 'key' }] }),
				'namespaces[0].bridge.to_clients[0].rooms: MQTT messages have no key (use header, topic or all)'],
			[base({ to_clients: [{ topic: 'a/{room}', qos: 5 }] }),
				'namespaces[0].bridge.to_clients[0].qos: expected an integer from 0 to 2'],
			[base({ to_clients: [{ topic: 'news', retained_on_join: true }] }),
				'namespaces[0].bridge.to_clients[0].retained_on_join: needs a topic template with {room}'],
			[base({ control_topic: 'c' }, { protocol: 'mqttv5' }),
				'brokers.m.protocol: expected one of "5", "3.1.1"'],
			[base({ control_topic: 'c' }, { hots: 'x' }),
				"brokers.m: unknown key 'hots' (did you mean 'host'?)"],
		];
		for (const [cfg, msg] of cases) {
			const r = await checkConfig(cfg);
			assert.notEqual(r.code, 0, `accepted: ${JSON.stringify(cfg)}`);
			assert.ok(r.stderr.includes(msg), `expected '${msg}' in:\n${r.stderr}`);
		}
	});
});
