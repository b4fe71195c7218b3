// Authentication (protocol.md sections 3.3 and 13): file auth with deepstream's PBKDF2 users.yml,
// http auth against a webhook this test runs, and the failure paths the 2.3.4 client sees.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer, rawSocket, until, C } from './harness.mjs'

// deepstream's format: base64(pbkdf2(password, salt, iterations, keyLength, digest)) + salt, where
// salt is the base64 text of 16 random bytes and that text is the PBKDF2 salt.
function dsHash (password, digest = 'sha256', iterations = 100, keyLength = 32) {
  const salt = randomBytes(16).toString('base64')
  return pbkdf2Sync(password, salt, iterations, keyLength, digest).toString('base64') + salt
}

const dir = mkdtempSync(join(tmpdir(), 'swiftlet-auth-'))
const usersFile = join(dir, 'users.yml')
writeFileSync(usersFile, `
alice:
  password: "${dsHash('alice-pw')}"
  clientData: { favouriteColour: red }
  serverData: { role: admin }
bob:
  password: "${dsHash('bob-pw')}"
`)

let fileSrv, httpSrv, hook, hookPort
const hookCalls = []
before(async () => {
  fileSrv = await startServer({ auth: { type: 'file', options: { path: usersFile, hash: 'sha256', iterations: 100, keyLength: 32 } }, maxAuthAttempts: 3 })
  hook = createServer((req, res) => {
    let body = ''
    req.on('data', d => { body += d })
    req.on('end', () => {
      const parsed = JSON.parse(body)
      hookCalls.push(parsed)
      const u = parsed.authData.username
      if (u === 'slow') return setTimeout(() => { res.writeHead(200); res.end('slow') }, 2000)
      if (u === 'plain') { res.writeHead(200); return res.end('plain-user') }
      if (u === 'rich') {
        res.writeHead(200, { 'content-type': 'application/json' })
        return res.end(JSON.stringify({ username: 'rich', clientData: { tier: 'gold' }, serverData: { id: 7 } }))
      }
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ clientData: { reason: 'go away' } }))
    })
  })
  await new Promise(resolve => hook.listen(0, '127.0.0.1', resolve))
  hookPort = hook.address().port
  httpSrv = await startServer({ auth: { type: 'http', options: { endpointUrl: `http://127.0.0.1:${hookPort}/auth`, permittedStatusCodes: [200], requestTimeout: 300 } } })
})
after(async () => {
  assert.equal((await fileSrv.stop()).code, 0)
  assert.equal((await httpSrv.stop()).code, 0)
  hook.close()
})

test('file auth: a good password logs in with the clientData of users.yml', async () => {
  const c = fileSrv.client()
  const r = await fileSrv.login(c, { username: 'alice', password: 'alice-pw' })
  assert.equal(r.success, true)
  assert.deepEqual(r.data, { favouriteColour: 'red' })
  const b = fileSrv.client()
  const rb = await fileSrv.login(b, { username: 'bob', password: 'bob-pw' })
  assert.equal(rb.success, true)
  assert.equal(rb.data, null) // no clientData: A|A|L
  assert.deepEqual(c.errors, [])
})

test('file auth: a bad password fails, and a later good one on the same connection works', async () => {
  const c = fileSrv.client()
  const bad = await fileSrv.login(c, { username: 'alice', password: 'wrong' })
  assert.equal(bad.success, false)
  const good = await fileSrv.login(c, { username: 'alice', password: 'alice-pw' })
  assert.equal(good.success, true)
})

test('file auth: missing parameters are reported in the clientData', async () => {
  const c = fileSrv.client()
  const r = await fileSrv.login(c, { password: 'x' })
  assert.equal(r.success, false)
  assert.equal(r.data, 'missing authentication parameter username')
})

test('too many attempts: TOO_MANY_AUTH_ATTEMPTS after maxAuthAttempts, then the connection closes', async () => {
  const s = await rawSocket(fileSrv.url)
  await s.next(); s.send('C|CHR|x+'); await s.next()
  for (let i = 0; i < 3; i++) {
    s.send('A|REQ|{"username":"alice","password":"nope"}+')
    assert.equal(await s.next(), 'A|E|INVALID_AUTH_DATA|U')
  }
  assert.equal(await s.next(), 'A|E|TOO_MANY_AUTH_ATTEMPTS|Stoo many authentication attempts')
  await s.closed()
  // and the real client: after the third failure it is closed for good, and a later login is refused
  const c = fileSrv.client()
  for (let i = 0; i < 3; i++) assert.equal((await fileSrv.login(c, { username: 'bob', password: 'nope' })).success, false)
  await until(() => c.getConnectionState() === C.CONNECTION_STATE.CLOSED, 3000, 'the client to close')
  c.login({ username: 'bob', password: 'bob-pw' }, () => {})
  await until(() => c.errors.some(e => e.event === C.EVENT.IS_CLOSED), 3000, 'IS_CLOSED')
})

test('http auth: a permitted status logs in; a string body is the username', async () => {
  const c = httpSrv.client()
  const r = await httpSrv.login(c, { username: 'plain', token: 't' })
  assert.equal(r.success, true)
  const call = hookCalls.find(x => x.authData.username === 'plain')
  assert.deepEqual(call.authData, { username: 'plain', token: 't' })
  assert.equal(call.connectionData.remoteAddress, '127.0.0.1')
})

test('http auth: a JSON body gives username, clientData and serverData', async () => {
  const c = httpSrv.client()
  const r = await httpSrv.login(c, { username: 'rich' })
  assert.equal(r.success, true)
  assert.deepEqual(r.data, { tier: 'gold' })
})

test('http auth: a refused status fails with the webhook clientData', async () => {
  const c = httpSrv.client()
  const r = await httpSrv.login(c, { username: 'intruder' })
  assert.equal(r.success, false)
  assert.deepEqual(r.data, { reason: 'go away' })
})

test('http auth: a webhook slower than requestTimeout fails the login, the connection stays usable', async () => {
  const c = httpSrv.client()
  const t0 = Date.now()
  const r = await httpSrv.login(c, { username: 'slow' })
  assert.equal(r.success, false)
  assert.ok(Date.now() - t0 < 1500, 'the timeout, not the slow answer, decided')
  const r2 = await httpSrv.login(c, { username: 'plain' })
  assert.equal(r2.success, true)
  assert.equal(c.getConnectionState(), C.CONNECTION_STATE.OPEN)
})
