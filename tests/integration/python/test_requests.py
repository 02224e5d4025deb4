"""test_requests.py - Debian's python3-socketio client asks, a backend answers through Kafka
(docs/bridges.md, "Request and reply"): the librdkafka mock cluster (build/tests/kafka-mock),
the daemon with a "reply": "backend" from_clients entry, and kcat as the backend, which reads
the request's sio-reply-to / sio-ack-id headers and produces the answer. Checks what
python-socketio's call() returns: one JSON value, several arguments (a tuple), binary (bytes),
and the timeout error. Skipped when kcat, the mock or the Kafka plugin is missing."""

import json
import os
import queue
import shutil
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
from harness import scaled  # noqa: E402

KAFKA_MOCK = os.path.join(harness.BUILDDIR, 'tests', 'kafka-mock')
KAFKA_PLUGIN_DIR = os.path.join(harness.BUILDDIR, 'bridges', 'kafka', '.libs')
KCAT = shutil.which('kcat')

MOCK = None
DAEMON = None
TRANSPORTS = (['polling'], ['websocket'])


def skip_reason():
    if not KCAT:
        return 'kcat is not installed'
    if not os.path.exists(KAFKA_MOCK):
        return '%s is missing (the Kafka bridge is not built)' % KAFKA_MOCK
    if not os.path.exists(os.path.join(KAFKA_PLUGIN_DIR, 'kafka.so')):
        return '%s/kafka.so is missing (the Kafka bridge is not built)' % KAFKA_PLUGIN_DIR
    return None


class KafkaMock:
    """tests/kafka-mock: prints its bootstrap address, then answers stdin commands with "ok"."""

    def __init__(self):
        self.proc = subprocess.Popen([KAFKA_MOCK, '1'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        harness._children.append(self.proc)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.bootstrap = self.line(10)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError('kafka-mock said nothing within %s s (exit %s)' % (timeout, self.proc.poll()))

    def cmd(self, line):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()
        answer = self.line(5)
        if answer != 'ok':
            raise AssertionError('kafka-mock: %r -> %r' % (line, answer))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('quit\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)


def kcat(args, data=None, timeout=10):
    r = subprocess.run([KCAT, '-b', MOCK.bootstrap] + args, input=data, capture_output=True,
                       timeout=scaled(timeout))
    if r.returncode != 0:
        raise AssertionError('kcat %s failed (%d): %s' % (' '.join(args), r.returncode, r.stderr.decode()))
    return r.stdout


def records(topic):
    """Every record of `topic`: [{'key', 'payload', 'headers': {name: value}}]."""
    out = []
    for line in kcat(['-C', '-t', topic, '-o', 'beginning', '-e', '-J', '-q']).decode().splitlines():
        if line.strip():
            r = json.loads(line)
            h = r.get('headers') or []
            r['headers'] = dict(zip(h[0::2], h[1::2]))
            out.append(r)
    return out


def wait_request(sid, first_arg, timeout=10):
    """The request record of socket `sid` whose first argument is `first_arg`."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        for r in records('orders.requests'):
            if r['headers'].get('sio-sid') == sid and json.loads(r['payload'])[0] == first_arg:
                return r
        if time.monotonic() > deadline:
            raise AssertionError('no request %r of %s within %s s' % (first_arg, sid, scaled(timeout)))
        time.sleep(0.2)


def answer(request, value, args_mode=None):
    """The backend's answer: `value` (bytes) to the request's sio-reply-to, under its id."""
    with tempfile.NamedTemporaryFile() as f:  # kcat reads a file whole: newlines and binary kept
        f.write(value)
        f.flush()
        argv = ['-P', '-t', request['headers']['sio-reply-to'], '-H', 'sio-ack-id=' + request['headers']['sio-ack-id'],
                '-X', 'message.timeout.ms=%d' % scaled(8000)]
        if args_mode:
            argv += ['-H', 'sio-args=' + args_mode]
        kcat(argv + [f.name])


def setUpModule():
    global MOCK, DAEMON
    reason = skip_reason()
    if reason:
        raise unittest.SkipTest(reason)
    MOCK = KafkaMock()
    for topic in ('orders.requests', 'siogate.replies'):
        MOCK.cmd('topic %s 1' % topic)
    DAEMON = harness.start_daemon({
        'brokers': {'main': {'type': 'kafka', 'bootstrap_servers': MOCK.bootstrap}},
        'namespaces': [{'name': '/chat', 'bridge': {'broker': 'main', 'from_clients': [
            {'event': 'getOrder', 'topic': 'orders.requests', 'reply': 'backend', 'reply_timeout_ms': int(scaled(15000))},
            {'event': 'slow', 'topic': 'orders.requests', 'reply': 'backend', 'reply_timeout_ms': 300},
        ]}}],
    }, env={'SIOGATE_PLUGIN_PATH': KAFKA_PLUGIN_DIR})
    deadline = time.monotonic() + scaled(30)
    while harness.http_status(DAEMON.url + '/readyz') != 200:
        if time.monotonic() > deadline:
            raise AssertionError('the daemon never got ready:\n' + DAEMON.log_tail())
        time.sleep(0.1)


def tearDownModule():
    try:
        if DAEMON is not None:
            DAEMON.stop()
    finally:
        if MOCK is not None:
            MOCK.stop()


class RequestTestCase(unittest.TestCase):
    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.disconnect()
            except Exception:  # noqa: BLE001 - best effort
                pass

    def connect(self, transports):
        c = socketio.Client(reconnection=False, request_timeout=scaled(5), handle_sigint=False)
        self.clients.append(c)
        c.connect(DAEMON.url, transports=transports, namespaces=['/chat'], wait_timeout=scaled(5))
        return c

    def call(self, c, event, *args):
        """c.call() in a thread (it blocks until the backend answers): a function that waits for it."""
        box = {}

        def run():
            try:
                box['result'] = c.call(event, args if len(args) != 1 else args[0], namespace='/chat',
                                       timeout=scaled(20))
            except Exception as e:  # noqa: BLE001 - reported by wait()
                box['error'] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()

        def wait():
            t.join(scaled(25))
            self.assertFalse(t.is_alive(), 'call(%r) never returned' % event)
            if 'error' in box:
                raise box['error']
            return box['result']
        return wait

    def test_backend_answers_call(self):
        for transports in TRANSPORTS:
            with self.subTest(transports=transports):
                c = self.connect(transports)
                sid = c.get_sid('/chat')
                tag = 'json-%s' % transports[0]
                wait = self.call(c, 'getOrder', tag)
                req = wait_request(sid, tag)
                self.assertEqual(req['headers']['sio-reply-to'], 'siogate.replies')
                self.assertRegex(req['headers']['sio-ack-id'], r'^.+-\d+-[0-9a-f]{12}\.\d+$')
                self.assertEqual(json.loads(req['payload']), [tag])
                answer(req, b'{"order":42,"state":"shipped","items":[1,"two",null]}')
                self.assertEqual(wait(), {'order': 42, 'state': 'shipped', 'items': [1, 'two', None]})
                c.disconnect()

    def test_spread_and_binary_answers(self):
        c = self.connect(['websocket'])
        sid = c.get_sid('/chat')
        wait = self.call(c, 'getOrder', 'spread')
        answer(wait_request(sid, 'spread'), b'[1,"two",{"three":3}]', 'spread')
        self.assertEqual(wait(), (1, 'two', {'three': 3}))
        wait = self.call(c, 'getOrder', 'binary')
        answer(wait_request(sid, 'binary'), b'\xff\x00\x01\x80\n{', 'binary')
        self.assertEqual(wait(), b'\xff\x00\x01\x80\n{')

    def test_no_reply_in_time(self):
        c = self.connect(['websocket'])
        self.assertEqual(c.call('slow', 1, namespace='/chat', timeout=scaled(10)),
                         {'ok': False, 'error': 'no reply within 300 ms'})


def main():
    result = unittest.main(module=__name__, exit=False, verbosity=2, warnings=False).result
    ok = result.wasSuccessful()
    harness.cleanup(failed=not ok)
    sys.stdout.flush()
    sys.stderr.flush()
    # The client libraries may leave non-daemon threads behind; do not wait for them.
    os._exit(0 if ok else 1)


if __name__ == '__main__':
    main()
