import t from 'tap'
import { parseExposition } from '../support/prometheus-text.js'
import { dbEnv, freePort, freshRequest, httpLogin, httpRegister, spawnServer, startServer, tempDir } from './process-helper.js'

// GET /metrics of the real server process, one process: off by default, on the API's port with
// METRICS=on, and with METRICS_PORT only on a port of its own.

const HEALTH = { method: 'GET', route: '/health', status_code: '200' }
const user = { username: 'metrics_user', password: 'metrics-password-1' }

t.test('off unless METRICS=on', async (t) => {
  const { port } = await startServer(t, dbEnv(await tempDir(t)))
  t.equal((await freshRequest(port, 'GET', '/metrics')).status, 404)
})

t.test('METRICS=on: /metrics on the API port, with the process metrics and the requests so far', async (t) => {
  const { port, base, server } = await startServer(t, dbEnv(await tempDir(t), { METRICS: 'on' }))
  for (let i = 0; i < 3; i++) t.equal((await freshRequest(port, 'GET', '/health')).status, 200)
  t.equal((await httpRegister(base, user)).status, 201)
  await httpLogin(base, user.username, user.password)
  const metrics = await freshRequest(port, 'GET', '/metrics')
  t.equal(metrics.status, 200)
  t.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  const read = parseExposition(metrics.body)
  t.equal(read.value('token_auth_http_request_duration_seconds_count', HEALTH), 3)
  t.equal(read.value('token_auth_logins_total', { result: 'succeeded' }), 1)
  t.equal(read.value('token_auth_registrations_total'), 1)
  t.equal(read.families.get('process_cpu_seconds_total')?.type, 'counter', "Node's process metrics, under their usual names")
  t.ok((read.value('process_resident_memory_bytes') ?? 0) > 0, 'the resident memory')
  t.ok(read.families.has('nodejs_eventloop_lag_seconds'))
  t.equal(read.select('nodejs_version_info')[0]?.labels.version, process.version)
  t.same((await server.stop()), { code: 0, signal: null }, 'SIGTERM stops it cleanly')
})

t.test('METRICS_PORT: /metrics there only, on METRICS_HOST', async (t) => {
  const metricsPort = await freePort()
  // Linux answers all of 127/8 on the loopback interface: a second address of this machine.
  const metricsHost = '127.0.0.2'
  const { port, server } = await startServer(t, dbEnv(await tempDir(t), { METRICS: 'on', METRICS_PORT: String(metricsPort), METRICS_HOST: metricsHost }))
  await server.waitFor('the metrics port to listen', () => server.logLines().some((line) =>
    line.server === 'metrics' && line.msg === `Server listening at http://${metricsHost}:${metricsPort}`))
  for (let i = 0; i < 2; i++) t.equal((await freshRequest(port, 'GET', '/health')).status, 200)
  t.equal((await freshRequest(port, 'GET', '/metrics')).status, 404, 'not on the API port')
  await t.rejects(freshRequest(metricsPort, 'GET', '/metrics'), { code: 'ECONNREFUSED' }, 'nor on HOST at the metrics port')
  const metrics = await freshRequest(metricsPort, 'GET', '/metrics', { host: metricsHost })
  t.equal(metrics.status, 200)
  const read = parseExposition(metrics.body)
  t.equal(read.value('token_auth_http_request_duration_seconds_count', HEALTH), 2, "the API's requests")
  t.equal(read.value('token_auth_http_request_duration_seconds_count', { method: 'GET', route: '(unmatched)', status_code: '404' }), 1,
    'the /metrics asked of the API port was an unknown path there')
  t.ok(read.families.has('process_cpu_seconds_total'))
  const other = await freshRequest(metricsPort, 'GET', '/health', { host: metricsHost })
  t.equal(other.status, 404, 'nothing else on the metrics port')
  t.same(JSON.parse(other.body), { detail: 'Not Found' })
  t.same((await server.stop()), { code: 0, signal: null }, 'SIGTERM closes both ports and exits cleanly')
})

t.test('a METRICS_PORT without METRICS=on is refused at start-up', async (t) => {
  const server = spawnServer(t, dbEnv(await tempDir(t), { METRICS_PORT: String(await freePort()) }))
  t.same(await server.waitForExit(), { code: 1, signal: null })
  t.match(server.stderr, /METRICS_PORT=\d+: only with METRICS=on/)
})
