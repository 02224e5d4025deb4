#!/usr/bin/env python3
"""presence.py - a backend that keeps an exact presence table of siogate's sockets (who is
connected to which namespace, through which replica, in which rooms) from the gateway's
lifecycle events alone: docs/bridges.md, "Keeping a presence table".

    presence.py --kafka 127.0.0.1:9092 --topic siogate.events \\
        [--control-topic siogate.control --reply-topic presence.replies] [--from-beginning]
    presence.py --mqtt 127.0.0.1:1883 --topic siogate/events [--mqtt-version 3.1.1] \\
        [--control-topic siogate/control --reply-topic presence/replies]

--heartbeat-ms is the gateways' events.heartbeat_ms (10000 by default): a replica not heard
from for 3 times that is taken for dead. With --control-topic the table asks the replicas
for their sockets (fetch_sockets) when it meets one it does not know in full: at start, and
when a replica it had given up reappears. --json prints the table as one JSON line per
change. Needs Debian's python3-confluent-kafka (Kafka) or python3-paho-mqtt 1.6 (MQTT).
"""

import argparse
import json
import signal
import sys
import time
import uuid

TYPES = ('connect', 'join', 'leave', 'disconnect')


class Presence:
    """The table: broker-neutral. Feed it the values of the events topic (record()) and the
    answers to its queries (answer()), and call tick() now and then (expiry)."""

    def __init__(self, heartbeat_ms, ask=None, changed=None, clock=time.monotonic):
        self.expire_after = 3 * heartbeat_ms / 1000.0
        self.window = max(self.expire_after, 5.0)  # how long a query's answers are awaited
        self.ask = ask            # ask(namespace) sends a fetch_sockets and returns its id
        self.changed = changed or (lambda what: None)
        self.clock = clock
        self.instances = {}       # id -> {'state': up|down|expired, 'will', 'seen', ...}
        self.sockets = {}         # (namespace, sid) -> {'instance': id, 'rooms': set}
        self.pending = {}         # query id -> (deadline, seq when it was sent)
        self.buffer = []          # (seq, record) consumed while a query is pending
        self.seq = 0

    # ---- what the broker delivers

    def record(self, rec):
        kind = rec.get('type')
        if kind == 'instance':
            self._instance(rec)
        elif kind in TYPES:
            self.seq += 1
            if self.pending:
                self.buffer.append((self.seq, rec))
            inst = self._inst(rec['instance'])
            if inst['state'] == 'up':
                inst['seen'] = self.clock()
            self._apply(rec)
            self.changed('%s %s %s' % (kind, rec['namespace'], rec['sid']))

    def answer(self, ans):
        """A fetch_sockets answer: it replaces what the table holds for that replica and
        namespace, then the records consumed since the question are applied again."""
        q = self.pending.get(ans.get('id'))
        if q is None or 'sockets' not in ans:
            return  # not ours, or too late
        iid, nsp = ans['instance'], ans['namespace']
        inst = self._inst(iid)
        inst.update(state='up', will=False, seen=self.clock())  # it answered: it is alive
        for key in [k for k, s in self.sockets.items() if s['instance'] == iid and k[0] == nsp]:
            del self.sockets[key]
        for s in ans['sockets']:
            self.sockets[(nsp, s['sid'])] = {'instance': iid, 'rooms': set(s['rooms'])}
        for seq, rec in self.buffer:
            if seq > q[1] and rec['instance'] == iid and rec['namespace'] == nsp:
                self._apply(rec)
        if ans.get('truncated'):
            print('presence: %s answered only part of %s (limit)' % (iid, nsp), file=sys.stderr)
        self.changed('snapshot %s %s' % (nsp, iid))

    def tick(self):
        now = self.clock()
        for qid, (deadline, _) in list(self.pending.items()):
            if now > deadline:
                del self.pending[qid]
        oldest = min((seq for _, seq in self.pending.values()), default=self.seq)
        self.buffer = [e for e in self.buffer if e[0] > oldest]
        for iid, inst in self.instances.items():
            if inst['state'] == 'up' and now - inst['seen'] > self.expire_after:
                inst['state'] = 'expired'  # no heartbeat: a crash without a will (Kafka)
                self._drop(iid)
                self.changed('expired %s' % iid)

    def resync(self):
        """Records may have been missed (the backend's own connection dropped): ask each
        replica again at its next heartbeat."""
        for inst in self.instances.values():
            inst['resync'] = True

    # ---- the rules

    def _inst(self, iid):
        return self.instances.setdefault(iid, {'state': 'up', 'will': False, 'seen': self.clock(),
                                               'mismatch': 0, 'resync': True, 'warned': False})

    def _apply(self, rec):
        key, kind = (rec['namespace'], rec['sid']), rec['type']
        if kind == 'connect':
            self.sockets[key] = {'instance': rec['instance'], 'rooms': set(rec['rooms'])}
        elif kind == 'disconnect':
            self.sockets.pop(key, None)
        else:  # a join or leave of a socket whose connect came before we listened
            s = self.sockets.setdefault(key, {'instance': rec['instance'], 'rooms': {rec['sid']}})
            if kind == 'join':
                s['rooms'].add(rec['room'])
            else:
                s['rooms'].discard(rec['room'])

    def _drop(self, iid):
        for key in [k for k, s in self.sockets.items() if s['instance'] == iid]:
            del self.sockets[key]

    def _counts(self, iid):
        n = {}
        for (nsp, _), s in self.sockets.items():
            if s['instance'] == iid:
                n[nsp] = n.get(nsp, 0) + 1
        return n

    def _instance(self, rec):
        iid = rec['instance']
        known = iid in self.instances
        inst = self._inst(iid)
        if rec.get('state') == 'down':  # a clean stop, or (MQTT) the broker's Last Will
            inst.update(state='down', will=bool(rec.get('will')))
            self._drop(iid)
            self.changed('down %s%s' % (iid, ' (will)' if inst['will'] else ''))
            return
        was = inst['state']
        inst.update(state='up', will=False, seen=self.clock())
        theirs = {n: c for n, c in rec.get('namespaces', {}).items() if c}
        mine = self._counts(iid)
        if inst['resync'] or was != 'up':
            # New to us, or given up on earlier (an expiry, a will after a network cut): its
            # sockets are not all in the table.
            inst['resync'] = False
            if theirs or mine:
                self._snapshot(iid, set(theirs) | set(mine))
        elif not self.pending and theirs != mine:
            # Records in flight explain one mismatch (Kafka partitions); two in a row, not.
            inst['mismatch'] += 1
            if inst['mismatch'] >= 2:
                inst['mismatch'] = 0
                self._snapshot(iid, set(theirs) | set(mine))
        else:
            inst['mismatch'] = 0
        if not known or was != 'up':
            self.changed('up %s' % iid)

    def _snapshot(self, iid, namespaces):
        if not self.ask:
            if not self.instances[iid]['warned']:
                self.instances[iid]['warned'] = True
                print('presence: the sockets of %s may be incomplete (give --control-topic to ask)'
                      % iid, file=sys.stderr)
            return
        for nsp in sorted(namespaces):
            self.pending[self.ask(nsp)] = (self.clock() + self.window, self.seq)

    # ---- showing it

    def view(self):
        sockets = {}
        for (nsp, sid), s in sorted(self.sockets.items()):
            sockets.setdefault(nsp, {})[sid] = {
                'instance': s['instance'], 'rooms': sorted(r for r in s['rooms'] if r != sid)}
        instances = {iid: {'state': i['state'], 'will': i['will']} for iid, i in sorted(self.instances.items())}
        return {'instances': instances, 'sockets': sockets}


def printer(table, as_json):
    def changed(what):
        v = table.view()
        if as_json:
            print(json.dumps(dict(v, change=what), sort_keys=True), flush=True)
            return
        n = sum(len(s) for s in v['sockets'].values())
        print('-- %s: %d socket(s)' % (what, n))
        for nsp, socks in v['sockets'].items():
            for sid, s in socks.items():
                print('   %-10s %s  %-30s on %s' % (nsp, sid, ', '.join(s['rooms']) or '-', s['instance']))
        for iid, i in v['instances'].items():
            print('   instance %s %s%s' % (iid, i['state'], ' (will)' if i['will'] else ''))
        sys.stdout.flush()
    return changed


def query(nsp, reply_to):
    qid = 'presence-%s' % uuid.uuid4().hex[:16]
    return qid, json.dumps({'op': 'fetch_sockets', 'namespace': nsp, 'reply_to': reply_to,
                            'id': qid, 'limit': 10000})


def parse(value, where):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        print('presence: skipped a value on %s that is not JSON' % where, file=sys.stderr)
        return None


# ---------------------------------------------------------------- Kafka (confluent-kafka)

def run_kafka(opts, table, running):
    from confluent_kafka import Consumer, Producer, TopicPartition

    conf = {'bootstrap.servers': opts.kafka}
    # Every partition, read by this process alone: a consumer group shared with other
    # processes would hand each one only part of the sockets.
    consumer = Consumer(dict(conf, **{'group.id': 'presence-%s' % uuid.uuid4().hex,
                                      'enable.auto.commit': False}))
    topics = [opts.topic] + ([opts.reply_topic] if opts.control_topic else [])
    assignment = []
    for topic in topics:
        while running[0]:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is not None and meta.error is None and meta.partitions:
                break
            print('presence: waiting for topic %s to exist' % topic, file=sys.stderr)
            time.sleep(1)
        else:
            return
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            start = low if topic == opts.topic and opts.from_beginning else high
            assignment.append(TopicPartition(topic, p, start))
    consumer.assign(assignment)  # positions fixed now: nothing later is missed
    if opts.control_topic:
        producer = Producer(conf)

        def ask(nsp):
            qid, q = query(nsp, opts.reply_topic)
            producer.produce(opts.control_topic, q.encode())
            producer.flush(10)
            return qid
        table.ask = ask
    table.changed('ready')
    try:
        while running[0]:
            msg = consumer.poll(0.2)
            table.tick()
            if msg is None:
                continue
            if msg.error():
                print('presence: %s' % msg.error(), file=sys.stderr)
                continue
            value = parse(msg.value(), msg.topic())
            if isinstance(value, dict):
                (table.record if msg.topic() == opts.topic else table.answer)(value)
    finally:
        consumer.close()


# ---------------------------------------------------------------- MQTT (paho-mqtt 1.6)

def run_mqtt(opts, table, running):
    import paho.mqtt.client as mqtt

    host, _, port = opts.mqtt.rpartition(':')
    v5 = opts.mqtt_version == '5'
    client = mqtt.Client(client_id='presence-%s' % uuid.uuid4().hex[:12],
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    # One SUBSCRIBE for both: once a record arrives, answers are subscribed too.
    subs = [(opts.topic, 1)] + ([(opts.reply_topic, 1)] if opts.control_topic else [])
    seen = {'connected': False, 'subscribed': False}

    def on_connect(client, userdata, flags, rc, properties=None):
        if rc != 0:
            print('presence: the broker refused the connection (%s)' % rc, file=sys.stderr)
            return
        client.subscribe(subs)
        if seen['connected']:
            table.resync()  # what was published meanwhile is lost (clean session)
        seen['connected'] = True

    def on_subscribe(client, userdata, mid, granted, properties=None):
        if not seen['subscribed']:
            seen['subscribed'] = True
            table.changed('ready')

    def on_message(client, userdata, msg):
        # MQTT 5 adds the sio- headers as user properties; the JSON value alone has every
        # fact, so MQTT 3.1.1 (no properties) works the same.
        value = parse(msg.payload, msg.topic)
        if isinstance(value, dict):
            (table.record if msg.topic == opts.topic else table.answer)(value)

    def ask(nsp):
        qid, q = query(nsp, opts.reply_topic)
        client.publish(opts.control_topic, q, qos=1)
        return qid

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    if opts.control_topic:
        table.ask = ask
    client.connect(host or '127.0.0.1', int(port or 1883), keepalive=30)
    while running[0]:
        if client.loop(timeout=0.2) != mqtt.MQTT_ERR_SUCCESS:
            time.sleep(1)
            try:
                client.reconnect()
            except OSError as e:
                print('presence: cannot reach %s (%s)' % (opts.mqtt, e), file=sys.stderr)
        table.tick()
    client.disconnect()


def main():
    ap = argparse.ArgumentParser(description='Keeps a presence table from siogate lifecycle events.')
    broker = ap.add_mutually_exclusive_group(required=True)
    broker.add_argument('--kafka', metavar='BOOTSTRAP', help='Kafka bootstrap servers (host:port,...)')
    broker.add_argument('--mqtt', metavar='HOST:PORT', help='the MQTT broker')
    ap.add_argument('--topic', required=True, help="the gateways' events.topic")
    ap.add_argument('--control-topic', help="the gateways' control_topic: ask for sockets (fetch_sockets)")
    ap.add_argument('--reply-topic', help='where the answers go (needed with --control-topic)')
    ap.add_argument('--heartbeat-ms', type=int, default=10000, help="the gateways' events.heartbeat_ms")
    ap.add_argument('--from-beginning', action='store_true', help='Kafka: replay the events topic first')
    ap.add_argument('--mqtt-version', choices=('5', '3.1.1'), default='5')
    ap.add_argument('--json', action='store_true', help='one JSON line per change')
    opts = ap.parse_args()
    if opts.control_topic and not opts.reply_topic:
        ap.error('--control-topic needs --reply-topic')

    table = Presence(opts.heartbeat_ms)
    table.changed = printer(table, opts.json)
    running = [True]

    def stop(signum, frame):
        running[0] = False
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    (run_kafka if opts.kafka else run_mqtt)(opts, table, running)


if __name__ == '__main__':
    main()
