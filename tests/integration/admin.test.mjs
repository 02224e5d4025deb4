// admin.test.mjs - server.admin_listen: /healthz, /readyz and /metrics answer on the admin
// port and no longer on the main one; the admin port serves nothing else (no Engine.IO, no
// WebSocket upgrade) while clients keep using the main port; a bridge relays as before; a
// taken admin port stops the start with a clear error naming the key.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
	BUILDDIR, HOST, T, call, checkConfig, configFile, connect, freePort, httpGet, ms, once, runSiogate, serverHooks,
	startDaemon, tempDir,
} from './harness.mjs';

// The local bridge hands its work to the loop through the wake-up that every vhost sees:
// relaying through it checks that the second listener does not swallow it.
const BRIDGED = {
	name: '/chat',
	bridge: {
		type: 'local',
		from_clients: [{ event: 'say', topic: 'chat' }],
		to_clients: [{ topic: 'chat', rooms: 'all', except_sender: true }],
	},
};

describe('admin listener', () => {
	let gw, adminUrl;

	serverHooks(async () => {
		const site = tempDir('siogate-admin-site-');
		fs.writeFileSync(path.join(site, 'index.html'), '<p>public</p>');
		for (let attempt = 0; ; attempt++) {
			const port = await freePort();
			try {
				gw = await startDaemon({ server: { admin_listen: `${HOST}:${port}`, static: { dir: site } }, namespaces: [BRIDGED] },
					{ env: { SIOGATE_PLUGIN_PATH: path.join(BUILDDIR, 'bridges', 'local', '.libs') } });
				adminUrl = `http://${HOST}:${port}`;
				break;
			} catch (e) {
				if (attempt >= 2)
					throw e;
			}
		}
	}, () => gw?.stop());

	it('serves /healthz, /readyz and /metrics on the admin port only', T(), async () => {
		const h = await httpGet(`${adminUrl}/healthz`);
		assert.equal(h.status, 200);
		assert.deepEqual(JSON.parse(h.body), { status: 'ok' });
		const r = await httpGet(`${adminUrl}/readyz`);
		assert.equal(r.status, 200);
		assert.deepEqual(JSON.parse(r.body), { status: 'ready' });
		const m = await httpGet(`${adminUrl}/metrics`);
		assert.equal(m.status, 200);
		assert.match(m.body, /^siogate_sessions_opened_total \d+$/m);
		for (const p of ['/healthz', '/readyz', '/metrics'])
			assert.equal((await httpGet(`${gw.url}${p}`)).status, 404, `main port ${p}`);
	});

	it('keeps static files and /demo/info on the main port, never on the admin one', T(), async () => {
		const page = await httpGet(`${gw.url}/`);
		assert.equal(page.status, 200);
		assert.equal(page.body, '<p>public</p>');
		const info = await httpGet(`${gw.url}/demo/info`);
		assert.equal(info.status, 200);
		assert.deepEqual(JSON.parse(info.body), { info: {} });
		for (const p of ['/index.html', '/demo/info'])
			assert.equal((await httpGet(`${adminUrl}${p}`)).status, 404, `admin port ${p}`);
	});

	it('serves nothing else there, while clients use the main port', T(), async () => {
		for (const p of ['/', '/socket.io/?EIO=4&transport=polling', '/nope'])
			assert.equal((await httpGet(`${adminUrl}${p}`)).status, 404, `admin port ${p}`);
		const up = await httpGet(`${adminUrl}/socket.io/?EIO=4&transport=websocket`, {
			headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
		});
		assert.notEqual(up.status, 101, 'no WebSocket on the admin port');
		const s = await connect(gw.url, { transports: ['websocket'] });
		assert.ok(s.connected);
		const m = await httpGet(`${adminUrl}/metrics`);
		assert.match(m.body, /^siogate_connected_clients\{transport="websocket"\} 1$/m);
	});

	it('bridges still work (their loop wake-ups are not lost to the admin listener)', T(), async () => {
		const a = await connect(`${gw.url}/chat`, { transports: ['websocket'] });
		const b = await connect(`${gw.url}/chat`, { transports: ['websocket'] });
		const got = once(b, 'say', ms(5000));
		assert.equal((await call(a, 'say', 'hello'))[0].ok, true);
		assert.deepEqual(await got, ['hello']);
	});

	it('a taken admin port stops the start with a clear error', T(), async () => {
		const blocker = net.createServer();
		await new Promise((resolve) => blocker.listen(0, HOST, resolve));
		try {
			const port = blocker.address().port;
			const file = await configFile({ server: { admin_listen: `${HOST}:${port}` } });
			const r = await runSiogate(['-c', file]);
			assert.notEqual(r.code, 0);
			assert.match(r.stdout + r.stderr, new RegExp(`cannot listen on ${HOST}:${port} for server.admin_listen`));
		} finally {
			blocker.close();
		}
	});

	it('--check-config names a bad admin_listen by its path', T(), async () => {
		const r = await checkConfig({ server: { listen: `${HOST}:3000`, admin_listen: `${HOST}:3000` } });
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /server\.admin_listen: expected another port than server\.listen's 3000/);
	});
});
