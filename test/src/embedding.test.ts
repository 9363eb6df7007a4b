import { randomBytes } from 'node:crypto'
import SQLite from 'better-sqlite3'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type onRequestAsyncHookHandler } from 'fastify'
import { Kysely, SqliteDialect } from 'kysely'
import t from 'tap'
import authApi, { type TokenAuthOptions } from '../../src/index.js'
import { testSecret, type TestContext } from '../helper.js'

/* A host application embedding the plugin under /auth, with its own routes next to it. */

type Json = Record<string, any>

const user = { username: 'hostuser', password: 'host-password-1' }

/** A host with the plugin under /auth and three routes of its own, added after the plugin. */
interface HostHooks {
  /** Runs before the plugin is registered. */
  before?: (host: FastifyInstance) => void
  /** Runs after the host's own routes are added, before ready(). */
  after?: (host: FastifyInstance) => void
}

async function buildHost (t: TestContext, opts: Partial<TokenAuthOptions> = {}, hooks: HostHooks = {}): Promise<FastifyInstance> {
  const host = Fastify({ logger: false })
  t.teardown(async () => await host.close())
  hooks.before?.(host)
  await host.register(authApi, { prefix: '/auth', secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4, ...opts } as TokenAuthOptions)

  host.get('/api/private', { onRequest: host.currentActiveUser }, async (request) => {
    // Type-checks: request.user is the plugin's User.
    const username: string = request.user.username
    // @ts-expect-error request.user is the public User (not `any`): it has no password hash.
    void request.user.hashed_password
    return { hello: username }
  })
  host.get('/api/public', async () => ({ public: true }))
  host.get('/api/authenticated', { onRequest: host.authenticate }, async (request) => ({ disabled: request.user.disabled }))
  // The guards awaited by hand inside a host's own async hook, rather than given to Fastify.
  host.get('/api/by-hand', {
    preHandler: async (request, reply) => {
      await host.currentActiveUser(request, reply)
      if (!reply.sent) reply.header('x-checked-by', 'host')
    }
  }, async (request) => ({ hello: request.user.username }))
  hooks.after?.(host)
  await host.ready()
  return host
}

async function register (host: FastifyInstance, body: Json = user) {
  return await host.inject({ method: 'POST', url: '/auth/users/', payload: body })
}

async function token (host: FastifyInstance, credentials: { username: string, password: string } = user, url = '/auth/token') {
  return await host.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(credentials).toString()
  })
}

async function loginAs (host: FastifyInstance, credentials = user): Promise<string> {
  const response = await token(host, credentials)
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json().access_token
}

const bearer = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` })

t.test('a host app with the plugin under /auth', async (t) => {
  const host = await buildHost(t)

  const created = await register(host)
  t.equal(created.statusCode, 201, 'POST /auth/users/ registers')
  t.same(created.json(), { username: user.username, email: null, full_name: null, disabled: false })

  const login = await token(host)
  t.equal(login.statusCode, 200, 'POST /auth/token logs in')
  t.equal(login.json().token_type, 'bearer')
  const accessToken: string = login.json().access_token

  const me = await host.inject({ method: 'GET', url: '/auth/users/me/', headers: bearer(accessToken) })
  t.equal(me.statusCode, 200, 'GET /auth/users/me/')
  t.equal(me.json().username, user.username)

  t.test('host route guarded by currentActiveUser', async (t) => {
    const anonymous = await host.inject({ method: 'GET', url: '/api/private' })
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Not authenticated' })
    t.equal(anonymous.headers['www-authenticate'], 'Bearer')

    const garbage = await host.inject({ method: 'GET', url: '/api/private', headers: bearer('not.a.jwt') })
    t.equal(garbage.statusCode, 401, 'a bad token is refused')
    t.match(garbage.headers['www-authenticate'], /^Bearer/)

    const ok = await host.inject({ method: 'GET', url: '/api/private', headers: bearer(accessToken) })
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), { hello: user.username })
  })

  t.test('host routes without a guard, or with authenticate only', async (t) => {
    const open = await host.inject({ method: 'GET', url: '/api/public' })
    t.equal(open.statusCode, 200)
    t.same(open.json(), { public: true })

    const anonymous = await host.inject({ method: 'GET', url: '/api/authenticated' })
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Not authenticated' })
    const ok = await host.inject({ method: 'GET', url: '/api/authenticated', headers: bearer(accessToken) })
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), { disabled: false })
  })

  t.test('a host hook awaiting currentActiveUser by hand', async (t) => {
    const anonymous = await host.inject({ method: 'GET', url: '/api/by-hand' })
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Not authenticated' })
    t.equal(anonymous.headers['x-checked-by'], undefined, 'the hook saw the request answered')
    const garbage = await host.inject({ method: 'GET', url: '/api/by-hand', headers: bearer('not.a.jwt') })
    t.equal(garbage.statusCode, 401)
    t.same(garbage.json(), { detail: 'Could not validate credentials' })
    const ok = await host.inject({ method: 'GET', url: '/api/by-hand', headers: bearer(accessToken) })
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), { hello: user.username })
    t.equal(ok.headers['x-checked-by'], 'host', 'the rest of the hook ran')
  })

  t.test('the plugin routes are under the prefix only', async (t) => {
    for (const [method, url] of [['POST', '/token'], ['POST', '/users/'], ['GET', '/users/me/'], ['GET', '/openapi.json'], ['GET', '/docs']] as const) {
      const response = await host.inject({ method, url })
      t.equal(response.statusCode, 404, `${method} ${url}`)
    }
    const docs = await host.inject({ method: 'GET', url: '/auth/docs' })
    t.equal(docs.statusCode, 200, 'GET /auth/docs')
  })

  t.test('a disabled user', async (t) => {
    t.equal(await host.tokenAuth.users.setDisabled(user.username, true), true)
    t.teardown(async () => { await host.tokenAuth.users.setDisabled(user.username, false) })
    const response = await host.inject({ method: 'GET', url: '/api/private', headers: bearer(accessToken) })
    t.equal(response.statusCode, 400)
    t.same(response.json(), { detail: 'Inactive user' })
    const me = await host.inject({ method: 'GET', url: '/auth/users/me/', headers: bearer(accessToken) })
    t.equal(me.statusCode, 400, 'GET /auth/users/me/ too')
    t.same(me.json(), { detail: 'Inactive user' })
    const byHand = await host.inject({ method: 'GET', url: '/api/by-hand', headers: bearer(accessToken) })
    t.equal(byHand.statusCode, 400, 'awaited by hand too')
    t.same(byHand.json(), { detail: 'Inactive user' })
    // authenticate alone checks the token, not the account's state.
    const authenticated = await host.inject({ method: 'GET', url: '/api/authenticated', headers: bearer(accessToken) })
    t.equal(authenticated.statusCode, 200)
    t.same(authenticated.json(), { disabled: true })
  })
})

t.test("the host's OpenAPI document", async (t) => {
  const host = await buildHost(t)
  const response = await host.inject({ method: 'GET', url: '/auth/openapi.json' })
  t.equal(response.statusCode, 200)
  const doc = response.json()

  const schemes: Json = doc.components?.securitySchemes ?? {}
  const names = Object.keys(schemes)
  t.equal(names.length, 1, 'one security scheme')
  const scheme = names[0] ?? ''
  t.equal(schemes[scheme]?.type, 'oauth2')
  t.equal(schemes[scheme]?.flows?.password?.tokenUrl, '/auth/token', 'tokenUrl carries the prefix')

  const requires = (operation: Json | undefined) =>
    Array.isArray(operation?.security) && operation.security.some((requirement: Json) => scheme in requirement)

  t.ok(doc.paths?.['/api/private']?.get, '/api/private is documented')
  t.ok(requires(doc.paths?.['/api/private']?.get), '/api/private requires the scheme')
  t.ok(requires(doc.paths?.['/api/authenticated']?.get), '/api/authenticated requires the scheme')
  t.ok(doc.paths?.['/api/public']?.get, '/api/public is documented')
  const publicSecurity: unknown[] | undefined = doc.paths?.['/api/public']?.get?.security
  t.ok(publicSecurity === undefined || publicSecurity.length === 0, '/api/public has no security requirement')

  t.ok(doc.paths?.['/auth/token']?.post, 'POST /auth/token is documented')
  t.ok(requires(doc.paths?.['/auth/users/me/']?.get), 'GET /auth/users/me/ requires the scheme')
  t.notOk(doc.paths?.['/token'], 'no unprefixed /token')
  for (const path of Object.keys(doc.paths ?? {})) {
    t.notMatch(path, /^\/auth\/(docs|openapi|redoc)/, `${path} is not a doc route`)
  }
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

  const before = await host.inject({ method: 'GET', url: '/api/boom-before' })
  t.equal(before.statusCode, 418, 'a route added before the plugin')
  t.same(before.json(), { handledBy: 'host', message: 'boom before', originalStatus: null })

  const after = await host.inject({ method: 'GET', url: '/api/boom' })
  t.equal(after.statusCode, 418, 'a route added after the plugin')
  t.same(after.json(), { handledBy: 'host', message: 'boom', originalStatus: null })

  const invalid = await host.inject({ method: 'POST', url: '/api/validated', payload: {} })
  t.equal(invalid.statusCode, 418, 'a validation error of a host route')
  t.equal(invalid.json().handledBy, 'host')

  // The plugin's own routes keep their FastAPI-style errors.
  const pluginInvalid = await host.inject({ method: 'POST', url: '/auth/users/', payload: {} })
  t.equal(pluginInvalid.statusCode, 422, "the plugin's routes keep their own handler")
  t.ok(Array.isArray(pluginInvalid.json().detail), 'FastAPI validation body')
})

t.test('a Kysely instance owned by the host', async (t) => {
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) })
  t.teardown(async () => await db.destroy())

  const host = await buildHost(t, { database: db })
  const tables = (await db.introspection.getTables()).map((table) => table.name)
  t.ok(tables.includes('users'), `the users table is created in the host's db (${tables.join(', ')})`)

  t.equal((await register(host)).statusCode, 201)
  const rows = await db.selectFrom('users').select(['username']).execute()
  t.same(rows, [{ username: user.username }], "the user is stored in the host's db")

  await host.close()
  const after = await db.selectFrom('users').select(['username']).execute()
  t.same(after, [{ username: user.username }], 'the db is still usable after host.close()')
  await db.schema.createTable('host_things').addColumn('id', 'integer', (column) => column.primaryKey()).execute()
  await db.insertInto('host_things').values({ id: 1 }).execute()
  t.same(await db.selectFrom('host_things').selectAll().execute(), [{ id: 1 }], 'and writable')
})

t.test('two hosts with different secrets do not accept each other’s tokens', async (t) => {
  const first = await buildHost(t)
  const second = await buildHost(t)
  for (const host of [first, second]) t.equal((await register(host)).statusCode, 201)
  const firstToken = await loginAs(first)
  const secondToken = await loginAs(second)

  t.equal((await first.inject({ method: 'GET', url: '/api/private', headers: bearer(firstToken) })).statusCode, 200)
  t.equal((await second.inject({ method: 'GET', url: '/api/private', headers: bearer(secondToken) })).statusCode, 200)

  const crossed = await second.inject({ method: 'GET', url: '/api/private', headers: bearer(firstToken) })
  t.equal(crossed.statusCode, 401, "the second host refuses the first host's token")
  t.same(crossed.json(), { detail: 'Could not validate credentials' })
  const crossedBack = await first.inject({ method: 'GET', url: '/auth/users/me/', headers: bearer(secondToken) })
  t.equal(crossedBack.statusCode, 401, "the first host refuses the second host's token")
})

t.test('the decorators option renames or omits the decorators', async (t) => {
  const host = Fastify({ logger: false })
  t.teardown(async () => await host.close())
  await host.register(authApi, {
    prefix: '/auth',
    secret: testSecret(),
    database: 'sqlite::memory:',
    bcryptCost: 4,
    decorators: { authenticate: 'authApiAuthenticate', currentActiveUser: false }
  })
  t.equal(host.hasDecorator('authApiAuthenticate'), true, 'authApiAuthenticate')
  t.equal(host.hasDecorator('currentActiveUser'), false, 'no currentActiveUser')
  t.equal(host.hasDecorator('authenticate'), false, 'no authenticate under its default name')
  t.equal(host.hasDecorator('auth'), true, 'the auth namespace is always there')

  const renamed = (host as unknown as Record<string, onRequestAsyncHookHandler>).authApiAuthenticate
  t.type(renamed, 'function')
  host.get('/api/renamed', { onRequest: renamed }, async (request) => ({ hello: request.user.username }))
  await host.ready()

  const anonymous = await host.inject({ method: 'GET', url: '/api/renamed' })
  t.equal(anonymous.statusCode, 401, 'the renamed hook guards a route')
  t.equal((await register(host)).statusCode, 201)
  const ok = await host.inject({ method: 'GET', url: '/api/renamed', headers: bearer(await loginAs(host)) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { hello: user.username })
  const doc = (await host.inject({ method: 'GET', url: '/auth/openapi.json' })).json()
  t.ok(doc.paths?.['/api/renamed']?.get?.security?.length, 'a route guarded by the renamed hook is documented as protected')
})

t.test('the plugin refuses bad options', async (t) => {
  async function attempt (opts: Json) {
    const host = Fastify({ logger: false })
    t.teardown(async () => await host.close().catch(() => {}))
    // `await register` loads the plugin: a bad option must make it reject, before any ready().
    await host.register(authApi, { prefix: '/auth', database: 'sqlite::memory:', bcryptCost: 4, ...opts } as unknown as TokenAuthOptions)
  }

  await t.rejects(attempt({}), /secret/i, 'no secret')
  await t.rejects(attempt({ secret: undefined }), /secret/i, 'secret undefined')
  await t.rejects(attempt({ secret: '' }), /secret/i, 'empty secret')
  const short = randomBytes(31).toString('hex').slice(0, 31)
  t.equal(Buffer.byteLength(short), 31)
  await t.rejects(attempt({ secret: short }), /secret.*32 bytes/i, 'a 31-byte secret')
  // The limit is in bytes: 16 two-byte characters are 32 bytes.
  const chars = randomBytes(16).toString('hex').slice(0, 16).replace(/./g, (c) => String.fromCharCode(0xe0 + parseInt(c, 16)))
  t.equal(Buffer.byteLength(chars), 32)
  await t.resolves(attempt({ secret: chars }), 'a 32-byte secret of 16 characters is enough')
  await t.resolves(attempt({ secret: randomBytes(16).toString('hex') }), 'a 32-byte secret')
  await t.rejects(attempt({ secret: randomBytes(32) }), /secret/i, 'a Buffer, not a string')

  for (const bcryptCost of [3, 16, 0, -1, 4.5, Number.NaN]) {
    await t.rejects(attempt({ secret: testSecret(), bcryptCost }), /bcryptCost.*4.*15/, `bcryptCost ${bcryptCost}`)
  }
  for (const bcryptCost of [4, 15]) {
    await t.resolves(attempt({ secret: testSecret(), bcryptCost }), `bcryptCost ${bcryptCost}`)
  }

  // The message says what is wrong and what is needed.
  const error = await attempt({ secret: short }).then(() => undefined, (error: Error) => error)
  t.match(error?.message, /secret/i)
  t.match(error?.message, /at least 32 bytes/)
  const costError = await attempt({ secret: testSecret(), bcryptCost: 16 }).then(() => undefined, (error: Error) => error)
  t.match(costError?.message, /bcryptCost must be a whole number from 4 to 15/)
})

t.test('in a host whose router keeps trailing slashes apart, every plugin route still answers both ways', async (t) => {
  const host = await buildHost(t)
  t.equal((await register(host, { username: 'slashes', password: 'slashes-password' })).statusCode, 201)
  t.equal((await host.inject({ method: 'POST', url: '/auth/users', payload: { username: 'noslash', password: 'noslash-password' } })).statusCode, 201)
  const login = await token(host, { username: 'slashes', password: 'slashes-password' }, '/auth/token/')
  t.equal(login.statusCode, 200)
  for (const url of ['/auth/users/me/', '/auth/users/me']) {
    const res = await host.inject({ url, headers: { authorization: `Bearer ${login.json().access_token as string}` } })
    t.equal(res.statusCode, 200, url)
  }
})
