import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { entryArgs } from '../support/entries.js'
import { cleanEnv, freePort, repoRoot, tempDir } from './process-helper.js'

// WORKERS=2: the real entry (src/service/server.ts) as a cluster primary with two
// worker processes sharing one port and one SQLite file. Every HTTP request opens a fresh
// connection (agent: false, Connection: close), so the primary's round-robin spreads them over
// the workers; GET /health names the pid that answered.

t.setTimeout(120_000)

const START_LIMIT_MS = 45_000
const REPLACEMENT_LIMIT_MS = 30_000
const EXIT_LIMIT_MS = 25_000 // above the primary's own 15 s grace before it SIGKILLs its workers
const REQUEST_LIMIT_MS = 10_000

interface LogLine { level?: number, pid?: number, msg?: string, [key: string]: unknown }

/** A spawned `src/service/server.ts`, its output, and every pid it is known to have had as a worker. */
class Cluster {
  stdout = ''
  stderr = ''
  exit: { code: number | null, signal: NodeJS.Signals | null } | undefined
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  readonly workerPids = new Set<number>()
  readonly child: ChildProcessWithoutNullStreams

  /** `detached`: the primary leads a process group of its own (with its workers), as a shell's foreground job does. */
  constructor (env: NodeJS.ProcessEnv, readonly detached = false) {
    this.child = spawn(process.execPath, entryArgs('server'), { cwd: repoRoot, env, stdio: 'pipe', detached })
    this.child.stdin.end()
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => { this.stdout += chunk })
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk })
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => { this.exit = { code, signal }; resolve(this.exit) })
    })
  }

  get pid (): number { return this.child.pid as number }

  logLines (): LogLine[] {
    const lines: LogLine[] = []
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue
      try { lines.push(JSON.parse(line) as LogLine) } catch {}
    }
    return lines
  }

  get output (): string { return `stdout:\n${this.stdout}\nstderr:\n${this.stderr}` }

  /** Waits for the exit; SIGKILLs and rejects after `timeoutMs`. */
  async waitForExit (timeoutMs: number) {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL')
        reject(new Error(`the server did not exit within ${timeoutMs} ms\n${this.output}`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Teardown: SIGKILL the primary and any worker still alive (by pid, only ones it forked). */
  async kill (): Promise<void> {
    if (this.exit === undefined) {
      if (this.detached) { try { process.kill(-this.pid, 'SIGKILL') } catch {} } // its own group: the primary and its workers
      this.child.kill('SIGKILL')
      await this.waitForExit(5_000).catch(() => {})
    }
    for (const pid of this.workerPids) {
      if (alive(pid)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    }
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}

/** The parent pid of a process, from /proc (Linux only; undefined elsewhere). */
function parentPid (pid: number): number | undefined {
  const stat = `/proc/${pid}/stat`
  if (!existsSync(stat)) return undefined
  // "pid (comm) state ppid ...": comm may contain spaces, so split after its closing paren.
  const text = readFileSync(stat, 'utf8')
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1])
}

interface Reply { status: number, body: string }

/** One request on a fresh connection (no keep-alive, no pooling), bounded by REQUEST_LIMIT_MS. */
async function request (port: number, method: string, path: string, opts: { headers?: Record<string, string>, body?: string } = {}): Promise<Reply> {
  return await new Promise<Reply>((resolve, reject) => {
    const headers: Record<string, string> = { connection: 'close', ...opts.headers }
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body))
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, body }) })
      res.on('error', (error) => { clearTimeout(timer); reject(error) })
    })
    const timer = setTimeout(() => { req.destroy(new Error(`${method} ${path} timed out after ${REQUEST_LIMIT_MS} ms`)) }, REQUEST_LIMIT_MS)
    req.on('error', (error) => { clearTimeout(timer); reject(error) })
    req.end(opts.body)
  })
}

/** GET /health: the pid of the worker that answered. */
async function healthPid (port: number): Promise<number> {
  const reply = await request(port, 'GET', '/health')
  if (reply.status !== 200) throw new Error(`/health: ${reply.status} ${reply.body}`)
  const body = JSON.parse(reply.body) as { status: string, pid: number }
  if (body.status !== 'ok' || !Number.isInteger(body.pid)) throw new Error(`/health: unexpected body ${reply.body}`)
  return body.pid
}

/**
 * Polls /health on fresh connections until `done(pidsSeen)` holds; connection errors (not
 * listening yet, a worker just killed) are retried. Rejects after `timeoutMs` or if the server exits.
 */
async function pollHealth (cluster: Cluster, port: number, what: string, done: (seen: number[]) => boolean, timeoutMs: number): Promise<number[]> {
  const seen: number[] = []
  const errors: string[] = []
  const started = Date.now()
  while (!done(seen)) {
    if (cluster.exit !== undefined) throw new Error(`the server exited (${JSON.stringify(cluster.exit)}) before ${what}\n${cluster.output}`)
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; pids seen: ${JSON.stringify(seen)}; last errors: ${errors.slice(-3).join('; ')}\n${cluster.output}`)
    }
    try {
      const pid = await healthPid(port)
      seen.push(pid)
      cluster.workerPids.add(pid)
    } catch (error) {
      errors.push(String(error))
      await sleep(100)
    }
  }
  return seen
}

/** Waits until a log line matches; rejects after `timeoutMs`. */
async function waitForLog (cluster: Cluster, what: string, predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
  const started = Date.now()
  for (;;) {
    const line = cluster.logLines().find(predicate)
    if (line !== undefined) return line
    if (cluster.exit !== undefined) throw new Error(`the server exited (${JSON.stringify(cluster.exit)}) before ${what}\n${cluster.output}`)
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${cluster.output}`)
    await sleep(50)
  }
}

/** The worker pids whose access log shows `method url` answered with `status` (pino's request/response lines, joined by reqId per pid). */
function pidsThatAnswered (cluster: Cluster, method: string, url: string, status: number): Set<number> {
  const lines = cluster.logLines()
  const requests = new Set<string>()
  for (const line of lines) {
    const req = line.req as { method?: string, url?: string } | undefined
    if (line.msg === 'incoming request' && req?.method === method && req.url === url) requests.add(`${String(line.pid)}/${String(line.reqId)}`)
  }
  const pids = new Set<number>()
  for (const line of lines) {
    const res = line.res as { statusCode?: number } | undefined
    if (line.msg === 'request completed' && res?.statusCode === status && requests.has(`${String(line.pid)}/${String(line.reqId)}`)) pids.add(line.pid as number)
  }
  return pids
}

function clusterEnv (dir: string, port: number): NodeJS.ProcessEnv {
  return cleanEnv({
    HOST: '127.0.0.1',
    PORT: String(port),
    WORKERS: '2',
    DATABASE_URL: `sqlite:${join(dir, 'app.db')}`,
    BCRYPT_COST: '4',
    JWT_SECRET: randomBytes(48).toString('base64'),
    LOG_LEVEL: 'info'
  })
}

const roundRobin = process.platform !== 'win32' // node's cluster default: SCHED_RR everywhere but Windows

t.test('WORKERS=2: two workers share the port and a token, a killed worker is replaced, SIGTERM stops them all', async (t) => {
  const dir = await tempDir(t)
  const port = await freePort()
  const cluster = new Cluster(clusterEnv(dir, port))
  t.teardown(async () => { await cluster.kill() })
  const primary = cluster.pid

  // 1. Two workers answer, neither is the primary.
  const seen = await pollHealth(cluster, port, 'two distinct workers to answer /health', (pids) => new Set(pids).size >= 2, START_LIMIT_MS)
  const workers = [...new Set(seen)]
  t.equal(workers.length, 2, `two worker pids answered: ${workers.join(', ')}`)
  const [first, second] = workers as [number, number]
  t.notOk(workers.includes(primary), `the workers are not the primary (${primary})`)
  for (const pid of workers) {
    const ppid = parentPid(pid)
    if (ppid !== undefined) t.equal(ppid, primary, `worker ${pid} is a child of the primary`)
  }
  const starting = cluster.logLines().find((line) => line.msg === 'starting workers')
  t.match(starting, { pid: primary, workers: 2 }, 'the primary logged "starting workers" with workers: 2')
  for (const pid of workers) {
    await waitForLog(cluster, `"worker listening" for ${pid}`, (line) => line.msg === 'worker listening' && line.worker === pid && line.pid === primary)
  }

  const spread = await pollHealth(cluster, port, 'ten more /health answers', (pids) => pids.length >= 10, REQUEST_LIMIT_MS * 2)
  t.ok(spread.every((pid) => workers.includes(pid)), 'only the two workers answer', { spread })
  if (roundRobin) {
    t.ok(spread.includes(first) && spread.includes(second), `round-robin: both workers got some of ten fresh connections (${spread.join(' ')})`)
  }

  // 2. One account, registered and logged in through whichever worker; its token works everywhere.
  const username = `worker_user_${randomBytes(3).toString('hex')}`
  const password = `pw-${randomBytes(12).toString('base64url')}`
  const registered = await request(port, 'POST', '/users/', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password })
  })
  t.equal(registered.status, 201, 'registered', { body: registered.body })
  const login = await request(port, 'POST', '/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString()
  })
  t.equal(login.status, 200, 'logged in', { body: login.body })
  const accessToken = (JSON.parse(login.body) as { access_token: string }).access_token
  const auth = { authorization: `Bearer ${accessToken}` }

  const meTen = async (label: string) => {
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) {
      const me = await request(port, 'GET', '/users/me/', { headers: auth })
      statuses.push(me.status)
      if (me.status === 200) t.equal((JSON.parse(me.body) as { username: string }).username, username, `${label} #${i + 1}: the right user`)
    }
    t.same(statuses, Array(10).fill(200), `${label}: ten consecutive fresh-connection GET /users/me/ all 200`)
  }
  await meTen('before the kill')
  if (roundRobin) {
    // The access log shows which worker answered each request: both verified the one token.
    const answered = await pollUntil(() => pidsThatAnswered(cluster, 'GET', '/users/me/', 200), (pids) => workers.every((pid) => pids.has(pid)))
    t.ok(workers.every((pid) => answered.has(pid)), `both workers accepted the token (access log: ${[...answered].join(', ')})`)
  }

  // 3. SIGKILL one worker: the primary logs it and forks a replacement; the dead one never answers again.
  const victim = first
  const survivor = second
  process.kill(victim, 'SIGKILL')
  const died = await waitForLog(cluster, '"worker died" for the killed worker',
    (line) => typeof line.msg === 'string' && /worker died/.test(line.msg) && line.worker === victim, REPLACEMENT_LIMIT_MS)
  t.match(died, { pid: primary, worker: victim, signal: 'SIGKILL' }, 'the primary logged "worker died" with the pid and the signal')
  t.equal(died.level, 40, 'at warn level')

  const afterKill = await pollHealth(cluster, port, 'a replacement worker to answer /health',
    (pids) => pids.some((pid) => !workers.includes(pid)), REPLACEMENT_LIMIT_MS)
  const replacement = afterKill.find((pid) => !workers.includes(pid)) as number
  t.ok(replacement !== undefined && replacement !== primary, `a new worker answers: ${replacement}`)
  const replacementParent = parentPid(replacement)
  if (replacementParent !== undefined) t.equal(replacementParent, primary, 'the replacement is a child of the primary')
  t.notOk(afterKill.includes(victim), 'the killed worker never answered after the kill', { afterKill })
  t.notOk(alive(victim), 'the killed worker is gone (ESRCH)')

  const spreadAfter = await pollHealth(cluster, port, 'ten /health answers after the replacement', (pids) => pids.length >= 10, REQUEST_LIMIT_MS * 2)
  t.notOk(spreadAfter.includes(victim), 'still never the killed worker', { spreadAfter })
  t.ok(spreadAfter.every((pid) => pid === survivor || pid === replacement), 'only the survivor and the replacement answer', { spreadAfter })
  if (roundRobin) {
    t.ok(spreadAfter.includes(survivor) && spreadAfter.includes(replacement), `round-robin again over survivor and replacement (${spreadAfter.join(' ')})`)
  }
  await meTen('after the replacement')
  if (roundRobin) {
    const answered = await pollUntil(() => pidsThatAnswered(cluster, 'GET', '/users/me/', 200), (pids) => pids.has(replacement))
    t.ok(answered.has(replacement), 'the replacement accepts the token issued before it existed')
  }

  // 4. SIGTERM to the primary: it stops its workers, exits 0, and leaves no worker behind.
  const everyWorker = [...cluster.workerPids]
  t.same(new Set(everyWorker), new Set([first, second, replacement]), 'three worker pids in all')
  process.kill(primary, 'SIGTERM')
  const exit = await cluster.waitForExit(EXIT_LIMIT_MS)
  t.same(exit, { code: 0, signal: null }, 'the primary exits with code 0', { output: cluster.output })
  for (const pid of everyWorker) t.notOk(alive(pid), `worker ${pid} is gone (ESRCH)`)

  // 5. The start-up hints were said once, by the primary, not by each of three workers.
  for (const hint of [/^No users yet: /, /^API docs at http:\/\/127\.0\.0\.1:\d+\/docs$/]) {
    const lines = cluster.logLines().filter((line) => typeof line.msg === 'string' && hint.test(line.msg))
    t.equal(lines.length, 1, `${String(hint)}: logged once`, { lines })
    t.equal(lines[0]?.pid, primary, 'by the primary')
  }
  const messages = cluster.logLines().filter((line) => line.pid === primary).map((line) => line.msg)
  t.ok(messages.includes('stopping workers'), 'the primary logged "stopping workers"')
  t.ok(messages.includes('all workers stopped'), 'the primary logged "all workers stopped"')
  t.notMatch(cluster.logLines().find((line) => line.pid === primary && line.msg === 'all workers stopped'), { failed: true },
    'and no worker failed to stop cleanly')
  t.notOk(messages.includes('workers did not stop in time; killing them'), 'no worker had to be killed')
  for (const pid of [survivor, replacement]) {
    t.ok(cluster.logLines().some((line) => line.pid === pid && line.msg === 'closing'), `worker ${pid} closed gracefully`)
  }
  t.notMatch(cluster.stderr, /Error|error/, 'nothing on stderr looks like an error', { stderr: cluster.stderr })
})

t.test('Ctrl-C (SIGINT to the whole process group) with a request in flight: it completes, everything exits 0', async (t) => {
  const dir = await tempDir(t)
  const port = await freePort()
  const cluster = new Cluster(clusterEnv(dir, port), true)
  t.teardown(async () => { await cluster.kill() })
  const primary = cluster.pid
  const seen = await pollHealth(cluster, port, 'two distinct workers to answer /health', (pids) => new Set(pids).size >= 2, START_LIMIT_MS)
  const workers = [...new Set(seen)]

  // A registration whose body is only half sent: in flight on one of the workers until we finish it.
  const body = JSON.stringify({ username: 'inflight', password: `pw-${randomBytes(12).toString('base64url')}` })
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  let raw = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => { raw += chunk })
  const ended = new Promise<void>((resolve) => { socket.on('close', () => { resolve() }) })
  socket.on('error', () => {})
  socket.write(`POST /users/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`)
  const arrived = await waitForLog(cluster, 'the half-sent registration to arrive at a worker', (line) =>
    line.msg === 'incoming request' && (line.req as { url?: string } | undefined)?.url === '/users/')
  const busy = arrived.pid as number
  t.ok(workers.includes(busy), `worker ${busy} holds the request`)

  // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group at once.
  process.kill(-primary, 'SIGINT')
  await waitForLog(cluster, 'the primary to start stopping its workers', (line) => line.pid === primary && line.msg === 'stopping workers')
  await waitForLog(cluster, `worker ${busy} to start closing`, (line) => line.pid === busy && line.msg === 'closing')
  t.equal(cluster.exit, undefined, 'still running while the request is in flight')
  t.ok(alive(busy), 'the busy worker waits for its request')

  socket.write(body.slice(10))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([ended, new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no complete response within ${REQUEST_LIMIT_MS} ms: ${JSON.stringify(raw)}\n${cluster.output}`)) }, REQUEST_LIMIT_MS)
  })]).finally(() => { clearTimeout(timer) })
  const [head = ''] = raw.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 201 /, 'the in-flight registration completed with 201', { raw })
  // (`ended` above resolved: once answered, the server closed the connection rather than keeping it alive.)

  const exit = await cluster.waitForExit(EXIT_LIMIT_MS)
  t.same(exit, { code: 0, signal: null }, 'the primary exits with code 0', { output: cluster.output })
  for (const pid of workers) t.notOk(alive(pid), `worker ${pid} is gone (ESRCH)`)
  t.notMatch(cluster.output, /second SIG|killed by timeout|did not stop in time/, 'no worker was cut short by a second signal or a timeout')
  t.match(cluster.logLines().find((line) => line.pid === primary && line.msg === 'stopping workers'), { signal: 'SIGINT' })
  for (const pid of workers) {
    t.match(cluster.logLines().find((line) => line.pid === pid && line.msg === 'closing'), { signal: 'SIGTERM' },
      `worker ${pid} closed once, on the primary's SIGTERM (it leaves SIGINT to the primary)`)
  }
})

t.test('WORKERS=2 while the port is taken: the primary keeps restarting its workers, and they serve once it is free', async (t) => {
  const dir = await tempDir(t)
  const port = await freePort()
  const squatter = createServer()
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve))
  t.teardown(() => { squatter.close() })
  const cluster = new Cluster(clusterEnv(dir, port))
  t.teardown(async () => { await cluster.kill() })

  // Every worker fails to listen (EADDRINUSE), so at moments none is alive at all.
  const died = (line: LogLine) => line.pid === cluster.pid && line.msg === 'worker died; starting a replacement'
  await waitForLog(cluster, 'four worker deaths', () => cluster.logLines().filter(died).length >= 4, START_LIMIT_MS)
  t.equal(cluster.exit, undefined, 'the primary is still running')
  const delays = cluster.logLines().filter(died).map((line) => line.restartInMs as number)
  t.ok(delays.some((delay) => delay >= 500), `restarts back off (${delays.join(', ')} ms)`)

  await new Promise<void>((resolve) => squatter.close(() => { resolve() }))
  const seen = await pollHealth(cluster, port, 'workers to answer once the port is free', (pids) => pids.length >= 1, REPLACEMENT_LIMIT_MS)
  t.notOk(seen.includes(cluster.pid), 'a worker answers /health')
  cluster.child.kill('SIGTERM')
  t.same(await cluster.waitForExit(EXIT_LIMIT_MS), { code: 0, signal: null }, 'SIGTERM then stops everything with code 0', { output: cluster.output })
})

t.test('WORKERS=2 with an in-memory SQLite database is refused at start-up', async (t) => {
  const port = await freePort()
  const cluster = new Cluster(cleanEnv({
    HOST: '127.0.0.1',
    PORT: String(port),
    WORKERS: '2',
    DATABASE_URL: 'sqlite::memory:',
    BCRYPT_COST: '4',
    JWT_SECRET: randomBytes(48).toString('base64'),
    LOG_LEVEL: 'info'
  }))
  t.teardown(async () => { await cluster.kill() })
  const exit = await cluster.waitForExit(EXIT_LIMIT_MS)
  t.same(exit, { code: 1, signal: null }, 'exits with code 1', { output: cluster.output })
  t.match(cluster.stderr, /WORKERS/, 'stderr names WORKERS')
  t.match(cluster.stderr, /in-memory/, 'and says why')
  t.notMatch(cluster.stdout, /starting workers|Server listening/, 'no worker was started')
})

/** Re-evaluates `get` until `done` holds or 5 s pass (log lines can trail the responses by a moment); returns the last value. */
async function pollUntil<T> (get: () => T, done: (value: T) => boolean): Promise<T> {
  const started = Date.now()
  let value = get()
  while (!done(value) && Date.now() - started < 5_000) {
    await sleep(50)
    value = get()
  }
  return value
}
