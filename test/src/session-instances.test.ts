import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { Engine } from '../../src/db/dialect.js'
import {
  INVALID_TOKEN_CHALLENGE, loginOverHttp, me, pairOf, refreshOverHttp, startService, withBearer,
  type HttpAnswer, type ListeningService
} from '../clients/support.js'
import { createUser, forEachEngine, freshDatabaseUrl, otherInstancesCatchUp, testSecret, type TestUser } from '../helper.js'

// Two instances of one deployment (one secret, one database), each listening on loopback and
// driven over HTTP: rotation, reuse detection, logout and a password change decided on one are
// honoured by the other at its next request: at once on PostgreSQL, where nothing is remembered;
// on a shared SQLite file once the staleness bound of its memory of live sessions has passed
// (otherInstancesCatchUp), and refresh tokens at once on both.

/** Two listening instances on one fresh shared database, with the same secret. */
async function deployment (t: Test, engine: Engine, opts: { refreshTokenReuseSeconds?: number } = {}): Promise<[ListeningService, ListeningService]> {
  const database = await freshDatabaseUrl(t, engine, { shared: true })
  const secret = testSecret()
  const a = await startService(t, { ...opts, database, secret }, engine)
  const b = await startService(t, { ...opts, database, secret }, engine)
  return [a, b]
}

const user = (username: string): TestUser => ({ username, password: `${username}-password` })

/** The refusal of an access token whose session has ended (RFC 6750 invalid_token). */
function invalidToken (t: Test, res: HttpAnswer, what: string) {
  t.equal(res.status, 401, what)
  t.equal(res.headers.get('www-authenticate'), INVALID_TOKEN_CHALLENGE, `${what}: error="invalid_token"`)
}

/** The refusal of a refresh token at the token endpoint. */
function invalidGrant (t: Test, res: HttpAnswer, what: string, description?: RegExp) {
  t.equal(res.status, 400, what)
  t.equal(res.json?.error, 'invalid_grant', `${what}: invalid_grant`)
  if (description !== undefined) t.match(res.json?.error_description, description, `${what}: ${String(description)}`)
}

forEachEngine(t, async (t, engine) => {
  const [a, b] = await deployment(t, engine)

  t.test('logged in on A, refreshed on B: both accept the new pair', async (t) => {
    const alice = user('alice-rotates')
    await createUser(a.app, alice)
    const first = await loginOverHttp(a.baseUrl, alice.username, alice.password)
    const second = pairOf(await refreshOverHttp(b.baseUrl, first.refresh_token))
    t.not(second.refresh_token, first.refresh_token, 'rotated')
    t.equal((await me(a.baseUrl, second.access_token)).status, 200, 'A accepts the access token B issued')
    t.equal((await me(b.baseUrl, second.access_token)).status, 200, 'B too')
    const third = pairOf(await refreshOverHttp(a.baseUrl, second.refresh_token))
    t.equal((await me(b.baseUrl, third.access_token)).status, 200, 'and back on A: B accepts it')
  })

  t.test('two concurrent refreshes of one refresh token, one on A and one on B: both 200, the session lives on', async (t) => {
    const racer = user('racer')
    await createUser(b.app, racer)
    const login = await loginOverHttp(a.baseUrl, racer.username, racer.password)
    const answers = await Promise.all([a.baseUrl, b.baseUrl].map(async (url) => await refreshOverHttp(url, login.refresh_token)))
    t.same(answers.map((res) => res.status), [200, 200], 'a retry or a second tab within the reuse window gets a pair')
    const pairs = answers.map(pairOf)
    t.equal(new Set(pairs.map((pair) => pair.refresh_token)).size, 2, 'two distinct new refresh tokens')
    t.notOk(pairs.some((pair) => pair.refresh_token === login.refresh_token), 'neither is the one presented')
    const sessions = await withBearer(b.baseUrl, 'GET', '/users/me/sessions', pairs[1]?.access_token ?? '')
    t.equal((sessions.json as unknown as unknown[]).length, 1, 'one session, not two')
    for (const [i, pair] of pairs.entries()) {
      t.equal((await refreshOverHttp(i % 2 === 0 ? b.baseUrl : a.baseUrl, pair.refresh_token)).status, 200, `refresh token ${i} refreshes`)
    }
  })

  t.test('ten concurrent refreshes of one refresh token across A and B: at most two pairs, then reuse ends the session', async (t) => {
    const racer = user('racer-ten')
    await createUser(b.app, racer)
    const login = await loginOverHttp(a.baseUrl, racer.username, racer.password)
    const answers = await Promise.all(Array.from({ length: 10 }, async (_, i) =>
      await refreshOverHttp(i % 2 === 0 ? a.baseUrl : b.baseUrl, login.refresh_token)))
    const granted = answers.filter((res) => res.status === 200).map(pairOf)
    t.ok(granted.length >= 1 && granted.length <= 2, `one spend and at most one replay minted pairs (${granted.length})`)
    t.same(answers.filter((res) => res.status !== 200).map((res) => res.status), Array(10 - granted.length).fill(400), 'the others: 400')
    await otherInstancesCatchUp()
    for (const pair of granted) {
      invalidGrant(t, await refreshOverHttp(a.baseUrl, pair.refresh_token), 'a minted refresh token is dead with its session', /invalid or has been revoked/)
      invalidToken(t, await me(b.baseUrl, pair.access_token), 'and so is its access token')
    }
  })

  t.test('logout on A: B refuses the access token at its next request, and the refresh token', async (t) => {
    const bob = user('bob-logs-out')
    await createUser(a.app, bob)
    const pair = await loginOverHttp(b.baseUrl, bob.username, bob.password)
    const other = await loginOverHttp(b.baseUrl, bob.username, bob.password)
    t.equal((await me(b.baseUrl, pair.access_token)).status, 200, 'B accepts it before')
    t.equal((await withBearer(a.baseUrl, 'POST', '/logout', pair.access_token)).status, 204)
    await otherInstancesCatchUp()
    invalidToken(t, await me(b.baseUrl, pair.access_token), 'B, next request')
    invalidGrant(t, await refreshOverHttp(b.baseUrl, pair.refresh_token), 'B refuses the refresh token', /invalid or has been revoked/)
    t.equal((await me(b.baseUrl, other.access_token)).status, 200, 'the user\'s other session goes on')
  })

  t.test('a password changed on A ends the other sessions, which B refuses next; the current one goes on', async (t) => {
    const carol = user('carol-moves')
    await createUser(a.app, carol)
    const current = await loginOverHttp(a.baseUrl, carol.username, carol.password)
    const others = [await loginOverHttp(b.baseUrl, carol.username, carol.password), await loginOverHttp(a.baseUrl, carol.username, carol.password)]
    for (const other of others) t.equal((await me(b.baseUrl, other.access_token)).status, 200, 'B accepts the other session before')
    const changed = await withBearer(a.baseUrl, 'POST', '/users/me/password', current.access_token,
      { current_password: carol.password, new_password: 'carol-new-password' })
    t.equal(changed.status, 204)
    await otherInstancesCatchUp()
    for (const [i, other] of others.entries()) {
      invalidToken(t, await me(b.baseUrl, other.access_token), `B refuses other session ${i}`)
      invalidGrant(t, await refreshOverHttp(b.baseUrl, other.refresh_token), `B refuses other session ${i}'s refresh token`)
    }
    t.equal((await me(b.baseUrl, current.access_token)).status, 200, 'the session that changed it goes on, on B too')
    t.equal((await refreshOverHttp(b.baseUrl, current.refresh_token)).status, 200, 'and refreshes on B')
    t.equal((await loginOverHttp(b.baseUrl, carol.username, 'carol-new-password')).token_type, 'bearer', 'B takes the new password')
  })

  t.test('no reuse window: a spent token presented on B revokes the session, which A refuses at its next request', async (t) => {
    const [a0, b0] = await deployment(t, engine, { refreshTokenReuseSeconds: 0 })
    const dave = user('dave-is-robbed')
    await createUser(a0.app, dave)
    const login = await loginOverHttp(a0.baseUrl, dave.username, dave.password)
    const rotated = pairOf(await refreshOverHttp(a0.baseUrl, login.refresh_token))
    t.equal((await me(a0.baseUrl, rotated.access_token)).status, 200, 'A accepts the session before')
    // The window is 0 s: a presentation a few milliseconds after the spend is already too late.
    await sleep(5)
    invalidGrant(t, await refreshOverHttp(b0.baseUrl, login.refresh_token), 'B refuses the spent token', /already used/)
    await otherInstancesCatchUp()
    invalidToken(t, await me(a0.baseUrl, rotated.access_token), 'A, next request')
    invalidToken(t, await me(a0.baseUrl, login.access_token), 'A refuses the login\'s access token too')
    invalidGrant(t, await refreshOverHttp(a0.baseUrl, rotated.refresh_token), 'A refuses the current refresh token', /invalid or has been revoked/)
  })
})
