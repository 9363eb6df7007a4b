import { setTimeout as sleep } from 'node:timers/promises'
import * as oauth from 'oauth4webapi'
import t, { type Test } from 'tap'
import { createUser, forEachEngine, johndoe } from '../helper.js'
import { startService } from './support.js'

// The service driven by oauth4webapi (npm, not ours, and strict about RFC 6749 and RFC 7009)
// over real HTTP on loopback. Every answer goes through the library's own `process…Response`
// checks, unmodified: the token responses must pass them as they are.

// Plain http on loopback: the library refuses non-https endpoints unless this option is set on
// each call. It is a transport setting only (which URL schemes may be requested); it changes
// nothing about how the library checks our answers.
const insecure = { [oauth.allowInsecureRequests]: true } as const

const client: oauth.Client = { client_id: 'oauth4webapi-test' }
// A public client: only client_id in the form (the server ignores client credentials anyway).
const clientAuth = oauth.None()

/** The authorization server's metadata, written by hand (the service publishes no discovery document). */
function serverOf (baseUrl: string): oauth.AuthorizationServer {
  return { issuer: baseUrl, token_endpoint: `${baseUrl}/token`, revocation_endpoint: `${baseUrl}/revoke` }
}

/** What `call` threw, which must be an instance of `type` (the test fails otherwise). */
async function thrown<E extends Error> (call: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await call
  } catch (error) {
    if (error instanceof type) return error
    throw new Error(`expected a ${type.name}`, { cause: error })
  }
  throw new Error(`expected a ${type.name}, the call resolved`)
}

/** RFC 6749 §5.1: a token answer must not be cached. */
function notCached (t: Test, response: Response, what: string) {
  t.equal(response.headers.get('cache-control'), 'no-store', `${what}: Cache-Control: no-store`)
  t.equal(response.headers.get('pragma'), 'no-cache', `${what}: Pragma: no-cache`)
}

forEachEngine(t, async (t, engine) => {
  async function setUp (t: Test, opts: { refreshTokenReuseSeconds?: number } = {}) {
    const { app, baseUrl } = await startService(t, opts, engine)
    await createUser(app, johndoe)
    const as = serverOf(baseUrl)

    /** The password grant, through the library's generic grant request and its checks. */
    async function passwordGrant (password = johndoe.password): Promise<Response> {
      return await oauth.genericTokenEndpointRequest(as, client, clientAuth, 'password',
        new URLSearchParams({ username: johndoe.username, password }), insecure)
    }
    async function login (): Promise<oauth.TokenEndpointResponse> {
      return await oauth.processGenericTokenEndpointResponse(as, client, await passwordGrant())
    }
    async function refresh (refreshToken: string): Promise<oauth.TokenEndpointResponse> {
      return await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, insecure))
    }
    async function revoke (token: string, hint?: 'refresh_token' | 'access_token'): Promise<undefined> {
      const response = await oauth.revocationRequest(as, client, clientAuth, token,
        { ...insecure, additionalParameters: hint === undefined ? {} : { token_type_hint: hint } })
      return await oauth.processRevocationResponse(response)
    }
    /** GET /users/me/ through the library's protected-resource request (which throws on a WWW-Authenticate challenge). */
    async function me (accessToken: string): Promise<Response> {
      return await oauth.protectedResourceRequest(accessToken, 'GET', new URL(`${baseUrl}/users/me/`), undefined, undefined, insecure)
    }
    return { as, passwordGrant, login, refresh, revoke, me }
  }
  type Service = Awaited<ReturnType<typeof setUp>>

  const refreshTokenOf = (token: oauth.TokenEndpointResponse): string => {
    if (typeof token.refresh_token !== 'string') throw new Error('no refresh token in the token response')
    return token.refresh_token
  }

  /** A token response with everything RFC 6749 §5.1 lets a server leave out, as this service promises it. */
  function completeTokenResponse (t: Test, token: oauth.TokenEndpointResponse) {
    t.type(token.access_token, 'string', 'access_token')
    t.equal(token.token_type, 'bearer', 'token_type (the library lowercases it)')
    t.equal(token.expires_in, 1800, 'expires_in, a number')
    t.type(token.refresh_token, 'string', 'refresh_token present')
  }

  /** The access token works, as the library sends it. */
  async function accepted (t: Test, service: Service, accessToken: string) {
    const res = await service.me(accessToken)
    t.equal(res.status, 200, 'the access token is accepted')
    t.equal((await res.json() as { username?: unknown }).username, 'johndoe')
  }

  /** The session behind the pair has ended: the library sees the resource server's challenge, and an invalid_grant at the token endpoint. */
  async function ended (t: Test, service: Service, token: oauth.TokenEndpointResponse) {
    const challenge = await thrown(service.me(token.access_token), oauth.WWWAuthenticateChallengeError)
    t.equal(challenge.status, 401)
    t.same(challenge.cause, [{ scheme: 'bearer', parameters: { error: 'invalid_token' } }], 'Bearer error="invalid_token", as the library parses it')
    const refused = await thrown(service.refresh(refreshTokenOf(token)), oauth.ResponseBodyError)
    t.equal(refused.status, 400)
    t.equal(refused.error, 'invalid_grant')
  }

  t.test('password grant (generic grant request): the library accepts the token response as it is', async (t) => {
    const service = await setUp(t)
    const response = await service.passwordGrant()
    t.equal(response.status, 200)
    notCached(t, response, 'password grant')
    const token = await oauth.processGenericTokenEndpointResponse(service.as, client, response)
    completeTokenResponse(t, token)
    await accepted(t, service, token.access_token)
  })

  t.test('scope: the library sends it and reads the granted scope; a refresh narrows it; an unknown one is invalid_scope', async (t) => {
    const service = await setUp(t)
    const granted = await oauth.processGenericTokenEndpointResponse(service.as, client, await oauth.genericTokenEndpointRequest(service.as, client, clientAuth,
      'password', new URLSearchParams({ username: johndoe.username, password: johndoe.password, scope: 'items me' }), insecure))
    t.equal(granted.scope, 'me items', 'the granted scope, as the library reads it')
    const narrowed = await oauth.processRefreshTokenResponse(service.as, client, await oauth.refreshTokenGrantRequest(service.as, client, clientAuth,
      refreshTokenOf(granted), { ...insecure, additionalParameters: { scope: 'me' } }))
    t.equal(narrowed.scope, 'me', 'narrowed by the refresh')
    await accepted(t, service, narrowed.access_token)
    const challenge = await thrown(oauth.protectedResourceRequest(narrowed.access_token, 'GET', new URL(`${service.as.issuer}/users/me/items/`), undefined, undefined, insecure),
      oauth.WWWAuthenticateChallengeError)
    t.equal(challenge.status, 403)
    t.same(challenge.cause, [{ scheme: 'bearer', parameters: { error: 'insufficient_scope', scope: 'items' } }], 'insufficient_scope, as the library parses it')
    const unknown = await thrown(oauth.processGenericTokenEndpointResponse(service.as, client, await oauth.genericTokenEndpointRequest(service.as, client, clientAuth,
      'password', new URLSearchParams({ username: johndoe.username, password: johndoe.password, scope: 'orders' }), insecure)), oauth.ResponseBodyError)
    t.same([unknown.status, unknown.error], [400, 'invalid_scope'])
  })

  t.test('refresh grant: strict checks pass, the refresh token rotates, the new pair works', async (t) => {
    const service = await setUp(t)
    const first = await service.login()
    const response = await oauth.refreshTokenGrantRequest(service.as, client, clientAuth, refreshTokenOf(first), insecure)
    t.equal(response.status, 200)
    notCached(t, response, 'refresh grant')
    const second = await oauth.processRefreshTokenResponse(service.as, client, response)
    completeTokenResponse(t, second)
    t.not(second.refresh_token, first.refresh_token, 'a new refresh token')
    await accepted(t, service, second.access_token)
    const third = await service.refresh(refreshTokenOf(second))
    completeTokenResponse(t, third)
    t.not(third.refresh_token, second.refresh_token, 'rotated again')
    await accepted(t, service, third.access_token)
  })

  t.test('revocation of the refresh token: the library accepts the empty 200, and the session has ended', async (t) => {
    const service = await setUp(t)
    const token = await service.refresh(refreshTokenOf(await service.login()))
    await accepted(t, service, token.access_token)
    const response = await oauth.revocationRequest(service.as, client, clientAuth, refreshTokenOf(token),
      { ...insecure, additionalParameters: { token_type_hint: 'refresh_token' } })
    t.equal(response.status, 200)
    notCached(t, response, 'revocation')
    t.equal(await oauth.processRevocationResponse(response), undefined)
    await ended(t, service, token)
    const refused = await thrown(service.refresh(refreshTokenOf(token)), oauth.ResponseBodyError)
    t.equal(refused.error_description, 'The refresh token is invalid or has been revoked')
    t.equal(refused.response.headers.get('cache-control'), 'no-store', 'the error is not cached either')
  })

  t.test('revocation of the access token ends its session; an unknown token is no error (RFC 7009 §2.2)', async (t) => {
    const service = await setUp(t)
    const token = await service.login()
    const other = await service.login()
    t.equal(await service.revoke(token.access_token, 'access_token'), undefined)
    await ended(t, service, token)
    await accepted(t, service, other.access_token)
    t.equal(await service.revoke('no-such-token'), undefined, 'unknown, no hint')
    t.equal(await service.revoke('no-such-token', 'access_token'), undefined, 'unknown, access_token hint')
    t.equal(await service.revoke(refreshTokenOf(token), 'refresh_token'), undefined, 'already revoked')
    await accepted(t, service, other.access_token)
  })

  t.test('a spent refresh token presented after the reuse window: ResponseBodyError invalid_grant 400, and the session ends', async (t) => {
    const service = await setUp(t, { refreshTokenReuseSeconds: 0 })
    const first = await service.login()
    const second = await service.refresh(refreshTokenOf(first))
    await accepted(t, service, second.access_token)
    await sleep(5)
    const refused = await thrown(service.refresh(refreshTokenOf(first)), oauth.ResponseBodyError)
    t.equal(refused.status, 400)
    t.equal(refused.error, 'invalid_grant')
    t.match(refused.error_description, /already used/)
    t.equal(refused.cause.error, 'invalid_grant', 'the parsed body')
    await ended(t, service, second)
  })

  t.test('an unsupported grant: ResponseBodyError unsupported_grant_type 400', async (t) => {
    const service = await setUp(t)
    const generic = await oauth.genericTokenEndpointRequest(service.as, client, clientAuth,
      'urn:ietf:params:oauth:grant-type:token-exchange', { subject_token: 'x', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }, insecure)
    notCached(t, generic, 'unsupported grant')
    const refused = await thrown(oauth.processGenericTokenEndpointResponse(service.as, client, generic), oauth.ResponseBodyError)
    t.equal(refused.status, 400)
    t.equal(refused.error, 'unsupported_grant_type')
    const credentials = await oauth.clientCredentialsGrantRequest(service.as, client, clientAuth, {}, insecure)
    const alsoRefused = await thrown(oauth.processClientCredentialsResponse(service.as, client, credentials), oauth.ResponseBodyError)
    t.equal(alsoRefused.status, 400)
    t.equal(alsoRefused.error, 'unsupported_grant_type', 'the library\'s own client-credentials request')
  })

  t.test('a wrong password: the library reports the 401\'s WWW-Authenticate challenge; the body says invalid_grant', async (t) => {
    // The service answers a wrong password with 401 and `WWW-Authenticate: Bearer` (the FastAPI
    // tutorial's answer, documented on the route); oauth4webapi looks at a challenge before the
    // body, so this surfaces as a WWWAuthenticateChallengeError, not a ResponseBodyError.
    const service = await setUp(t)
    const response = await service.passwordGrant('not-the-password')
    notCached(t, response, 'wrong password')
    const challenge = await thrown(oauth.processGenericTokenEndpointResponse(service.as, client, response), oauth.WWWAuthenticateChallengeError)
    t.equal(challenge.status, 401)
    t.same(challenge.cause, [{ scheme: 'bearer', parameters: {} }])
    t.equal(challenge.response.bodyUsed, false, 'the library leaves the body unread')
    t.same(await challenge.response.json(), { detail: 'Incorrect username or password', error: 'invalid_grant', error_description: 'Incorrect username or password' })
  })
})
