// report.mjs - turns the load generator's JSON files (bench/run.sh) into one Markdown table.
// Usage: node report.mjs OUTDIR key=value...
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [dir, ...kv] = process.argv.slice(2);
const meta = Object.fromEntries(kv.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));
const load = (tag) => {
	try {
		return JSON.parse(fs.readFileSync(path.join(dir, `${tag}.json`), 'utf8'));
	} catch {
		return null;
	}
};
const median = (xs) => {
	const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
	return v.length ? v[Math.floor((v.length - 1) / 2)] : NaN;
};
/** name value pairs of a /metrics scrape saved by run.sh (NaN when missing). */
const scrape = (tag) => {
	let text = '';
	try {
		text = fs.readFileSync(path.join(dir, `${tag}.metrics`), 'utf8');
	} catch {
		return () => NaN;
	}
	return (name) => {
		const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)`, 'm'));
		return m ? Number(m[1]) : NaN;
	};
};
/** siogate's fan-out between two scrapes: broadcasts, recipients, seconds. */
const fanout = (tag) => {
	const a = scrape(`${tag}.before`), b = scrape(`${tag}.after`);
	const d = (n) => b(n) - a(n);
	return { count: d('siogate_fanout_seconds_count'), recipients: d('siogate_fanout_recipients_total'),
		seconds: d('siogate_fanout_seconds_sum') };
};
const spread = (xs) => {
	const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
	return v.length ? { min: v[0], median: v[Math.floor((v.length - 1) / 2)], max: v[v.length - 1] } : null;
};
const bcast = (kind, key) => {
	const runs = [];
	for (let r = 1; r <= 20; r++) {
		const j = load(`${kind}-bcast-${r}`);
		if (!j) break;
		runs.push(j);
	}
	if (key === 'all') return runs;
	return median(runs.map((j) => (j.error || j.missing ? NaN : j[key])));
};
const get = (tag, key) => {
	const j = load(tag);
	return j && !j.error ? j[key] : NaN;
};

const fmt = (x, unit, d = 0) => (Number.isFinite(x) ? `${x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })}${unit}` : 'n/a');
const rows = [];
// [label, siogate, node, unit, digits, target(sg, node) -> string]
const add = (label, s, n, unit, d, target) => {
	const ratio = Number.isFinite(s) && Number.isFinite(n) && n !== 0 ? s / n : NaN;
	rows.push(`| ${label} | ${fmt(s, unit, d)} | ${fmt(n, unit, d)} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'} | ${target ? target(s, n, ratio) : ''} |`);
};
const kb = (b) => b / 1024;
const check = (ok, text) => `${text}: ${ok === undefined ? 'n/a' : ok ? '**met**' : '**not met**'}`;
const cmp = (ratio, pred, text) => check(Number.isFinite(ratio) ? pred(ratio) : undefined, text);

add('1. idle memory per client, N=1,000 (server RSS delta / N)', kb(get('siogate-idle1k', 'bytes_per_client')),
	kb(get('node-idle1k', 'bytes_per_client')), ' KB', 1, (s, n, r) => cmp(r, (x) => x <= 0.25, '≤ 0.25'));
add('1. idle memory per client, N=10,000', kb(get('siogate-idle10k', 'bytes_per_client')),
	kb(get('node-idle10k', 'bytes_per_client')), ' KB', 1, (s, n, r) => cmp(r, (x) => x <= 0.25, '≤ 0.25'));
add('1. connect rate, N=10,000 (clients/s)', get('siogate-idle10k', 'connect_rate'), get('node-idle10k', 'connect_rate'), '', 0);
add('1. connect errors, N=1,000 + N=10,000', get('siogate-idle1k', 'setup_errors') + get('siogate-idle10k', 'setup_errors'),
	get('node-idle1k', 'setup_errors') + get('node-idle10k', 'setup_errors'), '', 0);
add(`2. room broadcast, 1,000 clients, ~100-byte event (deliveries/s, median of ${bcast('siogate', 'all').length})`,
	bcast('siogate', 'deliveries_per_s'), bcast('node', 'deliveries_per_s'), '', 0, (s, n, r) => cmp(r, (x) => x >= 5, '≥ 5'));
{
	// Each rep of siogate against the same rep of Node: the goal holds for every pair.
	const sg = bcast('siogate', 'all'), nd = bcast('node', 'all');
	const ok = (j) => j && !j.error && !j.missing;
	const ratios = sg.map((j, i) => (ok(j) && ok(nd[i]) ? j.deliveries_per_s / nd[i].deliveries_per_s : NaN));
	const s = spread(sg.map((j) => (ok(j) ? j.deliveries_per_s : NaN))), n = spread(nd.map((j) => (ok(j) ? j.deliveries_per_s : NaN)));
	const r = spread(ratios);
	const mm = (x, d = 0) => (x ? `${fmt(x.min, '', d)} / ${fmt(x.median, '', d)} / ${fmt(x.max, '', d)}` : 'n/a');
	rows.push(`| 2. same, min / median / max of the reps (ratio: each rep against the same rep of Node) | ${mm(s)} | ${mm(n)} | ${mm(r, 2)} | ${check(r ? r.min >= 5 : undefined, 'every rep ≥ 5')} |`);
}
add('2. broadcast delivery latency p50 (send → receipt, queued burst)', bcast('siogate', 'lat_p50_ms'), bcast('node', 'lat_p50_ms'), ' ms', 1);
add('2. broadcast delivery latency p99', bcast('siogate', 'lat_p99_ms'), bcast('node', 'lat_p99_ms'), ' ms', 1);
add('2. server CPU during the broadcast (cores)', bcast('siogate', 'server_cpu_frac'), bcast('node', 'server_cpu_frac'), '', 2);
add('2. load generator CPU during the broadcast (cores)', bcast('siogate', 'loadgen_phase_cpu_frac'), bcast('node', 'loadgen_phase_cpu_frac'), '', 2);
add('3. echo with ack, round trip p50', get('siogate-echo', 'rtt_p50_ms'), get('node-echo', 'rtt_p50_ms'), ' ms', 3);
add('3. echo with ack, round trip p99', get('siogate-echo', 'rtt_p99_ms'), get('node-echo', 'rtt_p99_ms'), ' ms', 3,
	(s, n, r) => cmp(r, (x) => x <= 1, '≤ 1 (no worse)'));
add('3. echo round trips/s (one client, sequential)', get('siogate-echo', 'rtt_per_s'), get('node-echo', 'rtt_per_s'), '', 0);
if (meta.kafka_skip) rows.push(`| 4. Kafka → clients | not measured (${meta.kafka_skip}) | n/a | | |`);
else {
	// Node has no Kafka bridge: its column is n/a. The "plain consumer" is kbench's own
	// librdkafka consumer of the same topic, same run: what a backend sees without the gateway.
	const kp = 'siogate-kafka-paced', kbu = 'siogate-kafka-burst';
	const plain = (tag, key) => get(`${tag}.kafka`, key);
	const sg4 = (label, v, unit, d, target) => rows.push(`| ${label} | ${fmt(v, unit, d)} | n/a | n/a | ${target ?? ''} |`);
	const rate = Number(meta.kafka_rate);
	sg4(`4. Kafka → 1,000 clients, ${rate.toLocaleString('en-US')} records/s × ${Number(meta.kafka_msgs).toLocaleString('en-US')}: deliveries/s`, get(kp, 'deliveries_per_s'), '', 0);
	sg4('4. produce → client receipt p50 (paced)', get(kp, 'lat_p50_ms'), ' ms', 2);
	sg4('4. produce → client receipt p99 (paced)', get(kp, 'lat_p99_ms'), ' ms', 2);
	sg4('4. produce → plain librdkafka consumer p50 (same run)', plain(kp, 'consumer_p50_ms'), ' ms', 2);
	sg4('4. produce → plain librdkafka consumer p99 (same run)', plain(kp, 'consumer_p99_ms'), ' ms', 2);
	const added = get(kp, 'lat_p99_ms') - plain(kp, 'consumer_p99_ms');
	sg4('4. gateway-added latency p50 (client p50 − consumer p50)', get(kp, 'lat_p50_ms') - plain(kp, 'consumer_p50_ms'), ' ms', 2);
	sg4('4. gateway-added latency p99 (client p99 − consumer p99)', added, ' ms', 2,
		check(Number.isFinite(added) ? added <= 1 : undefined, '≤ 1 ms'));
	sg4(`4. burst of ${Number(Math.floor(meta.kafka_msgs / 4)).toLocaleString('en-US')} records to 1,000 clients: deliveries/s`, get(kbu, 'deliveries_per_s'), '', 0);
	const ks = 'siogate-kafka-small';
	sg4('4. same, room of 10 clients: gateway-added latency p50', get(ks, 'lat_p50_ms') - plain(ks, 'consumer_p50_ms'), ' ms', 2);
	sg4('4. same, room of 10 clients: gateway-added latency p99', get(ks, 'lat_p99_ms') - plain(ks, 'consumer_p99_ms'), ' ms', 2);
	sg4('4. missing deliveries (all runs)', get(kp, 'missing') + get(kbu, 'missing') + get(ks, 'missing'), '', 0);
}
if (meta.quick !== '1') {
	const hn = Number(meta.hold_n).toLocaleString('en-US');
	add(`5. ${hn} connections held ${meta.hold_s} s: errors (setup + dropped)`,
		get('siogate-hold', 'setup_errors') + get('siogate-hold', 'dropped_during_hold'),
		get('node-hold', 'setup_errors') + get('node-hold', 'dropped_during_hold'), '', 0);
	add(`5. ${hn} connections held: server RSS (max)`, get('siogate-hold', 'rss_max_kb') / 1024, get('node-hold', 'rss_max_kb') / 1024, ' MB', 1);
	add(`5. ${hn} connections: connect rate (clients/s)`, get('siogate-hold', 'connect_rate'), get('node-hold', 'connect_rate'), '', 0,
		(s, n, r) => cmp(r, (x) => x >= 2, '≥ 2'));
} else rows.push('| 5. 20,000 connections held | skipped (BENCH_QUICK=1) | | | |');

// Event loops (server.event_loop): each one's run of scenarios 1-3 (and 5), against the same
// Node run. "auto" is what the main table measured.
const loopRows = [];
const loops = (meta.loops || '').split(/\s+/).filter(Boolean);
if (loops.length) {
	const pfx = (loop) => (loop === meta.auto_loop ? 'siogate' : `siogate@${loop}`);
	const cell = (loop, f, unit, d) => {
		const v = f(pfx(loop)), nv = f('node');
		return `${fmt(v, unit, d)}${Number.isFinite(v) && Number.isFinite(nv) && nv ? ` (${(v / nv).toFixed(2)}×)` : ''}`;
	};
	const line = (label, f, unit, d) => loopRows.push(`| ${label} | ${loops.map((l) => cell(l, f, unit, d)).join(' | ')} | ${fmt(f('node'), unit, d)} |`);
	loopRows.push(`| Scenario (ratio to Node) | ${loops.map((l) => `${l}${l === meta.auto_loop ? ' (auto)' : ''}`).join(' | ')} | Node |`);
	loopRows.push(`|---|${loops.map(() => '---:').join('|')}|---:|`);
	line('connect rate, N=1,000 (clients/s)', (p) => get(`${p}-idle1k`, 'connect_rate'), '', 0);
	line('connect rate, N=10,000 (clients/s)', (p) => get(`${p}-idle10k`, 'connect_rate'), '', 0);
	if (meta.quick !== '1')
		line(`connect rate, N=${Number(meta.hold_n).toLocaleString('en-US')} (clients/s)`, (p) => get(`${p}-hold`, 'connect_rate'), '', 0);
	line('idle memory per client, N=1,000', (p) => kb(get(`${p}-idle1k`, 'bytes_per_client')), ' KB', 1);
	line('idle memory per client, N=10,000', (p) => kb(get(`${p}-idle10k`, 'bytes_per_client')), ' KB', 1);
	line('broadcast deliveries/s (median of reps)', (p) => bcast(p, 'deliveries_per_s'), '', 0);
	line('echo round trip p50', (p) => get(`${p}-echo`, 'rtt_p50_ms'), ' ms', 3);
	line('echo round trip p99', (p) => get(`${p}-echo`, 'rtt_p99_ms'), ' ms', 3);
	for (const l of loops)
		if (!fs.existsSync(path.join(dir, `${pfx(l)}-idle1k.json`)))
			loopRows.push(`\n${l}: not measured (see the run's output)`);
}

// 6. Fan-out against the floor.
const fanRows = [];
{
	const f = fanout('siogate-fanout'), fl = load('floor');
	const sgUs = f.recipients > 0 ? (f.seconds / f.recipients) * 1e6 : NaN;
	const flUs = fl && !fl.error ? fl.per_recipient_us : NaN;
	const r = sgUs / flUs;
	fanRows.push('| Fan-out, 1,000 clients, one broadcast at a time | siogate | raw floor | ratio | goal |');
	fanRows.push('|---|---:|---:|---:|---|');
	fanRows.push(`| per-recipient cost (µs) | ${fmt(sgUs, ' µs', 2)} | ${fmt(flUs, ' µs', 2)} | ${Number.isFinite(r) ? r.toFixed(2) : 'n/a'} | ${check(Number.isFinite(r) ? r <= 1.3 : undefined, '≤ 1.3')} |`);
	fanRows.push(`| per broadcast, mean (ms) | ${fmt(f.count > 0 ? (f.seconds / f.count) * 1e3 : NaN, ' ms', 3)} | ${fmt(fl?.fanout_mean_ms, ' ms', 3)} | | |`);
	fanRows.push(`| broadcasts measured | ${fmt(f.count, '', 0)} | ${fmt(fl?.msgs, '', 0)} | | |`);
}

// 4b. Broker → client latency curves (Kafka, then MQTT), 1,000 clients. The goal holds at every
// rate up to half of saturation: saturation (records/s to a room of 1,000) = 1 / siogate's mean
// fan-out per broadcast in scenario 6; a rate above half of it is shown but not judged.
const sat = (() => {
	const f = fanout('siogate-fanout');
	return f.count > 0 && f.seconds > 0 ? { meanMs: (f.seconds / f.count) * 1e3, rate: f.count / f.seconds } : null;
})();
const halfSat = sat ? sat.rate / 2 : NaN;
/**
 * One curve table: the runs `${prefix}-${rate}` (loadgen), `${prefix}-${rate}.${plain}` (kbench /
 * mbench: the plain consumer of the same run) and `${prefix}-${rate}.floor` (bench/floor.c at the
 * same rate, run right after), under `title`; `plainName` names that consumer in the column header.
 * The goal compares like with like: the gateway-added p99 against 1 ms plus the floor's own p99
 * delivery latency at that rate (a raw sender's 1,000 send()s: no gateway can deliver to the room
 * faster). Returns the lines to print.
 */
const curveTable = ({ prefix, plain, title, plainName, rates }) => {
	const lines = [title, ''];
	lines.push(`| records/s | client p50 | client p99 | ${plainName} p50 / p99 | gateway-added p50 | gateway-added p99 | floor delivery p50 / p99 | fan-out mean: siogate / floor | goal: added p99 ≤ 1 ms + floor p99 |`);
	lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
	for (const rate of rates) {
		const t = `${prefix}-${rate}`;
		const c50 = get(t, 'lat_p50_ms'), c99 = get(t, 'lat_p99_ms');
		const p50 = get(`${t}.${plain}`, 'consumer_p50_ms'), p99 = get(`${t}.${plain}`, 'consumer_p99_ms');
		const d50 = get(`${t}.floor`, 'deliver_p50_ms'), d99 = get(`${t}.floor`, 'deliver_p99_ms');
		const goal = 1 + d99;
		const f = fanout(t);
		const judged = !(Number(rate) > halfSat); // judged when saturation is unknown too
		const verdict = judged
			? check(Number.isFinite(c99 - p99) && Number.isFinite(goal) ? c99 - p99 <= goal : undefined, `≤ ${fmt(goal, ' ms', 2)}`)
			: `above half of saturation (${fmt(halfSat, ' rec/s', 0)}): not judged`;
		lines.push(`| ${rate} | ${fmt(c50, ' ms', 2)} | ${fmt(c99, ' ms', 2)} | ${fmt(p50, '', 2)} / ${fmt(p99, ' ms', 2)} | ${fmt(c50 - p50, ' ms', 2)} | ${fmt(c99 - p99, ' ms', 2)} | ${fmt(d50, '', 2)} / ${fmt(d99, ' ms', 2)} | ${fmt(f.count > 0 ? (f.seconds / f.count) * 1e3 : NaN, '', 2)} / ${fmt(get(`${t}.floor`, 'fanout_mean_ms'), ' ms', 2)} | ${verdict} |`);
	}
	lines.push('');
	return lines;
};
const rateList = (s) => (s || '').split(/\s+/).filter(Boolean);
const curveRows = [];
let curveTables = 0;
if (!meta.kafka_skip && rateList(meta.kafka_curve).length) {
	curveTables++;
	curveRows.push(...curveTable({ prefix: 'siogate-kafka-curve', plain: 'kafka', plainName: 'plain consumer',
		rates: rateList(meta.kafka_curve),
		title: 'Kafka → 1,000 clients, latency against the record rate (5 s and at least 150 records per rate; gateway-added = client − plain consumer, per percentile):' }));
}
if (meta.mqtt_skip)
	curveRows.push(`MQTT → 1,000 clients, latency against the message rate: not measured: ${meta.mqtt_skip}.`, '');
else if (rateList(meta.mqtt_curve).length) {
	curveTables++;
	curveRows.push(...curveTable({ prefix: 'siogate-mqtt-curve', plain: 'mqtt', plainName: 'plain subscriber',
		rates: rateList(meta.mqtt_curve),
		title: `MQTT (mosquitto) → 1,000 clients, latency against the message rate (5 s and at least 150 messages per rate, QoS ${meta.mqtt_qos ?? '0'}; a record is one MQTT message; gateway-added = client − plain subscriber, per percentile):` }));
}
if (curveTables)
	curveRows.push(sat
		? `Saturation (records/s to a room of 1,000) ≈ 1 / siogate's mean fan-out per broadcast in scenario 6 (${fmt(sat.meanMs, ' ms', 3)}) = ${fmt(sat.rate, ' records/s', 0)}; the goal is judged up to half of it (${fmt(halfSat, ' records/s', 0)}).`
		: 'Saturation: unknown (no fan-out measurement from scenario 6); every rate is judged.', '');

const cpu = (os.cpus()[0]?.model ?? 'unknown').trim();
const out = [];
out.push(`# siogate benchmark: ${new Date().toISOString()}`);
out.push('');
out.push(`Machine: ${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}.`);
out.push(`Versions: siogate ${meta.siogate}, Node ${meta.node}, socket.io ${meta['socket.io']}, libwebsockets ${meta.lws}. ulimit -n ${meta.nofile}.`);
out.push(`Pinning: ${meta.pin || 'none (BENCH_PIN=0 or fewer than 2 CPUs)'}.`);
out.push(`Machine busy before the run: ${meta.busy}% of all CPUs${Number(meta.busy) >= 15 ? ' (**WARNING: other load; numbers skewed**)' : ''}. Scenarios took ${meta.elapsed} s.`);
out.push('Ratio = siogate / Node (lower is better for memory and latency, higher for rates).');
out.push('');
out.push('| Scenario | siogate | Node | ratio | target |');
out.push('|---|---:|---:|---:|---|');
out.push(...rows);
out.push('');
if (loopRows.length) {
	out.push('Event loops (server.event_loop), same run, same load generator:');
	out.push('');
	out.push(...loopRows);
	out.push('');
}
out.push('Fan-out against the floor (siogate_fanout_seconds: from the event\'s arrival on the loop to its frame written to the last of 1,000 sockets; the floor: bench/floor.c writes the same frame to 1,000 loopback sockets with one send() each, nothing else):');
out.push('');
out.push(...fanRows);
out.push('');
out.push(...curveRows);
if (!meta.kafka_skip)
	out.push(`Kafka: librdkafka's mock cluster (tests/kafka-mock), one partition; bench/kbench.c produces records {"ts","pad"} (linger.ms 0) keyed "r", the gateway delivers each to room "r" (bench/siogate.kafka.json); the gateway's consumer and kbench's plain consumer both use fetch.wait.max.ms 10. Latencies share one clock (CLOCK_MONOTONIC). All processes share the 2 CPUs.`);
if (!meta.mqtt_skip && rateList(meta.mqtt_curve).length)
	out.push(`MQTT: mosquitto ${meta.mqtt_version || '(version unknown)'} on 127.0.0.1 (default settings, no persistence, not pinned); bench/mbench.c publishes messages {"ts","pad"} over MQTT 5 at QoS ${meta.mqtt_qos ?? '0'} to the topic bench/r, the gateway (subscribed to bench/{room} at QoS 1, so each message arrives at the QoS it was published with) delivers each to room "r" (bench/siogate.mqtt.json), and mbench's own plain libmosquitto subscriber (its own connection, QoS 1 subscription) measures what a backend sees. Latencies share one clock (CLOCK_MONOTONIC).`);
out.push(`Broadcast: one sender emits ${meta.bcast_msgs} events with an ack window of 16 to a room of 1,000 clients; rate = deliveries / (last delivery − first send). Echo: one client, ${meta.echo_msgs} sequential emits with ack (after 100 warm-up round trips).`);
console.log(out.join('\n'));
