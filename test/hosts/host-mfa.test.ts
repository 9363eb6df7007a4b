import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import tokenAuth from '../../src/index.js'
import { forEachEngine, freshDatabaseUrl } from '../helper.js'
import { claimsOf, MFA_GRANT, oathtool } from '../routes/mfa-support.js'
import { bearer, hostUser, loginAs, memoryStore, newHost, pluginOptions, registerUser, requestToken } from './support.js'

// TOTP over a host's own user store: the plugin's database holds the sessions and the second
// factors, the store the accounts. With no foreign key between them, a deleted account's
// factor goes with it all the same.

/** A host with a user store of its own, the plugin under /auth on a fresh database of `engine`. */
async function mfaHost (t: Test, engine: 'sqlite' | 'postgres'): Promise<FastifyInstance> {
  const host = newHost(t)
  await host.register(tokenAuth, pluginOptions({ store: memoryStore(), database: await freshDatabaseUrl(t, engine) }))
  await host.ready()
  return host
}

/** `POST /auth/token` with a form of any grant. */
async function tokenForm (host: FastifyInstance, form: Record<string, string>): Promise<LightMyRequestResponse> {
  return await host.inject({
    method: 'POST',
    url: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(form).toString()
  })
}

/** Turns TOTP on for the logged-in user, confirming with the last step's code: the secret and the recovery codes. */
async function enrol (t: Test, host: FastifyInstance): Promise<{ secret: string, recoveryCodes: string[] }> {
  const access = await loginAs(host)
  const start = await host.inject({ method: 'POST', url: '/auth/users/me/mfa/totp', headers: bearer(access), payload: { password: hostUser.password } })
  t.equal(start.statusCode, 200, 'enrolment started')
  const { secret, otpauth_uri: uri } = start.json()
  t.match(uri, /^otpauth:\/\/totp\//, 'with its otpauth:// URI')
  const confirm = await host.inject({ method: 'POST', url: '/auth/users/me/mfa/totp/verify', headers: bearer(access), payload: { code: await oathtool(secret, -1) } })
  t.equal(confirm.statusCode, 200, 'TOTP is on')
  return { secret, recoveryCodes: confirm.json().recovery_codes }
}

/** The password step of a login with TOTP on: the `mfa_token` of its 403. */
async function mfaTokenOf (t: Test, host: FastifyInstance): Promise<string> {
  const res = await requestToken(host)
  t.equal(res.statusCode, 403, 'the password alone does not log in')
  t.equal(res.json().error, 'mfa_required')
  return res.json().mfa_token
}

/** A login with the password alone: its access token's `amr`. */
async function passwordOnly (t: Test, host: FastifyInstance): Promise<unknown> {
  const res = await requestToken(host)
  t.equal(res.statusCode, 200, 'the password alone logs in')
  return claimsOf(res.json().access_token).amr
}

forEachEngine(t, async (t, engine) => {
  t.test('enrolment and the two-step login; resetMfa turns the factor off', async (t) => {
    const host = await mfaHost(t, engine)
    t.equal((await registerUser(host)).statusCode, 201)
    const { secret } = await enrol(t, host)

    const login = await tokenForm(host, { grant_type: MFA_GRANT, mfa_token: await mfaTokenOf(t, host), otp: await oathtool(secret) })
    t.equal(login.statusCode, 200, 'the second step logs in')
    const pair = login.json()
    t.same(claimsOf(pair.access_token).amr, ['pwd', 'otp'])
    const me = await host.inject({ url: '/auth/users/me/', headers: bearer(pair.access_token) })
    t.equal(me.json().username, hostUser.username, 'its access token works')

    const pending = await mfaTokenOf(t, host)
    t.equal(await host.tokenAuth.accounts.resetMfa(hostUser.username), true, 'resetMfa: the factor was there')
    t.equal(await host.tokenAuth.accounts.resetMfa(hostUser.username), false, 'and is gone')
    t.same(await passwordOnly(t, host), ['pwd'])
    const stale = await tokenForm(host, { grant_type: MFA_GRANT, mfa_token: pending, otp: await oathtool(secret, 1) })
    t.equal(stale.statusCode, 400, 'an mfa_token from before the reset is no good')
    t.equal(stale.json().error, 'invalid_grant')
    t.equal((await host.inject({ url: '/auth/users/me/', headers: bearer(pair.access_token) })).statusCode, 200, 'the sessions go on')
    t.equal(await host.tokenAuth.accounts.resetMfa('nobody'), false, 'no such user')
  })

  t.test('deleting the account through the host API takes its factor: a new account of the name has none', async (t) => {
    const host = await mfaHost(t, engine)
    t.equal((await registerUser(host)).statusCode, 201)
    const { recoveryCodes } = await enrol(t, host)
    const pending = await mfaTokenOf(t, host)

    t.equal(await host.tokenAuth.accounts.delete(hostUser.username), true, 'deleted')
    t.equal((await registerUser(host)).statusCode, 201, 'the name registered again')
    t.same(await passwordOnly(t, host), ['pwd'], 'the new account logs in with its password alone')
    const status = await host.inject({ url: '/auth/users/me/mfa', headers: bearer(await loginAs(host)) })
    t.same(status.json(), { totp_enabled: false, recovery_codes_remaining: 0 }, 'and has no second factor')
    const stale = await tokenForm(host, { grant_type: MFA_GRANT, mfa_token: pending, recovery_code: recoveryCodes[0] ?? '' })
    t.equal(stale.statusCode, 400, 'the old account\'s mfa_token does not log into the new one')
    t.equal(stale.json().error, 'invalid_grant')
  })
})
