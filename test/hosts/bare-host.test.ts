import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import SQLite from 'better-sqlite3'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { Kysely, SqliteDialect } from 'kysely'
import t from 'tap'
import { securitySchemeDescription } from '../../src/openapi/openapi-text.js'
import tokenAuth, { userOf, schemas, type TokenAuthOptions, type TokenAuthSettings } from '../../src/index.js'
import { testSecret, type TestContext } from '../helper.js'
import { tempDir } from '../src/process-helper.js'
import { bearer, get, hostUser, loginAs, newHost, operations, pluginOperations, pluginOptions, PLUGIN_SCOPES, registerUser, requestToken, signUp, type Json } from './support.js'

/* A bare Fastify host: nothing but the plugin under /auth and the host's own routes. */

/** A schema as JSON (TypeBox's symbols left out), as Fastify keeps it. */
const plain = (schema: unknown) => JSON.parse(JSON.stringify(schema))

interface HostHooks {
  /** Runs before the plugin is registered. */
  before?: (host: FastifyInstance) => void
  /** Runs after the host's own routes are added, before ready(). */
  after?: (host: FastifyInstance) => void
}

/** A host with the plugin under /auth and four routes of its own, added after the plugin. */
async function buildHost (t: TestContext, opts: Partial<TokenAuthOptions> = {}, hooks: HostHooks = {}): Promise<FastifyInstance> {
  const host = newHost(t)
  hooks.before?.(host)
  await host.register(tokenAuth, pluginOptions(opts))

  host.get('/api/private', { onRequest: host.currentActiveUser }, async (request) => {
    const username: string = userOf(request).username
    // @ts-expect-error request.user is the public User (not `any`): it has no password hash (and the body shows none).
    const hash: unknown = userOf(request).hashed_password
    return { hello: username, hash }
  })
  host.get('/api/public', async () => ({ public: true }))
  host.get('/api/authenticated', { onRequest: host.authenticate }, async (request) => ({ disabled: userOf(request).disabled }))
  // A guard awaited by hand inside the host's own async hook, rather than given to Fastify.
  host.get('/api/by-hand', {
    preHandler: async (request, reply) => {
      await host.currentActiveUser(request, reply)
      if (!reply.sent) reply.header('x-checked-by', 'host')
    }
  }, async (request) => ({ hello: userOf(request).username }))
  hooks.after?.(host)
  await host.ready()
  return host
}

t.test('a bare host with the plugin under /auth', async (t) => {
  const host = await buildHost(t)

  const created = await registerUser(host)
  t.equal(created.statusCode, 201, 'POST /auth/users/ registers')
  t.same(created.json(), { username: hostUser.username, email: null, email_verified: false, full_name: null, disabled: false })

  const login = await requestToken(host)
  t.equal(login.statusCode, 200, 'POST /auth/token (form-encoded) logs in')
  t.equal(login.json().token_type, 'bearer')
  const accessToken: string = login.json().access_token

  const me = await get(host, '/auth/users/me/', accessToken)
  t.equal(me.statusCode, 200, 'GET /auth/users/me/')
  t.same(me.json(), { username: hostUser.username, email: null, email_verified: false, full_name: null, disabled: false })

  t.test('a host route guarded by currentActiveUser', async (t) => {
    const anonymous = await get(host, '/api/private')
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Not authenticated' })
    t.equal(anonymous.headers['www-authenticate'], 'Bearer')

    const garbage = await get(host, '/api/private', 'not.a.jwt')
    t.equal(garbage.statusCode, 401, 'a bad token is refused')
    t.same(garbage.json(), { detail: 'Could not validate credentials' })
    t.equal(garbage.headers['www-authenticate'], 'Bearer error="invalid_token"')

    const ok = await get(host, '/api/private', accessToken)
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), { hello: hostUser.username })
  })

  t.test('host routes without a guard, or with authenticate', async (t) => {
    const open = await get(host, '/api/public')
    t.equal(open.statusCode, 200)
    t.same(open.json(), { public: true })

    const anonymous = await get(host, '/api/authenticated')
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Not authenticated' })
    const ok = await get(host, '/api/authenticated', accessToken)
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), { disabled: false })
  })

  t.test("a guard awaited by hand in the host's own async hook", async (t) => {
    const anonymous = await get(host, '/api/by-hand')
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Not authenticated' })
    t.equal(anonymous.headers['x-checked-by'], undefined, 'the hook saw reply.sent and stopped')
    const garbage = await get(host, '/api/by-hand', 'not.a.jwt')
    t.equal(garbage.statusCode, 401)
    t.same(garbage.json(), { detail: 'Could not validate credentials' })
    t.equal(garbage.headers['x-checked-by'], undefined)
    const ok = await get(host, '/api/by-hand', accessToken)
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), { hello: hostUser.username })
    t.equal(ok.headers['x-checked-by'], 'host', 'the rest of the hook ran')
  })

  t.test('the plugin routes are under the prefix only', async (t) => {
    for (const [method, url] of [['POST', '/token'], ['POST', '/users/'], ['GET', '/users/me/'], ['GET', '/openapi.json'], ['GET', '/docs'], ['GET', '/redoc']] as const) {
      t.equal((await host.inject({ method, url })).statusCode, 404, `${method} ${url} is not the host's`)
    }
    const docs = await get(host, '/auth/docs')
    t.equal(docs.statusCode, 200, 'GET /auth/docs')
    const assets = [...docs.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '')
    t.ok(assets.length >= 5, `${assets.length} assets`)
    for (const asset of assets) {
      t.match(asset, /^\/auth\/docs\/static\//, `${asset}: under the prefix`)
      t.equal((await get(host, asset)).statusCode, 200, `GET ${asset}`)
    }
    t.equal((await get(host, '/auth/openapi.json')).statusCode, 200, 'GET /auth/openapi.json')
    t.equal((await get(host, '/auth/redoc')).statusCode, 404, 'no ReDoc unless asked for')
  })

  t.test('a disabled user', async (t) => {
    t.equal(await host.tokenAuth.users.setDisabled(hostUser.username, true), true)
    t.teardown(async () => { await host.tokenAuth.users.setDisabled(hostUser.username, false) })
    const before = await get(host, '/api/authenticated', accessToken)
    t.equal(before.statusCode, 401, 'disabling through tokenAuth.users ended the session of the token from before')
    t.same(before.json(), { detail: 'Could not validate credentials' })
    // A disabled account may still log in (as in the tutorial); its token is refused.
    const disabledToken = await loginAs(host)
    for (const url of ['/api/private', '/auth/users/me/', '/api/by-hand']) {
      const response = await get(host, url, disabledToken)
      t.equal(response.statusCode, 400, url)
      t.same(response.json(), { detail: 'Inactive user' })
    }
    // authenticate checks the token and the account's existence, not its state.
    const authenticated = await get(host, '/api/authenticated', disabledToken)
    t.equal(authenticated.statusCode, 200)
    t.same(authenticated.json(), { disabled: true })
  })
})

t.test('exactly what the host gains', async (t) => {
  const host = await buildHost(t)
  const absent = ['db', 'users', 'passwords', 'auth', 'jwt', 'tokenAuthUsers', 'tokenAuthSessions', 'tokenAuthPasswords', 'tokenAuthTokens', 'tokenAuthGuards', 'swagger']
  for (const name of absent) t.equal(host.hasDecorator(name), false, `no ${name} decorator`)
  for (const name of ['authenticate', 'currentActiveUser', 'tokenAuth']) t.equal(host.hasDecorator(name), true, `a ${name} decorator`)
  t.equal(host.hasRequestDecorator('user'), false, 'request.user is not decorated')
  for (const name of ['jwtVerify', 'tokenAuthJwtVerify', 'tokenAuthJwtDecode']) t.equal(host.hasRequestDecorator(name), false, `no request.${name}`)
  for (const name of ['jwtSign', 'tokenAuthJwtSign']) t.equal(host.hasReplyDecorator(name), false, `no reply.${name}`)

  t.same(Object.keys(host.tokenAuth).sort(), ['accounts', 'authenticate', 'currentActiveUser', 'hashPassword', 'issueToken', 'keys', 'requireScopes', 'sessions', 'settings', 'users'])
  t.equal(host.tokenAuth.authenticate, host.authenticate, 'tokenAuth.authenticate is the authenticate decorator')
  t.equal(host.tokenAuth.currentActiveUser, host.currentActiveUser, 'tokenAuth.currentActiveUser is the currentActiveUser decorator')
  for (const [name, schema] of Object.entries(schemas)) {
    t.same(host.getSchema(`TokenAuth.${name}`), plain(schema), `the shared schema TokenAuth.${name}`)
  }
})

t.test('tokenAuth.settings reflect the options', async (t) => {
  const defaults = await buildHost(t)
  t.same(defaults.tokenAuth.settings, {
    prefix: '/auth',
    tokenUrl: '/auth/token',
    issuer: 'fastify-token-auth',
    audience: 'fastify-token-auth',
    accessTokenExpireMinutes: 30,
    refreshTokenExpireDays: 14,
    sessionMaxDays: 90,
    refreshTokenReuseSeconds: 10,
    maxSessionsPerUser: 100,
    bcryptCost: 4,
    registration: 'open',
    docs: 'own',
    securityScheme: 'OAuth2PasswordBearer',
    operationIdPrefix: '',
    algorithm: 'HS256',
    clientId: 'fastify-token-auth',
    jwksCacheSeconds: 300
  } satisfies TokenAuthSettings)

  const custom = await buildHost(t, {
    prefix: '/login/',
    accessTokenExpireMinutes: 5,
    refreshTokenExpireDays: 2,
    sessionMaxDays: 7,
    refreshTokenReuseSeconds: 0,
    maxSessionsPerUser: 3,
    bcryptCost: 5,
    registration: 'closed',
    issuer: 'host-iss',
    audience: 'host-aud',
    clientId: 'host-app',
    jwksCacheSeconds: 60,
    docs: false
  })
  t.same(custom.tokenAuth.settings, {
    prefix: '/login',
    tokenUrl: '/login/token',
    issuer: 'host-iss',
    audience: 'host-aud',
    accessTokenExpireMinutes: 5,
    refreshTokenExpireDays: 2,
    sessionMaxDays: 7,
    refreshTokenReuseSeconds: 0,
    maxSessionsPerUser: 3,
    bcryptCost: 5,
    registration: 'closed',
    docs: 'off',
    securityScheme: 'OAuth2PasswordBearer',
    operationIdPrefix: '',
    algorithm: 'HS256',
    clientId: 'host-app',
    jwksCacheSeconds: 60
  } satisfies TokenAuthSettings, 'a trailing slash of the prefix is dropped')
  t.equal((await registerUser(custom, hostUser, '/login')).statusCode, 403, 'registration closed')
  t.equal((await get(custom, '/login/openapi.json')).statusCode, 404, 'docs off')
  t.equal((await get(custom, '/login/docs')).statusCode, 404, 'docs off')
})

t.test('tokenAuth.issueToken gives a token the guards accept', async (t) => {
  const host = await buildHost(t)
  await host.tokenAuth.users.create({ username: 'issued', hashedPassword: await host.tokenAuth.hashPassword('issued-password') })
  const token = await host.tokenAuth.issueToken('issued')
  t.match(token, { access_token: /^[\w-]+\.[\w-]+\.[\w-]+$/, token_type: 'bearer', expires_in: 30 * 60 })
  for (const url of ['/api/private', '/api/authenticated', '/api/by-hand', '/auth/users/me/']) {
    t.equal((await get(host, url, token.access_token)).statusCode, 200, url)
  }
  t.same((await get(host, '/api/private', token.access_token)).json(), { hello: 'issued' })
  t.equal((await loginAs(host, { username: 'issued', password: 'issued-password' })).length > 0, true, 'the hash from hashPassword logs in')
  await t.rejects(host.tokenAuth.issueToken('nobody'), /no user named nobody/, 'no token for a user that does not exist')
  // A password bcrypt would cut short, or one too short to allow, would make an account nobody can log in to.
  await t.rejects(host.tokenAuth.hashPassword('x'.repeat(73)), /at most 72 bytes/, 'hashPassword refuses a password longer than 72 bytes')
  await t.rejects(host.tokenAuth.hashPassword('short'), /at least 8 bytes/, 'and one shorter than 8')
  t.throws(() => { (host.tokenAuth.settings as { bcryptCost: number }).bcryptCost = 99 }, TypeError, 'the settings cannot be changed')
})

t.test("the plugin's own document (the host has no @fastify/swagger)", async (t) => {
  const host = await buildHost(t)
  const response = await get(host, '/auth/openapi.json')
  t.equal(response.statusCode, 200)
  const doc = response.json()
  t.same(doc.components?.securitySchemes, {
    OAuth2PasswordBearer: { type: 'oauth2', description: securitySchemeDescription('/auth/token'), flows: { password: { tokenUrl: '/auth/token', scopes: PLUGIN_SCOPES } } }
  }, 'one oauth2 password-flow scheme, its tokenUrl under the prefix')
  t.same(operations(doc), pluginOperations('/auth'),
    "the plugin's operations only: the host's routes belong to no document of the plugin's")
  t.same(doc.paths['/auth/users/me/'].get.security, [{ OAuth2PasswordBearer: ['me'] }], 'GET /auth/users/me/ requires the scheme and me')
})

t.test("docs.operationIdPrefix in the plugin's own document", async (t) => {
  const host = await buildHost(t, { docs: { operationIdPrefix: 'auth' } })
  const doc = (await get(host, '/auth/openapi.json')).json()
  t.equal(doc.paths['/auth/token'].post.operationId, 'authToken')
  t.equal(doc.paths['/auth/users/me/sessions/{session_id}'].delete.operationId, 'authEndSession')
  t.equal(doc.paths['/auth/users/'].post.operationId, 'authRegister')
})

t.test("the host's own User schema and the plugin's TokenAuth.User", async (t) => {
  const HostUser = {
    $id: 'User',
    type: 'object',
    required: ['name', 'role'],
    properties: { name: { type: 'string' }, role: { type: 'string' } }
  } as const

  for (const when of ['before', 'after'] as const) {
    t.test(`added ${when} the plugin`, async (t) => {
      const host = await buildHost(t, {}, {
        before (host) { if (when === 'before') host.addSchema(HostUser) },
        after (host) {
          if (when === 'after') host.addSchema(HostUser)
          host.get('/api/profile', {
            onRequest: host.currentActiveUser,
            schema: { response: { 200: { $ref: 'User#' } } }
          }, async (request) => ({ name: userOf(request).username, role: 'member', ...userOf(request) }))
        }
      })
      t.same(host.getSchema('User'), HostUser, "getSchema('User') is the host's")
      t.same(host.getSchema('TokenAuth.User'), plain(schemas.User), "getSchema('TokenAuth.User') is the plugin's")

      const token = await signUp(host)
      const profile = await get(host, '/api/profile', token)
      t.equal(profile.statusCode, 200)
      t.same(profile.json(), { name: hostUser.username, role: 'member' }, "the host route serializes per the host's User")
      const me = await get(host, '/auth/users/me/', token)
      t.equal(me.statusCode, 200)
      t.same(me.json(), { username: hostUser.username, email: null, email_verified: false, full_name: null, disabled: false }, "/auth/users/me/ per the plugin's")
    })
  }

  t.test('a host schema under one of the plugin\'s $ids is refused, clearly', async (t) => {
    const host = newHost(t)
    host.addSchema({ $id: 'TokenAuth.User', type: 'object' })
    await t.rejects(async () => { await host.register(tokenAuth, pluginOptions()) }, /another schema already has the \$id TokenAuth\.User/)
  })
})

t.test("the host's own error handler survives the plugin", async (t) => {
  const hostErrorHandler = (error: Error & { statusCode?: number }, _request: FastifyRequest, reply: FastifyReply) =>
    reply.code(418).send({ handledBy: 'host', message: error.message, originalStatus: error.statusCode ?? null })

  const host = await buildHost(t, {}, {
    before (host) {
      host.setErrorHandler(hostErrorHandler)
      host.get('/api/boom-before', async () => { throw new Error('boom before') })
    },
    after (host) {
      host.get('/api/boom', async () => { throw new Error('boom') })
      host.post('/api/validated', {
        schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } }
      }, async () => ({ ok: true }))
    }
  })

  const before = await get(host, '/api/boom-before')
  t.equal(before.statusCode, 418, 'a route added before the plugin')
  t.same(before.json(), { handledBy: 'host', message: 'boom before', originalStatus: null })
  const after = await get(host, '/api/boom')
  t.equal(after.statusCode, 418, 'a route added after the plugin')
  t.same(after.json(), { handledBy: 'host', message: 'boom', originalStatus: null })
  const invalid = await host.inject({ method: 'POST', url: '/api/validated', payload: {} })
  t.equal(invalid.statusCode, 418, 'a validation error of a host route')
  t.equal(invalid.json().handledBy, 'host')
  t.equal((await get(host, '/api/private')).statusCode, 401, "a guard's own answer is not an error: the host's handler is not involved")

  const pluginInvalid = await host.inject({ method: 'POST', url: '/auth/users/', payload: {} })
  t.equal(pluginInvalid.statusCode, 422, "the plugin's routes keep their own handler")
  t.same(pluginInvalid.json(), {
    detail: [
      { loc: ['body', 'username'], msg: 'Field required', type: 'missing' },
      { loc: ['body', 'password'], msg: 'Field required', type: 'missing' }
    ]
  }, 'FastAPI validation body, every problem listed')
})

t.test('a Kysely instance owned by the host', async (t) => {
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) })
  t.teardown(async () => await db.destroy())

  const host = await buildHost(t, { database: db })
  const tables = (await db.introspection.getTables()).map((table) => table.name)
  t.ok(tables.includes('users'), `the users table is created in the host's db (${tables.join(', ')})`)
  const token = await signUp(host)
  t.equal((await get(host, '/api/private', token)).statusCode, 200)
  t.same(await db.selectFrom('users').select(['username']).execute(), [{ username: hostUser.username }], "the user is in the host's db")

  await host.close()
  t.same(await db.selectFrom('users').select(['username']).execute(), [{ username: hostUser.username }], 'the db is still usable after host.close()')
  await db.schema.createTable('host_things').addColumn('id', 'integer', (column) => column.primaryKey()).execute()
  await db.insertInto('host_things').values({ id: 1 }).execute()
  t.same(await db.selectFrom('host_things').selectAll().execute(), [{ id: 1 }], 'and writable')
})

t.test('a failing query of the built-in store, on a guarded host route', async (t) => {
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) })
  t.teardown(async () => await db.destroy())
  const host = await buildHost(t, { database: db })
  const token = await signUp(host)
  // The host's own migration gets the plugin's table out from under it.
  await db.schema.alterTable('users').renameTo('users_elsewhere').execute()

  const me = await get(host, '/auth/users/me/', token)
  t.equal(me.statusCode, 500)
  t.same(me.json(), { detail: 'Internal Server Error' }, "the plugin's route says nothing of the query")
  const hostRoute = await get(host, '/api/private', token)
  t.equal(hostRoute.statusCode, 500, 'the guarded host route fails too')
  t.notMatch(hostRoute.body, /users|SQLITE/i, 'and says nothing of the query either')
})

t.test("two hosts with different secrets refuse each other's tokens", async (t) => {
  const first = await buildHost(t)
  const second = await buildHost(t)
  const firstToken = await signUp(first)
  const secondToken = await signUp(second)
  t.equal((await get(first, '/api/private', firstToken)).statusCode, 200)
  t.equal((await get(second, '/api/private', secondToken)).statusCode, 200)

  for (const [host, token, label] of [[second, firstToken, "the second host refuses the first host's token"], [first, secondToken, "the first host refuses the second host's token"]] as const) {
    for (const url of ['/api/private', '/auth/users/me/']) {
      const crossed = await get(host, url, token)
      t.equal(crossed.statusCode, 401, `${label} on ${url}`)
      t.same(crossed.json(), { detail: 'Could not validate credentials' })
    }
  }
})

t.test('the decorators option renames or omits the guard decorators', async (t) => {
  t.test('renamed, and one omitted', async (t) => {
    const host = newHost(t)
    await host.register(tokenAuth, pluginOptions({ decorators: { authenticate: 'tokenAuthenticate', currentActiveUser: false } }))
    t.equal(host.hasDecorator('tokenAuthenticate'), true, 'tokenAuthenticate')
    t.equal(host.hasDecorator('authenticate'), false, 'no authenticate under its default name')
    t.equal(host.hasDecorator('currentActiveUser'), false, 'no currentActiveUser')
    t.equal(host.hasDecorator('tokenAuth'), true, 'tokenAuth is always there')

    const renamed = (host as unknown as Record<string, onRequestAsyncHookHandler>).tokenAuthenticate
    t.equal(renamed, host.tokenAuth.authenticate, 'the renamed decorator is tokenAuth.authenticate')
    host.get('/api/renamed', { onRequest: renamed }, async (request) => ({ hello: userOf(request).username }))
    host.get('/api/active', { onRequest: host.tokenAuth.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
    await host.ready()

    t.equal((await get(host, '/api/renamed')).statusCode, 401, 'the renamed guard guards a route')
    t.equal((await get(host, '/api/active')).statusCode, 401, 'so does tokenAuth.currentActiveUser')
    const token = await signUp(host)
    t.same((await get(host, '/api/renamed', token)).json(), { hello: hostUser.username })
    t.same((await get(host, '/api/active', token)).json(), { hello: hostUser.username })
    await host.tokenAuth.users.setDisabled(hostUser.username, true)
    t.equal((await get(host, '/api/active', await loginAs(host))).statusCode, 400, 'the omitted decorator\'s guard still refuses a disabled user')
  })

  t.test('both omitted', async (t) => {
    const host = newHost(t)
    await host.register(tokenAuth, pluginOptions({ decorators: { authenticate: false, currentActiveUser: false } }))
    t.equal(host.hasDecorator('authenticate'), false)
    t.equal(host.hasDecorator('currentActiveUser'), false)
    t.type(host.tokenAuth.authenticate, 'function', 'tokenAuth.authenticate is there all the same')
    t.type(host.tokenAuth.currentActiveUser, 'function', 'tokenAuth.currentActiveUser is there all the same')
    host.get('/api/private', { onRequest: host.tokenAuth.authenticate }, async (request) => ({ hello: userOf(request).username }))
    await host.ready()
    t.equal((await get(host, '/api/private')).statusCode, 401)
    t.equal((await get(host, '/api/private', await signUp(host))).statusCode, 200)
  })
})

t.test('the plugin refuses bad options with a clear error, before it opens a database', async (t) => {
  const dir = await tempDir(t)
  let attempts = 0
  async function attempt (opts: Json) {
    const host = newHost(t)
    const database = `sqlite:${join(dir, `attempt-${++attempts}.db`)}`
    // `await register` loads the plugin: a bad option makes it reject, before any ready().
    await host.register(tokenAuth, { prefix: '/auth', database, bcryptCost: 4, ...opts } as unknown as TokenAuthOptions)
  }
  const message = async (opts: Json) => await attempt(opts).then(() => 'resolved', (error: Error) => error.message)

  t.match(await message({}), /secret must be a string of at least 32 bytes, got nothing/, 'no secret')
  t.match(await message({ secret: '' }), /secret must be a string of at least 32 bytes, got a string of 0 bytes/, 'an empty secret')
  const short = 'x'.repeat(31)
  t.match(await message({ secret: short }), /^fastify-token-auth: secret must be a string of at least 32 bytes, got a string of 31 bytes$/, 'a 31-byte secret, not echoed')
  t.match(await message({ secret: Buffer.alloc(32, 1) }), /secret must be a string of at least 32 bytes, got a Buffer/, 'a Buffer, not a string')
  // The limit is in bytes: 16 two-byte characters are 32 bytes.
  t.equal(await message({ secret: 'é'.repeat(16), database: 'sqlite::memory:' }), 'resolved', 'a 32-byte secret of 16 characters is enough')

  for (const bcryptCost of [3, 16, 0, -1, 4.5, Number.NaN]) {
    t.match(await message({ secret: testSecret(), bcryptCost }), /bcryptCost must be a whole number from 4 to 15/, `bcryptCost ${bcryptCost}`)
  }
  for (const bcryptCost of [4, 15]) {
    t.equal(await message({ secret: testSecret(), bcryptCost, database: 'sqlite::memory:' }), 'resolved', `bcryptCost ${bcryptCost}`)
  }
  for (const accessTokenExpireMinutes of [0, 10081, 1e12]) {
    t.match(await message({ secret: testSecret(), accessTokenExpireMinutes }), /accessTokenExpireMinutes must be a whole number from 1 to 10080/, `accessTokenExpireMinutes ${accessTokenExpireMinutes}`)
  }
  t.match(await message({ secret: testSecret(), registation: 'closed' }), /unknown option registation/, 'a misspelt option')
  t.match(await message({ secret: testSecret(), docs: 'off' }), /docs must be true, false or an object/)
  t.match(await message({ secret: testSecret(), docs: { tittle: 'x' } }), /unknown option docs\.tittle/)
  t.match(await message({ secret: testSecret(), decorators: { authenticate: 'guard', currentActiveUser: 'guard' } }), /two different decorators/, 'one name for both guards')
  t.match(await message({ secret: testSecret(), decorators: { authenticate: 'tokenAuth' } }), /neither of them tokenAuth/)
  t.match(await message({ secret: testSecret(), decorators: { authenticat: 'x' } }), /unknown option decorators\.authenticat/)
  t.match(await message({ secret: testSecret(), store: {} }), /store must be a UserStore: an object with the methods findByUsername, .*, got an object without findByUsername/, 'a store without the UserStore methods')
  t.match(await message({ secret: testSecret(), database: undefined, store: {} }), /database must be a DATABASE_URL .* or a Kysely instance; it holds the sessions, and the accounts unless store is given, got nothing/, 'a store without a database for the sessions')
  for (const [option, value, rule] of [
    ['refreshTokenExpireDays', 0, /refreshTokenExpireDays must be a whole number from 1 to 365/],
    ['refreshTokenExpireDays', 1.5, /refreshTokenExpireDays must be a whole number from 1 to 365/],
    ['sessionMaxDays', 7, /sessionMaxDays must be at least refreshTokenExpireDays \(14\), got the number 7/],
    ['sessionMaxDays', 3651, /sessionMaxDays must be a whole number from 1 to 3650/],
    ['refreshTokenReuseSeconds', -1, /refreshTokenReuseSeconds must be a whole number from 0 to 300/],
    ['refreshTokenReuseSeconds', 301, /refreshTokenReuseSeconds must be a whole number from 0 to 300/],
    ['maxSessionsPerUser', 0, /maxSessionsPerUser must be a whole number from 1 to 10000/],
    ['maxSessionsPerUser', 1.5, /maxSessionsPerUser must be a whole number from 1 to 10000/]
  ] as const) {
    t.match(await message({ secret: testSecret(), [option]: value }), rule, `${option} ${value}`)
  }
  t.match(await message({ secret: testSecret(), registration: 'invite' }), /registration must be 'open' or 'closed'/)
  t.match(await message({ secret: testSecret(), prefix: 'auth' }), /prefix must be empty or a path starting with '\/'/)
  t.match(await message({ secret: testSecret(), issuer: '' }), /issuer must be a non-empty string, got an empty string/)
  t.match(await message({ secret: testSecret(), audience: 42 }), /audience must be a non-empty string, got the number 42/)
  t.match(await message({ secret: testSecret(), databaseOptions: { timeoutMs: 0 } }), /databaseOptions\.timeoutMs must be a whole number from 100 to 60000/)
  t.match(await message({ secret: testSecret(), databaseOptions: { poolSize: 101 } }), /databaseOptions\.poolSize must be a whole number from 1 to 100/)
  t.match(await message({ secret: testSecret(), decorators: { authenticate: '' } }), /decorators\.authenticate must be a name or false/)
  t.match(await message({ secret: testSecret(), store: { findByUsername: async () => undefined } }), /store must be a UserStore.*, got an object without create/, 'a store with only some of the methods')
  t.match(await message({ secret: testSecret(), database: 42 }), /database must be a DATABASE_URL .* or a Kysely instance.*, got the number 42/)
  t.match(await message({ secret: testSecret(), database: 'mysql://localhost/db' }), /database must be a DATABASE_URL \(sqlite:PATH, sqlite::memory: or postgres:\/\/…\).*, got a string/, 'an unknown database URL')

  t.same(readdirSync(dir), [], 'no database file was created by any refused registration')
  t.equal(await message({ secret: testSecret() }), 'resolved', 'good options register')
  t.ok(existsSync(join(dir, `attempt-${attempts}.db`)), 'and do create the database file (the check above can see one)')
})

t.test('a SQLite path in a missing directory is refused, and makes no directory; ./data is made', async (t) => {
  const dir = await tempDir(t)
  const cwd = process.cwd()
  process.chdir(dir)
  t.teardown(() => { process.chdir(cwd) })
  const start = async (database: string) => {
    const host = newHost(t)
    await host.register(tokenAuth, { secret: testSecret(), database, bcryptCost: 4 })
    await host.ready()
  }
  const typo = join(dir, 'dta', 'nested', 'app.db')
  await t.rejects(start(`sqlite:${typo}`), {
    code: 'FST_TOKEN_AUTH_OPTIONS',
    message: `fastify-token-auth: database sqlite:${typo}: the directory ${dirname(typo)} does not exist; create it first (only ./data is made when missing)`
  }, 'a mistyped directory: refused, naming it')
  t.notOk(existsSync(join(dir, 'dta')), 'nothing was made on the way')
  await t.rejects(start('sqlite:./elsewhere/app.db'), /the directory .*elsewhere does not exist/, 'a relative path too')
  await start('sqlite:./data/app.db')
  t.ok(existsSync(join(dir, 'data', 'app.db')), "the default's directory, ./data, is made")
  await start(`sqlite:${join(dir, 'app.db')}`)
  t.ok(existsSync(join(dir, 'app.db')), 'a file in a directory that exists is made as before')
})

t.test('a bad option gives one message: its path, the rule, and the type of what was given', async (t) => {
  const message = async (opts: Json) => await newHost(t).register(tokenAuth, pluginOptions(opts as Partial<TokenAuthOptions>))
    .then(() => 'resolved', (error: Error) => error.message)
  t.equal(await message({ throttle: { token: { max: '60', windowSeconds: 60 } } }),
    'fastify-token-auth: throttle.token.max must be a whole number from 1 to 1000000, got a string')
  t.equal(await message({ bcryptCost: 16 }), 'fastify-token-auth: bcryptCost must be a whole number from 4 to 15, got the number 16')
  t.equal(await message({ registration: true }), "fastify-token-auth: registration must be 'open' or 'closed', got true")
  t.equal(await message({ publicUrl: new URL('https://api.example.com') }),
    'fastify-token-auth: publicUrl must be an absolute http:// or https:// URL without a query or fragment, such as https://api.example.com, got a URL')
  t.equal(await message({ metrics: { registry: new Map() } }),
    'fastify-token-auth: metrics.registry must be a prom-client Registry, got a Map without registerMetric')

  const several = await message({ bcryptCost: '12', throttle: { token: { max: 0, windowSeconds: 60 } }, registation: 'closed' })
  t.match(several, /^fastify-token-auth: [^;]+(; [^;]+){2}$/, 'several bad options: one message, one clause each')
  t.match(several, /bcryptCost must be a whole number from 4 to 15, got a string/)
  t.match(several, /throttle\.token\.max must be a whole number from 1 to 1000000, got the number 0/, 'a bad value inside an object is named by its own path')
  t.notMatch(several, /throttle\.token must/, 'and only by it')
  t.match(several, /unknown option registation \(known: secret, algorithm, .*database, .*registration/, 'a misspelt option, with the names there are')

  t.equal(await message({ logLevel: 'warn', logSerializers: {} }), 'resolved', "Fastify's own register options pass")
  t.equal(await message({ docs: true, throttle: false, databaseOptions: { poolSize: 100, timeoutMs: 60_000 } }), 'resolved', 'the largest pool and wait pass')
})

t.test('a host that already has an authenticate decorator', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'auth.db')
  const host = newHost(t)
  host.decorate('authenticate', async () => {})
  const error = await host.register(tokenAuth, pluginOptions({ database: `sqlite:${file}` })).then(() => undefined, (error: Error) => error)
  t.match(error?.message, /authenticate.*decorators option/, 'the registration fails, naming the decorator and the option')
  await host.close()
  t.same(readdirSync(dir).filter((name) => name !== 'auth.db'), [], 'the database it opened is closed with the host')
  t.notOk(existsSync(file), 'no database file left behind')

  const renamed = newHost(t)
  renamed.decorate('authenticate', async () => {})
  await renamed.register(tokenAuth, pluginOptions({ decorators: { authenticate: 'tokenAuthenticate' } }))
  t.equal(renamed.hasDecorator('tokenAuthenticate'), true, 'the decorators option resolves the clash')
})

t.test('a host that registers the plugin inside its own prefixed context', async (t) => {
  const host = newHost(t)
  let settings: TokenAuthSettings | undefined
  await host.register(async (api) => {
    await api.register(tokenAuth, pluginOptions())
    api.get('/x', { onRequest: api.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
    settings = api.tokenAuth.settings
  }, { prefix: '/v1' })
  await host.ready()

  t.equal(settings?.prefix, '/v1/auth', "settings.prefix has the host's prefix")
  t.equal(settings?.tokenUrl, '/v1/auth/token', "settings.tokenUrl has the host's prefix")
  t.equal(host.hasDecorator('tokenAuth'), false, 'the decorators live in the context that registered the plugin')

  t.equal((await registerUser(host, hostUser, '/auth')).statusCode, 404, 'no /auth/users/')
  t.equal((await requestToken(host, hostUser, '/auth')).statusCode, 404, 'no /auth/token')
  const token = await signUp(host, hostUser, '/v1/auth')
  const x = await get(host, '/v1/x', token)
  t.equal(x.statusCode, 200, 'the guarded route in the same context')
  t.same(x.json(), { hello: hostUser.username })
  t.equal((await get(host, '/v1/x')).statusCode, 401)
  t.equal((await get(host, '/v1/auth/users/me/', token)).statusCode, 200)

  const doc = (await get(host, '/v1/auth/openapi.json')).json()
  t.equal(doc.components?.securitySchemes?.OAuth2PasswordBearer?.flows?.password?.tokenUrl, '/v1/auth/token', "the plugin's document names the full tokenUrl")
  t.same(operations(doc), pluginOperations('/v1/auth'))
  t.equal((await get(host, '/v1/auth/docs')).statusCode, 200, 'Swagger UI at /v1/auth/docs')
  t.same((await get(host, '/v1/auth/docs/json')).json().components.securitySchemes, doc.components.securitySchemes, 'its document is the same')
})

t.test('in a host whose router keeps trailing slashes apart, every plugin route answers both ways', async (t) => {
  const host = await buildHost(t)
  t.equal((await registerUser(host, { username: 'slashes', password: 'slashes-password' })).statusCode, 201)
  t.equal((await host.inject({ method: 'POST', url: '/auth/users', payload: { username: 'noslash', password: 'noslash-password' } })).statusCode, 201)
  const login = await host.inject({
    method: 'POST',
    url: '/auth/token/',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'username=slashes&password=slashes-password'
  })
  t.equal(login.statusCode, 200)
  for (const url of ['/auth/users/me/', '/auth/users/me']) {
    t.equal((await host.inject({ url, headers: bearer(login.json().access_token) })).statusCode, 200, url)
  }
})
