import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import t, { type Test } from 'tap'
import {
  dbEnv, httpRegister, httpToken, runCli, startServer, tempDir, type ServerProcess, type Teardown
} from './process-helper.js'

// Restoring a SQLite backup beside the -wal and -shm a killed service left: the service never
// replays a write-ahead log of another file into the one at the path (it sets the log aside),
// and still replays the log of the same file after a crash, also with other processes on it.
// Real server and CLI processes (src/service/server.ts, src/service/bin.ts) on a real file; kill -9 leaves the log.

t.setTimeout(120_000)

const WARN = 40
const password = `pw-${randomBytes(12).toString('base64url')}`
/** The service on `dir/app.db`, with registrations unthrottled (each test registers dozens). */
const env = (dir: string, extra: Record<string, string> = {}) =>
  dbEnv(dir, { RATE_LIMIT_REGISTRATION: '100000/h', DATABASE_TIMEOUT_MS: '2000', ...extra })

async function register (t: Test, base: string, usernames: string[]): Promise<void> {
  for (const username of usernames) {
    const response = await httpRegister(base, { username, password })
    if (response.status !== 201) t.fail(`registering ${username}: ${response.status} ${await response.text()}`)
  }
}

const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}_${String(i).padStart(3, '0')}`)

/** Registers `count` users, with a checkpoint in the middle as a long-running service does by itself. */
async function registerWithCheckpoint (t: Test, base: string, file: string, prefix: string, count: number): Promise<string[]> {
  const usernames = names(prefix, count)
  await register(t, base, usernames.slice(0, count / 2))
  const sqlite = new SQLite(file, { fileMustExist: true })
  try {
    sqlite.pragma('wal_checkpoint(PASSIVE)')
  } finally {
    sqlite.close()
  }
  await register(t, base, usernames.slice(count / 2))
  return usernames
}

/** kill -9: the -wal and -shm stay beside the file, as after a crash or a power cut. */
async function crash (t: Test, server: ServerProcess, file: string): Promise<void> {
  t.same(await server.stop('SIGKILL'), { code: null, signal: 'SIGKILL' }, 'killed with SIGKILL')
  t.ok(existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 0, 'it left a non-empty -wal')
}

/** Opens the database file after the service stopped: its integrity check and its usernames. */
function inspect (file: string): { integrity: unknown, usernames: string[] } {
  const sqlite = new SQLite(file, { fileMustExist: true, readonly: true })
  try {
    return {
      integrity: sqlite.pragma('integrity_check', { simple: true }),
      usernames: sqlite.prepare('select username from users order by username').pluck().all() as string[]
    }
  } finally {
    sqlite.close()
  }
}

const strayFiles = (dir: string) => readdirSync(dir).filter((name) => name.includes('.stray-')).sort()
const setAsideLines = (server: ServerProcess) => server.logLines().filter((line) => /^Set aside /.test(line.msg ?? ''))

/** The restarted service sets the log aside: one warning naming the files, which are kept. */
function assertSetAside (t: Test, server: ServerProcess, dir: string, file: string): void {
  const lines = setAsideLines(server)
  t.equal(lines.length, 1, 'one line about the stray files', { log: server.stdout })
  t.equal(lines[0]?.level, WARN, 'at warn level')
  t.match(lines[0]?.msg, `${file}-wal and ${file}-shm as ${file}-wal.stray-`, 'naming the files and where they went')
  t.match(lines[0]?.msg, /delete the set-aside files once you no longer need them/, 'and what to do')
  const stray = strayFiles(dir)
  t.match(stray, [/^app\.db-shm\.stray-/, /^app\.db-wal\.stray-/], 'the -wal and -shm are set aside, not deleted', { stray })
  const wal = stray.find((name) => name.startsWith('app.db-wal.'))
  t.ok(wal !== undefined && statSync(join(dir, wal)).size > 0, 'the set-aside -wal still holds the old file\'s pages')
  t.notMatch(server.stderr, /\n\s+at /, 'no stack trace')
}

async function startAndStop (t: Teardown & Test, environment: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const { server, base } = await startServer(t, environment)
  t.equal((await fetch(`${base}/health/ready`)).status, 200, 'it starts and is ready')
  t.same(await server.stop('SIGTERM'), { code: 0, signal: null }, 'stops cleanly')
  return server
}

t.test('the restore of docs/storage.md: stop, delete, restore a backup, start; the stray -wal is set aside', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'app.db')
  const backup = join(dir, 'backups', 'app-backup.db')
  const { server, base } = await startServer(t, env(dir))
  const kept = names('kept', 5)
  await register(t, base, kept)
  const cli = await runCli(['backup', backup], { env: env(dir) })
  t.equal(cli.code, 0, 'cli backup PATH while the service runs', { stderr: cli.stderr })
  t.equal(cli.stdout, `Backup written to ${backup}\n`)
  t.equal(statSync(backup).mode & 0o777, 0o600, 'the backup is private to its user (it holds password hashes)')
  t.notOk(existsSync(`${backup}-wal`), 'no -wal beside the backup: one self-contained file')
  await registerWithCheckpoint(t, base, file, 'later', 60)
  await crash(t, server, file)

  rmSync(file)
  copyFileSync(backup, file)
  const restarted = await startAndStop(t, env(dir))
  const { integrity, usernames } = inspect(file)
  t.equal(integrity, 'ok', 'PRAGMA integrity_check: ok')
  t.same(usernames, kept, 'exactly the backup\'s users: none registered after it')
  assertSetAside(t, restarted, dir, file)
  t.same(inspect(backup).usernames, kept, 'the backup itself is unchanged')
})

t.test('a backup renamed over the file with the -wal left: it starts, no stack trace, the file intact', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'app.db')
  const backup = join(dir, 'vacuumed.db')
  const { server, base } = await startServer(t, env(dir))
  const kept = names('kept', 5)
  await register(t, base, kept)
  // A copy by other means than the CLI (sqlite3's VACUUM INTO): pages laid out anew.
  const live = new SQLite(file, { fileMustExist: true })
  live.exec(`vacuum into '${backup}'`)
  live.close()
  await registerWithCheckpoint(t, base, file, 'later', 60)
  await crash(t, server, file)

  copyFileSync(backup, `${backup}.copy`)
  renameSync(`${backup}.copy`, file)
  const restarted = await startAndStop(t, env(dir))
  assertSetAside(t, restarted, dir, file)
  const { integrity, usernames } = inspect(file)
  t.equal(integrity, 'ok', 'PRAGMA integrity_check: ok')
  t.same(usernames, kept, 'the replacing file\'s users, and no others')
})

t.test('a CLI backup copied over the same file (same inode) with the -wal left: set aside too', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'app.db')
  const backup = join(dir, 'app-backup.db')
  const first = await startServer(t, env(dir))
  const kept = names('kept', 5)
  await register(t, first.base, kept)
  t.equal((await runCli(['backup', backup], { env: env(dir) })).code, 0, 'cli backup')
  await register(t, first.base, names('later', 20))
  await crash(t, first.server, file)

  const inode = statSync(file).ino
  copyFileSync(backup, file)
  t.equal(statSync(file).ino, inode, 'copied over the file in place')
  const restarted = await startAndStop(t, env(dir))
  const { integrity, usernames } = inspect(file)
  t.equal(integrity, 'ok', 'PRAGMA integrity_check: ok')
  t.same(usernames, kept, 'exactly the backup\'s users')
  assertSetAside(t, restarted, dir, file)
})

t.test('a crash of the same file: its -wal is replayed, also with two workers and the CLI on the file', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'app.db')
  const first = await startServer(t, env(dir))
  const acknowledged = names('user', 30)
  await register(t, first.base, acknowledged)
  await crash(t, first.server, file)

  const { server, base } = await startServer(t, env(dir, { WORKERS: '2' }))
  t.equal((await fetch(`${base}/health/ready`)).status, 200, 'ready after the crash, with two workers')
  for (const username of [acknowledged[0] as string, acknowledged.at(-1) as string]) {
    t.equal((await httpToken(base, username, password)).status, 200, `${username}, acknowledged before the kill, logs in`)
  }
  // The CLI beside the running workers: the -wal there is theirs, not stray.
  const listed = await runCli(['list'], { env: env(dir) })
  t.equal(listed.code, 0, 'cli list while the service runs', { stderr: listed.stderr })
  t.equal(listed.stdout.split('\n').filter((line) => line.startsWith('user_')).length, 30, 'it sees every acknowledged user')
  t.equal(listed.stderr, '', 'and says nothing about stray files')
  const backed = await runCli(['backup', join(dir, 'copy.db')], { env: env(dir) })
  t.equal(backed.code, 0, 'cli backup while the service runs', { stderr: backed.stderr })
  await register(t, base, ['after_cli'])
  t.equal(setAsideLines(server).length, 0, 'the service set nothing aside', { log: server.stdout })
  t.same(strayFiles(dir), [], 'no stray files')
  t.same(await server.stop('SIGTERM'), { code: 0, signal: null }, 'stops cleanly')

  const { integrity, usernames } = inspect(file)
  t.equal(integrity, 'ok', 'PRAGMA integrity_check: ok')
  t.same(usernames, [...acknowledged, 'after_cli'].sort(), 'every acknowledged registration is stored')
  t.same(inspect(join(dir, 'copy.db')).usernames, acknowledged, 'the backup holds them too')
})
