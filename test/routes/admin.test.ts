import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { Engine } from '../../src/db/dialect.js'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service from '../../src/service/app.js'
import { bearer, createUser, forEachEngine, freshDatabaseUrl, johndoe, refresh, requestToken, testSecret, type TestContext, type TestUser, type TokenPair } from '../helper.js'
import { assertAlive, assertEnded, dbOf } from './session-support.js'

// The admin API (/admin/…) on both engines: who may call it, pages of accounts, an account's
// reading, change and deletion, its sessions, signing everyone out, the rule that an admin
// cannot take their own rights, disable or delete themselves, 404s and 422s that change
// nothing, and one audit line per action naming who did what to whom.

type Json = Record<string, unknown>

const root: TestUser = { username: 'root', password: 'root-password-1' }
const ops: TestUser = { username: 'ops', password: 'ops-password-1' }
const CLIENT = '198.51.100.9'

async function buildAdminApp (t: TestContext, engine: Engine) {
  const lines: Json[] = []
  const raw: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { raw.push(chunk.toString()); lines.push(JSON.parse(chunk.toString())); done() } })
  const database = await freshDatabaseUrl(t, engine)
  const app: FastifyInstance = Fastify({ ...serviceFastifyOptions('silent'), logger: { level: 'info', stream } })
  await app.register(service, { secret: testSecret(), bcryptCost: 4, throttle: false, refreshTokenReuseSeconds: 0, database })
  t.teardown(async () => await app.close())
  await app.ready()
  for (const user of [root, ops, johndoe]) await createUser(app, user)
  await app.tokenAuth.accounts.setAdmin(root.username, true)
  await app.tokenAuth.accounts.setAdmin(ops.username, true)
  /** A login of the user, granted `scope`. */
  const loginAs = async (user: TestUser, scope = 'me admin'): Promise<TokenPair> => {
    const res = await requestToken(app, { username: user.username, password: user.password, scope })
    if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const call = async (method: 'GET' | 'PATCH' | 'DELETE', url: string, pair: TokenPair, payload?: unknown): Promise<LightMyRequestResponse> =>
    await app.inject({ method, url, remoteAddress: CLIENT, headers: bearer(pair.access_token), ...(payload !== undefined && { payload: payload as Json }) })
  /** The audit lines since the last call, without pino's own fields. */
  const audited = () => lines.splice(0).filter((line) => line.audit !== undefined).map(({ level, time, pid, hostname, msg, reqId, ...line }) => line)
  /** Everything stored of the users and their sessions, to compare before and after a refused request. */
  const rows = async () => ({
    users: await dbOf(app).selectFrom('users').selectAll().orderBy('username').execute(),
    sessions: await dbOf(app).selectFrom('sessions').selectAll().orderBy('id').execute(),
    refreshTokens: await dbOf(app).selectFrom('refresh_tokens').selectAll().orderBy('token_hash').execute()
  })
  return { app, loginAs, call, audited, rows, raw }
}

const sidOf = (pair: TokenPair) => (JSON.parse(Buffer.from(pair.access_token.split('.')[1] as string, 'base64url').toString()) as { sid: string }).sid

forEachEngine(t, async (t, engine) => {
  t.test('only a token granted admin gets in: 401 without a token, 403 insufficient_scope without the scope', async (t) => {
    const { app, loginAs, call } = await buildAdminApp(t, engine)
    const paths: Array<['GET' | 'PATCH' | 'DELETE', string, unknown?]> = [
      ['GET', '/admin/users'], ['GET', '/admin/users/johndoe'], ['PATCH', '/admin/users/johndoe', { disabled: true }],
      ['DELETE', '/admin/users/johndoe'], ['GET', '/admin/users/johndoe/sessions'], ['DELETE', '/admin/users/johndoe/sessions'],
      ['DELETE', '/admin/users/johndoe/sessions/abc'], ['DELETE', '/admin/sessions']
    ]
    const plain = await loginAs(johndoe, '')
    const adminDefault = await loginAs(root, '')
    t.equal((await requestToken(app, { username: root.username, password: root.password })).json().scope, 'me items', 'an admin\'s default grant has no admin')
    const before = await app.tokenAuth.accounts.get('johndoe')
    for (const [method, url, payload] of paths) {
      const anonymous = await app.inject({ method, url, ...(payload !== undefined && { payload: payload as Json }) })
      t.equal(anonymous.statusCode, 401, `${method} ${url}: no token`)
      t.equal(anonymous.headers['www-authenticate'], 'Bearer')
      for (const [who, pair] of [['a user', plain], ['an admin without the admin scope', adminDefault]] as const) {
        const res = await call(method, url, pair, payload)
        t.equal(res.statusCode, 403, `${method} ${url}: ${who}`)
        t.same(res.json(), { detail: 'Not enough permissions' })
        t.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="admin"')
      }
    }
    t.same(await app.tokenAuth.accounts.get('johndoe'), before, 'nothing changed')
    const adminOnly = await loginAs(root, 'admin')
    t.equal((await call('GET', '/admin/users/johndoe', adminOnly)).statusCode, 200, 'admin alone is enough')
    t.equal((await call('GET', '/users/me/', adminOnly)).statusCode, 403, 'and admin alone is not me')
  })

  t.test('GET /admin/users: pages by username with a next link, a prefix ignoring case, live sessions', async (t) => {
    const { app, loginAs, call, audited } = await buildAdminApp(t, engine)
    for (const name of ['Anne', 'ann_x', 'annax', 'bob']) await createUser(app, { username: name, password: 'password-of-' + name })
    await app.tokenAuth.accounts.disable('bob')
    const pair = await loginAs(root)
    await loginAs(johndoe, '')
    await loginAs(johndoe, 'items')
    audited()
    const all = await call('GET', '/admin/users', pair)
    t.equal(all.statusCode, 200)
    const names = (res: LightMyRequestResponse) => (res.json() as Array<{ username: string }>).map((user) => user.username)
    t.same(names(all).slice().sort(), ['Anne', 'ann_x', 'annax', 'bob', 'johndoe', 'ops', 'root'])
    t.equal(all.headers.link, undefined, 'one page: no next link')
    const john = (all.json() as Json[]).find((user) => user.username === 'johndoe')
    t.same(john, { username: 'johndoe', email: 'johndoe@example.com', email_verified: false, full_name: 'John Doe', disabled: false, is_admin: false, created_at: john?.created_at, live_sessions: 2 })
    t.ok(Date.parse(String(john?.created_at)) > Date.now() - 60_000, 'created_at is when the account was made')
    t.match((all.json() as Json[]).find((user) => user.username === 'root'), { is_admin: true, live_sessions: 1 })
    t.match((all.json() as Json[]).find((user) => user.username === 'bob'), { disabled: true, live_sessions: 0 })
    t.notOk(all.body.includes('hashed_password') || all.body.includes('$2'), 'no hash')

    const seen: string[] = []
    let url: string | undefined = '/admin/users?limit=3'
    while (url !== undefined) {
      const page = await call('GET', url, pair)
      t.equal(page.statusCode, 200, url)
      seen.push(...names(page))
      url = /^<([^>]+)>; rel="next"$/.exec(String(page.headers.link ?? ''))?.[1]
    }
    t.same(seen, names(all), 'following the links gives every account once, in order')
    t.same(names(await call('GET', '/admin/users?limit=2&offset=5', pair)), names(all).slice(5, 7), 'offset')
    t.same(names(await call('GET', '/admin/users?q=ANN', pair)).sort(), ['Anne', 'ann_x', 'annax'], 'q: a prefix, ignoring letter case')
    t.same(names(await call('GET', '/admin/users?q=ann_', pair)), ['ann_x'], '_ is an underscore')
    t.same(names(await call('GET', '/admin/users?q=zz', pair)), [], 'no match: an empty page')
    const next = await call('GET', '/admin/users?q=ann&limit=2', pair)
    t.match(next.headers.link, /^<\/admin\/users\?limit=2&offset=2&q=ann>; rel="next"$/, 'the next link keeps q')
    t.same(audited(), [], 'reading is not audited')
  })

  t.test('bad paging is a 422 naming each problem', async (t) => {
    const { loginAs, call } = await buildAdminApp(t, engine)
    const pair = await loginAs(root)
    const cases: Array<[string, string[]]> = [
      ['limit=0', ['limit']], ['limit=1001', ['limit']], ['limit=1.5', ['limit']], ['limit=abc', ['limit']],
      ['limit=Infinity', ['limit']], ['limit=1e400', ['limit']], ['limit=NaN', ['limit']],
      ['offset=-1', ['offset']], ['offset=1e400', ['offset']], ['offset=9007199254740993', ['offset']],
      ['limit=0&offset=-1', ['limit', 'offset']], [`q=${'a'.repeat(65)}`, ['q']], ['q=%25', ['q']], ['q=a%00', ['q']]
    ]
    for (const [query, fields] of cases) {
      const res = await call('GET', `/admin/users?${query}`, pair)
      t.equal(res.statusCode, 422, query)
      t.same((res.json().detail as Array<{ loc: string[] }>).map((issue) => issue.loc), fields.map((field) => ['query', field]), `${query}: each problem named`)
    }
  })

  t.test('GET /admin/users/{username}: one account, named as it logs in; 404 for none', async (t) => {
    const { loginAs, call } = await buildAdminApp(t, engine)
    const pair = await loginAs(root)
    const res = await call('GET', '/admin/users/johndoe', pair)
    t.equal(res.statusCode, 200)
    t.match(res.json(), { username: 'johndoe', is_admin: false, disabled: false, live_sessions: 0 })
    t.same((await call('GET', '/admin/users/JohnDoe', pair)).json(), { detail: 'User not found' }, 'as a login, the name is matched exactly')
    const missing = await call('GET', '/admin/users/nobody', pair)
    t.same([missing.statusCode, missing.json()], [404, { detail: 'User not found' }])
    t.equal((await call('GET', '/admin/users/%00', pair)).statusCode, 422, 'NUL in a username')
  })

  t.test('PATCH: disabling ends every session at once; enabling, profile fields and null clearing', async (t) => {
    const { app, loginAs, call, audited } = await buildAdminApp(t, engine)
    const pair = await loginAs(root)
    const first = await loginAs(johndoe, '')
    const second = await loginAs(johndoe, 'me')
    audited()
    const disabled = await call('PATCH', '/admin/users/johndoe', pair, { disabled: true })
    t.equal(disabled.statusCode, 200)
    t.match(disabled.json(), { username: 'johndoe', disabled: true, live_sessions: 0 })
    await assertEnded(t, app, first, 'a session of the disabled user')
    await assertEnded(t, app, second, 'another session of the disabled user')
    t.same(audited(), [
      { audit: 'user.updated', client: CLIENT, actor: 'root', session: sidOf(pair), username: 'johndoe', fields: 'disabled', disabled: true, endedSessions: 2 }
    ], 'one line: who did what to whom, and what it ended')

    const changed = await call('PATCH', '/admin/users/johndoe', pair, { disabled: false, email: 'john@example.org', full_name: null })
    t.equal(changed.statusCode, 200)
    t.same(changed.json(), { ...changed.json(), username: 'johndoe', email: 'john@example.org', email_verified: false, full_name: null, disabled: false, is_admin: false })
    t.same(audited(), [{ audit: 'user.updated', client: CLIENT, actor: 'root', session: sidOf(pair), username: 'johndoe', fields: 'email,full_name,disabled', disabled: false }])
    const res = await requestToken(app, { username: johndoe.username, password: johndoe.password })
    t.equal(res.statusCode, 200, 'enabled: logs in')
    t.equal((await call('GET', '/users/me/', res.json())).json().email, 'john@example.org', 'the owner sees the new profile')
  })

  t.test('PATCH is_admin: granting lets the user ask for admin; taking it ends only the sessions holding admin', async (t) => {
    const { app, loginAs, call, audited } = await buildAdminApp(t, engine)
    const pair = await loginAs(root)
    t.equal((await requestToken(app, { username: johndoe.username, password: johndoe.password, scope: 'admin' })).statusCode, 400, 'not an admin yet')
    const granted = await call('PATCH', '/admin/users/johndoe', pair, { is_admin: true })
    t.match([granted.statusCode, granted.json()], [200, { is_admin: true }])
    const johnAdmin = await loginAs(johndoe, 'me admin')
    const johnPlain = await loginAs(johndoe, 'me items')
    t.equal((await call('GET', '/admin/users', johnAdmin)).statusCode, 200, 'the new admin reaches the admin API')
    audited()
    const revoked = await call('PATCH', '/admin/users/johndoe', pair, { is_admin: false })
    t.match([revoked.statusCode, revoked.json()], [200, { is_admin: false, live_sessions: 1 }])
    await assertEnded(t, app, johnAdmin, 'the session holding admin')
    await assertAlive(t, app, johnPlain, 'the session without admin')
    t.same(audited().filter((line) => line.audit === 'user.updated'), [
      { audit: 'user.updated', client: CLIENT, actor: 'root', session: sidOf(pair), username: 'johndoe', fields: 'is_admin', isAdmin: false, endedSessions: 1 }
    ])
  })

  t.test('PATCH refusals change nothing: no field, wrong types, bad profile, unknown user, an admin on themselves', async (t) => {
    const { loginAs, call, audited, rows } = await buildAdminApp(t, engine)
    const pair = await loginAs(root)
    await loginAs(johndoe, '')
    audited()
    const before = await rows()
    const refusals: Array<[string, unknown, number, unknown]> = [
      ['johndoe', {}, 422, [{ loc: ['body'], msg: 'Give at least one of disabled, is_admin, email, email_verified, full_name', type: 'missing' }]],
      ['johndoe', { nickname: 'x' }, 422, [{ loc: ['body'], msg: 'Give at least one of disabled, is_admin, email, email_verified, full_name', type: 'missing' }]],
      ['johndoe', { disabled: 'maybe', is_admin: {} }, 422, [
        { loc: ['body', 'disabled'], msg: 'Input should be a valid boolean', type: 'boolean_type' },
        { loc: ['body', 'is_admin'], msg: 'Input should be a valid boolean', type: 'boolean_type' }
      ]],
      ['johndoe', { disabled: true, email: 'not-an-address', full_name: 'x'.repeat(201) }, 422, [
        { loc: ['body', 'email'], msg: 'Input should be a valid email', type: 'email_invalid' },
        { loc: ['body', 'full_name'], msg: 'String should have at most 200 characters', type: 'string_too_long' }
      ]],
      ['nobody', { disabled: true }, 404, { detail: 'User not found' }],
      ['root', { is_admin: false }, 400, { detail: 'An admin cannot remove their own admin rights' }],
      ['root', { is_admin: false, email: 'root@example.com' }, 400, { detail: 'An admin cannot remove their own admin rights' }],
      ['root', { disabled: true, full_name: 'Root' }, 400, { detail: 'An admin cannot disable their own account' }]
    ]
    for (const [username, body, status, detail] of refusals) {
      const res = await call('PATCH', `/admin/users/${username}`, pair, body)
      t.equal(res.statusCode, status, `${username} ${JSON.stringify(body)}`)
      t.same(status === 422 ? res.json().detail : res.json(), detail)
    }
    const notJson = await call('PATCH', '/admin/users/johndoe', pair, 'disabled=true')
    t.equal(notJson.statusCode, 415, 'a form is not JSON')
    t.same(await rows(), before, 'every row as it was')
    t.same(audited(), [], 'nothing audited')
    const own = await call('PATCH', '/admin/users/root', pair, { is_admin: true, full_name: 'The Root' })
    t.match([own.statusCode, own.json()], [200, { is_admin: true, full_name: 'The Root' }], 'what an admin may change of their own account')
    const other = await call('PATCH', '/admin/users/ops', await loginAs(root), { is_admin: false })
    t.match([other.statusCode, other.json()], [200, { is_admin: false }], 'another admin\'s rights can be taken')
  })

  t.test('DELETE /admin/users/{username}: the account and its sessions go; not oneself; 404 for none', async (t) => {
    const { app, loginAs, call, audited, rows } = await buildAdminApp(t, engine)
    const pair = await loginAs(root)
    const johns = await loginAs(johndoe, '')
    audited()
    const before = await rows()
    const self = await call('DELETE', '/admin/users/root', pair)
    t.same([self.statusCode, self.json()], [400, { detail: 'An admin cannot delete their own account' }])
    const missing = await call('DELETE', '/admin/users/nobody', pair)
    t.same([missing.statusCode, missing.json()], [404, { detail: 'User not found' }])
    t.same(await rows(), before, 'nothing changed by the refusals')
    t.same(audited(), [])

    const deleted = await call('DELETE', '/admin/users/johndoe', pair)
    t.equal(deleted.statusCode, 204)
    t.equal(deleted.body, '')
    t.equal((await call('GET', '/admin/users/johndoe', pair)).statusCode, 404, 'gone')
    t.equal((await refresh(app, johns.refresh_token)).statusCode, 400, 'its refresh token is dead')
    t.equal((await call('GET', '/users/me/', johns)).statusCode, 401, 'its access token is refused')
    t.same(audited(), [{ audit: 'user.deleted', client: CLIENT, actor: 'root', session: sidOf(pair), username: 'johndoe' }])
    t.equal((await call('DELETE', '/admin/users/johndoe', pair)).statusCode, 404, 'a second delete')
  })

  t.test('an account\'s sessions: listed with their scopes, paged; one ended, or all', async (t) => {
    const { app, loginAs, call, audited, rows } = await buildAdminApp(t, engine)
    const pair = await loginAs(root)
    const sessions = [await loginAs(johndoe, ''), await loginAs(johndoe, 'items'), await loginAs(johndoe, 'me')]
    const opsPair = await loginAs(ops)
    audited()
    const list = await call('GET', '/admin/users/johndoe/sessions', pair)
    t.equal(list.statusCode, 200)
    const listed = list.json() as Array<{ id: string, scope: string, current: boolean }>
    t.same(listed.map((session) => session.id).sort(), sessions.map(sidOf).sort(), 'every live session of the user')
    t.same(listed.map((session) => session.scope).sort(), ['items', 'me', 'me items'], 'with the scopes each was granted')
    t.ok(listed.every((session) => !session.current), 'none is the admin\'s own')
    await dbOf(app).updateTable('sessions').set({ scope: null }).where('id', '=', sidOf(sessions[1] as TokenPair)).execute()
    t.equal(((await call('GET', '/admin/users/johndoe/sessions', pair)).json() as Array<{ id: string, scope: string }>)
      .find((session) => session.id === sidOf(sessions[1] as TokenPair))?.scope, 'me items', 'a session from before scopes: what its next refresh grants')
    t.match((await call('GET', '/admin/users/root/sessions', pair)).json(), [{ id: sidOf(pair), scope: 'me admin', current: true }], 'current marks the admin\'s own')
    const paged = await call('GET', '/admin/users/johndoe/sessions?limit=2', pair)
    t.equal((paged.json() as unknown[]).length, 2)
    const next = /^<([^>]+)>; rel="next"$/.exec(String(paged.headers.link))?.[1]
    t.match(next, /^\/admin\/users\/johndoe\/sessions\?limit=2&cursor=/)
    t.equal((await call('GET', next ?? '', pair)).json().length, 1, 'the next page has the rest')
    t.equal((await call('GET', '/admin/users/nobody/sessions', pair)).statusCode, 404)
    for (const query of ['cursor=nonsense', 'limit=Infinity', 'limit=1e400', 'limit=0', 'limit=101']) {
      t.equal((await call('GET', `/admin/users/johndoe/sessions?${query}`, pair)).statusCode, 422, query)
      t.equal((await call('GET', `/users/me/sessions?${query}`, pair)).statusCode, 422, `the owner's list: ${query}`)
    }

    const before = await rows()
    const wrongUser = await call('DELETE', `/admin/users/ops/sessions/${sidOf(sessions[0] as TokenPair)}`, pair)
    t.same([wrongUser.statusCode, wrongUser.json()], [404, { detail: 'Session not found' }], 'a session of another user is not found under this one')
    t.same((await call('DELETE', `/admin/users/nobody/sessions/${sidOf(sessions[0] as TokenPair)}`, pair)).json(), { detail: 'User not found' })
    t.equal((await call('DELETE', '/admin/users/johndoe/sessions/not%20an%20id', pair)).statusCode, 422)
    t.same(await rows(), before, 'the refusals ended nothing')

    const one = await call('DELETE', `/admin/users/johndoe/sessions/${sidOf(sessions[0] as TokenPair)}`, pair)
    t.equal(one.statusCode, 204)
    await assertEnded(t, app, sessions[0] as TokenPair, 'the session ended')
    t.equal((await refresh(app, (sessions[2] as TokenPair).refresh_token)).statusCode, 200, 'the others go on')
    t.same(audited().filter((line) => line.audit === 'session.ended'), [
      { audit: 'session.ended', client: CLIENT, actor: 'root', session: sidOf(pair), username: 'johndoe', endedSession: sidOf(sessions[0] as TokenPair) }
    ])

    const all = await call('DELETE', '/admin/users/johndoe/sessions', pair)
    t.same([all.statusCode, all.json()], [200, { ended_sessions: 2 }])
    t.equal((await refresh(app, (sessions[1] as TokenPair).refresh_token)).statusCode, 400, 'every session of the user ended')
    t.same(audited().filter((line) => line.audit === 'sessions.revoked'), [
      { audit: 'sessions.revoked', client: CLIENT, actor: 'root', session: sidOf(pair), username: 'johndoe', endedSessions: 2 }
    ])
    t.same((await call('DELETE', '/admin/users/johndoe/sessions', pair)).json(), { ended_sessions: 0 }, 'none left')
    t.equal((await call('DELETE', '/admin/users/nobody/sessions', pair)).statusCode, 404)
    await assertAlive(t, app, opsPair, 'another user\'s session')
  })

  t.test('DELETE /admin/sessions ends every session of every user but the caller\'s own', async (t) => {
    const { app, loginAs, call, audited, raw } = await buildAdminApp(t, engine)
    const pair = await loginAs(root)
    const rootElsewhere = await loginAs(root, 'me')
    const others = [await loginAs(johndoe, ''), await loginAs(johndoe, 'items'), await loginAs(ops)]
    audited()
    const res = await call('DELETE', '/admin/sessions', pair)
    t.same([res.statusCode, res.json()], [200, { ended_sessions: 4 }])
    for (const other of others) await assertEnded(t, app, other, 'another user\'s session')
    await assertEnded(t, app, rootElsewhere, 'the caller\'s other session')
    await assertAlive(t, app, pair, 'the caller\'s own session')
    t.same(audited().filter((line) => line.audit === 'sessions.revoked_all'), [
      { audit: 'sessions.revoked_all', client: CLIENT, actor: 'root', session: sidOf(pair), endedSessions: 4, keptSession: sidOf(pair) }
    ])
    const log = raw.join('')
    for (const secret of [pair.access_token, pair.refresh_token, root.password, johndoe.password]) t.notOk(log.includes(secret), 'no token or password in the log')
  })
})
