// mqtt-security.test.mjs - the MQTT bridge over TLS (a CA made by the test) and with a username
// and password taken from the environment; a broker it cannot verify, or wrong credentials,
// keep it not ready with the reason, and the password never reaches the log.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';

import { HOST, T, call, closeClients, connect, ms, once, readyz, run } from './harness.mjs';
import { Broker, mqttSkipReason, pub, startMqttDaemon } from './mqtt-harness.mjs';

let skip = mqttSkipReason();
if (!skip && (await run(['sh', '-c', 'command -v openssl && command -v mosquitto_passwd']).catch(() => ({ code: 1 }))).code !== 0)
	skip = 'openssl or mosquitto_passwd is not installed';

let tlsBroker;
let authBroker;
const daemons = [];

const namespaces = [{
	name: '/chat',
	rooms: { client_join: true },
	bridge: { broker: 'main', to_clients: [{ topic: 'down/{room}' }], from_clients: [{ event: 'say', topic: 'up/{room}' }] },
}];

before(async () => {
	if (skip)
		return;
	tlsBroker = await new Broker({ tls: true }).start();
	// The first user is the one mosquitto_pub uses (the backend).
	authBroker = await new Broker({ users: { backend: 'backend-pw', gateway: 'gw s3cret' } }).start();
});
afterEach(async () => {
	closeClients();
	while (daemons.length)
		await daemons.pop().stop();
});
after(async () => {
	closeClients();
	await tlsBroker?.kill();
	await authBroker?.kill();
});

async function daemon(broker, env = {}, ready = true) {
	const gw = await startMqttDaemon({ brokers: { main: broker }, namespaces }, { env, ready });
	daemons.push(gw);
	return gw;
}

/** A message from the backend reaches a room, and a client event is acked by the broker. */
async function roundTrip(gw, broker) {
	const s = await connect(`${gw.url}/chat`, { transports: ['websocket'] });
	assert.deepEqual(await call(s, 'join', 'r'), [{ ok: true }]);
	const got = once(s, 'message');
	await pub(broker, 'down/r', '"over the wire"');
	assert.deepEqual(await got, ['over the wire']);
	assert.deepEqual(await call(s, 'say', { room: 'r' }), [{ ok: true, topic: 'up/r', qos: 1 }]);
}

describe('mqtt bridge: TLS and credentials', { skip }, () => {
	it('connects over TLS with the configured CA', T(20000), async () => {
		const gw = await daemon({ type: 'mqtt', host: HOST, port: tlsBroker.port, tls: { ca_file: tlsBroker.ca } });
		await roundTrip(gw, tlsBroker);
		assert.match(gw.log(), /connecting to 127\.0\.0\.1:\d+ \(TLS\)/);
	});

	it('is not ready, with the reason, when it cannot verify the broker', T(20000), async () => {
		// "tls": true trusts the system's CAs, which do not know the test's CA.
		const gw = await daemon({ type: 'mqtt', host: HOST, port: tlsBroker.port, tls: true, reconnect_max_ms: 200 }, {}, false);
		await gw.waitLog(/cannot reach the MQTT broker at 127\.0\.0\.1:\d+ \(TLS: certificate verify failed\); retrying/, ms(5000));
		const r = await readyz(gw);
		assert.equal(r.status, 503);
		assert.match(r.body.reason, /^bridge 'main': cannot reach the MQTT broker at 127\.0\.0\.1:\d+ \(TLS: certificate verify failed\)$/);
	});

	it('takes the username and password from the environment', T(20000), async () => {
		const gw = await daemon({ type: 'mqtt', host: HOST, port: authBroker.port, username: '${MQTT_USER}', password: '${MQTT_PASSWORD}' },
			{ MQTT_USER: 'gateway', MQTT_PASSWORD: 'gw s3cret' });
		await roundTrip(gw, authBroker);
		assert.ok(!gw.log().includes('gw s3cret'), 'the password is not logged');
	});

	it('is not ready, with the reason, when the broker refuses the credentials', T(20000), async () => {
		const gw = await daemon({ type: 'mqtt', host: HOST, port: authBroker.port, username: '${MQTT_USER}', password: '${MQTT_PASSWORD}',
			reconnect_max_ms: 200 }, { MQTT_USER: 'gateway', MQTT_PASSWORD: 'wrong' }, false);
		await gw.waitLog(/the MQTT broker at 127\.0\.0\.1:\d+ refused the connection: /, ms(5000));
		const r = await readyz(gw);
		assert.equal(r.status, 503);
		assert.match(r.body.reason, /refused the connection: (Not authorized|Bad user name or password)/);
		// One error line, not one per retry.
		await new Promise((resolve) => setTimeout(resolve, ms(600)));
		assert.equal(gw.log().match(/refused the connection/g).length, 1, gw.log());
		assert.ok(!gw.log().includes('wrong'), 'the password is not logged');
	});
});
