// RPC (protocol.md section 6) through the real 2.3.4 client: provide/make with every typed value,
// provider errors, rejection and re-routing, no provider, the server's ack and response timeouts, a
// provider disconnecting with requests in flight, a requester disconnecting, 200 concurrent requests,
// and the error replies to malformed messages.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, rawSocket, sleep, until } from './harness.mjs'

// Short server timeouts; the clients' own timers are longer, so the errors seen come from the server.
const clientTimers = { rpcAckTimeout: 5000, rpcResponseTimeout: 8000 }
let srv
before(async () => { srv = await startServer({ rpcAckTimeout: 200, rpcTimeout: 500 }) })
after(async () => { assert.equal((await srv.stop()).code, 0) })

function make (c, name, data) {
  return new Promise(resolve => c.rpc.make(name, data, (err, result) => resolve({ err, result })))
}

// provided resolves once the server routes name to a provider: probe requests are answered by the
// provider's handler with probeAnswer while it is probing.
async function provided (requester, name, isProbe) {
  await until(async () => {
    const r = await make(requester, name, '__probe__')
    return r.err === null && isProbe(r.result)
  }, 3000, 'provider of ' + name)
}

async function login (s) {
  await s.next(); s.send('C|CHR|x+'); await s.next()
  s.send('A|REQ|{}+'); assert.equal(await s.next(), 'A|A')
}

test('make and provide with every typed value', async () => {
  const a = await srv.loggedIn({}, clientTimers)
  const b = await srv.loggedIn()
  const seen = []
  b.rpc.provide('echo', (data, res) => {
    if (data !== '__probe__') seen.push(data)
    res.send(data)
  })
  await provided(a, 'echo', r => r === '__probe__')
  const values = ['text', '', 'with spaces and ünïcode ✓', 42, 3.5, -0.25, 1e21, 0, true, false, null,
    { a: 1, nested: { b: [1, 'x', null] } }, [1, 2, 3], [], {}]
  for (const v of values) {
    const r = await make(a, 'echo', v)
    assert.equal(r.err, null)
    assert.deepEqual(r.result, v)
  }
  assert.deepEqual(seen, values)
  const u = await make(a, 'echo', undefined)
  assert.equal(u.err, null)
  assert.equal(u.result, undefined)
  assert.deepEqual(a.errors, [])
  assert.deepEqual(b.errors, [])
})

test('a provider error reaches the callback', async () => {
  const a = await srv.loggedIn({}, clientTimers)
  const b = await srv.loggedIn()
  b.rpc.provide('fail', (data, res) => data === '__probe__' ? res.send('ok') : res.error('nope'))
  await provided(a, 'fail', r => r === 'ok')
  const r = await make(a, 'fail', { x: 1 })
  assert.equal(r.err, 'nope')
  assert.deepEqual(a.errors, [])
  assert.deepEqual(b.errors, [])
})

test('no provider: NO_RPC_PROVIDER', async () => {
  const a = await srv.loggedIn({}, clientTimers)
  const r = await make(a, 'nobody-provides-this', 1)
  assert.equal(r.err, 'NO_RPC_PROVIDER')
  assert.deepEqual(a.errors, [])
})

test('a rejection re-routes to another provider, and rejections by all give NO_RPC_PROVIDER', async () => {
  const a = await srv.loggedIn({}, clientTimers)
  const p1 = await srv.loggedIn()
  const p2 = await srv.loggedIn()
  const asked = { p1: [], p2: [] }
  let p2rejects = false
  p1.rpc.provide('rej', (data, res) => { asked.p1.push(data); res.reject() })
  p2.rpc.provide('rej', (data, res) => { asked.p2.push(data); p2rejects ? res.reject() : res.send('p2') })
  await until(async () => {
    // both providers registered once each of them has been asked at least once
    const r = await make(a, 'rej', 'probe')
    return r.result === 'p2' && asked.p1.length > 0
  }, 5000, 'both providers')
  asked.p1.length = 0; asked.p2.length = 0
  for (let i = 0; i < 20; i++) {
    const r = await make(a, 'rej', i)
    assert.equal(r.err, null)
    assert.equal(r.result, 'p2')
  }
  assert.equal(asked.p2.length, 20)
  assert.ok(asked.p1.length > 0, 'p1 was never asked first in 20 random routings')
  assert.ok(asked.p1.every(x => typeof x === 'number'))
  p2rejects = true
  asked.p1.length = 0; asked.p2.length = 0
  for (let i = 0; i < 5; i++) {
    const r = await make(a, 'rej', i)
    assert.equal(r.err, 'NO_RPC_PROVIDER')
  }
  // every provider was asked exactly once per request
  assert.deepEqual(asked.p1, [0, 1, 2, 3, 4])
  assert.deepEqual(asked.p2, [0, 1, 2, 3, 4])
  assert.deepEqual(a.errors, [])
  assert.deepEqual(p1.errors, [])
  assert.deepEqual(p2.errors, [])
})

test('no ack within rpcAckTimeout: ACK_TIMEOUT from the server', async () => {
  const a = await srv.loggedIn({}, clientTimers)
  const b = await srv.loggedIn()
  b.rpc.provide('noack', (data, res) => {
    if (data === '__probe__') return res.send('ok')
    res.autoAck = false // never acks, never answers
  })
  await provided(a, 'noack', r => r === 'ok')
  const t0 = Date.now()
  const r = await make(a, 'noack', 1)
  const took = Date.now() - t0
  assert.equal(r.err, 'ACK_TIMEOUT')
  assert.ok(took < 4000, `took ${took} ms: the client's own timer fired, not the server's`)
  assert.deepEqual(a.errors, [])
  assert.deepEqual(b.errors, [])
})

test('acked but no response within rpcTimeout: RESPONSE_TIMEOUT from the server', async () => {
  const a = await srv.loggedIn({}, clientTimers)
  const b = await srv.loggedIn()
  b.rpc.provide('noresponse', (data, res) => { if (data === '__probe__') res.send('ok') })
  await provided(a, 'noresponse', r => r === 'ok')
  const t0 = Date.now()
  const r = await make(a, 'noresponse', 1)
  const took = Date.now() - t0
  assert.equal(r.err, 'RESPONSE_TIMEOUT')
  assert.ok(took < 7000, `took ${took} ms: the client's own timer fired, not the server's`)
  assert.deepEqual(a.errors, [])
  assert.deepEqual(b.errors, [])
})

test('the requester may be its own provider', async () => {
  const a = await srv.loggedIn({}, clientTimers)
  a.rpc.provide('self', (data, res) => res.send({ got: data }))
  await provided(a, 'self', r => r && r.got === '__probe__')
  const r = await make(a, 'self', [1, 2])
  assert.deepEqual(r.result, { got: [1, 2] })
  assert.deepEqual(a.errors, [])
})

test('a provider that disconnects with requests in flight: re-routed, or NO_RPC_PROVIDER', async () => {
  // Default timeouts (1 s / 10 s): the requests wait at the first provider until it goes.
  const s2 = await startServer()
  try {
    const a = await s2.loggedIn()
    const p1 = await s2.loggedIn()
    const held = []
    p1.rpc.provide('flaky', (data, res) => { if (data === '__probe__') res.send('p1'); else held.push(data) })
    await provided(a, 'flaky', r => r === 'p1')
    const pending = [1, 2, 3, 4, 5].map(i => make(a, 'flaky', i))
    await until(() => held.length === 5, 3000, 'requests at p1')
    const p2 = await s2.loggedIn()
    p2.rpc.provide('flaky', (data, res) => res.send('p2:' + data))
    await sleep(300) // p2's provide reaches the server (the client has no callback for it)
    p1.close()
    const results = await Promise.all(pending)
    assert.deepEqual(results, [1, 2, 3, 4, 5].map(i => ({ err: null, result: 'p2:' + i })))

    // Now the last provider goes with requests in flight: they fail at once, not after rpcTimeout.
    const p3 = await s2.loggedIn()
    const held3 = []
    p2.close()
    p3.rpc.provide('lonely', (data, res) => { if (data === '__probe__') res.send('p3'); else held3.push(data) })
    await provided(a, 'lonely', r => r === 'p3')
    const t0 = Date.now()
    const lost = [1, 2, 3].map(i => make(a, 'lonely', i))
    await until(() => held3.length === 3, 3000, 'requests at p3')
    p3.close()
    const r = await Promise.all(lost)
    assert.deepEqual(r.map(x => x.err), ['NO_RPC_PROVIDER', 'NO_RPC_PROVIDER', 'NO_RPC_PROVIDER'])
    assert.ok(Date.now() - t0 < 5000)
    assert.deepEqual(a.errors, [])
    assert.deepEqual(p1.errors, [])
    assert.deepEqual(p2.errors, [])
    assert.deepEqual(p3.errors, [])
  } finally {
    assert.equal((await s2.stop()).code, 0)
  }
})

test('a requester that disconnects: the provider\'s late answer is dropped without an error', async () => {
  const a = await srv.loggedIn({}, clientTimers)
  const b = await srv.loggedIn()
  const held = []
  b.rpc.provide('orphan', (data, res) => { if (data === '__probe__') res.send('ok'); else held.push(res) })
  await provided(a, 'orphan', r => r === 'ok')
  a.rpc.make('orphan', 1, () => {})
  await until(() => held.length === 1, 3000, 'request at the provider')
  a.close()
  await sleep(100)
  held[0].send('too late')
  await sleep(300)
  assert.deepEqual(b.errors, [])
  // the provider still works for others
  const c = await srv.loggedIn({}, clientTimers)
  b.rpc.provide('orphan2', (data, res) => res.send('fine'))
  await provided(c, 'orphan2', r => r === 'fine')
  assert.deepEqual(c.errors, [])
})

test('200 concurrent requests: every response reaches its own requester', async () => {
  const requesters = await Promise.all(Array.from({ length: 10 }, () => srv.loggedIn({}, clientTimers)))
  const providers = await Promise.all(Array.from({ length: 3 }, () => srv.loggedIn()))
  const counts = [0, 0, 0]
  providers.forEach((p, k) => p.rpc.provide('sum', (data, res) => {
    if (data === '__probe__') return res.send('ok' + k)
    counts[k]++
    // answer out of order
    setTimeout(() => res.send({ from: data.from, sum: data.x + data.y }), Math.random() * 50)
  }))
  const answered = new Set()
  await until(async () => {
    const r = await make(requesters[0], 'sum', '__probe__')
    answered.add(r.result)
    return answered.size === providers.length
  }, 5000, 'every provider registered')
  const jobs = []
  for (let i = 0; i < 200; i++) {
    const r = i % requesters.length
    jobs.push(make(requesters[r], 'sum', { from: r, x: i, y: 1000 }).then(res => ({ i, r, res })))
  }
  const done = await Promise.all(jobs)
  for (const { i, r, res } of done) {
    assert.equal(res.err, null)
    assert.deepEqual(res.result, { from: r, sum: i + 1000 })
  }
  assert.equal(counts.reduce((a, b) => a + b), 200)
  assert.ok(counts.every(n => n > 20), 'random routing spreads the load: ' + counts)
  for (const c of [...requesters, ...providers]) assert.deepEqual(c.errors, [])
})

test('protocol errors: malformed messages, unknown correlation ids, double acks, double provides', async () => {
  const s = await rawSocket(srv.url)
  await login(s)
  s.send('P|REQ+')
  assert.equal(await s.next(), 'P|E|MESSAGE_PERMISSION_ERROR||REQ')
  s.send('P|REQ|x+')
  assert.equal(await s.next(), 'P|E|INVALID_MESSAGE_DATA|P|REQ|x')
  s.send('P|REQ|x|c1|Qbad+')
  assert.equal(await s.next(), 'P|E|INVALID_MESSAGE_DATA|P|REQ|x|c1|Qbad')
  s.send('P|RES|slow|nope|N1+')
  assert.equal(await s.next(), 'P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc slow with action RES')
  s.send('P|A|REQ|slow|nope+')
  assert.equal(await s.next(), 'P|E|INVALID_RPC_CORRELATION_ID|unexpected state for rpc slow with action A')
  s.send('P|S|raw+')
  assert.equal(await s.next(), 'P|A|S|raw')
  s.send('P|S|raw+')
  assert.equal(await s.next(), 'P|E|MULTIPLE_SUBSCRIPTIONS|raw')
  s.send('P|US|other+')
  assert.equal(await s.next(), 'P|E|NOT_SUBSCRIBED|other')
  s.send('P|S+')
  assert.equal(await s.next(), 'P|E|MESSAGE_PERMISSION_ERROR||S')
  // raw is the only provider of "raw": a request from itself comes back to it
  s.send('P|REQ|raw|c9|Shi+')
  assert.equal(await s.next(), 'P|REQ|raw|c9|Shi')
  s.send('P|A|REQ|raw|c9+')
  assert.equal(await s.next(), 'P|A|REQ|raw|c9')
  s.send('P|A|REQ|raw|c9+')
  assert.equal(await s.next(), 'P|E|MULTIPLE_ACK|raw|c9')
  s.send('P|RES|raw|c9|Sho+')
  assert.equal(await s.next(), 'P|RES|raw|c9|Sho')
  s.send('P|US|raw+')
  assert.equal(await s.next(), 'P|A|US|raw')
  s.send('P|L|x+')
  assert.equal(await s.next(), 'P|E|UNKNOWN_ACTION|unknown action L')
  s.ws.close()
})
