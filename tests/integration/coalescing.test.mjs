// coalescing.test.mjs - the WebSocket write path frames several queued messages into one
// write. A burst of echoes of every frame-length class (7-bit, 16-bit and 64-bit lengths,
// text and binary, below and above the 16 KB coalescing limit) must come back complete,
// byte for byte and in order, over WebSocket only and after an upgrade.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { T, VALGRIND, connect, ms, serverHooks, startConformance, until } from './harness.mjs';

let srv;

serverHooks(async () => {
	srv = await startConformance();
}, () => srv?.stop());

// Lengths around every boundary: the 125/126 and 65535/65536 header forms, the coalescing
// limit (16384 bytes including headers), and frames that are written on their own.
// Under valgrind, fewer and smaller (the conformance server's 200 ms ping timeout must
// still be met while the slowed-down server flushes the burst), every class still there.
const SIZES = VALGRIND ? [0, 1, 125, 126, 16370, 16380, 20000, 65536]
	: [0, 1, 100, 124, 125, 126, 127, 1000, 16370, 16380, 16384, 20000, 65534, 65535, 65536, 70000];
const ROUNDS = VALGRIND ? 1 : 8;

function payload(i, size) {
	if (i % 5 === 4) { // a binary attachment: a frame of its own, right after its text frame
		const b = Buffer.alloc(size, i & 0xff);
		if (size >= 4)
			b.writeUInt32BE(i, 0);
		return b;
	}
	return `${i}:`.padEnd(size, String.fromCharCode(97 + (i % 26)));
}

const same = (got, want) => (Buffer.isBuffer(want) ? Buffer.from(got).equals(want) : got === want);

for (const [name, opts] of [['websocket', { transports: ['websocket'] }],
	['upgrade', { transports: ['polling', 'websocket'] }]]) {
	describe(`a burst of mixed frame sizes over ${name}`, () => {
		it('every echo arrives intact and in order', T(30000), async () => {
			const s = await connect(srv.url, opts);
			if (name === 'upgrade')
				await until(() => s.io.engine.transport.name === 'websocket', 'the upgrade', ms(5000));
			const sent = [];
			const got = [];
			s.on('message-back', (i, p) => got.push([i, p]));
			for (let r = 0; r < ROUNDS; r++)
				for (const size of SIZES) {
					const i = sent.length;
					sent.push(payload(i, size));
					s.emit('message', i, sent[i]); // no waiting: the echoes queue up server-side
				}
			await until(() => got.length === sent.length || !s.connected,
				`${sent.length} echoes`, ms(20000));
			assert.ok(s.connected, 'the client stayed connected');
			assert.equal(got.length, sent.length);
			for (let i = 0; i < sent.length; i++) {
				assert.equal(got[i][0], i, `echo ${i} in order`);
				assert.ok(same(got[i][1], sent[i]), `echo ${i} (${SIZES[i % SIZES.length]} bytes) intact`);
			}
		});
	});
}
