import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { setImmediate as tick } from 'node:timers/promises'
import fastifyAuth from '@fastify/auth'
import fastifySensible from '@fastify/sensible'
import fastifySwagger from '@fastify/swagger'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import t from 'tap'
import tokenAuth, { userOf } from '../../src/index.js'
import type { TestContext } from '../helper.js'
import { bearer, get, hostUser, loginAs, newHost, pluginOptions, signUp, type Json } from './support.js'

/*
 * A host with @fastify/auth and @fastify/sensible. The plugin's guards answer a refusal
 * themselves and resolve; @fastify/auth (auth.js l. 195-205) counts any resolved function as
 * a pass. So a guard alone or last in 'or' works, every 'and' refuses correctly, and the rest
 * is marked todo below with the lines of auth.js that explain it.
 */

const API_KEY = 'host-api-key'

/** The host's own check: an Error (which @fastify/auth turns into a 401) unless the key is right. */
function apiKeyCheck (calls: string[]) {
  return async function hostApiKeyCheck (request: FastifyRequest) {
    calls.push(request.url)
    if (request.headers['x-api-key'] !== API_KEY) throw new Error('Missing or wrong API key')
  }
}

const withKey = { 'x-api-key': API_KEY }

async function buildHost (t: TestContext, order: 'before' | 'after' = 'before', calls: string[] = []): Promise<FastifyInstance> {
  const host = newHost(t)
  const registerHostPlugins = async () => {
    await host.register(fastifyAuth)
    await host.register(fastifySensible)
  }
  if (order === 'before') await registerHostPlugins()
  await host.register(tokenAuth, pluginOptions())
  if (order === 'after') await registerHostPlugins()

  const apiKey = apiKeyCheck(calls)
  // userOf throws on a request no guard of the plugin admitted (the API key alone, here).
  const who = async (request: FastifyRequest) => {
    try {
      return { user: userOf(request).username }
    } catch {
      return { user: null }
    }
  }
  host.get('/api/auth-guard', { onRequest: host.auth([host.currentActiveUser]) }, who)
  host.get('/api/or-guard-first', { onRequest: host.auth([host.currentActiveUser, apiKey]) }, who)
  host.get('/api/or-guard-last', { onRequest: host.auth([apiKey, host.currentActiveUser]) }, who)
  host.get('/api/and-guard-first', { onRequest: host.auth([host.currentActiveUser, apiKey], { relation: 'and' }) }, who)
  host.get('/api/and-guard-last', { onRequest: host.auth([apiKey, host.currentActiveUser], { relation: 'and' }) }, who)
  host.get('/api/forbidden', { onRequest: host.currentActiveUser }, async (request) => {
    throw host.httpErrors.forbidden(`${userOf(request).username} may not`)
  })
  host.get('/api/missing', async (_request, reply) => reply.notFound('no such thing'))
  await host.ready()
  return host
}

for (const order of ['before', 'after'] as const) {
  t.test(`@fastify/auth and @fastify/sensible registered ${order} the plugin`, async (t) => {
    const host = await buildHost(t, order)
    t.equal(host.hasDecorator('auth'), true, "@fastify/auth's auth decorator")
    t.type(host.auth([async () => {}]), 'function', 'it builds hooks')
    t.equal(host.hasDecorator('httpErrors'), true, "@fastify/sensible's httpErrors decorator")
    t.equal(host.httpErrors.notFound().statusCode, 404)
    t.equal(host.hasReplyDecorator('notFound'), true)
    for (const name of ['authenticate', 'currentActiveUser', 'tokenAuth']) t.equal(host.hasDecorator(name), true, `the plugin's ${name}`)

    const token = await signUp(host)
    t.equal((await get(host, '/auth/users/me/', token)).statusCode, 200, 'the plugin works')
    const forbidden = await get(host, '/api/forbidden', token)
    t.equal(forbidden.statusCode, 403, 'httpErrors in a guarded host route')
    t.same(forbidden.json(), { statusCode: 403, error: 'Forbidden', message: `${hostUser.username} may not` })
    t.same((await get(host, '/api/forbidden')).json(), { detail: 'Not authenticated' }, "the guard's answer comes first")
    const missing = await get(host, '/api/missing')
    t.equal(missing.statusCode, 404, 'reply.notFound()')
    t.equal(missing.json().message, 'no such thing')

    const invalid = await host.inject({ method: 'POST', url: '/auth/users/', payload: { username: 'x' } })
    t.equal(invalid.statusCode, 422, "the plugin's error bodies are its own")
    t.ok(Array.isArray(invalid.json().detail))
  })
}

t.test('host.auth([host.currentActiveUser]): the guard alone, through @fastify/auth', async (t) => {
  const host = await buildHost(t)
  const token = await signUp(host)

  const ok = await get(host, '/api/auth-guard', token)
  t.equal(ok.statusCode, 200, 'a valid token is admitted')
  t.same(ok.json(), { user: hostUser.username }, 'with the account userOf gives')

  const anonymous = await get(host, '/api/auth-guard')
  t.equal(anonymous.statusCode, 401, 'a missing token is refused')
  t.same(anonymous.json(), { detail: 'Not authenticated' }, "with the plugin's 401")
  t.equal(anonymous.headers['www-authenticate'], 'Bearer')

  const garbage = await get(host, '/api/auth-guard', 'not.a.jwt')
  t.equal(garbage.statusCode, 401)
  t.same(garbage.json(), { detail: 'Could not validate credentials' })

  await host.tokenAuth.users.setDisabled(hostUser.username, true)
  t.equal((await get(host, '/api/auth-guard', token)).statusCode, 401, 'disabling ended the session of the token from before')
  // A disabled account may still log in; its token is refused.
  const inactive = await get(host, '/api/auth-guard', await loginAs(host))
  t.equal(inactive.statusCode, 400, 'a disabled user is refused')
  t.same(inactive.json(), { detail: 'Inactive user' })
})

t.test("the status of a refusal, as the host's access log and metrics record it", async (t) => {
  const lines: Json[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line))
      callback()
    }
  })
  const host = newHost(t, { logger: { level: 'info', stream } })
  const metrics: number[] = []
  // A metrics-style hook: it reads the status after an await, as exporters do.
  host.addHook('onResponse', async (_request, reply) => {
    await tick()
    metrics.push(reply.statusCode)
  })
  await host.register(fastifyAuth)
  await host.register(tokenAuth, pluginOptions())
  host.get('/plain', { onRequest: host.currentActiveUser }, async () => ({ ok: true }))
  host.get('/composed', { onRequest: host.auth([host.currentActiveUser]) }, async () => ({ ok: true }))
  await host.listen({ host: '127.0.0.1', port: 0 })
  const origin = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`

  const statuses = async (path: string) => {
    lines.length = 0
    metrics.length = 0
    const response = await fetch(`${origin}${path}`)
    await response.text()
    for (let i = 0; i < 100 && !lines.some((entry) => entry.msg === 'request completed'); i++) await tick()
    const line = lines.find((entry) => entry.msg === 'request completed')
    return { client: response.status, metrics: metrics[0], log: line?.res?.statusCode }
  }
  t.same(await statuses('/plain'), { client: 401, metrics: 401, log: 401 }, 'the guard as a hook: client, metrics and log agree')
  const composed = await statuses('/composed')
  t.equal(composed.client, 401, 'through @fastify/auth the client gets 401')
  const flipped = '@fastify/auth completeAuth (auth.js l. 210-211) calls reply.code(200) after the guard sent its 401'
  t.equal(composed.metrics, 401, 'the metrics hook sees 401', { todo: `${flipped}: it sees 200` })
  t.equal(composed.log, 401, 'the access log says 401', { todo: `${flipped}: it says 200` })
})

t.test("relation 'or': the plugin's guard with the host's API key check", async (t) => {
  const calls: string[] = []
  const host = await buildHost(t, 'before', calls)
  const token = await signUp(host)

  t.test('guard last: [hostApiKeyCheck, currentActiveUser] works', async (t) => {
    const url = '/api/or-guard-last'
    t.same((await host.inject({ url, headers: withKey })).json(), { user: null }, 'the API key alone is admitted (the guard does not run)')
    t.same((await host.inject({ url, headers: bearer(token) })).json(), { user: hostUser.username }, 'the token alone is admitted')
    const neither = await host.inject({ url })
    t.equal(neither.statusCode, 401, 'neither is refused')
    t.same(neither.json(), { detail: 'Not authenticated' }, "with the plugin's answer (the guard answered last)")
    const garbage = await host.inject({ url, headers: bearer('not.a.jwt') })
    t.same(garbage.json(), { detail: 'Could not validate credentials' })
  })

  t.test('guard first: [currentActiveUser, hostApiKeyCheck]', async (t) => {
    const url = '/api/or-guard-first'
    calls.length = 0
    t.same((await host.inject({ url, headers: bearer(token) })).json(), { user: hostUser.username }, 'the token is admitted')
    const neither = await host.inject({ url })
    t.equal(neither.statusCode, 401, 'neither is refused')
    t.same(neither.json(), { detail: 'Not authenticated' })

    const keyOnly = await host.inject({ url, headers: withKey })
    t.same(calls, [], 'the API key check never runs: @fastify/auth took the resolved guard for a success (auth.js l. 120-121)')
    t.equal(keyOnly.statusCode, 200, 'the API key alone is admitted', {
      todo: 'the guard answers 401 itself and resolves, so @fastify/auth never tries the alternative: 401 Not authenticated'
    })
  })
})

t.test("relation 'and': the plugin's guard with the host's API key check", async (t) => {
  const calls: string[] = []
  const host = await buildHost(t, 'before', calls)
  const token = await signUp(host)
  const both = { ...bearer(token), ...withKey }

  for (const url of ['/api/and-guard-first', '/api/and-guard-last']) {
    t.test(url, async (t) => {
      const ok = await host.inject({ url, headers: both })
      t.equal(ok.statusCode, 200, 'token and key: admitted')
      t.same(ok.json(), { user: hostUser.username })

      const tokenOnly = await host.inject({ url, headers: bearer(token) })
      t.equal(tokenOnly.statusCode, 401, 'the token without the key: refused')
      t.equal(tokenOnly.json().message, 'Missing or wrong API key', "by the host's check, through the host's error handler")

      const keyOnly = await host.inject({ url, headers: withKey })
      t.equal(keyOnly.statusCode, 401, 'the key without a token: refused')
      t.same(keyOnly.json(), { detail: 'Not authenticated' }, "by the plugin's guard")

      const neither = await host.inject({ url })
      t.equal(neither.statusCode, 401, 'neither: refused')
    })
  }

  t.test('guard first: what runs after the guard refused', async (t) => {
    calls.length = 0
    const keyOnly = await host.inject({ url: '/api/and-guard-first', headers: withKey })
    t.equal(keyOnly.statusCode, 401)
    t.same(calls, [], 'the API key check is not consulted once the guard answered', {
      todo: "@fastify/auth takes the guard's resolved promise for a pass and runs the next function on an answered request (auth.js l. 109-117)"
    })
  })
})

t.test('a route composed with @fastify/auth in a host with @fastify/swagger', async (t) => {
  const host = newHost(t)
  await host.register(fastifySwagger, { openapi: { info: { title: 'Host API', version: '1.0.0' } } })
  await host.register(fastifyAuth)
  await host.register(tokenAuth, pluginOptions())
  host.get('/api/plain', { onRequest: host.currentActiveUser }, async () => ({ ok: true }))
  host.get('/api/composed', { onRequest: host.auth([host.currentActiveUser]) }, async () => ({ ok: true }))
  await host.ready()
  const paths = host.swagger().paths ?? {}
  t.same(paths['/api/plain']?.get?.security, [{ OAuth2PasswordBearer: [] }], 'the guard as a hook shows the lock')
  t.same(paths['/api/composed']?.get?.security, [{ OAuth2PasswordBearer: [] }], 'the guard through host.auth shows the lock', {
    todo: 'host.auth returns its own bound hook (auth.js l. 79) and markGuardedRoutes (plugins/openapi-security.ts) knows the guards by identity; the host can set schema.security itself'
  })
})
