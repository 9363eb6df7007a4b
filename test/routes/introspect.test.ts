import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { Engine } from '../../src/db/dialect.js'
import { newResourceServerSecret } from '../../src/clients/resource-servers.js'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service, { type ServiceOptions } from '../../src/service/app.js'
import { bearer, createUser, forEachEngine, freshDatabaseUrl, johndoe, loginPair, requestToken, testSecret, type TestContext, type TestUser, type TokenPair } from '../helper.js'
import { dbOf } from './session-support.js'

// POST /introspect (RFC 7662) on both engines: who may ask (a resource server with HTTP Basic, a
// bearer token granted admin), what an active token's answer holds, that anything else is
// exactly {"active": false} (revoked, logged out, disabled, deleted, expired, another issuer's,
// a refresh token, garbage), the 400 and 401 answers, one audit line per refused caller, the
// per-address limit, and that the token inspected never reaches the log.

type Json = Record<string, unknown>

const root: TestUser = { username: 'root', password: 'root-password-1' }
const RS = 'orders-api'
const INACTIVE = '{"active":false}'

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` })

async function buildIntrospectApp (t: TestContext, engine: Engine, opts: Partial<ServiceOptions> = {}) {
  const lines: Json[] = []
  const raw: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { raw.push(chunk.toString()); lines.push(JSON.parse(chunk.toString())); done() } })
  const database = await freshDatabaseUrl(t, engine)
  const secret = testSecret()
  const rsSecret = newResourceServerSecret()
  const app: FastifyInstance = Fastify({ ...serviceFastifyOptions('silent'), logger: { level: 'info', stream } })
  await app.register(service, { secret, bcryptCost: 4, throttle: false, database, resourceServers: { [RS]: sha256(rsSecret) }, ...opts })
  t.teardown(async () => await app.close())
  await app.ready()
  for (const user of [root, johndoe]) await createUser(app, user)
  await app.tokenAuth.accounts.setAdmin(root.username, true)
  const introspect = async (form: Record<string, string>, headers: Record<string, string> = basic(RS, rsSecret)): Promise<LightMyRequestResponse> =>
    await app.inject({
      method: 'POST',
      url: '/introspect',
      remoteAddress: '198.51.100.7',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: new URLSearchParams(form).toString()
    })
  const loginAs = async (user: TestUser, scope?: string): Promise<TokenPair> => {
    const res = await requestToken(app, { username: user.username, password: user.password, ...(scope !== undefined && { scope }) })
    if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const audited = () => lines.splice(0).filter((line) => line.audit !== undefined).map(({ level, time, pid, hostname, msg, reqId, ...line }) => line)
  return { app, secret, rsSecret, introspect, loginAs, audited, raw }
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Json

forEachEngine(t, async (t, engine) => {
  t.test('a resource server with HTTP Basic: an active token\'s claims, no-store', async (t) => {
    const { app, introspect, audited } = await buildIntrospectApp(t, engine)
    const pair = await loginPair(app, johndoe)
    audited()
    const res = await introspect({ token: pair.access_token, token_type_hint: 'access_token' })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const claims = claimsOf(pair.access_token)
    t.same(res.json(), {
      active: true,
      sub: 'johndoe',
      scope: 'me items',
      exp: claims.exp,
      iat: claims.iat,
      sid: claims.sid,
      client_id: 'fastify-token-auth',
      amr: ['pwd'],
      token_type: 'Bearer',
      iss: app.tokenAuth.settings.issuer,
      aud: app.tokenAuth.settings.audience
    }, 'every field RFC 7662 names that the token has; client_id the first-party client\'s; amr, how the login was made')
    t.same(Object.keys(res.json() as Json), ['active', 'sub', 'scope', 'exp', 'iat', 'sid', 'client_id', 'amr', 'token_type', 'iss', 'aud'])
    t.equal((await introspect({ token: pair.access_token, token_type_hint: 'refresh_token' })).json().active, true, 'the hint changes nothing')
    t.same(audited(), [], 'an introspection that is answered writes no audit line')
  })

  t.test('anything but a usable access token is {"active": false} and nothing more', async (t) => {
    const { app, secret, introspect } = await buildIntrospectApp(t, engine, { refreshTokenReuseSeconds: 0 })
    const inactive = async (token: string, what: string) => {
      const res = await introspect({ token })
      t.equal(res.statusCode, 200, what)
      t.equal(res.body, INACTIVE, what)
      t.equal(res.headers['cache-control'], 'no-store', what)
    }
    const pair = await loginPair(app, johndoe)
    await inactive(pair.refresh_token, 'a refresh token')
    await inactive('garbage', 'garbage')
    await inactive('a.b.c', 'three parts, none of them JSON')
    await inactive(`${pair.access_token.slice(0, -2)}xx`, 'a bad signature')

    const claims = claimsOf(pair.access_token)
    const now = Math.floor(Date.now() / 1000)
    const sign = createSigner({ key: secret, algorithm: 'HS256' })
    const valid = { sub: 'johndoe', sid: claims.sid, scope: 'me', iss: claims.iss, aud: claims.aud }
    t.equal((await introspect({ token: sign({ ...valid, iat: now, exp: now + 60 }) })).json().active, true, 'a token signed like ours is active (the forgeries below differ in one claim)')
    await inactive(sign({ ...valid, iat: now - 120, exp: now - 60 }), 'an expired token')
    await inactive(sign({ ...valid, iss: 'https://elsewhere.example', iat: now, exp: now + 60 }), 'another issuer\'s')
    await inactive(sign({ ...valid, aud: 'another-api', iat: now, exp: now + 60 }), 'another audience\'s')
    await inactive(sign({ ...valid, sub: 'root', iat: now, exp: now + 60 }), 'a session that is another user\'s')
    await inactive(createSigner({ key: testSecret(), algorithm: 'HS256' })({ ...valid, iat: now, exp: now + 60 }), 'another secret\'s')
  })

  t.test('revocation is seen at once: revoked, logged out, disabled, deleted, refreshed away', async (t) => {
    const { app, introspect } = await buildIntrospectApp(t, engine)
    const active = async (pair: TokenPair) => (await introspect({ token: pair.access_token })).json().active as boolean

    const revoked = await loginPair(app, johndoe)
    t.equal(await active(revoked), true)
    const revoke = await app.inject({ method: 'POST', url: '/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${revoked.refresh_token}` })
    t.equal(revoke.statusCode, 200)
    t.equal((await introspect({ token: revoked.access_token })).body, INACTIVE, 'right after /revoke of its refresh token')

    const loggedOut = await loginPair(app, johndoe)
    t.equal(await active(loggedOut), true)
    t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(loggedOut.access_token) })).statusCode, 204)
    t.equal((await introspect({ token: loggedOut.access_token })).body, INACTIVE, 'right after /logout')

    const disabled = await loginPair(app, johndoe)
    t.equal(await active(disabled), true)
    // Only the flag, its session left alive: the user's state is checked, not just the session.
    await dbOf(app).updateTable('users').set({ disabled: 1 }).where('username', '=', 'johndoe').execute()
    t.equal((await introspect({ token: disabled.access_token })).body, INACTIVE, 'a disabled user\'s live session')
    await dbOf(app).updateTable('users').set({ disabled: 0 }).where('username', '=', 'johndoe').execute()
    t.equal(await active(disabled), true, 'enabled again')

    await app.tokenAuth.accounts.delete('johndoe')
    t.equal((await introspect({ token: disabled.access_token })).body, INACTIVE, 'a deleted user\'s')
  })

  t.test('an admin\'s bearer token may introspect; a token without admin gets 403, an unusable one 401', async (t) => {
    const { app, introspect, loginAs, audited } = await buildIntrospectApp(t, engine)
    const target = await loginPair(app, johndoe)
    const admin = await loginAs(root, 'me admin')
    audited()
    const ok = await introspect({ token: target.access_token }, bearer(admin.access_token))
    t.equal(ok.statusCode, 200)
    t.match(ok.json(), { active: true, sub: 'johndoe' }, 'the token of the form is inspected, not the caller\'s')
    t.equal((await introspect({ token: 'garbage' }, bearer(admin.access_token))).body, INACTIVE)
    t.same(audited(), [])

    for (const [who, pair] of [['a user', await loginAs(johndoe)], ['an admin whose token lacks admin', await loginAs(root)]] as const) {
      audited()
      const res = await introspect({ token: target.access_token }, bearer(pair.access_token))
      t.equal(res.statusCode, 403, who)
      t.same(res.json(), {
        detail: 'Introspection with a bearer token needs the admin scope',
        error: 'insufficient_scope',
        error_description: 'Introspection with a bearer token needs the admin scope'
      }, who)
      t.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="admin"')
      t.equal(res.headers['cache-control'], 'no-store')
      t.match(audited(), [{ audit: 'introspection.refused', reason: 'insufficient_scope', username: claimsOf(pair.access_token).sub, client: '198.51.100.7' }], who)
    }

    await app.inject({ method: 'POST', url: '/logout', headers: bearer(admin.access_token) })
    audited()
    const ended = await introspect({ token: target.access_token }, bearer(admin.access_token))
    t.equal(ended.statusCode, 401, 'the admin logged out: their token is no credential any more')
    t.equal(ended.json().error, 'invalid_client')
    t.match(audited(), [{ audit: 'introspection.refused', reason: 'invalid_bearer_token' }])
  })

  t.test('no or bad caller credentials: 401 invalid_client with a Basic challenge, one audit line each', async (t) => {
    const { app, rsSecret, introspect, audited, raw } = await buildIntrospectApp(t, engine)
    const target = await loginPair(app, johndoe)
    audited()
    const cases: Array<[string, Record<string, string>, Json]> = [
      ['no credentials', {}, { reason: 'no_credentials' }],
      ['a wrong secret', basic(RS, `${rsSecret}x`), { reason: 'wrong_secret', clientId: RS }],
      ['an unknown client', basic('someone', rsSecret), { reason: 'unknown_client' }],
      ['the secret as the id', basic(rsSecret, ''), { reason: 'unknown_client' }],
      ['a Basic header that is not base64 of id:secret', { authorization: 'Basic bm9jb2xvbg==' }, { reason: 'malformed_credentials' }],
      ['a bearer token that is garbage', bearer('garbage'), { reason: 'invalid_bearer_token' }],
      ['another scheme', { authorization: 'Digest username="x"' }, { reason: 'malformed_credentials' }]
    ]
    for (const [what, headers, fields] of cases) {
      const res = await introspect({ token: target.access_token }, headers)
      t.equal(res.statusCode, 401, what)
      t.same(res.json(), {
        detail: 'Introspection needs the Basic credentials of a resource server, or a bearer token granted admin',
        error: 'invalid_client',
        error_description: 'Introspection needs the Basic credentials of a resource server, or a bearer token granted admin'
      }, what)
      t.equal(res.headers['www-authenticate'], 'Basic realm="token introspection"', what)
      t.equal(res.headers['cache-control'], 'no-store', what)
      const lines = audited()
      t.equal(lines.length, 1, `${what}: one audit line`)
      t.same(lines[0], { audit: 'introspection.refused', client: '198.51.100.7', ...fields }, what)
    }
    const log = raw.join('')
    t.notOk(log.includes(rsSecret), 'no secret in the log')
    t.notOk(log.includes(target.access_token), 'no token in the log')
  })

  t.test('the form: a missing token is a 400 invalid_request, a JSON body too', async (t) => {
    const { introspect, app, rsSecret } = await buildIntrospectApp(t, engine)
    for (const form of [{}, { token: '' }, { token_type_hint: 'access_token' }] as Array<Record<string, string>>) {
      const res = await introspect(form)
      t.equal(res.statusCode, 400, JSON.stringify(form))
      t.same(res.json(), { detail: 'Missing required field: token', error: 'invalid_request', error_description: 'Missing required field: token' })
    }
    const json = await app.inject({ method: 'POST', url: '/introspect', headers: { ...basic(RS, rsSecret), 'content-type': 'application/json' }, payload: { token: 'x' } })
    t.equal(json.statusCode, 400)
    t.equal(json.json().error, 'invalid_request')
    const anonymous = await introspect({}, {})
    t.equal(anonymous.statusCode, 401, 'without credentials the caller is refused before the form is read')
  })

  t.test('limited per client address (throttle.introspect)', async (t) => {
    const { app, introspect, audited } = await buildIntrospectApp(t, engine, { throttle: { introspect: { max: 2, windowSeconds: 60 } } })
    const pair = await loginPair(app, johndoe)
    t.equal((await introspect({ token: pair.access_token })).statusCode, 200)
    t.equal((await introspect({ token: pair.access_token })).statusCode, 200)
    const over = await introspect({ token: pair.access_token })
    t.equal(over.statusCode, 429)
    t.equal(over.json().error, 'invalid_request')
    t.ok(Number(over.headers['retry-after']) > 0)
    t.match(audited().filter((line) => line.audit === 'request.throttled'), [{ limit: 'introspect', client: '198.51.100.7' }])
  })
})
