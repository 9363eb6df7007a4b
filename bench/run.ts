import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '../test/support/postgres.js'
import type { AlternateOptions, AlternateResult, LoadOptions, LoadResult, Slice } from './load.js'
import { rssMb } from './proc.js'

// `npm run bench`: measures the service against the ceiling of a bare Fastify route and
// against raw bcrypt, on this machine, in one run, and reports ratios. Servers run in their own
// processes on 127.0.0.1 with a temporary SQLite database; the load generator runs in another
// process; every phase is bounded in time. `--quick` shortens every phase.

const quick = process.argv.includes('--quick')
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
const LOG_LEVEL = 'info' // the service's default, so the ceiling logs the same way
const BCRYPT_COST = 10
const TOKEN_CONNECTIONS = 8
const ME_CONNECTIONS = 50
const PROBE_CONNECTIONS = 10

const repo = new URL('..', import.meta.url).pathname
// The service runs exactly as `npm start` runs it (its node flags included), and the ceiling
// with the same flags.
const startScript = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
const [, ...startArgs] = startScript.replace(/^exec\s+/, '').split(/\s+/)
const nodeFlags = startArgs.filter((arg) => arg.startsWith('--'))
// The ceiling is compiled to plain JavaScript beside the build (its imports resolve to dist/src),
// so that it runs without the TypeScript loader, like the service.
const CEILING_SCRIPT = 'dist/bench/ceiling.js'
// The plugin on the built-in store with and without its private lookup, compiled the same way.
const STORE_LOOKUP_SCRIPT = 'dist/bench/store-lookup.js'
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

async function waitFor200 (url: string, timeoutMs: number): Promise<number> {
  const started = performance.now()
  while (performance.now() - started < timeoutMs) {
    try {
      if ((await fetch(url)).status === 200) return performance.now() - started
    } catch {}
    await sleep(5)
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`)
}

async function startServer (script: string[], env: Record<string, string>, core?: string): Promise<Server & { startupMs: number }> {
  const port = await freePort()
  const started = performance.now()
  const [command, args] = pinned(core, process.execPath, script)
  const child = spawn(command, args, {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL, ...env },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const url = `http://127.0.0.1:${port}`
  const probe = script.includes(CEILING_SCRIPT) ? '/ceiling' : '/health'
  await waitFor200(url + probe, 30_000)
  const startupMs = performance.now() - started
  return {
    child,
    url,
    startupMs,
    async stop () {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(20_000).then(() => child.kill('SIGKILL'))])
    }
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
  for (const [source, outfile] of [['bench/ceiling.ts', CEILING_SCRIPT], ['bench/store-lookup.ts', STORE_LOOKUP_SCRIPT]] as const) {
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
      ...extra
    })
    const service = startArgs
    const placement = canPin
      ? `server pinned to core ${SERVER_CORE}, load generator to core ${LOAD_CORE} (taskset)`
      : 'unpinned (taskset missing or a single core)'
    process.stderr.write(`bench: ${quick ? 'quick' : 'full'} run, ${DURATION} s per phase after ${WARMUP} s warm-up\n`)

    // 1 and 2. The ceiling and GET /users/me/, both servers pinned to one core and the generator
    // to the other, measured in alternating slices so that drift in this machine's speed falls
    // on both alike; each is reported as its median slice.
    const ceiling = await startServer([...nodeFlags, CEILING_SCRIPT], { LOG_LEVEL }, SERVER_CORE)
    servers.push(ceiling)
    const app = await startServer(service, env(), SERVER_CORE)
    servers.push(app)
    const pid = app.child.pid as number
    const rss = watchRss(pid)
    const { token, form } = await setUpUser(app.url)
    const auth = { authorization: `Bearer ${token}` }
    // The same request bytes as /users/me/ (the ceiling ignores the header), so the two differ
    // only in what the service does with them.
    const [ceilingRounds = [], meRounds = []] = await alternate({
      targets: [{ url: `${ceiling.url}/ceiling`, headers: auth, pid: ceiling.child.pid as number }, { url: `${app.url}/users/me/`, headers: auth, pid }],
      connections: ME_CONNECTIONS,
      rounds: ROUNDS,
      sliceSeconds: SLICE_SECONDS,
      warmup: ROUND_WARMUP
    }, LOAD_CORE)
    await ceiling.stop()
    const ceilingLoad = median(ceilingRounds)
    const me = median(meRounds)
    // Each round's pair ran back to back, so its ratio is the least disturbed by the machine's
    // drift; the reported ratio is the median of the rounds' ratios. The ratio of CPU time per
    // request says the same without the drift, as far as CPU time is unaffected by it.
    const pairedRatios = meRounds.map((r, i) => r.requestsPerSecond / (ceilingRounds[i] as Slice).requestsPerSecond)
    const meToCeiling = medianOf(pairedRatios)
    const ceilingCpu = medianOf(ceilingRounds.map((r) => r.cpuMicrosPerRequest))
    const meCpu = medianOf(meRounds.map((r) => r.cpuMicrosPerRequest))
    const cpuRatio = ceilingCpu / meCpu
    process.stderr.write(`bench: ceiling ${round(ceilingLoad.requestsPerSecond)} req/s, /users/me/ ${round(me.requestsPerSecond)} req/s (median of ${ROUNDS})\n`)

    // 2b. What the built-in store's private lookup buys: the plugin with and without it, both
    // pinned to the server's core, in alternating slices.
    const lookupServers: Server[] = []
    for (const variant of ['private', 'public']) {
      const server = await startServer([...nodeFlags, STORE_LOOKUP_SCRIPT, variant], env({ DATABASE_URL: `sqlite:${join(dir, `lookup-${variant}.db`)}` }), SERVER_CORE)
      servers.push(server)
      lookupServers.push(server)
    }
    const lookupTargets: AlternateOptions['targets'] = []
    for (const server of lookupServers) {
      const { token } = await setUpUser(server.url)
      lookupTargets.push({ url: `${server.url}/users/me/`, headers: { authorization: `Bearer ${token}` }, pid: server.child.pid as number })
    }
    const [privateSlices = [], publicSlices = []] = await alternate({
      targets: lookupTargets, connections: ME_CONNECTIONS, rounds: ROUNDS, sliceSeconds: SLICE_SECONDS, warmup: ROUND_WARMUP
    }, LOAD_CORE)
    for (const server of lookupServers) await server.stop()
    const lookupRatio = medianOf(privateSlices.map((s, i) => s.requestsPerSecond / (publicSlices[i] as Slice).requestsPerSecond))
    const lookupCpuRatio = medianOf(publicSlices.map((s) => s.cpuMicrosPerRequest)) / medianOf(privateSlices.map((s) => s.cpuMicrosPerRequest))
    const privateLookup = median(privateSlices)
    const publicLookup = median(publicSlices)
    process.stderr.write(`bench: private lookup ${round(privateLookup.requestsPerSecond)} req/s, through findByUsername ${round(publicLookup.requestsPerSecond)} req/s (median of ${ROUNDS})\n`)

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

    const results = {
      date: new Date().toISOString(),
      mode: quick ? 'quick' : 'full',
      machine: { cores: availableParallelism(), node: process.version, placement },
      settings: { durationSeconds: DURATION, warmupSeconds: WARMUP, logLevel: LOG_LEVEL, bcryptCost: BCRYPT_COST, meConnections: ME_CONNECTIONS, tokenConnections: TOKEN_CONNECTIONS, probeConnections: PROBE_CONNECTIONS },
      ceiling: { ...ceilingLoad, medianCpuMicrosPerRequest: ceilingCpu, rounds: ceilingRounds.map((r) => r.requestsPerSecond) },
      usersMe: { ...me, medianCpuMicrosPerRequest: meCpu, rounds: meRounds.map((r) => r.requestsPerSecond) },
      token: { ...logins, rounds: loginRounds.map((r) => r.requestsPerSecond) },
      bcryptVerifiesPerSecond: { median: bcrypt, rounds: bcryptRounds },
      mixed: { usersMe: mixedMe },
      storeLookup: { private: privateLookup, public: publicLookup, ratio: lookupRatio, ratioByCpu: lookupCpuRatio },
      workers: { one, two, ratio: workersRatio, ratioRounds: twoSlices.map((s, i) => s.requestsPerSecond / (oneSlices[i] as Slice).requestsPerSecond), estimatedPerFreeCore: perCore },
      peakRssMb: peakRss,
      startupMs: { median: startupMs, runs: startups },
      ratios: {
        usersMeToCeiling: meToCeiling,
        usersMeToCeilingByCpu: cpuRatio,
        usersMeToCeilingRounds: pairedRatios,
        tokenToBcrypt,
        tokenToBcryptRounds: tokenRatios
      }
    }
    await mkdir(join(repo, 'bench', 'results'), { recursive: true })
    await writeFile(join(repo, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`)

    const rows: Array<[string, string, string, string]> = [
      ['Ceiling: bare Fastify JSON route', `${round(ceilingLoad.requestsPerSecond)} req/s`, `p50 ${ceilingLoad.latencyMs.p50} ms, p99 ${ceilingLoad.latencyMs.p99} ms, ${round(ceilingCpu, 1)} µs CPU/req`, `median of ${ROUNDS} slices of ${SLICE_SECONDS} s`],
      ['GET /users/me/', `${round(me.requestsPerSecond)} req/s`, `p50 ${me.latencyMs.p50} ms, p99 ${me.latencyMs.p99} ms, ${round(meCpu, 1)} µs CPU/req`,
        `${pct(meToCeiling)} of ceiling (target ≥ 75 %) ${meToCeiling >= 0.75 ? 'MET' : 'MISSED'}; pairs ${pct(Math.min(...pairedRatios))}–${pct(Math.max(...pairedRatios))}; by CPU/req ${pct(cpuRatio)}`],
      ['GET /users/me/, private lookup vs findByUsername', `${round(privateLookup.requestsPerSecond)} vs ${round(publicLookup.requestsPerSecond)} req/s`, 'the plugin alone on the built-in SQLite store',
        `×${lookupRatio.toFixed(2)} req/s; ×${lookupCpuRatio.toFixed(2)} by CPU/req (what the private lookup buys)`],
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
