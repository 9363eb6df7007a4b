import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './harness.js'

const run = promisify(execFile)

/** The directory with initdb and pg_ctl: POSTGRES_BIN, else the newest Debian install. */
export function findPostgresBin (): string | undefined {
  const fromEnv = process.env.POSTGRES_BIN
  if (fromEnv !== undefined && existsSync(join(fromEnv, 'initdb'))) return fromEnv
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

export { freePort }

export interface PostgresServer {
  /** A superuser connection URL (trust authentication, loopback only). */
  url: string
  start: () => Promise<void>
  /** Stops the server (fast shutdown); `start()` brings it back with the same data and port. */
  stop: () => Promise<void>
  /** Stops it and removes its data. */
  destroy: () => Promise<void>
}

/**
 * A throwaway PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 on a free
 * port. PostgreSQL refuses to run as root, so as root its commands run as `postgres`.
 */
export async function startPostgres (bin = findPostgresBin()): Promise<PostgresServer> {
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found (install Debian\'s postgresql package)')
  const dir = await mkdtemp(join(tmpdir(), 'pg-test-'))
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim())
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
    await chown(dir, uid, gid)
  }
  const pgRun = async (command: string, args: string[]) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]] : [join(bin, command), args]
    return await run(file, argv, { timeout: 60_000 })
  }
  const data = join(dir, 'data')
  const port = await freePort()
  await pgRun('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'])
  // Durability is pointless for a throwaway cluster; speed is not.
  const serverOptions = `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`
  const start = async () => { await pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', serverOptions, '-w', '-t', '60', 'start']) }
  const stop = async () => { await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']) }
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async destroy () {
      await stop().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  }
}
