import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { freePort } from './harness.js'

export interface RedisServer {
  url: string
  port: number
  /** Stops the server; `start()` brings it back on the same port (empty: nothing is persisted). */
  stop: () => Promise<void>
  start: () => Promise<void>
  /** SIGSTOP / SIGCONT: the connections stay open, commands go unanswered until resumed. */
  pause: () => void
  resume: () => void
}

/** Debian's redis-server, when installed. */
export const redisServerBin = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((path) => existsSync(path))

/**
 * A throwaway Redis on a free loopback port, persisting nothing, stopped when the test ends.
 * Under CI a missing redis-server fails the test that asks for one (.ci/run installs it).
 */
export async function startRedis (t: { teardown: (fn: () => unknown) => void }): Promise<RedisServer> {
  if (redisServerBin === undefined) throw new Error('redis-server not found (apt-get install redis-server)')
  const bin = redisServerBin
  const port = await freePort()
  let child: ReturnType<typeof spawn> | undefined
  const start = async () => {
    const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    await new Promise<void>((resolve, reject) => {
      let output = ''
      const timer = setTimeout(() => { reject(new Error(`redis-server did not start: ${output}`)) }, 10_000)
      proc.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      proc.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${String(code)}: ${output}`))
      })
    })
  }
  const stop = async () => {
    const proc = child
    child = undefined
    if (proc === undefined || proc.exitCode !== null) return
    await new Promise<void>((resolve) => {
      proc.once('exit', () => { resolve() })
      proc.kill('SIGKILL')
    })
  }
  const signal = (name: NodeJS.Signals) => { if (child !== undefined && child.exitCode === null) child.kill(name) }
  await start()
  t.teardown(async () => {
    signal('SIGCONT')
    await stop()
  })
  return { url: `redis://127.0.0.1:${port}`, port, stop, start, pause: () => { signal('SIGSTOP') }, resume: () => { signal('SIGCONT') } }
}
