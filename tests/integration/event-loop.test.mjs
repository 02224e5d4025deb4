// event-loop.test.mjs - server.event_loop: the gateway on each event loop it offers (lws's own
// poll(2), or libuv / GLib through Debian's libwebsockets-evlib-* plugins; not libev, whose lws
// 4.1.6 glue loses timers: see src/evloop.c)
// serves WebSocket and polling clients, relays, keeps its timers (heartbeats), takes SIGHUP and
// drains on SIGTERM; /metrics says which loop runs and measures broadcasts' fan-out.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';

import { BUILDDIR, HOST, SIOGATE, T, VALGRIND, call, closeClients, connect, metricValue, ms, once, pollingHandshake, sleep, startDaemon, waitExit } from './harness.mjs';

const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');
const PLUGINS = { libuv: 'uv', glib: 'glib' };

// Where Debian's libwebsockets looks for its event-library plugins: the directory of the
// libwebsockets.so.* that siogate links (its multiarch libdir), as the loader resolves it.
function evlibDir() {
	const out = spawnSync('ldd', [SIOGATE], { encoding: 'utf8' }).stdout || '';
	const m = out.match(/=>\s*(\S*)\/libwebsockets\.so/);
	return m ? m[1] : '/usr/lib/x86_64-linux-gnu';
}
const EVLIB_DIR = evlibDir();

function config(loop) {
	return {
		server: {
			...(loop ? { event_loop: loop } : {}),
			// Short heartbeats: a client that stays connected has had its pings answered, so
			// the loop's timers fire and its sockets are read.
			ping_interval_ms: 200,
			ping_timeout_ms: 400,
		},
		namespaces: [{
			name: '/',
			rooms: { client_join: true },
			bridge: {
				type: 'local',
				from_clients: [{ event: 'say', topic: 'chat', rooms: '{room}' }],
				to_clients: [{ topic: 'chat', rooms: 'header' }],
			},
		}],
	};
}

// No heartbeat traffic while a test watches the loop (a drain, a count of writes).
function quietConfig(loop) {
	const cfg = config(loop);
	cfg.server.ping_interval_ms = 25000;
	cfg.server.ping_timeout_ms = 20000;
	return cfg;
}

// An Engine.IO WebSocket session by hand on `sock`: resolves, once the server's open packet
// came, with a reader of what the socket received so far.
function webSocketOpen(sock) {
	let got = '';
	const opened = new Promise((resolve, reject) => {
		sock.on('data', (d) => {
			got += d.toString('latin1');
			if (/^HTTP\/1\.1 101/.test(got) && got.includes('"sid"'))
				resolve(() => got);
		});
		sock.on('error', reject);
		setTimeout(() => reject(new Error(`no WebSocket session: ${JSON.stringify(got)}`)), ms(3000));
	});
	sock.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
		'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
		'Sec-WebSocket-Version: 13\r\n\r\n');
	return opened;
}

// A text message as a client frame: masked with key 0, so the bytes stay as they are.
function clientFrame(text) {
	const body = Buffer.from(text);
	assert.ok(body.length < 65536);
	const head = body.length < 126 ? Buffer.from([0x81, 0x80 | body.length, 0, 0, 0, 0])
		: Buffer.from([0x81, 0x80 | 126, body.length >> 8, body.length & 0xff, 0, 0, 0, 0]);
	return Buffer.concat([head, body]);
}

// Waits until `read()` (what a socket received) contains `text`.
async function received(read, text, timeout = ms(3000)) {
	for (const end = Date.now() + timeout; !read().includes(text); await sleep(5))
		if (Date.now() > end)
			throw new Error(`no ${text} from the server: ${JSON.stringify(read())}`);
}

function missing(loop) {
	const so = path.join(EVLIB_DIR, `libwebsockets-evlib_${PLUGINS[loop]}.so`);
	return fs.existsSync(so) ? false : `${so} is not installed (apt-get install libwebsockets-evlib-${PLUGINS[loop]})`;
}

async function exercise(gw, loop) {
	await gw.waitLog(new RegExp(`event loop: ${loop}\\b`));
	assert.equal(await metricValue(gw, `siogate_event_loop_info{loop="${loop}"}`), 1);
	const a = await connect(gw.url, { transports: ['websocket'] });
	const b = await connect(gw.url, { transports: ['polling'] });
	const c = await connect(gw.url, { transports: ['websocket'] });
	for (const s of [a, b, c])
		assert.deepEqual(await call(s, 'join', 'lobby'), [{ ok: true }]);
	const before = await metricValue(gw, 'siogate_fanout_seconds_count');
	const recipients = await metricValue(gw, 'siogate_fanout_recipients_total');
	assert.ok(Number.isFinite(before) && Number.isFinite(recipients), 'the fan-out metrics are on /metrics');
	const atB = once(b, 'say', ms(5000));
	const atC = once(c, 'say', ms(5000));
	assert.deepEqual(await call(a, 'say', { room: 'lobby', n: 1 }), [{ ok: true, topic: 'chat', delivered: 3 }]);
	assert.deepEqual(await atB, [{ room: 'lobby', n: 1 }]);
	assert.deepEqual(await atC, [{ room: 'lobby', n: 1 }]);
	// The broadcast's fan-out is measured once its frame has reached all three sockets.
	let count = before;
	for (const end = Date.now() + ms(3000); count === before && Date.now() < end; await sleep(20))
		count = await metricValue(gw, 'siogate_fanout_seconds_count');
	assert.equal(count, before + 1);
	assert.equal(await metricValue(gw, 'siogate_fanout_recipients_total'), recipients + 3);
	assert.ok(await metricValue(gw, 'siogate_fanout_seconds_sum') > 0);
	// Several heartbeats later, every client is still there.
	await sleep(ms(1000));
	for (const s of [a, b, c])
		assert.equal(s.connected, true);
	// A signal handled while the loop runs.
	gw.signal('SIGHUP');
	await gw.waitLog(/configuration reloaded/);
	assert.deepEqual(await call(a, 'say', { room: 'lobby', n: 2 }), [{ ok: true, topic: 'chat', delivered: 3 }]);
}

describe('server.event_loop', () => {
	afterEach(() => closeClients());

	for (const loop of ['poll', 'libuv', 'glib']) {
		it(`"${loop}": clients, relays, heartbeats, SIGHUP, and a drain on SIGTERM with clients connected`, T(30000), async (t) => {
			const why = loop !== 'poll' && missing(loop);
			if (why)
				return t.skip(why);
			const gw = await startDaemon(config(loop), { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
			try {
				await exercise(gw, loop);
			} finally {
				await gw.stop(); // exit code 0: the drain ran on this loop
			}
			assert.match(gw.log(), /shutting down: disconnecting 3 client\(s\)/);
		});
	}

	// A drain that only the loop's timers can end: a polling session with no request pending
	// (it is closed, and lingers for a request that never comes) and a WebSocket that never
	// answers the close. Their timers are set between turns, with no socket activity after;
	// on libuv lws did not see such timers until siogate pokes it (src/evloop.c).
	for (const loop of ['poll', 'libuv', 'glib']) {
		it(`"${loop}": SIGTERM with silent clients ends within drain_timeout_ms`, T(30000), async (t) => {
			const why = loop !== 'poll' && missing(loop);
			if (why)
				return t.skip(why);
			const DRAIN = ms(1500);
			const cfg = quietConfig(loop);
			cfg.server.drain_timeout_ms = DRAIN;
			const gw = await startDaemon(cfg, { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
			const sock = net.connect(gw.port, HOST);
			try {
				await gw.waitLog(new RegExp(`event loop: ${loop}\\b`));
				await pollingHandshake(gw.url);
				// A WebSocket by hand; from then on the socket reads and never writes.
				await webSocketOpen(sock);
				await sleep(100); // the loop goes quiet
				const t0 = Date.now();
				gw.signal('SIGTERM');
				assert.ok(await waitExit(gw.child, DRAIN + ms(3000)), `siogate on ${loop} still running ${DRAIN + ms(3000)} ms after SIGTERM`);
				assert.equal(gw.child.exitCode, 0);
				assert.ok(Date.now() - t0 <= DRAIN + ms(1000), `exited ${Date.now() - t0} ms after SIGTERM; drain_timeout_ms is ${DRAIN}`);
			} finally {
				sock.destroy();
				await gw.stop({ expectCode: null });
			}
		});
	}

	// lws reads at most 256 bytes of a socket per loop turn, so a burst of messages from one
	// client arrives over several turns. The gateway reads on while it is still receiving
	// and writes once: every recipient gets the burst's frames in one or two writes, not a
	// few per turn (siogate_websocket_writes_total counts the writes; the sender, a member,
	// gets the burst too). Under valgrind the turns are slow enough for the gathering's 1 ms
	// bound to cut in: only delivery is checked.
	for (const loop of ['poll', 'libuv', 'glib']) {
		it(`"${loop}": a burst from one client reaches each recipient in one write`, T(30000), async (t) => {
			const why = loop !== 'poll' && missing(loop);
			if (why)
				return t.skip(why);
			const cfg = quietConfig(loop);
			const gw = await startDaemon(cfg, { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
			const sock = net.connect(gw.port, HOST);
			try {
				await gw.waitLog(new RegExp(`event loop: ${loop}\\b`));
				const RECIPIENTS = 8, BURST = 16;
				const got = [];
				for (let i = 0; i < RECIPIENTS; i++) {
					const s = await connect(gw.url, { transports: ['websocket'] });
					assert.deepEqual(await call(s, 'join', 'lobby'), [{ ok: true }]);
					got.push([]);
					s.on('say', (m) => got[i].push(m.i));
				}
				const read = await webSocketOpen(sock); // the sender, by hand
				sock.write(clientFrame('40'));
				await received(read, '40{');
				sock.write(clientFrame('421["join","lobby"]')); // a sender writes only to its rooms
				await received(read, '431[{"ok":true}]');
				const writes0 = await metricValue(gw, 'siogate_websocket_writes_total');
				const pad = 'x'.repeat(100); // 16 messages of ~150 bytes: about 9 reads of 256
				sock.write(Buffer.concat(Array.from({ length: BURST }, (_, i) =>
					clientFrame(`42["say",{"room":"lobby","i":${i},"pad":"${pad}"}]`))));
				const want = Array.from({ length: BURST }, (_, i) => i);
				for (const end = Date.now() + ms(5000); got.some((g) => g.length < BURST) && Date.now() < end;)
					await sleep(10);
				for (const g of got)
					assert.deepEqual(g, want, 'every recipient got the burst, in order');
				const writes = await metricValue(gw, 'siogate_websocket_writes_total') - writes0;
				const members = RECIPIENTS + 1;
				assert.ok(Number.isFinite(writes) && writes >= members, `${writes} writes for ${members} members`);
				if (!VALGRIND)
					assert.ok(writes <= 2 * members, `${writes} writes for ${members} members of a ${BURST}-message burst`);
			} finally {
				sock.destroy();
				await gw.stop();
			}
		});
	}

	it('"auto" (the default) runs on libuv when its plugin is installed, else on poll', T(15000), async () => {
		const gw = await startDaemon(config(undefined), { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
		try {
			const loop = missing('libuv') ? 'poll' : 'libuv';
			await gw.waitLog(new RegExp(`event loop: ${loop} \\(server.event_loop auto\\)`));
			await exercise(gw, loop);
		} finally {
			await gw.stop();
		}
	});
});
