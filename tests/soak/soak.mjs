// soak.mjs - `make soak`: the daemon under steady mixed load for SOAK_SECONDS (600 by default),
// then checks that nothing leaked and nothing acked was lost. See docs/reliability.md.
//
// Load, all at once for the whole run:
// - broadcasts: a sender emits an acked 'say' to room "crowd" every 50 ms (local bridge);
//   LISTENERS clients stay connected all along and must receive every acked one, in order;
// - upstream: PRODUCERS clients emit acked 'up' events with unique ids every 50 ms, into
//   Kafka (the mock cluster, when built and kcat is installed; SOAK_BRIDGE=local forces the
//   local bridge) or into the local bridge's sink room; every one acked ok must be at the
//   broker (Kafka: read with kcat every 20 s, because the mock cluster drops the oldest
//   records past about 5 MB a partition) or in the sink listener's hands;
// - churn: CHURN clients (polling and WebSocket, alternately) connect to the crowd room, stay
//   a random 0.2-2 s, and leave, for the whole run.
// The daemon's RSS (VmRSS) and open file descriptors (/proc/PID/fd) are sampled every second.
// Flat means: after a warm-up (the first 10% of the run, at least 5 s), the largest RSS of the
// last quarter is at most 10% + 2 MB above the largest of the first quarter, and the largest
// fd count of the last quarter at most 8 above the first quarter's. At the end, with every
// client gone, the fd count must be back to what it was before the first client connected.
// With SG_VALGRIND=1 the daemon runs under valgrind (time scaled) and a leak or memory error
// fails the run when it stops; flatness is then not judged (valgrind's own memory).
import assert from 'node:assert/strict';

import {
	VALGRIND, client, closeClients, connect, ms, openFds, run, sleep, startBridgeDaemon, until, vmRSS,
} from '../integration/harness.mjs';
import { KafkaMock, PLUGIN_PATH, kafkaSkipReason } from '../integration/kafka-harness.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS || 600);
const useKafka = process.env.SOAK_BRIDGE === 'kafka' || (process.env.SOAK_BRIDGE !== 'local' && !kafkaSkipReason());
const LISTENERS = VALGRIND ? 5 : 20;
const PRODUCERS = VALGRIND ? 2 : 4;
const CHURN = VALGRIND ? 5 : 30;
const PERIOD = ms(50);
const WS = { transports: ['websocket'] };

function log(msg) {
	process.stdout.write(`soak: ${msg}\n`);
}

function configFor(bootstrap) {
	const room = {
		name: '/room',
		rooms: { auto_join: ['{query.room}'] },
		bridge: {
			type: 'local',
			from_clients: [{ event: 'say', topic: 'room', rooms: '{room}' }],
			to_clients: [{ topic: 'room', rooms: 'header' }],
		},
	};
	const up = bootstrap
		? { name: '/up', bridge: { broker: 'kafka', from_clients: [{ event: 'up', topic: 'soak.up' }] } }
		: {
			name: '/up',
			rooms: { auto_join: ['{query.room}'] },
			bridge: {
				type: 'local',
				// The producers are not in 'sink' (only the sink is): the relay rule lets them
				// post there only because the entry opens that one room.
				from_clients: [{ event: 'up', topic: 'sink', rooms: 'sink', unjoined_rooms: 'sink' }],
				to_clients: [{ topic: 'sink', rooms: 'header' }],
			},
		};
	return {
		server: { ping_interval_ms: ms(5000), ping_timeout_ms: ms(5000) },
		log: { level: 'info' },
		brokers: bootstrap ? { kafka: { type: 'kafka', bootstrap_servers: bootstrap, delivery_timeout_ms: ms(30000) } } : {},
		namespaces: [room, up],
	};
}

/** Emits `event` with an ack every PERIOD until stop(); resolves the acks on stop(). */
function steady(socket, event, make) {
	const acks = [];
	let n = 0;
	const timer = setInterval(() => {
		const payload = make(n++);
		acks.push(new Promise((resolve) => socket.timeout(ms(60000)).emit(event, payload, (err, r) =>
			resolve({ payload, ok: !err && r?.ok !== false && r !== undefined, r: err ? err.message : r }))));
	}, PERIOD);
	return {
		async stop() {
			clearInterval(timer);
			return Promise.all(acks);
		},
	};
}

/** Connection churn: keeps about CHURN short-lived clients coming and going until stop(). */
function churn(url) {
	let running = true;
	let cycles = 0;
	let failures = 0;
	const one = async (i) => {
		while (running) {
			const s = client(url, { transports: [i % 2 ? 'polling' : 'websocket'], query: { room: 'crowd' } });
			try {
				await until(() => s.connected, 'a churn client to connect', ms(10000));
				await sleep(200 + Math.random() * 1800);
				cycles++;
			} catch {
				failures++;
			} finally {
				s.disconnect();
			}
		}
	};
	const all = Array.from({ length: CHURN }, (_, i) => one(i));
	return {
		async stop() {
			running = false;
			await Promise.all(all);
			return { cycles, failures };
		},
	};
}

/**
 * Reads topic soak.up (one partition) from where the last call stopped, adding each record's
 * id to `ids`. The mock cluster keeps only the newest few MB of a partition, so this runs
 * every 20 s during the soak rather than once at the end.
 */
function kafkaReader(bootstrap, ids) {
	let next = 0;
	return async () => {
		const r = await run(['kcat', '-C', '-b', bootstrap, '-t', 'soak.up', '-p', '0', '-o', String(next), '-e', '-J', '-q'],
			{ timeout: ms(60000) });
		if (r.code !== 0)
			throw new Error(`kcat failed (${r.code}): ${r.stderr}`);
		for (const line of r.stdout.toString().split('\n').filter(Boolean)) {
			const rec = JSON.parse(line);
			if (rec.offset < next)
				continue;
			if (rec.offset > next)
				throw new Error(`records ${next}-${rec.offset - 1} of soak.up were dropped by the mock before they were read`);
			ids.add(JSON.parse(rec.payload)[0].id);
			next = rec.offset + 1;
		}
	};
}

/** Max of `xs`, or NaN when empty. */
const max = (xs) => (xs.length ? Math.max(...xs) : NaN);

async function main() {
	log(`${SECONDS} s, ${useKafka ? 'Kafka (mock cluster)' : 'local bridge'}${VALGRIND ? ', under valgrind' : ''}`);
	let mock = null;
	if (useKafka) {
		mock = await new KafkaMock().start();
		await mock.topics('soak.up');
	}
	const gw = await startBridgeDaemon(configFor(mock?.bootstrap), PLUGIN_PATH, { name: 'siogate-soak' });
	const pid = gw.child.pid;
	let ok = false;
	try {
		await sleep(ms(500));
		const idleFds = openFds(pid);
		const idleRSS = vmRSS(pid);
		log(`idle before load: RSS ${idleRSS} kB, ${idleFds} fds`);

		const listeners = await Promise.all(Array.from({ length: LISTENERS }, () =>
			connect(`${gw.url}/room`, { ...WS, query: { room: 'crowd' } })));
		const heard = listeners.map((s) => {
			const seqs = [];
			s.on('say', (m) => seqs.push(m.seq));
			return seqs;
		});
		const sink = useKafka ? null : await connect(`${gw.url}/up`, { ...WS, query: { room: 'sink' } });
		const sunk = [];
		sink?.on('up', (m) => sunk.push(m.id));
		// A member of the room it talks to, as the relay rule requires.
		const sender = await connect(`${gw.url}/room`, { ...WS, query: { room: 'crowd' } });
		const producers = await Promise.all(Array.from({ length: PRODUCERS }, () => connect(`${gw.url}/up`, WS)));

		const says = steady(sender, 'say', (seq) => ({ room: 'crowd', seq }));
		const ups = producers.map((p, i) => steady(p, 'up', (n) => ({ id: `p${i}-${n}` })));
		const churning = churn(`${gw.url}/room`);

		const atBroker = new Set();
		const readKafka = useKafka ? kafkaReader(mock.bootstrap, atBroker) : null;
		let lastRead = Date.now();
		const samples = [];
		const t0 = Date.now();
		const end = t0 + SECONDS * 1000;
		let lastReport = t0;
		while (Date.now() < end) {
			await sleep(1000);
			const s = { t: (Date.now() - t0) / 1000, rss: vmRSS(pid), fds: openFds(pid) };
			assert.ok(gw.running, `the daemon exited during the soak:\n${gw.log().slice(-3000)}`);
			samples.push(s);
			if (readKafka && Date.now() - lastRead >= 20000) {
				await readKafka();
				lastRead = Date.now();
			}
			if (Date.now() - lastReport >= 60000 || Date.now() >= end) {
				log(`t=${Math.round(s.t)} s: RSS ${s.rss} kB, ${s.fds} fds`);
				lastReport = Date.now();
			}
		}

		const churned = await churning.stop();
		const sayAcks = await says.stop();
		const upAcks = (await Promise.all(ups.map((u) => u.stop()))).flat();

		// Broadcasts: every acked one reached every listener (in order, nothing else).
		const okSays = sayAcks.filter((a) => a.ok).map((a) => a.payload.seq);
		assert.equal(okSays.length, sayAcks.length, `broadcast acks failed: ${JSON.stringify(sayAcks.filter((a) => !a.ok).slice(0, 5))}`);
		await until(() => heard.every((h) => h.length >= okSays.length), 'every listener to hear every broadcast', ms(20000));
		for (const h of heard)
			assert.deepEqual(h, okSays, 'a listener missed or reordered broadcasts');

		// Upstream: every event acked ok is at the broker (Kafka) or in the sink's hands.
		const okUps = upAcks.filter((a) => a.ok).map((a) => a.payload.id);
		let arrived;
		if (useKafka) {
			await readKafka();
			arrived = atBroker;
		} else {
			await until(() => sunk.length >= okUps.length, 'the sink to get every acked event', ms(20000)).catch(() => {});
			arrived = new Set(sunk);
		}
		const lost = okUps.filter((id) => !arrived.has(id));
		log(`traffic: ${sayAcks.length} broadcasts to ${LISTENERS} listeners (+ churners), ${upAcks.length} upstream events ` +
			`(${okUps.length} acked ok, ${upAcks.length - okUps.length} error acks), ${churned.cycles} churn connections ` +
			`(${churned.failures} failed); lost: ${lost.length}`);
		assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acked event(s) lost`);
		assert.equal(churned.failures, 0, 'churn clients failed to connect');

		// Flatness.
		const warm = Math.max(5, SECONDS * 0.1);
		const steadySamples = samples.filter((s) => s.t >= warm);
		const q = Math.floor(steadySamples.length / 4);
		const first = steadySamples.slice(0, q);
		const last = steadySamples.slice(-q);
		const figures = {
			rssFirstQuarterMax: max(first.map((s) => s.rss)), rssLastQuarterMax: max(last.map((s) => s.rss)),
			fdsFirstQuarterMax: max(first.map((s) => s.fds)), fdsLastQuarterMax: max(last.map((s) => s.fds)),
		};
		log(`flatness: ${JSON.stringify(figures)}`);
		if (!VALGRIND && q >= 1) {
			assert.ok(figures.rssLastQuarterMax <= figures.rssFirstQuarterMax * 1.1 + 2048,
				`RSS not flat: first quarter max ${figures.rssFirstQuarterMax} kB, last quarter max ${figures.rssLastQuarterMax} kB`);
			assert.ok(figures.fdsLastQuarterMax <= figures.fdsFirstQuarterMax + 8,
				`fds not flat: first quarter max ${figures.fdsFirstQuarterMax}, last quarter max ${figures.fdsLastQuarterMax}`);
		}

		// Everyone leaves: the fds come back to the idle level.
		closeClients();
		await until(() => openFds(pid) <= idleFds, `the fd count to come back to ${idleFds} (now ${openFds(pid)})`, ms(15000));
		log(`idle after load: RSS ${vmRSS(pid)} kB, ${openFds(pid)} fds`);
		ok = true;
	} finally {
		closeClients();
		try {
			await gw.stop(); // throws unless exit code 0 (under valgrind: no leaks, no errors)
		} finally {
			await mock?.stop();
		}
	}
	return ok;
}

main().then((ok) => {
	log(ok ? 'PASS' : 'FAIL');
	process.exit(ok ? 0 : 1);
}, (e) => {
	process.stderr.write(`soak: FAIL: ${e.stack || e}\n`);
	process.exit(1);
});
