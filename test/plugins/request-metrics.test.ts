import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { register as defaultRegistry, Registry } from 'prom-client'
import t from 'tap'
import { AUTH_METRIC_NAMES, DEFAULT_METRICS_PREFIX } from '../../plugins/auth-metrics.js'
import { bearer, buildApp, createUser, forEachEngine, johndoe, login } from '../helper.js'
import { parseExposition } from '../support/prometheus-text.js'

// The standalone service with metrics on: one histogram of every request by route pattern,
// the plugin's own metrics beside it, and GET /metrics answering them all.

const HISTOGRAM = 'token_auth_http_request_duration_seconds'

t.test('requests are counted and timed by route pattern, method and status; unknown paths as one route', async (t) => {
  const registry = new Registry()
  const app = await buildApp(t, { metrics: { registry } })
  await createUser(app, johndoe)
  const token = await login(app, johndoe)
  for (const id of [101, 102, 103]) t.equal((await app.inject({ url: `/users/me/items/${id}`, headers: bearer(token) })).statusCode, 404)
  t.equal((await app.inject({ url: '/users/me/', headers: bearer(token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/users/me/' })).statusCode, 401)
  for (const path of ['/nowhere', '/users/me/items/101/more', '/x?y=z']) t.equal((await app.inject({ url: path })).statusCode, 404)

  const metrics = await app.inject({ url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  const read = parseExposition(metrics.body)
  t.equal(read.families.get(HISTOGRAM)?.type, 'histogram')
  const count = (labels: Record<string, string>) => read.value(`${HISTOGRAM}_count`, labels)
  t.equal(count({ method: 'GET', route: '/users/me/items/:item_id', status_code: '404' }), 3, 'three item ids, one route')
  t.equal(count({ method: 'GET', route: '/users/me/', status_code: '200' }), 1)
  t.equal(count({ method: 'GET', route: '/users/me/', status_code: '401' }), 1)
  t.equal(count({ method: 'POST', route: '/token', status_code: '200' }), 1)
  t.equal(count({ method: 'GET', route: '(unmatched)', status_code: '404' }), 3, 'every unknown path under one label')
  const routes = new Set(read.select(`${HISTOGRAM}_count`).map((sample) => sample.labels.route))
  t.same([...routes].sort(), ['(unmatched)', '/token', '/users/me/', '/users/me/items/:item_id'], 'no raw URL among the routes')
  const buckets = read.select(`${HISTOGRAM}_bucket`, { method: 'GET', route: '/users/me/items/:item_id', status_code: '404' })
  t.equal(buckets.at(-1)?.labels.le, '+Inf')
  t.equal(buckets.at(-1)?.value, 3, 'the +Inf bucket holds every request')
  t.ok(buckets.every((bucket, i) => i === 0 || bucket.value >= (buckets[i - 1]?.value ?? 0)), 'buckets are cumulative')
  t.equal(read.value('token_auth_logins_total', { result: 'succeeded' }), 1, "the plugin's metrics are in the same registry")

  const again = parseExposition((await app.inject({ url: '/metrics/' })).body)
  t.equal(again.value(`${HISTOGRAM}_count`, { method: 'GET', route: '/metrics', status_code: '200' }), 1, 'the scrape before is counted too')
  t.same(await defaultRegistry.getMetricsAsJSON(), [], "nothing in prom-client's global default registry")
})

t.test('without metrics the service adds nothing: no /metrics, no hook', async (t) => {
  const app = await buildApp(t)
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 404)
  t.notOk(app.hasPlugin('token-auth-service/request-metrics'), 'no request hook is registered')
})

t.test('metrics served elsewhere: no /metrics route on the API, the requests still counted', async (t) => {
  const registry = new Registry()
  const app = await buildApp(t, { metrics: { registry, expose: false } })
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 404)
  const read = parseExposition(await registry.metrics())
  t.equal(read.value(`${HISTOGRAM}_count`, { method: 'GET', route: '(unmatched)', status_code: '404' }), 1)
})

t.test('a /metrics that cannot be collected answers 503', async (t) => {
  const registry = new Registry()
  const app = await buildApp(t, { metrics: { registry, expose: async () => { throw new Error('the primary did not answer') } } })
  const response = await app.inject({ url: '/metrics' })
  t.equal(response.statusCode, 503)
  t.same(response.json(), { detail: 'Service unavailable' })
})

forEachEngine(t, async (t, engine) => {
  t.test('the database pool, read at scrape time', async (t) => {
    const registry = new Registry()
    const app = await buildApp(t, { metrics: { registry }, databaseOptions: { poolSize: 3 } }, engine)
    t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200)
    const read = parseExposition((await app.inject({ url: '/metrics' })).body)
    if (engine === 'sqlite') {
      t.same(read.select('token_auth_db_pool_connections'), [], 'SQLite has no pool: nothing reported')
      return
    }
    t.equal(read.value('token_auth_db_pool_max_connections'), 3)
    const total = read.value('token_auth_db_pool_connections') ?? 0
    t.ok(total >= 1 && total <= 3, `connections open: ${total}`)
    t.equal(read.value('token_auth_db_pool_idle_connections'), total, 'all idle between requests')
    t.equal(read.value('token_auth_db_pool_waiting_requests'), 0)
  })
})

t.test('the Metrics section of docs/operations.md names every metric the service can expose', async (t) => {
  const guide = await readFile(join(import.meta.dirname, '../../docs/operations.md'), 'utf8')
  const start = guide.indexOf('\n## Metrics\n')
  t.ok(start >= 0, 'docs/operations.md has its Metrics section')
  const end = guide.indexOf('\n## ', start + 1)
  const section = guide.slice(start, end === -1 ? undefined : end)
  t.ok(section.length > 100, 'the section is there')
  const registry = new Registry()
  const app = await buildApp(t, { metrics: { registry } })
  const exposed = [...parseExposition((await app.inject({ url: '/metrics' })).body).families.keys()].filter((name) => name.startsWith(DEFAULT_METRICS_PREFIX))
  const names = new Set([...exposed, ...AUTH_METRIC_NAMES.map((name) => `${DEFAULT_METRICS_PREFIX}${name}`)])
  t.ok(names.size > 10, `${names.size} metric names`)
  for (const name of names) t.ok(section.includes(`\`${name}\``), `${name} is documented`)
})
