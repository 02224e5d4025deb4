// local.test.mjs - the in-process "local" bridge with the official client: client events
// relayed to rooms through from_clients/to_clients (except the sender, binary kept), acks
// with the number of sockets reached, topic templates, refused events (missing room),
// events no mapping takes, and a bad mapping refused by --check-config with its JSON path.
// Security: a relay only reaches rooms its sender has joined (unjoined_rooms opens direct
// messages to socket ids), and no client joins another socket's id room.
// (Control commands are covered by the mapping unit tests and the Kafka and MQTT suites.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import fs from 'node:fs';

import {
	BUILDDIR, SIOGATE, SRCDIR, T, bridgeCounters, call, closeClients, collect, connect, metricValue, ms, once, sleep,
	startDaemon, until, writeConfig,
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
		{
			// etc/siogate.kafka.json's shape: clients may join ^[a-z]+$ rooms only, each user
			// has a private user:NAME room, and a message names its room.
			name: '/guarded',
			rooms: { client_join: true, allow: '^[a-z]+$', auto_join: ['user:{auth.user}'] },
			bridge: {
				type: 'local',
				from_clients: [
					{ event: 'message', topic: 'g.messages', rooms: '{room}' },
					{ event: 'dm', topic: 'g.dm', rooms: '{room}', unjoined_rooms: '[A-Za-z0-9_-]{20}' },
				],
				to_clients: [
					{ topic: 'g.messages', rooms: 'header' },
					{ topic: 'g.dm', rooms: 'header' },
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

	it('refuses a relay into a room its sender has not joined: exact ack, nothing delivered, counted, logged', T(), async () => {
		const bob = await connect(`${gw.url}/guarded`, { ...WS, auth: { user: 'bob' } });
		const mallory = await connect(`${gw.url}/guarded`, { ...WS, auth: { user: 'mallory' } });
		const before = (await bridgeCounters(gw, 'local')).relay_refused;
		assert.equal(typeof before, 'number', 'siogate_bridge_relay_refused_total exists from the start');
		assert.deepEqual(await call(mallory, 'join', 'user:bob'), [{ ok: false, error: 'room name not allowed' }]);
		const atBob = collect(bob, 'message');
		assert.deepEqual(await call(mallory, 'message', { room: 'user:bob', text: 'spoof' }),
			[{ ok: false, error: "not a member of room 'user:bob'" }]);
		mallory.emit('message', { room: 'user:bob', text: 'spoof without ack' }); // dropped
		// A member's relay still goes (and, queued after the refused ones, marks them done).
		for (const s of [bob, mallory])
			assert.deepEqual(await call(s, 'join', 'lobby'), [{ ok: true }]);
		const got = once(bob, 'message', ms(5000));
		assert.deepEqual(await call(mallory, 'message', { room: 'lobby', text: 'hello' }),
			[{ ok: true, topic: 'g.messages', delivered: 2 }]);
		assert.equal((await got)[0].text, 'hello');
		await sleep(ms(200));
		assert.deepEqual(atBob.map((a) => a[0].text), ['hello'], 'nothing reached user:bob');
		await until(async () => (await bridgeCounters(gw, 'local')).relay_refused === before + 2, 'relay_refused + 2');
		assert.match(gw.log(), /namespace '\/guarded': event 'message' from socket \S+ not relayed to room 'user:bob': the sender has not joined it/);
	});

	it('unjoined_rooms lets a direct message to a socket id through, and nothing else', T(), async () => {
		const bob = await connect(`${gw.url}/guarded`, { ...WS, auth: { user: 'bob' } });
		const ann = await connect(`${gw.url}/guarded`, { ...WS, auth: { user: 'ann' } });
		const got = once(bob, 'dm', ms(5000)); // sio-event wins over the entry's event
		assert.deepEqual(await call(ann, 'dm', { room: bob.id, text: 'psst' }), [{ ok: true, topic: 'g.dm', delivered: 1 }]);
		assert.deepEqual(await got, [{ room: bob.id, text: 'psst' }]);
		assert.deepEqual(await call(ann, 'dm', { room: 'user:bob', text: 'x' }), [{ ok: false, error: "not a member of room 'user:bob'" }]);
	});

	it("refuses a join of another socket's id, whatever allow says: its private messages stay private", T(), async () => {
		const victim = await connect(`${gw.url}/chat`, WS);
		const spy = await connect(`${gw.url}/chat`, WS);
		const before = await metricValue(gw, 'siogate_room_joins_refused_total{by="client"}');
		const refused = [{ ok: false, error: 'room name not allowed: it has the form of a socket id' }];
		assert.deepEqual(await call(spy, 'join', victim.id), refused);
		// A name of that shape that no socket has now: it may be one on another replica.
		assert.deepEqual(await call(spy, 'join', 'abcdefghijABCDEFGHIJ'), refused);
		assert.deepEqual(await call(spy, 'join', spy.id), [{ ok: false, error: "cannot join or leave the socket's own room" }]);
		assert.deepEqual(await call(spy, 'join', 'abcdefghijABCDEFGHIJK'), [{ ok: true }], '21 characters: an ordinary room');
		// The victim's private room reaches the victim only (relayed by the victim itself:
		// its own room needs no unjoined_rooms).
		const atSpy = collect(spy, 'say');
		assert.deepEqual(await call(victim, 'say', { room: victim.id, text: 'private' }), [{ ok: true, topic: 'chat', delivered: 0 }]);
		await sleep(ms(200));
		assert.deepEqual(atSpy, []);
		assert.equal(await metricValue(gw, 'siogate_room_joins_refused_total{by="client"}'), before + 2);
		assert.match(gw.log(), /a join event of room '\S{20}' in \/chat refused: a socket id's room belongs to that socket/);
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
			env: { ...process.env, SIOGATE_PLUGIN_PATH: dirs.join(':'), SIOGATE_TOKEN: 'example',
				SIOGATE_ADMIN_UI_HASH: '$2b$10$heqvAkYMez.Va6Et2uXInOnkCT6/uQj1brkrbyG3LpopDklcq7ZOS' },
			encoding: 'utf8', timeout: ms(10000),
		});
		assert.equal(r.status, 0, r.stderr);
		assert.match(r.stdout, /configuration is valid/);
	});
});
