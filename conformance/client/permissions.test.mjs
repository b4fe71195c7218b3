// Valve permissions (protocol.md section 12): an existing deepstream permissions.yml and users.yml,
// every rule type allowed and denied, path variables, oldData, a cross-record rule, rule errors, and
// the exact MESSAGE_DENIED / MESSAGE_PERMISSION_ERROR layouts. The real client sees the denials as
// error events.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer, rawSocket, sleep, until } from './harness.mjs'

function dsHash (password) {
  const salt = randomBytes(16).toString('base64')
  return pbkdf2Sync(password, salt, 100, 32, 'sha256').toString('base64') + salt
}
const dir = mkdtempSync(join(tmpdir(), 'swiftlet-perm-'))
const usersFile = join(dir, 'users.yml')
writeFileSync(usersFile, `
alice: { password: "${dsHash('pw')}", serverData: { role: admin } }
bob: { password: "${dsHash('pw')}" }
`)
const permFile = join(dir, 'permissions.yml')
writeFileSync(permFile, `
record:
  "*":
    create: true
    read: true
    write: true
    delete: true
    listen: true
  "owned/$owner":
    create: "user.id === $owner"
    write: "user.id === $owner && data.a !== 13"
    delete: false
  "prices/$id":
    write: "typeof data.price === 'number' && data.price < 100 && (!oldData.price || data.price >= oldData.price)"
  "secret/*":
    read: "user.data.role === 'admin'"
  "docs/$id":
    write: "_('acl/' + $id).writers.indexOf(user.id) !== -1"
  "nolisten/*":
    listen: false
event:
  "*":
    publish: true
    subscribe: true
    listen: true
  "number":
    publish: "typeof data === 'number' && data < 10"
  "private/*":
    subscribe: false
  "shout/*":
    publish: "data.text === data.text.toUpperCase()"
  "nolisten/*":
    listen: false
  "guarded/*":
    publish: "_('acl/events').open === true"
rpc:
  "*":
    provide: true
    request: true
  "admin/$op":
    provide: "user.id === 'alice'"
    request: "typeof data.firstname === 'string' && $op !== 'drop'"
presence:
  "*":
    allow: "user.id === 'alice'"
`)

let srv
before(async () => {
  srv = await startServer({
    auth: { type: 'file', options: { path: usersFile, hash: 'sha256', iterations: 100, keyLength: 32 } },
    permission: { type: 'config', options: { path: permFile } }
  })
})
after(async () => { assert.equal((await srv.stop()).code, 0) })

async function raw (user) {
  const s = await rawSocket(srv.url)
  await s.next(); s.send('C|CHR|x+'); await s.next()
  s.send(`A|REQ|{"username":"${user}","password":"pw"}+`)
  assert.equal(await s.next(), 'A|A|L')
  return s
}

test('events: publish, subscribe and listen rules, with the exact denial layouts', async () => {
  const s = await raw('bob')
  s.send('E|S|number+'); assert.equal(await s.next(), 'E|A|S|number')
  const other = await raw('alice')
  other.send('E|EVT|number|N5+')
  assert.equal(await s.next(), 'E|EVT|number|N5')
  other.send('E|EVT|number|N50+')
  assert.equal(await other.next(), 'E|E|MESSAGE_DENIED|number|EVT|N50')
  other.send('E|EVT|number|Sfive+')
  assert.equal(await other.next(), 'E|E|MESSAGE_DENIED|number|EVT|Sfive')
  s.send('E|S|private/x+')
  assert.equal(await s.next(), 'E|E|MESSAGE_DENIED|private/x|S')
  s.send('E|L|nolisten/.*+')
  assert.equal(await s.next(), 'E|E|MESSAGE_DENIED|nolisten/.*|L')
  // a rule that throws (data.text of a number) is a permission error, not a denial
  s.send('E|EVT|shout/a|N1+')
  assert.equal(await s.next(), 'E|E|MESSAGE_PERMISSION_ERROR|shout/a|EVT|N1')
  s.send('E|EVT|shout/a|O{"text":"HI"}+')
  s.send('E|EVT|shout/a|O{"text":"hi"}+')
  assert.equal(await s.next(), 'E|E|MESSAGE_DENIED|shout/a|EVT|O{"text":"hi"}')
  // nothing was delivered for the denied publishes
  await sleep(100)
  assert.deepEqual(s.messages, [])
  s.ws.close(); other.ws.close()
})

test('records: create, write and delete with path variables', async () => {
  const bob = await raw('bob')
  const alice = await raw('alice')
  bob.send('R|CR|owned/alice+')
  assert.equal(await bob.next(), 'R|E|MESSAGE_DENIED|owned/alice|C')
  alice.send('R|CR|owned/alice+')
  assert.equal(await alice.next(), 'R|A|S|owned/alice')
  assert.equal(await alice.next(), 'R|R|owned/alice|0|{}')
  // now it exists: bob may read it, not write it
  bob.send('R|CR|owned/alice+')
  assert.equal(await bob.next(), 'R|A|S|owned/alice')
  assert.equal(await bob.next(), 'R|R|owned/alice|0|{}')
  bob.send('R|U|owned/alice|1|{"a":1}+')
  assert.equal(await bob.next(), 'R|E|MESSAGE_DENIED|owned/alice|U|1|{"a":1}')
  alice.send('R|U|owned/alice|1|{"a":1}|{"writeSuccess":true}+')
  assert.equal(await alice.next(), 'R|WA|owned/alice|[1]|L')
  assert.equal(await bob.next(), 'R|U|owned/alice|1|{"a":1}|{"writeSuccess":true}')
  // data is the record after the patch: a.a = 13 is refused even as a patch
  alice.send('R|P|owned/alice|2|a|N13+')
  assert.equal(await alice.next(), 'R|E|MESSAGE_DENIED|owned/alice|P|2|a|N13')
  alice.send('R|D|owned/alice+')
  assert.equal(await alice.next(), 'R|E|MESSAGE_DENIED|owned/alice|D')
  bob.ws.close(); alice.ws.close()
})

test('records: oldData in a write rule', async () => {
  const s = await raw('bob')
  s.send('R|CR|prices/p1+'); await s.next(); await s.next()
  s.send('R|U|prices/p1|1|{"price":10}|{"writeSuccess":true}+')
  assert.equal(await s.next(), 'R|WA|prices/p1|[1]|L')
  s.send('R|U|prices/p1|2|{"price":5}+') // lower than oldData.price
  assert.equal(await s.next(), 'R|E|MESSAGE_DENIED|prices/p1|U|2|{"price":5}')
  s.send('R|P|prices/p1|2|price|N20|{"writeSuccess":true}+')
  assert.equal(await s.next(), 'R|WA|prices/p1|[2]|L')
  s.send('R|P|prices/p1|3|price|N200+')
  assert.equal(await s.next(), 'R|E|MESSAGE_DENIED|prices/p1|P|3|price|N200')
  s.ws.close()
})

test('records: read rule on user.data; a rule error is MESSAGE_PERMISSION_ERROR', async () => {
  const alice = await raw('alice')
  alice.send('R|CR|secret/s1+')
  assert.equal(await alice.next(), 'R|A|S|secret/s1')
  assert.equal(await alice.next(), 'R|R|secret/s1|0|{}')
  const bob = await raw('bob') // no serverData: user.data.role throws
  bob.send('R|CR|secret/s1+')
  assert.equal(await bob.next(), 'R|E|MESSAGE_PERMISSION_ERROR|secret/s1|R')
  bob.send('R|SN|secret/s1+')
  assert.equal(await bob.next(), 'R|E|MESSAGE_PERMISSION_ERROR|secret/s1|SN')
  alice.ws.close(); bob.ws.close()
})

test('records: a cross-record rule reads another record without blocking, and later messages wait their turn', async () => {
  const alice = await raw('alice')
  alice.send('R|CR|acl/d1+'); await alice.next(); await alice.next()
  alice.send('R|U|acl/d1|1|{"writers":["alice"]}|{"writeSuccess":true}+')
  assert.equal(await alice.next(), 'R|WA|acl/d1|[1]|L')
  alice.send('R|CR|docs/d1+'); await alice.next(); await alice.next()
  alice.send('R|U|docs/d1|1|{"by":"alice"}|{"writeSuccess":true}+')
  assert.equal(await alice.next(), 'R|WA|docs/d1|[1]|L')
  const bob = await raw('bob')
  bob.send('R|CR|docs/d1+'); await bob.next(); await bob.next()
  bob.send('R|U|docs/d1|2|{"by":"bob"}+')
  assert.equal(await bob.next(), 'R|E|MESSAGE_DENIED|docs/d1|U|2|{"by":"bob"}')
  alice.ws.close(); bob.ws.close()
})

test('records: queued writes that each need a cross-record lookup are acknowledged in order', async () => {
  const s = await raw('alice')
  s.send('R|CR|acl/d2+'); await s.next(); await s.next()
  s.send('R|U|acl/d2|1|{"writers":["alice"]}+')
  s.send('R|CR|docs/d2+'); await s.next(); await s.next()
  // three writes in one frame: each needs acl/d2; they must be acknowledged in order
  s.send('R|U|docs/d2|1|{"n":1}|{"writeSuccess":true}+R|U|docs/d2|2|{"n":2}|{"writeSuccess":true}+R|U|docs/d2|3|{"n":3}|{"writeSuccess":true}+')
  const versions = []
  while (versions.length < 3) {
    const m = await s.next()
    versions.push(...JSON.parse(m.split('|')[3]))
  }
  assert.deepEqual(versions, [1, 2, 3])
  s.ws.close()
})

test('events: a rule with _() is checked off the loop; the session\'s later messages wait their turn', async () => {
  const s = await raw('alice')
  const sub = await raw('bob')
  sub.send('E|S|guarded/a+'); assert.equal(await sub.next(), 'E|A|S|guarded/a')
  // acl/events does not exist yet: _() gives null, null.open throws
  s.send('E|EVT|guarded/a|S1+E|S|after1+')
  assert.equal(await s.next(), 'E|E|MESSAGE_PERMISSION_ERROR|guarded/a|EVT|S1')
  assert.equal(await s.next(), 'E|A|S|after1')
  s.send('R|CR|acl/events+'); await s.next(); await s.next()
  s.send('R|U|acl/events|1|{"open":false}|{"writeSuccess":true}+')
  assert.equal(await s.next(), 'R|WA|acl/events|[1]|L')
  s.send('E|EVT|guarded/a|S2+E|S|after2+E|EVT|guarded/a|S3+E|S|after3+')
  assert.equal(await s.next(), 'E|E|MESSAGE_DENIED|guarded/a|EVT|S2')
  assert.equal(await s.next(), 'E|A|S|after2')
  assert.equal(await s.next(), 'E|E|MESSAGE_DENIED|guarded/a|EVT|S3')
  assert.equal(await s.next(), 'E|A|S|after3')
  s.send('R|U|acl/events|2|{"open":true}|{"writeSuccess":true}+')
  assert.equal(await s.next(), 'R|WA|acl/events|[2]|L')
  s.send('E|EVT|guarded/a|S4+')
  assert.equal(await sub.next(), 'E|EVT|guarded/a|S4')
  await sleep(50)
  assert.deepEqual(sub.messages, [])
  s.ws.close(); sub.ws.close()
})

test('rpc: provide and request rules, with path variables and the exact denial layouts', async () => {
  const alice = await raw('alice')
  const bob = await raw('bob')
  bob.send('P|S|admin/x+')
  assert.equal(await bob.next(), 'P|E|MESSAGE_DENIED|admin/x|S')
  alice.send('P|S|admin/x+'); assert.equal(await alice.next(), 'P|A|S|admin/x')
  alice.send('P|S|admin/drop+'); assert.equal(await alice.next(), 'P|A|S|admin/drop')
  bob.send('P|REQ|admin/x|c1|O{"firstname":1}+')
  assert.equal(await bob.next(), 'P|E|MESSAGE_DENIED|admin/x|REQ|c1|O{"firstname":1}')
  bob.send('P|REQ|admin/drop|c2|O{"firstname":"A"}+')
  assert.equal(await bob.next(), 'P|E|MESSAGE_DENIED|admin/drop|REQ|c2|O{"firstname":"A"}')
  // undefined data: data.firstname throws, a permission error
  bob.send('P|REQ|admin/x|c3|U+')
  assert.equal(await bob.next(), 'P|E|MESSAGE_PERMISSION_ERROR|admin/x|REQ|c3|U')
  // nothing denied reached the provider; an allowed request does, and its answer comes back
  bob.send('P|REQ|admin/x|c4|O{"firstname":"A"}+')
  assert.equal(await alice.next(), 'P|REQ|admin/x|c4|O{"firstname":"A"}')
  alice.send('P|A|REQ|admin/x|c4+P|RES|admin/x|c4|SBob+')
  assert.equal(await bob.next(), 'P|A|REQ|admin/x|c4')
  assert.equal(await bob.next(), 'P|RES|admin/x|c4|SBob')
  await sleep(50)
  assert.deepEqual(alice.messages, [])
  alice.ws.close(); bob.ws.close()
})

test('presence: the allow rule guards subscriptions and queries', async () => {
  const alice = await raw('alice')
  const bob = await raw('bob')
  bob.send('U|S|S+')
  assert.equal(await bob.next(), 'U|E|MESSAGE_DENIED|S|S')
  bob.send('U|Q|Q+')
  assert.equal(await bob.next(), 'U|E|MESSAGE_DENIED|Q|Q')
  bob.send('U|S|7|["alice"]+')
  assert.equal(await bob.next(), 'U|E|MESSAGE_DENIED|7|S|["alice"]')
  bob.send('U|Q|8|["alice"]+')
  assert.equal(await bob.next(), 'U|E|MESSAGE_DENIED|8|Q|["alice"]')
  alice.send('U|S|S+'); assert.equal(await alice.next(), 'U|A|S|S')
  alice.send('U|Q|9|["bob","carol"]+')
  assert.equal(await alice.next(), 'U|Q|9|{"bob":true,"carol":false}')
  // bob's denied subscriptions left him unsubscribed: alice leaving and coming back tells him nothing
  alice.ws.close()
  await sleep(50)
  const again = await raw('alice')
  await sleep(50)
  assert.deepEqual(bob.messages, [])
  again.ws.close(); bob.ws.close()
})

test('the real client sees an RPC denial in the callback', async () => {
  const c = srv.client()
  await srv.login(c, { username: 'bob', password: 'pw' })
  const err = await new Promise(resolve => c.rpc.make('admin/x', { firstname: 1 }, (e) => resolve(e)))
  assert.equal(err, 'MESSAGE_DENIED')
})

test('the real client sees denials as error events', async () => {
  const c = srv.client()
  await srv.login(c, { username: 'bob', password: 'pw' })
  c.event.emit('number', 500)
  await until(() => c.errors.some(e => e.event === 'MESSAGE_DENIED'), 3000, 'MESSAGE_DENIED')
  const denied = c.errors.find(e => e.event === 'MESSAGE_DENIED')
  assert.equal(denied.topic, 'E')
})
