import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cleanEnv, WatchedProcess, type Exit, type Teardown } from '../src/process-helper.js'

// Helpers for the packaging tests: bounded commands (npm, tsc, tar) in directories other than
// the repository, and long-running processes started through npm.

/** A secret as docs/service.md tells an operator to make one: 48 random bytes, base64url. */
export const randomSecret = () => randomBytes(48).toString('base64url')

/** cleanEnv plus quiet npm: no update check, no funding or audit messages. */
export function npmEnv (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return cleanEnv({
    NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    NPM_CONFIG_FUND: 'false',
    NPM_CONFIG_AUDIT: 'false',
    ...extra
  })
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** The command was killed for running longer than its timeout. */
  timedOut: boolean
  ms: number
}

/** For assertion messages: the command line and whatever it printed. */
export function describeRun (command: string, result: RunResult): Record<string, unknown> {
  return { command, code: result.code, signal: result.signal, timedOut: result.timedOut, ms: result.ms, stdout: result.stdout, stderr: result.stderr }
}

function killGroup (pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, signal)
  } catch {}
}

/**
 * Runs a command to completion in its own process group; after `timeoutMs` the whole group
 * (npm and the scripts it started) is SIGKILLed and the result says so.
 */
export async function run (
  command: string,
  args: string[],
  opts: { cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number, input?: string }
): Promise<RunResult> {
  const started = Date.now()
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: 'pipe', detached: true })
  let stdout = ''
  let stderr = ''
  let timedOut = false
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  child.stdin.on('error', () => {})
  child.stdin.end(opts.input ?? '')
  const timer = setTimeout(() => { timedOut = true; killGroup(child.pid, 'SIGKILL') }, opts.timeoutMs)
  return await new Promise<RunResult>((resolve) => {
    child.on('error', (error) => {
      clearTimeout(timer)
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(error), timedOut, ms: Date.now() - started })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started })
    })
  })
}

/**
 * A long-running process (a server, possibly behind `npm start`) in its own process group.
 * Signals from `stop` go to the process itself only, as a container runtime sends them; the
 * teardown SIGKILLs the whole group, so nothing it started outlives the test.
 */
export class LongRunning extends WatchedProcess {
  constructor (t: Teardown, command: string, args: string[], opts: { cwd: string, env: NodeJS.ProcessEnv }) {
    // Ended on 'exit', not 'close': a child it leaves behind may hold the pipes open long after.
    super(spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: 'pipe', detached: true }), 'exit')
    t.teardown(async () => { await this.killGroup() })
  }

  /** Sends `signal` to the process (not its group) and waits for it to end; undefined if it did not within `timeoutMs`. */
  async stop (signal: NodeJS.Signals, timeoutMs: number): Promise<Exit | undefined> {
    if (this.exit === undefined) this.child.kill(signal)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), timeoutMs) })
    try {
      return await Promise.race([this.exited, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /** SIGKILLs the whole process group: the process and anything it left behind. */
  async killGroup (): Promise<void> {
    killGroup(this.child.pid, 'SIGKILL')
    if (this.exit === undefined) {
      await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 5_000))])
    }
  }
}

/** Whether anything still answers HTTP at `url` (within a second). */
export async function answers (url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1_000) })
    return true
  } catch {
    return false
  }
}
