import { once } from 'node:events'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import { test, type Test } from 'tap'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service, { type ServiceOptions } from '../../src/service/app.js'
import { buildApp, createUser, engines, freshDatabaseUrl, johndoe, postgresUrl, testSecret } from '../helper.js'
import { clockPast } from '../support/clock.js'
import { redisServerBin, startRedis } from '../support/redis.js'

// Throttling as a client meets it: per-address limits on the routes a script hammers, and the
// per-username backoff at /token, with the counters in each kind of shared store.

const form = { 'content-type': 'application/x-www-form-urlencoded' }
const A = '203.0.113.10'
const B = '198.51.100.20'

async function tokenRequest (app: FastifyInstance, fields: Record<string, string>, ip = A): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/token', headers: form, remoteAddress: ip, payload: new URLSearchParams(fields).toString() })
}

const attempt = async (app: FastifyInstance, username: string, password: string, ip = A) =>
  await tokenRequest(app, { username, password }, ip)

type Mode = 'sqlite' | 'postgres' | 'redis'
const modes: Mode[] = [...engines, ...(redisServerBin === undefined ? [] : ['redis' as const])]

/** A service app whose counters live in the mode's store; `shared` apps of one call share them. */
async function appsFor (t: Test, mode: Mode, throttle: ServiceOptions['throttle'], count = 1): Promise<FastifyInstance[]> {
  const engine = mode === 'postgres' ? 'postgres' : 'sqlite'
  const database = await freshDatabaseUrl(t, engine, { shared: count > 1 })
  const redisUrl = mode === 'redis' ? (await startRedis(t)).url : undefined
  const apps: FastifyInstance[] = []
  for (let i = 0; i < count; i++) apps.push(await buildApp(t, { database, redisUrl, throttle }, engine))
  return apps
}

function assertTooMany (t: Test, res: LightMyRequestResponse, oauth2: boolean, what: string): number {
  t.equal(res.statusCode, 429, `${what}: 429`)
  const retry = Number(res.headers['retry-after'])
  t.ok(Number.isInteger(retry) && retry >= 1, `${what}: Retry-After in whole seconds (${String(res.headers['retry-after'])})`)
  const body = res.json()
  t.equal(body.detail, `Too many requests: retry in ${retry} s`, `${what}: the detail says when`)
  if (oauth2) t.same([body.error, body.error_description], ['invalid_request', body.detail], `${what}: with the RFC 6749 fields`)
  return retry
}

test('missing redis-server under CI is a failure, not a skip', { skip: redisServerBin !== undefined }, async (t) => {
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') t.fail('redis-server is not installed (.ci/run installs it)')
})

test('without PostgreSQL the PostgreSQL mode is skipped', { skip: postgresUrl !== undefined }, async (t) => { t.pass() })

for (const mode of modes) {
  test(`${mode}: per-address limits`, async (t) => {
    t.test('POST /token: every grant counts; over the limit 429 with Retry-After and the OAuth2 fields', async (t) => {
      const [app] = await appsFor(t, mode, { token: { max: 3, windowSeconds: 60 }, loginBackoffAfter: false }) as [FastifyInstance]
      const grants = [
        await attempt(app, 'nobody', 'wrong-password'),
        await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: 'not-a-token' }),
        await tokenRequest(app, { grant_type: 'client_credentials' })
      ]
      t.same(grants.map((r) => r.statusCode), [401, 400, 400], 'three requests of any grant are answered')
      t.equal(grants[0]?.headers['x-ratelimit-remaining'], '2', 'the remaining allowance is announced')
      const over = await attempt(app, 'nobody', 'wrong-password')
      t.ok(assertTooMany(t, over, true, 'the fourth') <= 60, 'within the window')
      t.equal((await attempt(app, 'nobody', 'wrong-password', B)).statusCode, 401, 'another address has its own allowance')
    })

    t.test('POST /users/, /revoke, /users/me/password, GET /users/me/sessions: JSON 429s, each limit its own', async (t) => {
      const limit = { max: 1, windowSeconds: 3600 }
      const [app] = await appsFor(t, mode, { registration: limit, revoke: limit, passwordChange: limit, sessions: limit, token: false }) as [FastifyInstance]
      const register = async (username: string) => await app.inject({ method: 'POST', url: '/users/', remoteAddress: A, payload: { username, password: 'long-enough-password' } })
      t.equal((await register('first')).statusCode, 201)
      assertTooMany(t, await register('second'), false, 'a second registration')
      const revoke = async () => await app.inject({ method: 'POST', url: '/revoke', headers: form, remoteAddress: A, payload: 'token=whatever' })
      t.equal((await revoke()).statusCode, 200)
      assertTooMany(t, await revoke(), true, 'a second revocation')
      const token = (await attempt(app, 'first', 'long-enough-password')).json().access_token as string
      const change = async (password: string) => await app.inject({
        method: 'POST',
        url: '/users/me/password',
        remoteAddress: A,
        headers: { authorization: `Bearer ${token}` },
        payload: { current_password: password, new_password: `${password}-2` }
      })
      t.equal((await change('long-enough-password')).statusCode, 204)
      assertTooMany(t, await change('long-enough-password-2'), false, 'a second password change')
      const list = async () => await app.inject({ url: '/users/me/sessions', headers: { authorization: `Bearer ${token}` }, remoteAddress: A })
      t.equal((await list()).statusCode, 200)
      assertTooMany(t, await list(), false, 'a second session list')
      t.equal((await app.inject({ url: '/users/me/', headers: { authorization: `Bearer ${token}` }, remoteAddress: A })).statusCode, 200,
        'unlimited routes stay open to the address')
    })
  })

  test(`${mode}: login backoff per username`, async (t) => {
    t.test('after 5 failures from one address: 429 without a password check, 1 s, then 2 s; the owner elsewhere is not held out', async (t) => {
      const [app] = await appsFor(t, mode, { token: false }) as [FastifyInstance]
      await createUser(app, johndoe)
      for (let i = 1; i <= 5; i++) t.equal((await attempt(app, 'johndoe', 'wrong-password')).statusCode, 401, `failure ${i}`)
      const fifthFailureAnswered = Date.now()
      const held = await attempt(app, 'johndoe', johndoe.password)
      t.equal(assertTooMany(t, held, true, 'the right password right after'), 1, 'the first wait is 1 s')
      t.equal((await attempt(app, 'johndoe', johndoe.password, B)).statusCode, 200, 'the owner logs in from another address meanwhile')
      await clockPast(fifthFailureAnswered + 1000)
      t.equal((await attempt(app, 'johndoe', 'wrong-password')).statusCode, 401, 'after the wait an attempt is checked again')
      t.equal(assertTooMany(t, await attempt(app, 'johndoe', 'wrong-password'), true, 'the sixth failure'), 2, 'then the wait doubles')
    })

    t.test('an unknown username is answered exactly as an existing one', async (t) => {
      const [app] = await appsFor(t, mode, { token: false }) as [FastifyInstance]
      await createUser(app, johndoe)
      const answers = async (username: string) => {
        const seen: Array<[number, string, unknown]> = []
        for (let i = 0; i < 6; i++) {
          const res = await attempt(app, username, 'wrong-password')
          seen.push([res.statusCode, String(res.headers['retry-after']), res.json()])
        }
        return seen
      }
      const existing = await answers('johndoe')
      t.same(await answers('nobody-here'), existing, 'the same statuses, Retry-After and bodies')
      t.equal(existing[5]?.[0], 429, 'both are held after five failures')
    })

    t.test('a success forgets the failures; the username is counted in any letter case', async (t) => {
      const [app] = await appsFor(t, mode, { token: false }) as [FastifyInstance]
      await createUser(app, johndoe)
      for (let i = 0; i < 4; i++) await attempt(app, 'johndoe', 'wrong-password')
      t.equal((await attempt(app, 'johndoe', johndoe.password)).statusCode, 200, 'the fifth attempt succeeds')
      for (let i = 0; i < 4; i++) t.equal((await attempt(app, i % 2 === 0 ? 'johndoe' : 'JohnDoe', 'wrong-password')).statusCode, 401, `failure ${i + 1} after it`)
      t.equal((await attempt(app, 'JOHNDOE', 'wrong-password')).statusCode, 401, 'the fifth failure, in capitals')
      t.equal((await attempt(app, 'johndoe', johndoe.password)).statusCode, 429, 'the case variants counted as one name')
    })

    t.test('parallel guesses cannot slip past: two checked at a time per instance, five in all over four instances', async (t) => {
      const apps = await appsFor(t, mode, { token: false }, 4)
      await createUser(apps[0] as FastifyInstance, johndoe)
      const one = await Promise.all(Array.from({ length: 20 }, async () => await attempt(apps[0] as FastifyInstance, 'nobody', 'wrong-password')))
      t.same(one.map((r) => r.statusCode).sort(), [401, 401, ...Array(18).fill(429)], 'one instance: two checked, 18 held')
      t.ok(one.filter((r) => r.statusCode === 429).every((r) => r.headers['retry-after'] === '1'), 'held for a second')
      const all = await Promise.all(Array.from({ length: 20 }, async (_, i) => await attempt(apps[i % 4] as FastifyInstance, 'johndoe', 'wrong-password')))
      t.same(all.map((r) => r.statusCode).sort(), [...Array(5).fill(401), ...Array(15).fill(429)], 'four instances at once: exactly 5 checked')
    })

    t.test('many addresses together: past its hourly total the username is slowed, and its owner\'s addresses are not held', async (t) => {
      const [app] = await appsFor(t, mode, { token: false, loginFailuresPerHour: 6 }) as [FastifyInstance]
      await createUser(app, johndoe)
      const home = '192.0.2.200'
      t.equal((await attempt(app, 'johndoe', johndoe.password, home)).statusCode, 200, 'the owner logs in from home')
      for (let i = 1; i <= 6; i++) t.equal((await attempt(app, 'johndoe', 'wrong-password', `192.0.2.${i}`)).statusCode, 401, `address ${i}: one failure`)
      t.equal((await attempt(app, 'johndoe', 'wrong-password', '192.0.2.7')).statusCode, 401, 'past the total, one attempt goes through')
      const retry = assertTooMany(t, await attempt(app, 'johndoe', johndoe.password, '192.0.2.99'), true, 'the next one from a new address')
      t.ok(retry > 590 && retry <= 600, `waits for the next paced slot, 3600 s / 6, not the hour (${retry} s)`)
      // An attacker hammering from 30 addresses is held, the owner from home is not.
      const flood = await Promise.all(Array.from({ length: 30 }, async (_, i) => await attempt(app, 'johndoe', 'wrong-password', `198.18.0.${i + 1}`)))
      t.same([...new Set(flood.map((r) => r.statusCode))], [429], '30 more addresses: all held')
      for (let i = 0; i < 3; i++) t.equal((await attempt(app, 'johndoe', johndoe.password, home)).statusCode, 200, `the owner from home, login ${i + 1}`)
      t.equal((await attempt(app, 'someone-else', 'wrong-password', '192.0.2.99')).statusCode, 401, 'other usernames are not held')
      t.equal((await attempt(app, 'nobody-at-all', 'wrong-password', home)).statusCode, 401, 'a name nobody has: checked as usual')
    })
  })

  test(`${mode}: two instances share the counters`, async (t) => {
    const [one, two] = await appsFor(t, mode, { token: { max: 4, windowSeconds: 60 }, loginBackoffAfter: 3 }, 2) as [FastifyInstance, FastifyInstance]
    await createUser(one, johndoe)
    t.equal((await attempt(one, 'johndoe', 'wrong-password')).statusCode, 401)
    t.equal((await attempt(two, 'johndoe', 'wrong-password')).statusCode, 401)
    t.equal((await attempt(one, 'johndoe', 'wrong-password')).statusCode, 401, 'the third failure, over both')
    assertTooMany(t, await attempt(two, 'johndoe', johndoe.password), true, 'the backoff holds on the other instance')
    assertTooMany(t, await attempt(one, 'nobody', 'wrong-password'), true, 'and the fifth request from the address is over the limit of 4')
  })
}

/** The service with its log captured (warn and above), on an in-memory SQLite database. */
async function loggedApp (t: Test, opts: Partial<ServiceOptions>): Promise<{ app: FastifyInstance, logged: Array<Record<string, unknown>> }> {
  const logged: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { logged.push(JSON.parse(chunk.toString())); done() } })
  const app = Fastify({ ...serviceFastifyOptions('silent'), logger: { level: 'warn', stream } })
  await app.register(service, { secret: testSecret(), bcryptCost: 4, database: 'sqlite::memory:', ...opts })
  t.teardown(async () => await app.close())
  await app.ready()
  return { app, logged }
}

const degradedLines = (logged: Array<Record<string, unknown>>) => logged.filter((line) => String(line.msg).startsWith('throttling degraded'))

test('every route that checks a password shares the login admission: the backoff, its counts, the cap per address', async (t) => {
  const app = await buildApp(t, { throttle: { token: false, passwordChange: false, loginBackoffAfter: 3 } })
  await createUser(app, johndoe)
  const { access_token: token } = (await attempt(app, 'johndoe', johndoe.password, B)).json()
  const auth = { authorization: `Bearer ${token}` }
  const deleteMe = async (password: string, ip = A) =>
    await app.inject({ method: 'DELETE', url: '/users/me/', headers: auth, remoteAddress: ip, payload: { password } })
  const changePassword = async (current: string, ip = A) => await app.inject({
    method: 'POST', url: '/users/me/password', headers: auth, remoteAddress: ip, payload: { current_password: current, new_password: 'another-password-1' }
  })

  // A stolen access token is no password oracle: deletion guesses back off like login guesses.
  const guesses = []
  for (let i = 0; i < 8; i++) guesses.push((await deleteMe(`guess-${i}`)).statusCode)
  t.same(guesses, [400, 400, 400, 429, 429, 429, 429, 429], 'three wrong passwords checked, then held')
  const held = await deleteMe(johndoe.password)
  t.equal(held.statusCode, 429, 'held even with the right password: nothing is checked')
  t.match(held.json().detail, /^Too many requests: retry in \d+ s$/)
  t.ok(Number(held.headers['retry-after']) >= 1, 'Retry-After')
  t.equal((await changePassword(johndoe.password)).statusCode, 429, 'a password change from that address is held too')
  assertTooMany(t, await attempt(app, 'johndoe', johndoe.password), true, 'and so is a login: the counts are shared')

  t.equal((await changePassword(johndoe.password, B)).statusCode, 204, 'the owner, from their own address, is not held')
})

test('at most two password checks from one address at once, whichever route they come through', async (t) => {
  // No backoff within reach, and bcrypt slow enough for checks to overlap: only the cap holds.
  const app = await buildApp(t, { bcryptCost: 8, throttle: { token: false, passwordChange: false, loginBackoffAfter: 1000 } })
  await createUser(app, johndoe)
  const { access_token: token } = (await attempt(app, 'johndoe', johndoe.password, B)).json()
  const headers = { authorization: `Bearer ${token}` }
  const burst = await Promise.all(Array.from({ length: 12 }, async (_, i) => i % 2 === 0
    ? await app.inject({ method: 'DELETE', url: '/users/me/', headers, remoteAddress: A, payload: { password: `burst-${i}` } })
    : await app.inject({ method: 'POST', url: '/users/me/password', headers, remoteAddress: A, payload: { current_password: `burst-${i}`, new_password: 'another-password-1' } })))
  const statuses = burst.map((r) => r.statusCode)
  t.same([...new Set(statuses)].filter((s) => s !== 400 && s !== 429), [], `only 400 and 429 (${statuses.join(' ')})`)
  const held = burst.filter((r) => r.statusCode === 429)
  t.ok(held.length > 0, `some were held (${held.length})`)
  t.ok(held.every((r) => r.headers['retry-after'] === '1'), 'each held for a second: the cap, not a backoff')
  t.equal((await attempt(app, 'johndoe', johndoe.password, A)).statusCode, 200, 'once they are done, the address logs in')
})

test('the database counters unusable: requests are answered unthrottled, and the log says so', async (t) => {
  const { app, logged } = await loggedApp(t, { throttle: { token: { max: 1, windowSeconds: 60 } } })
  await sql`drop table auth_rate_limits`.execute(app.db)
  await sql`drop table auth_login_failures`.execute(app.db)
  await createUser(app, johndoe)
  const answers = []
  for (let i = 0; i < 3; i++) answers.push((await attempt(app, 'johndoe', johndoe.password)).statusCode)
  t.same(answers, [200, 200, 200], 'logins go on, with no 5xx')
  t.equal(degradedLines(logged).length, 1, 'one warning says the throttling is degraded (at most one a minute)')
  t.equal(degradedLines(logged)[0]?.counters, 'database', 'naming where the counters are')
})

test('Redis stopped: requests are answered unthrottled, the log says degraded, and the limits come back with it', { skip: redisServerBin === undefined }, async (t) => {
  const redis = await startRedis(t)
  const { app, logged } = await loggedApp(t, { redisUrl: redis.url, throttle: { token: { max: 2, windowSeconds: 60 } } })
  await createUser(app, johndoe)
  t.equal((await attempt(app, 'johndoe', johndoe.password)).statusCode, 200)
  await redis.stop()
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await attempt(app, 'johndoe', johndoe.password)).statusCode)
  t.same(statuses, [200, 200, 200, 200], 'answered, unthrottled, while Redis is away')
  t.ok(degradedLines(logged).length >= 1, 'the log says the throttling is degraded')
  t.notOk(logged.some((line) => Number(line.level) >= 50), 'nothing at error level')
  await redis.start()
  if (app.redis !== undefined && app.redis.status !== 'ready') await once(app.redis, 'ready')
  const after = []
  for (let i = 0; i < 3; i++) after.push((await attempt(app, 'johndoe', johndoe.password)).statusCode)
  t.same(after, [200, 200, 429], 'with Redis back (empty), the limit holds again')
})

test('bad throttle options stop the plugin with a message naming the option', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ token: { max: 0, windowSeconds: 60 } }, /throttle\.token\.max must be a whole number from 1 to 1000000, got the number 0/],
    [{ token: { max: 5, windowSeconds: 86_401 } }, /throttle\.token\.windowSeconds must be a whole number from 1 to 86400/],
    [{ token: 'off' }, /throttle\.token must be false or \{ max, windowSeconds \}, got a string/],
    [{ token: { max: 5 } }, /throttle\.token\.windowSeconds must be a whole number from 1 to 86400, got nothing/],
    [{ revoke: { max: 5, windowSeconds: 60, burst: 2 } }, /unknown option throttle\.revoke\.burst/],
    [{ loginBackoffAfter: 0 }, /throttle\.loginBackoffAfter must be false or a whole number from 1 to 1000/],
    [{ loginFailuresPerHour: 1.5 }, /throttle\.loginFailuresPerHour/],
    [{ redis: 'redis://localhost' }, /throttle\.redis must be an ioredis client/],
    [{ tokens: false }, /unknown option throttle\.tokens/],
    ['off', /throttle must be false or an object/]
  ]
  for (const [throttle, message] of cases) {
    await t.rejects(buildApp(t, { throttle: throttle as ServiceOptions['throttle'] }), message, JSON.stringify(throttle))
  }
})
