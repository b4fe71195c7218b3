// Sessions: the handshake, login paths, heartbeats and the generic errors (protocol.md section 3),
// driven through the real deepstream.io-client-js@2.3.4 and, for what the client cannot send, a raw socket.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, rawSocket, sleep, until, C } from './harness.mjs'

let srv
before(async () => {
  srv = await startServer({ heartbeatInterval: 100 })
})
after(async () => {
  const r = await srv.stop()
  assert.deepEqual(r, { code: 0, signal: null }, 'swiftlet exits 0 on SIGTERM')
})

test('login with auth none: username taken from the auth data, no client data', async () => {
  const c = srv.client()
  const r = await srv.login(c, { username: 'alice' })
  assert.equal(r.success, true)
  assert.equal(r.data, null)
  assert.equal(c.getConnectionState(), C.CONNECTION_STATE.OPEN)
  assert.deepEqual(c.errors, [])
})

test('login before the socket is open is sent once the server acks the connection', async () => {
  const c = srv.client()
  const p = srv.login(c, {})
  assert.notEqual(c.getConnectionState(), C.CONNECTION_STATE.OPEN)
  assert.equal((await p).success, true)
})

test('the raw handshake is C|CH, C|A, A|A', async () => {
  const s = await rawSocket(srv.url)
  assert.equal(await s.next(), 'C|CH')
  s.send('C|CHR|ws://' + srv.url + '/deepstream+')
  assert.equal(await s.next(), 'C|A')
  s.send('A|REQ|{"username":"raw"}+')
  assert.equal(await s.next(), 'A|A')
  s.ws.close()
})

test('before the challenge response: non-C messages get INVALID_MESSAGE, unknown C actions UNKNOWN_ACTION', async () => {
  const s = await rawSocket(srv.url)
  assert.equal(await s.next(), 'C|CH')
  s.send('E|S|news+')
  assert.equal(await s.next(), 'C|E|INVALID_MESSAGE|invalid connection message')
  s.send('C|XX+')
  assert.equal(await s.next(), 'C|E|UNKNOWN_ACTION|unknown action XX')
  s.send('garbage+')
  assert.equal(await s.next(), 'C|E|MESSAGE_PARSE_ERROR|garbage')
  await s.closed()
})

test('an invalid auth message gets INVALID_AUTH_MSG and the socket is closed', async () => {
  for (const bad of ['A|REQ|notjson+', 'A|REQ|[1]+', 'A|REQ|{}|{}+', 'E|S|x+']) {
    const s = await rawSocket(srv.url)
    await s.next()
    s.send('C|CHR|x+')
    await s.next()
    s.send(bad)
    assert.equal(await s.next(), 'A|E|INVALID_AUTH_MSG|invalid authentication message', bad)
    await s.closed()
  }
})

test('after login: unknown topic, unknown action and garbage get the generic errors', async () => {
  const s = await rawSocket(srv.url)
  await s.next()
  s.send('C|CHR|x+')
  await s.next()
  s.send('A|REQ|{}+')
  assert.equal(await s.next(), 'A|A')
  s.send('B|R|x+')
  assert.equal(await s.next(), 'X|E|UNKNOWN_TOPIC|B')
  s.send('E|XXX|x+')
  assert.equal(await s.next(), 'X|E|MESSAGE_PARSE_ERROR|null')
  s.send('garbage+')
  assert.equal(await s.next(), 'X|E|MESSAGE_PARSE_ERROR|null')
  s.send('E|S+')
  assert.equal(await s.next(), 'E|E|MESSAGE_PERMISSION_ERROR||S')
  s.send('E|S|a|b+')
  assert.equal(await s.next(), 'E|E|INVALID_MESSAGE_DATA|E|S|a|b')
  // the session survives all of it
  s.send('E|S|still-alive+')
  assert.equal(await s.next(), 'E|A|S|still-alive')
  s.ws.close()
})

test('heartbeats: the server pings every heartbeatInterval; the client answers and stays open', async () => {
  const s = await rawSocket(srv.url, { keepPings: true })
  await s.next()
  // pings arrive even before the session is authenticated
  assert.equal(await s.next(m => m === 'C|PI', 1000), 'C|PI')
  s.send('C|PO+')
  assert.equal(await s.next(m => m === 'C|PI', 1000), 'C|PI')
  s.ws.close()
  const c = await srv.loggedIn({}, { heartbeatInterval: 300 })
  await sleep(1000) // the client closes when it sees no ping for 2 of its intervals
  assert.equal(c.getConnectionState(), C.CONNECTION_STATE.OPEN)
  assert.deepEqual(c.errors, [])
})

test('a client that sends nothing for two heartbeat intervals is disconnected', async () => {
  const s = await rawSocket(srv.url)
  // never answer pings, never send anything
  const code = await Promise.race([s.closed(), sleep(3000).then(() => 'still open')])
  assert.notEqual(code, 'still open')
})

test('no client error events were raised in this file', () => {
  assert.deepEqual(srv.allErrors(), [])
})
