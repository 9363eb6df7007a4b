import { createHmac } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { alice, bearer, buildApp, createUser, forEachEngine, johndoe, login, testSecret } from '../helper.js'
import { clockPast } from '../support/clock.js'

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A JWT made by hand, so a test can produce exactly the flaw it needs. */
function makeJwt (header: object, payload: object, secret: string, hash = 'sha256'): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}

const now = () => Math.floor(Date.now() / 1000)
const HS256 = { alg: 'HS256', typ: 'JWT' }
// Issuer and audience as the service sets them, so each token below fails for its own flaw only.
const issuedBy = { iss: 'fastify-token-auth', aud: 'fastify-token-auth' }

/** The session id (`sid`) an access token carries. */
const sessionOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).sid

const INVALID = { detail: 'Could not validate credentials' }
const INVALID_CHALLENGE = 'Bearer error="invalid_token"'

forEachEngine(t, async (t, engine) => {
  t.test('protected routes', async (t) => {
    const secret = testSecret()
    const app = await buildApp(t, { secret }, engine)
    await createUser(app, johndoe)
    await createUser(app, alice)

    const me = async (headers: Record<string, string>) => await app.inject({ method: 'GET', url: '/users/me/', headers })
    // A live session of johndoe's, so each hand-made token below fails for its own flaw only.
    const ours = { ...issuedBy, sid: sessionOf(await login(app, johndoe)), iat: now(), scope: 'me items' }

    t.test('no Authorization header: 401 Not authenticated', async (t) => {
      const res = await me({})
      t.equal(res.statusCode, 401)
      t.same(res.json(), { detail: 'Not authenticated' })
      t.equal(res.headers['www-authenticate'], 'Bearer')
    })

    t.test('another scheme or an empty bearer: 401 Not authenticated', async (t) => {
      for (const authorization of ['Basic am9obmRvZTpzZWNyZXQ=', 'Token abc', 'Bearer', 'Bearer ', 'Bearertoken']) {
        const res = await me({ authorization })
        t.equal(res.statusCode, 401, authorization)
        t.same(res.json(), { detail: 'Not authenticated' })
        t.equal(res.headers['www-authenticate'], 'Bearer')
      }
    })

    t.test('the scheme name is case-insensitive', async (t) => {
      const token = await login(app, johndoe)
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const res = await me({ authorization: `${scheme} ${token}` })
        t.equal(res.statusCode, 200, scheme)
      }
    })

    const unusable: Record<string, () => string> = {
      'a malformed token': () => 'not-a-jwt',
      'three garbage segments': () => 'aaa.bbb.ccc',
      // The signature's first character changed: every bit of it counts (the last one's low bits do not).
      'a bad signature': () => {
        const [input, signature = ''] = makeJwt(HS256, { ...ours, sub: 'johndoe', exp: now() + 600 }, secret).split(/\.(?=[^.]*$)/)
        return `${input}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`
      },
      'another secret': () => makeJwt(HS256, { ...ours, sub: 'johndoe', exp: now() + 600 }, testSecret()),
      'alg none': () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...ours, sub: 'johndoe', exp: now() + 600 })}.`,
      'alg HS512 with the right secret': () => makeJwt({ alg: 'HS512', typ: 'JWT' }, { ...ours, sub: 'johndoe', exp: now() + 600 }, secret, 'sha512'),
      'an expired token': () => makeJwt(HS256, { ...ours, sub: 'johndoe', iat: now() - 120, exp: now() - 60 }, secret),
      'no exp': () => makeJwt(HS256, { ...ours, sub: 'johndoe', iat: now() }, secret),
      'no sub': () => makeJwt(HS256, { ...ours, exp: now() + 600 }, secret),
      'a numeric sub': () => makeJwt(HS256, { ...ours, sub: 42, exp: now() + 600 }, secret),
      'the sub of no user': () => makeJwt(HS256, { ...ours, sub: 'ghost', exp: now() + 600 }, secret),
      'the sub in another letter case': () => makeJwt(HS256, { ...ours, sub: 'JohnDoe', exp: now() + 600 }, secret),
      'another issuer': () => makeJwt(HS256, { ...ours, iss: 'someone-else', sub: 'johndoe', exp: now() + 600 }, secret),
      'another audience': () => makeJwt(HS256, { ...ours, aud: 'password-reset', sub: 'johndoe', exp: now() + 600 }, secret),
      'no audience': () => makeJwt(HS256, { iss: ours.iss, sid: ours.sid, sub: 'johndoe', exp: now() + 600 }, secret),
      'no session': () => makeJwt(HS256, { ...issuedBy, sub: 'johndoe', exp: now() + 600 }, secret),
      'a numeric session': () => makeJwt(HS256, { ...ours, sid: 42, sub: 'johndoe', exp: now() + 600 }, secret),
      'an unknown session': () => makeJwt(HS256, { ...ours, sid: 'AAAAAAAAAAAAAAAAAAAAAA', sub: 'johndoe', exp: now() + 600 }, secret),
      "another user's session": () => makeJwt(HS256, { ...ours, sub: 'alice', exp: now() + 600 }, secret),
      'a future nbf': () => makeJwt(HS256, { ...ours, sub: 'johndoe', exp: now() + 600, nbf: now() + 300 }, secret),
      'no iat': () => makeJwt(HS256, { ...issuedBy, sid: ours.sid, sub: 'johndoe', exp: now() + 600 }, secret),
      'a string iat': () => makeJwt(HS256, { ...ours, iat: String(now()), sub: 'johndoe', exp: now() + 600 }, secret),
      'an iat a minute in the future': () => makeJwt(HS256, { ...ours, iat: now() + 60, sub: 'johndoe', exp: now() + 600 }, secret),
      'an iat older than the token lifetime': () => makeJwt(HS256, { ...ours, iat: now() - 31 * 60, sub: 'johndoe', exp: now() + 600 }, secret),
      'no scope': () => makeJwt(HS256, { ...issuedBy, sid: ours.sid, iat: ours.iat, sub: 'johndoe', exp: now() + 600 }, secret),
      'a scope list rather than a string': () => makeJwt(HS256, { ...ours, scope: ['me'], sub: 'johndoe', exp: now() + 600 }, secret)
    }
    for (const [name, make] of Object.entries(unusable)) {
      t.test(`${name}: 401 Could not validate credentials`, async (t) => {
        const res = await me(bearer(make()))
        t.equal(res.statusCode, 401)
        t.same(res.json(), INVALID)
        t.equal(res.headers['www-authenticate'], INVALID_CHALLENGE)
      })
    }

    t.test('a well-formed hand-made token with the right secret is accepted (the cases above fail for their flaw alone)', async (t) => {
      const res = await me(bearer(makeJwt(HS256, { ...ours, sub: 'johndoe', exp: now() + 600 }, secret)))
      t.equal(res.statusCode, 200)
      t.equal(res.json().username, 'johndoe')
    })

    t.test('a bearer token over 8192 characters is refused unread, however well signed', async (t) => {
      // A signed token padded to a length: the longest at most `length` characters.
      const padded = (length: number) => {
        let pad = ''
        const make = () => makeJwt(HS256, { ...ours, sub: 'johndoe', exp: now() + 600, pad }, secret)
        while (make().length <= length) pad += 'x'
        pad = pad.slice(0, -1)
        return make()
      }
      const longest = padded(8192)
      t.ok(longest.length > 8180 && longest.length <= 8192, `${longest.length} characters`)
      t.equal((await me(bearer(longest))).statusCode, 200, 'at most 8192 characters: read and accepted')
      const over = padded(8196)
      t.ok(over.length > 8192, `${over.length} characters`)
      const res = await me(bearer(over))
      t.equal(res.statusCode, 401, 'over 8192: refused, though its signature and claims are good')
      t.same(res.json(), INVALID, 'as any unusable token')
      t.equal(res.headers['www-authenticate'], INVALID_CHALLENGE)
      const huge = await me(bearer('x'.repeat(15_000)))
      t.equal(huge.statusCode, 401)
      t.same(huge.json(), INVALID)
    })

    t.test('a disabled user: 400 Inactive user', async (t) => {
      const token = await login(app, alice)
      for (const url of ['/users/me/', '/users/me/items/']) {
        const res = await app.inject({ method: 'GET', url, headers: bearer(token) })
        t.equal(res.statusCode, 400, url)
        t.same(res.json(), { detail: 'Inactive user' })
      }
    })

    t.test('a password set through the public API refuses the tokens from before, not later ones', async (t) => {
      await createUser(app, { username: 'changer', password: 'first-password' })
      const before = await login(app, { username: 'changer', password: 'first-password' })
      t.equal((await me(bearer(before))).statusCode, 200)
      await app.tokenAuth.users.setPassword('changer', await app.tokenAuth.hashPassword('second-password'))
      const res = await me(bearer(before))
      t.equal(res.statusCode, 401, 'the old token is refused')
      t.same(res.json(), INVALID)
      const after = await login(app, { username: 'changer', password: 'second-password' })
      t.equal((await me(bearer(after))).statusCode, 200, 'a token from the new password works')
    })

    t.test('a change written straight to the database by this process is seen on the next request', async (t) => {
      await createUser(app, { username: 'direct', password: 'direct-password' })
      const token = await login(app, { username: 'direct', password: 'direct-password' })
      t.equal((await me(bearer(token))).statusCode, 200)
      t.equal((await me(bearer(token))).statusCode, 200, 'twice: remembered, where the engine allows')
      await sql`update users set disabled = 1 where username = 'direct'`.execute(app.db)
      t.same((await me(bearer(token))).json(), { detail: 'Inactive user' }, 'an update of the users table')
      await sql`delete from sessions where username = 'direct'`.execute(app.db)
      t.equal((await me(bearer(token))).statusCode, 401, 'a session deleted by hand')
    })

    t.test('disabling a user ends their sessions at once; a token got while disabled works once enabled', async (t) => {
      const toggled = { username: 'toggled', password: 'toggled-password' }
      await createUser(app, toggled)
      const token = await login(app, toggled)
      t.equal((await me(bearer(token))).statusCode, 200)
      await app.tokenAuth.users.setDisabled('toggled', true)
      t.same((await me(bearer(token))).json(), INVALID, 'the session from before has ended')
      const whileDisabled = await login(app, toggled)
      t.same((await me(bearer(whileDisabled))).json(), { detail: 'Inactive user' }, 'a login while disabled: its token is refused')
      await app.tokenAuth.users.setDisabled('toggled', false)
      t.equal((await me(bearer(whileDisabled))).statusCode, 200, 'and accepted once enabled')
    })
  })

  t.test('a user lookup that fails answers a clean 500 at once, and the next one works again', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const token = await login(app, johndoe)
    // A real failure of the lookup (its table is gone); on SQLite it throws inside the hook, on PostgreSQL it rejects.
    await sql`alter table users rename to users_gone`.execute(app.db)
    const failed = await app.inject({ method: 'GET', url: '/users/me/', headers: bearer(token) })
    t.equal(failed.statusCode, 500)
    t.same(failed.json(), { detail: 'Internal Server Error' }, 'no internals in the body')
    await sql`alter table users_gone rename to users`.execute(app.db)
    const again = await app.inject({ method: 'GET', url: '/users/me/', headers: bearer(token) })
    t.equal(again.statusCode, 200)
  })

  t.test('a token expires at its exp', async (t) => {
    const secret = testSecret()
    const app = await buildApp(t, { secret }, engine)
    await createUser(app, johndoe)
    // One second of life: valid now, refused once exp has passed.
    const sid = sessionOf(await login(app, johndoe))
    const exp = now() + 1
    const token = makeJwt(HS256, { ...issuedBy, sid, sub: 'johndoe', iat: now(), exp, scope: 'me' }, secret)
    t.equal((await app.inject({ url: '/users/me/', headers: bearer(token) })).statusCode, 200)
    await clockPast(exp * 1000)
    const res = await app.inject({ url: '/users/me/', headers: bearer(token) })
    t.equal(res.statusCode, 401)
    t.same(res.json(), INVALID)
  })
})
