import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, createUser, forEachEngine, johndoe, requestToken, type TestUser } from '../helper.js'

/* OAuth2 scopes at the token endpoint and on the routes (RFC 6749 §3.3, RFC 6750 §3.1). */

const admin: TestUser = { username: 'root', password: 'root-password-1' }

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { scope: string }

async function withUsers (t: Parameters<typeof buildApp>[0], engine: Parameters<typeof buildApp>[2]): Promise<FastifyInstance> {
  const app = await buildApp(t, {}, engine)
  await createUser(app, johndoe)
  await createUser(app, admin)
  await app.tokenAuth.accounts.setAdmin(admin.username, true)
  return app
}

const get = async (app: FastifyInstance, url: string, token: string) => await app.inject({ url, headers: { authorization: `Bearer ${token}` } })

forEachEngine(t, async (t, engine) => {
  t.test('the password grant: absent or empty means every scope the account may have but admin', async (t) => {
    const app = await withUsers(t, engine)
    for (const form of [{}, { scope: '' }, { scope: '   ' }] as Array<Record<string, string>>) {
      for (const user of [johndoe, admin]) {
        const res = await requestToken(app, { username: user.username, password: user.password, ...form })
        t.equal(res.statusCode, 200)
        t.equal(res.json().scope, 'me items', `${user.username}, scope ${JSON.stringify(form)}`)
        t.equal(claimsOf(res.json().access_token).scope, 'me items', 'the claim says the same')
      }
    }
  })

  t.test('granted = requested ∩ allowed, in one order; admin only for admins', async (t) => {
    const app = await withUsers(t, engine)
    const grant = async (user: TestUser, scope: string) => await requestToken(app, { username: user.username, password: user.password, scope })
    t.equal((await grant(johndoe, 'items')).json().scope, 'items')
    t.equal((await grant(johndoe, 'items me items')).json().scope, 'me items', 'each once, in the order of the definitions')
    t.equal((await grant(johndoe, 'me admin')).json().scope, 'me', 'a non-admin asking for me admin gets me: narrowed, not refused')
    t.equal((await grant(admin, 'admin me')).json().scope, 'me admin')
    t.equal((await grant(admin, 'admin')).json().scope, 'admin')
    const refused = await grant(johndoe, 'admin')
    t.equal(refused.statusCode, 400, 'a non-admin asking for admin alone')
    t.same(refused.json(), { detail: 'None of the requested scopes can be granted to this account', error: 'invalid_scope', error_description: 'None of the requested scopes can be granted to this account' })
  })

  t.test('a scope no one defined is invalid_scope, and a malformed one invalid_request, before the password is checked', async (t) => {
    const app = await withUsers(t, engine)
    const unknown = await requestToken(app, { username: johndoe.username, password: johndoe.password, scope: 'me orders nope orders' })
    t.equal(unknown.statusCode, 400)
    t.match(unknown.json(), { error: 'invalid_scope', detail: 'Unknown scopes: orders, nope' })
    const wrongPassword = await requestToken(app, { username: johndoe.username, password: 'not-the-password', scope: 'nope' })
    t.match([wrongPassword.statusCode, wrongPassword.json()], [400, { error: 'invalid_scope' }], 'the same with a wrong password: nothing about the account is told')
    for (const [scope, problem] of [['me\titems', /not printable ASCII/], ['me\nitems', /not printable ASCII/], ['me "items"', /" or a \\/], ['m'.repeat(1025), /longer than 1024/]] as const) {
      const res = await requestToken(app, { username: johndoe.username, password: johndoe.password, scope })
      t.equal(res.statusCode, 400, `${JSON.stringify(scope.slice(0, 12))}: 400`)
      t.match(res.json(), { error: 'invalid_request', detail: problem })
    }
  })

  t.test('a route answers 403 insufficient_scope naming what it needs; 401 and 400 come first', async (t) => {
    const app = await withUsers(t, engine)
    const onlyMe = (await requestToken(app, { username: johndoe.username, password: johndoe.password, scope: 'me' })).json().access_token
    const onlyItems = (await requestToken(app, { username: johndoe.username, password: johndoe.password, scope: 'items' })).json().access_token
    t.equal((await get(app, '/users/me/', onlyMe)).statusCode, 200, 'me: GET /users/me/')
    const items = await get(app, '/users/me/items/', onlyMe)
    t.equal(items.statusCode, 403, 'me: GET /users/me/items/')
    t.same(items.json(), { detail: 'Not enough permissions' })
    t.equal(items.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="items"')
    t.equal((await get(app, '/users/me/items/', onlyItems)).statusCode, 200, 'items: GET /users/me/items/')
    const me = await get(app, '/users/me/', onlyItems)
    t.same([me.statusCode, me.headers['www-authenticate']], [403, 'Bearer error="insufficient_scope", scope="me"'], 'items: GET /users/me/')
    t.equal((await get(app, '/users/me/sessions', onlyItems)).statusCode, 403, 'items: the session list needs me')
    t.equal((await app.inject({ method: 'POST', url: '/logout', headers: { authorization: `Bearer ${onlyItems}` } })).statusCode, 204, 'any token logs its own session out')
    t.equal((await get(app, '/users/me/', onlyItems)).statusCode, 401, 'and after that it is refused as a token, not for its scope')

    await app.tokenAuth.accounts.disable(johndoe.username)
    const disabledToken = await app.tokenAuth.issueToken(johndoe.username, { scope: 'items' })
    t.equal((await get(app, '/users/me/', disabledToken.access_token)).statusCode, 400, 'a disabled account gets 400 Inactive user before any 403')
  })

  t.test('a refresh keeps the scopes, narrows them for good, and never widens them', async (t) => {
    const app = await withUsers(t, engine)
    const first = (await requestToken(app, { username: admin.username, password: admin.password, scope: 'me items admin' })).json()
    t.equal(first.scope, 'me items admin')
    const kept = (await requestToken(app, { grant_type: 'refresh_token', refresh_token: first.refresh_token })).json()
    t.equal(kept.scope, 'me items admin', 'no scope: the session\'s')
    const narrowed = (await requestToken(app, { grant_type: 'refresh_token', refresh_token: kept.refresh_token, scope: 'admin me' })).json()
    t.same([narrowed.scope, claimsOf(narrowed.access_token).scope], ['me admin', 'me admin'], 'fewer: narrowed')
    const widened = await requestToken(app, { grant_type: 'refresh_token', refresh_token: narrowed.refresh_token, scope: 'me items' })
    t.equal(widened.statusCode, 400)
    t.match(widened.json(), { error: 'invalid_scope', detail: /^The session was not granted items/ })
    const after = await requestToken(app, { grant_type: 'refresh_token', refresh_token: narrowed.refresh_token })
    t.equal(after.statusCode, 200, 'the refused refresh spent nothing: the same refresh token still works')
    t.equal(after.json().scope, 'me admin', 'and the narrowing holds')
  })

  t.test('revoking admin rights ends the sessions holding admin, and only those', async (t) => {
    const app = await withUsers(t, engine)
    const withAdmin = (await requestToken(app, { username: admin.username, password: admin.password, scope: 'me admin' })).json()
    const without = (await requestToken(app, { username: admin.username, password: admin.password })).json()
    await app.tokenAuth.accounts.setAdmin(admin.username, false)
    t.equal((await get(app, '/users/me/', withAdmin.access_token)).statusCode, 401, 'the token holding admin is refused')
    t.equal((await requestToken(app, { grant_type: 'refresh_token', refresh_token: withAdmin.refresh_token })).statusCode, 400, 'and its refresh token')
    t.equal((await get(app, '/users/me/', without.access_token)).statusCode, 200, 'the other session goes on')
    t.equal((await requestToken(app, { username: admin.username, password: admin.password, scope: 'admin' })).statusCode, 400, 'admin can no longer be asked for')
  })

  t.test('issueToken reads scope as the form does', async (t) => {
    const app = await withUsers(t, engine)
    t.equal((await app.tokenAuth.issueToken(johndoe.username)).scope, 'me items')
    t.equal((await app.tokenAuth.issueToken(admin.username, { scope: 'admin' })).scope, 'admin')
    await t.rejects(app.tokenAuth.issueToken(johndoe.username, { scope: 'admin' }), { code: 'FST_TOKEN_AUTH_SCOPE_NOT_ALLOWED' })
    await t.rejects(app.tokenAuth.issueToken(johndoe.username, { scope: 'orders' }), { code: 'FST_TOKEN_AUTH_SCOPE_UNKNOWN' })
  })
})
