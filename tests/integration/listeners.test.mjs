// listeners.test.mjs - where the daemon listens and how it is probed: server.listen and
// server.admin_listen bind exactly the address given (read back from the kernel's socket
// table, /proc/net/tcp and tcp6), ":PORT" is all IPv4 and "[::]:PORT" all IPv6 only; and
// `siogate --health` / `--ready` probe the right listener with and without admin_listen.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';

import {
	HOST, SIOGATE, T, freePort, ms, own, runSiogate, sleep, stopChild, underValgrind, writeConfig,
} from './harness.mjs';

const LISTEN = '0A'; // the TCP state column of /proc/net/tcp*

// "0100007F" (IPv4, little-endian) or 32 hex digits (IPv6, four little-endian words).
function procAddr(hex) {
	const bytes = [];
	for (let w = 0; w < hex.length; w += 8)
		for (let i = 6; i >= 0; i -= 2)
			bytes.push(parseInt(hex.slice(w + i, w + i + 2), 16));
	if (bytes.length === 4)
		return bytes.join('.');
	const groups = [];
	for (let i = 0; i < 16; i += 2)
		groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
	const s = groups.join(':');
	return s === '0:0:0:0:0:0:0:0' ? '::' : s === '0:0:0:0:0:0:0:1' ? '::1' : s;
}

/** The addresses with a listening TCP socket on `port`, e.g. ['127.0.0.1'] or ['::']. */
function listeners(port) {
	const out = [];
	for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
		let text = '';
		try {
			text = fs.readFileSync(file, 'utf8');
		} catch {
			continue; /* no IPv6 in this kernel */
		}
		for (const line of text.split('\n').slice(1)) {
			const f = line.trim().split(/\s+/);
			if (f.length < 4 || f[3] !== LISTEN)
				continue;
			const [addr, p] = f[1].split(':');
			if (parseInt(p, 16) === port)
				out.push(procAddr(addr));
		}
	}
	return out.sort();
}

const hasIPv6Loopback = () => {
	try {
		return /^0{31}1 /m.test(fs.readFileSync('/proc/net/if_inet6', 'utf8'));
	} catch {
		return false;
	}
};

/**
 * Starts `siogate -c FILE` for `server` and waits (bounded) until `port` listens and the
 * daemon has said so: a port seen listening alone may be another program's, and a SIGTERM
 * sent before the daemon is up (valgrind starts slowly) would kill it by the signal.
 */
async function startOn(server, port) {
	const file = writeConfig({ server: { drain_timeout_ms: 1000, ...server }, log: { level: 'debug' } }, 'listen');
	const argv = underValgrind([SIOGATE, '-c', file]);
	const child = own(spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] }));
	let log = '';
	child.stderr.on('data', (d) => (log += d));
	const deadline = Date.now() + ms(10000);
	while (listeners(port).length === 0 || !/ listening on /.test(log)) {
		if (child.exitCode !== null)
			throw new Error(`siogate exited early (code ${child.exitCode}):\n${log}`);
		if (Date.now() > deadline)
			throw new Error(`siogate never listened on port ${port}:\n${log}`);
		await sleep(25);
	}
	return { child, file, log: () => log };
}

/** A port that nothing listens on, IPv4 and IPv6 (freePort asks 127.0.0.1 only). */
async function freeDualPort() {
	for (let i = 0; i < 20; i++) {
		const port = await freePort();
		const free = await new Promise((resolve) => {
			const srv = net.createServer();
			srv.unref();
			srv.once('error', () => resolve(false));
			srv.listen({ port, host: '::', ipv6Only: false }, () => srv.close(() => resolve(true)));
		});
		if (free)
			return port;
	}
	throw new Error('no port free on both IPv4 and IPv6');
}

async function stop(d) {
	await stopChild(d.child, ms(5000));
	assert.equal(d.child.exitCode, 0, `siogate exit code ${d.child.exitCode}:\n${d.log()}`);
}

/** Resolves true when a TCP connection to host:port opens, false when it is refused; bounded. */
function canConnect(host, port) {
	return new Promise((resolve) => {
		const s = net.connect({ host, port });
		const t = setTimeout(() => {
			s.destroy();
			resolve(false);
		}, ms(2000));
		s.once('connect', () => {
			clearTimeout(t);
			s.destroy();
			resolve(true);
		});
		s.once('error', () => {
			clearTimeout(t);
			resolve(false);
		});
	});
}

describe('listen addresses', () => {
	it('127.0.0.1 for listen and admin_listen binds 127.0.0.1 only, neither [::] nor 0.0.0.0', T(), async () => {
		const [port, admin] = [await freePort(), await freePort()];
		const d = await startOn({ listen: `${HOST}:${port}`, admin_listen: `${HOST}:${admin}` }, port);
		try {
			assert.deepEqual(listeners(port), ['127.0.0.1']);
			assert.deepEqual(listeners(admin), ['127.0.0.1']);
		} finally {
			await stop(d);
		}
	});

	it('":PORT" binds all IPv4 addresses (0.0.0.0), not [::]', T(), async () => {
		const port = await freePort();
		const d = await startOn({ listen: `:${port}` }, port);
		try {
			assert.deepEqual(listeners(port), ['0.0.0.0']);
		} finally {
			await stop(d);
		}
	});

	it('"[::1]:PORT" binds ::1, "[::]:PORT" all IPv6 addresses and not IPv4', T(), async (t) => {
		if (!hasIPv6Loopback())
			return t.skip('no IPv6 loopback here');
		let port = await freeDualPort();
		let d = await startOn({ listen: `[::1]:${port}` }, port);
		try {
			assert.deepEqual(listeners(port), ['::1']);
		} finally {
			await stop(d);
		}
		port = await freeDualPort();
		d = await startOn({ listen: `[::]:${port}` }, port);
		try {
			assert.deepEqual(listeners(port), ['::']);
			assert.equal(await canConnect('::1', port), true, 'an IPv6 connection');
			assert.equal(await canConnect(HOST, port), false, 'IPv4 reaches an IPv6-only listener');
		} finally {
			await stop(d);
		}
	});

	it('an address of no interface here stops the start with an error naming it', T(), async () => {
		const port = await freePort();
		const file = writeConfig({ server: { listen: `192.0.2.1:${port}` } }, 'listen-bad');
		const r = await runSiogate(['-c', file]);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /cannot listen on 192\.0\.2\.1:\d+ \(/);
	});
});

describe('siogate --health and --ready', () => {
	const probe = (flag, file) => runSiogate([flag, '-c', file]);

	it('without admin_listen: probes the main listener; 0 while running, 1 with a reason after', T(), async () => {
		const port = await freePort();
		const d = await startOn({ listen: `:${port}` }, port);
		try {
			for (const flag of ['--health', '--ready']) {
				const r = await probe(flag, d.file);
				assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
				assert.equal(r.stderr, '');
			}
		} finally {
			await stop(d);
		}
		const r = await probe('--health', d.file);
		assert.equal(r.code, 1);
		assert.match(r.stderr, new RegExp(`^siogate: healthz: 127\\.0\\.0\\.1:${port}: .*refused\\n$`, 'i'));
	});

	it('with admin_listen: probes the admin listener, not the main one (which answers 404 there)', T(), async () => {
		const [port, admin] = [await freePort(), await freePort()];
		const d = await startOn({ listen: `${HOST}:${port}`, admin_listen: `${HOST}:${admin}` }, port);
		try {
			const r = await probe('--health', d.file);
			assert.equal(r.code, 0, r.stderr);
			// The same daemon seen through a config whose admin port is wrong: not healthy.
			const wrong = writeConfig({ server: { listen: `${HOST}:${port}`, admin_listen: `${HOST}:${await freePort()}` } }, 'wrong');
			const w = await probe('--health', wrong);
			assert.equal(w.code, 1);
			assert.match(w.stderr, /^siogate: healthz: 127\.0\.0\.1:\d+: .*refused\n$/i);
		} finally {
			await stop(d);
		}
		assert.equal((await probe('--health', d.file)).code, 1);
	});

	it('a TLS listener without admin_listen is refused with the way out', T(), async () => {
		const file = writeConfig({ server: { listen: `${HOST}:${await freePort()}`, tls: { cert: '/nonexistent.pem', key: '/nonexistent.key' } } }, 'tls');
		const r = await probe('--health', file);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /^siogate: healthz: the listener speaks TLS .* set admin_listen/);
	});

	it('--help lists them', T(), async () => {
		const r = await runSiogate(['--help']);
		assert.equal(r.code, 0);
		assert.match(r.stdout, /^ {6}--health {8}probe the running daemon's \/healthz/m);
		assert.match(r.stdout, /^ {6}--ready {9}the same for \/readyz$/m);
	});
});
