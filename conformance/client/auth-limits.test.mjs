// The unauthenticated-client timeout and its reply (protocol.md 3.3).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, rawSocket, until, C } from './harness.mjs'

let srv
before(async () => { srv = await startServer({ unauthenticatedClientTimeout: 200 }) })
after(async () => { assert.equal((await srv.stop()).code, 0) })

test('no login within unauthenticatedClientTimeout: CONNECTION_AUTHENTICATION_TIMEOUT, then close', async () => {
  const s = await rawSocket(srv.url)
  assert.equal(await s.next(), 'C|CH')
  assert.equal(await s.next(m => m.startsWith('C|E'), 2000),
    'C|E|CONNECTION_AUTHENTICATION_TIMEOUT|Sconnection has not authenticated successfully in the expected time')
  await s.closed()
})

test('the real client reports the timeout as an error event', async () => {
  const c = srv.client()
  await until(() => c.errors.length > 0, 3000, 'the timeout error')
  assert.equal(c.errors[0].event, C.EVENT.CONNECTION_AUTHENTICATION_TIMEOUT)
})

test('a client that logs in in time is not cut off later', async () => {
  const c = await srv.loggedIn()
  await new Promise(resolve => setTimeout(resolve, 400))
  assert.equal(c.getConnectionState(), C.CONNECTION_STATE.OPEN)
  assert.deepEqual(c.errors, [])
})
