// Permissions reload on SIGHUP and on file change without dropping connections; a bad new file
// keeps the old rules.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer, rawSocket, sleep, until } from './harness.mjs'

const dir = mkdtempSync(join(tmpdir(), 'swiftlet-reload-'))
const permFile = join(dir, 'permissions.yml')
const rules = publish => `
record: { "*": { create: true, read: true, write: true, delete: true, listen: true } }
event: { "*": { publish: true, subscribe: true, listen: true }, "gate": { publish: ${JSON.stringify(publish)} } }
rpc: { "*": { provide: true, request: true } }
presence: { "*": { allow: true } }
`
writeFileSync(permFile, rules('data < 10'))

let srv
before(async () => { srv = await startServer({ permission: { type: 'config', options: { path: permFile } } }) })
after(async () => { assert.equal((await srv.stop()).code, 0) })

async function raw () {
  const s = await rawSocket(srv.url)
  await s.next(); s.send('C|CHR|x+'); await s.next(); s.send('A|REQ|{}+'); await s.next()
  return s
}

// probe publishes N5 on gate and reports whether it was denied.
async function denied (s) {
  s.send('E|EVT|gate|N5+E|S|probe+')
  const m = await s.next()
  if (m === 'E|A|S|probe') { s.send('E|US|probe+'); await s.next(); return false }
  assert.equal(m, 'E|E|MESSAGE_DENIED|gate|EVT|N5')
  assert.equal(await s.next(), 'E|A|S|probe')
  s.send('E|US|probe+'); await s.next()
  return true
}

test('SIGHUP loads the new rules; a bad file keeps the old ones; the connection survives both', async () => {
  const s = await raw()
  assert.equal(await denied(s), false)
  writeFileSync(permFile, rules('data > 10'))
  srv.signal('SIGHUP')
  await until(async () => await denied(s), 3000, 'the new rules')
  writeFileSync(permFile, rules('data >') + '\nbroken: [')
  srv.signal('SIGHUP')
  await sleep(1200) // past the file watcher's interval too
  assert.equal(await denied(s), true, 'old rules kept after a bad file')
  s.ws.close()
})

test('a changed file is picked up without a signal', async () => {
  const s = await raw()
  writeFileSync(permFile, rules('true'))
  await until(async () => !(await denied(s)), 5000, 'the watcher to reload')
  s.ws.close()
})
