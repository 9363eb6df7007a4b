import t from 'tap'
import { countUsers } from '../../src/accounts/kysely-user-store.js'
import { bearer, buildApp, createUser, forEachEngine, johndoe, login, requestToken } from '../helper.js'

forEachEngine(t, async (t, engine) => {
  t.test('GET /users/me/ answers the current user, with and without the trailing slash', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const token = await login(app, johndoe)
    for (const url of ['/users/me/', '/users/me']) {
      const res = await app.inject({ url, headers: bearer(token) })
      t.equal(res.statusCode, 200, url)
      t.same(res.json(), { username: 'johndoe', email: 'johndoe@example.com', email_verified: false, full_name: 'John Doe', disabled: false })
      t.notMatch(res.body, /password|\$2[aby]\$/, 'no password or hash in the body')
    }
  })

  const register = async (app: Awaited<ReturnType<typeof buildApp>>, body: unknown, url = '/users/') =>
    await app.inject({ method: 'POST', url, payload: body as object })

  t.test('registration', async (t) => {
    const app = await buildApp(t, {}, engine)

    t.test('creates a user who can then log in', async (t) => {
      const res = await register(app, { username: 'newbie', password: 'a-good-password', email: 'newbie@example.com', full_name: 'New Bie' })
      t.equal(res.statusCode, 201)
      t.same(res.json(), { username: 'newbie', email: 'newbie@example.com', email_verified: false, full_name: 'New Bie', disabled: false })
      const token = await login(app, { username: 'newbie', password: 'a-good-password' })
      const me = await app.inject({ url: '/users/me/', headers: bearer(token) })
      t.equal(me.json().username, 'newbie')
    })

    t.test('email and full name are optional, and /users works too', async (t) => {
      const res = await register(app, { username: 'minimal', password: 'a-good-password' }, '/users')
      t.equal(res.statusCode, 201)
      t.same(res.json(), { username: 'minimal', email: null, email_verified: false, full_name: null, disabled: false })
    })

    t.test('fields a client must not set are ignored', async (t) => {
      const res = await register(app, { username: 'sneaky', password: 'a-good-password', disabled: true, hashed_password: 'x' })
      t.equal(res.statusCode, 201)
      t.equal(res.json().disabled, false)
      t.equal((await requestToken(app, { username: 'sneaky', password: 'a-good-password' })).statusCode, 200)
    })

    t.test('a taken username is 409, in any letter case', async (t) => {
      for (const username of ['newbie', 'NewBie', 'NEWBIE']) {
        const res = await register(app, { username, password: 'another-password' })
        t.equal(res.statusCode, 409, username)
        t.same(res.json(), { detail: 'Username already registered' })
      }
      // The original account is untouched.
      t.equal((await requestToken(app, { username: 'newbie', password: 'a-good-password' })).statusCode, 200)
      t.equal((await requestToken(app, { username: 'newbie', password: 'another-password' })).statusCode, 401)
    })

    const invalid: Array<[string, object, Array<string | number>, RegExp]> = [
      ['no username', { password: 'a-good-password' }, ['body', 'username'], /required/i],
      ['no password', { username: 'nopass' }, ['body', 'password'], /required/i],
      ['a short username', { username: 'ab', password: 'a-good-password' }, ['body', 'username'], /pattern/],
      ['a long username', { username: 'a'.repeat(65), password: 'a-good-password' }, ['body', 'username'], /pattern/],
      ['a username with a space', { username: 'john doe', password: 'a-good-password' }, ['body', 'username'], /pattern/],
      ['a non-ASCII username', { username: 'jöhn', password: 'a-good-password' }, ['body', 'username'], /pattern/],
      ['a 7-byte password', { username: 'shorty', password: '1234567' }, ['body', 'password'], /at least 8 bytes/],
      ['a 73-byte password', { username: 'longy', password: 'a'.repeat(73) }, ['body', 'password'], /72/],
      ['a 74-byte password in 37 characters', { username: 'longy', password: 'é'.repeat(37) }, ['body', 'password'], /72 bytes/],
      ['a bad email', { username: 'bademail', password: 'a-good-password', email: 'not-an-email' }, ['body', 'email'], /email/],
      ['a NUL in the full name', { username: 'nulname', password: 'a-good-password', full_name: 'a\u0000b' }, ['body', 'full_name'], /pattern/],
      ['an object for a username', { username: { name: 'john' }, password: 'a-good-password' }, ['body', 'username'], /string/]
    ]
    for (const [name, body, loc, msg] of invalid) {
      t.test(`${name}: 422 saying where and why, and no user`, async (t) => {
        const before = await countUsers(app.db)
        const res = await register(app, body)
        t.equal(res.statusCode, 422)
        const { detail } = res.json()
        t.ok(Array.isArray(detail) && detail.length >= 1, 'detail is a list')
        t.same(detail[0].loc, loc)
        t.match(detail[0].msg, msg)
        t.type(detail[0].type, 'string')
        t.equal(await countUsers(app.db), before, 'nothing written')
      })
    }

    t.test('a body with several problems: one 422 listing every one of them', async (t) => {
      const before = await countUsers(app.db)
      const res = await register(app, { username: 'ab', email: 'not-an-email', full_name: 'a\u0000b' })
      t.equal(res.statusCode, 422)
      const { detail } = res.json() as { detail: Array<{ loc: Array<string | number>, type: string }> }
      t.same(detail.map((issue) => issue.loc).sort(), [
        ['body', 'email'], ['body', 'full_name'], ['body', 'password'], ['body', 'username']
      ], 'the missing password, the bad username, email and full name, each once')
      t.same(detail.find((issue) => issue.loc[1] === 'password')?.type, 'missing')
      t.equal(await countUsers(app.db), before, 'nothing written')
    })

    t.test('passwords of 8 and 72 bytes, multi-byte included, are accepted', async (t) => {
      for (const [username, password] of [['eight', 'kq7-vx2p'], ['seventytwo', 'x'.repeat(72)], ['accents', 'é'.repeat(36)], ['fourbytes', '🔑🔑']] as const) {
        const res = await register(app, { username, password })
        t.equal(res.statusCode, 201, username)
        t.equal((await requestToken(app, { username, password })).statusCode, 200)
      }
    })

    t.test('malformed or empty JSON is a 422 json_invalid / missing, as FastAPI answers', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/users/', headers: { 'content-type': 'application/json' }, payload: '{"username": ' })
      t.equal(res.statusCode, 422)
      t.match(res.json().detail, [{ loc: ['body'], type: 'json_invalid', msg: /JSON/ }])
      const empty = await app.inject({ method: 'POST', url: '/users/', headers: { 'content-type': 'application/json' }, payload: '' })
      t.equal(empty.statusCode, 422)
      t.match(empty.json().detail, [{ loc: ['body'], type: 'missing' }])
    })
  })

  t.test('a 422 names every problem at once, the password\'s length in bytes included', async (t) => {
    const app = await buildApp(t, {}, engine)
    const before = await countUsers(app.db as never)
    const long = 'é'.repeat(40)
    const cases: Array<[string, Record<string, unknown>, string[]]> = [
      ['a bad username and a password over 72 bytes', { username: 'a', password: long }, ['body.username', 'body.password']],
      ['a bad username and a password under 8 bytes', { username: 'a', password: 'short' }, ['body.username', 'body.password']],
      ['a bad email and a password over 72 bytes', { username: 'fine-name', password: long, email: 'not-an-email' }, ['body.email', 'body.password']],
      ['a password over 72 bytes alone', { username: 'fine-name', password: long }, ['body.password']]
    ]
    for (const [what, body, locs] of cases) {
      const res = await register(app, body)
      t.equal(res.statusCode, 422, `${what}: 422`)
      const detail = res.json().detail as Array<{ loc: string[], msg: string, type: string }>
      t.same(detail.map((issue) => issue.loc.join('.')), locs, `${what}: each problem, in one answer`)
      const password = detail.find((issue) => issue.loc.join('.') === 'body.password')
      t.equal(password?.type, 'password_length', `${what}: the password's issue is its length`)
      t.match(password?.msg, /bytes long \(UTF-8\)/, `${what}: in bytes`)
    }
    t.equal(await countUsers(app.db as never), before, 'no account was made')
  })

  t.test('concurrent registrations of one username: exactly one wins', async (t) => {
    const app = await buildApp(t, {}, engine)
    const attempts = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      register(app, { username: i % 2 === 0 ? 'racer' : 'RACER', password: `password-${i}` })))
    const codes = attempts.map((res) => res.statusCode)
    t.equal(codes.filter((code) => code === 201).length, 1, 'one 201')
    t.equal(codes.filter((code) => code === 409).length, 11, 'the rest 409')
    t.equal(await countUsers(app.db), 1)
  })

  t.test('with registration closed, POST /users/ is 403 and creates nothing', async (t) => {
    const app = await buildApp(t, { registration: 'closed' }, engine)
    const res = await register(app, { username: 'newbie', password: 'a-good-password' })
    t.equal(res.statusCode, 403)
    t.same(res.json(), { detail: 'Registration is closed' })
    t.equal(await countUsers(app.db), 0)
  })
})
