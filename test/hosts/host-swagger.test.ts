import { Writable } from 'node:stream'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { createConfig, lintFromString } from '@redocly/openapi-core'
import type { onRequestAsyncHookHandler } from 'fastify'
import t from 'tap'
import { securitySchemeDescription } from '../../src/openapi/openapi-text.js'
import { docBlock } from '../support/doc-blocks.js'
import tokenAuth, { currentActiveUser, userOf } from '../../src/index.js'
import { get, HOST_INFO, hostUser, newHost, operations, pluginOperations, pluginOptions, PLUGIN_SCOPES, signUp, swaggerHost, unresolvedRefs, type Json } from './support.js'

/* A host with its own @fastify/swagger and Swagger UI: the plugin's operations join its one document. */

const scheme = (tokenUrl: string) => ({ type: 'oauth2', description: securitySchemeDescription(tokenUrl), flows: { password: { tokenUrl, scopes: PLUGIN_SCOPES } } })
const SCHEME = scheme('/auth/token')
const LOCK = [{ OAuth2PasswordBearer: [] }]
// The plugin's own-account operations need `me`.
const ME_LOCK = [{ OAuth2PasswordBearer: ['me'] }]

/** The problems a real OpenAPI validator (Redocly's, as ReDoc uses) finds in the structure and the $refs. */
async function structuralProblems (doc: Json): Promise<string[]> {
  const config = await createConfig({ rules: { struct: 'error', 'no-unresolved-refs': 'error' } })
  const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: '/openapi.json', config })
  return problems.map((problem) => `${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer ?? '?'}`)
}

/** The schema a `$ref` (or an inline schema) stands for in the document. */
function deref (doc: Json, schema: Json | undefined): Json | undefined {
  const ref: unknown = schema?.$ref
  if (typeof ref !== 'string') return schema
  return ref.slice(2).split('/').reduce<Json | undefined>((node, part) => node?.[part], doc)
}

for (const version of ['3.0.3', '3.1.0']) {
  t.test(`a host with @fastify/swagger (OpenAPI ${version}) and Swagger UI, registered before the plugin`, async (t) => {
    const host = await swaggerHost(t, { openapi: version })
    host.get('/api/pre-handled', { preHandler: host.authenticate }, async (request) => ({ hello: userOf(request).username }))
    host.get('/api/with-tokenauth', { preValidation: host.tokenAuth.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
    const hostHook: onRequestAsyncHookHandler = async () => {}
    host.get('/api/hook-list', { onRequest: [hostHook, host.currentActiveUser] }, async (request) => ({ hello: userOf(request).username }))
    await host.register(async (child) => {
      child.get('/nested', { onRequest: host.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
    }, { prefix: '/api/child' })
    await host.ready()

    t.equal(host.tokenAuth.settings.docs, 'host', "settings.docs says the operations are in the host's document")
    const doc: Json = host.swagger()
    const served = await get(host, '/docs/json')
    t.equal(served.statusCode, 200, 'GET /docs/json')
    t.same(served.json(), doc, 'GET /docs/json is host.swagger(): one document')

    t.equal(doc.openapi, version)
    t.same(doc.info, HOST_INFO, "the host's info, untouched")
    t.same(operations(doc), [
      'GET /api/child/nested', 'GET /api/hook-list', 'GET /api/open', 'GET /api/pre-handled', 'GET /api/private', 'GET /api/public', 'GET /api/with-tokenauth',
      ...pluginOperations('/auth')
    ].sort(), "the host's operations and the plugin's, without the trailing-slash twins")

    t.test("the plugin's operations", async (t) => {
      const token = doc.paths['/auth/token'].post
      const form = token.requestBody?.content?.['application/x-www-form-urlencoded']?.schema
      t.ok(form, 'POST /auth/token takes a form body')
      t.same(Object.keys(token.requestBody.content), ['application/x-www-form-urlencoded'], 'and only a form body')
      // Which fields a grant needs is the route's to say (RFC 6749 error codes), so none is required by the schema.
      t.match(deref(doc, form), { type: 'object', properties: { username: { type: 'string' }, password: { type: 'string' }, grant_type: { type: 'string' }, refresh_token: { type: 'string' } } })
      t.match(deref(doc, token.responses['200'].content['application/json'].schema), { properties: { access_token: { type: 'string' }, token_type: { enum: ['bearer'] } } })
      t.same(token.security, [], 'the token operation needs no token, and says so')

      const register = doc.paths['/auth/users/'].post
      t.match(deref(doc, register.requestBody.content['application/json'].schema), { required: ['username', 'password'] })
      t.match(deref(doc, register.responses['201'].content['application/json'].schema), { title: 'TokenAuth.User', properties: { username: {}, email: {}, full_name: {}, disabled: {} } })
      t.same(register.security, [], 'registration needs no token, and says so')

      t.same(doc.paths['/auth/users/me/'].get.security, ME_LOCK, 'GET /auth/users/me/ requires the scheme and me')
    })

    t.test('the security scheme and the locks', async (t) => {
      t.same(doc.components.securitySchemes, { OAuth2PasswordBearer: SCHEME }, 'one oauth2 password-flow scheme, tokenUrl /auth/token')
      for (const path of ['/api/private', '/api/pre-handled', '/api/with-tokenauth', '/api/hook-list', '/api/child/nested']) {
        t.same(doc.paths[path].get.security, LOCK, `${path} (guarded) requires the scheme`)
      }
      for (const path of ['/api/public', '/api/open']) {
        t.equal(doc.paths[path].get.security, undefined, `${path} (open) has no security`)
      }
      // /api/private documents its own 200: the guard's answers join it. The others document
      // nothing, and keep @fastify/swagger's default response alone.
      const privateResponses: Json = doc.paths['/api/private'].get.responses
      t.same(Object.keys(privateResponses).sort(), ['200', '400', '401', '503'], '/api/private documents what its guard answers')
      t.match(privateResponses['401'], { description: /^The bearer token is missing/, content: { 'application/json': { examples: { notAuthenticated: { value: { detail: 'Not authenticated' } } } } } },
        "401 with the guard's bodies")
      t.match(privateResponses['400'].content['application/json'].examples, { inactiveUser: { value: { detail: 'Inactive user' } } }, '400 Inactive user')
      for (const path of ['/api/pre-handled', '/api/with-tokenauth', '/api/hook-list', '/api/child/nested', '/api/public', '/api/open']) {
        t.same(Object.keys(doc.paths[path].get.responses), ['200'], `${path} (no responses of its own) keeps the default one`)
      }
      for (const [path, item] of Object.entries<Json>(doc.paths)) {
        for (const operation of Object.values<Json>(item)) {
          for (const requirement of operation.security ?? []) {
            for (const name of Object.keys(requirement)) t.ok(name in doc.components.securitySchemes, `${path}: ${name} is a defined scheme`)
          }
        }
      }
    })

    t.test('the document is sound', async (t) => {
      const { refs, unresolved } = unresolvedRefs(doc)
      t.ok(refs.length >= 8, `it uses $refs (${refs.length})`)
      t.same(unresolved, [], 'every $ref resolves')
      t.same(await structuralProblems(doc), [], 'a validator finds nothing wrong with its structure')
    })

    t.test('the plugin serves no document or pages of its own', async (t) => {
      for (const url of ['/auth/openapi.json', '/auth/docs', '/auth/docs/json', '/auth/redoc']) {
        t.equal((await get(host, url)).statusCode, 404, url)
      }
      t.equal((await get(host, '/docs')).statusCode, 200, "the host's Swagger UI")
    })

    t.test('the guarded routes work as documented', async (t) => {
      const token = await signUp(host)
      for (const path of ['/api/private', '/api/pre-handled', '/api/with-tokenauth', '/api/hook-list', '/api/child/nested']) {
        t.equal((await get(host, path)).statusCode, 401, `${path} without a token`)
        t.same((await get(host, path, token)).json(), { hello: hostUser.username }, `${path} with one`)
      }
    })
  })
}

t.test('a renamed guard decorator gets the lock too', async (t) => {
  const host = newHost(t)
  await host.register(fastifySwagger, { openapi: { info: HOST_INFO } })
  await host.register(tokenAuth, pluginOptions({ decorators: { authenticate: 'tokenAuthenticate', currentActiveUser: false } }))
  const renamed = (host as unknown as Record<string, onRequestAsyncHookHandler>).tokenAuthenticate
  host.get('/api/renamed', { onRequest: renamed }, async (request) => ({ hello: userOf(request).username }))
  await host.ready()
  t.same(host.swagger().paths?.['/api/renamed']?.get?.security, LOCK)
})

t.test('routes sharing one schema object: only the guarded one gets the lock', async (t) => {
  const host = newHost(t)
  await host.register(fastifySwagger, { openapi: { info: HOST_INFO } })
  await host.register(tokenAuth, pluginOptions())
  const shared = { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } }
  host.get('/api/open-before', { schema: shared }, async () => ({ ok: true }))
  host.get('/api/guarded', { schema: shared, onRequest: host.authenticate }, async () => ({ ok: true }))
  host.get('/api/open-after', { schema: shared }, async () => ({ ok: true }))
  await host.ready()
  const paths = host.swagger().paths ?? {}
  t.same(paths['/api/guarded']?.get?.security, LOCK)
  t.equal(paths['/api/open-before']?.get?.security, undefined, 'the route before it has no lock')
  t.equal(paths['/api/open-after']?.get?.security, undefined, 'nor the route after it')
  t.equal((shared as { security?: unknown }).security, undefined, "the host's schema object is left as it was")
})

/** The message a registration is refused with, or 'resolved'. */
async function refusal (register: () => Promise<unknown>): Promise<string> {
  try {
    await register()
    return 'resolved'
  } catch (error) {
    return (error as Error).message
  }
}

/** Every operationId of the document, in path order. */
const operationIds = (doc: Json): string[] => Object.values<Json>(doc.paths ?? {}).flatMap((item) => Object.values<Json>(item))
  .map((operation) => operation.operationId).filter((id): id is string => typeof id === 'string')

t.test('two instances in one document, each with a security scheme and operationIds of its own', async (t) => {
  const host = newHost(t)
  await host.register(fastifySwagger, { openapi: { info: HOST_INFO } })
  const instances = [['/staff', 'StaffPassword', undefined], ['/customers', 'CustomerPassword', 'customer']] as const
  for (const [prefix, securityScheme, operationIdPrefix] of instances) {
    await host.register(async (context) => {
      await context.register(tokenAuth, pluginOptions({ prefix, docs: { securityScheme, operationIdPrefix } }))
      context.get(`${prefix}-area`, { onRequest: context.currentActiveUser }, async () => ({ ok: true }))
      t.equal(context.tokenAuth.settings.securityScheme, securityScheme, `${prefix}: settings name the scheme`)
    })
  }
  await host.ready()
  const doc = host.swagger() as Json
  t.same(doc.components?.securitySchemes, {
    StaffPassword: scheme('/staff/token'),
    CustomerPassword: scheme('/customers/token')
  }, 'each scheme points at its own token route')
  t.same(doc.paths?.['/staff-area']?.get?.security, [{ StaffPassword: [] }], 'a staff route requires the staff scheme')
  t.same(doc.paths?.['/customers-area']?.get?.security, [{ CustomerPassword: [] }], 'a customer route the customer scheme')
  t.same(doc.paths?.['/customers/users/me/']?.get?.security, [{ CustomerPassword: ['me'] }], "and each instance's own operations likewise, with me")
  const ids = operationIds(doc)
  t.equal(ids.length, 2 * pluginOperations('').length, 'every operation of both instances has an operationId')
  t.equal(new Set(ids).size, ids.length, 'no operationId is used twice')
  t.equal(doc.paths?.['/staff/token']?.post?.operationId, 'token', 'the instance without a prefix keeps the plain ids')
  t.equal(doc.paths?.['/customers/token']?.post?.operationId, 'customerToken', 'the other one prefixes them, in camelCase')
  t.equal(doc.paths?.['/customers/users/me/']?.get?.operationId, 'customerReadCurrentUser')
  t.same(await structuralProblems(doc), [], 'a validator finds nothing wrong with its structure')
  t.match(await refusal(async () => await newHost(t).register(tokenAuth, pluginOptions({ docs: { securityScheme: 'has space' } }))),
    /docs\.securityScheme must be a name/, 'a name that cannot be an OpenAPI component key is refused')
})

t.test("a second instance in one document that would overwrite or duplicate the first's definitions is refused", async (t) => {
  const cases = [
    ['no options at all', {}, /^fastify-token-auth: another instance already has the security scheme 'OAuth2PasswordBearer' \(set docs\.securityScheme to another name\) and the operationIds 'token', 'revokeToken', 'register' … \(set docs\.operationIdPrefix to one of its own\) in this app's OpenAPI document$/],
    ['the same operationIds', { securityScheme: 'Other' }, /already has the operationIds 'token', 'revokeToken', 'register' … \(set docs\.operationIdPrefix/],
    ['the same non-empty prefix', { securityScheme: 'Other', operationIdPrefix: 'staff' }, /the operationIds 'staffToken'/],
    ['a prefix that makes one of the other\'s ids', { securityScheme: 'Other', operationIdPrefix: 'revoke', first: '' }, /already has the operationIds 'revokeToken' \(set/]
  ] as const
  for (const [what, second, message] of cases) {
    const host = newHost(t)
    await host.register(fastifySwagger, { openapi: { info: HOST_INFO } })
    const { first, ...docs } = { first: undefined, ...second }
    const firstIds = first ?? ('operationIdPrefix' in docs ? docs.operationIdPrefix : undefined)
    await host.register(async (context) => { await context.register(tokenAuth, pluginOptions({ prefix: '/one', docs: { operationIdPrefix: firstIds } })) })
    const failed = await refusal(async () => {
      await host.register(async (context) => { await context.register(tokenAuth, pluginOptions({ prefix: '/two', docs })) })
      await host.ready()
    })
    t.match(failed, message, `${what}: refused at start, saying which option to set`)
  }
  const apart = newHost(t)
  for (const prefix of ['/one', '/two']) {
    await apart.register(async (context) => {
      await context.register(fastifySwagger, { openapi: { info: HOST_INFO } })
      await context.register(tokenAuth, pluginOptions({ prefix }))
    })
  }
  t.equal(await refusal(async () => await apart.ready()), 'resolved', 'two instances in two documents (two @fastify/swagger) need neither option')
  t.match(await refusal(async () => await newHost(t).register(tokenAuth, pluginOptions({ docs: { operationIdPrefix: 'staff-' } }))),
    /docs\.operationIdPrefix must be empty, or a letter followed by letters, digits and underscores/, 'a prefix that is not an identifier is refused')
})

t.test('a host with Swagger 2 (not OpenAPI 3)', async (t) => {
  const host = newHost(t)
  await host.register(fastifySwagger, { swagger: { info: HOST_INFO } })
  await host.register(tokenAuth, pluginOptions())
  host.get('/api/private', { onRequest: host.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
  await host.ready()
  const doc: Json = host.swagger()
  t.same(doc.securityDefinitions, { OAuth2PasswordBearer: { type: 'oauth2', description: SCHEME.description, flow: 'password', tokenUrl: '/auth/token', scopes: PLUGIN_SCOPES } })
  t.same(doc.paths['/api/private'].get.security, LOCK)
  t.same(unresolvedRefs(doc).unresolved, [], 'every $ref resolves')
  t.same(await structuralProblems(doc), [], 'a validator finds nothing wrong with its structure', {
    todo: "the plugin's schemas use examples, const, anyOf and type arrays, which Swagger 2 has not got (and @fastify/swagger copies as they are)"
  })
})

t.test('a host with @fastify/swagger and the plugin with docs: false', async (t) => {
  const host = await swaggerHost(t, { plugin: { docs: false } })
  await host.ready()
  t.equal(host.tokenAuth.settings.docs, 'off')
  const served = await get(host, '/docs/json')
  t.equal(served.statusCode, 200, 'GET /docs/json is 200, not 500')
  const doc = served.json()
  t.same(operations(doc), ['GET /api/open', 'GET /api/private', 'GET /api/public'], 'no plugin operation in it')
  t.equal(doc.components?.securitySchemes, undefined, 'no security scheme')
  t.equal(doc.paths['/api/private'].get.security, undefined, 'no security on the guarded host route')
  t.same(unresolvedRefs(doc).unresolved, [], 'every $ref resolves')
  t.same(await structuralProblems(doc), [], 'a validator finds nothing wrong with its structure')
  t.equal((await get(host, '/docs')).statusCode, 200, 'Swagger UI answers')
  for (const url of ['/auth/openapi.json', '/auth/docs']) t.equal((await get(host, url)).statusCode, 404, `no ${url}`)
  const token = await signUp(host)
  t.equal((await get(host, '/api/private', token)).statusCode, 200, 'the plugin works all the same')
})

t.test('a host that registers its own @fastify/swagger after the plugin', async (t) => {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  const host = newHost(t, { logger: { level: 'info', stream } })
  await host.register(tokenAuth, pluginOptions())
  await host.register(fastifySwagger, { openapi: { info: HOST_INFO } })
  await host.register(fastifySwaggerUi, { routePrefix: '/docs' })
  host.get('/api/private', { onRequest: host.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
  await t.resolves(async () => { await host.ready() }, "it starts: no \"decorator 'swagger' has already been added\"")
  t.equal(host.tokenAuth.settings.docs, 'own', 'the plugin found no host document when it registered')
  const warnings = lines.filter((line) => line.level === 40).map((line) => line.msg)
  t.equal(warnings.length, 1, 'one warning at start')
  t.match(warnings[0], /@fastify\/swagger was registered after the plugin.*lacks the plugin's routes.*\/auth\/openapi\.json.*Register @fastify\/swagger before fastify-token-auth, or pass docs: false/,
    'it says what is lost, where the second document is, and the fix')

  const own = await get(host, '/auth/openapi.json')
  t.equal(own.statusCode, 200, "the plugin's own document still answers")
  t.same(operations(own.json()), pluginOperations('/auth'))
  t.same(own.json().components.securitySchemes, { OAuth2PasswordBearer: SCHEME })
  t.equal((await get(host, '/auth/docs')).statusCode, 200, "and the plugin's Swagger UI")

  const hostDoc = await get(host, '/docs/json')
  t.equal(hostDoc.statusCode, 200, "the host's document answers")
  t.same(operations(hostDoc.json()), ['GET /api/private'], "it has the host's routes")
  t.same(hostDoc.json().info, HOST_INFO)
  const token = await signUp(host)
  t.equal((await get(host, '/api/private', token)).statusCode, 200)
})

t.test('no such warning when @fastify/swagger comes first, or not at all', async (t) => {
  for (const swaggerFirst of [true, false]) {
    const lines: Array<{ level: number }> = []
    const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
    const host = newHost(t, { logger: { level: 'info', stream } })
    if (swaggerFirst) await host.register(fastifySwagger, { openapi: { info: HOST_INFO } })
    await host.register(tokenAuth, pluginOptions())
    await host.ready()
    t.same(lines.filter((line) => line.level >= 40), [], swaggerFirst ? 'swagger first: nothing at warn' : 'no swagger: nothing at warn')
  }
})

t.test("a host's document keeps its own servers, info and tags; publicUrl makes the token URL absolute", async (t) => {
  const host = newHost(t)
  const servers = [{ url: 'https://shop.acme.test/api', description: 'Production' }, { url: 'http://127.0.0.1:3000' }]
  const tags = [{ name: 'orders', description: 'The shop\'s orders' }, { name: 'auth', description: 'The host\'s own words on logging in' }]
  await host.register(fastifySwagger, { openapi: { openapi: '3.1.0', info: HOST_INFO, servers, tags, externalDocs: { url: 'https://shop.acme.test/docs' } } })
  await host.register(tokenAuth, pluginOptions({ publicUrl: 'https://shop.acme.test/api/' }))
  host.get('/orders', { schema: { tags: ['orders'] }, onRequest: host.currentActiveUser }, async () => [])
  await host.ready()
  const doc = host.swagger() as Json

  t.same(doc.servers, servers, "the host's servers, untouched")
  t.same(doc.info, HOST_INFO, "the host's info, untouched")
  t.same(doc.externalDocs, { url: 'https://shop.acme.test/docs' })
  t.same(doc.tags.slice(0, 2), tags, "the host's tags first, its description of auth kept")
  t.same(doc.tags.slice(2).map((tag: Json) => tag.name), ['users', 'mfa', 'sessions', 'admin'], "the plugin's other tags added after them")
  t.equal(doc.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl, 'https://shop.acme.test/api/auth/token',
    'the token URL is absolute, under the prefix')
  t.ok(doc.paths['/auth/token'], 'the paths are still the routes')
  t.same(doc.paths['/auth/token'].post.security, [], 'public operations say so')
  t.same(doc.paths['/orders'].get.security, LOCK)

  await t.rejects(async () => {
    const bad = newHost(t)
    await bad.register(tokenAuth, pluginOptions({ publicUrl: 'shop.acme.test' }))
    await bad.ready()
  }, /publicUrl must be an absolute http:\/\/ or https:\/\/ URL/, 'a public URL that is not one is refused')
})

t.test("docs/embedding.md's refResolver names the plugin's schemas by their $id in the host's document", async (t) => {
  const { code } = docBlock('docs/embedding.md', 'OpenAPI')
  const resolver = /buildLocalReference: (\([^)]*\) => .*)$/m.exec(code)?.[1]
  t.ok(resolver, 'the guide gives a buildLocalReference')
  // eslint-disable-next-line no-new-func -- the guide's one-line arrow function, as its reader would paste it
  const buildLocalReference = new Function(`return ${resolver ?? 'undefined'}`)() as (json: { $id?: unknown }, base: unknown, fragment: unknown, i: number) => string
  const host = newHost(t)
  await host.register(fastifySwagger, { openapi: { info: HOST_INFO }, refResolver: { buildLocalReference } })
  await host.register(tokenAuth, pluginOptions())
  await host.ready()
  const schemas = Object.keys((host.swagger() as { components: { schemas: Record<string, unknown> } }).components.schemas)
  t.ok(schemas.includes('TokenAuth.User'), 'TokenAuth.User')
  t.same(schemas.filter((name) => name.startsWith('def-')), [], 'no def-N names for schemas that have an $id')
})

t.test('a host with @fastify/swagger and a serializer compiler of its own: its guarded routes get the lock, and no response it cannot serialize', async (t) => {
  const host = newHost(t)
  await host.register(fastifySwagger, { openapi: { openapi: '3.0.3', info: HOST_INFO } })
  // As a Zod type provider's would: it serializes only the schemas it knows.
  host.setSerializerCompiler(({ schema }) => {
    const known = (schema as { hostSchema?: string }).hostSchema
    return (data) => {
      if (known === undefined) throw new Error('host serializer: not a host schema')
      return JSON.stringify({ [known]: data })
    }
  })
  await host.register(tokenAuth, pluginOptions())
  host.get('/api/private', { onRequest: currentActiveUser, schema: { response: { 200: { hostSchema: 'hello' } } } }, async (request) => ({ name: userOf(request).username }))
  await host.ready()
  const doc: Json = host.swagger()
  t.same(doc.paths['/api/private'].get.security, LOCK, 'the lock')
  t.same(Object.keys(doc.paths['/api/private'].get.responses), ['200'], 'its own responses only')
  const token = await signUp(host)
  t.same((await get(host, '/api/private', token)).json(), { hello: { name: hostUser.username } }, "its 200 serialized by the host's compiler")
  const refused = await get(host, '/api/private')
  t.same([refused.statusCode, refused.json()], [401, { detail: 'Not authenticated' }], 'and the guard answers as ever')
})
