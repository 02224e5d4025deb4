"""test_presence_example.py - demo/presence.py, the presence backend of docs/bridges.md
("Keeping a presence table"), run for real with its JSON-lines output: on librdkafka's mock
cluster (tests/kafka-mock) with two gateway replicas, one of them killed with SIGKILL (its
sockets expire with its heartbeats) and the other stopped with SIGTERM (its "down"); and on
Debian's mosquitto with an MQTT 5 and an MQTT 3.1.1 replica read by two presence.py (one per
MQTT version), one replica killed (the broker publishes its Last Will). Both start the
backend after a socket has connected, so the table must ask for it (fetch_sockets). Clients
are python3-socketio; the table printed must be exactly who is connected, where, in which
rooms. Skipped, saying why, without confluent_kafka / paho-mqtt, the plugins, the mock
cluster or mosquitto."""

import atexit
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import socketio  # noqa: E402
from harness import BUILDDIR, HOST, SRCDIR, scaled  # noqa: E402

PRESENCE = os.path.join(SRCDIR, 'demo', 'presence.py')
KAFKA_MOCK = os.path.join(BUILDDIR, 'tests', 'kafka-mock')
PLUGINS = {t: os.path.join(BUILDDIR, 'bridges', t, '.libs') for t in ('kafka', 'mqtt')}
MOSQUITTO = next((p for p in ('/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto') if os.path.exists(p)),
                 shutil.which('mosquitto'))
# events.heartbeat_ms of the replicas (and presence.py's --heartbeat-ms). Kafka: short, as a
# crash there is noticed by the missing heartbeats; MQTT: long, so that what removes a dead
# replica's sockets is its Last Will (an expiry would say "expired").
HB_KAFKA_MS = int(300 * harness.SCALE)
HB_MQTT_MS = int(3000 * harness.SCALE)
WAIT = 15                          # seconds (scaled) any change may take to show

_procs = []  # everything started here besides the daemons: killed by PID at exit


def _kill_all():
    for p in _procs:
        if p.poll() is None:
            p.kill()


atexit.register(_kill_all)


def importable(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def kafka_skip():
    if not importable('confluent_kafka'):
        return 'confluent_kafka is not importable (Debian package python3-confluent-kafka)'
    if not os.path.exists(KAFKA_MOCK):
        return '%s is missing (built with the Kafka bridge)' % KAFKA_MOCK
    if not os.path.exists(os.path.join(PLUGINS['kafka'], 'kafka.so')):
        return 'the Kafka bridge is not built'
    return None


def mqtt_skip():
    if not importable('paho.mqtt.client'):
        return 'paho.mqtt is not importable (Debian package python3-paho-mqtt)'
    if not os.path.exists(os.path.join(PLUGINS['mqtt'], 'mqtt.so')):
        return 'the MQTT bridge is not built (libmosquitto-dev)'
    if not MOSQUITTO:
        return 'the mosquitto broker is not installed (Debian package mosquitto)'
    return None


def start(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _procs.append(p)
    return p


def stop(p, how=signal.SIGTERM, timeout=5):
    """Signals one process by its PID, SIGKILL if it is still there after `timeout` s."""
    if p.poll() is None:
        p.send_signal(how)
        try:
            p.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def lines_of(stream, q):
    """Puts each line of `stream` into q (a reader thread), then None at its end."""
    def read():
        for line in stream:
            q.put(line.rstrip('\n'))
        q.put(None)
    threading.Thread(target=read, daemon=True).start()


class KafkaMock:
    """tests/kafka-mock: prints its bootstrap address, then answers 'ok' to each command."""

    def __init__(self):
        self.proc = start([KAFKA_MOCK, '1'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
        self.lines = queue.Queue()
        lines_of(self.proc.stdout, self.lines)
        self.bootstrap = self.line('its bootstrap address')

    def line(self, what):
        try:
            line = self.lines.get(timeout=scaled(10))
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError('kafka-mock: no %s (exit %s)' % (what, self.proc.poll()))
        return line

    def topic(self, name, partitions):
        self.proc.stdin.write('topic %s %d\n' % (name, partitions))
        self.proc.stdin.flush()
        self.assert_ok(self.line('answer to topic %s' % name))

    def assert_ok(self, answer):
        if answer != 'ok':
            raise AssertionError('kafka-mock answered %r' % answer)

    def stop(self):
        try:
            self.proc.stdin.write('quit\n')
            self.proc.stdin.flush()
        except OSError:
            pass
        stop(self.proc, signal.SIGKILL)


class Mosquitto:
    """Debian's mosquitto on a free loopback port (the config mqtt-harness.mjs writes)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='siogate-pymosq-', dir=harness.TMP)
        os.chmod(self.dir, 0o777)  # started as root, it runs as the user mosquitto
        for _ in range(3):
            self.port = harness.free_port()
            conf = os.path.join(self.dir, 'mosquitto.conf')
            with open(conf, 'w') as f:
                f.write('listener %d %s\nallow_anonymous true\npersistence false\nlog_dest stderr\n'
                        'log_type error\nlog_type warning\n' % (self.port, HOST))
            with open(os.path.join(self.dir, 'mosquitto.log'), 'ab') as log:
                self.proc = start([MOSQUITTO, '-c', conf], stdout=log, stderr=log)
            deadline = time.monotonic() + scaled(5)
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection((HOST, self.port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            stop(self.proc, signal.SIGKILL)
        raise AssertionError('mosquitto did not start (see %s)' % self.dir)

    def stop(self):
        stop(self.proc)


class PresenceProc:
    """demo/presence.py --json; wait() returns the first table that passes a check."""

    def __init__(self, hb_ms, *args):
        self.err_path = os.path.join(harness.TMP, 'presence-%d.err' % len(_procs))
        with open(self.err_path, 'w') as err:
            self.proc = start([sys.executable, PRESENCE, '--json', '--heartbeat-ms', str(hb_ms)] + list(args),
                              stdout=subprocess.PIPE, stderr=err, text=True)
        self.lines = queue.Queue()
        self.last = None
        lines_of(self.proc.stdout, self.lines)
        self.wait(lambda t: t['change'] == 'ready', 'ready')

    def wait(self, check, what, timeout=WAIT):
        deadline = time.monotonic() + scaled(timeout)
        while True:
            if self.last is not None and check(self.last):
                return self.last
            left = deadline - time.monotonic()
            line = None
            if left > 0:
                try:
                    line = self.lines.get(timeout=left)
                except queue.Empty:
                    pass
            if line is None:
                with open(self.err_path) as f:
                    err = f.read()[-2000:]
                raise AssertionError('presence.py: no table with %s within %.1f s; last: %s\nstderr: %s'
                                     % (what, scaled(timeout), json.dumps(self.last), err))
            self.last = json.loads(line)

    def table(self, sockets, what):
        """Waits until the sockets are exactly `sockets` ({sid: (instance, [rooms])} of /chat)."""
        want = {'/chat': {sid: {'instance': i, 'rooms': sorted(r)} for sid, (i, r) in sockets.items()}} \
            if sockets else {}
        return self.wait(lambda t: t['sockets'] == want, what)

    def stop(self):
        stop(self.proc)


def config(broker, topics, hb_ms):
    events, control = topics
    return {
        'brokers': {'b': broker},
        'namespaces': [{
            'name': '/chat',
            'rooms': {'client_join': True, 'auto_join': ['user:{auth.user}']},
            'bridge': {'broker': 'b', 'events': {'topic': events, 'heartbeat_ms': hb_ms},
                       'control_topic': control},
        }],
    }


def wait_ready(server):
    deadline = time.monotonic() + scaled(30)
    while harness.http_status(server.url + '/readyz') != 200:
        if time.monotonic() > deadline:
            raise AssertionError('%s not ready in time:\n%s' % (server.name, server.log_tail()))
        time.sleep(0.1)


class PresenceCase(unittest.TestCase):
    def setUp(self):
        self.clients = []
        self.daemons = []
        self.others = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.disconnect()
            except Exception:  # noqa: BLE001 - best effort
                pass
        for d in self.daemons:
            if d.proc.poll() is None:
                d.stop()
        for o in reversed(self.others):  # the backends before their broker
            o.stop()

    def daemon(self, cfg, plugin):
        d = harness.start_daemon(cfg, env={'SIOGATE_PLUGIN_PATH': PLUGINS[plugin]})
        self.daemons.append(d)
        wait_ready(d)
        return d

    def client(self, server, user, *rooms):
        c = socketio.Client(reconnection=False, request_timeout=scaled(5), handle_sigint=False)
        self.clients.append(c)
        c.connect(server.url, namespaces=['/chat'], transports=['websocket'], auth={'user': user},
                  wait_timeout=scaled(5))
        for room in rooms:
            self.assertEqual(c.call('join', room, namespace='/chat', timeout=scaled(5)), {'ok': True})
        return c, c.get_sid('/chat')

    def kill(self, d):
        """A crash: SIGKILL, no drain, no records."""
        d.proc.kill()
        d.proc.wait(timeout=10)
        self.daemons.remove(d)


@unittest.skipIf(kafka_skip(), kafka_skip())
class KafkaPresence(PresenceCase):
    def test_two_replicas_a_crash_and_a_clean_stop(self):
        mock = KafkaMock()
        self.others.append(mock)
        mock.topic('siogate.events', 4)
        mock.topic('siogate.control', 1)
        mock.topic('presence.replies', 1)
        cfg = config({'type': 'kafka', 'bootstrap_servers': mock.bootstrap}, ('siogate.events', 'siogate.control'),
                     HB_KAFKA_MS)
        a, b = self.daemon(cfg, 'kafka'), self.daemon(cfg, 'kafka')

        # ann connected before the backend started: it learns of her by asking.
        _, ann = self.client(a, 'ann', 'lobby')
        p = PresenceProc(HB_KAFKA_MS, '--kafka', mock.bootstrap, '--topic', 'siogate.events',
                         '--control-topic', 'siogate.control', '--reply-topic', 'presence.replies')
        self.others.append(p)
        t = p.wait(lambda t: ann in t['sockets'].get('/chat', {}), "ann (from fetch_sockets)")
        self.assertEqual(t['change'].split()[:2], ['snapshot', '/chat'])
        ia = t['sockets']['/chat'][ann]['instance']
        p.table({ann: (ia, ['lobby', 'user:ann'])}, 'ann on replica A')

        bob_c, bob = self.client(b, 'bob', 'lobby', 'vip')
        t = p.wait(lambda t: bob in t['sockets'].get('/chat', {}), 'bob')
        ib = t['sockets']['/chat'][bob]['instance']
        self.assertNotEqual(ia, ib)
        cat_c, cat = self.client(a, 'cat')
        self.assertEqual(bob_c.call('leave', 'vip', namespace='/chat', timeout=scaled(5)), {'ok': True})
        p.table({ann: (ia, ['lobby', 'user:ann']), bob: (ib, ['lobby', 'user:bob']), cat: (ia, ['user:cat'])},
                'ann, bob (left vip) and cat')
        cat_c.disconnect()
        p.table({ann: (ia, ['lobby', 'user:ann']), bob: (ib, ['lobby', 'user:bob'])}, 'cat gone')

        # A crashes: no disconnect, no "down" (Kafka has no will): its heartbeats stop.
        self.kill(a)
        t = p.table({bob: (ib, ['lobby', 'user:bob'])}, "A's sockets expired")
        self.assertEqual(t['instances'][ia], {'state': 'expired', 'will': False})
        self.assertEqual(t['instances'][ib], {'state': 'up', 'will': False})

        # B stops cleanly: bob's disconnect, then B's "down".
        b.stop()
        self.daemons.remove(b)
        t = p.wait(lambda t: t['instances'][ib]['state'] == 'down', "B's down")
        self.assertEqual(t['sockets'], {})
        self.assertEqual(t['instances'][ib], {'state': 'down', 'will': False})


@unittest.skipIf(mqtt_skip(), mqtt_skip())
class MqttPresence(PresenceCase):
    def test_mqtt5_and_311_replicas_and_the_last_will(self):
        broker = Mosquitto()
        self.others.append(broker)
        topics = ('siogate/events', 'siogate/control')

        def mqtt(protocol):
            return {'type': 'mqtt', 'host': HOST, 'port': broker.port, 'protocol': protocol}
        a = self.daemon(config(mqtt('5'), topics, HB_MQTT_MS), 'mqtt')
        b = self.daemon(config(mqtt('3.1.1'), topics, HB_MQTT_MS), 'mqtt')

        _, ann = self.client(a, 'ann', 'lobby')
        common = ['--mqtt', '%s:%d' % (HOST, broker.port), '--topic', 'siogate/events',
                  '--control-topic', 'siogate/control', '--reply-topic', 'presence/replies']
        backends = [PresenceProc(HB_MQTT_MS, *common),
                    PresenceProc(HB_MQTT_MS, *(common + ['--mqtt-version', '3.1.1']))]
        self.others.extend(backends)
        for p in backends:
            t = p.wait(lambda t: ann in t['sockets'].get('/chat', {}), 'ann (from fetch_sockets)')
            self.assertEqual(t['change'].split()[:2], ['snapshot', '/chat'])
        ia = t['sockets']['/chat'][ann]['instance']

        bob_c, bob = self.client(b, 'bob', 'lobby', 'vip')
        self.assertEqual(bob_c.call('leave', 'lobby', namespace='/chat', timeout=scaled(5)), {'ok': True})
        for p in backends:
            t = p.wait(lambda t: bob in t['sockets'].get('/chat', {}), 'bob')
            ib = t['sockets']['/chat'][bob]['instance']
            p.table({ann: (ia, ['lobby', 'user:ann']), bob: (ib, ['user:bob', 'vip'])}, 'ann on A, bob on B')
        self.assertNotEqual(ia, ib)

        # A dies: the broker publishes its Last Will at once. The first table without ann
        # says so (an expiry, 3 heartbeats later, would say "expired").
        self.kill(a)
        for p in backends:
            t = p.wait(lambda t: ann not in t['sockets'].get('/chat', {}), "ann's replica gone")
            self.assertEqual(t['instances'][ia], {'state': 'down', 'will': True})
            p.table({bob: (ib, ['user:bob', 'vip'])}, 'bob alone')

        bob_c.disconnect()
        b.stop()
        self.daemons.remove(b)
        for p in backends:
            t = p.wait(lambda t: t['instances'][ib]['state'] == 'down', "B's down")
            self.assertEqual(t['sockets'], {})
            self.assertEqual(t['instances'][ib], {'state': 'down', 'will': False})


def main():
    result = unittest.main(module=__name__, exit=False, verbosity=2, warnings=False).result
    ok = result.wasSuccessful()
    _kill_all()
    harness.cleanup(failed=not ok)
    sys.stdout.flush()
    sys.stderr.flush()
    # The client libraries may leave non-daemon threads behind; do not wait for them.
    os._exit(0 if ok else 1)


if __name__ == '__main__':
    main()
