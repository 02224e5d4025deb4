// siogate demo page: joins rooms of the /demo namespace, shows what Kafka sends to them,
// and sends events whose ack says where Kafka stored them.
'use strict';

const TOPIC = 'demo.messages';
const $ = (id) => document.getElementById(id);
const joined = new Set();
const FIRST_ROOM = 'lobby'; // joined on the first connect, as the README's kcat line expects
let bootstrap = null;
let firstConnect = true;

function problem(text) {
  $('problem').textContent = text;
  $('problem').hidden = false;
}

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

// Binary arguments (a record that is not JSON arrives as bytes) are shown as text.
function show(arg) {
  if (arg instanceof ArrayBuffer || ArrayBuffer.isView(arg)) {
    const bytes = arg instanceof ArrayBuffer ? new Uint8Array(arg) : new Uint8Array(arg.buffer, arg.byteOffset, arg.byteLength);
    return 'bytes ' + JSON.stringify(new TextDecoder().decode(bytes));
  }
  return JSON.stringify(arg);
}

function addLine(list, text, cls) {
  const li = document.createElement('li');
  li.textContent = new Date().toLocaleTimeString() + '  ' + text;
  if (cls) li.className = cls;
  $(list).prepend(li);
  return li;
}

function shellQuote(s) {
  return "'" + String(s).replace(/'/g, "'\\''") + "'";
}

function renderKcat() {
  const room = $('send-room').value || $('room').value || 'lobby';
  const b = bootstrap || '$KAFKA_BOOTSTRAP';
  $('kcat-produce').textContent =
    `echo '{"text":"hello from Kafka"}' | kcat -P -b ${b} -t ${TOPIC} -k ${shellQuote(room)}`;
  $('kcat-consume').textContent = `kcat -C -b ${b} -t ${TOPIC} -f '%k %s\\n'`;
}

function renderRooms() {
  const list = $('rooms');
  const select = $('send-room');
  const chosen = select.value;
  list.replaceChildren();
  select.replaceChildren();
  for (const room of joined) {
    const li = document.createElement('li');
    li.textContent = room;
    li.dataset.room = room;
    const leave = document.createElement('button');
    leave.type = 'button';
    leave.textContent = 'Leave';
    leave.addEventListener('click', () => leaveRoom(room));
    li.append(leave);
    list.append(li);
    select.append(new Option(room, room, false, room === chosen));
  }
  renderKcat();
}

async function loadInfo() {
  try {
    const res = await fetch('/demo/info');
    const body = await res.json();
    for (const facts of Object.values(body.info || {})) {
      if (facts.bootstrap_servers) bootstrap = facts.bootstrap_servers;
    }
  } catch (e) {
    problem('Could not read /demo/info: ' + e.message);
  }
  renderKcat();
}

if (typeof io !== 'function') {
  setStatus('error', 'no Socket.IO client');
  problem('The Socket.IO client did not load from vendor/socket.io/socket.io.min.js. ' +
    'Run "npm ci" in tests/ (it installs the pinned socket.io-client), or point ' +
    'SIOGATE_CLIENT_DIR at a socket.io-client dist folder, then reload.');
  loadInfo();
  throw new Error('socket.io client missing');
}

const user = 'guest-' + Math.random().toString(36).slice(2, 8);
const socket = io('/demo', { auth: { user } });

socket.on('connect', () => {
  setStatus('connected', `connected as ${user} (socket ${socket.id}, ${socket.io.engine.transport.name})`);
  socket.io.engine.once('upgrade', (t) => setStatus('connected', `connected as ${user} (socket ${socket.id}, ${t.name})`));
  // Rooms are per connection: after a reconnect, join them again.
  for (const room of joined) socket.emit('join', room);
  if (firstConnect) {
    firstConnect = false;
    joinRoom(FIRST_ROOM);
  }
});
socket.on('disconnect', (reason) => setStatus('disconnected', 'disconnected: ' + reason));
socket.on('connect_error', (err) => setStatus('error', 'cannot connect: ' + err.message));
socket.onAny((event, ...args) => {
  addLine('log', `${event}  ${args.map(show).join('  ')}`).dataset.event = event;
});

async function joinRoom(room) {
  const res = await socket.timeout(5000).emitWithAck('join', room).catch((e) => ({ ok: false, error: e.message }));
  if (res && res.ok) {
    joined.add(room);
    $('send-room').value = room;
    renderRooms();
    $('send-room').value = room;
    renderKcat();
  } else {
    problem(`Could not join ${room}: ${res && res.error}`);
  }
}

async function leaveRoom(room) {
  const res = await socket.timeout(5000).emitWithAck('leave', room).catch((e) => ({ ok: false, error: e.message }));
  if (res && res.ok) {
    joined.delete(room);
    renderRooms();
  } else {
    problem(`Could not leave ${room}: ${res && res.error}`);
  }
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  joinRoom($('room').value.trim());
});

$('send-room').addEventListener('change', renderKcat);

$('send-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const room = $('send-room').value;
  const text = $('text').value;
  const res = await socket.timeout(15000).emitWithAck('message', { room, text }).catch((err) => ({ ok: false, error: err.message }));
  const li = res && res.ok
    ? addLine('acks', `ok: ${res.topic} partition ${res.partition} offset ${res.offset}`, 'ok')
    : addLine('acks', `failed: ${res && res.error}`, 'fail');
  li.dataset.ok = String(Boolean(res && res.ok));
  if (res && res.ok) li.dataset.offset = String(res.offset);
});

loadInfo();
renderRooms();
