import { hash } from '@node-rs/bcrypt'
import t from 'tap'
import { PasswordRuleError } from '../../src/index.js'
import { bearer, buildApp, createUser, forEachEngine, johndoe, login, requestToken } from '../helper.js'

// A new password on the list of common and breached ones is refused wherever one is set (OWASP
// ASVS 5.0 6.2.4), ignoring letter case; a login never checks it.

const TOO_COMMON = { msg: 'This password is too common', type: 'password_too_common' }

forEachEngine(t, async (t, engine) => {
  t.test('registration, a password change and the public API refuse a common password; login does not check', async (t) => {
    const app = await buildApp(t, {}, engine)
    for (const password of ['password123', 'QWERTYUIOP', 'iloveyou']) {
      const res = await app.inject({ method: 'POST', url: '/users/', payload: { username: `user-${password.length}`, password } })
      t.equal(res.statusCode, 422, `registration with ${password}`)
      t.same(res.json(), { detail: [{ loc: ['body', 'password'], ...TOO_COMMON }] })
    }
    t.equal(await app.tokenAuth.users.findByUsername('user-11'), undefined, 'no account was made')
    t.equal((await app.inject({ method: 'POST', url: '/users/', payload: { username: 'careful', password: 'correct-horse-battery' } })).statusCode, 201, 'an uncommon one is fine')

    await createUser(app, johndoe)
    const token = await login(app, johndoe)
    const change = await app.inject({ method: 'POST', url: '/users/me/password', headers: bearer(token), payload: { current_password: johndoe.password, new_password: 'Password1' } })
    t.equal(change.statusCode, 422, 'a password change')
    t.same(change.json(), { detail: [{ loc: ['body', 'new_password'], ...TOO_COMMON }] })
    t.equal((await requestToken(app, { username: johndoe.username, password: johndoe.password })).statusCode, 200, 'the password is unchanged')

    await t.rejects(app.tokenAuth.accounts.setPassword(johndoe.username, 'letmein1'), new PasswordRuleError('This password is too common'), 'accounts.setPassword')
    await t.rejects(app.tokenAuth.accounts.create({ username: 'another', password: 'baseball1' }), PasswordRuleError, 'accounts.create')
    await t.rejects(app.tokenAuth.hashPassword('trustno1'), new PasswordRuleError('This password is too common'), 'hashPassword')

    // An account whose password was set before the rule (its hash made directly) still logs in.
    t.ok(await app.tokenAuth.users.setPassword(johndoe.username, await hash('sunshine1', 4)))
    t.equal((await requestToken(app, { username: johndoe.username, password: 'sunshine1' })).statusCode, 200, 'login never checks the list')
  })
})
