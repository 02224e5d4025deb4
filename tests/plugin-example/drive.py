"""drive.py - the example echo plugin, as run.sh built and installed it (SIOGATE_PLUGIN_PATH),
in the build tree's daemon: a python3-socketio client's events come back in their acks, with
JSON and binary arguments, /metrics counts them, and the daemon stops cleanly (valgrind too)."""

import os
import sys
import unittest
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration', 'python'))

import harness  # noqa: E402
import socketio  # noqa: E402
from harness import scaled  # noqa: E402

CONFIG = {'namespaces': [{'name': '/echo', 'bridge': {'type': 'echo', 'tag': 'from-config'}}]}


class EchoPlugin(unittest.TestCase):

    def test_events_acked_counted_and_clean_exit(self):
        daemon = harness.start_daemon(CONFIG)
        c = socketio.Client(reconnection=False, request_timeout=scaled(5), handle_sigint=False)
        try:
            c.connect(daemon.url, namespaces=['/echo'], wait_timeout=scaled(5))
            got = c.call('hello', ('a', 1, {'b': [True, None]}), namespace='/echo', timeout=scaled(5))
            self.assertEqual(got, {'ok': True, 'event': 'hello', 'args': ['a', 1, {'b': [True, None]}],
                                   'count': 1, 'tag': 'from-config'})
            got = c.call('blob', (b'\x00\x01\xff', 'x'), namespace='/echo', timeout=scaled(5))
            self.assertEqual(got, {'ok': True, 'event': 'blob', 'binary': 1, 'count': 2, 'tag': 'from-config'})
            with urllib.request.urlopen(daemon.url + '/metrics', timeout=scaled(5)) as r:
                metrics = r.read().decode()
            self.assertIn('siogate_bridge_echo_events_total{bridge="echo"} 2\n', metrics)
        finally:
            c.disconnect()
        self.assertEqual(daemon.stop(), 0)


def main():
    result = unittest.main(module=__name__, exit=False, verbosity=2, warnings=False).result
    ok = result.wasSuccessful()
    harness.cleanup(failed=not ok)
    sys.stdout.flush()
    sys.stderr.flush()
    # The client library may leave non-daemon threads behind; do not wait for them.
    os._exit(0 if ok else 1)


if __name__ == '__main__':
    main()
