import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import t from 'tap'
import { dbEnv, httpRegister, startServer, tempDir } from './process-helper.js'

// kill -9 while registrations stream in: every registration the service acknowledged (201)
// is in the database after the restart, round after round, and the file stays sound.

const ROUNDS = 3
const CONCURRENT = 8
const STREAM_MS = 1500

t.test('acknowledged registrations survive kill -9, round after round', async (t) => {
  const dir = await tempDir(t)
  const env = dbEnv(dir, { RATE_LIMIT_REGISTRATION: 'off' })
  const acknowledged: string[] = []
  let sent = 0
  for (let round = 0; round < ROUNDS; round++) {
    const { server, base } = await startServer(t, env)
    const state = { killed: false }
    const kill = sleep(STREAM_MS).then(async () => {
      state.killed = true
      await server.stop('SIGKILL')
    })
    const streams = Array.from({ length: CONCURRENT }, async (_, lane) => {
      for (let i = 0; !state.killed; i++) {
        const username = `r${round}l${lane}n${i}`
        sent++
        const res = await httpRegister(base, { username, password: 'durable-password' }).catch(() => undefined)
        if (res?.status === 201) acknowledged.push(username)
      }
    })
    await Promise.all([kill, ...streams])
  }
  t.ok(acknowledged.length > ROUNDS * 10, `${acknowledged.length} of ${sent} registrations were acknowledged before the kills`)
  const db = new Database(join(dir, 'app.db'), { readonly: true })
  t.teardown(() => { db.close() })
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'the file is sound')
  const stored = new Set((db.prepare('select username from users').all() as Array<{ username: string }>).map((row) => row.username))
  const lost = acknowledged.filter((username) => !stored.has(username))
  t.same(lost, [], 'no acknowledged registration is lost')
})
