import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { parseExposition, type Exposition } from '../support/prometheus-text.js'
import { cleanEnv, freePort, freshRequest, spawnServer, tempDir, type ServerProcess } from './process-helper.js'

// WORKERS=2 with METRICS=on: the real entry as a cluster primary with two workers. Every request
// goes on a connection of its own, so the primary's round-robin spreads them over both
// workers (GET /health names the pid that answered); the scraped numbers must be the sums.

t.setTimeout(180_000)

const START_LIMIT_MS = 60_000
const HEALTH = { method: 'GET', route: '/health', status_code: '200' }
const COUNT = 'token_auth_http_request_duration_seconds_count'
const roundRobin = process.platform !== 'win32' // node's cluster default: SCHED_RR everywhere but Windows

/** The cluster, the worker pids seen so far (killed at teardown if still alive), and the /health answers counted. */
class Cluster {
  readonly workers = new Set<number>()
  healthAnswers = 0

  constructor (readonly server: ServerProcess, readonly port: number) {}

  /** GET /health until `done(pids answering)` holds; connection errors (a worker starting or just killed) are retried. */
  async health (what: string, done: (pids: number[]) => boolean, timeoutMs = START_LIMIT_MS): Promise<number[]> {
    const pids: number[] = []
    const started = Date.now()
    while (!done(pids)) {
      if (this.server.exit !== undefined) throw new Error(`the server exited before ${what}\n${this.server.output}`)
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}; pids: ${pids.join(' ')}\n${this.server.output}`)
      try {
        const reply = await freshRequest(this.port, 'GET', '/health')
        if (reply.status !== 200) throw new Error(`/health: ${reply.status}`)
        this.healthAnswers++
        const pid = (JSON.parse(reply.body) as { pid: number }).pid
        pids.push(pid)
        this.workers.add(pid)
      } catch {
        await sleep(100)
      }
    }
    return pids
  }
}

async function startCluster (t: Test, extra: Record<string, string>): Promise<Cluster> {
  const dir = await tempDir(t)
  const port = await freePort()
  const server = spawnServer(t, cleanEnv({
    HOST: '127.0.0.1',
    PORT: String(port),
    WORKERS: '2',
    METRICS: 'on',
    DATABASE_URL: `sqlite:${join(dir, 'app.db')}`,
    BCRYPT_COST: '4',
    JWT_SECRET: randomBytes(48).toString('base64'),
    LOG_LEVEL: 'info',
    ...extra
  }))
  const cluster = new Cluster(server, port)
  t.teardown(() => {
    for (const pid of cluster.workers) { try { process.kill(pid, 'SIGKILL') } catch {} }
  })
  const pids = await cluster.health('two workers to answer', (seen) => new Set(seen).size >= 2)
  t.notOk(pids.includes(server.pid as number), 'workers answer, not the primary')
  return cluster
}

/** A registration and `logins` logins, each on a connection of its own. */
async function logIn (cluster: Cluster, logins: number): Promise<void> {
  const user = { username: `u_${randomBytes(3).toString('hex')}`, password: `pw-${randomBytes(9).toString('base64url')}` }
  const registered = await freshRequest(cluster.port, 'POST', '/users/', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(user) })
  if (registered.status !== 201) throw new Error(`registration: ${registered.status} ${registered.body}`)
  for (let i = 0; i < logins; i++) {
    const login = await freshRequest(cluster.port, 'POST', '/token', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(user).toString()
    })
    if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`)
  }
}

/**
 * Scrapes until the /health count reaches what the cluster answered (a worker records a
 * request as its answer finishes, a moment after the client has it), or 5 s pass.
 */
async function scrapeUntilCounted (cluster: Cluster, scrape: () => Promise<Exposition>): Promise<Exposition> {
  const started = Date.now()
  for (;;) {
    const read = await scrape()
    if (read.value(COUNT, HEALTH) === cluster.healthAnswers || Date.now() - started > 5000) return read
    await sleep(100)
  }
}

t.test('WORKERS=2 with METRICS_PORT: the primary serves the sums of both workers, and a replaced worker still counts', async (t) => {
  const metricsPort = await freePort()
  const cluster = await startCluster(t, { METRICS_PORT: String(metricsPort) })
  const { server } = cluster
  const primary = server.pid as number
  t.ok(server.logLines().some((line) => line.pid === primary && line.server === 'metrics' && line.msg === `Server listening at http://127.0.0.1:${metricsPort}`),
    'the primary itself listens on the metrics port')
  const spread = await cluster.health('ten more answers', (pids) => pids.length >= 10)
  if (roundRobin) t.equal(new Set(spread).size, 2, `both workers answered some of ten (${spread.join(' ')})`)
  await logIn(cluster, 4)
  t.equal((await freshRequest(cluster.port, 'GET', '/metrics')).status, 404, 'no /metrics on the API port')

  const scrape = async () => {
    const reply = await freshRequest(metricsPort, 'GET', '/metrics')
    if (reply.status !== 200) throw new Error(`/metrics: ${reply.status} ${reply.body}`)
    if (reply.headers['content-type'] !== 'text/plain; version=0.0.4; charset=utf-8') throw new Error(`/metrics: ${String(reply.headers['content-type'])}`)
    return parseExposition(reply.body)
  }
  const before = await scrapeUntilCounted(cluster, scrape)
  t.equal(before.value(COUNT, HEALTH), cluster.healthAnswers, `every /health answer of both workers counted (${cluster.healthAnswers})`)
  t.equal(before.value('token_auth_logins_total', { result: 'succeeded' }), 4)
  t.equal(before.value('token_auth_registrations_total'), 1)
  t.equal(before.value(COUNT, { method: 'POST', route: '/token', status_code: '200' }), 4)
  t.equal(before.select('nodejs_version_info').length, 1, 'one version line for the cluster')
  t.ok((before.value('process_resident_memory_bytes') ?? 0) > 0, "the workers' memory")

  // A worker that does not answer (stopped) counts with what it last reported.
  const [victim] = [...cluster.workers]
  process.kill(victim as number, 'SIGSTOP')
  const stalled = await scrape()
  t.equal(stalled.value(COUNT, HEALTH), cluster.healthAnswers, 'a worker that does not answer counts with its last report')
  t.equal(stalled.value('token_auth_logins_total', { result: 'succeeded' }), 4)

  // A worker dies right after a scrape: what it counted until then stays in the sums.
  process.kill(victim as number, 'SIGKILL')
  const after = await cluster.health('a replacement worker to answer', (pids) => pids.some((pid) => !spread.includes(pid)))
  t.notOk(after.includes(victim as number), 'the killed worker answers no more')
  const later = await scrapeUntilCounted(cluster, scrape)
  t.equal(later.value(COUNT, HEALTH), cluster.healthAnswers, `still every /health answer, the dead worker's included (${cluster.healthAnswers})`)
  t.equal(later.value('token_auth_logins_total', { result: 'succeeded' }), 4, 'no login count lost with the worker')
  t.same(await server.stop('SIGTERM', 25_000), { code: 0, signal: null }, 'SIGTERM stops the cluster cleanly')
})

t.test('WORKERS=2 without METRICS_PORT: whichever worker a scrape reaches answers with the sums of both', async (t) => {
  const cluster = await startCluster(t, {})
  const spread = await cluster.health('ten more answers', (pids) => pids.length >= 10)
  if (roundRobin) t.equal(new Set(spread).size, 2, `both workers answered some of ten (${spread.join(' ')})`)
  await logIn(cluster, 3)
  const reads: Exposition[] = []
  const scrape = async () => {
    const reply = await freshRequest(cluster.port, 'GET', '/metrics')
    if (reply.status !== 200) throw new Error(`/metrics: ${reply.status} ${reply.body}`)
    const read = parseExposition(reply.body)
    reads.push(read)
    return read
  }
  await scrapeUntilCounted(cluster, scrape)
  for (let i = 0; i < 3; i++) await scrape()
  const answeredBy = new Set(cluster.server.logLines()
    .filter((line) => line.msg === 'incoming request' && (line.req as { url?: string } | undefined)?.url === '/metrics')
    .map((line) => line.pid))
  if (roundRobin) t.equal(answeredBy.size, 2, 'both workers answered scrapes')
  for (const read of reads.slice(-4)) {
    t.equal(read.value(COUNT, HEALTH), cluster.healthAnswers, `a scrape counts every /health answer (${cluster.healthAnswers})`)
    t.equal(read.value('token_auth_logins_total', { result: 'succeeded' }), 3)
  }
  t.same(await cluster.server.stop('SIGTERM', 25_000), { code: 0, signal: null })
})
