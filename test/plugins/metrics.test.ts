import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { Counter, register as defaultRegistry, Registry } from 'prom-client'
import t from 'tap'
import tokenAuth, { type TokenAuthOptions } from '../../src/index.js'
import { bearer, newHost, pluginOptions, registerUser, requestToken } from '../hosts/support.js'
import { tempDir } from '../src/process-helper.js'
import { parseExposition, type Exposition } from '../support/prometheus-text.js'

// The plugin's own metrics in a host's prom-client registry: counted from the audit events,
// read from the registry as Prometheus would scrape it.

const form = { 'content-type': 'application/x-www-form-urlencoded' }
const alice = { username: 'alice', password: 'alice-password-1' }

const scrape = async (registry: Registry): Promise<Exposition> => parseExposition(await registry.metrics())

async function host (t: Parameters<typeof newHost>[0], opts: Partial<TokenAuthOptions>): Promise<FastifyInstance> {
  const app = newHost(t)
  await app.register(tokenAuth, pluginOptions(opts))
  await app.ready()
  return app
}

const post = async (app: FastifyInstance, url: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
  await app.inject({ method: 'POST', url, headers: { ...form, ...headers }, payload: new URLSearchParams(body).toString() })

t.test('the reader of the exposition format refuses what Prometheus would', async (t) => {
  t.throws(() => parseExposition('# TYPE a counter\na{x="1"} one\n'), /malformed value/)
  t.throws(() => parseExposition('b 1\n'), /undeclared family/)
  t.throws(() => parseExposition('# TYPE a counter\na{x=1} 1\n'), /malformed labels/)
  const read = parseExposition('# HELP h A histogram\n# TYPE h histogram\nh_bucket{le="+Inf",r="/a \\"b\\""} 2\nh_count{r="/a \\"b\\""} 2\n')
  t.equal(read.value('h_bucket', { le: '+Inf', r: '/a "b"' }), 2)
  t.equal(read.families.get('h')?.help, 'A histogram')
})

t.test("every counted action, in the host's registry beside the host's own metrics", async (t) => {
  const registry = new Registry()
  const hostCounter = new Counter({ name: 'host_orders_total', help: 'The host\'s own', registers: [registry] })
  hostCounter.inc(3)
  const app = await host(t, {
    metrics: { registry },
    refreshTokenReuseSeconds: 0,
    throttle: { token: false, revoke: { max: 2, windowSeconds: 60 }, loginBackoffAfter: 2 }
  })
  const before = await scrape(registry)
  t.equal(before.value('host_orders_total'), 3, "the host's metric is untouched")
  const outcomes: Array<Record<string, string>> = [{ result: 'succeeded' }, { result: 'failed', reason: 'wrong_password' }, { result: 'throttled', reason: 'backoff' }]
  for (const labels of outcomes) {
    t.equal(before.value('token_auth_logins_total', labels), 0, `logins ${JSON.stringify(labels)} start at 0`)
  }
  t.equal(before.families.get('token_auth_logins_total')?.type, 'counter')

  t.equal((await registerUser(app, alice)).statusCode, 201)
  const login = async (password: string) => await requestToken(app, { username: alice.username, password })
  t.equal((await requestToken(app, { username: 'nobody', password: 'whatever-1' })).statusCode, 401)
  t.equal((await login('wrong-password')).statusCode, 401)
  t.equal((await login('wrong-password')).statusCode, 401)
  t.equal((await login(alice.password)).statusCode, 429, 'held by the backoff')
  const other = await app.inject({ method: 'POST', url: '/auth/token', remoteAddress: '203.0.113.9', headers: form, payload: new URLSearchParams(alice).toString() })
  t.equal(other.statusCode, 200, 'from another address: logged in')
  const first = other.json()
  const second = (await app.inject({ method: 'POST', url: '/auth/token', remoteAddress: '203.0.113.9', headers: form, payload: new URLSearchParams(alice).toString() })).json()
  t.equal((await post(app, '/auth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token })).statusCode, 200, 'refreshed')
  t.equal((await post(app, '/auth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token })).statusCode, 400, 'reused')
  t.equal((await post(app, '/auth/revoke', { token: 'unknown' })).statusCode, 200, 'an unknown token: nothing revoked')
  t.equal((await post(app, '/auth/revoke', { token: second.refresh_token })).statusCode, 200, 'revoked')
  t.equal((await post(app, '/auth/revoke', { token: second.refresh_token })).statusCode, 429, 'over the revocation limit')
  const third = (await app.inject({ method: 'POST', url: '/auth/token', remoteAddress: '203.0.113.9', headers: form, payload: new URLSearchParams(alice).toString() })).json()
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout?scope=global', headers: bearer(third.access_token) })).statusCode, 204)

  const after = await scrape(registry)
  t.equal(after.value('token_auth_registrations_total'), 1)
  t.equal(after.value('token_auth_logins_total', { result: 'succeeded' }), 3)
  t.equal(after.value('token_auth_logins_total', { result: 'failed', reason: 'unknown_user' }), 1)
  t.equal(after.value('token_auth_logins_total', { result: 'failed', reason: 'wrong_password' }), 2)
  t.equal(after.value('token_auth_logins_total', { result: 'throttled', reason: 'backoff' }), 1)
  t.equal(after.value('token_auth_logins_total', { result: 'throttled', reason: 'concurrent' }), 0)
  t.equal(after.value('token_auth_refreshes_total'), 1)
  t.equal(after.value('token_auth_refresh_token_reuse_detected_total'), 1)
  t.equal(after.value('token_auth_revocations_total'), 1, 'only the revocation that ended a session')
  t.equal(after.value('token_auth_requests_throttled_total', { limit: 'revoke' }), 1)
  t.equal(after.value('token_auth_requests_throttled_total', { limit: 'token' }), 0)
  t.equal(after.value('token_auth_logouts_total', { scope: 'global' }), 1)
  t.equal(after.value('token_auth_logouts_total', { scope: 'local' }), 0)
  t.equal(after.value('host_orders_total'), 3)
  t.same(after.select('token_auth_db_pool_connections'), [], 'SQLite: no pool to report')
  t.same(await defaultRegistry.getMetricsAsJSON(), [], "nothing in prom-client's global default registry")
})

t.test('bcrypt operations in flight, read at scrape time', async (t) => {
  const registry = new Registry()
  const app = await host(t, { metrics: { registry } })
  t.equal((await scrape(registry)).value('token_auth_bcrypt_in_flight', { operation: 'hash' }), 0)
  // Not awaited: bcrypt runs on libuv's threads, so none can finish while this turn of the event
  // loop lasts; the scrapes (promises only) run within it, once the hashes have started (after
  // the check of the new password against the list of common ones).
  const hashing = [app.tokenAuth.hashPassword('password-one'), app.tokenAuth.hashPassword('password-two')]
  let during = await scrape(registry)
  for (let turn = 0; turn < 50 && during.value('token_auth_bcrypt_in_flight', { operation: 'hash' }) !== 2; turn++) during = await scrape(registry)
  t.equal(during.value('token_auth_bcrypt_in_flight', { operation: 'hash' }), 2)
  t.equal(during.value('token_auth_bcrypt_in_flight', { operation: 'verify' }), 0)
  await Promise.all(hashing)
  t.equal((await scrape(registry)).value('token_auth_bcrypt_in_flight', { operation: 'hash' }), 0, 'none once they are done')
})

t.test('two instances in one registry, told apart by their prefix', async (t) => {
  const registry = new Registry()
  const app = newHost(t)
  await app.register(async (staff) => {
    await staff.register(tokenAuth, pluginOptions({ prefix: '/staff', metrics: { registry, prefix: 'staff_auth_' } }))
  })
  await app.register(async (customers) => {
    await customers.register(tokenAuth, pluginOptions({ prefix: '/customers', metrics: { registry } }))
  })
  await app.ready()
  t.equal((await registerUser(app, alice, '/staff')).statusCode, 201)
  t.equal((await requestToken(app, alice, '/staff')).statusCode, 200)
  t.equal((await requestToken(app, alice, '/customers')).statusCode, 401)
  const read = await scrape(registry)
  t.equal(read.value('staff_auth_logins_total', { result: 'succeeded' }), 1)
  t.equal(read.value('staff_auth_registrations_total'), 1)
  t.equal(read.value('token_auth_logins_total', { result: 'succeeded' }), 0)
  t.equal(read.value('token_auth_logins_total', { result: 'failed', reason: 'unknown_user' }), 1)
  t.equal(read.value('token_auth_registrations_total'), 0)
})

t.test('a second instance with the same prefix in one registry is refused before anything opens', async (t) => {
  const registry = new Registry()
  const file = join(await tempDir(t), 'second.db')
  const app = newHost(t)
  const both = app
    .register(async (first) => { await first.register(tokenAuth, pluginOptions({ prefix: '/a', metrics: { registry } })) })
    .register(async (second) => { await second.register(tokenAuth, pluginOptions({ prefix: '/b', metrics: { registry }, database: `sqlite:${file}` })) })
  await t.rejects(async () => { await both.ready() }, /already has token_auth_logins_total: give each instance in one registry its own metrics\.prefix/)
  t.notOk(existsSync(file), 'no database file of the second instance was created')
})

t.test('closing the app takes its metrics out of the registry, so a new app can use it', async (t) => {
  const registry = new Registry()
  const first = Fastify({ logger: false })
  await first.register(tokenAuth, pluginOptions({ metrics: { registry } }))
  await first.ready()
  t.ok(registry.getSingleMetric('token_auth_logins_total'))
  await first.close()
  t.same(await registry.getMetricsAsJSON(), [], 'the registry is empty again')
  const second = await host(t, { metrics: { registry } })
  t.equal((await requestToken(second, alice)).statusCode, 401)
  t.equal((await scrape(registry)).value('token_auth_logins_total', { result: 'failed', reason: 'unknown_user' }), 1)
})

t.test('without the option nothing is recorded anywhere', async (t) => {
  const app = await host(t, {})
  t.equal((await registerUser(app, alice)).statusCode, 201)
  t.equal((await requestToken(app, alice)).statusCode, 200)
  t.same(await defaultRegistry.getMetricsAsJSON(), [], "prom-client's global default registry stays empty")
})

t.test('a bad metrics option stops start-up with a message naming it', async (t) => {
  const refused = async (metrics: unknown, message: RegExp) => {
    const app = Fastify({ logger: false })
    await t.rejects(async () => { await app.register(tokenAuth, pluginOptions({ metrics: metrics as TokenAuthOptions['metrics'] })).ready() }, message)
    await app.close()
  }
  await refused({ registry: new Registry(), labels: {} }, /unknown option metrics\.labels/)
  await refused({ registry: {} }, /metrics\.registry must be a prom-client Registry/)
  await refused({}, /metrics\.registry must be a prom-client Registry/)
  await refused(true, /metrics must be an object/)
  await refused({ registry: new Registry(), prefix: '1st_' }, /metrics\.prefix must be the start of a metric name/)
  await refused({ registry: new Registry(), prefix: 'token-auth_' }, /metrics\.prefix must be the start of a metric name/)
})
