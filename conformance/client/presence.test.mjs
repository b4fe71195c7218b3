// Presence (protocol.md section 7) through the real 2.3.4 client: join and leave announcements to
// global and per-user subscribers, getAll() and getAll([users]), several connections of one user (one
// join, one leave), and the raw acks and errors (the client-expected forms of section 10).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, rawSocket, sleep, until } from './harness.mjs'

let srv
before(async () => { srv = await startServer() })
after(async () => { assert.equal((await srv.stop()).code, 0) })

function getAll (c, users) {
  return new Promise(resolve => users ? c.presence.getAll(users, resolve) : c.presence.getAll(resolve))
}

async function login (s, auth = {}) {
  await s.next(); s.send('C|CHR|x+'); await s.next()
  s.send(`A|REQ|${JSON.stringify(auth)}+`); assert.equal(await s.next(), 'A|A')
}

// subscribedAll waits until watcher's global subscription is in place: a probe user logs in and out.
async function subscribedAll (events, name) {
  let probe = null
  await until(async () => {
    if (probe) { probe.close(); await sleep(20) }
    probe = await srv.loggedIn({ username: name })
    await sleep(30)
    return events.some(e => e[0] === name && e[1] === true)
  }, 3000, 'global presence subscription')
  probe.close()
  await until(() => events.some(e => e[0] === name && e[1] === false), 3000, 'probe leave')
  events.length = 0
}

test('global subscription: one join for the first connection, one leave for the last', async () => {
  const w = await srv.loggedIn({ username: 'watcher1' })
  const events = []
  w.presence.subscribe((user, online) => events.push([user, online]))
  await subscribedAll(events, 'probe1')
  const b1 = await srv.loggedIn({ username: 'bob1' })
  await until(() => events.length === 1, 3000, 'join')
  assert.deepEqual(events, [['bob1', true]])
  const b2 = await srv.loggedIn({ username: 'bob1' })
  const b3 = await srv.loggedIn({ username: 'bob1' })
  b1.close()
  b2.close()
  await sleep(200)
  assert.deepEqual(events, [['bob1', true]], 'no second join and no leave while bob1 has a connection')
  b3.close()
  await until(() => events.length === 2, 3000, 'leave')
  assert.deepEqual(events, [['bob1', true], ['bob1', false]])
  w.presence.unsubscribe()
  await sleep(200)
  const b4 = await srv.loggedIn({ username: 'bob1' })
  await sleep(200)
  assert.equal(events.length, 2, 'nothing after unsubscribe')
  b4.close()
  assert.deepEqual(w.errors, [])
  assert.deepEqual(b1.errors, [])
  assert.deepEqual(b3.errors, [])
})

test('per-user subscription: only that user\'s joins and leaves', async () => {
  const w = await srv.loggedIn({ username: 'watcher2' })
  const carol = []; const dave = []
  w.presence.subscribe('carol2', (online, user) => carol.push([user, online]))
  w.presence.subscribe('dave2', (online, user) => dave.push([user, online]))
  await sleep(300) // the batched subscribe and its ack (the client raises ACK_TIMEOUT without one)
  const other = await srv.loggedIn({ username: 'erin2' })
  const c = await srv.loggedIn({ username: 'carol2' })
  await until(() => carol.length === 1, 3000, 'carol joins')
  c.close()
  await until(() => carol.length === 2, 3000, 'carol leaves')
  assert.deepEqual(carol, [['carol2', true], ['carol2', false]])
  const d = await srv.loggedIn({ username: 'dave2' })
  await until(() => dave.length === 1, 3000, 'dave joins')
  w.presence.unsubscribe('dave2')
  await sleep(300)
  d.close()
  await sleep(200)
  assert.deepEqual(dave, [['dave2', true]])
  other.close()
  // the acks arrived: the client's subscriptionTimeout (2 s) passes without ACK_TIMEOUT
  await sleep(2100)
  assert.deepEqual(w.errors, [])
})

test('getAll lists everyone online but the asker; getAll([users]) answers per user', async () => {
  const f = await srv.loggedIn({ username: 'frank3' })
  const g1 = await srv.loggedIn({ username: 'gina3' })
  const g2 = await srv.loggedIn({ username: 'gina3' })
  const all = await getAll(f)
  assert.ok(all.includes('gina3'))
  assert.ok(!all.includes('frank3'), 'the asker is not listed')
  assert.equal(all.filter(u => u === 'gina3').length, 1, 'one entry per user')
  const some = await getAll(f, ['gina3', 'frank3', 'nobody3'])
  assert.deepEqual(some, { gina3: true, frank3: true, nobody3: false })
  g1.close(); g2.close()
  await until(async () => !(await getAll(f)).includes('gina3'), 3000, 'gina3 gone')
  assert.deepEqual(await getAll(f, ['gina3']), { gina3: false })
  assert.deepEqual(f.errors, [])
})

test('anonymous connections are the user "open"', async () => {
  const w = await srv.loggedIn({ username: 'watcher4' })
  const a1 = await srv.loggedIn()
  const a2 = await srv.loggedIn()
  assert.ok((await getAll(w)).includes('open'))
  assert.deepEqual(await getAll(w, ['open']), { open: true })
  a1.close(); a2.close()
  await until(async () => !(await getAll(w)).includes('open'), 3000, 'open gone')
  assert.deepEqual(w.errors, [])
})

test('raw acks, queries and errors', async () => {
  const s = await rawSocket(srv.url)
  await login(s, { username: 'raw5' })
  s.send('U|S|S+')
  assert.equal(await s.next(), 'U|A|S|S')
  s.send('U|S|S+')
  assert.equal(await s.next(), 'U|E|MULTIPLE_SUBSCRIPTIONS|U')
  const h = await srv.loggedIn({ username: 'henry5' })
  assert.equal(await s.next(), 'U|PNJ|henry5')
  s.send('U|US|US+')
  assert.equal(await s.next(), 'U|A|US|US')
  s.send('U|US|US+')
  assert.equal(await s.next(), 'U|E|NOT_SUBSCRIBED|U')
  s.send('U|S|7|["henry5","ivy5"]+')
  assert.equal(await s.next(), 'U|A|S|7')
  h.close()
  assert.equal(await s.next(), 'U|PNL|henry5')
  s.send('U|US|8|["henry5"]+')
  assert.equal(await s.next(), 'U|A|US|8')
  s.send('U|S|9|notjson+')
  assert.equal(await s.next(), 'U|E|INVALID_PRESENCE_USERS|users are required to be a json array of usernames')
  s.send('U|Q|2|["raw5","ivy5"]+')
  assert.equal(await s.next(), 'U|Q|2|{"raw5":true,"ivy5":false}')
  const other = await rawSocket(srv.url)
  await login(other, { username: 'ivy5' })
  assert.equal(await s.next(), 'U|PNJ|ivy5') // still subscribed to ivy5 from U|S|7
  s.send('U|Q|3|["ivy5"]+')
  assert.equal(await s.next(), 'U|Q|3|{"ivy5":true}')
  s.send('U|Q|Q+')
  const q = await s.next(m => m.startsWith('U|Q'))
  const names = q.split('|').slice(2)
  assert.ok(names.includes('ivy5') && !names.includes('raw5'), q)
  s.send('U|S+')
  assert.equal(await s.next(), 'U|E|MESSAGE_PERMISSION_ERROR||S')
  s.send('U|S|bob+')
  assert.equal(await s.next(), 'U|E|INVALID_MESSAGE_DATA|U|S|bob')
  s.ws.close(); other.ws.close()
})

test('U|Q alone when nobody else is online', async () => {
  const s2 = await startServer()
  try {
    const s = await rawSocket(s2.url)
    await login(s, { username: 'only' })
    s.send('U|Q|Q+')
    assert.equal(await s.next(), 'U|Q')
    const c = await s2.loggedIn({ username: 'only' })
    assert.deepEqual(await getAll(c), [])
    assert.deepEqual(c.errors, [])
    s.ws.close()
  } finally {
    assert.equal((await s2.stop()).code, 0)
  }
})
