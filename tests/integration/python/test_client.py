"""test_client.py - Debian's python3-socketio client against the conformance server and the
siogate daemon: both transports, acks (sio.call), events, binary both ways, namespaces,
middleware rejections with their data, the token middleware and room joins."""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import socketio  # noqa: E402
from harness import Waiter, scaled  # noqa: E402

CONFORMANCE = None
DAEMON = None

DAEMON_CONFIG = {
    'server': {'connect_timeout_ms': 5000},
    'namespaces': [
        {'name': '/chat', 'rooms': {'client_join': True, 'allow': '^[a-z0-9:-]{1,16}$',
                                    'max_rooms': 2, 'auto_join': ['user:{auth.user}']}},
        {'name': '/secure', 'middleware': [{'type': 'token', 'secret': 's3cret',
                                            'header': 'x-siogate-token', 'message': 'go away'}]},
    ],
}

TRANSPORTS = (['polling'], ['websocket'])


def setUpModule():
    global CONFORMANCE, DAEMON
    CONFORMANCE = harness.start_conformance()
    DAEMON = harness.start_daemon(DAEMON_CONFIG)


def tearDownModule():
    for s in (CONFORMANCE, DAEMON):
        if s is not None:
            s.stop()


class ClientTestCase(unittest.TestCase):
    """Makes clients that never reconnect and are disconnected after each test."""

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.disconnect()
            except Exception:  # noqa: BLE001 - best effort
                pass

    def client(self):
        c = socketio.Client(reconnection=False, request_timeout=scaled(5), handle_sigint=False)
        self.clients.append(c)
        return c

    def connect(self, server, transports=None, namespaces=None, **kw):
        c = self.client()
        c.connect(server.url, transports=transports, namespaces=namespaces or ['/'],
                  wait_timeout=scaled(5), **kw)
        return c

    def connect_error(self, server, namespace, **kw):
        """Connects to `namespace`, expecting a refusal; returns the connect_error data."""
        c = self.client()
        got = Waiter()
        ok = Waiter()
        c.on('connect_error', got, namespace=namespace)
        c.on('connect', ok, namespace=namespace)
        # wait=False: this client version would sit out the whole wait_timeout on a refusal.
        c.connect(server.url, namespaces=[namespace], wait=False, **kw)
        data = got.wait(5)
        self.assertIsNone(ok.args, 'connected although a refusal was expected')
        self.assertNotIn(namespace, c.namespaces)
        return data


class ConformanceServer(ClientTestCase):

    def test_echo_auth_and_ack_on_each_transport(self):
        for transports in TRANSPORTS:
            with self.subTest(transports=transports):
                c = self.client()
                auth = Waiter()
                back = Waiter()
                c.on('auth', auth)
                c.on('message-back', back)
                c.connect(CONFORMANCE.url, transports=transports, auth={'py': transports[0]},
                          wait_timeout=scaled(5))
                self.assertEqual(c.transport(), transports[0])
                self.assertEqual(auth.wait(), ({'py': transports[0]},))
                c.emit('message', ('hello', 1, {'nested': [True, None]}))
                self.assertEqual(back.wait(), ('hello', 1, {'nested': [True, None]}))
                self.assertEqual(c.call('message-with-ack', ('a', 2), timeout=scaled(5)), ('a', 2))
                self.assertEqual(c.call('message-with-ack', 'single', timeout=scaled(5)), 'single')
                c.disconnect()

    def test_upgrade_to_websocket(self):
        c = self.connect(CONFORMANCE, transports=['polling', 'websocket'])
        deadline = time.monotonic() + scaled(3)
        while c.transport() != 'websocket' and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(c.transport(), 'websocket')
        self.assertEqual(c.call('message-with-ack', 'after upgrade', timeout=scaled(5)), 'after upgrade')

    def test_binary_both_ways(self):
        blob = bytes(range(256)) * 40
        for transports in TRANSPORTS:
            with self.subTest(transports=transports):
                c = self.client()
                back = Waiter()
                c.on('message-back', back)
                c.connect(CONFORMANCE.url, transports=transports, wait_timeout=scaled(5))
                c.emit('message', (b'\x00\x01\xff', {'inner': blob, 'list': [b'', b'x']}))
                args = back.wait()
                self.assertEqual(args[0], b'\x00\x01\xff')
                self.assertEqual(args[1]['inner'], blob)
                self.assertEqual(args[1]['list'], [b'', b'x'])
                # Binary in an ack (BINARY_ACK).
                self.assertEqual(c.call('message-with-ack', (b'ack-bytes', {'b': blob}), timeout=scaled(5)),
                                 (b'ack-bytes', {'b': blob}))
                c.disconnect()

    def test_server_asks_for_an_ack(self):
        for transports in TRANSPORTS:
            with self.subTest(transports=transports):
                c = self.client()
                result = Waiter()
                # The handler's return value is the ack.
                c.on('server-ack', lambda *args: ('got', list(args[1:]), b'\x07'))
                c.on('server-ack-result', result)
                c.connect(CONFORMANCE.url, transports=transports, wait_timeout=scaled(5))
                c.emit('request-ack', (2000, 'q', b'\x01'))
                self.assertEqual(result.wait(), (['got', ['q', b'\x01'], b'\x07'],))
                c.disconnect()

    def test_namespaces_on_one_connection(self):
        c = self.client()
        main, custom = Waiter(), Waiter()
        c.on('message-back', main)
        c.on('message-back', custom, namespace='/custom')
        c.connect(CONFORMANCE.url, namespaces=['/', '/custom'], transports=['websocket'],
                  wait_timeout=scaled(5))
        self.assertEqual(sorted(c.namespaces), ['/', '/custom'])
        c.emit('message', 'to custom', namespace='/custom')
        c.emit('message', 'to main')
        self.assertEqual(custom.wait(), ('to custom',))
        self.assertEqual(main.wait(), ('to main',))
        self.assertNotEqual(c.get_sid('/'), c.get_sid('/custom'))

    def test_async_middleware_rejects_with_data(self):
        data = self.connect_error(CONFORMANCE, '/async', auth={'token': 'wrong'})
        self.assertEqual(data, ({'message': 'unauthorized', 'data': {'code': 42}},))

    def test_async_middleware_accepts(self):
        c = self.connect(CONFORMANCE, namespaces=['/async'], auth={'token': 'let-me-in'})
        self.assertEqual(c.call('message-with-ack', 'in', namespace='/async', timeout=scaled(5)), 'in')

    def test_rooms_join_and_broadcast(self):
        a = self.connect(CONFORMANCE, namespaces=['/rooms'], transports=['websocket'])
        b = self.connect(CONFORMANCE, namespaces=['/rooms'], transports=['polling'])
        got = Waiter()
        a.on('py-news', got, namespace='/rooms')
        self.assertEqual(a.call('join', 'py-room', namespace='/rooms', timeout=scaled(5)), {'ok': True})
        n = b.call('broadcast', {'rooms': ['py-room'], 'event': 'py-news', 'args': ['hi', b'\x00']},
                   namespace='/rooms', timeout=scaled(5))
        self.assertEqual(n, 1)
        self.assertEqual(got.wait(), ('hi', b'\x00'))


class Daemon(ClientTestCase):

    def test_unhandled_event_ack(self):
        for transports in TRANSPORTS:
            with self.subTest(transports=transports):
                c = self.connect(DAEMON, transports=transports)
                self.assertEqual(c.call('hello', timeout=scaled(5)),
                                 {'ok': False, 'error': "no handler for event 'hello'"})
                c.disconnect()

    def test_unknown_namespace(self):
        data = self.connect_error(DAEMON, '/nope')
        self.assertEqual(data, ({'message': 'Invalid namespace'},))

    def test_token_via_auth(self):
        for transports in TRANSPORTS:
            with self.subTest(transports=transports):
                c = self.connect(DAEMON, namespaces=['/secure'], transports=transports,
                                 auth={'token': 's3cret'})
                self.assertEqual(c.call('x', namespace='/secure', timeout=scaled(5)),
                                 {'ok': False, 'error': "no handler for event 'x'"})
                c.disconnect()
        self.assertEqual(self.connect_error(DAEMON, '/secure'),
                         ({'message': 'go away', 'data': {'reason': 'missing token'}},))
        self.assertEqual(self.connect_error(DAEMON, '/secure', auth={'token': 'nope'}),
                         ({'message': 'go away', 'data': {'reason': 'invalid token'}},))

    def test_token_via_header(self):
        for transports in TRANSPORTS:
            with self.subTest(transports=transports):
                c = self.connect(DAEMON, namespaces=['/secure'], transports=transports,
                                 headers={'X-Siogate-Token': 's3cret'})
                self.assertIn('/secure', c.namespaces)
                c.disconnect()
        self.assertEqual(self.connect_error(DAEMON, '/secure', headers={'X-Siogate-Token': 'bad'}),
                         ({'message': 'go away', 'data': {'reason': 'invalid token'}},))

    def test_join_acks(self):
        for transports in TRANSPORTS:
            with self.subTest(transports=transports):
                c = self.connect(DAEMON, namespaces=['/chat'], transports=transports,
                                 auth={'user': 'py'})

                def join(room):
                    return c.call('join', room, namespace='/chat', timeout=scaled(5))

                self.assertEqual(join('one'), {'ok': True})
                self.assertEqual(join('user:py'), {'ok': True})  # auto-joined: no slot used
                self.assertEqual(join('Bad Name'), {'ok': False, 'error': 'room name not allowed'})
                self.assertEqual(join('two'), {'ok': True})
                self.assertEqual(join('three'), {'ok': False, 'error': 'too many rooms'})
                self.assertEqual(c.call('leave', 'one', namespace='/chat', timeout=scaled(5)), {'ok': True})
                self.assertEqual(join('three'), {'ok': True})
                c.disconnect()


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
