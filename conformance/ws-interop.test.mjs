// Interop of swiftlet's WebSocket layer with the npm `ws` client (run by TestInteropNode in
// conformance/wsconf, or by hand: SWIFTLET_URL=ws://127.0.0.1:6020/deepstream node --test conformance/ws-interop.test.mjs
// against `swiftlet start --echo`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

const url = process.env.SWIFTLET_URL;
if (!url) {
  throw new Error('SWIFTLET_URL is not set (e.g. ws://127.0.0.1:6020/deepstream)');
}

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 8 << 20 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws) {
  return new Promise((resolve, reject) => {
    ws.once('message', (data, isBinary) => resolve({ data, isBinary }));
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed with ${code} before the echo`)));
  });
}

// closeClean closes with 1000 and resolves with the server's close code once TCP is gone.
function closeClean(ws, reason = 'bye') {
  return new Promise((resolve, reject) => {
    ws.once('close', (code, why) => resolve({ code, reason: why.toString() }));
    ws.once('error', reject);
    ws.close(1000, reason);
  });
}

test('fragmented text message is reassembled and echoed', async () => {
  const ws = await open();
  const echo = nextMessage(ws);
  ws.send('fragment-1 ', { fin: false });
  ws.send('fragment-2 ', { fin: false });
  ws.send('fragment-3', { fin: true });
  const { data, isBinary } = await echo;
  assert.equal(isBinary, false);
  assert.equal(data.toString(), 'fragment-1 fragment-2 fragment-3');
  const { code } = await closeClean(ws);
  assert.equal(code, 1000);
});

test('fragmented binary message with many fragments', async () => {
  const ws = await open();
  const parts = Array.from({ length: 64 }, () => randomBytes(1000));
  const echo = nextMessage(ws);
  parts.forEach((p, i) => ws.send(p, { binary: true, fin: i === parts.length - 1 }));
  const { data, isBinary } = await echo;
  assert.equal(isBinary, true);
  assert.ok(Buffer.concat(parts).equals(data), 'echo differs from the fragments sent');
  await closeClean(ws);
});

test('1 MiB binary message is echoed intact', async () => {
  const ws = await open();
  const big = randomBytes(1 << 20);
  const echo = nextMessage(ws);
  ws.send(big);
  const { data, isBinary } = await echo;
  assert.equal(isBinary, true);
  assert.equal(data.length, big.length);
  assert.ok(big.equals(data), '1 MiB echo differs');
  await closeClean(ws);
});

test('1 MiB text message is echoed intact', async () => {
  const ws = await open();
  const big = 'κόσμε-'.repeat(Math.floor((1 << 20) / Buffer.byteLength('κόσμε-')));
  const echo = nextMessage(ws);
  ws.send(big);
  const { data, isBinary } = await echo;
  assert.equal(isBinary, false);
  assert.equal(data.toString(), big);
  await closeClean(ws);
});

test('clean close: the server answers 1000 and closes TCP', async () => {
  const ws = await open();
  const { code } = await closeClean(ws, 'done');
  assert.equal(code, 1000);
  assert.equal(ws.readyState, WebSocket.CLOSED);
});

test('ping is answered with a pong carrying the same payload', async () => {
  const ws = await open();
  const payload = Buffer.from('are you there?');
  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping(payload);
  assert.ok(payload.equals(await pong));
  await closeClean(ws);
});
