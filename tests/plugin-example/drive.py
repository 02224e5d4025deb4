"""drive.py - the example echo plugin, as run.sh built and installed it (SIOGATE_PLUGIN_PATH),
in the build tree's daemon: a python3-socketio client's events come back in their acks, with
JSON and binary arguments, /metrics counts them, and the daemon stops cleanly (valgrind too)."""

import os
import sys
import traceback
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration', 'python'))

import harness  # noqa: E402
import socketio  # noqa: E402
from harness import scaled  # noqa: E402

CONFIG = {'namespaces': [{'name': '/echo', 'bridge': {'type': 'echo', 'tag': 'from-config'}}]}


def expect_equal(got, want, what):
    if got != want:
        raise AssertionError('%s: got %r, expected %r' % (what, got, want))


def events_acked_counted_and_clean_exit():
    daemon = harness.start_daemon(CONFIG)
    c = socketio.Client(reconnection=False, request_timeout=scaled(5), handle_sigint=False)
    try:
        c.connect(daemon.url, namespaces=['/echo'], wait_timeout=scaled(5))
        expect_equal(c.call('hello', ('a', 1, {'b': [True, None]}), namespace='/echo', timeout=scaled(5)),
                     {'ok': True, 'event': 'hello', 'args': ['a', 1, {'b': [True, None]}], 'count': 1,
                      'tag': 'from-config'}, 'the ack of a JSON event')
        expect_equal(c.call('blob', (b'\x00\x01\xff', 'x'), namespace='/echo', timeout=scaled(5)),
                     {'ok': True, 'event': 'blob', 'binary': 1, 'count': 2, 'tag': 'from-config'},
                     'the ack of a binary event')
        with urllib.request.urlopen(daemon.url + '/metrics', timeout=scaled(5)) as r:
            metrics = r.read().decode()
        line = 'siogate_bridge_echo_events_total{bridge="echo"} 2'
        if line not in metrics.splitlines():
            raise AssertionError('/metrics lacks %r:\n%s' % (line, metrics))
    finally:
        c.disconnect()
    expect_equal(daemon.stop(), 0, "the daemon's exit code")


def main():
    try:
        events_acked_counted_and_clean_exit()
    except Exception:  # noqa: BLE001 - reported with the daemon's log, then a failure
        traceback.print_exc()
        harness.cleanup(failed=True)
        sys.stdout.flush()
        os._exit(1)
    harness.cleanup(failed=False)
    print('drive.py: events acked with what was sent, counted on /metrics, clean exit')
    sys.stdout.flush()
    os._exit(0)  # the client library may leave non-daemon threads behind: do not wait


if __name__ == '__main__':
    main()
