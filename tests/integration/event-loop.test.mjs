// event-loop.test.mjs - server.event_loop: the gateway on each event loop it offers (lws's own
// poll(2), or libuv / GLib through Debian's libwebsockets-evlib-* plugins; not libev, whose lws
// 4.1.6 glue loses timers: see src/evloop.c)
// serves WebSocket and polling clients, relays, keeps its timers (heartbeats), takes SIGHUP and
// drains on SIGTERM; /metrics says which loop runs and measures broadcasts' fan-out.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';

import { BUILDDIR, T, call, closeClients, connect, metricValue, ms, once, sleep, startDaemon } from './harness.mjs';

const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');
// Where Debian's libwebsockets looks for its event-library plugins.
const EVLIB_DIR = '/usr/lib/x86_64-linux-gnu';
const PLUGINS = { libuv: 'uv', glib: 'glib' };

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
