import type { ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// What the tests and bench/ share to run the service as a process: a free port, `npm start`'s
// command line, a wait for a server to answer, and a bounded stop.

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** A port of 127.0.0.1 nothing listens on (free when asked; the caller binds it soon after). */
export async function freePort (): Promise<number> {
  // Below the kernel's ephemeral range (32768 and up): a port bind(0) or an outgoing connection
  // of another process could take between this check and the server's own listen.
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + randomInt(12_768)
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => { resolve(false) })
      server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
    })
    if (free) return port
  }
  throw new Error('no free port found between 20000 and 32767 on 127.0.0.1')
}

/** node's arguments in `npm start` (its flags and the built entry), read from package.json. */
export function startCommand (root = repoRoot): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
  // `exec` lets the shell npm runs scripts in hand its process (and so the signals) to node.
  const [node, ...args] = pkg.scripts.start.replace(/^exec\s+/, '').split(/\s+/)
  if (node !== 'node') throw new Error(`unexpected start script: ${pkg.scripts.start}`)
  return args
}

/**
 * Asks `url` every few milliseconds until it answers `status`; returns the milliseconds that took.
 * Rejects after `timeoutMs`, or as soon as `child` (the server's process, when given) has exited.
 */
export async function waitForStatus (url: string, { status = 200, timeoutMs = 30_000, child }: { status?: number, timeoutMs?: number, child?: ChildProcess } = {}): Promise<number> {
  const started = performance.now()
  let last = 'no answer'
  while (performance.now() - started < timeoutMs) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`the process exited (${child.exitCode}) before ${url} answered ${status}`)
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(5_000) })
      await answer.arrayBuffer()
      if (answer.status === status) return performance.now() - started
      last = `status ${answer.status}`
    } catch (error) {
      last = String(error)
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`)
}

/** Sends `signal` and waits for the exit; SIGKILLs the process after `timeoutMs`. */
export async function stopProcess (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    await exited
  } finally {
    clearTimeout(timer)
  }
}
