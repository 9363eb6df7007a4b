import * as jose from 'jose'
import * as oauth from 'oauth4webapi'
import { ResourceOwnerPassword, type AccessToken, type ModuleOptions, type PasswordTokenConfig } from 'simple-oauth2'
import t, { type Test } from 'tap'
import { forEachEngine, johndoe, testSecret } from '../helper.js'
import { enrolled, MFA_GRANT, oathtool } from '../routes/mfa-support.js'
import { me, startService } from './support.js'

// The two-step login of an account with TOTP on, driven over real HTTP on loopback by client
// libraries that are not ours: the password grant answers 403 mfa_required, and the second step
// is an extension grant (RFC 6749 §4.5). Every answer goes through the library's own checks.

// Plain http on loopback: oauth4webapi refuses non-https endpoints unless told; a transport setting only.
const insecure = { [oauth.allowInsecureRequests]: true } as const
const client: oauth.Client = { client_id: 'oauth4webapi-test' }
const clientAuth = oauth.None()
const credentials = { username: johndoe.username, password: johndoe.password }

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

/** A string field of a parsed error body; fails the test when it is missing. */
function stringField (body: Record<string, unknown>, field: string): string {
  const value = body[field]
  if (typeof value !== 'string') throw new Error(`no ${field} in ${JSON.stringify(body)}`)
  return value
}

/** simple-oauth2's configuration, as test/clients/simple-oauth2.test.ts has it: credentials in the form. */
function simpleOauth2Options (baseUrl: string): ModuleOptions {
  return {
    client: { id: 'simple-oauth2-test', secret: 'not-checked' },
    auth: { tokenHost: baseUrl, tokenPath: '/token' },
    options: { authorizationMethod: 'body' }
  }
}

/**
 * simple-oauth2 has no request for an extension grant; its password grant's getToken puts every
 * parameter it is given in the form, and a `grant_type` among them replaces `password`.
 */
async function extensionGrant (rop: ResourceOwnerPassword, form: Record<string, string>): Promise<AccessToken> {
  return await rop.getToken({ grant_type: MFA_GRANT, ...form } as unknown as PasswordTokenConfig)
}

interface ServerRefusal {
  status: number
  /** The server's JSON body, as simple-oauth2 parsed it. */
  body: Record<string, unknown>
  headers: Record<string, unknown>
}

/** The server's refusal a simple-oauth2 call rejected with (a Boom error carrying the answer). */
async function refusalOf (call: Promise<unknown>): Promise<ServerRefusal> {
  try {
    await call
  } catch (error) {
    const boom = error as { isBoom?: unknown, output?: { statusCode?: unknown }, data?: { isResponseError?: unknown, payload?: unknown, headers?: unknown } }
    if (boom.isBoom !== true || boom.data?.isResponseError !== true || typeof boom.output?.statusCode !== 'number') {
      throw new Error('the call failed, but not with a response error of the server', { cause: error })
    }
    return { status: boom.output.statusCode, body: boom.data.payload as Record<string, unknown>, headers: boom.data.headers as Record<string, unknown> }
  }
  throw new Error('the call resolved; a refusal was expected')
}

forEachEngine(t, async (t, engine) => {
  /** A listening service whose johndoe has TOTP on, and a check of its access tokens as a resource server would make it. */
  async function setUp (t: Test) {
    const secret = testSecret()
    const service = await startService(t, { secret }, engine)
    const factor = await enrolled(service.app, johndoe)
    const { issuer, audience } = service.app.tokenAuth.settings
    /** The claims of an access token whose HS256 signature, issuer, audience and type (RFC 9068) jose accepts. */
    async function verified (jwt: string): Promise<jose.JWTPayload> {
      const { payload } = await jose.jwtVerify(jwt, new TextEncoder().encode(secret), { algorithms: ['HS256'], issuer, audience, typ: 'at+jwt' })
      return payload
    }
    return { ...service, factor, verified }
  }

  t.test('oauth4webapi: mfa_required with its mfa_token, the MFA grant with a TOTP code, and a replayed code is invalid_grant', async (t) => {
    const service = await setUp(t)
    const as: oauth.AuthorizationServer = { issuer: service.baseUrl, token_endpoint: `${service.baseUrl}/token` }
    const passwordStep = async () => await thrown(oauth.processGenericTokenEndpointResponse(as, client,
      await oauth.genericTokenEndpointRequest(as, client, clientAuth, 'password', new URLSearchParams(credentials), insecure)), oauth.ResponseBodyError)
    const mfaGrant = async (form: Record<string, string>) => await oauth.genericTokenEndpointRequest(as, client, clientAuth, MFA_GRANT, form, insecure)

    const required = await passwordStep()
    t.equal(required.status, 403)
    t.equal(required.error, 'mfa_required', 'the error code, as the library reports it')
    t.type(required.error_description, 'string')
    t.equal(required.response.headers.get('cache-control'), 'no-store', 'the answer is not cached')
    const mfaToken = stringField(required.cause, 'mfa_token')

    const otp = await oathtool(service.factor.secret)
    const response = await mfaGrant({ mfa_token: mfaToken, otp })
    t.equal(response.status, 200)
    t.equal(response.headers.get('cache-control'), 'no-store')
    const token = await oauth.processGenericTokenEndpointResponse(as, client, response)
    t.equal(token.token_type, 'bearer', 'token_type (the library lowercases it)')
    t.equal(token.expires_in, 1800)
    t.type(token.refresh_token, 'string', 'a refresh token')
    t.equal(token.scope, 'me items', 'the scope the password step granted')
    const claims = await service.verified(token.access_token)
    t.equal(claims.sub, johndoe.username)
    t.same(claims.amr, ['pwd', 'otp'], 'logged in with the password and a one-time code')
    t.equal(claims.client_id, client.client_id, 'the client the password step named')
    const res = await oauth.protectedResourceRequest(token.access_token, 'GET', new URL(`${service.baseUrl}/users/me/`), undefined, undefined, insecure)
    t.equal(res.status, 200, 'the access token is accepted')

    const again = await passwordStep()
    const freshToken = stringField(again.cause, 'mfa_token')
    t.not(freshToken, mfaToken, 'a fresh mfa_token')
    const replayed = await thrown(oauth.processGenericTokenEndpointResponse(as, client, await mfaGrant({ mfa_token: freshToken, otp })), oauth.ResponseBodyError)
    t.equal(replayed.status, 400)
    t.equal(replayed.error, 'invalid_grant', 'a code already accepted is refused')
    t.equal(replayed.error_description, 'Code already used: wait for the next one')
    const spent = await thrown(oauth.processGenericTokenEndpointResponse(as, client, await mfaGrant({ mfa_token: mfaToken, otp: await oathtool(service.factor.secret, 1) })),
      oauth.ResponseBodyError)
    t.same([spent.status, spent.error], [400, 'invalid_grant'], 'the mfa_token of the login that succeeded is spent')
  })

  t.test('simple-oauth2: mfa_required, the MFA grant with a recovery code through getToken, and a refresh keeps amr', async (t) => {
    const service = await setUp(t)
    const rop = new ResourceOwnerPassword(simpleOauth2Options(service.baseUrl))

    const required = await refusalOf(rop.getToken(credentials))
    t.equal(required.status, 403)
    t.equal(required.body.error, 'mfa_required')
    t.equal(required.headers['cache-control'], 'no-store')
    const recoveryCode = service.factor.recoveryCodes[0] ?? ''
    t.match(recoveryCode, /^[0-9a-z]{4}(-[0-9a-z]{4}){3}$/, 'a recovery code as the enrolment showed it')

    const token = await extensionGrant(rop, { mfa_token: stringField(required.body, 'mfa_token'), recovery_code: recoveryCode })
    t.equal(token.token.token_type, 'bearer')
    t.equal(token.token.expires_in, 1800)
    t.equal(token.expired(), false, 'the library read expires_in')
    const access = stringField(token.token, 'access_token')
    t.same((await service.verified(access)).amr, ['pwd', 'otp'])
    t.equal((await me(service.baseUrl, access)).json?.username, johndoe.username, 'the access token is accepted')

    const refreshed = await token.refresh()
    t.not(refreshed.token.refresh_token, token.token.refresh_token, 'the refresh token rotated')
    const refreshedAccess = stringField(refreshed.token, 'access_token')
    t.same((await service.verified(refreshedAccess)).amr, ['pwd', 'otp'], 'the refreshed access token keeps amr')
    t.equal((await me(service.baseUrl, refreshedAccess)).status, 200)

    const again = await refusalOf(rop.getToken(credentials))
    const spent = await refusalOf(extensionGrant(rop, { mfa_token: stringField(again.body, 'mfa_token'), recovery_code: recoveryCode }))
    t.equal(spent.status, 400)
    t.equal(spent.body.error, 'invalid_grant', 'a recovery code works once')
    t.equal(spent.body.error_description, 'Recovery code already used')
  })
})
