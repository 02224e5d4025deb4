// server.mjs - the Node reference server for bench/run.sh: same behaviour as siogate with the
// local bridge in bench/siogate.json. "join" -> socket.join(room), ack {ok:true};
// "bcast" {room,...} -> io.to(room).emit("bcast", payload), then ack with the room size.
// Usage: PORT=3000 node server.mjs
import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT);
if (!port) {
	console.error('PORT is not set');
	process.exit(2);
}
// 127.0.0.1 only, like siogate: listening on every address (Node's default) can collide
// with the load generator's own sockets on 127.0.0.2+ using the same port number.
const httpServer = http.createServer();
const io = new Server(httpServer, {
	transports: ['websocket'],
	serveClient: false,
	pingInterval: 600000,
	pingTimeout: 600000,
	maxHttpBufferSize: 1e6,
	perMessageDeflate: false,
});
io.on('connection', (socket) => {
	socket.on('join', (room, ack) => {
		if (typeof room !== 'string') return ack?.({ ok: false, error: 'room must be a string' });
		socket.join(room);
		ack?.({ ok: true });
	});
	socket.on('bcast', (payload, ack) => {
		const room = payload?.room;
		if (typeof room !== 'string') return ack?.({ ok: false, error: 'no room' });
		io.to(room).emit('bcast', payload);
		ack?.({ ok: true, topic: 'b', delivered: io.sockets.adapter.rooms.get(room)?.size ?? 0 });
	});
});
httpServer.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
