import autocannon from 'autocannon'

// The load generator, in a process of its own so that it can be pinned to a core apart from the
// server. Options arrive as JSON in argv[2]; the result goes to stdout as one JSON line.

export interface LoadOptions {
  url: string
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  connections: number
  duration: number
  warmup: number
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

async function run (opts: LoadOptions, duration: number) {
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

const opts = JSON.parse(process.argv[2] as string) as LoadOptions
if (opts.warmup > 0) await run(opts, opts.warmup)
const before = process.cpuUsage()
const result = await run(opts, opts.duration)
const cpu = process.cpuUsage(before)
const out: LoadResult = {
  requestsPerSecond: result.requests.total / result.duration,
  total: result.requests.total,
  non2xx: result.non2xx,
  errors: result.errors,
  latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
  cpuSeconds: (cpu.user + cpu.system) / 1e6
}
process.stdout.write(`${JSON.stringify(out)}\n`)
