// slow-clients.test.mjs - stuck clients against the daemon's bounded send queues: many
// WebSocket clients in one room (raw Engine.IO sockets: cheaper than socket.io-client), a few
// of which stop reading (python/slow_readers.py: small TCP buffers, never read). A steady
// stream of broadcasts must reach every fast client in full and in order while each slow one
// is disconnected once its queue (server.max_send_queue) overflows; /metrics counts exactly
// those, and the daemon's memory stays bounded meanwhile. Volatile broadcasts are dropped for
// a stuck client (counted) without disconnecting it; the first ordinary one that does not
// fit disconnects it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import {
	BUILDDIR, HOST, SRCDIR, T, VALGRIND, call, closeClients, connect, eachLine, metricValue, ms, own, rawWebSocket, startDaemon,
	stopChild, until, vmRSS, which,
} from './harness.mjs';

const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');
const SLOW_READERS = path.join(SRCDIR, 'tests', 'integration', 'python', 'slow_readers.py');
const PYTHON = which('python3');

/** The soft open-file limit of this process (which the daemon inherits), or Infinity. */
function openFileLimit() {
	const m = fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+)/m);
	return m ? Number(m[1]) : Infinity;
}

// 1,000 clients normally (fewer if `ulimit -n` is too small for them plus the daemon's
// reserve, see server.max_connections); under valgrind 100 keep the pass cheap.
const N = VALGRIND ? 100 : Math.min(1000, openFileLimit() - 200);
const SLOW = VALGRIND ? 5 : 20;
const QUEUE = 16384;
const PAD = 'x'.repeat(500);
// Broadcasts after the last slow client is gone: the fast ones must get these too.
const TAIL = 50;

const CONFIG = {
	server: { max_send_queue: QUEUE, ping_interval_ms: 120000, ping_timeout_ms: 60000 },
	namespaces: [{
		name: '/feed',
		rooms: { auto_join: ['{query.room}'] },
		bridge: {
			type: 'local',
			// The sender drives the test from outside the rooms it feeds (as a backend would):
			// unjoined_rooms lets it relay there without being a member.
			from_clients: [
				{ event: 'tick', topic: 'feed', rooms: '{room}', unjoined_rooms: 'crowd|calm' },
				{ event: 'vtick', topic: 'vfeed', rooms: '{room}', unjoined_rooms: 'crowd|calm' },
			],
			to_clients: [{ topic: 'feed', rooms: 'header' }, { topic: 'vfeed', rooms: 'header', volatile: true }],
		},
	}],
};

/** The daemon's /metrics values named in `names`: { name: value }. */
async function metrics(gw, names) {
	const out = {};
	for (const n of names)
		out[n] = await metricValue(gw, n);
	return out;
}

/**
 * A fast raw client in `room` that counts the broadcasts it gets (by seq, in order) without
 * keeping them.
 */
async function fastClient(gw, room) {
	const raw = await rawWebSocket(gw.url, { query: `&room=${room}` });
	assert.equal((await raw.next(ms(5000)))[0], '0');
	raw.send('40/feed,');
	assert.match(await raw.next(ms(5000)), /^40\/feed,/);
	const c = { raw, next: 0, errors: [] };
	raw.ws.removeAllListeners('message');
	raw.ws.on('message', (data) => {
		const m = data.toString();
		if (m === '2')
			return raw.send('3');
		const seq = m.match(/"seq":(\d+)/);
		if (!seq)
			return c.errors.push(`unexpected ${m.slice(0, 80)}`);
		if (Number(seq[1]) !== c.next)
			c.errors.push(`got seq ${seq[1]}, expected ${c.next}`);
		c.next = Number(seq[1]) + 1;
	});
	return c;
}

/** `n` fast clients in `room`, connected 50 at a time. */
async function fastClients(gw, room, n) {
	const out = [];
	for (let i = 0; i < n; i += 50)
		out.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => fastClient(gw, room)))));
	return out;
}

const readers = [];

/** `n` stuck clients in `room` (python/slow_readers.py); resolves once they all joined. */
async function stuckClients(gw, room, n) {
	const child = own(spawn(PYTHON, [SLOW_READERS, HOST, String(gw.port), '/socket.io/', `&room=${room}`, '/feed', String(n)],
		{ stdio: ['pipe', 'pipe', 'pipe'] }));
	readers.push(child);
	let stderr = '';
	child.stderr.on('data', (d) => (stderr += d));
	const ready = new Promise((resolve) => eachLine(child.stdout, (l) => l.startsWith('ready') && resolve()));
	await Promise.race([ready, until(() => child.exitCode !== null, 'slow readers', ms(60000)).then(() => {
		throw new Error(`slow_readers.py exited: ${stderr}`);
	})]);
}

/** Waits until every fast client got `count` broadcasts; asserts they came in order, all open. */
async function allReceived(fast, count) {
	await until(() => fast.every((c) => c.next === count || c.errors.length), `every fast client to get ${count} broadcasts`, ms(30000));
	for (const c of fast)
		assert.deepEqual(c.errors, []);
	assert.ok(fast.every((c) => c.raw.isOpen), 'a fast client was disconnected');
}

const SLOW_DISC = 'siogate_slow_client_disconnects_total';
const DROPS = 'siogate_send_queue_drops_total';
const WS = 'siogate_connected_clients{transport="websocket"}';

describe('slow and stuck clients', { skip: PYTHON ? false : 'python3 is not installed' }, () => {
	let gw;

	before(async () => {
		gw = await startDaemon(CONFIG, { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
	});
	afterEach(() => closeClients());
	after(async () => {
		closeClients();
		for (const child of readers)
			await stopChild(child, ms(3000), (c) => c.stdin.end());
		await gw?.stop();
	});

	it(`${N} clients in a room, ${SLOW} stop reading: the fast ones get everything, the slow ones are dropped`, T(120000), async () => {
		const fast = await fastClients(gw, 'crowd', N - SLOW);
		const rssBefore = vmRSS(gw.child.pid);
		await stuckClients(gw, 'crowd', SLOW);

		const sender = await connect(`${gw.url}/feed`, { transports: ['websocket'], query: { room: 'senders' } });
		const base = await metrics(gw, [SLOW_DISC]);
		// Steady broadcasts (each waits for its ack) until every slow client is gone, bounded.
		let seq = 0;
		let peakRSS = rssBefore;
		for (;;) {
			await call(sender, 'tick', { room: 'crowd', seq: seq++, pad: PAD });
			if (seq % 20 === 0) {
				peakRSS = Math.max(peakRSS, vmRSS(gw.child.pid));
				if ((await metrics(gw, [SLOW_DISC]))[SLOW_DISC] - base[SLOW_DISC] >= SLOW)
					break;
				assert.ok(seq < 5000, `the slow clients were still connected after ${seq} broadcasts of ${PAD.length} bytes`);
			}
		}
		for (let i = 0; i < TAIL; i++)
			await call(sender, 'tick', { room: 'crowd', seq: seq++, pad: PAD });

		await allReceived(fast, seq);

		const m = await metrics(gw, [SLOW_DISC, WS]);
		assert.equal(m[SLOW_DISC] - base[SLOW_DISC], SLOW, 'exactly the slow clients were disconnected for their queue');
		assert.equal(m[WS], N - SLOW + 1, 'the fast clients and the sender are still connected');
		assert.match(gw.log(), /send queue full \(\d+ bytes queued, limit 16384\): disconnecting/);

		// Memory: the slow clients' queues are bounded, so the peak while they backed up is
		// close to the level with every client connected (generous: allocator slack).
		peakRSS = Math.max(peakRSS, vmRSS(gw.child.pid));
		if (!VALGRIND)
			assert.ok(peakRSS - rssBefore < 64 * 1024, `RSS grew from ${rssBefore} to ${peakRSS} kB`);
		process.stdout.write(`${N} clients, ${SLOW} slow, ${seq} broadcasts; RSS ${rssBefore} -> peak ${peakRSS} kB\n`);
		sender.disconnect();
	});

	it('volatile broadcasts are dropped for a stuck client without disconnecting it; then an ordinary one does', T(60000), async () => {
		const FAST = VALGRIND ? 10 : 50;
		const STUCK = VALGRIND ? 2 : 5;
		const fast = await fastClients(gw, 'calm', FAST);
		await stuckClients(gw, 'calm', STUCK);
		const sender = await connect(`${gw.url}/feed`, { transports: ['websocket'], query: { room: 'senders' } });
		const base = await metrics(gw, [SLOW_DISC, DROPS, WS]);
		let seq = 0;
		// Volatile ones until drops are counted, and as many again: nobody is disconnected.
		let firstDrops = 0;
		while (!firstDrops || seq < 2 * firstDrops) {
			await call(sender, 'vtick', { room: 'calm', seq: seq++, pad: PAD });
			if (!firstDrops && seq % 20 === 0 && (await metrics(gw, [DROPS]))[DROPS] > base[DROPS])
				firstDrops = seq;
			assert.ok(seq < 5000, 'no volatile packet was ever dropped');
		}
		let m = await metrics(gw, [SLOW_DISC, DROPS, WS]);
		assert.equal(m[SLOW_DISC], base[SLOW_DISC], 'volatile packets disconnected a client');
		assert.equal(m[WS], base[WS], 'a client was disconnected');
		// Then ordinary ones: the stuck clients go, the fast ones keep getting everything.
		for (;;) {
			await call(sender, 'tick', { room: 'calm', seq: seq++, pad: PAD });
			if (seq % 20 === 0 && (await metrics(gw, [SLOW_DISC]))[SLOW_DISC] - base[SLOW_DISC] >= STUCK)
				break;
			assert.ok(seq < 10000, 'the stuck clients were never disconnected');
		}
		await allReceived(fast, seq);
		m = await metrics(gw, [SLOW_DISC, DROPS, WS]);
		assert.equal(m[SLOW_DISC] - base[SLOW_DISC], STUCK);
		assert.equal(m[WS], base[WS] - STUCK);
		process.stdout.write(`volatile: ${m[DROPS] - base[DROPS]} dropped for ${STUCK} stuck clients, ${seq} broadcasts\n`);
		sender.disconnect();
	});
});
