import t from 'tap'
import { bearer, buildApp, forEachEngine, loginPair, requestToken } from '../helper.js'
import { startSilentServer, until } from '../mail/support.js'
import { mailedApp, recipient, RESET_URL, settled, tokenIn, verifiedUser } from './recovery-support.js'

// Password reset and email verification through a real SMTP server (see recovery-support.ts),
// on both engines: what a user receives, what the tokens allow once, and what stays unchanged
// when they are refused.

const jane = { username: 'janedoe', password: 'first-long-password', email: 'jane@example.org' }
const ACCEPTED = { detail: 'If an account matches, a mail is on its way to its verified address' }
const INVALID = { detail: 'Invalid or expired token' }

forEachEngine(t, async (t, engine) => {
  t.test('a reset from the mail to a new password: once, every session ended, a notice mailed', async (t) => {
    const mailed = await mailedApp(t, engine)
    const { app } = mailed
    await verifiedUser(t, mailed, jane)
    const before = await loginPair(app, { username: jane.username, password: jane.password })

    for (const body of [{ email: 'JANE@example.org' }, { username: jane.username }]) {
      const res = await app.inject({ method: 'POST', url: '/password-reset', payload: body })
      t.equal(res.statusCode, 202, `by ${Object.keys(body)[0]}`)
      t.same(res.json(), ACCEPTED)
    }
    const mails = await mailed.mails(3)
    const [, first, second] = mails
    t.equal(recipient(second), jane.email, 'to the verified address')
    t.equal(second?.subject, 'Reset your fastify-token-auth password')
    t.match(second?.text, `${RESET_URL}#token=`, 'the link has the token in its fragment')
    t.match(second?.html, 'Choose a new password', 'an HTML part too')
    const token = tokenIn(second)

    t.same((await app.inject({ method: 'POST', url: '/password-reset/confirm', payload: { token: tokenIn(first), new_password: 'not-this-one-either' } })).json(),
      INVALID, 'the first token was replaced by the second request')
    const confirm = await app.inject({ method: 'POST', url: '/password-reset/confirm', payload: { token, new_password: 'a-brand-new-password' } })
    t.equal(confirm.statusCode, 204, 'confirmed')
    t.equal(confirm.body, '')

    t.equal((await requestToken(app, { username: jane.username, password: jane.password })).statusCode, 401, 'the old password is gone')
    t.equal((await requestToken(app, { username: jane.username, password: 'a-brand-new-password' })).statusCode, 200, 'the new one logs in')
    t.equal((await app.inject({ url: '/users/me/', headers: bearer(before.access_token) })).statusCode, 401, 'an access token of before is refused')
    const refreshed = await app.inject({ method: 'POST', url: '/token', payload: { grant_type: 'refresh_token', refresh_token: before.refresh_token } })
    t.equal(refreshed.statusCode, 400, 'and its refresh token')

    const again = await app.inject({ method: 'POST', url: '/password-reset/confirm', payload: { token, new_password: 'a-third-long-password' } })
    t.equal(again.statusCode, 400, 'the token works once')
    t.same(again.json(), INVALID)
    t.equal((await requestToken(app, { username: jane.username, password: 'a-brand-new-password' })).statusCode, 200, 'the password stayed')

    const [, , , notice] = await mailed.mails(4)
    t.equal(recipient(notice), jane.email, 'a notice to the verified address')
    t.equal(notice?.subject, 'Your fastify-token-auth password was changed')
    t.notMatch(notice?.text, 'token=', 'with no link')
  })

  t.test('unknown accounts, unverified and disabled ones: the same 202, and no mail', async (t) => {
    const mailed = await mailedApp(t, engine)
    const { app } = mailed
    await verifiedUser(t, mailed, jane)
    await app.inject({ method: 'POST', url: '/users/', payload: { username: 'unproven', password: 'unproven-password', email: 'unproven@example.org' } })
    await mailed.mails(2)
    await app.tokenAuth.users.create({ username: 'sleeper', hashedPassword: await app.tokenAuth.hashPassword('sleeper-password'), email: 'sleeper@example.org', disabled: true })
    await app.tokenAuth.accounts.adminUpdate('sleeper', { emailVerified: true })

    const known = await app.inject({ method: 'POST', url: '/password-reset', payload: { email: jane.email } })
    for (const body of [{ email: 'nobody@example.org' }, { username: 'nobody' }, { email: 'unproven@example.org' }, { username: 'unproven' }, { username: 'sleeper' }]) {
      const res = await app.inject({ method: 'POST', url: '/password-reset', payload: body })
      t.equal(res.statusCode, 202, JSON.stringify(body))
      t.equal(res.body, known.body, 'the same body')
      t.same(Object.keys(res.headers).sort(), Object.keys(known.headers).sort(), 'the same headers')
      t.equal(res.headers['content-length'], known.headers['content-length'])
    }
    await mailed.mails(3)
    await settled()
    t.same(mailed.received.slice(2).map(recipient), [jane.email], 'only the verified, enabled account got a mail')
  })

  t.test('accounts sharing a verified address: one mail naming each, each link for its own account', async (t) => {
    const mailed = await mailedApp(t, engine)
    const { app } = mailed
    const shared = 'family@example.org'
    await verifiedUser(t, mailed, { username: 'parent', password: 'parent-password-1', email: shared })
    await verifiedUser(t, mailed, { username: 'child', password: 'child-password-1', email: shared })
    t.equal((await app.inject({ method: 'POST', url: '/password-reset', payload: { email: shared } })).statusCode, 202)
    const mails = await mailed.mails(3)
    await settled()
    t.equal(mailed.received.length, 3, 'one mail')
    const mail = mails[2]
    t.match(mail?.text, 'for parent here', 'names parent')
    t.match(mail?.text, 'for child here', 'and child')
    const childToken = tokenIn(mail, 'child')
    t.not(childToken, tokenIn(mail, 'parent'), 'each with a token of its own')
    t.equal((await app.inject({ method: 'POST', url: '/password-reset/confirm', payload: { token: childToken, new_password: 'child-new-password' } })).statusCode, 204)
    t.equal((await requestToken(app, { username: 'child', password: 'child-new-password' })).statusCode, 200, 'the child\'s link reset the child')
    t.equal((await requestToken(app, { username: 'parent', password: 'parent-password-1' })).statusCode, 200, 'and left the parent alone')
  })

  t.test('tokens: refused unknown, expired or malformed; a bad password leaves the token; two confirms, one wins; no GET', async (t) => {
    const mailed = await mailedApp(t, engine)
    const { app, db } = mailed
    await verifiedUser(t, mailed, jane)
    await app.inject({ method: 'POST', url: '/password-reset', payload: { username: jane.username } })
    const token = tokenIn((await mailed.mails(2))[1])
    const confirm = async (body: object) => await app.inject({ method: 'POST', url: '/password-reset/confirm', payload: body })

    t.same((await confirm({ token: 'A'.repeat(43), new_password: 'unknown-token-pass' })).json(), INVALID, 'an unknown token')
    for (const [problem, body, loc] of [
      ['a token too short', { token: token.slice(1), new_password: 'fine-long-password' }, 'token'],
      ['a token with other characters', { token: `${token.slice(1)}=`, new_password: 'fine-long-password' }, 'token'],
      ['no token', { new_password: 'fine-long-password' }, 'token'],
      ['a common password', { token, new_password: 'password123' }, 'new_password'],
      ['a short password', { token, new_password: 'short' }, 'new_password'],
      ['an unknown field', { token, new_password: 'fine-long-password', admin: true }, 'admin']
    ] as const) {
      const res = await confirm(body)
      t.equal(res.statusCode, 422, problem)
      t.ok(res.json().detail.some((issue: { loc: string[] }) => issue.loc.includes(loc)), `${problem}: the detail names ${loc}`)
    }
    const big = await app.inject({ method: 'POST', url: '/password-reset/confirm', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ token, new_password: 'x'.repeat(5000) }) })
    t.equal(big.statusCode, 413, 'a body over the limit')
    for (const url of [`/password-reset/confirm?token=${token}`, `/password-reset?token=${token}`, `/email/verify?token=${token}`]) {
      t.equal((await app.inject({ url })).statusCode, 404, `GET ${url.split('?')[0] ?? ''} is no route: a mail scanner following a link spends nothing`)
    }

    const [a, b] = await Promise.all([
      confirm({ token, new_password: 'racing-password-a' }),
      confirm({ token, new_password: 'racing-password-b' })
    ])
    t.same([a?.statusCode, b?.statusCode].sort(), [204, 400], 'the token was still good, and of two confirms exactly one is taken')
    const winner = a?.statusCode === 204 ? 'racing-password-a' : 'racing-password-b'
    t.equal((await requestToken(app, { username: jane.username, password: winner })).statusCode, 200, 'the winner\'s password is set')

    await app.inject({ method: 'POST', url: '/password-reset', payload: { username: jane.username } })
    const late = tokenIn((await mailed.mails(4))[3])
    await db.updateTable('account_tokens').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).execute()
    t.same((await confirm({ token: late, new_password: 'too-late-password' })).json(), INVALID, 'an expired token')
    t.equal((await requestToken(app, { username: jane.username, password: winner })).statusCode, 200, 'the password stayed')
    const rows = await db.selectFrom('account_tokens').select(['token_hash']).execute()
    t.notOk(rows.some((row) => row.token_hash === late), 'tokens are stored hashed')
  })

  t.test('a reset request with bad input: 4xx naming the problem, and no mail', async (t) => {
    const mailed = await mailedApp(t, engine)
    const { app } = mailed
    await verifiedUser(t, mailed, jane)
    for (const [problem, body, status] of [
      ['neither field', {}, 422],
      ['both fields', { email: jane.email, username: jane.username }, 422],
      ['not an address', { email: 'jane at example' }, 422],
      ['a malformed username', { username: 'a b' }, 422],
      ['an unknown field', { email: jane.email, role: 'admin' }, 422]
    ] as const) {
      const res = await app.inject({ method: 'POST', url: '/password-reset', payload: body })
      t.equal(res.statusCode, status, problem)
      t.type(res.json().detail, Array, `${problem}: a detail`)
    }
    const notJson = await app.inject({ method: 'POST', url: '/password-reset', headers: { 'content-type': 'text/plain' }, payload: 'jane@example.org' })
    t.equal(notJson.statusCode, 422, 'a text body, not a JSON object')
    t.match(notJson.json(), { detail: [{ loc: ['body'] }] }, 'the detail says the body is wrong')
    await settled()
    t.equal(mailed.received.length, 1, 'only the verification mail of the registration')
  })

  t.test('email verification: sent on registration and on a change; the old proven address keeps resets until then', async (t) => {
    const mailed = await mailedApp(t, engine)
    const { app } = mailed
    await app.inject({ method: 'POST', url: '/users/', payload: jane })
    const [welcome] = await mailed.mails(1)
    t.equal(recipient(welcome), jane.email, 'a registration with an email gets a verification mail')
    t.equal(welcome?.subject, 'Confirm your fastify-token-auth email address')
    const { access_token: accessToken } = await loginPair(app, jane)
    const me = async () => (await app.inject({ url: '/users/me/', headers: bearer(accessToken) })).json()
    t.equal((await me()).email_verified, false, 'not verified yet')
    t.equal((await app.inject({ method: 'POST', url: '/email/verify', payload: { token: tokenIn(welcome) } })).statusCode, 204)
    t.equal((await me()).email_verified, true, 'verified')
    t.same((await app.inject({ method: 'POST', url: '/email/verify', payload: { token: tokenIn(welcome) } })).json(), INVALID, 'the token works once')

    const patch = await app.inject({ method: 'PATCH', url: '/users/me/', headers: bearer(accessToken), payload: { email: 'jane@new.example' } })
    t.equal(patch.json().email_verified, false, 'a new address is not verified')
    const [, change] = await mailed.mails(2)
    t.equal(recipient(change), 'jane@new.example', 'its verification mail goes to the new address')

    await app.inject({ method: 'POST', url: '/password-reset', payload: { email: 'jane@new.example' } })
    await app.inject({ method: 'POST', url: '/password-reset', payload: { username: jane.username } })
    const [, , reset] = await mailed.mails(3)
    await settled()
    t.equal(mailed.received.length, 3, 'a reset for the unproven address sent nothing')
    t.equal(recipient(reset), jane.email, 'a reset by username goes to the old, proven address')

    t.equal((await app.inject({ method: 'POST', url: '/email/verify', payload: { token: tokenIn(change) } })).statusCode, 204, 'the new address proven')
    t.equal((await me()).email_verified, true)
    await app.inject({ method: 'POST', url: '/password-reset', payload: { username: jane.username } })
    const [, , , next] = await mailed.mails(4)
    t.equal(recipient(next), 'jane@new.example', 'resets go to the new address now')

    await app.inject({ method: 'PATCH', url: '/users/me/', headers: bearer(accessToken), payload: { email: 'jane@third.example' } })
    const [, , , , third] = await mailed.mails(5)
    await app.inject({ method: 'PATCH', url: '/users/me/', headers: bearer(accessToken), payload: { email: 'jane@fourth.example' } })
    await mailed.mails(6)
    t.same((await app.inject({ method: 'POST', url: '/email/verify', payload: { token: tokenIn(third) } })).json(), INVALID,
      'a verification of an address replaced since proves nothing')
    t.equal((await me()).email_verified, false)
  })

  t.test('a new verification mail on request: 202, or 400 saying why not', async (t) => {
    const mailed = await mailedApp(t, engine)
    const { app } = mailed
    await app.inject({ method: 'POST', url: '/users/', payload: jane })
    const [first] = await mailed.mails(1)
    const { access_token: accessToken } = await loginPair(app, jane)
    const request = async () => await app.inject({ method: 'POST', url: '/users/me/email/verify-request', headers: bearer(accessToken) })
    const res = await request()
    t.equal(res.statusCode, 202)
    const [, second] = await mailed.mails(2)
    t.same((await app.inject({ method: 'POST', url: '/email/verify', payload: { token: tokenIn(first) } })).json(), INVALID, 'the first link stopped working')
    t.equal((await app.inject({ method: 'POST', url: '/email/verify', payload: { token: tokenIn(second) } })).statusCode, 204, 'the new one works')
    t.same((await request()).json(), { detail: 'Email already verified' })
    await app.inject({ method: 'PATCH', url: '/users/me/', headers: bearer(accessToken), payload: { email: null } })
    t.same((await request()).json(), { detail: 'The account has no email address' })
    t.equal((await app.inject({ method: 'POST', url: '/users/me/email/verify-request' })).statusCode, 401, 'a token is needed')
  })

  t.test('requireVerifiedEmail: the right password of an unverified account is 403, a wrong one 401 as ever', async (t) => {
    const mailed = await mailedApp(t, engine, { requireVerifiedEmail: true })
    const { app } = mailed
    await app.inject({ method: 'POST', url: '/users/', payload: jane })
    await app.inject({ method: 'POST', url: '/users/', payload: { username: 'noemail', password: 'no-email-password' } })
    const unknown = await requestToken(app, { username: 'nobody-at-all', password: jane.password })
    const wrong = await requestToken(app, { username: jane.username, password: 'not-her-password' })
    t.equal(wrong.statusCode, 401, 'a wrong password')
    t.same(wrong.json(), unknown.json(), 'answers as for an unknown user')
    t.same(wrong.headers['www-authenticate'], unknown.headers['www-authenticate'])
    const right = await requestToken(app, { username: jane.username, password: jane.password })
    t.equal(right.statusCode, 403, 'the right password of an unverified account')
    t.same(right.json(), { detail: 'Email not verified', error: 'invalid_grant', error_description: 'Email not verified' })
    t.equal((await requestToken(app, { username: 'noemail', password: 'no-email-password' })).statusCode, 403, 'an account without an email too')
    const [welcome] = await mailed.mails(1)
    await app.inject({ method: 'POST', url: '/email/verify', payload: { token: tokenIn(welcome) } })
    t.equal((await requestToken(app, { username: jane.username, password: jane.password })).statusCode, 200, 'verified, it logs in')
    await app.tokenAuth.accounts.adminUpdate('noemail', { email: 'noemail@example.org', emailVerified: true })
    t.equal((await requestToken(app, { username: 'noemail', password: 'no-email-password' })).statusCode, 200, 'so does one an administrator verified')
  })

  t.test('per account, at most one mail a minute, silently; per address, the recovery limit answers 429', async (t) => {
    const mailed = await mailedApp(t, engine, { throttle: { recovery: { max: 4, windowSeconds: 60 }, token: false } })
    const { app } = mailed
    await verifiedUser(t, mailed, jane)
    const answers: Array<{ statusCode: number, body: string }> = []
    for (let i = 0; i < 4; i++) answers.push(await app.inject({ method: 'POST', url: '/password-reset', payload: { username: jane.username }, remoteAddress: `192.0.2.${i + 1}` }))
    t.same(answers.map((res) => res.statusCode), [202, 202, 202, 202], 'every request is answered alike')
    t.ok(answers.every((res) => res.body === answers[0]?.body), 'with the same body')
    await mailed.mails(2)
    await settled()
    t.equal(mailed.received.length, 2, 'but the account got one reset mail in the minute (the other is the verification)')

    for (let i = 0; i < 4; i++) await app.inject({ method: 'POST', url: '/password-reset', payload: { email: 'x@example.org' }, remoteAddress: '198.51.100.9' })
    const limited = await app.inject({ method: 'POST', url: '/password-reset', payload: { email: 'x@example.org' }, remoteAddress: '198.51.100.9' })
    t.equal(limited.statusCode, 429, 'one address past the limit')
    t.ok(limited.headers['retry-after'], 'with Retry-After')
    t.equal((await app.inject({ method: 'POST', url: '/email/verify', payload: { token: 'A'.repeat(43) }, remoteAddress: '198.51.100.9' })).statusCode, 429, 'the limit covers every recovery route')

    const fresh = { username: 'fresh', password: 'fresh-long-password', email: 'fresh@example.org' }
    await app.inject({ method: 'POST', url: '/users/', payload: fresh, remoteAddress: '203.0.113.5' })
    await mailed.mails(3)
    const { access_token: accessToken } = await loginPair(app, fresh)
    const resend = await app.inject({ method: 'POST', url: '/users/me/email/verify-request', headers: bearer(accessToken), remoteAddress: '203.0.113.5' })
    t.equal(resend.statusCode, 202, 'a new verification mail asked for within the minute of the first: 202')
    await settled()
    t.equal(mailed.received.length, 3, 'but not sent: verification mails have the same quota')
  })

  t.test('an administrator and the public API mark an address verified; the admin sees email_verified', async (t) => {
    const mailed = await mailedApp(t, engine)
    const { app } = mailed
    await app.inject({ method: 'POST', url: '/users/', payload: jane })
    const user = await app.tokenAuth.accounts.get(jane.username)
    t.equal(user?.email_verified, false)
    t.equal((await app.tokenAuth.accounts.adminUpdate(jane.username, { emailVerified: true }))?.email_verified, true, 'verified by the public API')
    await app.tokenAuth.users.create({ username: 'bare', hashedPassword: await app.tokenAuth.hashPassword('bare-password-1') })
    await t.rejects(app.tokenAuth.accounts.adminUpdate('bare', { emailVerified: true }), { message: 'The account has no email address' }, 'an account without an email has nothing to verify')
    t.equal((await app.tokenAuth.accounts.adminUpdate('bare', { email: 'bare@example.org', emailVerified: true }))?.email_verified, true, 'an address given with it is verified')
  })
})

t.test('without a mailer there are no recovery routes', async (t) => {
  const app = await buildApp(t)
  for (const url of ['/password-reset', '/password-reset/confirm', '/email/verify', '/users/me/email/verify-request']) {
    t.equal((await app.inject({ method: 'POST', url, payload: {} })).statusCode, 404, url)
  }
  const spec = (await app.inject({ url: '/openapi.json' })).json()
  t.notOk(Object.keys(spec.paths).some((path) => path.includes('password-reset') || path.includes('/email/verify')), 'nor operations in the document')
})

t.test('an SMTP server that never answers does not delay the answer', async (t) => {
  const silent = await startSilentServer(t)
  const mailed = await mailedApp(t, 'sqlite', {}, { SMTP_URL: silent.url, SMTP_TIMEOUT_MS: '60000' })
  const { app } = mailed
  await app.tokenAuth.users.create({ username: 'jane', hashedPassword: await app.tokenAuth.hashPassword(jane.password), email: jane.email })
  await app.tokenAuth.accounts.adminUpdate('jane', { emailVerified: true })
  const res = await app.inject({ method: 'POST', url: '/password-reset', payload: { email: jane.email } })
  t.equal(res.statusCode, 202, 'answered, though the mail server will not say a word for a minute')
  await until(() => silent.connections > 0, 'the connection to the mail server')
  t.equal(mailed.received.length, 0, 'the mail is on its way, after the answer')
})
