// kafka-harness.mjs - Kafka plumbing for the integration tests, on top of harness.mjs: the
// librdkafka mock cluster (tests/kafka-mock) as a child process driven through its stdin,
// kcat as the backend (produce / consume, each bounded), the daemon with SIOGATE_PLUGIN_PATH
// pointing at the build's plugins and a bounded wait for /readyz, /metrics counters, and
// one-shot runs of the siogate binary (--check-config, refused startups) with that plugin
// path. Every process it starts is killed by PID on teardown and when the test process exits
// (harness.mjs's own()).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
	BUILDDIR, bridgeCounters, checkConfig as checkConfigWith, eachLine, ms, own, run, runSiogate as runSiogateWith, sleep,
	startBridgeDaemon, stopChild, tempDir, which,
} from './harness.mjs';

export const KAFKA_MOCK = path.join(BUILDDIR, 'tests', 'kafka-mock');
export const KAFKA_PLUGIN_DIR = path.join(BUILDDIR, 'bridges', 'kafka', '.libs');
export const LOCAL_PLUGIN_DIR = path.join(BUILDDIR, 'bridges', 'local', '.libs');
export const PLUGIN_PATH = [KAFKA_PLUGIN_DIR, LOCAL_PLUGIN_DIR].join(':');

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
		eachLine(child.stdout, (line) => {
			const w = this.waiters.shift();
			if (w)
				w(line);
			else
				this.lines.push(line);
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
	stop() {
		return stopChild(this.child, 5000, (child) => {
			try {
				child.stdin.end('quit\n');
			} catch {
				/* closed */
			}
		});
	}
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

/** Options `opts` of a run of siogate, with the Kafka and local plugins on SIOGATE_PLUGIN_PATH. */
function withPlugins({ env = {}, ...opts } = {}) {
	return { ...opts, env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH, ...env } };
}

/**
 * Starts the daemon with the Kafka (and local) plugins on SIOGATE_PLUGIN_PATH and waits until
 * it is ready (consumer partitions assigned, a broker up; 30 s at most, scaled). Under
 * SG_VALGRIND=1 harness.mjs wraps it in valgrind; stop() then asserts exit code 0 (no leaks or
 * memory errors).
 */
export function startKafkaDaemon(config, { name = 'siogate-kafka', ...opts } = {}) {
	return startBridgeDaemon(config, PLUGIN_PATH, { name, ...opts });
}

/** A counter of /metrics (0 when absent). */
export async function counter(gw, name, bridge = 'main') {
	return (await bridgeCounters(gw, bridge))[name] ?? 0;
}

/** runSiogate() of harness.mjs with the plugin path set (an env of its own still wins). */
export function runSiogate(args, opts) {
	return runSiogateWith(args, withPlugins(opts));
}

/** `siogate --check-config -c FILE` for a config object (written to a temp file) or a file's path. */
export function checkConfig(config, opts) {
	return checkConfigWith(config, withPlugins(opts));
}
