import { Agent, request } from 'node:http'
import { cpuSeconds } from './proc.js'

// The refresh-grant load generator (autocannon cannot chain requests): each of N loops holds a
// session of its own and refreshes it over and over, every request carrying the refresh token
// the previous answer gave. Options arrive as JSON in argv[2]; the result goes to stdout as one
// JSON line.

export interface RefreshLoadOptions {
  url: string
  /** One refresh token per loop, each of its own session. */
  refreshTokens: string[]
  warmup: number
  duration: number
  /** The server's pid, for its CPU time. */
  pid: number
}

export interface RefreshLoadResult {
  refreshesPerSecond: number
  total: number
  failures: number
  latencyMs: { p50: number, p99: number }
  cpuMicrosPerRefresh: number
  /** CPU seconds this generator used. */
  generatorCpuSeconds: number
}

const opts = JSON.parse(process.argv[2] as string) as RefreshLoadOptions

// Plain node:http on kept-alive sockets: fetch cost the generator more than the server its refresh.
const agent = new Agent({ keepAlive: true, maxSockets: opts.refreshTokens.length })
const target = new URL(opts.url)

async function refreshOnce (token: string): Promise<string | undefined> {
  const body = `grant_type=refresh_token&refresh_token=${token}`
  return await new Promise((resolve, reject) => {
    const req = request({
      agent,
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve(res.statusCode === 200 ? (JSON.parse(text) as { refresh_token: string }).refresh_token : undefined) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

let measuring = false
const state = { stop: false }
const latencies: number[] = []
let failures = 0

async function loop (first: string): Promise<void> {
  let token = first
  while (!state.stop) {
    const started = performance.now()
    const next = await refreshOnce(token)
    if (!measuring) {
      if (next !== undefined) token = next
      continue
    }
    if (next === undefined) {
      failures++
      return
    }
    latencies.push(performance.now() - started)
    token = next
  }
}

const loops = opts.refreshTokens.map(loop)
await new Promise((resolve) => setTimeout(resolve, opts.warmup * 1000))
const cpuBefore = cpuSeconds(opts.pid)
const generatorBefore = process.cpuUsage()
const startedAt = performance.now()
measuring = true
await new Promise((resolve) => setTimeout(resolve, opts.duration * 1000))
measuring = false
const seconds = (performance.now() - startedAt) / 1000
const total = latencies.length
const cpu = cpuSeconds(opts.pid) - cpuBefore
const generator = process.cpuUsage(generatorBefore)
state.stop = true
await Promise.all(loops)
agent.destroy()
latencies.sort((a, b) => a - b)
const at = (q: number) => Number((latencies[Math.min(total - 1, Math.floor(q * total))] ?? 0).toFixed(2))
const result: RefreshLoadResult = {
  refreshesPerSecond: total / seconds,
  total,
  failures,
  latencyMs: { p50: at(0.5), p99: at(0.99) },
  cpuMicrosPerRefresh: cpu * 1e6 / Math.max(total, 1),
  generatorCpuSeconds: (generator.user + generator.system) / 1e6
}
process.stdout.write(`${JSON.stringify(result)}\n`)
