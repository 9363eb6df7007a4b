import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import SQLite from 'better-sqlite3'
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import service from '../../src/service/app.js'
import { testSecret } from '../helper.js'
import { findPostgresBin, startPostgres } from '../support/postgres.js'

// The database goes away and comes back while the service keeps running: every route that
// needs it answers 503 {"detail":"Service unavailable"} promptly (no hang, nothing internal in
// the body), the liveness probe stays 200, and once the database is back the same process
// serves again without a restart. On PostgreSQL a private cluster is stopped and started, and
// separately made to stop answering (a relay that holds every byte, as a network partition
// would); on SQLite another connection holds the write lock for longer than the busy timeout.

t.setTimeout(120_000)

const UNAVAILABLE = '{"detail":"Service unavailable"}'
// A hang check, not a speed assertion: with a 1 s database timeout every answer is due long before.
const HANG_LIMIT_MS = 10_000
const RECOVERY_LIMIT_MS = 15_000

const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'

/** app.inject, failing (instead of waiting forever) when no answer comes within HANG_LIMIT_MS. */
async function bounded (app: FastifyInstance, opts: InjectOptions): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined
  const what = `${opts.method ?? 'GET'} ${String(opts.url)}`
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what} did not answer within ${HANG_LIMIT_MS} ms (hang)`)) }, HANG_LIMIT_MS)
  })
  try {
    return await Promise.race([app.inject(opts), timeout])
  } finally {
    clearTimeout(timer)
  }
}

const register = (app: FastifyInstance, username: string, password: string) =>
  bounded(app, { method: 'POST', url: '/users/', payload: { username, password } })

const token = (app: FastifyInstance, username: string, password: string) =>
  bounded(app, {
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ username, password }).toString()
  })

const me = (app: FastifyInstance, accessToken?: string) =>
  bounded(app, { url: '/users/me/', headers: accessToken === undefined ? {} : { authorization: `Bearer ${accessToken}` } })

/** A 503 whose body is exactly the generic one: no driver codes, addresses or engine names. */
function assertUnavailable (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 503, `${what}: 503`, { body: res.body })
  t.equal(res.body, UNAVAILABLE, `${what}: exactly the generic body`)
  t.match(res.headers['content-type'], /^application\/json/, `${what}: JSON`)
  t.notMatch(res.body, /ECONNREFUSED|SQLITE|busy|locked|pg\b|postgres|127\.0\.0\.1|::1|timeout|stack/i, `${what}: nothing internal`)
}

/** Polls GET /health/ready until 200; fails after RECOVERY_LIMIT_MS. */
async function waitUntilReady (app: FastifyInstance): Promise<number> {
  const started = Date.now()
  let last: LightMyRequestResponse | undefined
  while (Date.now() - started < RECOVERY_LIMIT_MS) {
    last = await bounded(app, { url: '/health/ready' })
    if (last.statusCode === 200) return Date.now() - started
    await sleep(200)
  }
  throw new Error(`/health/ready still not 200 after ${RECOVERY_LIMIT_MS} ms: ${String(last?.statusCode)} ${String(last?.body)}`)
}

const postgresBin = findPostgresBin()

if (postgresBin === undefined && inCi) {
  t.fail('PostgreSQL server binaries not found (set POSTGRES_BIN or install postgresql): the PostgreSQL outage tests cannot run in CI')
} else if (postgresBin === undefined) {
  t.test('postgres', {
    skip: 'PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, POSTGRES_BIN unset)'
  }, async () => {})
} else {
  t.test('postgres', async (t) => {
    // One private cluster for both cases; each leaves it running.
    const server = await startPostgres(postgresBin)
    t.teardown(async () => { await server.destroy() })

    t.test('the server stops, then starts again', async (t) => {
      const app = await buildService(t, server.url)
      const { username, password, accessToken } = await signUp(t, app)

      await server.stop()

      t.test('while the database is down', async (t) => {
        await checkUnavailable(t, app, { username, password, accessToken })
      })

      t.test('once the database is back, the same process recovers by itself', async (t) => {
        await server.start()
        await checkRecovered(t, app, { username, password, accessToken })
      })
    })

    t.test('the server stops answering (a frozen network: connections accepted, nothing comes back)', async (t) => {
      // A TCP relay in front of the server that can hold every byte in either direction: the
      // pool's open connections hang mid-query and new ones hang in the start-up handshake.
      // Only the pool's timeouts (connect, query, statement: 1 s here) turn that into a 503.
      const relay = await startRelay(new URL(server.url))
      t.teardown(async () => { await relay.close() })
      const url = new URL(server.url)
      url.port = String(relay.port)
      const app = await buildService(t, url.toString())
      // Teardowns run last-in first-out: should a check fail while frozen, thaw before the app
      // closes, or ending the pool's connections would wait on the frozen relay.
      t.teardown(() => { relay.thaw() })
      const { username, password, accessToken } = await signUp(t, app)

      relay.freeze()

      t.test('while nothing comes back', async (t) => {
        await checkUnavailable(t, app, { username, password, accessToken })
        // More callers than the pool has connections (10): the ones waiting for a connection
        // are bounded too.
        const crowd = await Promise.all(Array.from({ length: 15 }, async () => await me(app, accessToken)))
        t.same(crowd.map((res) => res.statusCode), Array(15).fill(503), 'fifteen concurrent callers all get 503, none hangs')
      })

      t.test('once the network heals, the same process recovers by itself', async (t) => {
        relay.thaw()
        await checkRecovered(t, app, { username, password, accessToken })
      })
    })
  })
}

interface Account { username: string, password: string, accessToken: string }

async function buildService (t: Test, database: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  t.teardown(async () => { await app.close() })
  await app.register(service, { secret: testSecret(), database, bcryptCost: 4, databaseOptions: { timeoutMs: 1000 } })
  await app.ready()
  return app
}

/** Registers an account, logs in, and checks that everything works while the database is up. */
async function signUp (t: Test, app: FastifyInstance): Promise<Account> {
  const username = `user_${randomBytes(4).toString('hex')}`
  const password = `pw-${randomBytes(12).toString('base64url')}`
  const registered = await register(app, username, password)
  t.equal(registered.statusCode, 201, 'registered while the database is up', { body: registered.body })
  const login = await token(app, username, password)
  t.equal(login.statusCode, 200, 'logged in while the database is up', { body: login.body })
  const accessToken = login.json().access_token as string
  t.equal((await me(app, accessToken)).statusCode, 200, 'the token works while the database is up')
  t.equal((await bounded(app, { url: '/health/ready' })).statusCode, 200, 'ready while the database is up')
  return { username, password, accessToken }
}

async function checkUnavailable (t: Test, app: FastifyInstance, { username, password, accessToken }: Account): Promise<void> {
  assertUnavailable(t, await me(app, accessToken), 'GET /users/me/ with a token')
  assertUnavailable(t, await token(app, username, password), 'POST /token')
  assertUnavailable(t, await register(app, `other_${randomBytes(4).toString('hex')}`, password), 'POST /users/')
  assertUnavailable(t, await bounded(app, { url: '/users/me/items/', headers: { authorization: `Bearer ${accessToken}` } }), 'GET /users/me/items/')
  assertUnavailable(t, await bounded(app, { url: '/health/ready' }), 'GET /health/ready')

  const health = await bounded(app, { url: '/health' })
  t.equal(health.statusCode, 200, 'GET /health (liveness) stays 200')
  t.same(health.json(), { status: 'ok', pid: process.pid })

  // Deciding that there is no token needs no database.
  const anonymous = await me(app)
  t.equal(anonymous.statusCode, 401, 'no token: 401, not 503')
  t.same(anonymous.json(), { detail: 'Not authenticated' })
  t.equal(anonymous.headers['www-authenticate'], 'Bearer')
  const anonymousItems = await bounded(app, { url: '/users/me/items/' })
  t.equal(anonymousItems.statusCode, 401, 'no token on items: 401')

  // A second round, concurrent: the pool is not left in a state that hangs the next callers.
  const again = await Promise.all([me(app, accessToken), me(app, accessToken), bounded(app, { url: '/health/ready' })])
  for (const res of again) assertUnavailable(t, res, 'concurrent requests while down')
}

async function checkRecovered (t: Test, app: FastifyInstance, { username, password, accessToken }: Account): Promise<void> {
  const took = await waitUntilReady(app)
  t.pass(`/health/ready is 200 again (after ${took} ms)`)
  const again = await me(app, accessToken)
  t.equal(again.statusCode, 200, 'the token issued before the outage works again', { body: again.body })
  t.same(again.json(), { username, email: null, email_verified: false, full_name: null, disabled: false })
  const relogin = await token(app, username, password)
  t.equal(relogin.statusCode, 200, 'login works again', { body: relogin.body })
  t.equal(relogin.json().token_type, 'bearer')
  const items = await bounded(app, { url: '/users/me/items/', headers: { authorization: `Bearer ${relogin.json().access_token as string}` } })
  t.equal(items.statusCode, 200, 'items work again')
  const other = await register(app, `after_${randomBytes(4).toString('hex')}`, password)
  t.equal(other.statusCode, 201, 'registration works again', { body: other.body })
  // Every pooled connection is usable again, not only the first one handed out.
  const crowd = await Promise.all(Array.from({ length: 15 }, async () => await me(app, accessToken)))
  t.same(crowd.map((res) => res.statusCode), Array(15).fill(200), 'fifteen concurrent callers all get 200')
}

interface Relay {
  port: number
  /** Holds every byte from now on, in both directions, on open and new connections. */
  freeze: () => void
  /** Delivers what was held and relays again. */
  thaw: () => void
  close: () => Promise<void>
}

/** A TCP relay on 127.0.0.1 to `target` (host and port of a URL). */
async function startRelay (target: URL): Promise<Relay> {
  let frozen = false
  const pending: Array<() => void> = []
  const sockets = new Set<Socket>()
  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      const deliver = () => { if (!to.destroyed) to.write(chunk) }
      if (frozen) pending.push(deliver)
      else deliver()
    })
    from.on('close', () => { to.destroy() })
    from.on('error', () => { to.destroy() })
  }
  const relay = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    }
    forward(client, upstream)
    forward(upstream, client)
  })
  await new Promise<void>((resolve, reject) => {
    relay.once('error', reject)
    relay.listen(0, '127.0.0.1', () => { resolve() })
  })
  const address = relay.address()
  if (address === null || typeof address === 'string') throw new Error('the relay has no port')
  return {
    port: address.port,
    freeze () { frozen = true },
    thaw () {
      frozen = false
      for (const deliver of pending.splice(0)) deliver()
    },
    async close () {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => { relay.close(() => { resolve() }) })
    }
  }
}

t.test('sqlite: another connection holds the write lock longer than the busy timeout', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'token-auth-outage-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'app.db')

  const app = Fastify({ logger: false })
  t.teardown(async () => { await app.close() })
  await app.register(service, { secret: testSecret(), database: `sqlite:${file}`, bcryptCost: 4, databaseOptions: { timeoutMs: 300 } })
  await app.ready()

  // A second handle on the same file, as another worker process or the CLI would have.
  const other = new SQLite(file)
  t.teardown(() => { if (other.open) other.close() })
  other.pragma('busy_timeout = 0')

  const password = `pw-${randomBytes(12).toString('base64url')}`
  other.exec('BEGIN IMMEDIATE')
  t.ok(other.inTransaction, 'the other connection holds the write lock')

  const started = Date.now()
  const blocked = await register(app, 'blocked', password)
  const waited = Date.now() - started
  assertUnavailable(t, blocked, 'POST /users/ while the file is write-locked')
  t.ok(waited >= 250, `the service waited for the lock (busy timeout 300 ms) before giving up: ${waited} ms`)

  // The readiness probe writes, so it waits for the lock as the registration did, and fails.
  assertUnavailable(t, await bounded(app, { url: '/health/ready' }), 'GET /health/ready while the file is write-locked')

  other.exec('ROLLBACK')
  t.notOk(other.inTransaction, 'the lock is released')
  t.equal((await bounded(app, { url: '/health/ready' })).statusCode, 200, '/health/ready: ready again once the lock is gone')

  const registered = await register(app, 'blocked', password)
  t.equal(registered.statusCode, 201, 'the same registration works once the lock is gone', { body: registered.body })
  const login = await token(app, 'blocked', password)
  t.equal(login.statusCode, 200, 'and the account can log in')
  t.same(other.prepare('select count(*) as n from users where username = ?').get('blocked'), { n: 1 }, 'exactly one row was written')
})
