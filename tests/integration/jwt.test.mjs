// jwt.test.mjs - the `jwt` CONNECT middleware with the official client: the accept/reject
// table (HS256 via the auth field and the Authorization header, expired, not yet valid,
// leeway, wrong key, tampered, alg "none", an algorithm not listed, RS256 and ES256 with keys
// made by openssl, an HS256 token keyed with the RS256 public key, issuer and audience,
// missing token), every rejection checked by err.message and err.data.reason; claims in an
// auto_join room and in a bridge topic; --check-config on an unreadable key_file; and no
// token or secret in the daemon's log. Tokens are signed with node:crypto, no npm packages.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
	BUILDDIR, T, call, checkConfig, client, connect, connectError, run, serverHooks, startDaemon, tempDir,
} from './harness.mjs';

const PLUGIN_PATH = path.join(BUILDDIR, 'bridges', 'local', '.libs');
const SECRET = 'it-jwt-secret-0123456789abcdef-xyz';
const OK = [{ ok: true }];

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A compact JWS: `sign(data)` returns the signature bytes ('' for alg none). */
function token(header, payload, sign) {
	const data = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
	return `${data}.${b64url(sign(data))}`;
}
const hs = (bits, secret, payload) =>
	token({ alg: `HS${bits}`, typ: 'JWT' }, payload, (d) => crypto.createHmac(`sha${bits}`, secret).update(d).digest());
const rs256 = (key, payload) => token({ alg: 'RS256', typ: 'JWT' }, payload, (d) => crypto.sign('sha256', Buffer.from(d), key));
const es256 = (key, payload) =>
	token({ alg: 'ES256', typ: 'JWT' }, payload, (d) => crypto.sign('sha256', Buffer.from(d), { key, dsaEncoding: 'ieee-p1363' }));

// Keys made by openssl, as an operator would; node only signs with them.
const keyDir = tempDir('siogate-jwt-');
async function openssl(...args) {
	const r = await run(['openssl', ...args]);
	assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}
async function keyPair(name, genArgs) {
	const priv = path.join(keyDir, `${name}.key`), pub = path.join(keyDir, `${name}.pub.pem`);
	await openssl('genpkey', ...genArgs, '-out', priv);
	await openssl('pkey', '-in', priv, '-pubout', '-out', pub);
	return { priv: fs.readFileSync(priv, 'utf8'), pub: fs.readFileSync(pub, 'utf8'), pubPath: pub };
}

describe('jwt middleware', () => {
	let gw, rsa, rsaOther, ec;
	const WS = { transports: ['websocket'] };
	const tokens = new Set(); // every token sent, to check the log afterwards

	const tok = (t) => (tokens.add(t), t);
	const good = (extra = {}) => ({ sub: 'alice', exp: now() + 3600, ...extra });
	const auth = (t, opts = WS) => ({ ...opts, auth: { token: tok(t) } });

	async function refused(nsp, opts, reason, message = 'unauthorized') {
		const err = await connectError(client(gw.url + nsp, opts));
		assert.equal(err.message, message, reason);
		assert.deepEqual(err.data, { reason });
	}

	serverHooks(async () => {
		rsa = await keyPair('rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
		rsaOther = await keyPair('rsa-other', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
		ec = await keyPair('ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
		const hsStep = { type: 'jwt', algorithms: ['HS256'], secret: '${SG_JWT_SECRET}', header: 'Authorization' };
		gw = await startDaemon({
			namespaces: [
				{
					name: '/hs',
					middleware: [hsStep],
					// One client slot: an auto-joined room is free, so joining user:alice again
					// costs nothing only if {claims.sub} put the socket there.
					rooms: { auto_join: ['user:{claims.sub}'], client_join: true, max_rooms: 1 },
					bridge: {
						type: 'local',
						from_clients: [{ event: 'whoami', topic: 'who.{claims.sub}.{claims.level}' }],
						to_clients: [{ topic: 'who.{room}' }],
					},
				},
				{ name: '/leeway', middleware: [{ ...hsStep, leeway_s: 60 }] },
				{
					name: '/strict',
					middleware: [{
						type: 'jwt', algorithms: ['HS256', 'HS512'], secret: SECRET, issuer: 'https://issuer.test/',
						audience: 'siogate', message: 'login required',
					}],
				},
				{ name: '/rsa', middleware: [{ type: 'jwt', algorithms: ['RS256'], key_file: rsa.pubPath }] },
				{ name: '/ec', middleware: [{ type: 'jwt', algorithms: ['ES256'], key_file: ec.pubPath, auth_field: 'jwt' }] },
				{
					name: '/mixed',
					middleware: [{ type: 'jwt', algorithms: ['HS256', 'RS256'], secret: SECRET, key_file: rsa.pubPath }],
				},
			],
		}, { env: { SG_JWT_SECRET: SECRET, SIOGATE_PLUGIN_PATH: PLUGIN_PATH } });
	}, () => gw?.stop());

	describe('HS256', () => {
		it('accepts a valid token from the auth field', T(), async () => {
			await connect(gw.url + '/hs', auth(hs(256, SECRET, good())));
		});

		it('accepts it from the Authorization header, with or without "Bearer ", on both transports', T(), async () => {
			for (const transports of [['websocket'], ['polling']]) {
				for (const prefix of ['Bearer ', 'bearer ', '']) {
					const t = tok(hs(256, SECRET, good()));
					await connect(gw.url + '/hs', { transports, extraHeaders: { authorization: prefix + t } });
				}
			}
		});

		it('records the claims: {claims.sub} in auto_join, claims in a bridge topic', T(), async () => {
			const s = await connect(gw.url + '/hs', auth(hs(256, SECRET, good({ level: 3 }))));
			assert.deepEqual(await call(s, 'join', 'user:alice'), OK, 'auto-joined: free');
			assert.deepEqual(await call(s, 'join', 'lobby'), OK, 'the one client slot');
			assert.deepEqual(await call(s, 'join', 'more'), [{ ok: false, error: 'too many rooms' }]);
			const [ack] = await call(s, 'whoami', {});
			assert.equal(ack.ok, true, JSON.stringify(ack));
			assert.equal(ack.topic, 'who.alice.3');
		});

		it('rejects a missing or empty token', T(), async () => {
			await refused('/hs', WS, 'missing token');
			await refused('/hs', { ...WS, auth: { token: '' } }, 'missing token');
			await refused('/hs', { ...WS, auth: { token: 42 } }, 'missing token');
		});

		it('rejects expired and not-yet-valid tokens', T(), async () => {
			await refused('/hs', auth(hs(256, SECRET, good({ exp: now() - 10 }))), 'token expired');
			await refused('/hs', auth(hs(256, SECRET, good({ nbf: now() + 3600 }))), 'token not yet valid');
		});

		it('rejects a wrong key, a tampered payload and garbage as "invalid token"', T(), async () => {
			await refused('/hs', auth(hs(256, 'not-the-secret', good())), 'invalid token');
			const [h, , sig] = hs(256, SECRET, good()).split('.');
			await refused('/hs', auth(`${h}.${b64url(JSON.stringify(good({ sub: 'mallory' })))}.${sig}`), 'invalid token');
			for (const bad of ['abc', 'a.b.c', '..', `${h}..${sig}`, `${h}.x`, `${h}.e30.`, 'e30.e30.e30'])
				await refused('/hs', auth(bad), 'invalid token');
		});

		it('rejects alg "none" (any spelling) and algorithms that are not listed', T(), async () => {
			for (const alg of ['none', 'None', 'NONE'])
				await refused('/hs', auth(token({ alg, typ: 'JWT' }, good(), () => '')), 'algorithm not allowed');
			// "none" with a signature attached is still "none".
			await refused('/hs', auth(token({ alg: 'none' }, good(), (d) => crypto.createHmac('sha256', SECRET).update(d).digest())),
				'algorithm not allowed');
			await refused('/hs', auth(hs(384, SECRET, good())), 'algorithm not allowed');
			await refused('/hs', auth(hs(512, SECRET, good())), 'algorithm not allowed');
			await refused('/hs', auth(rs256(rsa.priv, good())), 'algorithm not allowed');
		});

		it('leeway_s accepts a slightly expired or early token, not more', T(), async () => {
			await connect(gw.url + '/leeway', auth(hs(256, SECRET, good({ exp: now() - 10 }))));
			await connect(gw.url + '/leeway', auth(hs(256, SECRET, good({ nbf: now() + 30 }))));
			await refused('/leeway', auth(hs(256, SECRET, good({ exp: now() - 120 }))), 'token expired');
			await refused('/leeway', auth(hs(256, SECRET, good({ nbf: now() + 600 }))), 'token not yet valid');
		});
	});

	describe('issuer and audience', () => {
		const claims = (extra) => good({ iss: 'https://issuer.test/', aud: 'siogate', ...extra });

		it('accepts the right iss and aud (string or array), HS512 too', T(), async () => {
			await connect(gw.url + '/strict', auth(hs(256, SECRET, claims())));
			await connect(gw.url + '/strict', auth(hs(512, SECRET, claims({ aud: ['other', 'siogate'] }))));
		});

		it('rejects a bad audience and a bad issuer with the configured message', T(), async () => {
			const m = 'login required';
			await refused('/strict', auth(hs(256, SECRET, claims({ aud: 'other' }))), 'wrong audience', m);
			await refused('/strict', auth(hs(256, SECRET, claims({ aud: ['a', 'b'] }))), 'wrong audience', m);
			await refused('/strict', auth(hs(256, SECRET, claims({ aud: undefined }))), 'wrong audience', m);
			await refused('/strict', auth(hs(256, SECRET, claims({ iss: 'https://evil.test/' }))), 'wrong issuer', m);
			await refused('/strict', auth(hs(256, SECRET, claims({ iss: undefined }))), 'wrong issuer', m);
			await refused('/strict', { ...WS, auth: {} }, 'missing token', m);
		});
	});

	describe('RS256 and ES256', () => {
		it('RS256: accepts the key pair, rejects another key and other algorithms', T(), async () => {
			await connect(gw.url + '/rsa', auth(rs256(rsa.priv, good())));
			await refused('/rsa', auth(rs256(rsaOther.priv, good())), 'invalid token');
			await refused('/rsa', auth(es256(ec.priv, good())), 'algorithm not allowed');
			// The classic confusion: an HS256 token keyed with the public key.
			await refused('/rsa', auth(hs(256, rsa.pub, good())), 'algorithm not allowed');
		});

		it('ES256: accepts the key pair (auth_field "jwt"), rejects tampering', T(), async () => {
			await connect(gw.url + '/ec', { ...WS, auth: { jwt: tok(es256(ec.priv, good())) } });
			const [h, , sig] = es256(ec.priv, good()).split('.');
			const forged = `${h}.${b64url(JSON.stringify(good({ sub: 'root' })))}.${sig}`;
			await refused('/ec', { ...WS, auth: { jwt: tok(forged) } }, 'invalid token');
			await refused('/ec', { ...WS, auth: { token: tok(es256(ec.priv, good())) } }, 'missing token');
			await refused('/ec', { ...WS, auth: { jwt: tok(es256(ec.priv, good({ exp: now() - 1 }))) } }, 'token expired');
		});

		it('HS256 and RS256 together: the public key never serves as the HMAC secret', T(), async () => {
			await connect(gw.url + '/mixed', auth(hs(256, SECRET, good())));
			await connect(gw.url + '/mixed', auth(rs256(rsa.priv, good())));
			await refused('/mixed', auth(hs(256, rsa.pub, good())), 'invalid token');
		});
	});

	it('--check-config names an unreadable key_file and a "none" algorithm', T(), async () => {
		let r = await checkConfig({ namespaces: [{ name: '/x', middleware: [{ type: 'jwt', algorithms: ['RS256'], key_file: path.join(keyDir, 'nope.pem') }] }] });
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /namespaces\[0\]\.middleware\[0\]\.key_file: .*nope\.pem: No such file or directory/);
		r = await checkConfig({ namespaces: [{ name: '/x', middleware: [{ type: 'jwt', algorithms: ['none'], secret: 'x' }] }] });
		assert.notEqual(r.code, 0);
		assert.match(r.stderr, /algorithms\[0\]: 'none' is never accepted/);
	});

	it('never writes a token or the secret to the log (debug level)', T(), async () => {
		const log = gw.log();
		assert.ok(log.includes('refused'), 'the rejections are logged');
		assert.ok(tokens.size > 20);
		// Short garbage like 'abc' may well occur in a log line; real tokens and signatures not.
		for (const t of [...tokens].filter((x) => x.length > 40)) {
			const sig = t.split('.')[2];
			assert.ok(!log.includes(t), `token ${t} is in the log`);
			assert.ok(!(sig?.length > 20 && log.includes(sig)), `signature ${sig} is in the log`);
		}
		assert.ok(!log.includes(SECRET), 'the secret is in the log');
	});
});
