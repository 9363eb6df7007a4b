import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { bearer, buildApp, createUser, forEachEngine, loginPair, requestToken, type TestUser, type TokenPair } from '../helper.js'
import { assertAlive, assertEnded, dbOf, me } from './session-support.js'

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).sid

let userCount = 0
/** A user of its own for a test, on an app the tests of a group share. */
async function someone (app: FastifyInstance, extra: Partial<TestUser> = {}): Promise<TestUser> {
  const n = ++userCount
  const user = { username: `owner${n}`, password: `password-${n}`, email: `owner${n}@example.com`, fullName: `Owner ${n}`, ...extra }
  await createUser(app, user)
  return user
}

const changePassword = async (app: FastifyInstance, pair: TokenPair, body: unknown) =>
  await app.inject({ method: 'POST', url: '/users/me/password', headers: bearer(pair.access_token), payload: body as object })
const patchMe = async (app: FastifyInstance, pair: TokenPair, body: unknown, url = '/users/me') =>
  await app.inject({ method: 'PATCH', url, headers: bearer(pair.access_token), payload: body as object })
const deleteMe = async (app: FastifyInstance, pair: TokenPair, body: unknown) =>
  await app.inject({ method: 'DELETE', url: '/users/me', headers: bearer(pair.access_token), payload: body as object })
const loginStatus = async (app: FastifyInstance, username: string, password: string) =>
  (await requestToken(app, { username, password })).statusCode

/** A 422 whose detail names the field, and (when given) says why. */
function assertInvalid (t: Test, res: LightMyRequestResponse, loc: Array<string | number>, msg: RegExp | undefined, what: string) {
  t.equal(res.statusCode, 422, `${what}: 422`)
  const detail = res.json().detail
  t.ok(Array.isArray(detail), `${what}: a detail array`)
  const issue = Array.isArray(detail) ? detail.find((i: { loc: unknown }) => JSON.stringify(i.loc) === JSON.stringify(loc)) : undefined
  t.ok(issue, `${what}: an issue at ${loc.join('.')} (got ${res.body})`)
  t.type(issue?.msg, 'string', `${what}: a msg`)
  t.type(issue?.type, 'string', `${what}: a type`)
  if (msg !== undefined) t.match(issue?.msg, msg, `${what}: says why`)
}

forEachEngine(t, async (t, engine) => {
  const app = await buildApp(t, {}, engine)
  const db = dbOf(app)

  t.test('POST /users/me/password', async (t) => {
    t.test('changes the password and ends every other session of the user', async (t) => {
      const user = await someone(app)
      const other = await someone(app)
      const current = await loginPair(app, user)
      const second = await loginPair(app, user)
      const third = await loginPair(app, user)
      const others = await loginPair(app, other)
      const res = await changePassword(app, current, { current_password: user.password, new_password: 'a-brand-new-password' })
      t.equal(res.statusCode, 204)
      t.equal(res.body, '')
      t.equal(await loginStatus(app, user.username, 'a-brand-new-password'), 200, 'the new password logs in')
      const old = await requestToken(app, { username: user.username, password: user.password })
      t.equal(old.statusCode, 401, 'the old one does not')
      t.equal(old.json().error, 'invalid_grant')
      await assertEnded(t, app, second, 'another session of the user')
      await assertEnded(t, app, third, 'a third session')
      const fresh = await assertAlive(t, app, current, 'the current session')
      await assertAlive(t, app, fresh, 'the current session, refreshed')
      await assertAlive(t, app, others, "another user's session")
      t.equal(await loginStatus(app, other.username, other.password), 200, "the other user's password is unchanged")
    })

    t.test('a 422 names a bad field and a new password outside 8 to 72 bytes together', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      const res = await changePassword(app, current, { current_password: 'x'.repeat(1025), new_password: 'é'.repeat(40) })
      t.equal(res.statusCode, 422)
      const detail = res.json().detail as Array<{ loc: string[], type: string }>
      t.same(detail.map((issue) => issue.loc.join('.')), ['body.current_password', 'body.new_password'], 'the overlong current password, then the new one')
      t.equal(detail[1]?.type, 'password_invalid', "the new password's issue, typed as the route's other password problems")
      t.equal(await loginStatus(app, user.username, user.password), 200, 'the password is unchanged')
    })

    t.test('at /users/me/password/ too, and again with the new password as the current one', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      const first = await app.inject({
        method: 'POST',
        url: '/users/me/password/',
        headers: bearer(current.access_token),
        payload: { current_password: user.password, new_password: 'second-password' }
      })
      t.equal(first.statusCode, 204)
      t.equal((await changePassword(app, current, { current_password: user.password, new_password: 'third-password' })).statusCode, 400, 'the old one is no longer current')
      t.equal((await changePassword(app, current, { current_password: 'second-password', new_password: 'third-password' })).statusCode, 204)
      t.equal(await loginStatus(app, user.username, 'third-password'), 200)
      t.equal(await loginStatus(app, user.username, 'second-password'), 401)
    })

    t.test('a wrong current password is a 400, and nothing changes', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      const second = await loginPair(app, user)
      for (const wrong of ['not-the-password', `${user.password} `, user.password.toUpperCase(), 'x', 'é'.repeat(40)]) {
        const res = await changePassword(app, current, { current_password: wrong, new_password: 'would-be-new-password' })
        t.equal(res.statusCode, 400, JSON.stringify(wrong))
        t.same(res.json(), { detail: 'Current password is incorrect' })
      }
      t.equal(await loginStatus(app, user.username, user.password), 200, 'the password is unchanged')
      t.equal(await loginStatus(app, user.username, 'would-be-new-password'), 401)
      await assertAlive(t, app, second, 'the other session')
      await assertAlive(t, app, current, 'the current session')
    })

    t.test('an unacceptable new password is a 422 naming new_password, and nothing changes', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      const second = await loginPair(app, user)
      const cases: Array<[string, string, RegExp]> = [
        ['7 bytes', 'seven77', /at least 8 bytes/],
        ['empty', '', /at least 8|at least 1/],
        ['80 bytes in 40 characters', 'é'.repeat(40), /at most 72 bytes/],
        ['74 bytes in 37 characters', 'é'.repeat(37), /at most 72 bytes/],
        ['73 ASCII characters', 'a'.repeat(73), /72/],
        ['the current password', user.password, /differ/]
      ]
      for (const [what, newPassword, msg] of cases) {
        const res = await changePassword(app, current, { current_password: user.password, new_password: newPassword })
        assertInvalid(t, res, ['body', 'new_password'], msg, what)
      }
      t.equal(await loginStatus(app, user.username, user.password), 200, 'the password is unchanged')
      await assertAlive(t, app, second, 'the other session')
    })

    t.test('8 bytes and 72 bytes are accepted', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      t.equal((await changePassword(app, current, { current_password: user.password, new_password: 'eight-88' })).statusCode, 204, '8 bytes')
      t.equal(await loginStatus(app, user.username, 'eight-88'), 200)
      const longest = 'é'.repeat(36)
      t.equal((await changePassword(app, current, { current_password: 'eight-88', new_password: longest })).statusCode, 204, '72 bytes')
      t.equal(await loginStatus(app, user.username, longest), 200)
    })

    t.test('missing fields are a 422', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      const cases: Array<[string, unknown, Array<string | number>]> = [
        ['no new_password', { current_password: user.password }, ['body', 'new_password']],
        ['no current_password', { new_password: 'some-new-password' }, ['body', 'current_password']],
        ['an empty object', {}, ['body', 'current_password']],
        ['an object for new_password', { current_password: user.password, new_password: { text: 'some-new-password' } }, ['body', 'new_password']]
      ]
      for (const [what, body, loc] of cases) assertInvalid(t, await changePassword(app, current, body), loc, undefined, what)
      t.equal((await changePassword(app, current, undefined)).statusCode, 422, 'no body')
      t.equal(await loginStatus(app, user.username, user.password), 200, 'the password is unchanged')
    })

    t.test('an extra field is ignored, as FastAPI ignores one: it changes nothing of anyone else', async (t) => {
      const user = await someone(app)
      const other = await someone(app)
      const current = await loginPair(app, user)
      const res = await changePassword(app, current, { current_password: user.password, new_password: 'extra-field-password', username: other.username })
      t.equal(res.statusCode, 204, 'the change of the caller\'s own password goes through')
      t.equal(await loginStatus(app, user.username, 'extra-field-password'), 200, 'the caller\'s password changed')
      t.equal(await loginStatus(app, other.username, other.password), 200, 'the other user\'s password did not')
    })

    t.test('needs a token and an active account', async (t) => {
      const noToken = await app.inject({ method: 'POST', url: '/users/me/password', payload: { current_password: 'x', new_password: 'some-new-password' } })
      t.equal(noToken.statusCode, 401)
      t.equal(noToken.headers['www-authenticate'], 'Bearer')
      const user = await someone(app, { disabled: true })
      const pair = await loginPair(app, user)
      const res = await changePassword(app, pair, { current_password: user.password, new_password: 'disabled-new-password' })
      t.equal(res.statusCode, 400)
      t.same(res.json(), { detail: 'Inactive user' })
      t.equal(await loginStatus(app, user.username, user.password), 200, 'the password is unchanged')
    })
  })

  t.test('PATCH /users/me', async (t) => {
    t.test('changes, clears and keeps fields, at /users/me and /users/me/', async (t) => {
      const user = await someone(app)
      const pair = await loginPair(app, user)
      const profile = { username: user.username, email: user.email, email_verified: false, full_name: user.fullName, disabled: false }

      const emailOnly = await patchMe(app, pair, { email: 'new-address@example.org' })
      t.equal(emailOnly.statusCode, 200)
      t.same(emailOnly.json(), { ...profile, email: 'new-address@example.org' }, 'full_name left out stays')

      const nameOnly = await patchMe(app, pair, { full_name: 'Renamed Owner' }, '/users/me/')
      t.equal(nameOnly.statusCode, 200)
      t.same(nameOnly.json(), { ...profile, email: 'new-address@example.org', full_name: 'Renamed Owner' }, 'email left out stays')

      const cleared = await patchMe(app, pair, { email: null })
      t.same(cleared.json(), { ...profile, email: null, full_name: 'Renamed Owner' }, 'null clears the email')
      const both = await patchMe(app, pair, { full_name: null, email: 'both@example.net' })
      t.same(both.json(), { ...profile, email: 'both@example.net', full_name: null }, 'null clears the name; both at once')

      const nothing = await patchMe(app, pair, {})
      t.equal(nothing.statusCode, 200, 'an empty object changes nothing')
      t.same(nothing.json(), both.json())

      const read = await me(app, pair)
      t.same(read.json(), { ...profile, email: 'both@example.net', full_name: null }, 'GET /users/me/ sees the change')
      const unicode = await patchMe(app, pair, { full_name: 'Zoë Ölçer 山田' })
      t.equal(unicode.json().full_name, 'Zoë Ölçer 山田')
      t.equal((await me(app, pair)).json().full_name, 'Zoë Ölçer 山田')
    })

    t.test('changes only the caller', async (t) => {
      const user = await someone(app)
      const other = await someone(app)
      const pair = await loginPair(app, user)
      const others = await loginPair(app, other)
      t.equal((await patchMe(app, pair, { email: null, full_name: 'Only Me' })).statusCode, 200)
      t.same((await me(app, others)).json(), { username: other.username, email: other.email, email_verified: false, full_name: other.fullName, disabled: false })
      await patchMe(app, pair, { username: other.username })
      t.equal((await me(app, pair)).json().username, user.username, 'the username cannot be changed')
      t.equal((await me(app, others)).json().full_name, other.fullName, 'nor the other account taken over')
    })

    t.test('invalid values are a 422, and nothing changes', async (t) => {
      const user = await someone(app)
      const pair = await loginPair(app, user)
      const cases: Array<[string, unknown, Array<string | number>]> = [
        ['not an email', { email: 'not-an-email' }, ['body', 'email']],
        ['an email with no domain', { email: 'owner@' }, ['body', 'email']],
        ['a number for an email', { email: 42 }, ['body', 'email']],
        ['a 201-character name', { full_name: 'x'.repeat(201) }, ['body', 'full_name']],
        ['a NUL in the name', { full_name: 'a\u0000b' }, ['body', 'full_name']]
      ]
      for (const [what, body, loc] of cases) assertInvalid(t, await patchMe(app, pair, body), loc, undefined, what)
      t.same((await me(app, pair)).json(), { username: user.username, email: user.email, email_verified: false, full_name: user.fullName, disabled: false }, 'unchanged')
    })

    t.test('an unknown field is ignored, as FastAPI ignores one; disabled is not the owner\'s to set', async (t) => {
      const user = await someone(app)
      const pair = await loginPair(app, user)
      const res = await patchMe(app, pair, { nickname: 'nick', email: 'changed@example.com' })
      t.equal(res.statusCode, 200)
      t.same(res.json(), { username: user.username, email: 'changed@example.com', email_verified: false, full_name: user.fullName, disabled: false }, 'the known field applied, no nickname')
      const disabled = await patchMe(app, pair, { disabled: true })
      t.equal(disabled.statusCode, 200)
      t.equal(disabled.json().disabled, false, 'the answer says enabled')
      t.equal((await me(app, pair)).json().disabled, false, 'and the account stays enabled')
    })

    t.test('needs a token and an active account', async (t) => {
      const noToken = await app.inject({ method: 'PATCH', url: '/users/me', payload: { full_name: 'Nobody' } })
      t.equal(noToken.statusCode, 401)
      t.equal(noToken.headers['www-authenticate'], 'Bearer')
      const user = await someone(app, { disabled: true })
      const pair = await loginPair(app, user)
      const res = await patchMe(app, pair, { full_name: 'Disabled Rename' })
      t.equal(res.statusCode, 400)
      t.same(res.json(), { detail: 'Inactive user' })
      const row = await db.selectFrom('users').select('full_name').where('username', '=', user.username).executeTakeFirstOrThrow()
      t.equal(row.full_name, user.fullName, 'unchanged')
    })
  })

  t.test('DELETE /users/me', async (t) => {
    const countOf = async (table: 'sessions' | 'users', username: string) =>
      (await db.selectFrom(table).select('username').where('username', '=', username).execute()).length
    const itemsOf = async (username: string) =>
      (await db.selectFrom('items').innerJoin('users', 'users.id', 'items.owner_id').select('items.id').where('users.username', '=', username).execute()).length
    const addItems = async (pair: TokenPair, n: number) => {
      for (let i = 1; i <= n; i++) {
        const res = await app.inject({ method: 'POST', url: '/users/me/items/', headers: bearer(pair.access_token), payload: { title: `item ${i}` } })
        if (res.statusCode !== 201) throw new Error(`could not create an item: ${res.body}`)
      }
    }

    t.test('deletes the account, its sessions and its items', async (t) => {
      const user = await someone(app)
      const other = await someone(app)
      const current = await loginPair(app, user)
      const second = await loginPair(app, user)
      const others = await loginPair(app, other)
      await addItems(current, 3)
      await addItems(others, 2)
      const { id: userId } = await db.selectFrom('users').select('id').where('username', '=', user.username).executeTakeFirstOrThrow()
      const sessionIds = [sidOf(current.access_token), sidOf(second.access_token)]
      t.equal(await countOf('sessions', user.username), 2, 'two sessions before')
      t.equal(await itemsOf(user.username), 3, 'three items before')

      const res = await deleteMe(app, current, { password: user.password })
      t.equal(res.statusCode, 204)
      t.equal(res.body, '')
      t.equal(await countOf('users', user.username), 0, 'the user row is gone')
      t.equal(await countOf('sessions', user.username), 0, 'the session rows are gone')
      t.same(await db.selectFrom('refresh_tokens').select('token_hash').where('session_id', 'in', sessionIds).execute(), [], 'their refresh tokens too')
      t.same(await db.selectFrom('items').select('id').where('owner_id', '=', userId).execute(), [], 'the item rows are gone')
      t.equal(await loginStatus(app, user.username, user.password), 401, 'logging in again fails')
      await assertEnded(t, app, current, 'the current session')
      await assertEnded(t, app, second, 'the other session')

      t.equal(await countOf('users', other.username), 1, 'the other user is still there')
      t.equal(await itemsOf(other.username), 2, 'with their items')
      await assertAlive(t, app, others, "the other user's session")
      const theirItems = await app.inject({ url: '/users/me/items/', headers: bearer(others.access_token) })
      t.equal(theirItems.json().length, 2)
    })

    t.test('a wrong password is a 400, and nothing is deleted', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      const second = await loginPair(app, user)
      await addItems(current, 2)
      for (const wrong of ['not-the-password', `${user.password}!`, '']) {
        const res = await deleteMe(app, current, { password: wrong })
        t.equal(res.statusCode, 400, JSON.stringify(wrong))
        t.same(res.json(), { detail: 'Password is incorrect' })
      }
      t.equal(await countOf('users', user.username), 1, 'the user is still there')
      t.equal(await countOf('sessions', user.username), 2, 'so are the sessions')
      t.equal(await itemsOf(user.username), 2, 'and the items')
      await assertAlive(t, app, current, 'the current session')
      await assertAlive(t, app, second, 'the other session')
      t.equal(await loginStatus(app, user.username, user.password), 200, 'the user logs in')
    })

    t.test('no password is a 422, and nothing is deleted', async (t) => {
      const user = await someone(app)
      const current = await loginPair(app, user)
      assertInvalid(t, await deleteMe(app, current, {}), ['body', 'password'], undefined, 'an empty object')
      t.equal((await deleteMe(app, current, undefined)).statusCode, 422, 'no body')
      t.equal(await countOf('users', user.username), 1, 'the user is still there')
      await assertAlive(t, app, current, 'the session')
    })

    t.test('needs a token and an active account', async (t) => {
      const noToken = await app.inject({ method: 'DELETE', url: '/users/me', payload: { password: 'x' } })
      t.equal(noToken.statusCode, 401)
      t.equal(noToken.headers['www-authenticate'], 'Bearer')
      const user = await someone(app, { disabled: true })
      const pair = await loginPair(app, user)
      const res = await deleteMe(app, pair, { password: user.password })
      t.equal(res.statusCode, 400)
      t.same(res.json(), { detail: 'Inactive user' })
      t.equal(await countOf('users', user.username), 1, 'not deleted')
    })

    t.test('a name freed by a deletion can be registered again, with none of the old sessions', async (t) => {
      const user = await someone(app)
      const old = await loginPair(app, user)
      t.equal((await deleteMe(app, old, { password: user.password })).statusCode, 204)
      const again = await app.inject({ method: 'POST', url: '/users/', payload: { username: user.username, password: 'reborn-password' } })
      t.equal(again.statusCode, 201)
      await assertEnded(t, app, old, 'the old session')
      t.equal(await loginStatus(app, user.username, 'reborn-password'), 200)
    })
  })
})
