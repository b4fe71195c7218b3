// Listening for events (protocol.md section 8): accept, reject, response timeout, provider loss.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, sleep, until } from './harness.mjs'

let srv
before(async () => { srv = await startServer({ listenResponseTimeout: 150, shuffleListenProviders: false }) })
after(async () => { assert.equal((await srv.stop()).code, 0) })

test('a listener is told about a matching subscription, accepts, and is told when it goes', async () => {
  const provider = await srv.loggedIn()
  const calls = []
  provider.event.listen('news/.*', (name, isSubscribed, response) => {
    calls.push([name, isSubscribed])
    if (isSubscribed) response.accept()
  })
  await sleep(100)
  const sub = await srv.loggedIn()
  const cb = () => {}
  sub.event.subscribe('news/sport', cb)
  await until(() => calls.length === 1, 3000, 'SP')
  assert.deepEqual(calls[0], ['news/sport', true])
  sub.event.unsubscribe('news/sport', cb)
  await until(() => calls.length === 2, 3000, 'SR')
  assert.deepEqual(calls[1], ['news/sport', false])
  provider.event.unlisten('news/.*')
  await sleep(100)
  assert.deepEqual(srv.allErrors(), [])
})

test('a listener added after the subscription is asked at once', async () => {
  const sub = await srv.loggedIn()
  sub.event.subscribe('late/1', () => {})
  await sleep(100)
  const provider = await srv.loggedIn()
  const calls = []
  provider.event.listen('late/.*', (name, isSubscribed, response) => {
    calls.push([name, isSubscribed])
    if (isSubscribed) response.accept()
  })
  await until(() => calls.length === 1, 3000, 'SP for an existing subscription')
  assert.deepEqual(calls[0], ['late/1', true])
})

test('reject and timeout move on to the next listener; provider loss restarts discovery', async () => {
  const rejecter = await srv.loggedIn()
  const silent = await srv.loggedIn()
  const acceptor = await srv.loggedIn()
  const seen = { rejecter: [], silent: [], acceptor: [] }
  rejecter.event.listen('multi/.*', (name, s, r) => { seen.rejecter.push([name, s]); if (s) r.reject() })
  await sleep(50)
  silent.event.listen('multi/.*', (name, s) => { seen.silent.push([name, s]) }) // never answers
  await sleep(50)
  acceptor.event.listen('multi/.*', (name, s, r) => { seen.acceptor.push([name, s]); if (s) r.accept() })
  await sleep(100)
  const sub = await srv.loggedIn()
  sub.event.subscribe('multi/x', () => {})
  // listen order without shuffling: rejecter, then silent (times out after 150 ms), then acceptor
  await until(() => seen.acceptor.length === 1, 3000, 'the acceptor to be asked')
  assert.deepEqual(seen.rejecter, [['multi/x', true]])
  assert.deepEqual(seen.silent, [['multi/x', true]])
  assert.deepEqual(seen.acceptor, [['multi/x', true]])
  // the provider disconnects: discovery starts again among the others
  acceptor.close()
  await until(() => seen.rejecter.length === 2, 3000, 'discovery to restart')
  assert.deepEqual(seen.rejecter[1], ['multi/x', true])
  assert.deepEqual(rejecter.errors, [])
  assert.deepEqual(sub.errors, [])
})

test('one active provider per name: a second listener is not asked while the first provides', async () => {
  const p1 = await srv.loggedIn()
  const p2 = await srv.loggedIn()
  const s1 = []; const s2 = []
  p1.event.listen('solo/.*', (n, s, r) => { s1.push(n); if (s) r.accept() })
  await sleep(50)
  p2.event.listen('solo/.*', (n, s, r) => { s2.push(n); if (s) r.accept() })
  await sleep(50)
  const sub = await srv.loggedIn()
  sub.event.subscribe('solo/a', () => {})
  await until(() => s1.length === 1, 3000, 'first listener')
  await sleep(300)
  assert.deepEqual(s2, [])
})
