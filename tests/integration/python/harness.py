"""harness.py - the Python twin of harness.mjs: free loopback ports, temporary configs, the
daemon and the conformance server as child processes (logs in files, bounded readiness
wait, killed by PID on teardown and at exit), optional valgrind, bounded waits."""

import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get('SG_TOP_SRCDIR') or os.path.normpath(os.path.join(HERE, '..', '..', '..'))
BUILDDIR = os.environ.get('SG_TOP_BUILDDIR') or SRCDIR
VALGRIND = os.environ.get('SG_VALGRIND') == '1'
SCALE = float(os.environ.get('SG_TIME_SCALE') or (10 if VALGRIND else 1))
HOST = '127.0.0.1'

SIOGATE = os.path.join(BUILDDIR, 'src', 'siogate')
CONFORMANCE = os.path.join(BUILDDIR, 'tests', 'conformance-server')

TMP = tempfile.mkdtemp(prefix='siogate-pyit-')
_children = []
_servers = []
_seq = [0]


def scaled(seconds):
    """A duration in seconds, stretched for slow (valgrind) runs."""
    return seconds * SCALE


def free_port():
    """A port free on HOST a moment ago, below the ephemeral range (as harness.mjs does: a
    port from that range can become the local port of any outgoing connection first)."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(50 if low - 10000 > 1000 else 0):
        port = random.randrange(10000, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
                return port
            except OSError:
                continue
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _next():
    _seq[0] += 1
    return _seq[0]


def write_config(obj, name='siogate'):
    path = os.path.join(TMP, '%s-%d.json' % (name, _next()))
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
    return path


def http_status(url, timeout=2.0):
    """Status code of a GET (any HTTP answer counts), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class Server:
    """A server child process with its output in a file under TMP."""

    def __init__(self, name, argv, port, env=None):
        self.name = name
        self.argv = argv
        self.port = port
        self.url = 'http://%s:%d' % (HOST, port)
        self.env = env or {}
        self.log_path = os.path.join(TMP, '%s-%d-%d.log' % (name, port, _next()))
        self.proc = None
        _servers.append(self)

    def start(self):
        argv = list(self.argv)
        if VALGRIND:
            argv = ['valgrind', '--error-exitcode=99', '--leak-check=full',
                    '--errors-for-leak-kinds=definite,indirect',
                    '--show-leak-kinds=definite,indirect',
                    '--fair-sched=yes', '--quiet'] + argv  # see harness.mjs underValgrind()
        env = dict(os.environ)
        env.update(self.env)
        with open(self.log_path, 'ab') as log:
            log.write(('# %s\n' % ' '.join(argv)).encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
        _children.append(self.proc)
        deadline = time.monotonic() + (30 if VALGRIND else 10)
        probe = '%s/socket.io/?EIO=4&transport=polling' % self.url
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('%s exited early (code %s):\n%s'
                                   % (self.name, self.proc.returncode, self.log_tail()))
            if http_status(probe, timeout=1.0) is not None:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError('%s did not answer on %s in time:\n%s'
                                   % (self.name, probe, self.log_tail()))
            time.sleep(0.05)

    def log(self):
        try:
            with open(self.log_path, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def log_tail(self, lines=30):
        return '\n'.join(self.log().splitlines()[-lines:])

    def stop(self):
        """SIGTERM, SIGKILL after 5 s (scaled); returns the exit code, raises unless 0."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError('%s (pid %d) ignored SIGTERM; killed:\n%s'
                                     % (self.name, self.proc.pid, self.log_tail()))
        code = self.proc.returncode
        if code != 0:
            raise AssertionError('%s (pid %d) exited with %s%s:\n%s'
                                 % (self.name, self.proc.pid, code,
                                    ' (valgrind found errors)' if code == 99 else '',
                                    self.log_tail(60)))
        return code


def start_daemon(config, env=None):
    for attempt in range(3):
        port = free_port()
        cfg = json.loads(json.dumps(config))
        server = dict(cfg.get('server', {}))
        server['listen'] = '%s:%d' % (HOST, port)
        server.setdefault('drain_timeout_ms', 2000)
        cfg['server'] = server
        cfg.setdefault('log', {'level': 'debug'})
        path = write_config(cfg)
        try:
            return Server('siogate', [SIOGATE, '-c', path], port, env).start()
        except RuntimeError as e:
            if attempt == 2 or 'exited early' not in str(e):
                raise
    raise AssertionError('unreachable')


def start_conformance():
    for attempt in range(3):
        port = free_port()
        try:
            return Server('conformance', [CONFORMANCE, str(port)], port,
                          {'SG_CONFORMANCE_HOST': HOST, 'SG_DEBUG': '1'}).start()
        except RuntimeError as e:
            if attempt == 2 or 'exited early' not in str(e):
                raise
    raise AssertionError('unreachable')


def cleanup(failed):
    """Kills what is still running; keeps TMP (and prints the logs' tails) on failure."""
    for p in _children:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    if failed:
        for s in _servers:
            print('--- %s log (%s), last lines:\n%s' % (s.name, s.log_path, s.log_tail(40)))
        print('integration logs kept in %s' % TMP)
    elif not os.environ.get('SG_KEEP_LOGS'):
        shutil.rmtree(TMP, ignore_errors=True)


def _kill_children():
    for p in _children:
        if p.poll() is None:
            p.kill()


def _on_signal(signum, frame):
    _kill_children()
    os._exit(128 + signum)


atexit.register(_kill_children)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


class Waiter:
    """Collects the arguments of one event; wait() is bounded."""

    def __init__(self):
        self._event = threading.Event()
        self.args = None

    def __call__(self, *args):
        self.args = args
        self._event.set()

    def wait(self, timeout=3.0):
        if not self._event.wait(scaled(timeout)):
            raise AssertionError('event did not arrive within %.1f s' % scaled(timeout))
        return self.args
