import t from 'tap'
import { hashPassword } from '../../src/accounts/passwords.js'
import { alice, buildApp, createUser, forEachEngine, johndoe, requestToken } from '../helper.js'

function decodeJwt (token: string) {
  const [header, payload, signature] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(header as string, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload as string, 'base64url').toString()),
    signature
  }
}

const OAUTH_ERROR_KEYS = ['detail', 'error', 'error_description']

forEachEngine(t, async (t, engine) => {
  t.test('a correct password gets an HS256 bearer token for 30 minutes', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const before = Math.floor(Date.now() / 1000)
    const res = await requestToken(app, { username: 'johndoe', password: johndoe.password })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(res.headers.pragma, 'no-cache')
    t.match(res.headers['content-type'], /^application\/json/)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    t.equal(body.token_type, 'bearer')
    t.equal(body.expires_in, 1800)
    t.equal(body.scope, 'me items', "no scope asked for: every scope but admin's")
    const { header, payload } = decodeJwt(body.access_token)
    t.equal(header.alg, 'HS256')
    t.equal(payload.sub, 'johndoe')
    t.equal(payload.scope, 'me items', 'the scope claim says the same')
    t.equal(payload.iss, 'fastify-token-auth', 'issuer')
    t.equal(payload.aud, 'fastify-token-auth', 'audience')
    t.ok(payload.iat >= before && payload.iat <= before + 5, 'iat is now')
    t.equal(payload.exp - payload.iat, 1800, 'exp is 30 minutes after iat')
  })

  t.test('the expiry follows the configured minutes', async (t) => {
    const app = await buildApp(t, { accessTokenExpireMinutes: 5 }, engine)
    await createUser(app, johndoe)
    const res = await requestToken(app, { username: 'johndoe', password: johndoe.password })
    t.equal(res.json().expires_in, 300)
    const { payload } = decodeJwt(res.json().access_token)
    t.equal(payload.exp - payload.iat, 300)
  })

  t.test('the full OAuth2 form is accepted, with a charset and at /token/', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const form = new URLSearchParams({ grant_type: 'password', username: 'johndoe', password: johndoe.password, scope: '', client_id: 'swagger', client_secret: 'whatever' })
    for (const url of ['/token', '/token/']) {
      const res = await app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
        payload: form.toString()
      })
      t.equal(res.statusCode, 200, url)
      t.equal(res.json().token_type, 'bearer')
    }
  })

  t.test('wrong password and unknown user get the same 401', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const wrong = await requestToken(app, { username: 'johndoe', password: 'not-the-password' })
    const unknown = await requestToken(app, { username: 'nobody', password: 'not-the-password' })
    for (const res of [wrong, unknown]) {
      t.equal(res.statusCode, 401)
      t.equal(res.headers['www-authenticate'], 'Bearer')
      t.same(res.json(), {
        detail: 'Incorrect username or password',
        error: 'invalid_grant',
        error_description: 'Incorrect username or password'
      })
    }
    t.equal(wrong.body, unknown.body)
    const headerNames = (res: typeof wrong) => Object.keys(res.headers).filter((h) => h !== 'date').sort()
    t.same(headerNames(wrong), headerNames(unknown), 'same headers')
  })

  t.test('a username with a NUL is simply no such user', async (t) => {
    const app = await buildApp(t, {}, engine)
    const res = await requestToken(app, { username: 'john\u0000doe', password: 'whatever-password' })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'invalid_grant')
  })

  t.test('usernames are case-sensitive at login', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, { username: 'tim', password: 'tims-password' })
    t.equal((await requestToken(app, { username: 'TIM', password: 'tims-password' })).statusCode, 401)
    t.equal((await requestToken(app, { username: 'Tim', password: 'tims-password' })).statusCode, 401)
    t.equal((await requestToken(app, { username: 'tim', password: 'tims-password' })).statusCode, 200)
  })

  t.test('a password over 72 bytes never matches, even when bcrypt would truncate it into a match', async (t) => {
    const app = await buildApp(t, {}, engine)
    const stored = 'a'.repeat(72)
    await createUser(app, { username: 'longpass', password: stored })
    t.equal((await requestToken(app, { username: 'longpass', password: stored })).statusCode, 200, 'exactly 72 bytes works')
    const res = await requestToken(app, { username: 'longpass', password: `${stored}b` })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'invalid_grant')
    // 36 two-byte characters are 72 bytes; one more is 74.
    await createUser(app, { username: 'accents', password: 'é'.repeat(36) })
    t.equal((await requestToken(app, { username: 'accents', password: 'é'.repeat(36) })).statusCode, 200)
    t.equal((await requestToken(app, { username: 'accents', password: 'é'.repeat(37) })).statusCode, 401)
  })

  t.test('a password hashed at another cost is rehashed at the configured cost on login', async (t) => {
    const app = await buildApp(t, { bcryptCost: 5 }, engine)
    // Stored at cost 4, as by an older BCRYPT_COST.
    await app.tokenAuth.users.create({ username: 'oldhash', hashedPassword: await hashPassword('old-cost-password', 4) })
    t.equal((await requestToken(app, { username: 'oldhash', password: 'old-cost-password' })).statusCode, 200)
    t.match((await app.tokenAuth.users.findByUsername('oldhash'))?.hashedPassword, /^\$2[aby]\$05\$/, 'now at cost 5')
    t.equal((await requestToken(app, { username: 'oldhash', password: 'old-cost-password' })).statusCode, 200, 'and still logs in')
    t.equal((await requestToken(app, { username: 'oldhash', password: 'wrong-password' })).statusCode, 401)
  })

  t.test('a disabled user still obtains a token, as in the tutorial', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, alice)
    const res = await requestToken(app, { username: alice.username, password: alice.password })
    t.equal(res.statusCode, 200)
  })

  t.test('missing or empty fields are an invalid_request naming the field', async (t) => {
    const app = await buildApp(t, {}, engine)
    const cases: Array<[Record<string, string>, string]> = [
      [{ password: 'x' }, 'username'],
      [{ username: 'johndoe' }, 'password'],
      [{ username: '', password: 'x' }, 'username'],
      [{ username: 'johndoe', password: '' }, 'password']
    ]
    for (const [form, field] of cases) {
      const res = await requestToken(app, form)
      t.equal(res.statusCode, 400, JSON.stringify(form))
      const body = res.json()
      t.same(Object.keys(body).sort(), OAUTH_ERROR_KEYS)
      t.equal(body.error, 'invalid_request')
      t.match(body.detail, new RegExp(`\\b${field}\\b`), `detail names ${field}`)
      t.equal(body.error_description, body.detail)
      t.equal(res.headers['cache-control'], 'no-store')
    }
    const neither = await requestToken(app, { grant_type: 'password' })
    t.equal(neither.statusCode, 400)
    t.equal(neither.json().error_description, 'Missing required fields: username, password', 'both missing fields named at once')
  })

  t.test('a repeated field is an invalid_request', async (t) => {
    const app = await buildApp(t, {}, engine)
    const res = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'username=a&username=b&password=x'
    })
    t.equal(res.statusCode, 400)
    t.equal(res.json().error, 'invalid_request')
    t.match(res.json().detail, /username/)
  })

  t.test('a body that is not a form is an invalid_request', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const bodies = [
      { headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ username: 'johndoe', password: johndoe.password }) },
      { headers: { 'content-type': 'text/plain' }, payload: 'username=johndoe' },
      { headers: {}, payload: undefined }
    ]
    for (const body of bodies) {
      const res = await app.inject({ method: 'POST', url: '/token', ...body })
      t.equal(res.statusCode, 400, JSON.stringify(body.headers))
      t.equal(res.json().error, 'invalid_request')
      t.match(res.json().detail, /application\/x-www-form-urlencoded/)
    }
  })

  t.test('another grant type is unsupported_grant_type; an empty one counts as omitted', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const res = await requestToken(app, { grant_type: 'client_credentials', username: 'johndoe', password: johndoe.password })
    t.equal(res.statusCode, 400)
    t.equal(res.json().error, 'unsupported_grant_type')
    t.match(res.json().detail, /password/)
    const empty = await requestToken(app, { grant_type: '', username: 'johndoe', password: johndoe.password })
    t.equal(empty.statusCode, 200)
  })

  t.test('a non-ASCII password works end to end', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, { username: 'unicode', password: 'pässwörd-密码-🔑' })
    t.equal((await requestToken(app, { username: 'unicode', password: 'pässwörd-密码-🔑' })).statusCode, 200)
    t.equal((await requestToken(app, { username: 'unicode', password: 'passwort-密码-🔑' })).statusCode, 401)
  })
})
