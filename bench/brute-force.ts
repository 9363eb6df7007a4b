import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, stopProcess, waitForStatus } from '../test/support/harness.js'

// `npm run bench:brute-force`: an attacker as the issue describes one, against the service with
// its default throttling and bcrypt cost, from its own source addresses on loopback. Reports the
// guesses the attacker gets checked per second (on one account, sprayed over 20, through
// DELETE /users/me/ with a stolen access token, and from 30 addresses on one account) and the
// real user's login latency from their own address meanwhile.

const quick = process.argv.includes('--quick')
const SECONDS = quick ? 10 : 30
const ATTACKER_CONNECTIONS = 8
const ACCOUNTS = 20
const PASSWORD = 'the-real-password'
const repo = new URL('..', import.meta.url).pathname

interface Answer { status: number, ms: number }

function post (port: number, from: string, agent: Agent, path: string, body: string, type: string,
  { method = 'POST', headers = {} }: { method?: string, headers?: Record<string, string> } = {}): Promise<Answer> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    // Node sends a DELETE's body only with its length given.
    const length = String(Buffer.byteLength(body))
    const req = request({ host: '127.0.0.1', port, localAddress: from, agent, method, path, headers: { 'content-type': type, 'content-length': length, ...headers } }, (res) => {
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

type Guess = (agent: Agent, n: number) => Promise<Answer>

/** Wrong passwords from `addresses` as fast as the connections allow, each guess from the next address. */
async function attack (addresses: string[], guess: (from: string) => Guess, until: number) {
  const agents = addresses.map((from) => ({ from, agent: new Agent({ keepAlive: true, maxSockets: ATTACKER_CONNECTIONS }) }))
  const counts = new Map<number, number>()
  let n = 0
  await Promise.all(Array.from({ length: ATTACKER_CONNECTIONS }, async () => {
    while (performance.now() < until) {
      const { from, agent } = agents[n % agents.length] as { from: string, agent: Agent }
      const { status } = await guess(from)(agent, n++)
      counts.set(status, (counts.get(status) ?? 0) + 1)
    }
  }))
  for (const { agent } of agents) agent.destroy()
  return counts
}

const loginGuesses = (port: number, accounts: number) => (from: string): Guess => async (agent, n) =>
  await login(port, from, agent, `user${n % accounts}`, `guess-${n}`)

/** Account deletions with a stolen access token of `user1`, each with a wrong password. */
const deletionGuesses = (port: number, token: string) => (from: string): Guess => async (agent, n) =>
  await post(port, from, agent, '/users/me/', JSON.stringify({ password: `guess-${n}` }), 'application/json',
    { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })

/**
 * One phase, with addresses of its own for the attacker and the owner (no limit carries over
 * from the last); `checked` is the status a guess whose password was checked gets.
 */
async function phase (port: number, name: string, index: number, attacker?: { addresses: number, guess: (from: string) => Guess, checked: number }) {
  const ownerAddress = `127.0.3.${index}`
  // The owner has logged in from home before.
  await login(port, ownerAddress, new Agent(), 'user0', PASSWORD)
  const until = performance.now() + SECONDS * 1000
  const addresses = Array.from({ length: attacker?.addresses ?? 0 }, (_, i) => `127.${10 + index}.0.${i + 1}`)
  const [counts, owned] = await Promise.all([attacker === undefined ? new Map<number, number>() : attack(addresses, attacker.guess, until), owner(port, ownerAddress, until)])
  const sent = [...counts.values()].reduce((a, b) => a + b, 0)
  const checked = counts.get(attacker?.checked ?? 401) ?? 0
  const ms = owned.map((a) => a.ms)
  return {
    phase: name,
    attackerRequestsPerSecond: Math.round(sent / SECONDS),
    guessesCheckedPerSecond: Math.round((checked / SECONDS) * 100) / 100,
    guessesChecked: checked,
    answered429: counts.get(429) ?? 0,
    otherStatuses: Object.fromEntries([...counts].filter(([status]) => status !== attacker?.checked && status !== 429)),
    ownerLogins: owned.length,
    ownerSucceeded: owned.filter((a) => a.status === 200).length,
    ownerLatencyMs: { p50: Math.round(percentile(ms, 0.5)), p99: Math.round(percentile(ms, 0.99)) }
  }
}

const dir = await mkdtemp(join(tmpdir(), 'bench-brute-'))
const port = await freePort()
const server = spawn(process.execPath, ['--import', 'tsx', 'src/service/server.ts'], {
  cwd: repo,
  env: { PATH: process.env.PATH ?? '', ENV_FILE: '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, JWT_SECRET: randomBytes(48).toString('base64url') },
  stdio: ['ignore', 'ignore', 'inherit']
})
try {
  await waitForStatus(`http://127.0.0.1:${port}/health`, { timeoutMs: 30_000, child: server })
  // The accounts, registered from addresses of their own (registration is limited per address too).
  const agent = new Agent({ keepAlive: false })
  for (let i = 0; i < ACCOUNTS; i++) {
    const res = await post(port, `127.0.1.${i + 1}`, agent, '/users/', JSON.stringify({ username: `user${i}`, password: PASSWORD }), 'application/json')
    if (res.status !== 201) throw new Error(`registration answered ${res.status}`)
  }
  const stolen = await login(port, '127.0.1.200', agent, 'user1', PASSWORD)
  if (stolen.status !== 200) throw new Error(`login answered ${stolen.status}`)
  const token = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress: '127.0.1.201', method: 'POST', path: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => { resolve(JSON.parse(body).access_token) })
    })
    req.on('error', reject)
    req.end(new URLSearchParams({ username: 'user1', password: PASSWORD }).toString())
  })
  const results = [
    await phase(port, 'owner alone', 1),
    await phase(port, 'one address, one account', 2, { addresses: 1, guess: loginGuesses(port, 1), checked: 401 }),
    await phase(port, `one address, sprayed over ${ACCOUNTS} accounts`, 3, { addresses: 1, guess: loginGuesses(port, ACCOUNTS), checked: 401 }),
    await phase(port, 'one address, a stolen access token: DELETE /users/me/', 4, { addresses: 1, guess: deletionGuesses(port, token), checked: 400 }),
    await phase(port, '30 addresses, one account (the owner\'s, who logs in from home)', 5, { addresses: 30, guess: loginGuesses(port, 1), checked: 401 })
  ]
  process.stdout.write(`${JSON.stringify({ seconds: SECONDS, attackerConnections: ATTACKER_CONNECTIONS, bcryptCost: 12, results }, null, 2)}\n`)
} finally {
  await stopProcess(server)
  await rm(dir, { recursive: true, force: true })
}
