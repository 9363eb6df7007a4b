import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { alice, bearer, buildApp, createUser, forEachEngine, loginPair, refresh, type TestUser, type TokenPair } from '../helper.js'
import { assertAlive, assertEnded, dbOf, me } from './session-support.js'

const SESSION_KEYS = ['created_at', 'current', 'expires_at', 'id', 'last_used_at', 'scope', 'user_agent']

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).sid
const iso = (ms: number) => new Date(ms).toISOString()

let userCount = 0
/** A user of its own for a test, on an app the tests of a group share. */
async function someone (app: FastifyInstance): Promise<TestUser> {
  const user = { username: `member${++userCount}`, password: `password-${userCount}` }
  await createUser(app, user)
  return user
}

const logout = async (app: FastifyInstance, pair: TokenPair, query = '') =>
  await app.inject({ method: 'POST', url: `/logout${query}`, headers: bearer(pair.access_token) })
const listSessions = async (app: FastifyInstance, pair: TokenPair, url = '/users/me/sessions') =>
  await app.inject({ url, headers: bearer(pair.access_token) })
const endSession = async (app: FastifyInstance, pair: TokenPair, id: string) =>
  await app.inject({ method: 'DELETE', url: `/users/me/sessions/${encodeURIComponent(id)}`, headers: bearer(pair.access_token) })

function assertNotAuthenticated (t: Test, res: LightMyRequestResponse, what: string) {
  t.equal(res.statusCode, 401, what)
  t.same(res.json(), { detail: 'Not authenticated' }, what)
  t.equal(res.headers['www-authenticate'], 'Bearer', what)
}

forEachEngine(t, async (t, engine) => {
  const app = await buildApp(t, {}, engine)
  const db = dbOf(app)

  t.test('POST /logout', async (t) => {
    t.test('ends the current session only', async (t) => {
      const user = await someone(app)
      const other = await someone(app)
      const current = await loginPair(app, user)
      const sibling = await loginPair(app, user)
      const others = await loginPair(app, other)
      const res = await logout(app, current)
      t.equal(res.statusCode, 204)
      t.equal(res.body, '', 'no body')
      await assertEnded(t, app, current, 'the current session')
      t.notOk(await db.selectFrom('sessions').select('id').where('id', '=', sidOf(current.access_token)).executeTakeFirst(), 'its row is gone')
      await assertAlive(t, app, sibling, 'another session of the user')
      await assertAlive(t, app, others, "another user's session")
      const again = await logout(app, current)
      t.equal(again.statusCode, 401, 'a second logout with the same token')
      t.equal(again.headers['www-authenticate'], 'Bearer error="invalid_token"')
    })

    t.test('scope=local is the default, at /logout/ too', async (t) => {
      const user = await someone(app)
      const local = await loginPair(app, user)
      const slash = await loginPair(app, user)
      const kept = await loginPair(app, user)
      t.equal((await logout(app, local, '?scope=local')).statusCode, 204)
      t.equal((await app.inject({ method: 'POST', url: '/logout/', headers: bearer(slash.access_token) })).statusCode, 204)
      await assertEnded(t, app, local, 'scope=local')
      await assertEnded(t, app, slash, '/logout/')
      await assertAlive(t, app, kept, 'the third session')
    })

    t.test('scope=others ends every other session of the user, not this one', async (t) => {
      const user = await someone(app)
      const other = await someone(app)
      const first = await loginPair(app, user)
      const current = await loginPair(app, user)
      const third = await loginPair(app, user)
      const others = await loginPair(app, other)
      const res = await logout(app, current, '?scope=others')
      t.equal(res.statusCode, 204)
      t.equal(res.body, '')
      await assertEnded(t, app, first, 'the first session')
      await assertEnded(t, app, third, 'the third session')
      const fresh = await assertAlive(t, app, current, 'the current session')
      const listed = (await listSessions(app, fresh)).json()
      t.same(listed.map((s: { id: string }) => s.id), [sidOf(current.access_token)], 'only the current session is left')
      await assertAlive(t, app, others, "another user's session")
    })

    t.test('scope=global ends all of them', async (t) => {
      const user = await someone(app)
      const other = await someone(app)
      const current = await loginPair(app, user)
      const second = await loginPair(app, user)
      const others = await loginPair(app, other)
      t.equal((await logout(app, current, '?scope=global')).statusCode, 204)
      await assertEnded(t, app, current, 'the current session')
      await assertEnded(t, app, second, 'the other session')
      const rows = await db.selectFrom('sessions').select('id').where('username', '=', user.username).execute()
      t.same(rows, [], 'no session row of the user is left')
      await assertAlive(t, app, others, "another user's session")
      t.equal((await loginPair(app, user)).token_type, 'bearer', 'logging in again works')
    })

    t.test('an unknown scope is a 422, and nothing ends', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      const second = await loginPair(app, user)
      for (const scope of ['everything', 'GLOBAL', '', 'others,global']) {
        const res = await logout(app, current, `?scope=${encodeURIComponent(scope)}`)
        t.equal(res.statusCode, 422, JSON.stringify(scope))
        const detail = res.json().detail
        t.ok(Array.isArray(detail) && detail.length > 0, 'a detail array')
        t.same(detail[0]?.loc, ['query', 'scope'], 'naming the scope')
        t.type(detail[0]?.msg, 'string')
      }
      await assertAlive(t, app, current, 'the current session')
      await assertAlive(t, app, second, 'the other session')
    })

    t.test('needs a usable token', async (t) => {
      assertNotAuthenticated(t, await app.inject({ method: 'POST', url: '/logout' }), 'no token')
      assertNotAuthenticated(t, await app.inject({ method: 'POST', url: '/logout?scope=global' }), 'no token, scope=global')
      assertNotAuthenticated(t, await app.inject({ method: 'POST', url: '/logout', headers: { authorization: 'Basic am9objpzZWNyZXQ=' } }), 'not a bearer token')
      const garbage = await app.inject({ method: 'POST', url: '/logout', headers: bearer('not-a-jwt') })
      t.equal(garbage.statusCode, 401)
      t.same(garbage.json(), { detail: 'Could not validate credentials' })
      t.equal(garbage.headers['www-authenticate'], 'Bearer error="invalid_token"')
      const pair = await loginPair(app, await someone(app))
      const withRefreshToken = await app.inject({ method: 'POST', url: '/logout', headers: bearer(pair.refresh_token) })
      t.equal(withRefreshToken.statusCode, 401, 'a refresh token is no bearer token')
      await assertAlive(t, app, pair, 'the session')
    })

    t.test('a disabled user may log out', async (t) => {
      await createUser(app, alice)
      const pair = await loginPair(app, alice)
      t.equal((await me(app, pair)).statusCode, 400, 'alice is disabled')
      t.equal((await logout(app, pair)).statusCode, 204)
      t.notOk(await db.selectFrom('sessions').select('id').where('id', '=', sidOf(pair.access_token)).executeTakeFirst(), 'her session is gone')
      t.equal((await logout(app, pair)).statusCode, 401, 'and its token refused')
    })
  })

  t.test('GET /users/me/sessions', async (t) => {
    const user = await someone(app)
    const other = await someone(app)
    const login = async (who: TestUser, userAgent: string) => await loginPair(app, who, { 'user-agent': userAgent })
    const before = Date.now()
    const laptop = await login(user, 'Laptop/1.0')
    const phone = await login(user, 'Phone/2.0')
    const loggedOut = await login(user, 'Tablet/3.0')
    const expired = await login(user, 'Kiosk/4.0')
    const othersSession = await login(other, 'Elsewhere/5.0')
    const after = Date.now()
    t.equal((await logout(app, loggedOut)).statusCode, 204)
    await db.updateTable('sessions').set({ expires_at: iso(Date.now() - 1000) }).where('id', '=', sidOf(expired.access_token)).execute()

    t.test('lists the live sessions of the caller, the asking one current', async (t) => {
      const res = await listSessions(app, laptop)
      t.equal(res.statusCode, 200)
      const sessions = res.json()
      t.equal(sessions.length, 2, 'the laptop and the phone: not the ended, expired or other user\'s sessions')
      t.same(sessions.map((s: { id: string }) => s.id).sort(), [sidOf(laptop.access_token), sidOf(phone.access_token)].sort())
      for (const session of sessions) {
        t.same(Object.keys(session).sort(), SESSION_KEYS)
        for (const key of ['created_at', 'last_used_at', 'expires_at']) {
          t.match(session[key], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, `${key} is ISO 8601`)
        }
        const created = Date.parse(session.created_at)
        t.ok(created >= before - 1 && created <= after + 1, 'created at the login')
        t.ok(Date.parse(session.expires_at) > Date.now(), 'expires in the future')
        t.ok(Date.parse(session.last_used_at) >= created)
      }
      const current = sessions.filter((s: { current: boolean }) => s.current)
      t.equal(current.length, 1, 'exactly one is current')
      t.equal(current[0]?.id, sidOf(laptop.access_token), 'the one that asked')
      t.equal(current[0]?.user_agent, 'Laptop/1.0')
      const phoneEntry = sessions.find((s: { id: string }) => s.id === sidOf(phone.access_token))
      t.equal(phoneEntry?.user_agent, 'Phone/2.0')
      t.equal(phoneEntry?.scope, 'me items', 'the scopes the session was granted')
      t.equal(phoneEntry?.current, false)
      t.notOk(res.body.includes(laptop.refresh_token) || res.body.includes(phone.refresh_token), 'no refresh token in the list')
    })

    t.test('current follows the token that asks, at /users/me/sessions/ too', async (t) => {
      const sessions = (await listSessions(app, phone, '/users/me/sessions/')).json()
      t.same(sessions.filter((s: { current: boolean }) => s.current).map((s: { id: string }) => s.id), [sidOf(phone.access_token)])
      t.equal(sessions.length, 2)
    })

    t.test('the most recently used first', async (t) => {
      const refreshed = await refresh(app, laptop.refresh_token)
      t.equal(refreshed.statusCode, 200)
      const sessions = (await listSessions(app, phone)).json()
      t.equal(sessions[0]?.id, sidOf(laptop.access_token), 'the laptop, just refreshed')
      t.ok(Date.parse(sessions[0]?.last_used_at) > Date.parse(sessions[0]?.created_at), 'its last use moved on')
      t.ok(Date.parse(sessions[0]?.last_used_at) > Date.parse(sessions[1]?.last_used_at), 'past the phone\'s')
    })

    t.test('another user sees only their own', async (t) => {
      const sessions = (await listSessions(app, othersSession)).json()
      t.equal(sessions.length, 1)
      t.match(sessions[0], { id: sidOf(othersSession.access_token), user_agent: 'Elsewhere/5.0', current: true })
    })

    t.test('needs a usable token', async (t) => {
      assertNotAuthenticated(t, await app.inject({ url: '/users/me/sessions' }), 'no token')
      const res = await listSessions(app, loggedOut)
      t.equal(res.statusCode, 401, 'a token of an ended session')
      t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
      t.equal((await listSessions(app, expired)).statusCode, 401, 'a token of an expired session')
    })
  })

  t.test('DELETE /users/me/sessions/{id}', async (t) => {
    const user = await someone(app)
    const other = await someone(app)

    t.test('ends that session, and the caller goes on', async (t) => {
      const current = await loginPair(app, user)
      const target = await loginPair(app, user)
      const bystander = await loginPair(app, user)
      const res = await endSession(app, current, sidOf(target.access_token))
      t.equal(res.statusCode, 204)
      t.equal(res.body, '')
      await assertEnded(t, app, target, 'the ended session')
      const fresh = await assertAlive(t, app, current, 'the caller')
      await assertAlive(t, app, bystander, 'a third session')
      const ids = (await listSessions(app, fresh)).json().map((s: { id: string }) => s.id)
      t.notOk(ids.includes(sidOf(target.access_token)), 'no longer listed')
      t.ok(ids.includes(sidOf(current.access_token)))
      const again = await endSession(app, fresh, sidOf(target.access_token))
      t.equal(again.statusCode, 404, 'ending it twice')
      t.same(again.json(), { detail: 'Session not found' })
    })

    t.test('may end the current session', async (t) => {
      const current = await loginPair(app, user)
      t.equal((await endSession(app, current, sidOf(current.access_token))).statusCode, 204)
      await assertEnded(t, app, current, 'the current session')
    })

    t.test("another user's session is a 404, and it goes on working", async (t) => {
      const mine = await loginPair(app, user)
      const theirs = await loginPair(app, other)
      const res = await endSession(app, mine, sidOf(theirs.access_token))
      t.equal(res.statusCode, 404)
      t.same(res.json(), { detail: 'Session not found' })
      await assertAlive(t, app, theirs, "the other user's session")
      await assertAlive(t, app, mine, "the caller's session")
    })

    t.test('an unknown id is a 404', async (t) => {
      const mine = await loginPair(app, user)
      for (const id of ['no-such-session', 'x', 'AAAAAAAAAAAAAAAAAAAAAA']) {
        const res = await endSession(app, mine, id)
        t.equal(res.statusCode, 404, id)
        t.same(res.json(), { detail: 'Session not found' })
      }
      await assertAlive(t, app, mine, 'the caller')
    })

    t.test('an expired session of the user is not found either', async (t) => {
      const mine = await loginPair(app, user)
      const stale = await loginPair(app, user)
      await db.updateTable('sessions').set({ expires_at: iso(Date.now() - 1000) }).where('id', '=', sidOf(stale.access_token)).execute()
      const res = await endSession(app, mine, sidOf(stale.access_token))
      t.ok(res.statusCode === 204 || res.statusCode === 404, `ends it or finds none (${res.statusCode})`)
      await assertEnded(t, app, stale, 'the expired session')
    })

    t.test('needs a token', async (t) => {
      const target = await loginPair(app, user)
      assertNotAuthenticated(t, await app.inject({ method: 'DELETE', url: `/users/me/sessions/${sidOf(target.access_token)}` }), 'no token')
      await assertAlive(t, app, target, 'the session')
    })
  })

  t.test('a disabled user can neither list nor end sessions', async (t) => {
    const user = await someone(app)
    await app.tokenAuth.users.setDisabled(user.username, true)
    // A disabled account may still log in: its sessions exist, and are refused.
    const pair = await loginPair(app, user)
    const second = await loginPair(app, user)
    const list = await listSessions(app, pair)
    t.equal(list.statusCode, 400)
    t.same(list.json(), { detail: 'Inactive user' })
    const end = await endSession(app, pair, sidOf(second.access_token))
    t.equal(end.statusCode, 400)
    t.same(end.json(), { detail: 'Inactive user' })
    t.ok(await db.selectFrom('sessions').select('id').where('id', '=', sidOf(second.access_token)).executeTakeFirst(), 'the session is still there')
    await app.tokenAuth.users.setDisabled(user.username, false)
    t.equal((await me(app, second)).statusCode, 200, 'and works once the account is enabled again')
  })

  t.test('nothing one user does to sessions touches the other', async (t) => {
    const a = await someone(app)
    const b = await someone(app)
    const aFirst = await loginPair(app, a)
    const aSecond = await loginPair(app, a)
    const bFirst = await loginPair(app, b)
    const bSecond = await loginPair(app, b)
    const bThird = await loginPair(app, b)
    t.equal((await logout(app, aFirst, '?scope=others')).statusCode, 204)
    t.equal((await endSession(app, aFirst, sidOf(bSecond.access_token))).statusCode, 404)
    t.equal((await logout(app, aFirst)).statusCode, 204)
    const aThird = await loginPair(app, a)
    t.equal((await logout(app, aThird, '?scope=global')).statusCode, 204)
    await assertEnded(t, app, aSecond, "a's second session")
    await assertEnded(t, app, aThird, "a's third session")
    for (const [what, pair] of [['first', bFirst], ['second', bSecond], ['third', bThird]] as const) {
      await assertAlive(t, app, pair, `b's ${what} session`)
    }
    t.equal((await db.selectFrom('sessions').select('id').where('username', '=', b.username).execute()).length, 3, 'b has all three')
  })

  t.test('an account keeps at most maxSessionsPerUser live sessions: a login past it ends the least recently used', async (t) => {
    const capped = await buildApp(t, { maxSessionsPerUser: 3 }, engine)
    const user = await someone(capped)
    const pairs: TokenPair[] = []
    for (let i = 0; i < 5; i++) pairs.push(await loginPair(capped, user))
    const first = pairs[0] as TokenPair
    const refreshed = await refresh(capped, first.refresh_token)
    t.equal(refreshed.statusCode, 400, 'the first login had already ended (two logins past the cap)')
    const sixth = await loginPair(capped, user)
    const list = await listSessions(capped, sixth)
    t.equal(list.json().length, 3, 'three sessions listed')
    t.same(list.json().map((s: { id: string }) => s.id).sort(), [pairs[3], pairs[4], sixth].map((p) => sidOf((p as TokenPair).access_token)).sort(), 'the three newest')
    for (const [i, pair] of pairs.slice(0, 3).entries()) await assertEnded(t, capped, pair, `login ${i + 1}`)
    t.equal((await me(capped, pairs[3] as TokenPair)).statusCode, 200, 'login 4 goes on')
    const other = await someone(capped)
    await assertAlive(t, capped, await loginPair(capped, other), 'another user is not touched')

    // Least recently used, not oldest: a refreshed old login outlives a newer idle one.
    const third = await someone(capped)
    const [a, b] = [await loginPair(capped, third), await loginPair(capped, third)]
    await loginPair(capped, third)
    const aRefreshed = await refresh(capped, a.refresh_token)
    t.equal(aRefreshed.statusCode, 200)
    await loginPair(capped, third)
    await assertEnded(t, capped, b, 'the least recently used login')
    await assertAlive(t, capped, aRefreshed.json(), 'the older login, refreshed since')
  })

  t.test('the list comes in pages: limit, and a Link header to the next page', async (t) => {
    const user = await someone(app)
    const pairs: TokenPair[] = []
    for (let i = 0; i < 5; i++) pairs.push(await loginPair(app, user))
    const asker = pairs[4] as TokenPair
    const seen: string[] = []
    let url: string | undefined = '/users/me/sessions?limit=2'
    const sizes: number[] = []
    while (url !== undefined) {
      const res = await listSessions(app, asker, url)
      t.equal(res.statusCode, 200, url)
      sizes.push(res.json().length)
      seen.push(...res.json().map((s: { id: string }) => s.id))
      const link = res.headers.link as string | undefined
      url = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1]
      if (link !== undefined) t.ok(url?.startsWith('/users/me/sessions?'), `a next link: ${link}`)
    }
    t.same(sizes, [2, 2, 1], 'pages of 2, 2 and 1; the last without a Link')
    t.same(seen, (await listSessions(app, asker)).json().map((s: { id: string }) => s.id), 'the same sessions in the same order as one page')
    t.equal(new Set(seen).size, 5, 'each once')
    const crafted = (parts: unknown) => Buffer.from(JSON.stringify(parts)).toString('base64url')
    for (const [query, loc] of [['limit=0', 'limit'], ['limit=101', 'limit'], ['cursor=bm90LWEtY3Vyc29y', 'cursor'], ['cursor=%25%25', 'cursor'],
      [`cursor=${crafted(['\u0000', 'x'])}`, 'cursor'], [`cursor=${crafted(['2026-12-03T17:05:12.000Z', 'a\u0000b'])}`, 'cursor'],
      [`cursor=${crafted([1, 2])}`, 'cursor']] as const) {
      const res = await listSessions(app, asker, `/users/me/sessions?${query}`)
      t.equal(res.statusCode, 422, `${query}: 422`)
      t.same(res.json().detail[0].loc, ['query', loc], `${query}: names ${loc}`)
    }
  })
})
