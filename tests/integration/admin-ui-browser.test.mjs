// admin-ui-browser.test.mjs - the official Socket.IO Admin UI (the built ui/dist of
// @socket.io/admin-ui 0.5.1, served by the gateway's own server.static under /admin-ui/) in
// Debian's chromium driven by playwright-core: the login form ("Invalid credentials" for a
// wrong password, then the right one), the Sockets page listing the test clients, the Rooms
// page showing their room, the Socket details page with its masked headers, a join done from
// that page (checked with an admin socket of the test and an emit to the room), and a reload
// that logs in again with the session id alone. Screenshots are saved as artifacts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

import {
	BUILDDIR, HOST, T, chromiumSkipReason, client, collect, connect, connected, launchChromium, ms, once, serverHooks,
	sleep, startDaemon, until,
} from './harness.mjs';

const require = createRequire(import.meta.url);
const HASH = '$2b$10$heqvAkYMez.Va6Et2uXInOnkCT6/uQj1brkrbyG3LpopDklcq7ZOS'; // "changeit"
const AUTH = { username: 'admin', password: 'changeit' };
const WS = { transports: ['websocket'] };

/** The package's built UI, or null when the package is not installed (npm ci in tests/). */
function uiDist() {
	try {
		const dir = path.join(path.dirname(require.resolve('@socket.io/admin-ui/package.json')), 'ui', 'dist');
		return fs.existsSync(path.join(dir, 'index.html')) ? dir : null;
	} catch {
		return null;
	}
}

const DIST = uiDist();

function skipReason() {
	if (!DIST)
		return '@socket.io/admin-ui is not installed: run npm ci in tests/';
	return chromiumSkipReason();
}

/** Every event an admin socket of the test gets: { event, args }. */
function recorder(socket) {
	const events = [];
	socket.onAny((event, ...args) => events.push({ event, args }));
	return events;
}

describe('the Admin UI in chromium', { skip: skipReason() }, () => {
	let gw;
	let browser;
	serverHooks(async () => {
		gw = await startDaemon({
			server: { static: [{ url: '/admin-ui/', dir: DIST }] },
			namespaces: [{ name: '/chat', rooms: { client_join: true } }],
			admin_ui: { namespace: '/admin', auth: { username: 'admin', password_hash: HASH }, server_id: 'gw-browser', stats_interval_ms: 1000 },
		}, { name: 'siogate-adminui-browser' });
		browser = await launchChromium();
	}, async () => {
		await browser?.close();
		await gw?.stop();
	});

	it('logs in, lists the sockets and their room, joins a room from the Socket page, and survives a reload', T(120000), async () => {
		// The test clients: one on websocket with a secret header, one that stays on polling.
		const a = await connect(`${gw.url}/chat`, { ...WS, extraHeaders: { authorization: 'Bearer browser-secret' } });
		const b = await connect(`${gw.url}/chat`, { transports: ['polling'] });
		for (const s of [a, b])
			assert.deepEqual(await new Promise((resolve) => s.emit('join', 'ui-lobby', (...r) => resolve(r))), [{ ok: true }]);
		// The test's own admin socket sees what the UI does.
		const watcher = client(`${gw.url}/admin`, { ...WS, auth: AUTH });
		const seen = recorder(watcher);
		await connected(watcher);

		const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
		const page = await context.newPage();
		page.setDefaultTimeout(ms(15000));
		const errors = [];
		page.on('pageerror', (e) => errors.push(e.message));
		// Only the gateway: the UI's web fonts and icon CSS (Google Fonts, jsDelivr) are not fetched.
		const blocked = [];
		await page.route('**/*', (route) => {
			const u = new URL(route.request().url());
			if (u.hostname === HOST)
				return route.continue();
			blocked.push(u.hostname);
			return route.abort();
		});
		const shots = path.join(BUILDDIR, 'tests', 'artifacts');
		fs.mkdirSync(shots, { recursive: true });
		const shot = (name) => page.screenshot({ path: path.join(shots, `admin-ui-${name}.png`), fullPage: true });
		const rows = () => page.$$eval('main table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
		const connectedStatus = () => page.waitForFunction(() => /Status:\s*connected/i.test(document.querySelector('header')?.textContent ?? ''));
		/** Goes to a page of the UI (the hash changes, the connection stays) and waits for its title. */
		async function show(hash, title) {
			await page.goto(`${gw.url}/admin-ui/${hash}`);
			await page.waitForFunction((t) => {
				const crumbs = document.querySelectorAll('main .v-breadcrumbs');
				return crumbs.length === 1 && crumbs[0].querySelector('.v-breadcrumbs__item--disabled')?.textContent.trim() === t;
			}, title);
		}
		/** Picks namespace `nsp` in the page's namespace selector unless it is already picked. */
		async function pickNamespace(nsp) {
			const current = await page.$eval('main .v-select__selection', (e) => e.textContent.trim()).catch(() => null);
			if (current === nsp)
				return;
			await page.click('main .v-select__slot');
			await page.click(`.menuable__content__active .v-list-item:has-text("${nsp}")`);
			await page.waitForFunction((n) => document.querySelector('main .v-select__selection')?.textContent.trim() === n, nsp);
		}

		// ---- the login form
		const index = await page.goto(`${gw.url}/admin-ui/`, { waitUntil: 'domcontentloaded' });
		assert.equal(index.status(), 200);
		await page.waitForSelector('.v-dialog--active form');
		await page.getByLabel('Server URL').fill(gw.url);
		await page.getByLabel('Username').fill('admin');
		await page.getByLabel('Password').fill('wrong');
		await page.getByRole('button', { name: 'Connect' }).click();
		await page.waitForSelector('.v-dialog--active .red--text');
		assert.equal((await page.textContent('.v-dialog--active .red--text')).trim(), 'Invalid credentials',
			'the UI recognized the gateway\'s "invalid credentials"');
		await shot('login-refused');
		await page.getByLabel('Password').fill('changeit');
		await page.getByRole('button', { name: 'Connect' }).click();
		await page.waitForFunction(() => !document.querySelector('.v-dialog--active'));
		await connectedStatus();
		// The session came after the CONNECT answer, so the UI kept it.
		const stored = await page.evaluate(() => ({ ...localStorage }));
		assert.match(stored.session_id ?? '', /^[0-9a-f]{16}$/, JSON.stringify(stored));
		assert.equal(stored.server_url, gw.url);
		// Development mode: the whole navigation drawer.
		const nav = await page.$$eval('nav a', (as) => as.map((x) => x.getAttribute('href')));
		for (const h of ['#/sockets', '#/rooms', '#/clients', '#/events', '#/servers'])
			assert.ok(nav.some((x) => x?.startsWith(h)), `${h} in ${nav}`);

		// ---- the Sockets page lists both clients
		await show('#/sockets/', 'Sockets');
		await pickNamespace('/chat');
		await page.waitForFunction((ids) => ids.every((id) => document.querySelector('main table tbody')?.textContent.includes(id)), [a.id, b.id]);
		const sockets = await rows();
		const rowA = sockets.find((r) => r[0] === a.id);
		const rowB = sockets.find((r) => r[0] === b.id);
		assert.deepEqual(rowA.slice(0, 3), [a.id, '127.0.0.1', 'WebSocket'], JSON.stringify(sockets));
		assert.deepEqual(rowB.slice(0, 3), [b.id, '127.0.0.1', 'HTTP long-polling'], JSON.stringify(sockets));
		assert.ok(!sockets.some((r) => r[0] === watcher.id), 'the admin sockets are not listed');
		await shot('sockets');

		// ---- the Rooms page shows their room with both
		await show('#/rooms/', 'Rooms');
		await pickNamespace('/chat');
		await page.waitForFunction(() => document.querySelector('main table tbody')?.textContent.includes('ui-lobby'));
		const roomRows = await rows();
		assert.deepEqual(roomRows.find((r) => r[0] === 'ui-lobby')?.slice(0, 3), ['ui-lobby', 'Public', '2'], JSON.stringify(roomRows));
		await shot('rooms');

		// ---- Socket details of a: its masked header, then "Join a room"
		await show('#/sockets/', 'Sockets');
		await pickNamespace('/chat');
		await page.click(`main table tbody tr:has-text("${a.id}")`);
		await page.waitForSelector('main .v-card__title:has-text("Initial HTTP request")');
		const details = await page.textContent('main');
		assert.ok(details.includes('[redacted]'), 'the authorization header is shown masked');
		assert.ok(!details.includes('browser-secret'), 'the secret is not on the page');
		const from = seen.length;
		const joined = () => seen.slice(from).some((e) => e.event === 'room_joined' && e.args[1] === 'from-ui' && e.args[2] === a.id);
		await page.getByLabel('Join a room').fill('from-ui');
		await page.getByLabel('Join a room').press('Enter');
		try {
			await until(joined, 'the join', ms(1500));
		} catch {
			// Enter only picked the combobox entry: submit the form.
			await page.click('main form button[type=submit]');
		}
		await until(joined, 'room_joined from-ui for a, sent by the UI', ms(5000));
		const ev = seen.slice(from).find((e) => e.event === 'room_joined' && e.args[1] === 'from-ui');
		assert.deepEqual(ev.args.slice(0, 3), ['/chat', 'from-ui', a.id]);
		assert.ok(!seen.slice(from).some((e) => e.event === 'room_joined' && e.args[2] === b.id), 'only a joined');
		// The UI's own view of the socket shows the room.
		await page.waitForSelector('main tr:has-text("from-ui")');
		await shot('socket-joined');
		// a really is in the room: an emit to it reaches a, and not b.
		const toA = once(a, 'hello-ui');
		const toB = collect(b, 'hello-ui');
		watcher.emit('emit', '/chat', 'from-ui', 'hello-ui', { via: 'admin' });
		assert.deepEqual(await toA, [{ via: 'admin' }]);
		await sleep(ms(300));
		assert.deepEqual(toB, []);

		// ---- the Servers page, fed by server_stats
		await show('#/servers/', 'Servers');
		await page.waitForFunction(() => document.querySelector('main table tbody')?.textContent.includes('gw-browser'));
		const server = (await rows()).find((r) => r[0] === 'gw-browser');
		assert.equal(server[2], String(gw.child.pid), JSON.stringify(server));
		assert.ok(server.includes('Healthy'), JSON.stringify(server));
		await shot('servers');

		// ---- a reload logs in with the stored session id alone
		await page.reload({ waitUntil: 'domcontentloaded' });
		await connectedStatus();
		await sleep(ms(500));
		assert.equal(await page.$('.v-dialog--active'), null, 'no login dialog after a reload');
		await show('#/rooms/', 'Rooms');
		await pickNamespace('/chat');
		await page.waitForFunction(() => document.querySelector('main table tbody')?.textContent.includes('from-ui'));
		await shot('rooms-after-reload');

		assert.deepEqual(errors, [], 'no script errors on the page');
		assert.ok(blocked.every((h) => h !== HOST));
		await context.close();
	});
});
