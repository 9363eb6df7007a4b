import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, startCommand, stopProcess, waitForStatus } from '../test/support/harness.js'
import type { AlternateOptions, AlternateResult, LoadOptions, LoadResult, Slice } from './load.js'
import type { RefreshLoadOptions, RefreshLoadResult } from './refresh-load.js'
import type { SigningOptions, SigningResult } from './signing.js'
import { rssMb } from './proc.js'

// `npm run bench`: measures the service against the ceiling of a bare Fastify route and
// against raw bcrypt, on this machine, in one run, and reports ratios. Servers run in their own
// processes on 127.0.0.1 with a temporary SQLite database; the load generator runs in another
// process; every phase is bounded in time. `--quick` shortens every phase.

const quick = process.argv.includes('--quick')
// `--hot-path`: phases 1 (at warn) and 2b only, the figures each speed trick is measured by.
const hotPathOnly = process.argv.includes('--hot-path')
const DURATION = quick ? 3 : 10
const WARMUP = quick ? 1 : 2
// Phases 1–2 alternate between the ceiling and /users/me/ in many short slices, from one load
// generator: this machine's speed drifts by a third within seconds, and two slices taken back to
// back see the same drift.
const ROUNDS = quick ? 5 : 15
const SLICE_SECONDS = quick ? 1 : 2
const ROUND_WARMUP = 1
// Phase 3 alternates /token with raw bcrypt the same way.
const TOKEN_ROUNDS = quick ? 2 : 4
const TOKEN_ROUND_DURATION = quick ? 3 : 5
// Phase 5 alternates between one process and WORKERS=2 the same way.
const WORKER_ROUNDS = quick ? 3 : 7
const WORKER_SLICE_SECONDS = quick ? 2 : 3
// The headline compares both servers at `warn`: no log line per request on either side. The
// second framing keeps the service's default, `info`, for both: two log lines per request.
const QUIET_LEVEL = 'warn'
const LOG_LEVEL = 'info'
const REFRESH_LOOPS = 16
const BCRYPT_COST = 10
const TOKEN_CONNECTIONS = 8
const ME_CONNECTIONS = 50
const PROBE_CONNECTIONS = 10
// Phase 2c: access tokens issued per algorithm, alternating in rounds of this many ms each.
const SIGNING_ROUNDS = quick ? 3 : 9
const SIGNING_SLICE_MS = quick ? 300 : 1000

const repo = new URL('..', import.meta.url).pathname
// The service runs exactly as `npm start` runs it (its node flags included), and the ceiling
// with the same flags.
const startArgs = startCommand()
const nodeFlags = startArgs.filter((arg) => arg.startsWith('--'))
// The ceiling is compiled to plain JavaScript beside the build (its imports resolve to dist/src),
// so that it runs without the TypeScript loader, like the service.
const CEILING_SCRIPT = 'dist/bench/ceiling.js'
const canPin = existsSync('/usr/bin/taskset') && availableParallelism() >= 2
const SERVER_CORE = '0'
const LOAD_CORE = '1'
const BOTH_CORES = `${SERVER_CORE},${LOAD_CORE}`

interface Server {
  child: ChildProcess
  url: string
  stop: () => Promise<void>
}

function pinned (core: string | undefined, command: string, args: string[]): [string, string[]] {
  return core !== undefined && canPin ? ['taskset', ['-c', core, command, ...args]] : [command, args]
}

async function startServer (script: string[], env: Record<string, string>, core?: string): Promise<Server & { startupMs: number }> {
  const port = await freePort()
  const started = performance.now()
  const [command, args] = pinned(core, process.execPath, script)
  const child = spawn(command, args, {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '', ENV_FILE: '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL, ...env },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const url = `http://127.0.0.1:${port}`
  const probe = script.includes(CEILING_SCRIPT) ? '/ceiling' : '/health'
  await waitForStatus(url + probe, { timeoutMs: 30_000, child })
  const startupMs = performance.now() - started
  return {
    child,
    url,
    startupMs,
    async stop () { await stopProcess(child) }
  }
}

type LoadRequest = Omit<LoadOptions, 'duration' | 'warmup'> & Partial<Pick<LoadOptions, 'duration' | 'warmup'>>

async function load (opts: LoadRequest, core?: string): Promise<LoadResult> {
  const full: LoadOptions = { duration: DURATION, warmup: WARMUP, ...opts }
  const result = await generate<LoadResult>(full, (full.duration + full.warmup + 60) * 1000, core)
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`load on ${opts.url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`)
  }
  return result
}

/** Phases 1–2: the targets in alternating slices, each slice with its server's CPU per request. */
async function alternate (opts: AlternateOptions, core?: string): Promise<AlternateResult> {
  const seconds = opts.targets.length * (opts.warmup + opts.rounds * opts.sliceSeconds)
  const slices = await generate<AlternateResult>(opts, (seconds + 60) * 1000, core)
  for (const [i, target] of opts.targets.entries()) {
    const bad = (slices[i] ?? []).filter((slice) => slice.non2xx > 0 || slice.errors > 0)
    if (bad.length > 0) throw new Error(`load on ${target.url}: non-2xx answers or errors in ${bad.length} slices`)
  }
  return slices
}

/** Runs bench/load.ts in its own process (pinned to `core` if given) and returns what it printed. */
async function generate<T> (opts: LoadOptions | AlternateOptions, timeoutMs: number, core?: string): Promise<T> {
  const [command, args] = pinned(core, process.execPath, ['--import', 'tsx', 'bench/load.ts', JSON.stringify(opts)])
  const child = spawn(command, args, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  await new Promise((resolve) => child.once('exit', resolve))
  clearTimeout(timer)
  return JSON.parse(out.trim().split('\n').at(-1) ?? 'null') as T
}

/** Samples a process's resident memory until stopped; returns the peak in MB. */
function watchRss (pid: number) {
  let peak = 0
  const timer = setInterval(() => { try { peak = Math.max(peak, rssMb(pid)) } catch {} }, 100)
  return { stop: () => { clearInterval(timer); return peak } }
}

function medianOf (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length / 2
  return Number.isInteger(middle) ? ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2 : sorted[Math.floor(middle)] as number
}

/** The round at the median by req/s (the lower middle one for an even count). */
function median<R extends { requestsPerSecond: number }> (rounds: R[]): R {
  return [...rounds].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor((rounds.length - 1) / 2)] as R
}

async function bcryptCapacity (seconds: number): Promise<number> {
  // On the cores the service has in phase 3, no more.
  const [command, args] = pinned(BOTH_CORES, process.execPath, ['--import', 'tsx', 'bench/bcrypt-capacity.ts', String(BCRYPT_COST), String(TOKEN_CONNECTIONS), String(seconds)])
  const out = execFileSync(command, args, { cwd: repo, timeout: (seconds + 60) * 1000 }).toString()
  return (JSON.parse(out) as { verifiesPerSecond: number }).verifiesPerSecond
}

async function setUpUser (url: string): Promise<{ token: string, form: string }> {
  const password = 'bench-password'
  const register = await fetch(`${url}/users/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'bench', password })
  })
  if (register.status !== 201 && register.status !== 409) throw new Error(`registration failed: ${register.status}`)
  const form = new URLSearchParams({ username: 'bench', password }).toString()
  const login = await fetch(`${url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form })
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`)
  return { token: ((await login.json()) as { access_token: string }).access_token, form }
}

const round = (n: number, digits = 0) => Number(n.toFixed(digits))
const pct = (n: number) => `${(n * 100).toFixed(1)} %`

async function main () {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'inherit' })
  for (const [source, outfile] of [['bench/ceiling.ts', CEILING_SCRIPT]] as const) {
    execFileSync(join(repo, 'node_modules', '.bin', 'esbuild'), [source, `--outfile=${outfile}`, '--format=esm', '--platform=node', '--log-level=warning'],
      { cwd: repo, stdio: 'inherit' })
  }
  const dir = await mkdtemp(join(tmpdir(), 'bench-'))
  const servers: Server[] = []
  try {
    const env = (extra: Record<string, string> = {}) => ({
      DATABASE_URL: `sqlite:${join(dir, 'app.db')}`,
      JWT_SECRET: randomBytes(48).toString('base64url'),
      BCRYPT_COST: String(BCRYPT_COST),
      // The load generator is one client address: its limits are off, and so is the login
      // backoff, which lets one address have two passwords checked at a time.
      RATE_LIMIT_TOKEN: 'off',
      LOGIN_BACKOFF_AFTER: '0',
      RATE_LIMIT_REGISTRATION: 'off',
      RATE_LIMIT_REVOKE: 'off',
      RATE_LIMIT_PASSWORD_CHANGE: 'off',
      // Phase 4's logins would otherwise evict the probe's session (the oldest) past the cap.
      MAX_SESSIONS_PER_USER: '10000',
      ...extra
    })
    const service = startArgs
    const placement = canPin
      ? `server pinned to core ${SERVER_CORE}, load generator to core ${LOAD_CORE} (taskset)`
      : 'unpinned (taskset missing or a single core)'
    process.stderr.write(`bench: ${quick ? 'quick' : 'full'} run, ${DURATION} s per phase after ${WARMUP} s warm-up\n`)

    // 1 and 2. The ceiling and GET /users/me/, both servers pinned to one core and the generator
    // to the other, measured in alternating slices so that drift in this machine's speed falls
    // on both alike. Once with both at `warn` (the headline: nothing logged per request), once
    // with both at `info` (two log lines per request, which narrows the gap).
    // With `es256`, a third server signing with ES256 (JWT_ALGORITHM) takes its slices beside the
    // other two: the same /users/me/ with a token of another algorithm, as a ratio to HS256's.
    const pair = async (level: string, database: string, es256 = false) => {
      const ceiling = await startServer([...nodeFlags, CEILING_SCRIPT], { LOG_LEVEL: level }, SERVER_CORE)
      servers.push(ceiling)
      const app = await startServer(service, env({ LOG_LEVEL: level, DATABASE_URL: `sqlite:${join(dir, database)}` }), SERVER_CORE)
      servers.push(app)
      const { token, form } = await setUpUser(app.url)
      const auth = { authorization: `Bearer ${token}` }
      const es = es256 ? await startServer(service, env({ LOG_LEVEL: level, JWT_ALGORITHM: 'ES256', DATABASE_URL: `sqlite:${join(dir, `es256-${database}`)}` }), SERVER_CORE) : undefined
      if (es !== undefined) servers.push(es)
      const esAuth = es === undefined ? undefined : { authorization: `Bearer ${(await setUpUser(es.url)).token}` }
      // The same request bytes as /users/me/ (the ceiling ignores the header), so the two differ
      // only in what the service does with them.
      const [ceilingRounds = [], meRounds = [], esRounds = []] = await alternate({
        targets: [
          { url: `${ceiling.url}/ceiling`, headers: auth, pid: ceiling.child.pid as number },
          { url: `${app.url}/users/me/`, headers: auth, pid: app.child.pid as number },
          ...(es === undefined ? [] : [{ url: `${es.url}/users/me/`, headers: esAuth, pid: es.child.pid as number }])
        ],
        connections: ME_CONNECTIONS,
        rounds: ROUNDS,
        sliceSeconds: SLICE_SECONDS,
        warmup: ROUND_WARMUP
      }, LOAD_CORE)
      await ceiling.stop()
      // Each round's pair ran back to back, so its ratio is the least disturbed by the machine's
      // drift; the reported ratio is the median of the rounds' ratios. The ratio of CPU time per
      // request says the same without the drift, as far as CPU time is unaffected by it.
      const pairedRatios = meRounds.map((r, i) => r.requestsPerSecond / (ceilingRounds[i] as Slice).requestsPerSecond)
      const ceilingCpu = medianOf(ceilingRounds.map((r) => r.cpuMicrosPerRequest))
      const meCpu = medianOf(meRounds.map((r) => r.cpuMicrosPerRequest))
      const esCpu = es === undefined ? undefined : medianOf(esRounds.map((r) => r.cpuMicrosPerRequest))
      const esRatios = esRounds.map((r, i) => r.requestsPerSecond / (meRounds[i] as Slice).requestsPerSecond)
      const result = {
        level,
        app,
        es,
        auth,
        form,
        ceiling: { ...median(ceilingRounds), medianCpuMicrosPerRequest: ceilingCpu, rounds: ceilingRounds.map((r) => r.requestsPerSecond) },
        usersMe: { ...median(meRounds), medianCpuMicrosPerRequest: meCpu, rounds: meRounds.map((r) => r.requestsPerSecond) },
        ratio: medianOf(pairedRatios),
        ratioByCpu: ceilingCpu / meCpu,
        pairedRatios,
        // ES256's /users/me/ against HS256's: rounds paired as above.
        es256: esCpu === undefined ? undefined : { ...median(esRounds), medianCpuMicrosPerRequest: esCpu, rounds: esRounds.map((r) => r.requestsPerSecond), ratioToHs256: medianOf(esRatios), ratioToHs256ByCpu: meCpu / esCpu, pairedRatios: esRatios }
      }
      process.stderr.write(`bench: at ${level}, ceiling ${round(result.ceiling.requestsPerSecond)} req/s, /users/me/ ${round(result.usersMe.requestsPerSecond)} req/s (median of ${ROUNDS})\n`)
      return result
    }
    const quiet = await pair(QUIET_LEVEL, 'app.db', !hotPathOnly)

    // 2b. The refresh grant on the quiet server (no bcrypt on that path): loops of their own
    // sessions, each refreshing with the token the previous answer gave.
    const refreshGrant = async (server: Server): Promise<RefreshLoadResult> => {
      const refreshTokens: string[] = []
      for (let i = 0; i < REFRESH_LOOPS; i++) {
        const login = await fetch(`${server.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: quiet.form })
        refreshTokens.push(((await login.json()) as { refresh_token: string }).refresh_token)
      }
      const refreshOpts: RefreshLoadOptions = { url: `${server.url}/token`, refreshTokens, warmup: WARMUP, duration: DURATION, pid: server.child.pid as number }
      const [refreshCommand, refreshArgs] = pinned(LOAD_CORE, process.execPath, ['--import', 'tsx', 'bench/refresh-load.ts', JSON.stringify(refreshOpts)])
      const result = JSON.parse(execFileSync(refreshCommand, refreshArgs, { cwd: repo, timeout: (DURATION + WARMUP + 60) * 1000 }).toString().trim().split('\n').at(-1) as string) as RefreshLoadResult
      if (result.failures > 0) throw new Error(`refresh grant: ${result.failures} loops failed`)
      return result
    }
    const refreshes = await refreshGrant(quiet.app)
    process.stderr.write(`bench: refresh grant ${round(refreshes.refreshesPerSecond)} refreshes/s, ${round(refreshes.cpuMicrosPerRefresh)} µs server CPU each\n`)
    // The refresh grant with ES256 between two more HS256 runs (fresh sessions each), against
    // their mean: the signing is the only difference on that path.
    let refreshEs256: { es256: RefreshLoadResult, hs256: RefreshLoadResult[], ratio: number, ratioByCpu: number } | undefined
    if (quiet.es !== undefined) {
      const es256 = await refreshGrant(quiet.es)
      const hs256 = [refreshes, await refreshGrant(quiet.app)]
      const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
      refreshEs256 = {
        es256,
        hs256,
        ratio: es256.refreshesPerSecond / mean(hs256.map((r) => r.refreshesPerSecond)),
        ratioByCpu: mean(hs256.map((r) => r.cpuMicrosPerRefresh)) / es256.cpuMicrosPerRefresh
      }
      await quiet.es.stop()
      process.stderr.write(`bench: refresh grant, ES256 ${round(es256.refreshesPerSecond)} refreshes/s, ${round(es256.cpuMicrosPerRefresh)} µs server CPU each\n`)
    }
    await quiet.app.stop()

    // 2c. Signing alone: access tokens issued per second by each algorithm (no server, no bcrypt),
    // on the server's core.
    let signing: SigningResult | undefined
    if (!hotPathOnly) {
      const signingOpts: SigningOptions = { rounds: SIGNING_ROUNDS, sliceMs: SIGNING_SLICE_MS }
      const [signingCommand, signingArgs] = pinned(SERVER_CORE, process.execPath, ['--import', 'tsx', 'bench/signing.ts', JSON.stringify(signingOpts)])
      signing = JSON.parse(execFileSync(signingCommand, signingArgs, { cwd: repo, timeout: 120_000 }).toString().trim().split('\n').at(-1) as string) as SigningResult
      process.stderr.write(`bench: access tokens signed per second: ${Object.entries(signing.tokensPerSecond).map(([alg, n]) => `${alg} ${round(n)}`).join(', ')}\n`)
    }
    if (hotPathOnly) {
      const hotPath = { date: new Date().toISOString(), ratio: quiet.ratio, ratioByCpu: quiet.ratioByCpu, pairedRatios: quiet.pairedRatios, usersMeCpuMicros: quiet.usersMe.medianCpuMicrosPerRequest, ceilingCpuMicros: quiet.ceiling.medianCpuMicrosPerRequest, refreshCpuMicros: refreshes.cpuMicrosPerRefresh, refreshesPerSecond: refreshes.refreshesPerSecond }
      await mkdir(join(repo, 'bench', 'results'), { recursive: true })
      await writeFile(join(repo, 'bench', 'results', 'hot-path.json'), `${JSON.stringify(hotPath, null, 2)}\n`)
      process.stdout.write(`/users/me/ at warn: ${pct(quiet.ratio)} of the ceiling by throughput, ${pct(quiet.ratioByCpu)} by CPU per request ` +
        `(${round(quiet.usersMe.medianCpuMicrosPerRequest, 1)} against ${round(quiet.ceiling.medianCpuMicrosPerRequest, 1)} µs); refresh ${round(refreshes.cpuMicrosPerRefresh)} µs CPU\n`)
      return
    }

    const logged = await pair(LOG_LEVEL, 'app-info.db')
    const { app, auth, form } = logged
    const pid = app.child.pid as number
    const rss = watchRss(pid)

    // 3. POST /token on both cores (bcrypt runs on the thread pool), against raw bcrypt, in
    // alternating rounds.
    if (canPin) execFileSync('taskset', ['-a', '-p', '-c', BOTH_CORES, String(pid)], { stdio: 'ignore' })
    const tokenOpts = { url: `${app.url}/token`, method: 'POST' as const, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form, connections: TOKEN_CONNECTIONS }
    const loginRounds: LoadResult[] = []
    const bcryptRounds: number[] = []
    const measureLogins = async () => {
      loginRounds.push(await load({ ...tokenOpts, duration: TOKEN_ROUND_DURATION, warmup: ROUND_WARMUP, drain: 1 }))
      await sleep(1000) // the logins abandoned at the end of that run finish before anything else is measured
    }
    const measureBcrypt = async () => { bcryptRounds.push(await bcryptCapacity(TOKEN_ROUND_DURATION)) }
    for (let round = 0; round < TOKEN_ROUNDS; round++) {
      // Each goes first in every other round, as in phases 1–2.
      if (round % 2 === 0) { await measureLogins(); await measureBcrypt() } else { await measureBcrypt(); await measureLogins() }
    }
    const logins = { ...median(loginRounds), requestsPerSecond: medianOf(loginRounds.map((r) => r.requestsPerSecond)) }
    const bcrypt = medianOf(bcryptRounds)
    const tokenRatios = loginRounds.map((r, i) => r.requestsPerSecond / (bcryptRounds[i] as number))
    const tokenToBcrypt = medianOf(tokenRatios)
    process.stderr.write(`bench: /token ${round(logins.requestsPerSecond, 1)} logins/s, raw bcrypt ${round(bcrypt, 1)} verifies/s (median of ${TOKEN_ROUNDS})\n`)

    // 4. Mixed: /users/me/ latency while /token is saturated.
    const [mixedMe] = await Promise.all([
      load({ url: `${app.url}/users/me/`, headers: auth, connections: PROBE_CONNECTIONS }),
      load(tokenOpts)
    ])
    const peakRss = rss.stop()
    await app.stop()
    process.stderr.write(`bench: /users/me/ under login load p99 ${mixedMe.latencyMs.p99} ms\n`)

    // 5. Workers: one process against WORKERS=2 (each on a database of its own), both unpinned,
    // sharing the cores with the generator, in alternating slices.
    const targets: AlternateOptions['targets'] = []
    for (const workers of ['1', '2']) {
      const server = await startServer(service, env({ WORKERS: workers, DATABASE_URL: `sqlite:${join(dir, `workers-${workers}.db`)}` }))
      servers.push(server)
      const { token } = await setUpUser(server.url)
      targets.push({ url: `${server.url}/users/me/`, headers: { authorization: `Bearer ${token}` }, pid: server.child.pid as number })
    }
    const [oneSlices = [], twoSlices = []] = await alternate({
      targets, connections: ME_CONNECTIONS, rounds: WORKER_ROUNDS, sliceSeconds: WORKER_SLICE_SECONDS, warmup: ROUND_WARMUP
    })
    // The CPU time counts the workers as well as the primary.
    const scaling = (slices: Slice[]) => ({
      rps: medianOf(slices.map((s) => s.requestsPerSecond)),
      serverCores: medianOf(slices.map((s) => s.requestsPerSecond * s.cpuMicrosPerRequest / 1e6))
    })
    const one = scaling(oneSlices)
    const two = scaling(twoSlices)
    const workersRatio = medianOf(twoSlices.map((s, i) => s.requestsPerSecond / (oneSlices[i] as Slice).requestsPerSecond))
    // Per busy core, a worker serves this many requests; N workers on N free cores serve about N times it.
    const perCore = 1e6 / medianOf(twoSlices.map((s) => s.cpuMicrosPerRequest))
    for (const [workers, { rps, serverCores }] of [['1', one], ['2', two]] as const) {
      process.stderr.write(`bench: WORKERS=${workers} ${round(rps)} req/s using ${serverCores.toFixed(2)} cores (median of ${WORKER_ROUNDS})\n`)
    }

    // 6. Start-up to first 200 (fresh database each time: migrations included), median of three.
    const startups: number[] = []
    for (let i = 0; i < 3; i++) {
      const fresh = await mkdtemp(join(dir, 'startup-'))
      const server = await startServer(service, env({ DATABASE_URL: `sqlite:${join(fresh, 'app.db')}` }))
      startups.push(server.startupMs)
      await server.stop()
    }
    const startupMs = startups.sort((a, b) => a - b)[1] as number

    const framing = ({ app: _app, es: _es, auth: _auth, form: _form, ...rest }: typeof quiet) => rest
    const results = {
      date: new Date().toISOString(),
      mode: quick ? 'quick' : 'full',
      machine: { cores: availableParallelism(), node: process.version, placement },
      settings: { durationSeconds: DURATION, warmupSeconds: WARMUP, logLevels: [QUIET_LEVEL, LOG_LEVEL], bcryptCost: BCRYPT_COST, meConnections: ME_CONNECTIONS, tokenConnections: TOKEN_CONNECTIONS, probeConnections: PROBE_CONNECTIONS, refreshLoops: REFRESH_LOOPS },
      usersMe: { [QUIET_LEVEL]: framing(quiet), [LOG_LEVEL]: framing(logged) },
      refresh: refreshes,
      refreshEs256,
      signing,
      token: { ...logins, rounds: loginRounds.map((r) => r.requestsPerSecond) },
      bcryptVerifiesPerSecond: { median: bcrypt, rounds: bcryptRounds },
      mixed: { usersMe: mixedMe },
      workers: { one, two, ratio: workersRatio, ratioRounds: twoSlices.map((s, i) => s.requestsPerSecond / (oneSlices[i] as Slice).requestsPerSecond), estimatedPerFreeCore: perCore },
      peakRssMb: peakRss,
      startupMs: { median: startupMs, runs: startups },
      ratios: {
        usersMeToCeiling: quiet.ratio,
        usersMeToCeilingByCpu: quiet.ratioByCpu,
        usersMeToCeilingAtInfo: logged.ratio,
        usersMeToCeilingAtInfoByCpu: logged.ratioByCpu,
        tokenToBcrypt,
        tokenToBcryptRounds: tokenRatios,
        usersMeEs256ToHs256: quiet.es256?.ratioToHs256,
        usersMeEs256ToHs256ByCpu: quiet.es256?.ratioToHs256ByCpu,
        refreshEs256ToHs256: refreshEs256?.ratio,
        refreshEs256ToHs256ByCpu: refreshEs256?.ratioByCpu,
        signingToHs256: signing?.ratioToHs256
      }
    }
    await mkdir(join(repo, 'bench', 'results'), { recursive: true })
    await writeFile(join(repo, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`)

    const usersMeRows = (result: typeof quiet, headline: boolean): Array<[string, string, string, string]> => [
      [`Ceiling: bare Fastify JSON route, ${result.level}`, `${round(result.ceiling.requestsPerSecond)} req/s`,
        `p50 ${result.ceiling.latencyMs.p50} ms, p99 ${result.ceiling.latencyMs.p99} ms, ${round(result.ceiling.medianCpuMicrosPerRequest, 1)} µs CPU/req`, `median of ${ROUNDS} slices of ${SLICE_SECONDS} s`],
      [`GET /users/me/, ${result.level}`, `${round(result.usersMe.requestsPerSecond)} req/s`,
        `p50 ${result.usersMe.latencyMs.p50} ms, p99 ${result.usersMe.latencyMs.p99} ms, ${round(result.usersMe.medianCpuMicrosPerRequest, 1)} µs CPU/req`,
        `${pct(result.ratio)} of ceiling${headline ? ` (target ≥ 75 %) ${result.ratio >= 0.75 ? 'MET' : 'MISSED'}` : ''}; pairs ${pct(Math.min(...result.pairedRatios))}–${pct(Math.max(...result.pairedRatios))}; ` +
        `by CPU/req ${pct(result.ratioByCpu)}${headline ? ` (target ≥ 75 %) ${result.ratioByCpu >= 0.75 ? 'MET' : 'MISSED'}` : ''}`]
    ]
    const es = quiet.es256
    const rows: Array<[string, string, string, string]> = [
      ...usersMeRows(quiet, true),
      ...(es === undefined
        ? []
        : [[`GET /users/me/, ES256 tokens, ${quiet.level}`, `${round(es.requestsPerSecond)} req/s`,
            `p50 ${es.latencyMs.p50} ms, p99 ${es.latencyMs.p99} ms, ${round(es.medianCpuMicrosPerRequest, 1)} µs CPU/req`,
            `${pct(es.ratioToHs256)} of HS256's; pairs ${pct(Math.min(...es.pairedRatios))}–${pct(Math.max(...es.pairedRatios))}; by CPU/req ${pct(es.ratioToHs256ByCpu)}`]] as Array<[string, string, string, string]>),
      ['POST /token, refresh grant (SQLite)', `${round(refreshes.refreshesPerSecond)} refreshes/s`, `p50 ${refreshes.latencyMs.p50} ms, p99 ${refreshes.latencyMs.p99} ms`,
        `${round(refreshes.cpuMicrosPerRefresh)} µs server CPU per refresh; ${REFRESH_LOOPS} sessions refreshing in a loop`],
      ...(refreshEs256 === undefined
        ? []
        : [['POST /token, refresh grant, ES256', `${round(refreshEs256.es256.refreshesPerSecond)} refreshes/s`, `p50 ${refreshEs256.es256.latencyMs.p50} ms, p99 ${refreshEs256.es256.latencyMs.p99} ms`,
            `${pct(refreshEs256.ratio)} of HS256's (mean of the runs before and after); by CPU/refresh ${pct(refreshEs256.ratioByCpu)}, ${round(refreshEs256.es256.cpuMicrosPerRefresh)} µs`]] as Array<[string, string, string, string]>),
      ...(signing === undefined
        ? []
        : [['Access tokens signed (issue() alone)', Object.entries(signing.tokensPerSecond).map(([alg, n]) => `${alg} ${round(n)}/s`).join(', '), `median of ${SIGNING_ROUNDS} rounds of ${SIGNING_SLICE_MS} ms`,
            `÷ HS256: ${Object.entries(signing.ratioToHs256).filter(([alg]) => alg !== 'HS256').map(([alg, r]) => `${alg} ${pct(r)}`).join(', ')}`]] as Array<[string, string, string, string]>),
      ...usersMeRows(logged, false),
      [`POST /token (cost ${BCRYPT_COST})`, `${round(logins.requestsPerSecond, 1)} logins/s`, `p50 ${logins.latencyMs.p50} ms, p99 ${logins.latencyMs.p99} ms`,
        `${pct(tokenToBcrypt)} of raw bcrypt ${round(bcrypt, 1)}/s (target ≥ 90 %) ${tokenToBcrypt >= 0.9 ? 'MET' : 'MISSED'}; rounds ${tokenRatios.map(pct).join(', ')}`],
      ['GET /users/me/ while /token saturated', `${round(mixedMe.requestsPerSecond)} req/s`, `p50 ${mixedMe.latencyMs.p50} ms, p99 ${mixedMe.latencyMs.p99} ms`,
        `p99 target < 25 ms ${mixedMe.latencyMs.p99 < 25 ? 'MET' : 'MISSED'}`],
      ['GET /users/me/, WORKERS=1 → 2 (unpinned)', `${round(one.rps)} → ${round(two.rps)} req/s`, `server used ${one.serverCores.toFixed(2)} → ${two.serverCores.toFixed(2)} cores`,
        `×${results.workers.ratio.toFixed(2)} (target > 1) ${results.workers.ratio > 1 ? 'MET' : 'MISSED'}; ≈ ${round(perCore)} req/s per free core`],
      ['Peak RSS, service, phases 2–4', `${peakRss.toFixed(0)} MB`, '', `target < 150 MB ${peakRss < 150 ? 'MET' : 'MISSED'}`],
      ['Start-up to first 200', `${startupMs.toFixed(0)} ms`, `runs ${startups.map((s) => s.toFixed(0)).join(', ')} ms`, `target < 1000 ms ${startupMs < 1000 ? 'MET' : 'MISSED'}`]
    ]
    const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)))
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`
    process.stdout.write(`\nPlacement (phases 1–2): ${placement}; phases 3–5 unpinned.\n\n`)
    process.stdout.write(`${line(['Phase', 'Result', 'Latency / detail', 'Ratio and target'])}\n`)
    process.stdout.write(`${line(widths.map((w) => '-'.repeat(w)))}\n`)
    for (const row of rows) process.stdout.write(`${line(row)}\n`)
    process.stdout.write('\nWritten to bench/results/latest.json\n')
  } finally {
    for (const server of servers) await server.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
