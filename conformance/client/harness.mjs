// Shared harness for the real-client conformance tests: starts a swiftlet process per test file with a
// config of its own, and creates deepstream.io-client-js@2.3.4 clients that record every 'error' event
// so each test can assert the client stayed silent.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
export const deepstream = require('deepstream.io-client-js')
export const C = deepstream.CONSTANTS

const BIN = process.env.SWIFTLET_BIN
if (!BIN) throw new Error('SWIFTLET_BIN must name a built swiftlet binary (the Go test runner sets it)')

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

// startServer writes config (an object of top-level YAML keys, values JSON-encoded, which is valid YAML)
// and starts swiftlet on a free loopback port. It resolves once /health-check answers.
export async function startServer (config = {}) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-conf-'))
  const cfg = { host: '127.0.0.1', port, storage: { type: 'memory' }, logLevel: 'WARN', ...config }
  const file = join(dir, 'config.yml')
  writeFileSync(file, Object.entries(cfg).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n') + '\n')
  const proc = spawn(BIN, ['start', '--config', file], { stdio: ['ignore', 'inherit', 'inherit'] })
  let exited = null
  proc.on('exit', (code, signal) => { exited = { code, signal } })
  const deadline = Date.now() + 10000
  for (;;) {
    if (exited) throw new Error(`swiftlet exited early: ${JSON.stringify(exited)}`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health-check`)
      if (res.status === 200) break
    } catch {}
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error('swiftlet did not become healthy') }
    await sleep(20)
  }
  const url = `127.0.0.1:${port}`
  const clients = []
  return {
    url,
    port,
    dir,
    // client creates a 2.3.4 client; every error event it raises is recorded in client.errors.
    client (options = {}) {
      const c = deepstream(url, { silentDeprecation: true, ...options })
      c.errors = []
      c.on('error', (msg, event, topic) => { c.errors.push({ msg, event, topic }) })
      clients.push(c)
      return c
    },
    // login resolves with {success, data} from the login callback.
    login (c, auth = {}) {
      return new Promise(resolve => c.login(auth, (success, data) => resolve({ success, data })))
    },
    async loggedIn (auth = {}, options = {}) {
      const c = this.client(options)
      const r = await this.login(c, auth)
      if (!r.success) throw new Error('login failed: ' + JSON.stringify(r.data))
      return c
    },
    allErrors () { return clients.flatMap(c => c.errors) },
    signal (sig) { proc.kill(sig) },
    async stop () {
      for (const c of clients) { try { c.close() } catch {} }
      if (exited) return exited
      const done = new Promise(resolve => proc.on('exit', (code, signal) => resolve({ code, signal })))
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000)
      const r = await done
      clearTimeout(t)
      return r
    }
  }
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// until polls fn until it returns a truthy value or the timeout passes.
export async function until (fn, timeout = 3000, what = 'condition') {
  const deadline = Date.now() + timeout
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

// rawSocket opens a plain WebSocket (the ws package) to the server, for messages the client cannot send.
// Heartbeats (C|PI) are left out of messages unless keepPings is set.
export async function rawSocket (url, { keepPings = false } = {}) {
  const { default: WebSocket } = await import('ws')
  const ws = new WebSocket(`ws://${url}/deepstream`)
  const messages = []
  const waiters = []
  ws.on('message', data => {
    for (const m of data.toString().split('\x1e')) {
      if (m.length === 0 || (!keepPings && m === 'C\x1fPI')) continue
      messages.push(m.replaceAll('\x1f', '|'))
    }
    for (const w of waiters.splice(0)) w()
  })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  return {
    ws,
    messages,
    send (text) { ws.send(text.replaceAll('|', '\x1f').replaceAll('+', '\x1e')) },
    async next (pred = () => true, timeout = 2000) {
      const deadline = Date.now() + timeout
      for (;;) {
        const i = messages.findIndex(pred)
        if (i >= 0) return messages.splice(i, 1)[0]
        if (Date.now() > deadline) throw new Error('no matching message; have ' + JSON.stringify(messages))
        await new Promise(resolve => { waiters.push(resolve); setTimeout(resolve, 20) })
      }
    },
    closed () { return new Promise(resolve => { if (ws.readyState === 3) resolve(); else ws.once('close', (code) => resolve(code)) }) }
  }
}
