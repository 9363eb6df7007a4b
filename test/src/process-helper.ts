import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import http from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { entryArgs } from '../support/entries.js'
import { freePort, repoRoot, startCommand } from '../support/harness.js'

export { freePort, repoRoot, startCommand }

// Shared helpers for the tests that run the real entry points (src/service/bin.ts, src/service/server.ts)
// as child processes (bundled by test/support/entries.ts). No mocks: real processes, real SQLite files.

/** Every variable the service or the CLI reads: never inherited from the developer's shell. */
export const APP_VARIABLES = [
  'HOST', 'PORT', 'DATABASE_URL', 'DATABASE_POOL_SIZE', 'DATABASE_TIMEOUT_MS', 'DATABASE_CONNECT_TIMEOUT_SECONDS', 'WORKERS', 'JWT_SECRET',
  'ACCESS_TOKEN_EXPIRE_MINUTES', 'BCRYPT_COST', 'REGISTRATION', 'LOG_LEVEL', 'METRICS', 'METRICS_PORT', 'METRICS_HOST'
] as const

// Only what a node process needs to run; in particular not NODE_OPTIONS or NODE_V8_COVERAGE,
// which tap sets for its own loader and coverage, nor any of the app's variables.
const INHERITED = ['PATH', 'HOME', 'USER', 'TMPDIR', 'TEMP', 'TMP', 'LANG', 'LC_ALL', 'TZ', 'SystemRoot', 'SYSTEMROOT', 'ComSpec']

/** A minimal copy of process.env without the app's variables, plus `extra` (undefined values are left out). */
export function cleanEnv (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const key of INHERITED) {
    const value = process.env[key]
    if (value !== undefined) env[key] = value
  }
  for (const key of APP_VARIABLES) delete env[key]
  // Nor from a developer's .env in the repository, the processes' working directory.
  env.ENV_FILE = ''
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) env[key] = value
  }
  return env
}

export interface Teardown {
  teardown: (fn: () => unknown) => void
}

/** A fresh directory under the OS temp dir, removed when the test ends. */
export async function tempDir (t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'token-auth-test-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  return dir
}

/** The settings every spawned process gets: its own SQLite file and the cheapest bcrypt cost. */
export function dbEnv (dir: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, BCRYPT_COST: '4', ...extra })
}

function spawnEntry (entry: 'server' | 'cli', args: string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [...entryArgs(entry), ...args], { cwd: repoRoot, env, stdio: 'pipe' })
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs the CLI (src/service/bin.ts) with `args` to completion; `input` goes to its stdin (which is closed either way). */
export async function runCli (
  args: string[],
  opts: { env: NodeJS.ProcessEnv, input?: string | Buffer, timeoutMs?: number }
): Promise<CliResult> {
  const child = spawnEntry('cli', args, opts.env)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  child.stdin.on('error', () => {}) // the CLI may exit without reading its stdin
  child.stdin.end(opts.input ?? '')
  const timeoutMs = opts.timeoutMs ?? 15_000
  return await new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`cli ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('error', (error) => { clearTimeout(timer); reject(error) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface LogLine {
  level?: number
  msg?: string
  [key: string]: unknown
}

/**
 * What runs: by default src/service/server.ts; `{ built: true }` runs the bundle exactly as
 * `npm start` does (its node flags included), which must have been built first.
 */
export interface EntryOptions {
  built?: boolean
  /** With `built`: the tree whose dist/ runs (default the repository). */
  root?: string
}

/**
 * A child process and everything it wrote so far, with waits on its log. It counts as ended on
 * 'close' (its output complete) or, for a process whose own children may hold the pipes open,
 * on 'exit'.
 */
export class WatchedProcess {
  stdout = ''
  stderr = ''
  readonly exited: Promise<Exit>
  exit: Exit | undefined
  private readonly listeners = new Set<() => void>()

  constructor (protected readonly child: ChildProcessWithoutNullStreams, endsOn: 'close' | 'exit' = 'close') {
    this.child.stdin.end()
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => { this.stdout += chunk; this.notify() })
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk; this.notify() })
    this.exited = new Promise<Exit>((resolve) => {
      this.child.on(endsOn, (code: number | null, signal: NodeJS.Signals | null) => {
        this.exit = { code, signal }
        this.notify()
        resolve(this.exit)
      })
    })
  }

  get pid (): number | undefined { return this.child.pid }
  get output (): string { return this.stdout + this.stderr }

  /** The JSON log lines on stdout (npm's banners and anything else are skipped). */
  logLines (): LogLine[] {
    const lines: LogLine[] = []
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue
      try {
        lines.push(JSON.parse(line) as LogLine)
      } catch {}
    }
    return lines
  }

  private notify (): void {
    for (const listener of this.listeners) listener()
  }

  /** Resolves once `predicate` holds; rejects after `timeoutMs` or if the process exits first. */
  async waitFor (what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (predicate()) {
          done()
          resolve()
        } else if (this.exit !== undefined) {
          done()
          reject(new Error(`process exited (${JSON.stringify(this.exit)}) before ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`))
      }, timeoutMs)
      const done = () => { clearTimeout(timer); this.listeners.delete(check) }
      this.listeners.add(check)
      check()
    })
  }

  async waitForListening (timeoutMs = 15_000): Promise<void> {
    await this.waitFor('the "Server listening" log line',
      () => this.logLines().some((line) => typeof line.msg === 'string' && line.msg.startsWith('Server listening')), timeoutMs)
  }
}

/** The service's server process, from its sources (or, with `built`, as `npm start` runs it). */
export class ServerProcess extends WatchedProcess {
  constructor (env: NodeJS.ProcessEnv, entry: EntryOptions = {}) {
    super(entry.built === true
      ? spawn(process.execPath, startCommand(), { cwd: entry.root ?? repoRoot, env, stdio: 'pipe' })
      : spawnEntry('server', [], env))
  }

  /** Waits for the process to end; SIGKILLs it and rejects after `timeoutMs`. */
  async waitForExit (timeoutMs = 10_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL')
        reject(new Error(`server did not exit within ${timeoutMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Sends a signal (if still running) and waits for the exit. */
  async stop (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<Exit> {
    if (this.exit === undefined) this.child.kill(signal)
    return await this.waitForExit(timeoutMs)
  }

  /** Last resort for teardown: SIGKILL if still running, then wait for the exit. */
  async kill (): Promise<void> {
    if (this.exit !== undefined) return
    this.child.kill('SIGKILL')
    await this.waitForExit(5_000).catch(() => {})
  }
}

/** Spawns the server with `env`; it is killed when the test ends, if still running. */
export function spawnServer (t: Teardown, env: NodeJS.ProcessEnv, entry: EntryOptions = {}): ServerProcess {
  const server = new ServerProcess(env, entry)
  t.teardown(async () => await server.kill())
  return server
}

/** Spawns the server on a free port of 127.0.0.1 and waits for it to listen. Returns it and its base URL. */
export async function startServer (
  t: Teardown,
  extraEnv: NodeJS.ProcessEnv,
  entry: EntryOptions = {}
): Promise<{ server: ServerProcess, base: string, port: number }> {
  const port = await freePort()
  const server = spawnServer(t, { ...extraEnv, HOST: '127.0.0.1', PORT: String(port) }, entry)
  await server.waitForListening()
  return { server, base: `http://127.0.0.1:${port}`, port }
}

// HTTP calls against a running server, each bounded by a timeout.

const HTTP_TIMEOUT_MS = 10_000

/** POST /users/; `timeoutMs` for a registration that hashes at a high BCRYPT_COST. */
export async function httpRegister (base: string, user: { username: string, password: string }, timeoutMs = HTTP_TIMEOUT_MS): Promise<Response> {
  return await fetch(`${base}/users/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(user),
    signal: AbortSignal.timeout(timeoutMs)
  })
}

export async function httpToken (base: string, username: string, password: string): Promise<Response> {
  return await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS)
  })
}

/** POST /token; returns the access token, or throws with the response. */
export async function httpLogin (base: string, username: string, password: string): Promise<string> {
  const response = await httpToken(base, username, password)
  const body = await response.text()
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${body}`)
  return (JSON.parse(body) as { access_token: string }).access_token
}

export async function httpMe (base: string, token?: string): Promise<Response> {
  return await fetch(`${base}/users/me/`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS)
  })
}

export interface FreshReply { status: number, headers: http.IncomingHttpHeaders, body: string }

/**
 * One request on a connection of its own (no keep-alive, no pool): with WORKERS, the primary's
 * round-robin hands each to the next worker. Bounded by HTTP_TIMEOUT_MS.
 */
export async function freshRequest (port: number, method: string, path: string,
  opts: { headers?: Record<string, string>, body?: string, host?: string } = {}): Promise<FreshReply> {
  return await new Promise<FreshReply>((resolve, reject) => {
    const headers: Record<string, string> = { connection: 'close', ...opts.headers }
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body))
    const req = http.request({ host: opts.host ?? '127.0.0.1', port, method, path, headers, agent: false, timeout: HTTP_TIMEOUT_MS }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`${method} ${path} timed out after ${HTTP_TIMEOUT_MS} ms`)) })
    req.on('error', reject)
    req.end(opts.body)
  })
}
