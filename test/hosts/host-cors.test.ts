import fastifyCors from '@fastify/cors'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import tokenAuth, { userOf, type TokenAuthOptions } from '../../src/index.js'
import { bearer, hostUser, newHost, pluginOptions, registerUser, requestToken, type Json } from './support.js'

// CORS in a host that embeds the plugin: the host's own @fastify/cors, registered before the
// plugin as usual, covers the plugin's routes; the plugin itself adds no CORS of its own.

const HOST_APP = 'https://host-app.example'

const corsHeaders = (response: LightMyRequestResponse): Json =>
  Object.fromEntries(Object.entries(response.headers).filter(([name]) => name.startsWith('access-control-')))

async function preflight (host: FastifyInstance, method: string, url: string, origin = HOST_APP): Promise<LightMyRequestResponse> {
  return await host.inject({
    method: 'OPTIONS',
    url,
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' }
  })
}

/** A host with its own CORS policy (if given), the plugin under /auth and a guarded route of its own. */
async function host (t: Parameters<typeof newHost>[0], cors: boolean, plugin: Partial<TokenAuthOptions> = {}): Promise<FastifyInstance> {
  const app = newHost(t)
  if (cors) {
    await app.register(fastifyCors, {
      origin: [HOST_APP],
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type'],
      exposedHeaders: ['WWW-Authenticate', 'Retry-After'],
      maxAge: 600
    })
  }
  await app.register(tokenAuth, pluginOptions(plugin))
  app.get('/api/private', { onRequest: app.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
  await app.ready()
  return app
}

t.test("a host's own @fastify/cors covers the plugin's routes, preflights included", async (t) => {
  const app = await host(t, true)
  t.equal((await registerUser(app)).statusCode, 201)
  for (const [method, url] of [['POST', '/auth/token'], ['POST', '/auth/revoke'], ['GET', '/auth/users/me/'], ['PATCH', '/auth/users/me/'],
    ['DELETE', '/auth/users/me/sessions/0123456789abcdef0123456789abcdef'], ['POST', '/auth/users/me/password'], ['GET', '/api/private']]) {
    const pre = await preflight(app, method as string, url as string)
    t.equal(pre.statusCode, 204, `preflight of ${method} ${url}`)
    t.match(corsHeaders(pre), {
      'access-control-allow-origin': HOST_APP,
      'access-control-allow-methods': 'GET, POST, PATCH, DELETE',
      'access-control-allow-headers': 'Authorization, Content-Type',
      'access-control-max-age': '600'
    }, `the host's policy, as the host wrote it, on ${url}`)
  }
  const login = await app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: HOST_APP },
    payload: new URLSearchParams({ ...hostUser }).toString()
  })
  t.equal(login.statusCode, 200)
  t.equal(login.headers['access-control-allow-origin'], HOST_APP, 'the login answer is readable by the host app')
  const token = login.json().access_token as string
  const me = await app.inject({ method: 'GET', url: '/auth/users/me/', headers: { origin: HOST_APP, ...bearer(token) } })
  t.equal(me.statusCode, 200)
  t.equal(me.headers['access-control-allow-origin'], HOST_APP)
  const refused = await app.inject({ method: 'GET', url: '/api/private', headers: { origin: HOST_APP } })
  t.equal(refused.statusCode, 401, "the plugin's guard on a host route refuses")
  t.same(corsHeaders(refused), { 'access-control-allow-origin': HOST_APP, 'access-control-expose-headers': 'WWW-Authenticate, Retry-After' },
    'and its 401 carries the host policy, nothing more')
  const invalid = await app.inject({ method: 'POST', url: '/auth/users/', headers: { origin: HOST_APP }, payload: { username: 'x' } })
  t.equal(invalid.statusCode, 422)
  t.equal(invalid.headers['access-control-allow-origin'], HOST_APP, "the plugin's 422 too")
  const other = await app.inject({ method: 'GET', url: '/auth/users/me/', headers: { origin: 'https://elsewhere.example', ...bearer(token) } })
  t.notOk('access-control-allow-origin' in other.headers, 'another origin is not allowed by the host, on the plugin routes either')
})

t.test("with the plugin's throttling, the host's preflights cost nothing and the 429 is readable", async (t) => {
  const app = await host(t, true, { throttle: { token: { max: 1, windowSeconds: 60 }, loginBackoffAfter: false } })
  for (let i = 0; i < 5; i++) t.equal((await preflight(app, 'POST', '/auth/token')).statusCode, 204)
  t.equal((await requestToken(app, { username: 'nobody', password: 'wrong-password' })).statusCode, 401, 'five preflights later, the first login is answered')
  const over = await app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: HOST_APP },
    payload: 'username=nobody&password=wrong-password'
  })
  t.equal(over.statusCode, 429)
  t.equal(over.headers['access-control-allow-origin'], HOST_APP, 'the 429 carries the host policy')
  t.ok(Number(over.headers['retry-after']) >= 1)
})

t.test('the plugin adds no CORS headers, and answers no preflight, of its own', async (t) => {
  const app = await host(t, false)
  t.equal((await registerUser(app)).statusCode, 201)
  const answers = [
    await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: HOST_APP }, payload: new URLSearchParams({ ...hostUser }).toString() }),
    await app.inject({ method: 'GET', url: '/auth/users/me/', headers: { origin: HOST_APP } }),
    await app.inject({ method: 'GET', url: '/api/private', headers: { origin: HOST_APP } })
  ]
  t.same(answers.map((answer) => answer.statusCode), [200, 401, 401])
  for (const answer of answers) {
    t.same(corsHeaders(answer), {}, 'no Access-Control-* header')
    t.notOk(String(answer.headers.vary ?? '').toLowerCase().includes('origin'), 'no Vary: Origin')
  }
  for (const url of ['/auth/token', '/auth/users/me/']) {
    const pre = await preflight(app, 'POST', url)
    t.equal(pre.statusCode, 404, `OPTIONS ${url}: the host's own 404, no preflight answered`)
    t.same(corsHeaders(pre), {})
  }
  t.notOk(app.hasPlugin('@fastify/cors'), 'and no @fastify/cors in the host')
})
