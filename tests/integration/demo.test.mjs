// demo.test.mjs - the quick start: the default config (etc/siogate.json) with its embedded
// Kafka (librdkafka's mock cluster, in-process), the static file server, and the demo page
// in a real browser (Debian's chromium driven by playwright-core).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import {
	SRCDIR, BUILDDIR, HOST, VALGRIND, ms, T, sleep, startDaemon, waitReady, readyz, httpGet, tempDir,
	serverHooks, connect, call, once, collect, until, which, chromiumSkipReason, launchChromium,
} from './harness.mjs';
import { PLUGIN_PATH, kafkaSkipReason, produce, waitRecord, checkConfig } from './kafka-harness.mjs';

const require = createRequire(import.meta.url);
// The browser bundle of the pinned socket.io-client (package.json is not in its exports).
const CLIENT_DIST = path.join(path.dirname(require.resolve('socket.io-client')).replace(/[/\\]build[/\\].*$/, ''), 'dist');
const DEMO_DIR = path.join(SRCDIR, 'demo');
const DEFAULT_CONFIG = path.join(SRCDIR, 'etc', 'siogate.json');
const TOPIC = 'demo.messages';

// The default config as shipped; the harness only moves it to a free port.
function defaultConfig() {
	return JSON.parse(fs.readFileSync(DEFAULT_CONFIG, 'utf8'));
}

const demoEnv = { SIOGATE_PLUGIN_PATH: PLUGIN_PATH, SIOGATE_DEMO_DIR: DEMO_DIR, SIOGATE_CLIENT_DIR: CLIENT_DIST };

async function startDemo() {
	const gw = await startDaemon(defaultConfig(), { name: 'siogate-demo', env: demoEnv });
	await waitReady(gw);
	return gw;
}

async function bootstrapOf(gw) {
	const r = await httpGet(`${gw.url}/demo/info`);
	assert.equal(r.status, 200);
	const info = JSON.parse(r.body).info;
	assert.equal(info.main.embedded, 'librdkafka mock cluster');
	assert.match(info.main.bootstrap_servers, /^127\.0\.0\.1:\d+$/);
	return info.main.bootstrap_servers;
}

/** One raw HTTP/1.1 request (the path is sent exactly as given, never normalized). */
function rawHttp(port, method, target, { timeout = ms(3000) } = {}) {
	return new Promise((resolve, reject) => {
		const sock = net.connect(port, HOST);
		const chunks = [];
		const t = setTimeout(() => {
			sock.destroy();
			reject(new Error(`${method} ${target}: no complete answer within ${timeout} ms`));
		}, timeout);
		sock.on('error', (e) => {
			clearTimeout(t);
			reject(e);
		});
		sock.on('data', (d) => chunks.push(d));
		sock.on('close', () => {
			clearTimeout(t);
			const text = Buffer.concat(chunks).toString('latin1');
			const [head, ...rest] = text.split('\r\n\r\n');
			const lines = head.split('\r\n');
			const headers = {};
			for (const l of lines.slice(1)) {
				const i = l.indexOf(':');
				headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
			}
			resolve({ status: Number(lines[0].split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
		});
		sock.write(`${method} ${target} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nConnection: close\r\n\r\n`);
	});
}

describe('the default config: embedded Kafka and the /demo namespace', { skip: kafkaSkipReason() }, () => {
	let gw;
	serverHooks(async () => {
		gw = await startDemo();
	}, async () => {
		await gw?.stop();
	});

	it('passes --check-config as shipped', T(), async () => {
		const r = await checkConfig(DEFAULT_CONFIG, { env: demoEnv });
		assert.equal(r.code, 0, r.stderr);
	});

	it('logs the embedded broker address and shows it at /readyz and /demo/info', T(), async () => {
		const bootstrap = await bootstrapOf(gw);
		const rz = await readyz(gw);
		assert.equal(rz.status, 200);
		assert.equal(rz.body.info.main.bootstrap_servers, bootstrap);
		assert.ok(gw.log().includes(`listening at ${bootstrap}`), 'the address is in the startup log');
	});

	it('delivers a record produced with kcat to the room named by its key, and only there', T(20000), async () => {
		const bootstrap = await bootstrapOf(gw);
		const inRoom = await connect(`${gw.url}/demo`, { auth: { user: 'ada' } });
		const outside = await connect(`${gw.url}/demo`, { auth: { user: 'bob' } });
		assert.deepEqual(await call(inRoom, 'join', 'lobby'), [{ ok: true }]);
		const stray = collect(outside, 'message');
		const got = once(inRoom, 'message', ms(10000));
		await produce(bootstrap, TOPIC, '{"text":"hello from Kafka"}', { key: 'lobby' });
		assert.deepEqual(await got, [{ text: 'hello from Kafka' }]);
		await sleep(ms(300));
		assert.deepEqual(stray, [], 'a socket outside the room got nothing');
	});

	it('acks a client event with its Kafka topic, partition and offset, and relays it to the room', T(20000), async () => {
		const bootstrap = await bootstrapOf(gw);
		const a = await connect(`${gw.url}/demo`, { auth: { user: 'ada' } });
		const b = await connect(`${gw.url}/demo`, { auth: { user: 'bob' } });
		await call(a, 'join', 'kitchen');
		await call(b, 'join', 'kitchen');
		const relayed = once(b, 'message', ms(10000));
		const [ack] = await call(a, 'message', { room: 'kitchen', text: 'soup is ready' });
		assert.equal(ack.ok, true, JSON.stringify(ack));
		assert.equal(ack.topic, TOPIC);
		assert.ok(Number.isInteger(ack.partition) && ack.partition >= 0);
		assert.ok(Number.isInteger(ack.offset) && ack.offset >= 0);
		assert.deepEqual(await relayed, [{ room: 'kitchen', text: 'soup is ready' }]);
		const rec = await waitRecord(bootstrap, TOPIC, (r) => r.partition === ack.partition && r.offset === ack.offset,
			'the acked record');
		assert.equal(rec.key, 'kitchen');
		assert.equal(rec.headers['sio-namespace'], '/demo');
		assert.deepEqual(JSON.parse(rec.payload), [{ room: 'kitchen', text: 'soup is ready' }]);
	});
});

describe('static files (server.static)', () => {
	let gw;
	let root;
	let port;
	serverHooks(async () => {
		const dir = tempDir('siogate-static-');
		root = path.join(dir, 'site');
		fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
		fs.mkdirSync(path.join(root, 'empty'));
		fs.writeFileSync(path.join(root, 'index.html'), '<p>home</p>');
		fs.writeFileSync(path.join(root, 'app.js'), 'console.log(1)');
		fs.writeFileSync(path.join(root, 'style.CSS'), 'p{}');
		fs.writeFileSync(path.join(root, 'data.bin'), Buffer.from([0, 1, 2]));
		fs.writeFileSync(path.join(root, '.env'), 'SECRET=1');
		fs.writeFileSync(path.join(root, 'sub', 'index.html'), '<p>sub</p>');
		fs.writeFileSync(path.join(dir, 'outside.txt'), 'NOT FOR YOU');
		fs.symlinkSync(path.join(dir, 'outside.txt'), path.join(root, 'escape.txt'));
		fs.symlinkSync(dir, path.join(root, 'up'));
		fs.mkdirSync(path.join(dir, 'assets'));
		fs.writeFileSync(path.join(dir, 'assets', 'logo.svg'), '<svg/>');
		gw = await startDaemon({
			server: { static: [{ url: '/', dir: root }, { url: '/assets', dir: path.join(dir, 'assets'), index: '' }] },
			namespaces: [{ name: '/chat' }],
		});
		port = gw.port;
	}, async () => {
		await gw?.stop();
	});

	const cases = [
		['/', 200, 'text/html; charset=utf-8', '<p>home</p>'],
		['/index.html', 200, 'text/html; charset=utf-8', '<p>home</p>'],
		['/app.js', 200, 'text/javascript; charset=utf-8', 'console.log(1)'],
		['/style.CSS', 200, 'text/css; charset=utf-8', 'p{}'],
		['/data.bin', 200, 'application/octet-stream', '\u0000\u0001\u0002'],
		['/sub/', 200, 'text/html; charset=utf-8', '<p>sub</p>'],
		['/sub', 200, 'text/html; charset=utf-8', '<p>sub</p>'],
		['/assets/logo.svg', 200, 'image/svg+xml', '<svg/>'],
		['/app.js?v=3', 200, 'text/javascript; charset=utf-8', 'console.log(1)'],
		['/missing.html', 404],
		['/assets/', 404], // a folder without an index file
		['/empty/', 404],
		['/.env', 404], // hidden files are never served
		['/escape.txt', 404], // a symlink out of the folder
		['/up/outside.txt', 404],
		['/../outside.txt', [400, 404]],
		['/%2e%2e/outside.txt', [400, 404]],
		['/sub/%2e%2e/%2e%2e/outside.txt', [400, 404]],
		['/assets/..%2f..%2fsite%2f.env', [400, 404]],
		['/sub/..\\..\\outside.txt', [400, 404]],
		['/%00/../.env', [200, 400, 404]], // lws cuts the path at the NUL: never the .env
	];
	for (const [target, status, type, body] of cases) {
		it(`GET ${target} -> ${status}`, T(), async () => {
			const r = await rawHttp(port, 'GET', target);
			if (Array.isArray(status))
				assert.ok(status.includes(r.status), `status ${r.status}`);
			else
				assert.equal(r.status, status, r.body);
			if (type) {
				assert.equal(r.headers['content-type'], type);
				assert.equal(r.body, body);
				assert.equal(r.headers['x-content-type-options'], 'nosniff');
			} else {
				assert.doesNotMatch(r.body, /NOT FOR YOU|SECRET/);
			}
		});
	}

	it('answers HEAD with the length and no body, and other methods with 405', T(), async () => {
		const head = await rawHttp(port, 'HEAD', '/app.js');
		assert.equal(head.status, 200);
		assert.equal(head.headers['content-length'], String('console.log(1)'.length));
		assert.equal(head.body, '');
		const post = await rawHttp(port, 'POST', '/app.js');
		assert.equal(post.status, 405);
		assert.equal(post.headers.allow, 'GET, HEAD');
	});

	it('leaves the Engine.IO path and the probes to their owners', T(), async () => {
		const r = await httpGet(`${gw.url}/socket.io/?EIO=4&transport=polling`);
		assert.equal(r.status, 200);
		assert.match(r.body, /^0\{"sid"/);
		assert.equal((await httpGet(`${gw.url}/healthz`)).status, 200);
	});
});

// ---------------------------------------------------------------- the browser

function browserSkipReason() {
	return kafkaSkipReason() || chromiumSkipReason();
}

describe('the demo page in chromium', { skip: browserSkipReason() }, () => {
	let gw;
	let browser;
	serverHooks(async () => {
		gw = await startDemo();
		browser = await launchChromium();
	}, async () => {
		await browser?.close();
		await gw?.stop();
	});

	it('joins a room, shows a record produced to Kafka, sends one and shows its ack', T(90000), async () => {
		const bootstrap = await bootstrapOf(gw);
		const page = await browser.newPage();
		const errors = [];
		page.on('pageerror', (e) => errors.push(e.message));
		page.setDefaultTimeout(ms(15000));
		await page.goto(`${gw.url}/`);
		await page.waitForSelector('#status[data-state="connected"]');
		await page.waitForSelector('#rooms li[data-room="lobby"]'); // joined on connect
		await page.waitForFunction((b) => document.getElementById('kcat-produce').textContent.includes(b), bootstrap);

		await page.fill('#room', 'browser-room');
		await page.click('#join');
		await page.waitForSelector('#rooms li[data-room="browser-room"]');

		await produce(bootstrap, TOPIC, '{"text":"hello from Kafka"}', { key: 'browser-room' });
		await page.waitForFunction(() => document.getElementById('log').textContent.includes('hello from Kafka'));

		await page.fill('#text', 'hello from chromium');
		await page.click('#send');
		const ack = await page.waitForSelector('#acks li[data-ok]');
		assert.equal(await ack.getAttribute('data-ok'), 'true', await ack.textContent());
		const offset = Number(await ack.getAttribute('data-offset'));
		assert.match(await ack.textContent(), new RegExp(`${TOPIC} partition \\d+ offset ${offset}`));
		// The relay brings it back into the room, through Kafka.
		await page.waitForFunction(() => document.getElementById('log').textContent.includes('hello from chromium'));
		const rec = await waitRecord(bootstrap, TOPIC, (r) => r.key === 'browser-room' && r.offset === offset &&
			r.payload.includes('hello from chromium'), 'the record the page sent');
		assert.equal(rec.headers['sio-namespace'], '/demo');

		// Leaving a room: it goes from the list, and its records no longer arrive.
		await page.click('#rooms li[data-room="lobby"] button');
		await page.waitForSelector('#rooms li[data-room="lobby"]', { state: 'detached' });
		// One partition for both, so the second arrives after the first would have.
		await produce(bootstrap, TOPIC, '{"text":"not for leavers"}', { key: 'lobby', partition: 0 });
		await produce(bootstrap, TOPIC, '{"text":"still here"}', { key: 'browser-room', partition: 0 });
		await page.waitForFunction(() => document.getElementById('log').textContent.includes('still here'));
		assert.ok(!(await page.textContent('#log')).includes('not for leavers'), 'a left room delivers nothing');

		const shots = path.join(BUILDDIR, 'tests', 'artifacts');
		fs.mkdirSync(shots, { recursive: true });
		await page.screenshot({ path: path.join(shots, 'demo-page.png'), fullPage: true });
		assert.deepEqual(errors, [], 'no script errors on the page');
		await page.close();
	});
});
