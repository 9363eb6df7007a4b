import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { cpuSeconds } from './proc.js'

// The load generator, in a process of its own so that it can be pinned to a core apart from the
// server. Options arrive as JSON in argv[2]; the result goes to stdout as one JSON line.
//
// With `targets`, it alternates between several servers in short slices instead (phases 1–2):
// the machine's speed drifts within seconds, and slices taken back to back see the same drift.

export interface LoadOptions {
  url: string
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  connections: number
  duration: number
  warmup: number
  /**
   * Seconds to wait between warm-up and measurement. The warm-up's requests still in flight when
   * it stops are abandoned by the generator but still served: for slow requests (a login is a
   * bcrypt comparison) that work would otherwise eat into the measured seconds.
   */
  drain?: number
}

export interface LoadResult {
  requestsPerSecond: number
  total: number
  non2xx: number
  errors: number
  latencyMs: { p50: number, p99: number, max: number }
  /** CPU seconds this generator used: how much of the machine the load itself took. */
  cpuSeconds: number
}

export interface AlternateOptions {
  targets: Array<{ url: string, headers?: Record<string, string>, /** The server's pid, for the CPU time of it and its workers. */ pid: number }>
  connections: number
  /**
   * Rounds; each runs every target once for `sliceSeconds`, in order in even rounds and in
   * reverse in odd ones, so that a steady drift does not always favour the same target.
   */
  rounds: number
  sliceSeconds: number
  /** Seconds of load on each target before the first round. */
  warmup: number
}

export interface Slice {
  requestsPerSecond: number
  total: number
  non2xx: number
  errors: number
  latencyMs: { p50: number, p99: number }
  /** Server CPU time per request, in microseconds. */
  cpuMicrosPerRequest: number
}

/** The slices of each target, round by round. */
export type AlternateResult = Slice[][]

async function run (opts: Omit<LoadOptions, 'duration' | 'warmup'>, duration: number) {
  return await autocannon({
    url: opts.url,
    method: opts.method ?? 'GET',
    headers: opts.headers,
    body: opts.body,
    connections: opts.connections,
    duration,
    timeout: 10
  })
}

async function single (opts: LoadOptions): Promise<LoadResult> {
  if (opts.warmup > 0) await run(opts, opts.warmup)
  if (opts.drain !== undefined) await sleep(opts.drain * 1000)
  const before = process.cpuUsage()
  const result = await run(opts, opts.duration)
  const cpu = process.cpuUsage(before)
  return {
    requestsPerSecond: result.requests.total / result.duration,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    cpuSeconds: (cpu.user + cpu.system) / 1e6
  }
}

async function alternate (opts: AlternateOptions): Promise<AlternateResult> {
  for (const target of opts.targets) await run({ ...target, connections: opts.connections }, opts.warmup)
  const slices: AlternateResult = opts.targets.map(() => [])
  for (let round = 0; round < opts.rounds; round++) {
    const order = [...opts.targets.keys()]
    if (round % 2 === 1) order.reverse()
    for (const i of order) {
      const target = opts.targets[i] as AlternateOptions['targets'][number]
      const before = cpuSeconds(target.pid)
      const result = await run({ ...target, connections: opts.connections }, opts.sliceSeconds)
      const cpu = cpuSeconds(target.pid) - before
      slices[i]?.push({
        requestsPerSecond: result.requests.total / result.duration,
        total: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors,
        latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
        cpuMicrosPerRequest: cpu * 1e6 / result.requests.total
      })
    }
  }
  return slices
}

const opts = JSON.parse(process.argv[2] as string) as LoadOptions | AlternateOptions
const out = 'targets' in opts ? await alternate(opts) : await single(opts)
process.stdout.write(`${JSON.stringify(out)}\n`)
