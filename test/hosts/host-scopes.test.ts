import fastifySwagger from '@fastify/swagger'
import t from 'tap'
import tokenAuth, { requireScopes, userOf } from '../../src/index.js'
import { get, hostUser, HOST_INFO, loginAs, newHost, pluginOptions, registerUser } from './support.js'

/* A host's own scopes: defined through the plugin's option, required by the host's routes with requireScopes. */

const HOST_SCOPES = { 'orders:read': 'Read your orders', 'orders:write': 'Place and cancel orders' }

async function ordersHost (t: Parameters<typeof newHost>[0]) {
  const host = newHost(t)
  await host.register(fastifySwagger, { openapi: { openapi: '3.0.3', info: HOST_INFO } })
  // Registered before the plugin: the exported guard finds it at request time.
  host.get('/orders', { onRequest: requireScopes('orders:read') }, async (request) => ({ owner: userOf(request).username }))
  await host.register(tokenAuth, pluginOptions({ scopes: HOST_SCOPES }))
  host.post('/orders', {
    onRequest: requireScopes('orders:read', 'orders:write'),
    schema: { response: { 200: { type: 'object', properties: { placedBy: { type: 'string' } } } } }
  }, async (request) => ({ placedBy: userOf(request).username }))
  host.get('/scoped-by-instance', { onRequest: host.tokenAuth.requireScopes('orders:write') }, async () => ({ ok: true }))
  await host.ready()
  await registerUser(host)
  return host
}

t.test('a host route guarded by a host-defined scope', async (t) => {
  const host = await ordersHost(t)
  const everything = await loginAs(host)
  const readOnly = await loginAs(host, { ...hostUser, scope: 'orders:read' })
  const meOnly = await loginAs(host, { ...hostUser, scope: 'me' })

  t.same((await get(host, '/orders', everything)).json(), { owner: hostUser.username }, 'the default grant holds the host scopes')
  t.equal((await get(host, '/orders', readOnly)).statusCode, 200, 'orders:read reads')
  const refused = await get(host, '/orders', meOnly)
  t.same([refused.statusCode, refused.json(), refused.headers['www-authenticate']],
    [403, { detail: 'Not enough permissions' }, 'Bearer error="insufficient_scope", scope="orders:read"'], 'me alone may not read orders')
  const place = await host.inject({ method: 'POST', url: '/orders', headers: { authorization: `Bearer ${readOnly}` } })
  t.same([place.statusCode, place.headers['www-authenticate']], [403, 'Bearer error="insufficient_scope", scope="orders:read orders:write"'],
    'a route needing two scopes names both')
  t.equal((await host.inject({ method: 'POST', url: '/orders', headers: { authorization: `Bearer ${everything}` } })).statusCode, 200)
  t.equal((await get(host, '/scoped-by-instance', readOnly)).statusCode, 403, "the instance's requireScopes the same")
  t.equal((await get(host, '/orders')).statusCode, 401, 'no token: 401 first')
})

t.test("the host's document: its scopes in the Authorize dialog, each operation's needs and its 403", async (t) => {
  const host = await ordersHost(t)
  const doc = host.swagger() as Record<string, any>
  t.same(doc.components.securitySchemes.OAuth2PasswordBearer.flows.password.scopes,
    { me: 'Read and change your own account and sessions', ...HOST_SCOPES, admin: 'Manage every account and session (admins only)' }, 'every scope, with its description')
  t.same(doc.paths['/orders'].post.security, [{ OAuth2PasswordBearer: ['orders:read', 'orders:write'] }], 'POST /orders names its scopes')
  t.same(Object.keys(doc.paths['/orders'].post.responses).sort(), ['200', '400', '401', '403', '503'], 'and what its guard answers, 403 included')
  t.same(doc.paths['/orders'].get.security, undefined, 'a route registered before the plugin is beyond its reach: no lock')
})

t.test('a scope no instance defines', async (t) => {
  const after = newHost(t)
  await after.register(tokenAuth, pluginOptions())
  t.throws(() => after.get('/x', { onRequest: requireScopes('orders') }, async () => ({})), { code: 'FST_TOKEN_AUTH_UNDEFINED_SCOPE', message: /'orders'.*scopes option/ },
    'a route registered after the plugin: start-up fails, naming it')
  t.throws(() => after.tokenAuth.requireScopes('orders'), { code: 'FST_TOKEN_AUTH_UNDEFINED_SCOPE' }, "the instance's requireScopes at once")

  const before = newHost(t)
  before.get('/x', { onRequest: requireScopes('orders') }, async () => ({}))
  await before.register(tokenAuth, pluginOptions())
  await before.ready()
  await registerUser(before)
  const res = await get(before, '/x', await loginAs(before))
  t.equal(res.statusCode, 500, 'registered before it: refused with 500, never served')

  t.rejects(async () => { await newHost(t).register(tokenAuth, pluginOptions({ scopes: { admin: 'mine' } })).ready() }, { message: /scopes must not redefine a built-in scope, got 'admin'/ })
  t.rejects(async () => { await newHost(t).register(tokenAuth, pluginOptions({ scopes: { 'has space': 'x' } })).ready() }, { code: 'FST_TOKEN_AUTH_OPTIONS', message: /scopes/ })
})
