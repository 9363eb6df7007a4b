import { Writable } from 'node:stream'
import Fastify from 'fastify'
import type { Kysely } from 'kysely'
import t from 'tap'
import { createDatabase } from '../../src/db/database.js'
import type { AuthDatabase } from '../../src/db/types.js'
import service from '../../src/service/app.js'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import { bearer, createUser, forEachEngine, freshDatabaseUrl, requestToken, testSecret, type TestUser } from '../helper.js'
import { claimsOf, enrol, enrolled, MFA_GRANT, mfaApp, mfaToken, oathtool, secondStep, wrongCode } from './mfa-support.js'
import { mailedApp, tokenIn, verifiedUser } from './recovery-support.js'

// The second factor on both engines: enrolment, the two-step login at the token endpoint, what a
// code, a recovery code and an mfa_token allow once, and the limits. Codes come from oathtool.

const jane: TestUser = { username: 'janedoe', password: 'first-long-password' }
const bob: TestUser = { username: 'bobsmith', password: 'bobs-long-password' }
const form = (user: TestUser) => ({ username: user.username, password: user.password })
const INVALID_TOKEN = { error: 'invalid_grant', detail: 'Invalid or expired mfa_token: log in again' }

forEachEngine(t, async (t, engine) => {
  t.test('enrolment: the password, a secret an app can use, a code, and ten recovery codes shown once', async (t) => {
    const { app } = await mfaApp(t, engine, { totpIssuer: 'Example Notes' })
    await createUser(app, jane)
    const first = (await requestToken(app, form(jane))).json()
    const other = (await requestToken(app, form(jane))).json()
    const me = bearer(first.access_token)
    t.same((await app.inject({ url: '/users/me/mfa', headers: me })).json(), { totp_enabled: false, recovery_codes_remaining: 0 })

    const wrong = await app.inject({ method: 'POST', url: '/users/me/mfa/totp', headers: me, payload: { password: 'not-the-password' } })
    t.equal(wrong.statusCode, 400, 'a wrong password starts nothing')
    t.same(wrong.json(), { detail: 'Password is incorrect' })
    t.equal((await app.inject({ method: 'POST', url: '/users/me/mfa/totp', headers: me, payload: {} })).statusCode, 422, 'no password')
    t.equal((await app.inject({ method: 'POST', url: '/users/me/mfa/totp', payload: { password: jane.password } })).statusCode, 401, 'no token')

    const started = await app.inject({ method: 'POST', url: '/users/me/mfa/totp', headers: me, payload: { password: jane.password } })
    t.equal(started.statusCode, 200)
    t.equal(started.headers['cache-control'], 'no-store')
    const { secret, otpauth_uri: uri } = started.json()
    t.match(secret, /^[A-Z2-7]{32}$/, '160 bits in base32')
    const parsed = new URL(uri)
    t.equal(parsed.protocol, 'otpauth:')
    t.equal(parsed.host, 'totp')
    t.equal(decodeURIComponent(parsed.pathname), '/Example Notes:janedoe', 'the issuer and the account in the label')
    t.equal(parsed.searchParams.get('secret'), secret)
    t.equal(parsed.searchParams.get('issuer'), 'Example Notes')
    t.equal((await requestToken(app, form(jane))).statusCode, 200, 'pending: a login needs the password only')

    const bad = await app.inject({ method: 'POST', url: '/users/me/mfa/totp/verify', headers: me, payload: { code: await wrongCode(secret) } })
    t.equal(bad.statusCode, 400)
    t.same(bad.json(), { detail: 'Invalid code' })
    t.equal((await app.inject({ method: 'POST', url: '/users/me/mfa/totp/verify', headers: me, payload: { code: '12345' } })).statusCode, 422, 'five digits')

    const confirmed = await app.inject({ method: 'POST', url: '/users/me/mfa/totp/verify', headers: me, payload: { code: await oathtool(secret) } })
    t.equal(confirmed.statusCode, 200)
    t.equal(confirmed.headers['cache-control'], 'no-store')
    const codes: string[] = confirmed.json().recovery_codes
    t.equal(codes.length, 10)
    t.equal(new Set(codes).size, 10, 'all different')
    t.ok(codes.every((code) => /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/.test(code)), 'four groups of four Crockford base32 characters')
    t.same((await app.inject({ url: '/users/me/mfa', headers: me })).json(), { totp_enabled: true, recovery_codes_remaining: 10 })
    t.equal((await app.inject({ url: '/users/me/', headers: me })).statusCode, 200, 'the session that enrolled goes on')
    t.equal((await app.inject({ url: '/users/me/', headers: bearer(other.access_token) })).statusCode, 401, 'the other session ended')
    t.equal((await requestToken(app, { grant_type: 'refresh_token', refresh_token: other.refresh_token })).statusCode, 400, 'with its refresh token')

    const again = await app.inject({ method: 'POST', url: '/users/me/mfa/totp', headers: me, payload: { password: jane.password } })
    t.equal(again.statusCode, 409, 'no second enrolment while it is on')
    t.same(again.json(), { detail: 'TOTP is already on: turn it off first to enrol another authenticator' })
    const late = await app.inject({ method: 'POST', url: '/users/me/mfa/totp/verify', headers: me, payload: { code: await oathtool(secret, 1) } })
    t.same(late.json(), { detail: 'No TOTP enrolment is waiting for a code: start one with POST /users/me/mfa/totp' })
  })

  t.test('the two-step login: 403 mfa_required and no session, then the MFA grant; amr on every token', async (t) => {
    const { app, db } = await mfaApp(t, engine)
    const { secret } = await enrolled(app, jane)
    await createUser(app, bob)
    const sessionsBefore = (await db.selectFrom('sessions').select('id').where('username', '=', jane.username).execute()).length

    t.equal((await requestToken(app, { username: jane.username, password: 'wrong-password' })).statusCode, 401, 'a wrong password answers 401 as ever')
    const step1 = await requestToken(app, form(jane))
    t.equal(step1.statusCode, 403)
    t.equal(step1.headers['cache-control'], 'no-store')
    const body = step1.json()
    t.same(Object.keys(body).sort(), ['detail', 'error', 'error_description', 'mfa_token'])
    t.equal(body.error, 'mfa_required')
    t.equal(body.detail, body.error_description)
    t.match(body.mfa_token, /^[A-Za-z0-9_-]{43}$/)
    t.equal((await db.selectFrom('sessions').select('id').where('username', '=', jane.username).execute()).length, sessionsBefore, 'no session was opened')

    const step2 = await secondStep(app, { mfa_token: body.mfa_token, otp: await oathtool(secret) })
    t.equal(step2.statusCode, 200)
    const pair = step2.json()
    t.same(Object.keys(pair).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    t.same(claimsOf(pair.access_token).amr, ['pwd', 'otp'])
    t.equal((await app.inject({ url: '/users/me/', headers: bearer(pair.access_token) })).json().username, jane.username)

    const refreshed = await requestToken(app, { grant_type: 'refresh_token', refresh_token: pair.refresh_token })
    t.equal(refreshed.statusCode, 200, 'a refresh needs no code')
    t.same(claimsOf(refreshed.json().access_token).amr, ['pwd', 'otp'], 'and keeps amr')

    const plain = await requestToken(app, form(bob))
    t.equal(plain.statusCode, 200, 'an account without TOTP logs in at once')
    t.same(claimsOf(plain.json().access_token).amr, ['pwd'])

    const spent = await secondStep(app, { mfa_token: body.mfa_token, otp: await oathtool(secret, 1) })
    t.equal(spent.statusCode, 400, 'an mfa_token works once')
    t.match(spent.json(), INVALID_TOKEN)
  })

  t.test('a code works once: the same code again, or an older one, is invalid_grant', async (t) => {
    const { app } = await mfaApp(t, engine)
    const { secret } = await enrolled(app, jane)
    const now = await oathtool(secret)
    t.equal((await secondStep(app, { mfa_token: await mfaToken(app, jane), otp: now })).statusCode, 200)

    const token = await mfaToken(app, jane)
    for (const [what, code] of [['the same code', now], ['the code of the step before', await oathtool(secret, -1)]] as const) {
      const replay = await secondStep(app, { mfa_token: token, otp: code })
      t.equal(replay.statusCode, 400, what)
      t.same(replay.json(), { detail: 'Code already used: wait for the next one', error: 'invalid_grant', error_description: 'Code already used: wait for the next one' })
    }
    const next = await secondStep(app, { mfa_token: token, otp: await oathtool(secret, 1) })
    t.equal(next.statusCode, 200, 'the next step\'s code works, with the same mfa_token')

    const racing = await mfaToken(app, jane)
    const [a, b] = await Promise.all([1, 2].map(async () => await secondStep(app, { mfa_token: racing, otp: await oathtool(secret, 1) })))
    t.same([a?.statusCode, b?.statusCode], [400, 400], 'a code already taken is refused to concurrent requests too')
  })

  t.test('two concurrent second steps with one mfa_token and a fresh code: exactly one session', async (t) => {
    const { app, db } = await mfaApp(t, engine)
    const { secret } = await enrolled(app, jane)
    const token = await mfaToken(app, jane)
    const code = await oathtool(secret)
    const answers = await Promise.all([1, 2, 3].map(async () => await secondStep(app, { mfa_token: token, otp: code })))
    t.same(answers.map((res) => res.statusCode).sort(), [200, 400, 400])
    t.equal((await db.selectFrom('sessions').select('id').where('username', '=', jane.username).execute()).length, 2, 'the enrolling session and one more')
  })

  t.test('the mfa_token: five wrong codes spend it, it expires, and bad input spends nothing', async (t) => {
    const { app, db } = await mfaApp(t, engine)
    const { secret } = await enrolled(app, jane)
    const wrong = await wrongCode(secret)
    const token = await mfaToken(app, jane)

    for (const [problem, form, detail] of [
      ['a code of five digits', { mfa_token: token, otp: '12345' }, 'The code must be 6 digits'],
      ['a code with a letter', { mfa_token: token, otp: '12345a' }, 'The code must be 6 digits'],
      ['a recovery code of another shape', { mfa_token: token, recovery_code: 'not-a-code' }, 'Malformed recovery code: 16 letters and digits, as they were shown (hyphens optional)'],
      ['both kinds of code', { mfa_token: token, otp: '123456', recovery_code: '0000-0000-0000-0000' }, 'Send otp or recovery_code, not both'],
      ['no code', { mfa_token: token }, 'Missing required field: otp'],
      ['no mfa_token', { otp: '123456' }, 'Missing required field: mfa_token'],
      ['an mfa_token of another shape', { mfa_token: `${token.slice(1)}=`, otp: '123456' }, 'Malformed mfa_token: send it as the password step gave it']
    ] as const) {
      const res = await secondStep(app, form)
      t.equal(res.statusCode, 400, problem)
      t.same(res.json(), { detail, error: 'invalid_request', error_description: detail }, `${problem}: invalid_request`)
    }
    const unknown = await secondStep(app, { mfa_token: 'A'.repeat(43), otp: wrong })
    t.match(unknown.json(), INVALID_TOKEN, 'an unknown mfa_token')

    for (let i = 1; i <= 4; i++) {
      const res = await secondStep(app, { mfa_token: token, otp: wrong })
      t.same(res.json(), { detail: 'Invalid code', error: 'invalid_grant', error_description: 'Invalid code' }, `wrong code ${i}`)
    }
    t.equal((await secondStep(app, { mfa_token: token, otp: await oathtool(secret) })).statusCode, 200, 'after four wrong codes and all that bad input, the right code works')

    const doomed = await mfaToken(app, jane)
    for (let i = 1; i <= 5; i++) await secondStep(app, { mfa_token: doomed, otp: wrong })
    t.match((await secondStep(app, { mfa_token: doomed, otp: await oathtool(secret, 1) })).json(), INVALID_TOKEN, 'the fifth wrong code spent it')

    const expiring = await mfaToken(app, jane)
    await db.updateTable('mfa_challenges').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).execute()
    t.match((await secondStep(app, { mfa_token: expiring, otp: await oathtool(secret, 1) })).json(), INVALID_TOKEN, 'an expired one')
    const row = await db.selectFrom('mfa_challenges').select(['token_hash', 'expires_at', 'created_at']).executeTakeFirst()
    t.not(row?.token_hash, expiring, 'stored as a hash')
    const fresh = await mfaToken(app, jane)
    const stored = await db.selectFrom('mfa_challenges').select(['created_at', 'expires_at']).where('expires_at', '>', new Date().toISOString()).executeTakeFirstOrThrow()
    t.equal(Date.parse(stored.expires_at) - Date.parse(stored.created_at), 5 * 60_000, 'a new one lives five minutes')
    t.equal((await secondStep(app, { mfa_token: fresh, otp: await oathtool(secret, 1) })).statusCode, 200)
  })

  t.test('recovery codes: each logs in once, are counted, and new ones replace the old', async (t) => {
    const { app } = await mfaApp(t, engine)
    const { secret, recoveryCodes } = await enrolled(app, jane)
    const [first = '', second = '', third = ''] = recoveryCodes

    const login = await secondStep(app, { mfa_token: await mfaToken(app, jane), recovery_code: first })
    t.equal(login.statusCode, 200, 'a recovery code logs in')
    t.same(claimsOf(login.json().access_token).amr, ['pwd', 'otp'])
    const me = bearer(login.json().access_token)
    t.same((await app.inject({ url: '/users/me/mfa', headers: me })).json(), { totp_enabled: true, recovery_codes_remaining: 9 })

    const again = await secondStep(app, { mfa_token: await mfaToken(app, jane), recovery_code: first })
    t.same(again.json(), { detail: 'Recovery code already used', error: 'invalid_grant', error_description: 'Recovery code already used' })
    const typed = second.toUpperCase().replaceAll('-', ' ')
    t.equal((await secondStep(app, { mfa_token: await mfaToken(app, jane), recovery_code: typed })).statusCode, 200, 'typed in capitals, with spaces')
    const made = 'zzzz-zzzz-zzzz-zzzz'
    t.same((await secondStep(app, { mfa_token: await mfaToken(app, jane), recovery_code: made })).json().detail, 'Invalid recovery code')

    const replaced = await app.inject({ method: 'POST', url: '/users/me/mfa/recovery-codes', headers: me, payload: { code: await oathtool(secret) } })
    t.equal(replaced.statusCode, 200)
    const fresh: string[] = replaced.json().recovery_codes
    t.equal(fresh.length, 10)
    t.same((await app.inject({ url: '/users/me/mfa', headers: me })).json(), { totp_enabled: true, recovery_codes_remaining: 10 })
    t.same((await secondStep(app, { mfa_token: await mfaToken(app, jane), recovery_code: third })).json().detail, 'Invalid recovery code', 'the old ones are gone')
    t.equal((await secondStep(app, { mfa_token: await mfaToken(app, jane), recovery_code: fresh[0] ?? '' })).statusCode, 200, 'the new ones work')
    const noCode = await app.inject({ method: 'POST', url: '/users/me/mfa/recovery-codes', headers: me, payload: { code: await wrongCode(secret) } })
    t.same(noCode.json(), { detail: 'Invalid code' }, 'new codes need a right one')
  })

  t.test('wrong codes count per account on a limit of their own, apart from the password\'s backoff', async (t) => {
    const { app } = await mfaApp(t, engine, { throttle: { token: false, otpFailuresPerHour: 3, loginBackoffAfter: 2 } })
    const { secret, recoveryCodes } = await enrolled(app, jane)
    const wrong = await wrongCode(secret)
    // Three wrong codes over two mfa_tokens: the account's count, not the token's.
    const one = await mfaToken(app, jane)
    await secondStep(app, { mfa_token: one, otp: wrong })
    await secondStep(app, { mfa_token: one, recovery_code: 'aaaa-aaaa-aaaa-aaaa' })
    const two = await mfaToken(app, jane)
    t.equal((await secondStep(app, { mfa_token: two, otp: wrong })).statusCode, 400)

    const held = await secondStep(app, { mfa_token: two, otp: await oathtool(secret) })
    t.equal(held.statusCode, 429, 'past the limit even the right code is not checked')
    t.match(held.json(), { error: 'invalid_request', detail: /^Too many requests: retry in \d+ s$/ })
    t.ok(Number(held.headers['retry-after']) > 3500 && Number(held.headers['retry-after']) <= 3600, 'until the hour from the first wrong code is over')
    t.equal((await secondStep(app, { mfa_token: two, recovery_code: recoveryCodes[0] ?? '' })).statusCode, 429, 'a recovery code neither')
    t.equal((await requestToken(app, form(jane))).statusCode, 403, 'the password step is not held by wrong codes')

    await createUser(app, bob)
    for (let i = 0; i < 2; i++) await requestToken(app, { username: bob.username, password: 'not-bobs' })
    t.equal((await requestToken(app, form(bob))).statusCode, 429, 'the password\'s backoff is its own')
    t.equal((await requestToken(app, { username: jane.username, password: jane.password })).statusCode, 403, 'and leaves other accounts alone')
  })

  t.test('a new password, a disabled account or TOTP turned off voids a pending second step; a reset keeps the factor', async (t) => {
    const { app } = await mfaApp(t, engine)
    const { secret } = await enrolled(app, jane)
    const pending = await mfaToken(app, jane)
    await app.tokenAuth.accounts.setPassword(jane.username, 'second-long-password')
    t.match((await secondStep(app, { mfa_token: pending, otp: await oathtool(secret) })).json(), INVALID_TOKEN, 'a new password since the password step')
    const after = { username: jane.username, password: 'second-long-password' }
    t.equal((await requestToken(app, form(after))).statusCode, 403, 'a new password keeps the second factor')

    const beforeDisable = await mfaToken(app, after)
    await app.tokenAuth.accounts.disable(jane.username)
    const disabled = await secondStep(app, { mfa_token: beforeDisable, otp: await oathtool(secret) })
    t.equal(disabled.statusCode, 400, 'disabled since')
    t.equal(disabled.json().error, 'invalid_grant')
    await app.tokenAuth.accounts.enable(jane.username)

    const beforeReset = await mfaToken(app, after)
    t.equal(await app.tokenAuth.accounts.resetMfa(jane.username), true)
    t.match((await secondStep(app, { mfa_token: beforeReset, otp: await oathtool(secret, 1) })).json(), INVALID_TOKEN, 'TOTP turned off since')
    t.equal((await requestToken(app, form(after))).statusCode, 200, 'after the reset the password alone logs in')
    t.equal(await app.tokenAuth.accounts.resetMfa(jane.username), false, 'nothing left to reset')
  })

  t.test('a password reset by mail keeps the second factor', async (t) => {
    const mailed = await mailedApp(t, engine)
    const carol = { username: 'carolking', password: 'carols-long-password', email: 'carol@example.org' }
    await verifiedUser(t, mailed, carol)
    const { secret } = await enrol(mailed.app, carol)
    const before = mailed.received.length
    t.equal((await mailed.app.inject({ method: 'POST', url: '/password-reset', payload: { email: carol.email } })).statusCode, 202)
    const token = tokenIn((await mailed.mails(before + 1))[before])
    const confirm = await mailed.app.inject({ method: 'POST', url: '/password-reset/confirm', payload: { token, new_password: 'carols-new-password' } })
    t.equal(confirm.statusCode, 204)
    const reset = { username: carol.username, password: 'carols-new-password' }
    t.equal((await requestToken(mailed.app, reset)).statusCode, 403, 'the new password still needs the second step')
    t.equal((await secondStep(mailed.app, { mfa_token: await mfaToken(mailed.app, reset), otp: await oathtool(secret) })).statusCode, 200)
  })

  t.test('turning TOTP off: the password and a code (or a recovery code); the other sessions end', async (t) => {
    const { app } = await mfaApp(t, engine)
    const { secret, recoveryCodes, access } = await enrolled(app, jane)
    const other = (await secondStep(app, { mfa_token: await mfaToken(app, jane), otp: await oathtool(secret) })).json()
    const off = async (body: object) => await app.inject({ method: 'DELETE', url: '/users/me/mfa/totp', headers: bearer(access), payload: body })

    t.same((await off({ password: 'not-the-password', code: await oathtool(secret, 1) })).json(), { detail: 'Password is incorrect' })
    t.same((await off({ password: jane.password, code: await wrongCode(secret) })).json(), { detail: 'Invalid code' })
    t.equal((await off({ password: jane.password })).statusCode, 422, 'no code')
    t.equal((await off({ password: jane.password, code: recoveryCodes[0], extra: 1 })).statusCode, 422, 'a field of another name')
    t.equal((await requestToken(app, form(jane))).statusCode, 403, 'still on after refusals')

    const done = await off({ password: jane.password, code: recoveryCodes[0] })
    t.equal(done.statusCode, 204, 'a recovery code turns it off (a lost authenticator)')
    t.equal((await app.inject({ url: '/users/me/', headers: bearer(other.access_token) })).statusCode, 401, 'the other session ended')
    t.same((await app.inject({ url: '/users/me/mfa', headers: bearer(access) })).json(), { totp_enabled: false, recovery_codes_remaining: 0 })
    const plain = await requestToken(app, form(jane))
    t.equal(plain.statusCode, 200, 'the password alone logs in')
    t.same((await off({ password: jane.password, code: '123456' })).json(), { detail: 'TOTP is not on' })
  })

  t.test('an administrator turns a user\'s factor off; the API answers 404 for nobody', async (t) => {
    const { app } = await mfaApp(t, engine)
    const { secret } = await enrolled(app, jane)
    await createUser(app, { ...bob })
    await app.tokenAuth.accounts.setAdmin(bob.username, true)
    const admin = (await requestToken(app, { ...form(bob), scope: 'admin' })).json().access_token
    const janes = (await secondStep(app, { mfa_token: await mfaToken(app, jane), otp: await oathtool(secret) })).json().access_token
    const introspected = await app.inject({ method: 'POST', url: '/introspect', headers: { ...bearer(admin), 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${janes}` })
    t.match(introspected.json(), { active: true, sub: jane.username, amr: ['pwd', 'otp'] }, 'introspection tells a resource server how the login was made')
    const reset = await app.inject({ method: 'DELETE', url: `/admin/users/${jane.username}/mfa`, headers: bearer(admin) })
    t.equal(reset.statusCode, 204)
    t.equal((await requestToken(app, form(jane))).statusCode, 200, 'the password alone logs in')
    t.equal((await app.inject({ method: 'DELETE', url: `/admin/users/${jane.username}/mfa`, headers: bearer(admin) })).statusCode, 204, 'again: nothing to do')
    t.equal((await app.inject({ method: 'DELETE', url: '/admin/users/nobody/mfa', headers: bearer(admin) })).statusCode, 404)
    const own = (await requestToken(app, form(jane))).json().access_token
    t.equal((await app.inject({ method: 'DELETE', url: `/admin/users/${jane.username}/mfa`, headers: bearer(own) })).statusCode, 403, 'not for a token without admin')
  })

  t.test('at rest: the secret sealed, recovery codes hashed; in the log: neither, and every change audited', async (t) => {
    const lines: Array<Record<string, unknown>> = []
    const raw: string[] = []
    const stream = new Writable({
      write (chunk: Buffer, _encoding, done) {
        raw.push(chunk.toString())
        lines.push(JSON.parse(chunk.toString()))
        done()
      }
    })
    const database = await freshDatabaseUrl(t, engine, { shared: true })
    const app = Fastify({ ...serviceFastifyOptions('silent'), logger: { level: 'info', stream } })
    await app.register(service, { secret: testSecret(), bcryptCost: 4, throttle: false, database })
    t.teardown(async () => await app.close())
    const db = createDatabase(database) as Kysely<AuthDatabase>
    t.teardown(async () => await db.destroy())
    const { secret, recoveryCodes } = await enrolled(app, jane)
    const token = await mfaToken(app, jane)
    await secondStep(app, { mfa_token: token, otp: await wrongCode(secret) })
    const code = await oathtool(secret)
    await secondStep(app, { mfa_token: token, otp: code })

    const factor = await db.selectFrom('mfa_factors').selectAll().executeTakeFirstOrThrow()
    t.notMatch(factor.totp_secret, secret, 'the secret is not stored as it is')
    t.match(factor.totp_secret, /^v1\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/, 'but sealed')
    const hashes = (await db.selectFrom('mfa_recovery_codes').select('code_hash').execute()).map((row) => row.code_hash)
    t.equal(hashes.length, 10)
    t.notOk(recoveryCodes.some((c) => hashes.some((h) => h.includes(c) || h.includes(c.replaceAll('-', '')))), 'no code is stored as it is')
    const log = raw.join('')
    for (const [what, value] of [['the secret', secret], ['the mfa_token', token], ['the code', code], ...recoveryCodes.map((c) => ['a recovery code', c])] as const) {
      t.notOk(log.includes(value), `${what} is not in the log`)
    }
    const events = lines.filter((line) => line.audit !== undefined).map((line) => [line.audit, line.reason ?? line.mfa])
    t.same(events.filter(([event]) => String(event).startsWith('mfa.') || ['login.mfa_required', 'login.failed'].includes(String(event)) || (event === 'login.succeeded')), [
      ['login.succeeded', undefined],
      ['mfa.enrolment_started', undefined],
      ['mfa.enabled', undefined],
      ['login.mfa_required', undefined],
      ['login.failed', 'otp_invalid'],
      ['login.succeeded', 'totp']
    ])
  })

  t.test('the grant type is named in the document, with both steps and their examples', async (t) => {
    const { app } = await mfaApp(t, engine)
    const doc = (await app.inject({ url: '/openapi.json' })).json()
    const token = doc.paths['/token'].post
    t.match(token.description, MFA_GRANT)
    t.match(token.responses['403'].content['application/json'].examples.mfaRequired.value, { error: 'mfa_required', mfa_token: /^[\w-]{43}$/ })
    const form = doc.components.schemas['TokenAuth.TokenForm'].properties
    t.ok(form.mfa_token !== undefined && form.otp !== undefined && form.recovery_code !== undefined, 'the form has the second step\'s fields')
    t.match(Object.values(doc.components.securitySchemes)[0], { description: /Authorize does the password step only/ })
    for (const path of ['/users/me/mfa', '/users/me/mfa/totp', '/users/me/mfa/totp/verify', '/users/me/mfa/recovery-codes', '/admin/users/{username}/mfa']) {
      t.ok(doc.paths[path] !== undefined, `${path} is documented`)
    }
  })
})
