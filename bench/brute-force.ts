import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '../test/support/postgres.js'

// `npm run bench:brute-force`: an attacker as the issue describes one, against the service with
// its default throttling and bcrypt cost, from its own source addresses on loopback. Reports the
// guesses the attacker gets checked per second (on one account, and sprayed over 20) and the
// real user's login latency from another address meanwhile.

const quick = process.argv.includes('--quick')
const SECONDS = quick ? 10 : 30
const ATTACKER_CONNECTIONS = 8
const ACCOUNTS = 20
const PASSWORD = 'the-real-password'
const repo = new URL('..', import.meta.url).pathname

interface Answer { status: number, ms: number }

function post (port: number, from: string, agent: Agent, path: string, body: string, type: string): Promise<Answer> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress: from, agent, method: 'POST', path, headers: { 'content-type': type } }, (res) => {
      res.resume()
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const login = async (port: number, from: string, agent: Agent, username: string, password: string) =>
  await post(port, from, agent, '/token', new URLSearchParams({ username, password }).toString(), 'application/x-www-form-urlencoded')

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

/** The owner of the attacked account logging in from their own address once a second, until `until`. */
async function owner (port: number, from: string, until: number): Promise<Answer[]> {
  const agent = new Agent({ keepAlive: true })
  const answers: Answer[] = []
  while (performance.now() < until) {
    answers.push(await login(port, from, agent, 'user0', PASSWORD))
    await sleep(1000)
  }
  agent.destroy()
  return answers
}

/** Wrong passwords from one address as fast as the connections allow, for `accounts` usernames in turn. */
async function attack (port: number, from: string, accounts: number, until: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: ATTACKER_CONNECTIONS })
  const counts = new Map<number, number>()
  let n = 0
  await Promise.all(Array.from({ length: ATTACKER_CONNECTIONS }, async () => {
    while (performance.now() < until) {
      const { status } = await login(port, from, agent, `user${n++ % accounts}`, `guess-${n}`)
      counts.set(status, (counts.get(status) ?? 0) + 1)
    }
  }))
  agent.destroy()
  return counts
}

/** One phase, with addresses of its own for the attacker and the owner (no limit carries over from the last). */
async function phase (port: number, name: string, accounts: number, index: number) {
  const until = performance.now() + SECONDS * 1000
  const attacker = `127.0.2.${index}`
  const ownerAddress = `127.0.3.${index}`
  const [counts, owned] = await Promise.all([accounts === 0 ? new Map<number, number>() : attack(port, attacker, accounts, until), owner(port, ownerAddress, until)])
  const sent = [...counts.values()].reduce((a, b) => a + b, 0)
  const checked = counts.get(401) ?? 0
  const ms = owned.map((a) => a.ms)
  return {
    phase: name,
    attackerRequestsPerSecond: Math.round(sent / SECONDS),
    guessesCheckedPerSecond: Math.round((checked / SECONDS) * 100) / 100,
    guessesChecked: checked,
    answered429: counts.get(429) ?? 0,
    otherStatuses: Object.fromEntries([...counts].filter(([status]) => status !== 401 && status !== 429)),
    ownerLogins: owned.length,
    ownerSucceeded: owned.filter((a) => a.status === 200).length,
    ownerLatencyMs: { p50: Math.round(percentile(ms, 0.5)), p99: Math.round(percentile(ms, 0.99)) }
  }
}

const dir = await mkdtemp(join(tmpdir(), 'bench-brute-'))
const port = await freePort()
const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
  cwd: repo,
  env: { PATH: process.env.PATH ?? '', ENV_FILE: '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, JWT_SECRET: randomBytes(48).toString('base64url') },
  stdio: ['ignore', 'ignore', 'inherit']
})
try {
  for (let i = 0; ; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)
    if (up) break
    if (i > 300) throw new Error('the service did not start')
    await sleep(100)
  }
  // The accounts, registered from addresses of their own (registration is limited per address too).
  const agent = new Agent({ keepAlive: false })
  for (let i = 0; i < ACCOUNTS; i++) {
    const res = await post(port, `127.0.1.${i + 1}`, agent, '/users/', JSON.stringify({ username: `user${i}`, password: PASSWORD }), 'application/json')
    if (res.status !== 201) throw new Error(`registration answered ${res.status}`)
  }
  const results = [
    await phase(port, 'owner alone', 0, 1),
    await phase(port, 'one address, one account', 1, 2),
    await phase(port, `one address, sprayed over ${ACCOUNTS} accounts`, ACCOUNTS, 3)
  ]
  process.stdout.write(`${JSON.stringify({ seconds: SECONDS, attackerConnections: ATTACKER_CONNECTIONS, bcryptCost: 12, results }, null, 2)}\n`)
} finally {
  server.kill('SIGTERM')
  await new Promise((resolve) => server.once('exit', resolve))
  await rm(dir, { recursive: true, force: true })
}
