import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { sql, type Kysely } from 'kysely'
import t, { type Test } from 'tap'
import type { Engine } from '../../src/db/dialect.js'
import type { AuthDatabase } from '../../src/db/types.js'
import type { ItemsDatabase } from '../../src/service/items/items-repository.js'
import { alice, bearer, buildApp, createUser, engines, forEachEngine, johndoe, loginPair, refresh, requestToken, type TestUser } from '../helper.js'

const DAY_MS = 86_400_000
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43,}$/

let userCount = 0
/** A user of its own for a test, on an app the tests of a group share. */
async function someone (app: FastifyInstance, extra: Partial<TestUser> = {}): Promise<TestUser> {
  const user = { username: `user${++userCount}`, password: `password-${userCount}`, ...extra }
  await createUser(app, user)
  return user
}

type Db = Kysely<AuthDatabase & ItemsDatabase>
const dbOf = (app: FastifyInstance) => app.db as Db

function claims (token: string): { sub: string, sid: string, exp: number, iat: number } {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString())
}
const sidOf = (token: string) => claims(token).sid
const iso = (ms: number) => new Date(ms).toISOString()

const me = async (app: FastifyInstance, accessToken: string) => await app.inject({ url: '/users/me/', headers: bearer(accessToken) })

/** A 401 for a token of an ended (or expired) session. */
function assertInvalidToken (t: Test, res: LightMyRequestResponse, what: string) {
  t.equal(res.statusCode, 401, `${what}: 401`)
  t.same(res.json(), { detail: 'Could not validate credentials' }, `${what}: body`)
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', `${what}: WWW-Authenticate`)
}

/** RFC 6749 §5.2 error with the tutorial's detail beside it, never cached. */
function assertOAuthError (t: Test, res: LightMyRequestResponse, code: string, what: string) {
  t.equal(res.statusCode, 400, `${what}: 400`)
  t.equal(res.headers['cache-control'], 'no-store', `${what}: no-store`)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['detail', 'error', 'error_description'], `${what}: the error keys`)
  t.equal(body.error, code, `${what}: ${code}`)
  t.type(body.detail, 'string')
  t.ok(body.detail.length > 0, `${what}: a detail`)
  t.equal(body.error_description, body.detail, `${what}: error_description is the detail`)
}
const assertInvalidGrant = (t: Test, res: LightMyRequestResponse, what: string) => { assertOAuthError(t, res, 'invalid_grant', what) }

/** The names of every table of the app's database (its own schema only, on PostgreSQL). */
async function tableNames (db: Db, engine: Engine): Promise<string[]> {
  const query = engine === 'sqlite'
    ? sql<{ name: string }>`select name from sqlite_master where type = 'table'`
    : sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`
  return (await query.execute(db)).rows.map((row) => row.name)
}

/** Every value of every row of every table, as one string. */
async function everyStoredValue (db: Db, engine: Engine): Promise<string> {
  const dump: unknown[] = []
  for (const table of await tableNames(db, engine)) dump.push(await (db as Kysely<any>).selectFrom(table).selectAll().execute())
  return JSON.stringify(dump)
}

forEachEngine(t, async (t, engine) => {
  const app = await buildApp(t, {}, engine)
  const db = dbOf(app)
  // Options of their own: no reuse window, short idle and absolute limits.
  const strict = await buildApp(t, { refreshTokenReuseSeconds: 0, refreshTokenExpireDays: 2, sessionMaxDays: 3 }, engine)

  t.test('the password grant answers a refresh token and opens a session', async (t) => {
    await createUser(app, johndoe)
    const before = Date.now()
    const res = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'TestBrowser/1.0 (refresh suite)' },
      payload: new URLSearchParams({ username: johndoe.username, password: johndoe.password }).toString()
    })
    const after = Date.now()
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    t.equal(body.token_type, 'bearer')
    t.equal(body.expires_in, 1800)
    t.match(body.refresh_token, REFRESH_TOKEN, 'opaque base64url, 43 characters or more')
    t.ok(Buffer.from(body.refresh_token, 'base64url').length >= 32, 'at least 256 bits')
    t.equal(body.refresh_token.split('.').length, 1, 'not a JWT')

    const { sid, sub } = claims(body.access_token)
    t.equal(sub, 'johndoe')
    t.type(sid, 'string')
    t.ok(sid.length > 0, 'the access token carries a sid')

    const session = await db.selectFrom('sessions').selectAll().where('id', '=', sid).executeTakeFirst()
    t.ok(session, 'a session row of that sid')
    if (session === undefined) return
    t.equal(session.username, 'johndoe')
    t.equal(session.user_agent, 'TestBrowser/1.0 (refresh suite)')
    const created = Date.parse(session.created_at)
    t.ok(created >= before - 1 && created <= after + 1, 'created now')
    t.equal(session.last_used_at, session.created_at, 'last used at the login')
    t.equal(Date.parse(session.expires_at) - created, 14 * DAY_MS, 'idle expiry 14 days on')
    t.equal(Date.parse(session.absolute_expires_at) - created, 90 * DAY_MS, 'absolute expiry 90 days on')

    const stored = await db.selectFrom('refresh_tokens').selectAll().where('session_id', '=', sid).execute()
    t.equal(stored.length, 1, 'one refresh token in the session')
    const row = stored[0]
    t.not(row?.token_hash, body.refresh_token, 'the hash, not the token')
    const sha256 = createHash('sha256').update(body.refresh_token).digest()
    t.ok([sha256.toString('hex'), sha256.toString('base64url'), sha256.toString('base64')].includes(row?.token_hash ?? ''), 'its SHA-256')
    t.equal(row?.spent_at, null, 'unspent')
    const tables = await tableNames(db, engine)
    for (const table of ['users', 'sessions', 'refresh_tokens', 'items']) t.ok(tables.includes(table), `${table} is searched`)
    const stored1 = await everyStoredValue(db, engine)
    t.ok(stored1.includes(sid), 'the search sees the session id')
    t.notOk(stored1.includes(body.refresh_token), 'the refresh token is in no column of any table')

    // The token a refresh answers is not stored either.
    const next = (await refresh(app, body.refresh_token)).json()
    t.match(next.refresh_token, REFRESH_TOKEN)
    const dump = await everyStoredValue(db, engine)
    t.notOk(dump.includes(next.refresh_token), 'nor is the rotated one')
    t.notOk(dump.includes(body.refresh_token), 'nor the spent one')
  })

  t.test('every login is a session of its own, with a refresh token of its own', async (t) => {
    const user = await someone(app)
    const first = await loginPair(app, user)
    const second = await loginPair(app, user)
    t.not(first.refresh_token, second.refresh_token)
    t.not(sidOf(first.access_token), sidOf(second.access_token))
    const rows = await db.selectFrom('sessions').select('id').where('username', '=', user.username).execute()
    t.same(rows.map((row) => row.id).sort(), [sidOf(first.access_token), sidOf(second.access_token)].sort())
  })

  t.test('a refresh answers a new pair in the same session', async (t) => {
    const user = await someone(app)
    const pair = await loginPair(app, user)
    const res = await refresh(app, pair.refresh_token)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(res.headers.pragma, 'no-cache')
    const body = res.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    t.equal(body.token_type, 'bearer')
    t.equal(body.expires_in, 1800)
    t.match(body.refresh_token, REFRESH_TOKEN)
    t.not(body.refresh_token, pair.refresh_token, 'a new refresh token')
    t.equal(sidOf(body.access_token), sidOf(pair.access_token), 'the same session')
    t.equal(claims(body.access_token).sub, user.username)
    const mine = await me(app, body.access_token)
    t.equal(mine.statusCode, 200, 'the new access token works')
    t.equal(mine.json().username, user.username)
    t.equal((await me(app, pair.access_token)).statusCode, 200, 'the previous access token lives on until it expires')

    const spent = await db.selectFrom('refresh_tokens').select('spent_at').where('session_id', '=', sidOf(pair.access_token)).where('spent_at', 'is not', null).execute()
    t.equal(spent.length, 1, 'the presented token is spent')

    // The rotation goes on with the new one.
    const again = await refresh(app, body.refresh_token)
    t.equal(again.statusCode, 200)
    t.equal(sidOf(again.json().access_token), sidOf(pair.access_token))
    t.not(again.json().refresh_token, body.refresh_token)
  })

  t.test('a refresh answers a new access token, not the previous one again', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const body = (await refresh(app, pair.refresh_token)).json()
    // Within the same second too: each token has an id of its own (jti).
    t.not(body.access_token, pair.access_token, 'a new access token')
    t.equal(sidOf(body.access_token), sidOf(pair.access_token))
  })

  t.test('Cache-Control: no-store on every token response', async (t) => {
    const user = await someone(app)
    const pair = await loginPair(app, user)
    const responses: Array<[string, LightMyRequestResponse]> = [
      ['password grant', await requestToken(app, { username: user.username, password: user.password })],
      ['wrong password', await requestToken(app, { username: user.username, password: 'not-the-password' })],
      ['refresh', await refresh(app, pair.refresh_token)],
      ['unknown refresh token', await refresh(app, 'no-such-token')],
      ['no refresh token', await requestToken(app, { grant_type: 'refresh_token' })],
      ['unsupported grant', await requestToken(app, { grant_type: 'client_credentials' })],
      ['not a form', await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/json' }, payload: '{}' })]
    ]
    t.same(responses.map(([, res]) => res.statusCode), [200, 401, 200, 400, 400, 400, 400])
    for (const [what, res] of responses) {
      t.equal(res.headers['cache-control'], 'no-store', what)
      t.equal(res.headers.pragma, 'no-cache', what)
    }
  })

  t.test('a spent token presented again within the reuse window gets a fresh pair of the same session', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const sid = sidOf(pair.access_token)
    const first = await refresh(app, pair.refresh_token)
    t.equal(first.statusCode, 200)
    const retry = await refresh(app, pair.refresh_token)
    t.equal(retry.statusCode, 200, 'a retry gets 200')
    t.equal(retry.headers['cache-control'], 'no-store')
    t.equal(sidOf(retry.json().access_token), sid, 'in the same session')
    t.match(retry.json().refresh_token, REFRESH_TOKEN)
    t.not(retry.json().refresh_token, first.json().refresh_token, 'with a refresh token of its own')
    t.not(retry.json().refresh_token, pair.refresh_token)

    // Both refresh tokens handed out are usable, and the session is alive.
    t.equal((await refresh(app, first.json().refresh_token)).statusCode, 200, 'the first new refresh token works')
    const onward = await refresh(app, retry.json().refresh_token)
    t.equal(onward.statusCode, 200, 'so does the retry\'s')
    t.equal((await me(app, onward.json().access_token)).statusCode, 200)
  })

  t.test('a spent token replayed within the window mints one more pair, not a family: a third presentation is reuse', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const sid = sidOf(pair.access_token)
    // Still inside the default 10 seconds, however the time goes.
    t.equal((await refresh(app, pair.refresh_token)).statusCode, 200, 'spent')
    await db.updateTable('refresh_tokens').set({ spent_at: iso(Date.now() - 8000) }).where('session_id', '=', sid).where('spent_at', 'is not', null).execute()
    const late = await refresh(app, pair.refresh_token)
    t.equal(late.statusCode, 200, 'replayed 8 seconds after it was spent: one more pair')
    t.equal(sidOf(late.json().access_token), sid)
    const third = await refresh(app, pair.refresh_token)
    assertInvalidGrant(t, third, 'a third presentation')
    t.match(third.json().detail, /already used/)
    assertInvalidToken(t, await me(app, late.json().access_token), 'the session has ended: the replay\'s access token')
    assertInvalidGrant(t, await refresh(app, late.json().refresh_token), 'and its refresh token')
    // 200 replays of one spent token within the window: no more than two live successors, ever.
    const other = await loginPair(app, await someone(app))
    const replays = []
    for (let i = 0; i < 200; i++) replays.push(await refresh(app, other.refresh_token))
    t.equal(replays.filter((res) => res.statusCode === 200).length, 2, '200 replays: 2 pairs')
  })

  t.test('ten concurrent refreshes with one token: at most two pairs, and the rest is reuse that ends the session', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const sid = sidOf(pair.access_token)
    const results = await Promise.all(Array.from({ length: 10 }, async () => await refresh(app, pair.refresh_token)))
    const granted = results.filter((res) => res.statusCode === 200)
    t.ok(granted.length >= 1 && granted.length <= 2, `one spend and at most one replay (${granted.length} pairs)`)
    for (const res of results.filter((res) => res.statusCode !== 200)) assertInvalidGrant(t, res, 'another')
    t.notOk(await db.selectFrom('sessions').select('id').where('id', '=', sid).executeTakeFirst(), 'the session row is gone')
  })

  t.test('a spent token presented after the window revokes its whole session (refreshTokenReuseSeconds: 0)', async (t) => {
    const app = strict
    const user = await someone(app)
    const stolen = await loginPair(app, user)
    const otherSession = await loginPair(app, user)
    const janes = await loginPair(app, await someone(app))
    const rotated = await refresh(app, stolen.refresh_token)
    t.equal(rotated.statusCode, 200)
    await sleep(5)
    const replay = await refresh(app, stolen.refresh_token)
    assertInvalidGrant(t, replay, 'the replay')
    t.match(replay.json().detail, /already used/)

    assertInvalidToken(t, await me(app, stolen.access_token), 'the session\'s first access token')
    assertInvalidToken(t, await me(app, rotated.json().access_token), 'its newest access token')
    assertInvalidGrant(t, await refresh(app, rotated.json().refresh_token), 'its newer refresh token')
    t.notOk(await dbOf(strict).selectFrom('sessions').select('id').where('id', '=', sidOf(stolen.access_token)).executeTakeFirst(), 'the session row is gone')

    t.equal((await me(app, otherSession.access_token)).statusCode, 200, 'another session of the user is untouched')
    t.equal((await refresh(app, otherSession.refresh_token)).statusCode, 200, 'and refreshes')
    t.equal((await me(app, janes.access_token)).statusCode, 200, 'another user is untouched')
    t.equal((await refresh(app, janes.refresh_token)).statusCode, 200)
  })

  t.test('a spent token presented after the default window of 10 seconds revokes its session', async (t) => {
    const user = await someone(app)
    const pair = await loginPair(app, user)
    const other = await loginPair(app, user)
    const sid = sidOf(pair.access_token)
    const rotated = (await refresh(app, pair.refresh_token)).json()
    const newest = (await refresh(app, rotated.refresh_token)).json()
    // Spent 11 seconds ago.
    await db.updateTable('refresh_tokens').set({ spent_at: iso(Date.now() - 11_000) }).where('session_id', '=', sid).where('spent_at', 'is not', null).execute()
    assertInvalidGrant(t, await refresh(app, pair.refresh_token), 'the replay')
    assertInvalidToken(t, await me(app, newest.access_token), 'the session\'s access token, on the very next request')
    assertInvalidGrant(t, await refresh(app, newest.refresh_token), 'its unspent refresh token')
    assertInvalidGrant(t, await refresh(app, rotated.refresh_token), 'its other spent refresh token')
    t.equal((await me(app, other.access_token)).statusCode, 200, 'another session of the user is untouched')
    t.equal((await refresh(app, other.refresh_token)).statusCode, 200)
  })

  t.test('invalid_grant', async (t) => {
    const john = await someone(app)
    await createUser(app, alice)
    const jane = await someone(app)

    t.test('for an unknown refresh token', async (t) => {
      for (const token of [randomBytes(32).toString('base64url'), 'garbage', 'a.b.c', 'x'.repeat(2000)]) {
        const res = await refresh(app, token)
        assertInvalidGrant(t, res, token.slice(0, 20))
        t.match(res.json().detail, /invalid|revoked/)
      }
      const pair = await loginPair(app, john)
      assertInvalidGrant(t, await refresh(app, pair.access_token), 'an access token is no refresh token')
      assertInvalidGrant(t, await refresh(app, `${pair.refresh_token}x`), 'a refresh token with one more character')
      t.equal((await refresh(app, pair.refresh_token)).statusCode, 200, 'the real one still works')
    })

    t.test('for an expired session, which then stays ended', async (t) => {
      const pair = await loginPair(app, john)
      const sid = sidOf(pair.access_token)
      await db.updateTable('sessions').set({ expires_at: iso(Date.now() - 1000) }).where('id', '=', sid).execute()
      const res = await refresh(app, pair.refresh_token)
      assertInvalidGrant(t, res, 'expired')
      t.match(res.json().detail, /expired/)
      assertInvalidGrant(t, await refresh(app, pair.refresh_token), 'again')
      assertInvalidToken(t, await me(app, pair.access_token), 'its access token')
    })

    t.test('for a revoked session', async (t) => {
      const byLogout = await loginPair(app, john)
      t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(byLogout.access_token) })).statusCode, 204)
      assertInvalidGrant(t, await refresh(app, byLogout.refresh_token), 'after logout')
      const byHost = await loginPair(app, john)
      t.equal(await app.tokenAuth.sessions.end(john.username, sidOf(byHost.access_token)), true)
      assertInvalidGrant(t, await refresh(app, byHost.refresh_token), 'after sessions.end')
    })

    t.test('for a deleted user', async (t) => {
      await createUser(app, { username: 'doomed', password: 'doomed-password' })
      const pair = await loginPair(app, { username: 'doomed', password: 'doomed-password' })
      t.equal(await app.tokenAuth.users.delete('doomed'), true)
      assertInvalidGrant(t, await refresh(app, pair.refresh_token), 'deleted')
      assertInvalidToken(t, await me(app, pair.access_token), 'its access token')
      // A new account of the same name does not inherit the session.
      await createUser(app, { username: 'doomed', password: 'reborn-password' })
      assertInvalidGrant(t, await refresh(app, pair.refresh_token), 'after a namesake registers')
    })

    t.test('for a disabled user', async (t) => {
      // alice is disabled, yet may log in (as in the tutorial): her session cannot be refreshed.
      const alices = await loginPair(app, alice)
      const res = await refresh(app, alices.refresh_token)
      assertInvalidGrant(t, res, 'alice')
      t.match(res.json().detail, /Inactive user/)

      const pair = await loginPair(app, jane)
      await app.tokenAuth.users.setDisabled(jane.username, true)
      assertInvalidGrant(t, await refresh(app, pair.refresh_token), 'jane, disabled after her login')
      await app.tokenAuth.users.setDisabled(jane.username, false)
      assertInvalidGrant(t, await refresh(app, pair.refresh_token), 'that session ended: enabling again does not bring it back')
      t.equal((await refresh(app, (await loginPair(app, jane)).refresh_token)).statusCode, 200, 'a new login works')
    })
  })

  t.test('a missing refresh_token is an invalid_request; another grant type is unsupported', async (t) => {
    const forms: Array<Record<string, string>> = [{ grant_type: 'refresh_token' }, { grant_type: 'refresh_token', refresh_token: '' }]
    for (const form of forms) {
      const res = await requestToken(app, form)
      assertOAuthError(t, res, 'invalid_request', JSON.stringify(form))
      t.match(res.json().detail, /\brefresh_token\b/, 'names the field')
    }
    for (const grant of ['client_credentials', 'authorization_code', 'REFRESH_TOKEN', 'refresh-token']) {
      const res = await requestToken(app, { grant_type: grant, refresh_token: 'whatever' })
      assertOAuthError(t, res, 'unsupported_grant_type', grant)
    }
  })

  t.test('a refresh moves the idle expiry on', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const sid = sidOf(pair.access_token)
    // As if logged in a day ago and last refreshed an hour ago, with an hour left.
    const dayAgo = iso(Date.now() - DAY_MS)
    await db.updateTable('sessions').set({
      created_at: dayAgo,
      last_used_at: iso(Date.now() - 3_600_000),
      expires_at: iso(Date.now() + 3_600_000),
      absolute_expires_at: iso(Date.parse(dayAgo) + 90 * DAY_MS)
    }).where('id', '=', sid).execute()
    const before = Date.now()
    const res = await refresh(app, pair.refresh_token)
    const after = Date.now()
    t.equal(res.statusCode, 200)
    t.equal(res.json().expires_in, 1800)
    const row = await db.selectFrom('sessions').selectAll().where('id', '=', sid).executeTakeFirstOrThrow()
    const expires = Date.parse(row.expires_at)
    t.ok(expires >= before + 14 * DAY_MS && expires <= after + 14 * DAY_MS, 'expires 14 days after the refresh')
    const lastUsed = Date.parse(row.last_used_at)
    t.ok(lastUsed >= before && lastUsed <= after, 'last used now')
    t.equal(row.created_at, dayAgo, 'created when it was')

    const listed = (await app.inject({ url: '/users/me/sessions', headers: bearer(res.json().access_token) })).json()
    t.equal(listed[0]?.expires_at, row.expires_at, 'the owner sees the new expiry')
  })

  t.test('the idle and absolute limits follow the options', async (t) => {
    const pair = await loginPair(strict, await someone(strict))
    const row = await dbOf(strict).selectFrom('sessions').selectAll().where('id', '=', sidOf(pair.access_token)).executeTakeFirstOrThrow()
    t.equal(Date.parse(row.expires_at) - Date.parse(row.created_at), 2 * DAY_MS, 'refreshTokenExpireDays')
    t.equal(Date.parse(row.absolute_expires_at) - Date.parse(row.created_at), 3 * DAY_MS, 'sessionMaxDays')
  })

  t.test('a refresh never moves the expiry past the absolute limit', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const sid = sidOf(pair.access_token)
    // Logged in (almost) 90 days ago: two minutes of the absolute limit are left.
    const limit = iso(Date.now() + 120_000)
    await db.updateTable('sessions').set({ created_at: iso(Date.parse(limit) - 90 * DAY_MS), absolute_expires_at: limit }).where('id', '=', sid).execute()
    const res = await refresh(app, pair.refresh_token)
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.ok(body.expires_in <= 120 && body.expires_in >= 110, `expires_in capped at the absolute limit (${String(body.expires_in)})`)
    const exp = claims(body.access_token).exp
    t.ok(Math.abs(exp * 1000 - Date.parse(limit)) <= 1000, 'the access token expires with the session')
    const row = await db.selectFrom('sessions').selectAll().where('id', '=', sid).executeTakeFirstOrThrow()
    t.equal(row.expires_at, limit, 'expires_at is the absolute limit')
    t.equal(row.absolute_expires_at, limit, 'which does not move')
    const listed = (await app.inject({ url: '/users/me/sessions', headers: bearer(body.access_token) })).json()
    t.equal(listed[0]?.expires_at, limit)

    // Refreshed again, still capped.
    const again = await refresh(app, body.refresh_token)
    t.equal(again.statusCode, 200)
    t.ok(again.json().expires_in <= 120)
    t.equal((await db.selectFrom('sessions').select('expires_at').where('id', '=', sid).executeTakeFirstOrThrow()).expires_at, limit)

    // Past the limit the session is over.
    await db.updateTable('sessions').set({ expires_at: iso(Date.now() - 1), absolute_expires_at: iso(Date.now() - 1) }).where('id', '=', sid).execute()
    assertInvalidGrant(t, await refresh(app, again.json().refresh_token), 'past the absolute limit')
    assertInvalidToken(t, await me(app, again.json().access_token), 'and its access token')
  })

  t.test('protected routes refuse the access token of a revoked or expired session', async (t) => {
    const user = await someone(app)
    const revoked = await loginPair(app, user)
    const expired = await loginPair(app, user)
    const alive = await loginPair(app, user)
    for (const pair of [revoked, expired, alive]) t.equal((await me(app, pair.access_token)).statusCode, 200, 'works before')
    await app.tokenAuth.sessions.end(user.username, sidOf(revoked.access_token))
    await db.updateTable('sessions').set({ expires_at: iso(Date.now() - 1000) }).where('id', '=', sidOf(expired.access_token)).execute()
    for (const [what, pair] of [['revoked', revoked], ['expired', expired]] as const) {
      for (const url of ['/users/me/', '/users/me/items/', '/users/me/sessions']) {
        assertInvalidToken(t, await app.inject({ url, headers: bearer(pair.access_token) }), `${what} ${url}`)
      }
      assertInvalidToken(t, await app.inject({ method: 'POST', url: '/logout', headers: bearer(pair.access_token) }), `${what} logout`)
    }
    t.equal((await me(app, alive.access_token)).statusCode, 200, 'the live session still works')
  })
})

t.test('a refresh that PostgreSQL ends to break a deadlock runs again and succeeds', { skip: !engines.includes('postgres') && 'no PostgreSQL (TEST_POSTGRES_URL)' }, async (t) => {
  const app = await buildApp(t, {}, 'postgres')
  const db = dbOf(app)
  const user = await someone(app)
  const pair = await loginPair(app, user)
  const sid = sidOf(pair.access_token)
  const deadlocks = async () => Number((await sql<{ deadlocks: string }>`select deadlocks from pg_stat_database where datname = current_database()`.execute(db)).rows[0]?.deadlocks)
  const before = await deadlocks()
  // Another writer takes the session's row, then waits for the token's: the refresh holds the
  // token's row and waits for the session's. PostgreSQL ends the refresh's transaction (it
  // waited first, so its deadlock check runs first; the writer's is put off).
  let answer: Promise<LightMyRequestResponse> | undefined
  await db.transaction().execute(async (trx) => {
    await sql`set local deadlock_timeout = '30s'`.execute(trx)
    await trx.updateTable('sessions').set({ last_used_at: sql`last_used_at` }).where('id', '=', sid).execute()
    const writer = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]?.pid
    answer = refresh(app, pair.refresh_token)
    // Until the refresh waits on a lock the writer holds.
    for (let waiting = 0; waiting === 0;) {
      await sleep(10)
      waiting = (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where ${writer} = any(pg_blocking_pids(pid))`.execute(db)).rows[0]?.n ?? 0
    }
    await trx.updateTable('refresh_tokens').set({ spent_at: sql`spent_at` }).where('session_id', '=', sid).execute()
  })
  const res = await (answer as Promise<LightMyRequestResponse>)
  t.equal(res.statusCode, 200, 'the refresh answers 200', { body: res.body })
  t.equal((await me(app, res.json().access_token)).statusCode, 200, 'its access token works')
  t.equal(sidOf(res.json().access_token), sid, 'in the same session')
  t.equal((await refresh(app, res.json().refresh_token)).statusCode, 200, 'and its refresh token refreshes')
  // The statistics collector reports within a second or so.
  let after = await deadlocks()
  for (let i = 0; i < 50 && after === before; i++) { await sleep(100); await sql`select pg_stat_clear_snapshot()`.execute(db); after = await deadlocks() }
  t.equal(after - before, 1, 'PostgreSQL did break one deadlock')
})
