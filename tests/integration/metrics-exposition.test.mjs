// metrics-exposition.test.mjs - /metrics read by a real Prometheus parser (Debian's
// python3-prometheus-client) when a broker's name and a namespace pattern carry a double
// quote, a backslash and a newline; bridge counters that go on across a SIGHUP reload; and
// the Kafka bridge's integer keys taking "${VAR}" like every other integer key.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
	T, call, closeClients, connect, httpGet, ms, once, run, serverHooks, startBridgeDaemon,
} from './harness.mjs';
import { KAFKA_PLUGIN_DIR, LOCAL_PLUGIN_DIR, checkConfig, startKafkaDaemon } from './kafka-harness.mjs';

const PYTHON = '/usr/bin/python3';
// Prints [[name, labels, value], ...] for the exposition on stdin, or fails on a parse error.
const PARSE = [
	'import json, sys',
	'from prometheus_client.parser import text_string_to_metric_families',
	'out = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]',
	'print(json.dumps(out))',
].join('\n');

/** Why the parser cannot run here, or false. */
function parserSkipReason() {
	if (!fs.existsSync(PYTHON))
		return `${PYTHON} is missing`;
	if (!fs.existsSync(path.join(KAFKA_PLUGIN_DIR, 'kafka.so')))
		return 'the Kafka bridge is not built';
	return false;
}

/** The samples of an exposition as prometheus_client parses it; a parse error fails. */
async function parse(text) {
	const r = await run([PYTHON, '-c', PARSE], { input: text, timeout: ms(10000) });
	if (r.code !== 0 && /No module named 'prometheus_client'/.test(r.stderr))
		assert.fail(`${PYTHON} cannot import prometheus_client: install python3-prometheus-client (.ci/setup does)`);
	assert.equal(r.code, 0, `prometheus_client could not parse /metrics:\n${r.stderr}\n---\n${text}`);
	return JSON.parse(r.stdout.toString());
}

const sample = (samples, name, labels) =>
	samples.find(([n, l]) => n === name && Object.entries(labels).every(([k, v]) => l[k] === v));

async function scrapeText(gw) {
	const r = await httpGet(`${gw.url}/metrics`);
	assert.equal(r.status, 200);
	return r.body;
}

// Every character the text format escapes in a label value.
const BROKER = 'k"a\\f\nka';
const PATTERN = '^/a\\.b"c\\\\?$';

describe('metrics: label values escaped for a real parser', { skip: parserSkipReason() }, () => {
	let gw;

	serverHooks(async () => {
		gw = await startKafkaDaemon({
			brokers: { [BROKER]: { type: 'kafka', bootstrap_servers: 'embedded' } },
			namespaces: [
				{ name: '/k', bridge: { broker: BROKER, to_clients: [{ topic: 'esc.out', rooms: 'all', event: 'rec' }] } },
				{ match: PATTERN },
			],
		}, { name: 'siogate-metrics-escape' });
	}, () => gw?.stop());

	it('parses, with the broker name and the pattern as configured', T(30000), async () => {
		const samples = await parse(await scrapeText(gw));
		const consumed = sample(samples, 'siogate_bridge_messages_consumed_total', { bridge: BROKER });
		assert.ok(consumed, `a counter labelled with the broker's name: ${JSON.stringify(samples.filter(([n]) => n.startsWith('siogate_bridge')))}`);
		assert.equal(consumed[2], 0);
		assert.equal(sample(samples, 'siogate_sockets', { namespace: PATTERN })?.[2], 0);
		assert.equal(sample(samples, 'siogate_bridge_series_refused_total', {})?.[2], 0);
	});
});

describe('metrics: a reload is not a restart', () => {
	let gw;
	const config = {
		namespaces: [{
			name: '/chat',
			bridge: {
				type: 'local',
				from_clients: [{ event: 'say', topic: 'chat' }],
				to_clients: [{ topic: 'chat', rooms: 'all' }],
			},
		}],
	};

	serverHooks(async () => {
		gw = await startBridgeDaemon(config, LOCAL_PLUGIN_DIR, { name: 'siogate-metrics-reload', ready: false });
	}, () => gw?.stop());

	const counters = async () => {
		const text = await scrapeText(gw);
		const get = (name) => Number(new RegExp(`^siogate_bridge_messages_${name}_total\\{bridge="local"\\} (\\S+)$`, 'm').exec(text)?.[1]);
		return { produced: get('produced'), consumed: get('consumed') };
	};

	const say = async (n) => {
		const s = await connect(`${gw.url}/chat`, { transports: ['websocket'] });
		const got = once(s, 'say', ms(5000)); // the event name travels with the message
		assert.equal((await call(s, 'say', n))[0].ok, true);
		await got;
		s.disconnect();
	};

	it('keeps the bridge counters across SIGHUP', T(20000), async () => {
		await say(1);
		assert.deepEqual(await counters(), { produced: 1, consumed: 1 });
		gw.signal('SIGHUP');
		await gw.waitLog(/configuration reloaded/, ms(5000));
		assert.ok(gw.running);
		assert.deepEqual(await counters(), { produced: 1, consumed: 1 }, 'the counters did not drop on reload');
		await say(2);
		assert.deepEqual(await counters(), { produced: 2, consumed: 2 });
		closeClients();
	});
});

describe('kafka: integer keys from ${VAR}', { skip: parserSkipReason() }, () => {
	const cfg = (dt) => ({
		brokers: { main: { type: 'kafka', bootstrap_servers: '127.0.0.1:9', delivery_timeout_ms: dt } },
		namespaces: [{ name: '/k', bridge: { broker: 'main', to_clients: [{ topic: 't', rooms: 'all' }] } }],
	});

	it('accepts an expanded integer in range, refuses anything else with its JSON path', T(), async () => {
		for (const [value, env] of [['${DT}', { DT: '5000' }], ['${DT:-3600000}', {}], [1, {}]]) {
			const r = await checkConfig(cfg(value), { env });
			assert.equal(r.code, 0, `${value} ${JSON.stringify(env)}: ${r.stderr}`);
		}
		const want = 'siogate: invalid configuration: brokers.main.delivery_timeout_ms: expected an integer from 1 to 3600000';
		for (const [value, env] of [['${DT}', { DT: 'soon' }], ['${DT}', { DT: '0' }], ['${DT}', { DT: '3600001' }],
			['${DT}', { DT: '-5' }], ['${DT}', { DT: '99999999999999999999999' }], ['${DT:-}', {}], [true, {}], [2.5, {}]]) {
			const r = await checkConfig(cfg(value), { env });
			assert.equal(r.code, 1, `${JSON.stringify(value)} ${JSON.stringify(env)}: exit ${r.code}`);
			assert.equal(r.stderr.trim(), want);
		}
	});
});
