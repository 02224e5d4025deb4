// abuse.test.mjs - connection abuse against the daemon, each bounded by a documented limit
// (docs/reliability.md) while a well-behaved client still connects and gets an ack:
// half-open TCP connections and dripped request headers (server.header_timeout_ms), polling
// sessions that never poll (connect_timeout_ms / the heartbeat), WebSocket messages over
// max_payload, namespace connects by the thousand on one session (max_namespaces_per_client;
// and namespaces made from a `match` rule are freed when empty), joins by the thousand
// (rooms.max_rooms); and connections by the hundred against server.max_connections, also when
// the process runs out of file descriptors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';

import {
	HOST, SIOGATE, T, VALGRIND, call, closeClients, connect, freePort, httpGet, metricValue, ms, own, pollingHandshake, rawWebSocket,
	sleep, startDaemon, stopChild, until, vmRSS, writeConfig,
} from './harness.mjs';

const MAX_PAYLOAD = 10000;
const MAX_NSP = 8;
const MAX_ROOMS = 16;
const CONFIG = {
	server: {
		header_timeout_ms: 1000,
		connect_timeout_ms: VALGRIND ? 4000 : 1500,
		ping_interval_ms: ms(1000),
		ping_timeout_ms: ms(1000),
		max_payload: MAX_PAYLOAD,
		max_namespaces_per_client: MAX_NSP,
	},
	namespaces: [
		{ name: '/app', rooms: { client_join: true, max_rooms: MAX_ROOMS } },
		{ match: '^/t-[0-9]+$' },
	],
};

/** A /metrics value (the whole name with labels); fails when it is absent. */
async function metric(gw, name) {
	const v = await metricValue(gw, name);
	assert.ok(!Number.isNaN(v), `no ${name} in /metrics`);
	return v;
}

/** The well-behaved client: connects to /app over WebSocket and gets its join acked. */
async function wellBehaved(gw) {
	const s = await connect(`${gw.url}/app`, { transports: ['websocket'] }, ms(5000));
	assert.deepEqual(await call(s, 'join', 'good'), [{ ok: true }]);
	s.disconnect();
}

/** Resolves once /healthz answers 200 (bounded by `timeout`). */
function answers(gw, what, timeout) {
	return until(async () => (await httpGet(`${gw.url}/healthz`).catch(() => ({}))).status === 200, what, timeout);
}

/** A TCP connection that records when the server closed it. */
function tcp(gw, onConnect) {
	return new Promise((resolve, reject) => {
		const s = net.connect(gw.port, HOST);
		const c = { s, opened: 0, closedAt: 0 };
		s.on('error', () => {});
		s.on('close', () => (c.closedAt = Date.now()));
		s.once('connect', () => {
			c.opened = Date.now();
			onConnect?.(s);
			resolve(c);
		});
		s.once('error', reject);
	});
}

describe('connection abuse', () => {
	let gw;

	before(async () => {
		gw = await startDaemon(CONFIG);
	});
	afterEach(() => closeClients());
	after(async () => {
		closeClients();
		await gw?.stop();
	});

	it('half-open connections and dripped headers (slowloris) are closed after header_timeout_ms', T(30000), async () => {
		const IDLE = VALGRIND ? 50 : 500;
		const DRIP = VALGRIND ? 10 : 50;
		const idle = [];
		for (let i = 0; i < IDLE; i += 50)
			idle.push(...(await Promise.all(Array.from({ length: Math.min(50, IDLE - i) }, () => tcp(gw)))));
		const timers = [];
		const drip = await Promise.all(Array.from({ length: DRIP }, () => tcp(gw, (s) => {
			s.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n');
			// One more header line every 200 ms: never the blank line that ends them.
			let n = 0;
			timers.push(setInterval(() => !s.destroyed && s.write(`X-Drip-${n++}: y\r\n`), 200));
		})));
		try {
			await wellBehaved(gw);
			const all = [...idle, ...drip];
			await until(() => all.every((c) => c.closedAt), 'the server to close every unfinished connection', ms(8000));
			// The drippers kept sending for at least the timeout and were still cut off.
			for (const c of drip)
				assert.ok(c.closedAt - c.opened >= 900, `a dripping connection closed after ${c.closedAt - c.opened} ms`);
		} finally {
			timers.forEach(clearInterval);
		}
		await wellBehaved(gw);
	});

	it('polling sessions that never poll are closed (connect timeout / heartbeat)', T(30000), async () => {
		const P = VALGRIND ? 20 : 200;
		const POLLING = 'siogate_connected_clients{transport="polling"}';
		const closedBefore = await metric(gw, 'siogate_sessions_closed_total');
		for (let i = 0; i < P; i += 50)
			await Promise.all(Array.from({ length: Math.min(50, P - i) }, () => pollingHandshake(gw.url)));
		assert.ok(await metric(gw, POLLING) >= P);
		await wellBehaved(gw);
		await until(async () => (await metric(gw, POLLING)) === 0, 'every idle polling session to be closed', ms(10000));
		assert.ok(await metric(gw, 'siogate_sessions_closed_total') - closedBefore >= P);
		await wellBehaved(gw);
	});

	it('a WebSocket message over max_payload closes that connection only', T(), async () => {
		const before = await metric(gw, 'siogate_oversize_payloads_total');
		const raw = await rawWebSocket(gw.url);
		await raw.next();
		raw.send('40/app,');
		assert.match(await raw.next(), /^40\/app,/);
		raw.send(`42/app,["big","${'a'.repeat(MAX_PAYLOAD + 100)}"]`);
		// until(), not waitClosed(): that one's timer keeps running and holds the test file open.
		await until(() => !raw.isOpen, 'the server to close the connection', ms(5000));
		assert.equal(await metric(gw, 'siogate_oversize_payloads_total'), before + 1);
		await wellBehaved(gw);
	});

	it(`thousands of namespace connects on one session: ${MAX_NSP} accepted, the rest refused with a reason`, T(30000), async () => {
		const N = VALGRIND ? 200 : 2000;
		const raw = await rawWebSocket(gw.url);
		await raw.next();
		for (let i = 0; i < N; i++)
			raw.send(`40/t-${i},`);
		let ok = 0;
		let refused = 0;
		for (let i = 0; i < N; i++) {
			const m = await raw.next(ms(5000));
			if (/^40\/t-\d+,\{"sid":/.test(m))
				ok++;
			else if (m.startsWith('44/t-') && m.includes('"Too many namespaces on one connection"'))
				refused++;
			else
				assert.fail(`unexpected answer ${m}`);
		}
		assert.deepEqual({ ok, refused }, { ok: MAX_NSP, refused: N - MAX_NSP });
		assert.ok(raw.isOpen, 'the session stays open');
		await wellBehaved(gw);
	});

	it('connecting to ever new namespaces of a `match` rule does not grow memory (empty ones are freed)', T(60000), async () => {
		const N = VALGRIND ? 300 : 20000;
		const raw = await rawWebSocket(gw.url);
		await raw.next();
		const churn = async (from, to) => {
			for (let i = from; i < to; i += 500) {
				const end = Math.min(to, i + 500);
				// Connect and leave at once: the next connect may free the namespace.
				for (let j = i; j < end; j++) {
					raw.send(`40/t-9${j},`);
					raw.send(`41/t-9${j},`);
				}
				for (let j = i; j < end; j++)
					assert.match(await raw.next(ms(5000)), /^40\/t-9\d+,\{"sid":/);
			}
		};
		await churn(0, N / 10); // warm-up: allocator pools
		const rssBefore = vmRSS(gw.child.pid);
		await churn(N / 10, N);
		const rssAfter = vmRSS(gw.child.pid);
		process.stdout.write(`${N} namespaces connected and left on one session: RSS ${rssBefore} -> ${rssAfter} kB\n`);
		if (!VALGRIND)
			assert.ok(rssAfter - rssBefore < 1024, `RSS grew from ${rssBefore} to ${rssAfter} kB`);
		assert.ok(raw.isOpen);
		await wellBehaved(gw);
	});

	it(`thousands of joins on one socket: ${MAX_ROOMS} accepted, the rest refused with "too many rooms"`, T(30000), async () => {
		const N = VALGRIND ? 200 : 3000;
		const s = await connect(`${gw.url}/app`, { transports: ['websocket'] });
		const acks = await Promise.all(Array.from({ length: N }, (_, i) =>
			new Promise((resolve, reject) => s.timeout(ms(10000)).emit('join', `r${i}`, (err, r) => (err ? reject(err) : resolve(r))))));
		const ok = acks.filter((a) => a.ok).length;
		assert.equal(ok, MAX_ROOMS);
		for (const a of acks.filter((x) => !x.ok))
			assert.deepEqual(a, { ok: false, error: 'too many rooms' });
		await wellBehaved(gw);
	});
});

/**
 * The daemon under `ulimit -n LIMIT` (a shell in front of it, so not through startDaemon()),
 * answering on a free port: { child, gw: { port, url }, logPath }. Tries another port if the
 * daemon exits at once (the port was taken meanwhile).
 */
async function startWithFileLimit(limit) {
	for (let attempt = 0; ; attempt++) {
		const port = await freePort();
		const cfg = writeConfig({
			server: { listen: `${HOST}:${port}`, header_timeout_ms: 60000 }, log: { level: 'info' },
			namespaces: [{ name: '/app', rooms: { client_join: true } }],
		}, 'nofile');
		const logPath = `${cfg}.log`;
		const fd = fs.openSync(logPath, 'w');
		const child = own(spawn('sh', ['-c', `ulimit -n ${limit} && exec "$0" -c "$1"`, SIOGATE, cfg], { stdio: ['ignore', fd, fd] }));
		fs.closeSync(fd);
		const gw = { port, url: `http://${HOST}:${port}` };
		const up = await answers(gw, 'the daemon to answer', ms(20000)).then(() => null, (e) => e);
		if (!up)
			return { child, gw, logPath };
		await stopChild(child, ms(5000));
		if (attempt >= 2)
			throw new Error(`${up.message} (exit code ${child.exitCode}):\n${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
	}
}

describe('server.max_connections', () => {
	afterEach(() => closeClients());

	/** Opens `n` TCP connections that send nothing; resolves with their records (see tcp()). */
	const idle = (gw, n) => Promise.all(Array.from({ length: n }, () => tcp(gw)));
	/** Whether the server closed `c` within `within` ms (it sent nothing, so only the server can). */
	const closedWithin = async (c, within) => {
		const deadline = Date.now() + within;
		while (!c.closedAt && Date.now() < deadline)
			await sleep(10);
		return !!c.closedAt;
	};

	it('past the limit a connection is closed at once; slots come back when connections end', T(30000), async () => {
		const MAX = 20;
		// Long enough for the daemon to see the connections come and go (not scaled: it is idle).
		const SETTLE = VALGRIND ? 1500 : 300;
		const gw = await startDaemon({ server: { max_connections: MAX, header_timeout_ms: 60000 }, namespaces: [{ name: '/app', rooms: { client_join: true } }] });
		try {
			// The server must have seen every close before new connections count: the startup
			// probe's first, then each round's.
			await sleep(SETTLE);
			const held = await idle(gw, MAX);
			await sleep(SETTLE);
			assert.ok(!held.some((c) => c.closedAt), 'a connection within the limit was closed');
			const extra = await tcp(gw);
			assert.ok(await closedWithin(extra, ms(3000)), 'connection MAX+1 was not closed');
			await assert.rejects(httpGet(`${gw.url}/healthz`, { timeout: ms(2000) }));
			assert.ok(!held.some((c) => c.closedAt), 'a connection within the limit was closed');
			await gw.waitLog(/warn server: 20 connections open \(server\.max_connections\): closing new ones until some end/);
			// They leave; every slot is free again (the count went back down), twice over.
			for (const c of held)
				c.s.destroy();
			await answers(gw, '/healthz to answer again', ms(5000));
			// Connection MAX+1 and the /healthz above were refused, and counted.
			assert.ok(await metric(gw, 'siogate_connections_refused_total{reason="max_connections"}') >= 2);
			for (let round = 0; round < (VALGRIND ? 1 : 2); round++) {
				await sleep(SETTLE);
				const again = await idle(gw, MAX);
				await sleep(SETTLE);
				assert.ok(!again.some((c) => c.closedAt), `round ${round}: a connection within the limit was closed`);
				again.forEach((c) => c.s.destroy());
			}
			await sleep(SETTLE);
			await wellBehaved(gw);
		} finally {
			closeClients();
			await gw.stop();
		}
	});

	// Regression: with the open-file limit reached, lws spun on accept() failing with EMFILE and
	// logged "accept: errno 24" thousands of times a second. The default limit keeps 64 fds free.
	it('with a small open-file limit (ulimit -n 64): extra connections are closed, no accept() loop', { ...T(30000), skip: VALGRIND && 'valgrind needs more file descriptors' }, async () => {
		const { child, gw, logPath } = await startWithFileLimit(64);
		try {
			const conns = [];
			for (let i = 0; i < 100; i++)
				conns.push(await tcp(gw));
			await until(() => conns.filter((c) => c.closedAt).length >= 100 - 32, 'the connections past the limit to be closed', ms(5000));
			await sleep(ms(500));
			const log = fs.readFileSync(logPath, 'utf8');
			assert.doesNotMatch(log, /accept: errno/);
			assert.match(log, /warn server: 32 connections open \(server\.max_connections\)/);
			conns.forEach((c) => c.s.destroy());
			await answers(gw, '/healthz after they left', ms(5000));
			await wellBehaved({ url: gw.url });
		} finally {
			closeClients();
			await stopChild(child, ms(5000));
		}
		assert.equal(child.exitCode, 0, fs.readFileSync(logPath, 'utf8').slice(-2000));
	});
});
