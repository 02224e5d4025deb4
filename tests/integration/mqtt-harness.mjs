// mqtt-harness.mjs - MQTT plumbing for the integration tests, on top of harness.mjs: Debian's
// mosquitto broker on a free loopback port (killed, stopped and restarted on the same port),
// mosquitto_pub / mosquitto_sub as the backend (each bounded), the daemon with
// SIOGATE_PLUGIN_PATH at the build's MQTT plugin, its /readyz wait with this suite's bound,
// a /metrics counter wait and --check-config. Every process started here is killed by PID on
// teardown and when the test process exits (harness.mjs's own()).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
	BUILDDIR, HOST, bridgeCounters, checkConfig as checkConfigWith, configFile, eachLine, freePort, ms, own, run, sleep,
	startBridgeDaemon, stopChild, tempDir, waitExit, waitReady as waitReadyWith, which,
} from './harness.mjs';

export const MQTT_PLUGIN_DIR = path.join(BUILDDIR, 'bridges', 'mqtt', '.libs');
export const PLUGIN_PATH = MQTT_PLUGIN_DIR;
export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => fs.existsSync(p)) ?? 'mosquitto';

// How long waitReady() and startMqttDaemon() wait for /readyz, and how often they ask.
const READY = { timeout: ms(15000), interval: 50 };
let probes = 0;

/** Why the MQTT tests cannot run here (for `describe(..., { skip })`), or false. */
export function mqttSkipReason() {
	if (!fs.existsSync(path.join(MQTT_PLUGIN_DIR, 'mqtt.so')))
		return `${MQTT_PLUGIN_DIR}/mqtt.so is missing (the MQTT bridge is not built: libmosquitto-dev)`;
	if (!which(MOSQUITTO))
		return 'the mosquitto broker is not installed (Debian package mosquitto)';
	if (!which('mosquitto_pub') || !which('mosquitto_sub'))
		return 'mosquitto_pub / mosquitto_sub are not installed (Debian package mosquitto-clients)';
	return false;
}

function canConnect(port) {
	return new Promise((resolve) => {
		const s = net.connect({ host: HOST, port });
		const done = (ok) => {
			s.destroy();
			resolve(ok);
		};
		s.setTimeout(500, () => done(false));
		s.once('connect', () => done(true));
		s.once('error', () => done(false));
	});
}

// ---------------------------------------------------------------- the broker

/**
 * Debian's mosquitto on 127.0.0.1. `persistence: true` keeps sessions and queued messages in
 * a folder across restarts (saved on every change and on SIGTERM). `tls: true` serves TLS with
 * a certificate for 127.0.0.1 from a CA of its own (`broker.ca` is the CA's file). `users`
 * ({ name: password }) turns anonymous access off.
 */
export class Broker {
	constructor({ persistence = false, tls = false, users = null } = {}) {
		this.persistence = persistence;
		this.tls = tls;
		this.users = users;
		this.dir = tempDir('siogate-mosquitto-', { keepOnFailure: true });
		// Started as root, mosquitto runs as the user "mosquitto": let it read and write here.
		fs.chmodSync(this.dir, 0o777);
		this.port = null;
		this.child = null;
		this.ca = null;
		this.logPath = path.join(this.dir, 'mosquitto.log');
	}

	/** Makes a CA and a server certificate for 127.0.0.1 / localhost (EC keys: fast). */
	async makeCerts() {
		const f = (n) => path.join(this.dir, n);
		const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
		fs.writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
		for (const argv of [
			['openssl', 'req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=siogate test CA'],
			['openssl', 'req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost'],
			['openssl', 'x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
				'-out', f('server.crt'), '-days', '2', '-extfile', f('san.ext')],
		]) {
			const r = await run(argv, { timeout: ms(20000) });
			if (r.code !== 0)
				throw new Error(`${argv.slice(0, 3).join(' ')} failed: ${r.stderr}`);
		}
		for (const n of ['ca.crt', 'server.crt', 'server.key'])
			fs.chmodSync(f(n), 0o644);
		this.ca = f('ca.crt');
	}

	/** Starts it (on a free port the first time, then on the same one); waits until it accepts. */
	async start() {
		for (let attempt = 0; ; attempt++) {
			const first = this.port === null;
			if (first)
				this.port = await freePort();
			const conf = path.join(this.dir, 'mosquitto.conf');
			const lines = [`listener ${this.port} ${HOST}`, `allow_anonymous ${!this.users}`, `persistence ${this.persistence}`,
				'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice'];
			if (this.persistence)
				lines.push(`persistence_location ${this.dir}/`, 'autosave_interval 1', 'autosave_on_changes true');
			if (this.tls) {
				if (!this.ca)
					await this.makeCerts();
				lines.push(`cafile ${this.ca}`, `certfile ${path.join(this.dir, 'server.crt')}`,
					`keyfile ${path.join(this.dir, 'server.key')}`);
			}
			if (this.users && first) {
				const file = path.join(this.dir, 'passwd');
				for (const [u, pw] of Object.entries(this.users)) {
					const r = await run(['mosquitto_passwd', '-b', ...(fs.existsSync(file) ? [] : ['-c']), file, u, pw]);
					if (r.code !== 0)
						throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
				}
				fs.chmodSync(file, 0o644);
			}
			if (this.users)
				lines.push(`password_file ${path.join(this.dir, 'passwd')}`);
			fs.writeFileSync(conf, `${lines.join('\n')}\n`);
			const fd = fs.openSync(this.logPath, 'a');
			const child = own(spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', fd, fd] }));
			fs.closeSync(fd);
			this.child = child;
			const deadline = Date.now() + 5000;
			for (;;) {
				if (child.exitCode !== null || child.signalCode !== null)
					break;
				if (await canConnect(this.port))
					return this;
				if (Date.now() > deadline) {
					child.kill('SIGKILL');
					throw new Error(`mosquitto did not listen on ${this.port} within 5 s:\n${this.log()}`);
				}
				await sleep(20);
			}
			// It exited: the port was taken meanwhile (first start), or is still held (restart).
			if (attempt >= 20 || (first && attempt >= 2))
				throw new Error(`mosquitto exited (code ${child.exitCode}):\n${this.log()}`);
			if (first)
				this.port = null;
			await sleep(100);
		}
	}

	log() {
		try {
			return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-20).join('\n');
		} catch {
			return '';
		}
	}

	get url() {
		return `mqtt://${HOST}:${this.port}`;
	}

	/** SIGKILL: a crash. */
	async kill() {
		if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
			this.child.kill('SIGKILL');
			await waitExit(this.child, 5000);
		}
	}

	/** SIGTERM: a clean stop (it saves its persistent state); SIGKILL after 5 s. */
	stop() {
		return stopChild(this.child, 5000);
	}
}

// ---------------------------------------------------------------- the backend: mosquitto_pub / _sub

/** Host, port, and the CA / the first user's credentials when the broker wants them. */
function clientArgs(broker) {
	const argv = ['-h', HOST, '-p', String(broker.port)];
	if (broker.ca)
		argv.push('--cafile', broker.ca);
	if (broker.users) {
		const [u, pw] = Object.entries(broker.users)[0];
		argv.push('-u', u, '-P', pw);
	}
	return argv;
}

/**
 * Publishes one message with mosquitto_pub and waits for it to be sent (QoS 1/2: acknowledged).
 * `payload`: a string or a Buffer (sent byte for byte from stdin), or null for an empty
 * message. `props`: user properties, an object or [[name, value], ...] (MQTT 5 only); `args`:
 * more mosquitto_pub arguments (e.g. ['-D', 'PUBLISH', 'correlation-data', 'x']).
 */
export async function pub(broker, topic, payload, { qos = 1, retain = false, props = {}, v311 = false, args = [] } = {}) {
	const argv = ['mosquitto_pub', ...clientArgs(broker), '-t', topic, '-q', String(qos),
		'-V', v311 ? 'mqttv311' : 'mqttv5'];
	if (retain)
		argv.push('-r');
	for (const [k, v] of Array.isArray(props) ? props : Object.entries(props))
		argv.push('-D', 'PUBLISH', 'user-property', k, v);
	argv.push(...args);
	let input;
	if (payload === null || payload === undefined || payload.length === 0) {
		argv.push('-n');
	} else {
		argv.push('-s');
		input = payload;
	}
	const r = await run(argv, { input, timeout: ms(10000) });
	if (r.code !== 0)
		throw new Error(`mosquitto_pub ${topic} failed (${r.code}): ${r.stderr}`);
}

/**
 * A mosquitto_sub process that collects every message: { topic, qos, retain, payload (string),
 * props (user properties), contentType, properties (all of them, as mosquitto_sub -F %j names
 * them: 'response-topic', 'correlation-data', ...) }. start() resolves once it is subscribed. `id` + `persistent`: a persistent session (messages queue while it is away).
 */
export class Subscriber {
	constructor(broker, filters, { qos = 1, id, persistent = false, v311 = false } = {}) {
		this.broker = broker;
		this.filters = Array.isArray(filters) ? filters : [filters];
		this.qos = qos;
		this.id = id;
		this.persistent = persistent;
		this.v311 = v311;
		this.messages = [];
		this.child = null;
		this.err = '';
	}

	async start() {
		// Subscribed means: a probe published to a topic of our own comes back. (Its stdout is
		// a pipe, so mosquitto_sub's own "Subscribed" line may sit in a buffer.)
		const probe = `siogate-probe/${process.pid}/${++probes}`;
		const argv = ['mosquitto_sub', ...clientArgs(this.broker), '-q', String(this.qos),
			'-F', '%j', '-V', this.v311 ? 'mqttv311' : 'mqttv5', '-t', probe];
		if (this.id)
			argv.push('-i', this.id);
		if (this.persistent)
			argv.push('-c');
		for (const f of this.filters)
			argv.push('-t', f);
		const child = own(spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }));
		this.child = child;
		let probed = false;
		eachLine(child.stdout, (line) => {
			if (!line.startsWith('{'))
				return;
			const m = JSON.parse(line);
			if (m.topic === probe) {
				probed = true;
				return;
			}
			const p = m.properties ?? {};
			this.messages.push({ topic: m.topic, qos: m.qos, retain: !!m.retain, payload: m.payload,
				props: p['user-properties'] ?? {}, contentType: p['content-type'], properties: p });
		});
		child.stderr.setEncoding('utf8');
		child.stderr.on('data', (d) => {
			this.err = (this.err + d).slice(-2000);
		});
		const deadline = Date.now() + ms(5000);
		while (!probed) {
			if (child.exitCode !== null || child.signalCode !== null)
				throw new Error(`mosquitto_sub exited (${child.exitCode}) before subscribing: ${this.err}`);
			if (Date.now() > deadline)
				throw new Error(`mosquitto_sub: not subscribed within ${ms(5000)} ms: ${this.err}`);
			await pub(this.broker, probe, 'probe', { qos: 0 });
			for (let i = 0; i < 5 && !probed; i++)
				await sleep(20);
		}
		return this;
	}

	/** Resolves with the first message satisfying `pred` (bounded). */
	async waitFor(pred, what = 'a message', timeout = ms(5000)) {
		const deadline = Date.now() + timeout;
		for (;;) {
			const m = this.messages.find(pred);
			if (m)
				return m;
			if (Date.now() > deadline)
				throw new Error(`no ${what} within ${timeout} ms; got ${JSON.stringify(this.messages.slice(-10))}`);
			await sleep(20);
		}
	}

	/** SIGTERM; SIGKILL after 3 s. */
	stop() {
		return stopChild(this.child, 3000);
	}
}

// ---------------------------------------------------------------- the daemon

/** waitReady() of harness.mjs with the MQTT suites' bound: /readyz `status` within 15 s (scaled). */
export function waitReady(gw, { status, timeout = READY.timeout, interval = READY.interval } = {}) {
	return waitReadyWith(gw, { status, timeout, interval });
}

/** Starts the daemon with the MQTT plugin and (unless ready: false) waits for /readyz 200. */
export function startMqttDaemon(config, { name = 'siogate-mqtt', ...opts } = {}) {
	return startBridgeDaemon(config, PLUGIN_PATH, { name, ...opts, readyOpts: READY });
}

/** Waits until a bridge counter reaches `min`. */
export async function waitCounter(gw, name, min, bridge = 'main', timeout = ms(5000)) {
	const deadline = Date.now() + timeout;
	for (;;) {
		const c = await bridgeCounters(gw, bridge);
		if ((c[name] ?? 0) >= min)
			return c[name];
		if (Date.now() > deadline)
			throw new Error(`counter ${name} of bridge ${bridge} never reached ${min}: ${JSON.stringify(c)}`);
		await sleep(30);
	}
}

/**
 * `siogate --check-config -c FILE` for a config object (server.listen filled in with a free
 * port), with the MQTT plugin: { code, signal, stdout, stderr }.
 */
export async function checkConfig(config) {
	return checkConfigWith(await configFile(config, 'check'), { env: { SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
}
