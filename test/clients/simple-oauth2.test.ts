import { setTimeout as sleep } from 'node:timers/promises'
import { ResourceOwnerPassword, type AccessToken, type ModuleOptions } from 'simple-oauth2'
import t, { type Test } from 'tap'
import { createUser, forEachEngine, johndoe } from '../helper.js'
import { INVALID_TOKEN_CHALLENGE, me, postForm, startService, withBearer } from './support.js'

// The service driven by simple-oauth2 (npm, not ours) over real HTTP on loopback: the password
// grant, the refresh grant (rotation, reuse), RFC 7009 revocation, logout, and the error answers
// as the library surfaces them (a Boom error carrying the server's status, headers and body).

/** The library's configuration for a service at `baseUrl`. */
function clientOptions (baseUrl: string): ModuleOptions {
  return {
    // Any values: the server ignores client credentials. They must go somewhere, so:
    client: { id: 'simple-oauth2-test', secret: 'not-checked' },
    auth: { tokenHost: baseUrl, tokenPath: '/token', revokePath: '/revoke' },
    // Not the library's default ('header', HTTP Basic): the credentials go in the form, as
    // client_id and client_secret fields, which the server's form schema names and ignores.
    options: { authorizationMethod: 'body' }
  }
}

interface ServerRefusal {
  /** The HTTP status the server answered. */
  status: number
  /** The server's JSON body, as the library parsed it. */
  body: Record<string, unknown>
  headers: Record<string, unknown>
  /** Boom's own output payload: the status and its reason phrase, not the server's body. */
  output: Record<string, unknown>
}

/** The server's refusal a library call rejected with; fails the test if the call resolved or failed otherwise. */
async function refusalOf (call: Promise<unknown>): Promise<ServerRefusal> {
  try {
    await call
  } catch (error) {
    const boom = error as { isBoom?: unknown, output?: { statusCode?: unknown, payload?: unknown }, data?: { isResponseError?: unknown, payload?: unknown, headers?: unknown } }
    if (boom.isBoom !== true || boom.data?.isResponseError !== true || typeof boom.output?.statusCode !== 'number') {
      throw new Error('the call failed, but not with a response error of the server', { cause: error })
    }
    return {
      status: boom.output.statusCode,
      body: boom.data.payload as Record<string, unknown>,
      headers: boom.data.headers as Record<string, unknown>,
      output: boom.output.payload as Record<string, unknown>
    }
  }
  throw new Error('the call resolved; a refusal was expected')
}

forEachEngine(t, async (t, engine) => {
  /** A listening service with johndoe, and the library's client for it. */
  async function setUp (t: Test, opts: { refreshTokenReuseSeconds?: number } = {}) {
    const service = await startService(t, opts, engine)
    await createUser(service.app, johndoe)
    return { ...service, client: new ResourceOwnerPassword(clientOptions(service.baseUrl)) }
  }
  const credentials = { username: johndoe.username, password: johndoe.password }
  const accessOf = (token: AccessToken) => token.token.access_token as string
  const refreshOf = (token: AccessToken) => token.token.refresh_token as string

  /** The session behind `token` has ended: its access token and its refresh token are refused. */
  async function sessionEnded (t: Test, baseUrl: string, token: AccessToken) {
    const res = await me(baseUrl, accessOf(token))
    t.equal(res.status, 401, 'the access token is refused')
    t.equal(res.headers.get('www-authenticate'), INVALID_TOKEN_CHALLENGE)
    const refusal = await refusalOf(token.refresh())
    t.equal(refusal.status, 400, 'the refresh token is refused')
    t.equal(refusal.body.error, 'invalid_grant')
  }

  t.test('getToken (password grant): a bearer pair the API accepts, and expired() follows expires_in', async (t) => {
    const { baseUrl, client } = await setUp(t)
    const before = Date.now()
    const token = await client.getToken(credentials)
    const after = Date.now()
    t.equal(token.token.token_type, 'bearer')
    t.equal(token.token.expires_in, 1800)
    t.type(token.token.access_token, 'string')
    t.type(token.token.refresh_token, 'string')
    // The library works expires_at out from expires_in when the answer arrives.
    const expiresAt = token.token.expires_at
    t.ok(expiresAt instanceof Date, 'expires_at is a Date')
    const at = (expiresAt as Date).getTime()
    t.ok(at >= before + 1800_000 && at <= after + 1800_000, 'expires_at is expires_in seconds after the answer')
    t.equal(token.expired(), false, 'not expired')
    t.equal(token.expired(1700), false, 'not within 1700 s of expiring')
    t.equal(token.expired(1801), true, 'within 1801 s of expiring')
    const res = await me(baseUrl, accessOf(token))
    t.equal(res.status, 200)
    t.equal(res.json?.username, 'johndoe')
  })

  t.test('getToken with scope (an array, as the library takes it): the granted scope in the token, narrowed on refresh', async (t) => {
    const { baseUrl, client } = await setUp(t)
    const token = await client.getToken({ ...credentials, scope: ['me'] })
    t.equal(token.token.scope, 'me', 'granted: me')
    t.equal((await me(baseUrl, accessOf(token))).status, 200, 'GET /users/me/ with me')
    const items = await fetch(`${baseUrl}/users/me/items/`, { headers: { authorization: `Bearer ${accessOf(token)}` } })
    t.equal(items.status, 403, 'GET /users/me/items/ without items')
    t.equal(items.headers.get('www-authenticate'), 'Bearer error="insufficient_scope", scope="items"')
    const everything = await client.getToken(credentials)
    t.equal(everything.token.scope, 'me items', 'no scope: the default grant')
    const narrowed = await everything.refresh({ scope: 'items' })
    t.equal(narrowed.token.scope, 'items', 'refresh({ scope }) narrows')
    const widened = await refusalOf(narrowed.refresh({ scope: ['me', 'items'] }))
    t.same([widened.status, widened.body.error], [400, 'invalid_scope'], 'and asking for more is invalid_scope')
  })

  t.test('getToken honours a shorter access-token lifetime in expired()', async (t) => {
    const service = await startService(t, { accessTokenExpireMinutes: 1 }, engine)
    await createUser(service.app, johndoe)
    const token = await new ResourceOwnerPassword(clientOptions(service.baseUrl)).getToken(credentials)
    t.equal(token.token.expires_in, 60)
    t.equal(token.expired(30), false)
    t.equal(token.expired(61), true)
  })

  t.test('refresh(): a new pair that works; the old refresh token is spent (reused after the window: the session ends)', async (t) => {
    const { baseUrl, client } = await setUp(t, { refreshTokenReuseSeconds: 0 })
    const first = await client.getToken(credentials)
    const second = await first.refresh()
    t.equal(second.token.token_type, 'bearer')
    t.equal(second.token.expires_in, 1800)
    t.not(refreshOf(second), refreshOf(first), 'the refresh token rotated')
    t.equal((await me(baseUrl, accessOf(second))).status, 200, 'the new access token works')
    const third = await second.refresh()
    t.not(refreshOf(third), refreshOf(second), 'rotated again')
    t.equal((await me(baseUrl, accessOf(third))).status, 200)
    // No reuse window: the spent token, presented again (a millisecond later at least), is theft.
    await sleep(5)
    const refusal = await refusalOf(first.refresh())
    t.equal(refusal.status, 400)
    t.equal(refusal.body.error, 'invalid_grant')
    t.match(refusal.body.error_description, /already used/)
    t.equal(refusal.headers['cache-control'], 'no-store')
    await sessionEnded(t, baseUrl, third)
  })

  t.test('refresh(): within the default reuse window a retry of the spent token gets a pair of the same session', async (t) => {
    const { baseUrl, client } = await setUp(t)
    const first = await client.getToken(credentials)
    const second = await first.refresh()
    const retried = await first.refresh()
    t.not(refreshOf(retried), refreshOf(second), 'a fresh refresh token, not the one already handed out')
    t.equal((await me(baseUrl, accessOf(retried))).status, 200)
    t.equal((await me(baseUrl, accessOf(second))).status, 200, 'the session lives on')
    t.ok(await second.refresh(), 'the pair handed out first still refreshes')
  })

  t.test('revoke(\'refresh_token\') resolves and ends the session', async (t) => {
    const { baseUrl, client } = await setUp(t)
    const refreshed = await (await client.getToken(credentials)).refresh()
    t.equal((await me(baseUrl, accessOf(refreshed))).status, 200)
    t.equal(await refreshed.revoke('refresh_token'), null, 'resolves with the empty body')
    await sessionEnded(t, baseUrl, refreshed)
  })

  t.test('revoke(\'access_token\') ends the session too', async (t) => {
    const { baseUrl, client } = await setUp(t)
    const token = await client.getToken(credentials)
    await token.revoke('access_token')
    await sessionEnded(t, baseUrl, token)
  })

  t.test('revoke() with the library\'s defaults: the answer is RFC 7009\'s empty 200, typed as JSON', async (t) => {
    const { baseUrl, client } = await setUp(t)
    const token = await client.getToken(credentials)
    const raw = await postForm(baseUrl, '/revoke', { token: 'not-a-token-of-ours' })
    t.equal(raw.status, 200, 'an unknown token: 200 all the same')
    t.equal(raw.body, '', 'empty body')
    t.match(raw.headers.get('content-type'), /^application\/json/, 'typed as JSON, so a strict JSON client reads it as nothing')
    t.equal(await token.revoke('refresh_token'), null, 'resolves, with no option of the library changed')
    await sessionEnded(t, baseUrl, token)
  })

  t.test('revokeAll() ends the session', async (t) => {
    const { baseUrl, client } = await setUp(t)
    const token = await client.getToken(credentials)
    const other = await client.getToken(credentials)
    await token.revokeAll()
    await sessionEnded(t, baseUrl, token)
    t.equal((await me(baseUrl, accessOf(other))).status, 200, 'another session of the user goes on')
  })

  t.test('a wrong password: getToken rejects with the server\'s 401 invalid_grant', async (t) => {
    const { client } = await setUp(t)
    const refusal = await refusalOf(client.getToken({ ...credentials, password: 'not-the-password' }))
    t.equal(refusal.status, 401)
    t.same(refusal.body, { detail: 'Incorrect username or password', error: 'invalid_grant', error_description: 'Incorrect username or password' })
    t.equal(refusal.headers['www-authenticate'], 'Bearer')
    t.equal(refusal.headers['cache-control'], 'no-store')
    // The error's own `output.payload` is Boom's wording of the status; the server's body is `data.payload` (above).
    t.same(refusal.output, { statusCode: 401, error: 'Unauthorized', message: 'Response Error: 401 Unauthorized' })
  })

  t.test('refresh() after logout rejects with invalid_grant (400)', async (t) => {
    const { baseUrl, client } = await setUp(t)
    const token = await client.getToken(credentials)
    const logout = await withBearer(baseUrl, 'POST', '/logout', accessOf(token))
    t.equal(logout.status, 204)
    const refusal = await refusalOf(token.refresh())
    t.equal(refusal.status, 400)
    t.equal(refusal.body.error, 'invalid_grant')
    t.equal(refusal.body.error_description, 'The refresh token is invalid or has been revoked')
    const res = await me(baseUrl, accessOf(token))
    t.equal(res.status, 401)
    t.equal(res.headers.get('www-authenticate'), INVALID_TOKEN_CHALLENGE)
  })
})
