'use strict';
// socket.io 4.x peer server for the swiftlet load generator.
//
// Usage: node server.js [host] [port]   (or HOST / PORT in the environment)
//
// WebSocket transport only, no HTTP long-polling upgrade path, no per-message
// deflate. Every event a client emits is re-emitted to every other connected
// client with socket.broadcast.emit (the sender is excluded), which is what
// the 2016 deepstream.io-benchmarks socket.io server did.
//
// Prints one line "socketio ready <host>:<port>" on stdout once it listens.
const http = require('http');
const { Server } = require('socket.io');

const host = process.argv[2] || process.env.HOST || '127.0.0.1';
const port = Number(process.argv[3] || process.env.PORT || 6030);

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});


const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: 1e6,
  // Keep the Engine.IO heartbeat at its defaults (25 s / 20 s); the load
  // generator answers every "2" ping with a "3" pong.
});

io.on('connection', (socket) => {
  if (socket.handshake.query.role !== 'pub') {
    socket.join('bench');
  }
  socket.onAny((event, ...args) => {
    socket.broadcast.to('bench').emit(event, ...args);
  });
});

function shutdown() {
  io.close();
  httpServer.close(() => process.exit(0));
  // Do not wait for long-lived sockets to drain.
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

httpServer.listen(port, host, () => {
  const a = httpServer.address();
  process.stdout.write(`socketio ready ${a.address}:${a.port}\n`);
});
