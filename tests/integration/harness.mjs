// harness.mjs - process and client plumbing for the integration tests: free loopback ports,
// temporary config files and folders, the daemon and the conformance server as child processes
// (logs in files, bounded readiness wait, killed by PID on teardown and on exit), optional
// valgrind, helper processes (one-shot runs, bounded), the daemon's /readyz and /metrics,
// suite hooks, and small promise helpers around socket.io-client with a bound on every wait.
// kafka-harness.mjs and mqtt-harness.mjs add the brokers on top of it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import { io } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));

export const SRCDIR = process.env.SG_TOP_SRCDIR || path.resolve(here, '..', '..');
// `make check` sets SG_TOP_BUILDDIR; without it, assume an in-tree build.
export const BUILDDIR = process.env.SG_TOP_BUILDDIR || SRCDIR;
export const VALGRIND = process.env.SG_VALGRIND === '1';
// Every timeout is multiplied by this: valgrind makes the servers 10-50 times slower.
export const SCALE = Number(process.env.SG_TIME_SCALE) || (VALGRIND ? 10 : 1);
export const HOST = '127.0.0.1';

export const SIOGATE = path.join(BUILDDIR, 'src', 'siogate');
export const CONFORMANCE = path.join(BUILDDIR, 'tests', 'conformance-server');

/** Scales a duration in milliseconds for slow runs (valgrind). */
export const ms = (n) => Math.round(n * SCALE);

export const sleep = (n) => new Promise((resolve) => setTimeout(resolve, n));

// One temporary directory per test file for configs and server logs. It is removed when
// every test passed, and kept (its path printed) when something failed.
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'siogate-it-'));
// Every process started here or through own(): killed on exit, whatever happened.
const children = new Set();
const servers = [];
// Folders made by tempDir(): { dir, keepOnFailure }.
const tmpDirs = [];

process.on('exit', (code) => {
	for (const child of children) {
		try {
			process.kill(child.pid, 'SIGKILL');
		} catch {
			/* already gone */
		}
	}
	const failed = code !== 0 || (process.exitCode !== undefined && process.exitCode !== 0);
	if (failed) {
		for (const s of servers)
			process.stderr.write(`--- ${s.name} log (${s.logPath}), last lines:\n${tail(s.log(), 40)}\n`);
		process.stderr.write(`integration logs kept in ${tmpRoot}\n`);
	} else if (!process.env.SG_KEEP_LOGS) {
		fs.rmSync(tmpRoot, { recursive: true, force: true });
	}
	if (!process.env.SG_KEEP_LOGS)
		for (const { dir, keepOnFailure } of tmpDirs)
			if (!(keepOnFailure && failed))
				fs.rmSync(dir, { recursive: true, force: true });
});

// A signal would skip the 'exit' handler: turn it into an exit so the servers die too.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'])
	process.once(sig, () => process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15)));

function tail(text, lines) {
	return text.split('\n').slice(-lines).join('\n');
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago. It is picked below the kernel's
 * ephemeral range: a port from that range (what listen(0) gives) can be taken as the local
 * port of any outgoing connection between now and the server's bind(), and the tests open
 * thousands of those. Falls back to listen(0) if that range leaves no room.
 */
export async function freePort() {
	let low = 32768;
	try {
		low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
	} catch {
		/* not Linux: keep the usual bound */
	}
	const base = 10000;
	for (let i = 0; low - base > 1000 && i < 50; i++) {
		const port = base + Math.floor(Math.random() * (low - base));
		if (await canListen(port))
			return port;
	}
	return listenAny();
}

function canListen(port) {
	return new Promise((resolve) => {
		const srv = net.createServer();
		srv.unref();
		srv.once('error', () => resolve(false));
		srv.listen(port, HOST, () => srv.close(() => resolve(true)));
	});
}

function listenAny() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, HOST, () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

let seq = 0;

/** Writes `obj` as JSON into the temporary directory and returns the file's path. */
export function writeConfig(obj, name = 'siogate') {
	const file = path.join(tmpRoot, `${name}-${++seq}.json`);
	fs.writeFileSync(file, JSON.stringify(obj, null, 2));
	return file;
}

/** Resolves with the HTTP status and body of a GET, or rejects; bounded by `timeout`. */
export function httpGet(url, { timeout = ms(2000), headers = {} } = {}) {
	return httpRequest('GET', url, null, { timeout, headers });
}

/** A bounded HTTP request on a fresh connection: { status, headers, body }. */
export function httpRequest(method, url, body, { timeout = ms(2000), headers = {} } = {}) {
	return new Promise((resolve, reject) => {
		const req = http.request(url, { method, headers, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () =>
				resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
			res.on('error', reject);
		});
		req.setTimeout(timeout, () => req.destroy(new Error(`${method} ${url}: no answer in ${timeout} ms`)));
		req.on('error', reject);
		req.end(body ?? undefined);
	});
}

/**
 * A fresh temporary folder, removed on exit (kept with SG_KEEP_LOGS, and with `keepOnFailure`
 * also when a test failed).
 */
export function tempDir(prefix = 'siogate-', { keepOnFailure = false } = {}) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	tmpDirs.push({ dir, keepOnFailure });
	return dir;
}

/** The path of `cmd` (a name looked up on $PATH, or a path), or null if it is not there. */
export function which(cmd) {
	if (cmd.includes('/'))
		return fs.existsSync(cmd) ? cmd : null;
	for (const dir of (process.env.PATH || '').split(':'))
		if (dir && fs.existsSync(path.join(dir, cmd)))
			return path.join(dir, cmd);
	return null;
}

// ---------------------------------------------------------------- child processes

/** Remembers `child` so that it is killed (SIGKILL) when the test process exits; returns it. */
export function own(child) {
	children.add(child);
	child.on('exit', () => children.delete(child));
	child.on('error', () => children.delete(child));
	return child;
}

/** Resolves true once `child` has exited, or false after `timeout` ms. */
export function waitExit(child, timeout) {
	if (child.exitCode !== null || child.signalCode !== null)
		return Promise.resolve(true);
	return new Promise((resolve) => {
		const t = setTimeout(() => {
			child.off('exit', onExit);
			resolve(false);
		}, timeout);
		const onExit = () => {
			clearTimeout(t);
			resolve(true);
		};
		child.once('exit', onExit);
	});
}

/**
 * Stops `child` if it still runs: `ask` (SIGTERM by default), then SIGKILL if it is still there
 * after `timeout` ms, and a wait as long again.
 */
export async function stopChild(child, timeout, ask = (c) => c.kill('SIGTERM')) {
	if (!child || child.exitCode !== null || child.signalCode !== null)
		return;
	ask(child);
	if (!(await waitExit(child, timeout))) {
		child.kill('SIGKILL');
		await waitExit(child, timeout);
	}
}

/** Calls `onLine` with each complete line of text that `stream` (e.g. a child's stdout) gives. */
export function eachLine(stream, onLine) {
	let buf = '';
	stream.setEncoding('utf8');
	stream.on('data', (d) => {
		buf += d;
		let i;
		while ((i = buf.indexOf('\n')) >= 0) {
			const line = buf.slice(0, i);
			buf = buf.slice(i + 1);
			onLine(line);
		}
	});
}

/**
 * `argv` run under valgrind when SG_VALGRIND=1 (exit code 99 on a memory error or leak).
 * --fair-sched=yes: valgrind runs one thread at a time, and by default a thread that spins
 * (librdkafka's main thread while a client is destroyed without its consumer close) keeps
 * the others from running for tens of seconds, a timed join included: a gateway then took
 * 50 s to exit where it takes 3 s without valgrind.
 */
export function underValgrind(argv) {
	if (!VALGRIND)
		return argv;
	return ['valgrind', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect',
		'--show-leak-kinds=definite,indirect', '--fair-sched=yes', '--quiet', ...argv];
}

/**
 * Runs a program to completion, bounded: resolves { code, signal, stdout (a Buffer), stderr }.
 * On timeout the process is killed and the promise rejects.
 */
export function run(argv, { input, env = {}, timeout = ms(10000) } = {}) {
	return new Promise((resolve, reject) => {
		const child = own(spawn(argv[0], argv.slice(1), {
			stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
			env: { ...process.env, ...env },
		}));
		const out = [];
		const err = [];
		child.stdout.on('data', (d) => out.push(d));
		child.stderr.on('data', (d) => err.push(d));
		if (input !== undefined) {
			child.stdin.on('error', () => {});
			child.stdin.end(input);
		}
		const t = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error(`${argv.join(' ')}: still running after ${timeout} ms; killed\n${Buffer.concat(err)}`));
		}, timeout);
		child.on('error', (e) => {
			clearTimeout(t);
			reject(e);
		});
		child.on('close', (code, signal) => {
			clearTimeout(t);
			resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
		});
	});
}

// ---------------------------------------------------------------- servers

/** A server child process. Use start() through startDaemon()/startConformance(). */
class Server {
	constructor(name, argv, { port, path: eioPath = '/socket.io/', env = {} }) {
		this.name = name;
		this.argv = argv;
		this.port = port;
		this.path = eioPath;
		this.env = env;
		this.url = `http://${HOST}:${port}`;
		this.logPath = path.join(tmpRoot, `${name}-${port}-${++seq}.log`);
		this.child = null;
		servers.push(this);
	}

	/** Starts the process and waits (at most 10 s, 30 s under valgrind) until it answers HTTP. */
	async start() {
		const fd = fs.openSync(this.logPath, 'a');
		const argv = underValgrind(this.argv);
		fs.writeSync(fd, `# ${argv.join(' ')}\n`);
		const child = spawn(argv[0], argv.slice(1), {
			stdio: ['ignore', fd, fd],
			env: { ...process.env, ...this.env },
		});
		fs.closeSync(fd);
		this.child = own(child);
		const spawnError = new Promise((_, reject) => child.once('error', reject));
		spawnError.catch(() => {});

		const deadline = Date.now() + (VALGRIND ? 30000 : 10000);
		const probe = `${this.url}${this.path}?EIO=4&transport=polling`;
		for (;;) {
			if (child.exitCode !== null || child.signalCode !== null)
				throw new Error(`${this.name} exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${tail(this.log(), 30)}`);
			try {
				// Any HTTP answer means it listens (a websocket-only server answers 400).
				await Promise.race([httpGet(probe, { timeout: 1000 }), spawnError]);
				return this;
			} catch (e) {
				if (e.code === 'ENOENT')
					throw new Error(`cannot run ${argv[0]}: build it first or set SG_TOP_BUILDDIR (${e.message})`);
			}
			if (Date.now() > deadline)
				throw new Error(`${this.name} did not answer on ${probe} within the startup bound:\n${tail(this.log(), 30)}`);
			await sleep(50);
		}
	}

	get running() {
		return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
	}

	/** The process's output so far (stdout and stderr, interleaved). */
	log() {
		try {
			return fs.readFileSync(this.logPath, 'utf8');
		} catch {
			return '';
		}
	}

	/** Waits (bounded) until the log contains `re`; returns the match. */
	async waitLog(re, timeout = ms(3000)) {
		const deadline = Date.now() + timeout;
		for (;;) {
			const m = this.log().match(re);
			if (m)
				return m;
			if (Date.now() > deadline)
				throw new Error(`${this.name}: log never matched ${re}:\n${tail(this.log(), 20)}`);
			await sleep(25);
		}
	}

	/** SIGTERM, then SIGKILL after 5 s (scaled). Throws unless it exited with code 0. */
	async stop({ expectCode = 0 } = {}) {
		const child = this.child;
		if (!child)
			return null;
		if (this.running) {
			child.kill('SIGTERM');
			if (!(await waitExit(child, ms(5000)))) {
				child.kill('SIGKILL');
				await waitExit(child, 5000);
				throw new Error(`${this.name} (pid ${child.pid}) ignored SIGTERM for ${ms(5000)} ms; killed:\n${tail(this.log(), 20)}`);
			}
		}
		const { exitCode, signalCode } = child;
		if (expectCode !== null && exitCode !== expectCode)
			throw new Error(`${this.name} (pid ${child.pid}) exited with code ${exitCode} signal ${signalCode}, expected ${expectCode}` +
				`${exitCode === 99 ? ' (valgrind found errors)' : ''}:\n${tail(this.log(), 60)}`);
		return { code: exitCode, signal: signalCode };
	}

	/** Sends `sig` (e.g. 'SIGHUP') to the process. */
	signal(sig) {
		assert.ok(this.running, `${this.name} is not running`);
		this.child.kill(sig);
	}

	/** SIGKILL without ceremony (for the restart tests). */
	async kill() {
		if (this.running) {
			this.child.kill('SIGKILL');
			await waitExit(this.child, 5000);
		}
	}
}

/**
 * Starts the daemon with `config` (an object; server.listen is filled in with a free port
 * unless `port` is given). Retries on a fresh port if the chosen one was taken meanwhile.
 */
export async function startDaemon(config = {}, { port, name = 'siogate', env = {} } = {}) {
	for (let attempt = 0; ; attempt++) {
		const p = port ?? (await freePort());
		const cfg = structuredClone(config);
		cfg.server = { listen: `${HOST}:${p}`, drain_timeout_ms: 2000, ...cfg.server };
		cfg.server.listen = `${HOST}:${p}`;
		cfg.log = { level: 'debug', ...cfg.log };
		const file = writeConfig(cfg, name);
		const srv = new Server(name, [SIOGATE, '-c', file], { port: p, path: eioPath(cfg.server.path), env });
		srv.configPath = file;
		srv.config = cfg;
		try {
			return await srv.start();
		} catch (e) {
			if (port !== undefined || attempt >= 2 || !/exited early/.test(e.message))
				throw e;
		}
	}
}

function eioPath(p = '/socket.io/') {
	return p.endsWith('/') ? p : p + '/';
}

/** Starts tests/conformance-server on a free loopback port. */
export async function startConformance({ port, name = 'conformance' } = {}) {
	for (let attempt = 0; ; attempt++) {
		const p = port ?? (await freePort());
		const srv = new Server(name, [CONFORMANCE, String(p)], {
			port: p,
			env: { SG_CONFORMANCE_HOST: HOST, SG_DEBUG: '1' },
		});
		try {
			return await srv.start();
		} catch (e) {
			if (port !== undefined || attempt >= 2 || !/exited early/.test(e.message))
				throw e;
		}
	}
}

// ---------------------------------------------------------------- the daemon: probes and one-shot runs

/** GET /readyz: { status, body } (body parsed). */
export async function readyz(gw) {
	const r = await httpGet(`${gw.url}/readyz`);
	let body;
	try {
		body = JSON.parse(r.body);
	} catch {
		body = r.body;
	}
	return { status: r.status, body };
}

/**
 * Waits until /readyz answers `status` (200 by default) and resolves with its body; bounded
 * (30 s, scaled, by default), polled every `interval` ms.
 */
export async function waitReady(gw, { status = 200, timeout = ms(30000), interval = 100 } = {}) {
	const deadline = Date.now() + timeout;
	let last;
	for (;;) {
		try {
			last = await readyz(gw);
			if (last.status === status)
				return last.body;
		} catch (e) {
			last = e.message;
		}
		if (!gw.running)
			throw new Error(`${gw.name} exited while waiting for /readyz ${status}:\n${tail(gw.log(), 30)}`);
		if (Date.now() > deadline)
			throw new Error(`${gw.name}: /readyz never answered ${status} within ${timeout} ms (last: ${JSON.stringify(last)}):\n` +
				tail(gw.log(), 30));
		await sleep(interval);
	}
}

/**
 * Starts the daemon (startDaemon()) with SIOGATE_PLUGIN_PATH=`pluginPath` and, unless `ready`
 * is false, waits until /readyz answers 200 (`readyOpts`: the options of waitReady()).
 */
export async function startBridgeDaemon(config, pluginPath, { name, env = {}, ready = true, readyOpts } = {}) {
	const gw = await startDaemon(config, { name, env: { SIOGATE_PLUGIN_PATH: pluginPath, ...env } });
	if (ready)
		await waitReady(gw, readyOpts);
	return gw;
}

/** The bridge counters of /metrics: { consumed, produced, failed, malformed, dead_letters, ... }. */
export async function bridgeCounters(gw, bridge = 'main') {
	const r = await httpGet(`${gw.url}/metrics`);
	const out = {};
	const re = new RegExp(`^siogate_bridge_([a-z_]+)_total\\{bridge="${bridge}"\\} (\\S+)$`, 'gm');
	for (const m of r.body.matchAll(re))
		out[m[1].replace(/^messages_/, '')] = Number(m[2]);
	return out;
}

/**
 * Runs `siogate ARGS` once (e.g. --check-config); resolves with { code, signal, stdout, stderr }
 * (strings). Under SG_VALGRIND=1 it runs under valgrind and a memory error fails (exit code 99
 * is reported as such). A plugin path goes in `env` (SIOGATE_PLUGIN_PATH).
 */
export async function runSiogate(args, { env = {}, timeout = ms(10000) } = {}) {
	const r = await run(underValgrind([SIOGATE, ...args]), { env, timeout });
	if (r.code === 99)
		throw new Error(`valgrind found errors in siogate ${args.join(' ')}:\n${r.stderr}`);
	return { code: r.code, signal: r.signal, stdout: r.stdout.toString(), stderr: r.stderr };
}

/**
 * `siogate --check-config -c FILE` for a config object (written to a temp file as it is) or a
 * file's path; `opts` as for runSiogate().
 */
export async function checkConfig(config, opts = {}) {
	const file = typeof config === 'string' ? config : writeConfig(config, 'check');
	return runSiogate(['--check-config', '-c', file], opts);
}

/** A config with server.listen on a free port, written to a file (for one-shot runs). */
export async function configFile(config, name = 'oneshot') {
	const port = await freePort();
	return writeConfig({ ...config, server: { listen: `${HOST}:${port}`, ...config.server } }, name);
}

// ---------------------------------------------------------------- suite hooks

/**
 * Runs `test(gw)` against a daemon of its own, started with `config`; then, whatever happened,
 * closes the clients and stops it (stop() throws unless it exits with code 0).
 */
export async function withDaemon(config, test) {
	const gw = await startDaemon(config);
	try {
		return await test(gw);
	} finally {
		closeClients();
		await gw.stop();
	}
}

/**
 * The hooks of a suite (or, at top level, of a test file) that runs against servers: before()
 * runs `start`, every test is followed by closeClients(), and after() closes the clients and
 * then runs `stop`.
 */
export function serverHooks(start, stop) {
	before(start);
	afterEach(() => closeClients());
	after(async () => {
		closeClients();
		await stop();
	});
}

/**
 * Stops the daemon `gw` if it still runs (stop() throws unless it exits with code 0), then,
 * whatever happened, its broker with `stopBroker`.
 */
export async function stopGatewayAndBroker(gw, stopBroker) {
	try {
		if (gw?.running)
			await gw.stop();
	} finally {
		await stopBroker();
	}
}

// ---------------------------------------------------------------- clients

const sockets = new Set();
const rawSockets = new Set();

/**
 * A socket.io-client socket that is not multiplexed and does not reconnect unless asked;
 * remembered so that closeClients() can close it.
 */
export function client(url, opts = {}) {
	const s = io(url, { forceNew: true, reconnection: false, timeout: ms(5000), ...opts });
	sockets.add(s);
	return s;
}

/** Remembers a socket created some other way (e.g. manager.socket()). */
export function track(s) {
	sockets.add(s);
	return s;
}

/** Closes every socket made by client() / track() / rawWebSocket(). */
export function closeClients() {
	for (const s of sockets) {
		s.io.reconnection(false);
		s.disconnect();
		s.io.engine?.close();
	}
	sockets.clear();
	for (const ws of rawSockets)
		ws.terminate();
	rawSockets.clear();
}

/** Resolves with the arguments of the next `event` on `emitter`; rejects after `timeout`. */
export function once(emitter, event, timeout = ms(3000)) {
	return new Promise((resolve, reject) => {
		const t = setTimeout(() => {
			emitter.off(event, on);
			reject(new Error(`no '${event}' within ${timeout} ms`));
		}, timeout);
		const on = (...args) => {
			clearTimeout(t);
			resolve(args);
		};
		emitter.once(event, on);
	});
}

/**
 * The first of `socket`'s 'connect' (resolves { connected: true }) and 'connect_error'
 * (resolves { error }); rejects with `late` (a message) after `timeout`.
 */
function connectOutcome(socket, timeout, late) {
	return new Promise((resolve, reject) => {
		const done = () => {
			clearTimeout(t);
			socket.off('connect', ok);
			socket.off('connect_error', ko);
		};
		const t = setTimeout(() => {
			done();
			reject(new Error(late));
		}, timeout);
		const ok = () => {
			done();
			resolve({ connected: true });
		};
		const ko = (error) => {
			done();
			resolve({ error });
		};
		socket.on('connect', ok);
		socket.on('connect_error', ko);
	});
}

/** Resolves when `socket` connects; rejects with the connect_error (or after `timeout`). */
export async function connected(socket, timeout = ms(5000)) {
	if (socket.connected)
		return socket;
	const r = await connectOutcome(socket, timeout, `socket ${socket.nsp} did not connect within ${timeout} ms`);
	if (!r.connected)
		throw Object.assign(new Error(`connect_error: ${r.error.message}`), { cause: r.error, data: r.error.data });
	return socket;
}

/** Resolves with the connect_error of `socket`; rejects if it connects instead. */
export async function connectError(socket, timeout = ms(5000)) {
	const r = await connectOutcome(socket, timeout, `no connect_error on ${socket.nsp} within ${timeout} ms`);
	if (r.connected)
		throw new Error(`socket ${socket.nsp} connected but a connect_error was expected`);
	return r.error;
}

/** Connects a client and resolves with it once connected. */
export async function connect(url, opts = {}, timeout = ms(5000)) {
	return connected(client(url, opts), timeout);
}

/** Emits with an acknowledgement; resolves with the ack's arguments (an array). */
export function call(socket, event, ...args) {
	return new Promise((resolve, reject) => {
		socket.timeout(ms(3000)).emit(event, ...args, (err, ...res) => (err ? reject(new Error(`no ack for '${event}': ${err.message}`)) : resolve(res)));
	});
}

/** Collects every `event` that arrives on `socket` into an array (for "received nothing" checks). */
export function collect(socket, event) {
	const got = [];
	socket.on(event, (...args) => got.push(args));
	return got;
}

/** Resolves when `pred()` is true; polls every 20 ms, rejects after `timeout`. */
export async function until(pred, what, timeout = ms(3000)) {
	const deadline = Date.now() + timeout;
	while (!(await pred())) {
		if (Date.now() > deadline)
			throw new Error(`timed out waiting for ${what}`);
		await sleep(20);
	}
}

/** Test timeout option for `it()`: scaled. */
export const T = (n = 10000) => ({ timeout: ms(n) });

// ---------------------------------------------------------------- raw Engine.IO

/**
 * A raw Engine.IO WebSocket (no Socket.IO client): every text or binary message is queued
 * for next(); pings are answered unless `autoPong` is false. `closed` resolves with the
 * close code when the server closes.
 */
export async function rawWebSocket(baseUrl, { path: eioPath = '/socket.io/', query = '', autoPong = true, headers } = {}) {
	const { WebSocket } = await import('ws');
	const url = `${baseUrl.replace(/^http/, 'ws')}${eioPath}?EIO=4&transport=websocket${query}`;
	const ws = new WebSocket(url, { headers });
	const queue = [];
	const waiters = [];
	const push = (m) => {
		const w = waiters.shift();
		if (w)
			w(m);
		else
			queue.push(m);
	};
	ws.on('message', (data, isBinary) => {
		const m = isBinary ? Buffer.from(data) : data.toString();
		if (autoPong && m === '2') {
			ws.send('3');
			return;
		}
		push(m);
	});
	ws.on('error', () => {});
	const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
	await new Promise((resolve, reject) => {
		const t = setTimeout(() => reject(new Error(`raw WebSocket to ${url}: no open in ${ms(3000)} ms`)), ms(3000));
		ws.once('open', () => {
			clearTimeout(t);
			resolve();
		});
		ws.once('unexpected-response', (req, res) => {
			clearTimeout(t);
			reject(Object.assign(new Error(`raw WebSocket to ${url}: HTTP ${res.statusCode}`), { status: res.statusCode }));
		});
		ws.once('error', (e) => {
			clearTimeout(t);
			reject(e);
		});
	});
	const raw = {
		ws,
		closed,
		get isOpen() {
			return ws.readyState === WebSocket.OPEN;
		},
		send: (m) => ws.send(m),
		/** The next message (text as a string, binary as a Buffer), bounded. */
		next(timeout = ms(3000)) {
			if (queue.length)
				return Promise.resolve(queue.shift());
			return new Promise((resolve, reject) => {
				const w = (m) => {
					clearTimeout(t);
					resolve(m);
				};
				const t = setTimeout(() => {
					const i = waiters.indexOf(w);
					if (i >= 0)
						waiters.splice(i, 1);
					reject(new Error(`raw WebSocket: no message within ${timeout} ms`));
				}, timeout);
				waiters.push(w);
			});
		},
		/** Resolves with the close code, or rejects if still open after `timeout`. */
		waitClosed(timeout = ms(3000)) {
			return Promise.race([
				closed,
				sleep(timeout).then(() => {
					throw new Error(`raw WebSocket still open after ${timeout} ms`);
				}),
			]);
		},
		close() {
			ws.terminate();
		},
	};
	rawSockets.add(ws);
	return raw;
}

/** Does the Engine.IO open handshake over raw polling; resolves with the open packet's data. */
export async function pollingHandshake(baseUrl, eioPath = '/socket.io/') {
	const res = await httpGet(`${baseUrl}${eioPath}?EIO=4&transport=polling`);
	assert.equal(res.status, 200, `handshake: ${res.status} ${res.body}`);
	assert.equal(res.body[0], '0', `handshake body: ${res.body}`);
	return JSON.parse(res.body.slice(1));
}

/** Splits a polling response body into its Engine.IO packets. */
export const packets = (body) => body.split('\x1e');

// ---------------------------------------------------------------- process figures

/** Resident memory of process `pid` in kB (VmRSS in /proc/PID/status); NaN if it is gone. */
export function vmRSS(pid) {
	try {
		const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
		return m ? Number(m[1]) : NaN;
	} catch {
		return NaN;
	}
}

/** Open file descriptors of process `pid` (entries of /proc/PID/fd); NaN if it is gone. */
export function openFds(pid) {
	try {
		return fs.readdirSync(`/proc/${pid}/fd`).length;
	} catch {
		return NaN;
	}
}

/** One value of the daemon's /metrics, by its whole name with labels (NaN when absent). */
export async function metricValue(gw, name) {
	const { body } = await httpGet(`${gw.url}/metrics`);
	const m = body.match(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm'));
	return m ? Number(m[1]) : NaN;
}

// ---------------------------------------------------------------- the browser

/** Debian's chromium (SG_CHROMIUM overrides), driven by playwright-core (which downloads nothing). */
export const CHROMIUM = process.env.SG_CHROMIUM || '/usr/bin/chromium';

/** Why a browser test cannot run here, or false. */
export function chromiumSkipReason() {
	if (!fs.existsSync(CHROMIUM))
		return `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser test`;
	return false;
}

/** A headless chromium (bounded start). */
export async function launchChromium() {
	const { chromium } = await import('playwright-core');
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		// Root in a container has no user namespaces for the sandbox.
		args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
		timeout: ms(30000),
	});
}
