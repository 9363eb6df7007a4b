import { Writable } from 'node:stream'
import { hash } from '@node-rs/bcrypt'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { Engine } from '../../src/db/dialect.js'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service from '../../src/service/app.js'
import { bearer, createUser, forEachEngine, freshDatabaseUrl, loginPair, requestToken, testSecret, type TestUser } from '../helper.js'

// Logins with the old credentials in flight while an account changes: each one reads the hash,
// spends bcrypt, then opens its session. None of those sessions may outlive the change.
const TRIALS = 8
// Logins started during one change, one every STAGGER_MS (or spread over the change's own
// duration, measured once) from different addresses.
const LOGINS = 16
const STAGGER_MS = 4
// bcrypt slow enough (a few ms) that logins overlap the change's own bcrypt work.
const BCRYPT_COST = 7

const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

let userCount = 0
/** A user of its own; with `cost`, its password hashed at another cost than the app's (a login rehashes it). */
async function someone (app: FastifyInstance, cost?: number): Promise<TestUser> {
  const n = ++userCount
  const user = { username: `racer${n}`, password: `old-password-${n}` }
  if (cost === undefined) await createUser(app, user)
  else await app.tokenAuth.users.create({ username: user.username, hashedPassword: await hash(user.password, cost) })
  return user
}

/** The service on a fresh database, counting the logins its session gate refused (from the audit log). */
async function gatedApp (t: Test, engine: Engine): Promise<{ app: FastifyInstance, gated: () => number }> {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  const database = await freshDatabaseUrl(t, engine)
  const app = Fastify({ ...serviceFastifyOptions('silent'), logger: { level: 'info', stream } })
  await app.register(service, { secret: testSecret(), bcryptCost: BCRYPT_COST, throttle: false, database })
  t.teardown(async () => await app.close())
  await app.ready()
  return { app, gated: () => lines.filter((line) => line.audit === 'login.failed' && line.reason === 'credentials_changed').length }
}

/** LOGINS logins of `user` with its (old) password, staggered, from their own addresses. */
function loginsInFlight (app: FastifyInstance, user: TestUser, stagger = STAGGER_MS): Array<Promise<LightMyRequestResponse>> {
  return Array.from({ length: LOGINS }, async (_, i) => {
    await sleep(i * stagger)
    return await requestToken(app, { username: user.username, password: user.password }, { remoteAddress: `10.0.0.${i + 1}` })
  })
}

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).sid

/**
 * The logins that answered 200 and still have a live session once the change is done: their
 * access token still answers, or their refresh token still refreshes.
 */
async function survivors (app: FastifyInstance, logins: LightMyRequestResponse[], changer: string | undefined) {
  let granted = 0
  let alive = 0
  let refused = 0
  for (const res of logins) {
    if (res.statusCode === 401) refused++
    // Refused logins are told the credentials are wrong: never a 5xx.
    if (res.statusCode !== 200) {
      if (res.statusCode !== 401) throw new Error(`login answered ${res.statusCode}: ${res.body}`)
      continue
    }
    granted++
    const { access_token: access, refresh_token: refreshToken } = res.json()
    if (sidOf(access) === changer) throw new Error('a login got the changer\'s session')
    const me = await app.inject({ method: 'GET', url: '/users/me/', headers: bearer(access) })
    const refreshed = await requestToken(app, { grant_type: 'refresh_token', refresh_token: refreshToken })
    if (me.statusCode === 200 || refreshed.statusCode === 200) alive++
  }
  return { granted, alive, refused }
}

forEachEngine(t, async (t, engine) => {
  const { app, gated } = await gatedApp(t, engine)

  const changes: Record<string, (app: FastifyInstance, user: TestUser) => Promise<string | undefined>> = {
    'POST /users/me/password': async (app, user) => {
      const pair = await loginPair(app, user)
      const res = await app.inject({
        method: 'POST',
        url: '/users/me/password',
        headers: bearer(pair.access_token),
        payload: { current_password: user.password, new_password: `${user.password}-new` }
      })
      if (res.statusCode !== 204) throw new Error(`password change answered ${res.statusCode}: ${res.body}`)
      return sidOf(pair.access_token)
    },
    'DELETE /users/me/': async (app, user) => {
      const pair = await loginPair(app, user)
      const res = await app.inject({ method: 'DELETE', url: '/users/me/', headers: bearer(pair.access_token), payload: { password: user.password } })
      if (res.statusCode !== 204) throw new Error(`deletion answered ${res.statusCode}: ${res.body}`)
      return undefined
    },
    // As a host (or the CLI) does: the public API's change alone, which ends the sessions itself.
    'set-password through the public API': async (app, user) => {
      await app.tokenAuth.users.setPassword(user.username, await app.tokenAuth.hashPassword(`${user.password}-set`))
      return undefined
    },
  }

  for (const [change, run] of Object.entries(changes)) {
    t.test(`${change}: no login in flight with the old credentials keeps a session`, async (t) => {
      let granted = 0
      let refused = 0
      const gatedBefore = gated()
      // The logins span the change, however long it takes on this engine and machine.
      const started = performance.now()
      await run(app, await someone(app))
      const stagger = Math.max(STAGGER_MS, Math.ceil((performance.now() - started) * 1.5 / LOGINS))
      for (let trial = 0; trial < TRIALS; trial++) {
        const user = await someone(app)
        const logins = loginsInFlight(app, user, stagger)
        const changer = await run(app, user)
        const outcome = await survivors(app, await Promise.all(logins), changer)
        t.equal(outcome.alive, 0, `trial ${trial + 1}: ${outcome.alive} of ${outcome.granted} granted sessions outlived the change`)
        granted += outcome.granted
        refused += outcome.refused
      }
      // Logins whose password was right when checked were refused once the change had landed.
      const raced = gated() - gatedBefore
      t.ok(raced > 0, `the trials raced the change: ${raced} logins refused by the gate (${granted} granted and then ended, ${refused} refused in all)`)
    })
  }

  t.test('logins rehashing an old-cost password in flight cannot write it back over a new one', async (t) => {
    for (let trial = 0; trial < TRIALS; trial++) {
      // Hashed at a lower cost than the app's: each login in flight rehashes the old password.
      const user = await someone(app, BCRYPT_COST - 1)
      const logins = loginsInFlight(app, user)
      await sleep(STAGGER_MS * 2)
      const changed = `${user.password}-changed`
      await app.tokenAuth.users.setPassword(user.username, await app.tokenAuth.hashPassword(changed))
      await app.tokenAuth.sessions.endAll(user.username)
      const outcome = await survivors(app, await Promise.all(logins), undefined)
      t.equal(outcome.alive, 0, `trial ${trial + 1}: no session outlived the change (${outcome.granted} granted)`)
      t.equal((await requestToken(app, { username: user.username, password: changed })).statusCode, 200, `trial ${trial + 1}: the new password logs in`)
      t.equal((await requestToken(app, { username: user.username, password: user.password })).statusCode, 401, `trial ${trial + 1}: the old one does not`)
    }
  })

  t.test('a login racing the deletion of its account answers 401, never 500', async (t) => {
    const gatedBefore = gated()
    let statuses: number[] = []
    for (let trial = 0; trial < TRIALS; trial++) {
      const user = await someone(app)
      const logins = loginsInFlight(app, user)
      await sleep(STAGGER_MS * LOGINS / 2)
      await app.tokenAuth.users.delete(user.username)
      statuses = statuses.concat((await Promise.all(logins)).map((res) => res.statusCode))
    }
    t.same([...new Set(statuses)].filter((status) => status !== 200 && status !== 401), [], `only 200 and 401 (${statuses.length} logins)`)
    t.ok(gated() > gatedBefore, `some logins checked before the deletion lost the race (${gated() - gatedBefore})`)
  })
})
