// metrics.test.mjs - /metrics after real traffic: clients in a static and a dynamic namespace
// on both transports, joins (one refused), an event relayed through the local bridge (a broker
// message delivered to a room) with its ack. The whole exposition is parsed: every line is a
// HELP, TYPE or sample line, every sample belongs to a family with a TYPE, counters end in
// _total, no series twice, histogram buckets are cumulative and end with +Inf equal to
// _count. Then the values are checked against the traffic, and again after the clients left.
// With the Kafka mock cluster: the consumer lag gauge per topic and partition, and the
// delivery histogram counting records delivered to clients.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
	BUILDDIR, T, call, closeClients, connect, httpGet, ms, once, serverHooks, sleep, startDaemon, stopGatewayAndBroker, until,
} from './harness.mjs';
import { KafkaMock, kafkaSkipReason, produce, startKafkaDaemon } from './kafka-harness.mjs';

const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');
const ORG = '^/org-[0-9]+$';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Parses `name{a="b",c="d"}` label sets (with \\, \" and \n escapes); throws on bad syntax. */
function parseLabels(s, line) {
	const labels = {};
	let i = 0;
	while (i < s.length) {
		const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(s.slice(i));
		assert.ok(m, `bad label at '${s.slice(i)}' in: ${line}`);
		i += m[0].length;
		let v = '';
		for (;;) {
			assert.ok(i < s.length, `unterminated label value in: ${line}`);
			const c = s[i++];
			if (c === '"')
				break;
			if (c === '\\') {
				const e = s[i++];
				assert.ok(e === '\\' || e === '"' || e === 'n', `bad escape in: ${line}`);
				v += e === 'n' ? '\n' : e;
			} else {
				v += c;
			}
		}
		assert.ok(!(m[1] in labels), `label ${m[1]} twice in: ${line}`);
		labels[m[1]] = v;
		if (i < s.length) {
			assert.equal(s[i], ',', `expected ',' in: ${line}`);
			i++;
		}
	}
	return labels;
}

/**
 * Parses and validates a whole text exposition (format 0.0.4). Returns
 * { families: Map(name -> {type, help}), samples: [{name, family, labels, value}] }.
 */
function parseExposition(text) {
	assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
	const families = new Map();
	const samples = [];
	const seen = new Set();
	const familyOf = (name) => {
		if (families.has(name))
			return name;
		for (const suffix of ['_bucket', '_sum', '_count']) {
			const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : null;
			if (base && families.get(base)?.type === 'histogram')
				return base;
		}
		return null;
	};
	for (const line of text.slice(0, -1).split('\n')) {
		assert.ok(line.length > 0, 'no blank lines');
		let m;
		if ((m = /^# HELP (\S+) (.*)$/.exec(line))) {
			assert.match(m[1], NAME, line);
			const f = families.get(m[1]) ?? {};
			assert.equal(f.help, undefined, `HELP twice for ${m[1]}`);
			assert.ok(!samples.some((s) => s.family === m[1]), `HELP after samples of ${m[1]}`);
			families.set(m[1], { ...f, help: m[2] });
			continue;
		}
		if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) {
			assert.match(m[1], NAME, line);
			assert.ok(TYPES.has(m[2]), `unknown type in: ${line}`);
			const f = families.get(m[1]) ?? {};
			assert.equal(f.type, undefined, `TYPE twice for ${m[1]}`);
			assert.ok(!samples.some((s) => s.family === m[1]), `TYPE after samples of ${m[1]}`);
			if (m[2] === 'counter')
				assert.match(m[1], /_total$/, `counter ${m[1]} is named *_total`);
			families.set(m[1], { ...f, type: m[2] });
			continue;
		}
		assert.ok(!line.startsWith('#'), `only HELP and TYPE comments: ${line}`);
		m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		assert.ok(m, `not a sample line: ${line}`);
		const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
		assert.ok(m[3] === 'NaN' || !Number.isNaN(value), `bad value in: ${line}`);
		const labels = m[2] === undefined ? {} : parseLabels(m[2], line);
		const family = familyOf(m[1]);
		assert.ok(family && families.get(family).type, `sample without a TYPE: ${line}`);
		const key = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`;
		assert.ok(!seen.has(key), `series twice: ${line}`);
		seen.add(key);
		if (families.get(family).type === 'counter')
			assert.ok(value >= 0, `negative counter: ${line}`);
		samples.push({ name: m[1], family, labels, value });
	}
	// Histograms: per label set, buckets by le ascending, cumulative, +Inf last = _count.
	for (const [name, f] of families) {
		if (f.type !== 'histogram')
			continue;
		const groups = new Map();
		for (const s of samples.filter((x) => x.family === name)) {
			const { le, ...rest } = s.labels;
			const k = JSON.stringify(Object.entries(rest).sort());
			const g = groups.get(k) ?? { buckets: [] };
			if (s.name === `${name}_bucket`) {
				assert.ok(le !== undefined, `${name}_bucket without le`);
				g.buckets.push({ le: le === '+Inf' ? Infinity : Number(le), value: s.value });
			} else if (s.name === `${name}_count`) {
				g.count = s.value;
			} else if (s.name === `${name}_sum`) {
				g.sum = s.value;
			} else {
				assert.fail(`unexpected sample ${s.name} in histogram ${name}`);
			}
			groups.set(k, g);
		}
		assert.ok(groups.size > 0, `histogram ${name} has samples`);
		for (const g of groups.values()) {
			assert.ok(g.count !== undefined && g.sum !== undefined, `${name}: _count and _sum`);
			for (let i = 1; i < g.buckets.length; i++) {
				assert.ok(g.buckets[i].le > g.buckets[i - 1].le, `${name}: le ascending`);
				assert.ok(g.buckets[i].value >= g.buckets[i - 1].value, `${name}: buckets cumulative`);
			}
			assert.equal(g.buckets.at(-1)?.le, Infinity, `${name}: ends with le="+Inf"`);
			assert.equal(g.buckets.at(-1).value, g.count, `${name}: +Inf bucket = _count`);
		}
	}
	return { families, samples };
}

/** The value of one series (labels must match exactly), or undefined. */
function value(m, name, labels = {}) {
	const want = JSON.stringify(Object.entries(labels).sort());
	return m.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}

async function scrape(gw) {
	const r = await httpGet(`${gw.url}/metrics`);
	assert.equal(r.status, 200);
	assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
	return parseExposition(r.body);
}

describe('metrics', () => {
	let gw;
	const WS = { transports: ['websocket'] };
	const POLL = { transports: ['polling'] };

	serverHooks(async () => {
		gw = await startDaemon({
			namespaces: [
				{
					name: '/chat',
					rooms: { client_join: true },
					bridge: {
						type: 'local',
						from_clients: [{ event: 'say', topic: 'chat', rooms: '{room}' }],
						to_clients: [{ topic: 'chat', rooms: 'header', except_sender: true }],
					},
				},
				{ match: ORG, rooms: { client_join: true, auto_join: ['everyone'] } },
			],
		}, { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
	}, () => gw?.stop());

	it('parses, and the values match the traffic', T(20000), async () => {
		const before = await scrape(gw);
		assert.equal(value(before, 'siogate_delivery_latency_seconds_count'), 0);
		assert.equal(value(before, 'siogate_sockets', { namespace: '/chat' }), 0);
		assert.equal(value(before, 'siogate_sockets', { namespace: ORG }), 0);
		assert.equal(value(before, 'siogate_sockets', { namespace: '/' }), 0);
		for (const c of ['consumed', 'produced', 'failed', 'malformed', 'refused'])
			assert.equal(value(before, `siogate_bridge_messages_${c}_total`, { bridge: 'local' }), 0, `${c} exists at 0`);
		const acksOk0 = value(before, 'siogate_acks_total', { result: 'ok' });
		const acksErr0 = value(before, 'siogate_acks_total', { result: 'error' });

		const a = await connect(`${gw.url}/chat`, WS);
		const b = await connect(`${gw.url}/chat`, POLL);
		const o1 = await connect(`${gw.url}/org-1`, WS);
		const o2 = await connect(`${gw.url}/org-2`, POLL);
		for (const s of [a, b])
			assert.deepEqual(await call(s, 'join', 'lobby'), [{ ok: true }]);
		assert.deepEqual(await call(o1, 'join', 'team-a'), [{ ok: true }]);
		assert.deepEqual(await call(o2, 'join', 'team-b'), [{ ok: true }]);
		assert.equal((await call(o2, 'join', 42))[0].ok, false, 'a refused join: an error ack');
		// A broker message: the local bridge relays a's event to the room, except a.
		const got = once(b, 'say', ms(5000));
		const [ack] = await call(a, 'say', { room: 'lobby', text: 'hi' });
		assert.equal(ack.ok, true, JSON.stringify(ack));
		assert.deepEqual((await got)[0], { room: 'lobby', text: 'hi' });

		const m = await scrape(gw);
		assert.equal(value(m, 'siogate_sockets', { namespace: '/chat' }), 2);
		assert.equal(value(m, 'siogate_sockets', { namespace: ORG }), 2, 'dynamic namespaces under their match');
		assert.equal(value(m, 'siogate_sockets', { namespace: '/' }), 0);
		assert.equal(value(m, 'siogate_rooms', { namespace: '/chat' }), 1, 'lobby');
		assert.equal(value(m, 'siogate_rooms', { namespace: ORG }), 4, 'everyone (in each) + team-a + team-b');
		// Deltas: the harness's readiness probe may hold a polling session of its own.
		const clients = (x, transport) => value(x, 'siogate_connected_clients', { transport });
		assert.equal(clients(m, 'websocket') - clients(before, 'websocket'), 2);
		assert.equal(clients(m, 'polling') - clients(before, 'polling'), 2);
		assert.equal(value(m, 'siogate_socket_connects_total') - value(before, 'siogate_socket_connects_total'), 4);
		assert.equal(value(m, 'siogate_acks_total', { result: 'ok' }) - acksOk0, 5, '4 joins and the say');
		assert.equal(value(m, 'siogate_acks_total', { result: 'error' }) - acksErr0, 1, 'the refused join');
		assert.equal(value(m, 'siogate_delivery_latency_seconds_count'), 1, 'one broker message delivered');
		const sum = value(m, 'siogate_delivery_latency_seconds_sum');
		assert.ok(sum > 0 && sum < 10, `latency sum ${sum} in seconds`);
		assert.equal(value(m, 'siogate_bridge_messages_consumed_total', { bridge: 'local' }), 1);
		assert.equal(value(m, 'siogate_bridge_messages_produced_total', { bridge: 'local' }), 1);
		for (const name of ['siogate_packets_received_total', 'siogate_packets_sent_total',
			'siogate_received_bytes_total', 'siogate_sent_bytes_total'])
			assert.ok(value(m, name) > value(before, name), `${name} grew`);
		for (const name of ['siogate_send_queue_drops_total', 'siogate_slow_client_disconnects_total'])
			assert.equal(value(m, name), 0, name);
		for (const f of ['siogate_sockets', 'siogate_rooms', 'siogate_connected_clients'])
			assert.equal(m.families.get(f).type, 'gauge', f);
		assert.equal(m.families.get('siogate_delivery_latency_seconds').type, 'histogram');

		// The gauges come back down when the clients leave.
		closeClients();
		await until(async () => value(await scrape(gw), 'siogate_sockets', { namespace: '/chat' }) === 0,
			'/chat empty', ms(5000));
		await until(async () => {
			const e = await scrape(gw);
			return value(e, 'siogate_sockets', { namespace: ORG }) === 0 && value(e, 'siogate_rooms', { namespace: ORG }) === 0 &&
				value(e, 'siogate_rooms', { namespace: '/chat' }) === 0;
		}, 'every room gone', ms(5000));
	});
});

describe('metrics: Kafka consumer lag', { skip: kafkaSkipReason() }, () => {
	let mock, gw;

	serverHooks(async () => {
		mock = await new KafkaMock().start();
		await mock.topics('lag.out:2');
		gw = await startKafkaDaemon({
			brokers: { main: { type: 'kafka', bootstrap_servers: mock.bootstrap } },
			namespaces: [{ name: '/k', bridge: { broker: 'main', to_clients: [{ topic: 'lag.out', rooms: 'all', event: 'rec' }] } }],
		}, { name: 'siogate-metrics-kafka' });
	}, () => stopGatewayAndBroker(gw, () => mock?.stop()));

	it('reports consumer_lag per assigned partition, and deliveries in the histogram', T(60000), async () => {
		const s = await connect(`${gw.url}/k`, { transports: ['websocket'] });
		const got = [];
		s.on('rec', (v) => got.push(v));
		// The consumer may start at the end of the partition only once it fetches: produce
		// until a record arrives (ready already waited for the fetch to start).
		for (let i = 0; !got.length; i++) {
			assert.ok(i < 20, 'a record reaches the client');
			await produce(mock.bootstrap, 'lag.out', JSON.stringify({ n: i }), { partition: 0 });
			await sleep(ms(300));
		}
		let m;
		const lag = (x, partition) =>
			value(x, 'siogate_bridge_consumer_lag', { bridge: 'main', topic: 'lag.out', partition });
		// librdkafka's statistics come every second: wait for both partitions, caught up.
		await until(async () => {
			m = await scrape(gw);
			return lag(m, '0') === 0 && lag(m, '1') === 0;
		}, 'consumer_lag 0 for both partitions', ms(15000)).catch((e) => {
			throw new Error(`${e.message}: ${JSON.stringify(m.samples.filter((x) => x.name.startsWith('siogate_bridge')))}`);
		});
		assert.equal(m.families.get('siogate_bridge_consumer_lag').type, 'gauge');
		assert.ok(value(m, 'siogate_delivery_latency_seconds_count') >= got.length);
		assert.equal(value(m, 'siogate_sockets', { namespace: '/k' }), 1);
	});
});
