import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import type { Engine } from '../../src/db/dialect.js'
import tokenAuth, { type TokenAuthOptions } from '../../src/index.js'
import { buildApp, forEachEngine, freshDatabaseUrl, testSecret, type TestContext } from '../helper.js'

// GET <prefix>/.well-known/oauth-authorization-server (RFC 8414) on both engines: served only
// when publicUrl makes the issuer and every endpoint an absolute URL, the document itself, its
// caching, the copy at the host's root that metadataAtRoot adds (RFC 8414 §3.1), and the
// start-up refusals of metadataAtRoot.

type Json = Record<string, unknown>
const PUBLIC = 'https://api.example.com'
const PATH = '/.well-known/oauth-authorization-server'

/** The plugin alone on a bare app, its info log kept. */
async function pluginHost (t: TestContext, engine: Engine, opts: Partial<TokenAuthOptions> = {}, setUp?: (app: FastifyInstance) => Promise<void>) {
  const lines: Json[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  const app = Fastify({ logger: { level: 'debug', stream } })
  t.teardown(async () => await app.close())
  await setUp?.(app)
  await app.register(tokenAuth, { secret: testSecret(), database: await freshDatabaseUrl(t, engine), bcryptCost: 4, docs: false, throttle: false, ...opts })
  await app.ready()
  return { app, lines }
}

forEachEngine(t, async (t, engine) => {
  t.test('the service with PUBLIC_URL: the document at the root, every URL absolute, cacheable', async (t) => {
    const app = await buildApp(t, { publicUrl: PUBLIC }, engine)
    const res = await app.inject({ url: PATH })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'public, max-age=3600')
    t.match(res.headers['content-type'], /^application\/json/)
    const doc = res.json() as Json
    t.same(doc, {
      issuer: PUBLIC,
      token_endpoint: `${PUBLIC}/token`,
      jwks_uri: `${PUBLIC}/.well-known/jwks.json`,
      revocation_endpoint: `${PUBLIC}/revoke`,
      introspection_endpoint: `${PUBLIC}/introspect`,
      grant_types_supported: ['password', 'refresh_token', 'urn:fastify-token-auth:grant-type:mfa'],
      scopes_supported: doc.scopes_supported,
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
      response_types_supported: []
    })
    t.same([...doc.scopes_supported as string[]].sort(), ['admin', 'items', 'me'], 'every scope of the instance, the service\'s items too')
    t.equal(doc.issuer, app.tokenAuth.settings.issuer, 'the issuer is the tokens\' iss')
    t.equal((await app.inject({ url: `${PATH}/` })).statusCode, 200, 'with a trailing slash too')
  })

  t.test('without publicUrl: no document, and the start-up log says how to get one', async (t) => {
    const { app, lines } = await pluginHost(t, engine, { prefix: '/auth' })
    t.equal((await app.inject({ url: `/auth${PATH}` })).statusCode, 404)
    t.ok(lines.some((line) => line.level === 20 && /no discovery document .*set publicUrl/.test(String(line.msg))), 'a debug line naming publicUrl')
    const withIssuer = await pluginHost(t, engine, { issuer: 'https://id.example.com' })
    t.equal((await withIssuer.app.inject({ url: PATH })).statusCode, 404, 'a URL issuer alone is not enough: the endpoints would not be absolute')
    const named = await pluginHost(t, engine, { publicUrl: PUBLIC, issuer: 'my-service' })
    t.equal((await named.app.inject({ url: PATH })).statusCode, 404, 'nor is a publicUrl with an issuer that is no URL')
  })

  t.test('a prefixed plugin: the document under the prefix, and with metadataAtRoot at the root as RFC 8414 §3.1 says', async (t) => {
    const scopes = { orders: 'Read and place orders' }
    const { app } = await pluginHost(t, engine, { prefix: '/auth', publicUrl: `${PUBLIC}/api`, scopes, metadataAtRoot: true })
    const under = await app.inject({ url: `/auth${PATH}` })
    t.equal(under.statusCode, 200)
    const doc = under.json() as Json
    t.match(doc, {
      issuer: `${PUBLIC}/api/auth`,
      token_endpoint: `${PUBLIC}/api/auth/token`,
      jwks_uri: `${PUBLIC}/api/auth/.well-known/jwks.json`,
      revocation_endpoint: `${PUBLIC}/api/auth/revoke`,
      introspection_endpoint: `${PUBLIC}/api/auth/introspect`
    })
    t.same([...doc.scopes_supported as string[]].sort(), ['admin', 'me', 'orders'])
    const atRoot = await app.inject({ url: `${PATH}/auth` })
    t.equal(atRoot.statusCode, 200)
    t.equal(atRoot.headers['cache-control'], 'public, max-age=3600')
    t.same(atRoot.json(), doc, 'the same document')

    const { app: plain } = await pluginHost(t, engine, { prefix: '/auth', publicUrl: PUBLIC })
    t.equal((await plain.inject({ url: `/auth${PATH}` })).statusCode, 200)
    t.equal((await plain.inject({ url: `${PATH}/auth` })).statusCode, 404, 'not at the root unless asked for')
  })

  t.test('a custom URL issuer is the document\'s issuer; the endpoints stay under publicUrl', async (t) => {
    const { app } = await pluginHost(t, engine, { publicUrl: PUBLIC, issuer: 'https://id.example.com/tenant' })
    t.match((await app.inject({ url: PATH })).json(), { issuer: 'https://id.example.com/tenant', token_endpoint: `${PUBLIC}/token` })
  })

  t.test('metadataAtRoot refuses to start without a URL issuer, on a taken route, or under a host prefix', async (t) => {
    await t.rejects(pluginHost(t, engine, { prefix: '/auth', metadataAtRoot: true }),
      { code: 'FST_TOKEN_AUTH_OPTIONS', message: /^fastify-token-auth: metadataAtRoot needs a discovery document, so an http\(s\) issuer: set publicUrl/ })
    await t.rejects(pluginHost(t, engine, { prefix: '/auth', publicUrl: PUBLIC, metadataAtRoot: true }, async (app) => {
      app.get(`${PATH}/auth`, async () => ({ mine: true }))
    }), { code: 'FST_TOKEN_AUTH_OPTIONS', message: `fastify-token-auth: metadataAtRoot: the app already has a route GET ${PATH}/auth` })
    const app = Fastify()
    t.teardown(async () => await app.close())
    const database = await freshDatabaseUrl(t, engine)
    await t.rejects(async () => {
      await app.register(async (api) => {
        await api.register(tokenAuth, { secret: testSecret(), database, docs: false, throttle: false, prefix: '/auth', publicUrl: PUBLIC, metadataAtRoot: true })
      }, { prefix: '/v1' })
      await app.ready()
    }, { code: 'FST_TOKEN_AUTH_OPTIONS', message: /metadataAtRoot serves a document on the app's root, but the plugin is registered under the prefix '\/v1'/ })
    const { app: bare } = await pluginHost(t, engine, { publicUrl: PUBLIC, metadataAtRoot: true })
    t.equal((await bare.inject({ url: PATH })).statusCode, 200, 'without a prefix there is one document, at the root already')
  })
})
