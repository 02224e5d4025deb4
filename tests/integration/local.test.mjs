// local.test.mjs - the in-process "local" bridge with the official client: client events
// relayed to rooms through from_clients/to_clients (except the sender, binary kept), acks
// with the number of sockets reached, topic templates, refused events (missing room),
// events no mapping takes, and a bad mapping refused by --check-config with its JSON path.
// (Control commands are covered by the mapping unit tests and the Kafka and MQTT suites.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import fs from 'node:fs';

import {
	BUILDDIR, SIOGATE, SRCDIR, T, call, closeClients, collect, connect, ms, once, sleep, startDaemon, writeConfig,
} from './harness.mjs';

const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');

const CONFIG = {
	namespaces: [
		{
			name: '/chat',
			rooms: { client_join: true, auto_join: ['user:{auth.user}'] },
			bridge: {
				type: 'local',
				from_clients: [
					{ event: 'say', topic: 'chat', rooms: '{room}' },
					{ event: 'dm', topic: 'dm.{auth.user}' },
				],
				to_clients: [
					{ topic: 'chat', rooms: 'header', except_sender: true },
					{ topic: 'dm.{room}', event: 'direct' },
				],
			},
		},
	],
};

describe('local bridge', () => {
	let gw;
	const WS = { transports: ['websocket'] };

	before(async () => {
		gw = await startDaemon(CONFIG, { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
	});
	afterEach(() => closeClients());
	after(async () => {
		await gw?.stop();
	});

	it('relays an event to the room named by the event, except its sender, with binary kept', T(10000), async () => {
		const a = await connect(`${gw.url}/chat`, WS);
		const b = await connect(`${gw.url}/chat`, { transports: ['polling'] });
		const c = await connect(`${gw.url}/chat`, WS);
		for (const s of [a, b])
			assert.deepEqual(await call(s, 'join', 'lobby'), [{ ok: true }]);
		const atA = collect(a, 'say');
		const atC = collect(c, 'say');
		const got = once(b, 'say', ms(5000));
		const ack = await call(a, 'say', { room: 'lobby', text: 'hi', blob: Buffer.from([1, 2, 3]) }, Buffer.from([9]));
		assert.deepEqual(ack, [{ ok: true, topic: 'chat', delivered: 1 }]);
		const [msg, bin] = await got;
		assert.equal(msg.room, 'lobby');
		assert.equal(msg.text, 'hi');
		assert.ok(Buffer.isBuffer(msg.blob) && msg.blob.equals(Buffer.from([1, 2, 3])), 'binary inside the object');
		assert.ok(Buffer.isBuffer(bin) && bin.equals(Buffer.from([9])), 'binary argument');
		await sleep(ms(200));
		assert.deepEqual(atA, [], 'the sender gets no copy');
		assert.deepEqual(atC, [], 'a socket outside the room gets nothing');
	});

	it('refuses an event whose topic template has no value, with the reason in the ack', T(), async () => {
		const a = await connect(`${gw.url}/chat`, WS);
		const [res] = await call(a, 'say', { text: 'no room' });
		assert.equal(res.ok, false);
		assert.match(res.error, /no room/);
		const [dm] = await call(a, 'dm', 'x'); // auth.user is missing
		assert.equal(dm.ok, false);
		assert.match(dm.error, /missing/);
	});

	it('delivers through a {room} topic template into that room', T(), async () => {
		const ada = await connect(`${gw.url}/chat`, { ...WS, auth: { user: 'ada' } });
		assert.deepEqual(await call(ada, 'join', 'ada'), [{ ok: true }]);
		// The upstream message carries sio-event: dm and sio-args: spread, and headers win
		// over the to_clients defaults: the event comes back as 'dm' with the same args.
		const got = once(ada, 'dm', ms(5000));
		// Publishing to dm.ada: the to_clients entry takes the room from the topic name.
		const [ack] = await call(ada, 'dm', { text: 'note to self' });
		assert.deepEqual(ack, { ok: true, topic: 'dm.ada', delivered: 1 });
		assert.deepEqual(await got, [{ text: 'note to self' }]);
	});

	it('answers events that no mapping takes with "no handler"', T(), async () => {
		const a = await connect(`${gw.url}/chat`, WS);
		assert.deepEqual(await call(a, 'unmapped', 1), [{ ok: false, error: "no handler for event 'unmapped'" }]);
	});

	it('refuses a bad mapping at --check-config with its JSON path', T(), async () => {
		const file = writeConfig({
			namespaces: [{ name: '/x', bridge: { type: 'local', to_clients: [{ topic: 'a', rooms: 'nowhere' }] } }],
		}, 'bad-local');
		const r = spawnSync(SIOGATE, ['--check-config', '-c', file], {
			env: { ...process.env, SIOGATE_PLUGIN_PATH: PLUGIN_PATH }, encoding: 'utf8', timeout: ms(10000),
		});
		assert.notEqual(r.status, 0);
		assert.match(r.stderr, /namespaces\[0\]\.bridge\.to_clients\[0\]\.rooms: expected one of auto, header, key, topic, all/);
	});

	it('etc/siogate.example.json is valid for the plugins too (every bridge and broker key)', T(), async (t) => {
		const dirs = ['kafka', 'mqtt', 'local'].map((b) => path.join(BUILDDIR, 'bridges', b, '.libs'));
		if (!dirs.every((d) => fs.existsSync(d))) {
			t.skip('a bridge plugin was not built (configure --with-bridge-X=no)');
			return;
		}
		const r = spawnSync(SIOGATE, ['--check-config', '-c', path.join(SRCDIR, 'etc', 'siogate.example.json')], {
			env: { ...process.env, SIOGATE_PLUGIN_PATH: dirs.join(':'), SIOGATE_TOKEN: 'example' },
			encoding: 'utf8', timeout: ms(10000),
		});
		assert.equal(r.status, 0, r.stderr);
		assert.match(r.stdout, /configuration is valid/);
	});
});
