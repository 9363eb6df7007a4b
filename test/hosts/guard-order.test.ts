import { Writable } from 'node:stream'
import fastifySwagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import tokenAuth, { userOf, authenticate, currentActiveUser } from '../../src/index.js'
import { get, hostUser, loginAs, newHost, pluginOptions, signUp } from './support.js'

// The exported guards exist before the plugin does: a route that names one is guarded whatever
// the order of registration, and a route that cannot see a plugin instance is refused, never
// served. `app.authenticate` read before the plugin has loaded is undefined, and Fastify would
// serve such a route unguarded: the README's first example uses the exported guards.

interface Logged { level: number, msg: string }

function loggingHost (t: Test): { host: FastifyInstance, lines: Logged[] } {
  const lines: Logged[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  return { host: newHost(t, { logger: { level: 'warn', stream } }), lines }
}

/** What a route answers without a token, with a token, and (for currentActiveUser) for a disabled user. */
async function answers (host: FastifyInstance, url: string, token: string) {
  const none = await get(host, url)
  const good = await get(host, url, token)
  return { none: none.statusCode, good: good.statusCode, user: good.statusCode === 200 ? good.json().user : undefined }
}

const guarded = (host: FastifyInstance, url: string, guard = currentActiveUser) =>
  host.get(url, { onRequest: guard }, async (request) => ({ user: userOf(request).username }))

t.test('a route guarded before the plugin has loaded, in the same context', async (t) => {
  const { host } = loggingHost(t)
  guarded(host, '/early')
  guarded(host, '/early-authenticate', authenticate)
  await host.register(tokenAuth, pluginOptions())
  guarded(host, '/late')
  await host.ready()
  const token = await signUp(host)
  for (const url of ['/early', '/early-authenticate', '/late']) {
    t.same(await answers(host, url, token), { none: 401, good: 200, user: hostUser.username }, `${url}: 401 without a token, the user with one`)
  }
})

t.test('a route in a child context, registered before the plugin in the parent', async (t) => {
  const { host } = loggingHost(t)
  await host.register(async (child) => { guarded(child, '/api/child') }, { prefix: '' })
  await host.register(tokenAuth, pluginOptions())
  await host.register(async (child) => { guarded(child, '/api/after') })
  await host.ready()
  const token = await signUp(host)
  t.same(await answers(host, '/api/child', token), { none: 401, good: 200, user: hostUser.username }, 'the child before the plugin')
  t.same(await answers(host, '/api/after', token), { none: 401, good: 200, user: hostUser.username }, 'a child after it')
})

t.test('a disabled user is refused by currentActiveUser, admitted by authenticate', async (t) => {
  const { host } = loggingHost(t)
  guarded(host, '/active')
  guarded(host, '/any', authenticate)
  await host.register(tokenAuth, pluginOptions())
  await host.ready()
  await signUp(host)
  await host.tokenAuth.users.setDisabled(hostUser.username, true)
  // A disabled account may still log in, as in the tutorial; its token meets the guards.
  const token = await loginAs(host, hostUser)
  const inactive = await get(host, '/active', token)
  t.equal(inactive.statusCode, 400, 'currentActiveUser: 400')
  t.same(inactive.json(), { detail: 'Inactive user' })
  t.equal((await get(host, '/any', token)).statusCode, 200, 'authenticate: admitted')
})

t.test('a route no plugin instance can see is refused with 500, and the log says why', async (t) => {
  const { host, lines } = loggingHost(t)
  // The plugin in one encapsulated context, the guarded route in a sibling.
  await host.register(async (scope) => { await scope.register(tokenAuth, pluginOptions()) })
  await host.register(async (scope) => { guarded(scope, '/api/orphan') })
  await host.ready()
  for (const headers of [{}, { authorization: 'Bearer anything' }]) {
    const res = await host.inject({ url: '/api/orphan', headers })
    t.equal(res.statusCode, 500, 'never served')
    t.same(res.json(), { detail: 'Internal Server Error' }, 'nothing internal in the answer')
  }
  const errors = lines.filter((line) => line.level === 50).map((line) => line.msg)
  t.match(errors[0], /GET \/api\/orphan is guarded, but no fastify-token-auth is registered in its context or above it/, 'the log names the route and why')
})

t.test('with no plugin at all, the exported guards refuse', async (t) => {
  const { host } = loggingHost(t)
  guarded(host, '/nothing')
  await host.ready()
  t.equal((await host.inject({ url: '/nothing' })).statusCode, 500)
})

t.test("in the host's document, a route with an exported guard shows the lock", async (t) => {
  const { host } = loggingHost(t)
  await host.register(fastifySwagger, { openapi: { info: { title: 'host', version: '1.0.0' } } })
  await host.register(tokenAuth, pluginOptions())
  guarded(host, '/api/locked')
  host.get('/api/open', async () => ({ open: true }))
  await host.ready()
  const paths = (host.swagger() as { paths: Record<string, { get: { security?: unknown } }> }).paths
  t.same(paths['/api/locked']?.get.security, [{ OAuth2PasswordBearer: [] }], 'the guarded route: the lock')
  t.equal(paths['/api/open']?.get.security, undefined, 'the open one: none')
})
