// kafka-harness.mjs - Kafka plumbing for the integration tests, on top of harness.mjs: the
// librdkafka mock cluster (tests/kafka-mock) as a child process driven through its stdin,
// kcat as the backend (produce / consume, each bounded), the daemon with SIOGATE_PLUGIN_PATH
// pointing at the build's plugins and a bounded wait for /readyz, /metrics counters, and
// one-shot runs of the siogate binary (--check-config, refused startups). Every process it
// starts is killed by PID on teardown and when the test process exits.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BUILDDIR, HOST, SIOGATE, VALGRIND, freePort, httpGet, ms, sleep, startDaemon, writeConfig } from './harness.mjs';

export const KAFKA_MOCK = path.join(BUILDDIR, 'tests', 'kafka-mock');
export const KAFKA_PLUGIN_DIR = path.join(BUILDDIR, 'bridges', 'kafka', '.libs');
export const LOCAL_PLUGIN_DIR = path.join(BUILDDIR, 'bridges', 'local', '.libs');
export const PLUGIN_PATH = [KAFKA_PLUGIN_DIR, LOCAL_PLUGIN_DIR].join(':');

// Processes started here (the mock, kcat, one-shot siogate runs): killed on exit, whatever
// happened. harness.mjs does the same for the daemons it starts.
const children = new Set();
const tmpDirs = [];

process.on('exit', () => {
	for (const child of children) {
		try {
			process.kill(child.pid, 'SIGKILL');
		} catch {
			/* already gone */
		}
	}
	if (!process.env.SG_KEEP_LOGS)
		for (const d of tmpDirs)
			fs.rmSync(d, { recursive: true, force: true });
});

function own(child) {
	children.add(child);
	child.on('exit', () => children.delete(child));
	child.on('error', () => children.delete(child));
	return child;
}

function which(cmd) {
	for (const dir of (process.env.PATH || '').split(':'))
		if (dir && fs.existsSync(path.join(dir, cmd)))
			return path.join(dir, cmd);
	return null;
}

/**
 * Why the Kafka tests cannot run here (a string for `describe(..., { skip })`), or false.
 * The Kafka bridge is optional (configure --with-bridge-kafka=no), and kcat is a test tool.
 */
export function kafkaSkipReason() {
	if (!fs.existsSync(KAFKA_MOCK))
		return `${KAFKA_MOCK} is missing (build it: make tests/kafka-mock; needs the Kafka bridge)`;
	if (!fs.existsSync(path.join(KAFKA_PLUGIN_DIR, 'kafka.so')))
		return `${KAFKA_PLUGIN_DIR}/kafka.so is missing (the Kafka bridge is not built)`;
	if (!which('kcat'))
		return 'kcat is not installed';
	return false;
}

/** A fresh temporary folder, removed on exit (kept with SG_KEEP_LOGS). */
export function tempDir(prefix = 'siogate-kafka-') {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	tmpDirs.push(d);
	return d;
}

// ---------------------------------------------------------------- the mock cluster

/**
 * tests/kafka-mock: librdkafka's mock cluster (the real Kafka protocol) on 127.0.0.1.
 * `bootstrap` is its address; cmd() sends one stdin command and resolves on its "ok".
 */
export class KafkaMock {
	constructor({ brokers = 1 } = {}) {
		this.brokers = brokers;
		this.child = null;
		this.bootstrap = null;
		this.stderr = '';
		this.lines = [];
		this.waiters = [];
		this.queue = Promise.resolve();
	}

	/** Starts the mock and waits (at most 10 s) for its bootstrap address. */
	async start() {
		const child = own(spawn(KAFKA_MOCK, [String(this.brokers)], { stdio: ['pipe', 'pipe', 'pipe'] }));
		this.child = child;
		let buf = '';
		child.stdout.setEncoding('utf8');
		child.stdout.on('data', (d) => {
			buf += d;
			let i;
			while ((i = buf.indexOf('\n')) >= 0) {
				const line = buf.slice(0, i);
				buf = buf.slice(i + 1);
				const w = this.waiters.shift();
				if (w)
					w(line);
				else
					this.lines.push(line);
			}
		});
		child.stderr.setEncoding('utf8');
		child.stderr.on('data', (d) => {
			this.stderr = (this.stderr + d).slice(-4000);
		});
		child.stdin.on('error', () => {});
		const spawned = new Promise((_, reject) => child.once('error', reject));
		spawned.catch(() => {});
		this.bootstrap = await Promise.race([this.nextLine(10000, 'its bootstrap address'), spawned]);
		if (!/^[\d.]+:\d+(,[\d.]+:\d+)*$/.test(this.bootstrap))
			throw new Error(`kafka-mock printed '${this.bootstrap}' instead of a bootstrap address`);
		return this;
	}

	nextLine(timeout, what) {
		if (this.lines.length)
			return Promise.resolve(this.lines.shift());
		return new Promise((resolve, reject) => {
			const w = (line) => {
				clearTimeout(t);
				resolve(line);
			};
			const t = setTimeout(() => {
				const i = this.waiters.indexOf(w);
				if (i >= 0)
					this.waiters.splice(i, 1);
				reject(new Error(`kafka-mock: no ${what} within ${timeout} ms (exit ${this.child?.exitCode}) ${this.stderr}`));
			}, timeout);
			this.waiters.push(w);
		});
	}

	/** Sends one command ("topic NAME N", "down", "up"); resolves on "ok", rejects on "error: ...". */
	cmd(line) {
		const run = async () => {
			this.child.stdin.write(`${line}\n`);
			const answer = await this.nextLine(5000, `answer to '${line}'`);
			if (answer !== 'ok')
				throw new Error(`kafka-mock: '${line}' -> ${answer}`);
		};
		const p = this.queue.then(run, run);
		this.queue = p.catch(() => {});
		return p;
	}

	/** Creates topics: topics('a', 'b:2') (default 1 partition; NAME:N for N). */
	async topics(...names) {
		for (const n of names) {
			const [name, parts = '1'] = n.split(':');
			await this.cmd(`topic ${name} ${parts}`);
		}
	}

	down() {
		return this.cmd('down');
	}

	up() {
		return this.cmd('up');
	}

	/** "quit", then SIGKILL if it is still there after 5 s. */
	async stop() {
		const child = this.child;
		if (!child || child.exitCode !== null || child.signalCode !== null)
			return;
		try {
			child.stdin.end('quit\n');
		} catch {
			/* closed */
		}
		if (!(await waitExit(child, 5000))) {
			child.kill('SIGKILL');
			await waitExit(child, 5000);
		}
	}
}

function waitExit(child, timeout) {
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

// ---------------------------------------------------------------- one-shot processes

/**
 * Runs a program to completion, bounded: resolves { code, signal, stdout, stderr }. On timeout
 * the process is killed and the promise rejects.
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

// ---------------------------------------------------------------- kcat: the backend

/**
 * Produces one record with kcat and waits for its delivery. `value` is a string or a Buffer
 * (sent byte for byte: kcat reads it from a file, so newlines and binary are kept), `headers`
 * an object or an array of [name, value] pairs (to repeat a name).
 */
export async function produce(bootstrap, topic, value, { key, headers = {}, partition } = {}) {
	const dir = tempDir('siogate-kcat-');
	const file = path.join(dir, 'value');
	fs.writeFileSync(file, value);
	const argv = ['kcat', '-P', '-b', bootstrap, '-t', topic, '-X', `message.timeout.ms=${ms(8000)}`];
	if (key !== undefined)
		argv.push('-k', key);
	if (partition !== undefined)
		argv.push('-p', String(partition));
	for (const [k, v] of Array.isArray(headers) ? headers : Object.entries(headers))
		argv.push('-H', `${k}=${v}`);
	argv.push(file);
	try {
		const r = await run(argv, { timeout: ms(10000) });
		if (r.code !== 0)
			throw new Error(`kcat produce to ${topic} failed (${r.code}): ${r.stderr}`);
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

/**
 * Reads every record of `topic` from the beginning with kcat -J (exits at the end of the
 * partitions). Resolves with [{ topic, partition, offset, key, payload, headers: {name: value} }].
 */
export async function consumeAll(bootstrap, topic, { partition } = {}) {
	const argv = ['kcat', '-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-J', '-q'];
	if (partition !== undefined)
		argv.push('-p', String(partition));
	const r = await run(argv, { timeout: ms(10000) });
	if (r.code !== 0)
		throw new Error(`kcat consume ${topic} failed (${r.code}): ${r.stderr}`);
	return r.stdout.toString().split('\n').filter(Boolean).map((line) => {
		const rec = JSON.parse(line);
		const h = {};
		for (let i = 0; rec.headers && i < rec.headers.length; i += 2)
			h[rec.headers[i]] = rec.headers[i + 1];
		return { ...rec, headers: h };
	});
}

/** Polls `topic` (bounded) until a record satisfies `pred`; resolves with it. */
export async function waitRecord(bootstrap, topic, pred, what = 'a record', timeout = ms(10000)) {
	const deadline = Date.now() + timeout;
	let seen = [];
	for (;;) {
		seen = await consumeAll(bootstrap, topic);
		const rec = seen.find(pred);
		if (rec)
			return rec;
		if (Date.now() > deadline)
			throw new Error(`no ${what} on ${topic} within ${timeout} ms; records: ${JSON.stringify(seen)}`);
		await sleep(200);
	}
}

// ---------------------------------------------------------------- the daemon

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

/** Waits until /readyz answers `status` (200 by default); bounded (30 s, scaled). */
export async function waitReady(gw, { status = 200, timeout = ms(30000) } = {}) {
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
			throw new Error(`${gw.name} exited while waiting for /readyz ${status}:\n${gw.log().split('\n').slice(-30).join('\n')}`);
		if (Date.now() > deadline)
			throw new Error(`${gw.name}: /readyz never answered ${status} within ${timeout} ms (last: ${JSON.stringify(last)}):\n` +
				gw.log().split('\n').slice(-30).join('\n'));
		await sleep(100);
	}
}

/**
 * Starts the daemon with the Kafka (and local) plugins on SIOGATE_PLUGIN_PATH and waits until
 * it is ready (consumer partitions assigned, a broker up). Under SG_VALGRIND=1 harness.mjs
 * wraps it in valgrind; stop() then asserts exit code 0 (no leaks or memory errors).
 */
export async function startKafkaDaemon(config, { name = 'siogate-kafka', env = {}, ready = true } = {}) {
	const gw = await startDaemon(config, { name, env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH, ...env } });
	if (ready)
		await waitReady(gw);
	return gw;
}

/** The bridge counters of /metrics: { consumed, produced, failed, malformed, refused, ... }. */
export async function bridgeCounters(gw, bridge = 'main') {
	const r = await httpGet(`${gw.url}/metrics`);
	const out = {};
	const re = new RegExp(`^siogate_bridge_([a-z_]+)_total\\{bridge="${bridge}"\\} (\\S+)$`, 'gm');
	for (const m of r.body.matchAll(re))
		out[m[1].replace(/^messages_/, '')] = Number(m[2]);
	return out;
}

/** A counter of /metrics (0 when absent). */
export async function counter(gw, name, bridge = 'main') {
	return (await bridgeCounters(gw, bridge))[name] ?? 0;
}

/**
 * Runs `siogate ARGS` once (e.g. --check-config) with the plugin path set; resolves with
 * { code, stdout, stderr } (strings). Under SG_VALGRIND=1 it runs under valgrind and a
 * memory error fails (exit code 99 is reported as such).
 */
export async function runSiogate(args, { env = {}, timeout = ms(10000) } = {}) {
	let argv = [SIOGATE, ...args];
	if (VALGRIND)
		argv = ['valgrind', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect',
			'--show-leak-kinds=definite,indirect', '--quiet', ...argv];
	const r = await run(argv, { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH, ...env }, timeout });
	if (r.code === 99)
		throw new Error(`valgrind found errors in siogate ${args.join(' ')}:\n${r.stderr}`);
	return { code: r.code, signal: r.signal, stdout: r.stdout.toString(), stderr: r.stderr };
}

/** `siogate --check-config -c FILE` for a config object (written to a temp file). */
export async function checkConfig(config, opts = {}) {
	const file = typeof config === 'string' ? config : writeConfig(config, 'check');
	return runSiogate(['--check-config', '-c', file], opts);
}

/** A config with server.listen on a free port, written to a file (for one-shot runs). */
export async function configFile(config) {
	const port = await freePort();
	return writeConfig({ ...config, server: { listen: `${HOST}:${port}`, ...config.server } }, 'oneshot');
}
