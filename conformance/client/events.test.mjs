// Events (protocol.md section 4) through the real 2.3.4 client: subscribe, emit with every typed value,
// unsubscribe, no echo to the sender, many clients, and the error replies.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, rawSocket, sleep, until } from './harness.mjs'

let srv
before(async () => { srv = await startServer() })
after(async () => { assert.equal((await srv.stop()).code, 0) })

// subscribed resolves once the server acked the subscription (the client has no ack callback, so
// prove it with a probe message from a second client).
async function subscribed (sub, pub, name, got) {
  await until(async () => {
    pub.event.emit(name, '__probe__')
    await sleep(20)
    return got.includes('__probe__')
  }, 3000, 'subscription ' + name)
  got.length = 0
}

test('every typed value arrives intact, and never at the sender', async () => {
  const a = await srv.loggedIn({ username: 'a' })
  const b = await srv.loggedIn({ username: 'b' })
  const gotA = []; const gotB = []
  a.event.subscribe('typed', d => gotA.push(d))
  b.event.subscribe('typed', d => gotB.push(d))
  await subscribed(b, a, 'typed', gotB)
  gotA.length = 0
  const values = ['text', '', 'with spaces and ünïcode ✓', 42, 3.5, -0.25, 1e21, true, false, null,
    { a: 1, nested: { b: [1, 'x', null] } }, [1, 2, 3], []]
  for (const v of values) a.event.emit('typed', v)
  a.event.emit('typed') // undefined: no data part
  await until(() => gotB.length === values.length + 1, 3000, 'all values')
  assert.deepEqual(gotB.slice(0, values.length), values)
  assert.equal(gotB[values.length], undefined)
  // the sender's own callback fired locally (the client emits locally), exactly once per emit, not echoed
  await sleep(100)
  assert.equal(gotA.length, values.length + 1)
  assert.deepEqual(a.errors, [])
  assert.deepEqual(b.errors, [])
})

test('unsubscribe stops delivery', async () => {
  const a = await srv.loggedIn()
  const b = await srv.loggedIn()
  const got = []
  const cb = d => got.push(d)
  b.event.subscribe('unsub', cb)
  await subscribed(b, a, 'unsub', got)
  b.event.unsubscribe('unsub', cb)
  await sleep(100)
  a.event.emit('unsub', 'after')
  await sleep(150)
  assert.deepEqual(got, [])
  assert.deepEqual(b.errors, [])
})

test('many clients: every subscriber gets every message exactly once, in order per sender', async () => {
  const n = 30
  const subs = await Promise.all(Array.from({ length: n }, () => srv.loggedIn()))
  const got = subs.map(() => [])
  subs.forEach((c, i) => c.event.subscribe('many', d => got[i].push(d)))
  const pubs = await Promise.all([srv.loggedIn(), srv.loggedIn(), srv.loggedIn()])
  const probe = []
  subs[0].event.subscribe('many', d => probe.push(d))
  // wait for all subscriptions: probe every subscriber
  await until(async () => {
    pubs[0].event.emit('many', 'probe')
    await sleep(30)
    return got.every(g => g.includes('probe'))
  }, 5000, 'all subscriptions')
  for (const g of got) g.length = 0
  const per = 50
  for (let k = 0; k < per; k++) pubs.forEach((p, j) => p.event.emit('many', `${j}:${k}`))
  await until(() => got.every(g => g.length === per * pubs.length), 5000, 'all deliveries')
  for (const g of got) {
    for (let j = 0; j < pubs.length; j++) {
      const mine = g.filter(x => x.startsWith(j + ':'))
      assert.deepEqual(mine, Array.from({ length: per }, (_, k) => `${j}:${k}`))
    }
  }
  assert.deepEqual(srv.allErrors(), [])
})

test('raw protocol: acks, MULTIPLE_SUBSCRIPTIONS, NOT_SUBSCRIBED, INVALID_MESSAGE_DATA', async () => {
  const s = await rawSocket(srv.url)
  await s.next()
  s.send('C|CHR|x+'); await s.next()
  s.send('A|REQ|{}+'); assert.equal(await s.next(), 'A|A')
  s.send('E|S|news+')
  assert.equal(await s.next(), 'E|A|S|news')
  s.send('E|S|news+')
  assert.equal(await s.next(), 'E|E|MULTIPLE_SUBSCRIPTIONS|news')
  s.send('E|US|other+')
  assert.equal(await s.next(), 'E|E|NOT_SUBSCRIBED|other')
  s.send('E|US|news+')
  assert.equal(await s.next(), 'E|A|US|news')
  s.send('E|EVT|news|Xbad+')
  assert.equal(await s.next(), 'E|E|INVALID_MESSAGE_DATA|E|EVT|news|Xbad')
  s.send('E|EVT|news|O{bad+')
  assert.equal(await s.next(), 'E|E|INVALID_MESSAGE_DATA|E|EVT|news|O{bad')
  // several messages in one frame are all answered, in order
  s.send('E|S|x1+E|S|x2+E|US|x1+')
  assert.equal(await s.next(), 'E|A|S|x1')
  assert.equal(await s.next(), 'E|A|S|x2')
  assert.equal(await s.next(), 'E|A|US|x1')
  s.ws.close()
})

test('a raw subscriber receives E|EVT with the data part exactly as sent', async () => {
  const s = await rawSocket(srv.url)
  await s.next(); s.send('C|CHR|x+'); await s.next(); s.send('A|REQ|{}+'); await s.next()
  s.send('E|S|wire+'); assert.equal(await s.next(), 'E|A|S|wire')
  const c = await srv.loggedIn()
  c.event.emit('wire', { a: 1 })
  c.event.emit('wire') // the 2.3.4 client sends undefined as a typed U
  assert.equal(await s.next(), 'E|EVT|wire|O{"a":1}')
  assert.equal(await s.next(), 'E|EVT|wire|U')
  // a message with no data part at all is forwarded as it is
  const r = await rawSocket(srv.url)
  await r.next(); r.send('C|CHR|x+'); await r.next(); r.send('A|REQ|{}+'); await r.next()
  r.send('E|EVT|wire+')
  assert.equal(await s.next(), 'E|EVT|wire')
  r.ws.close()
  s.ws.close()
})
