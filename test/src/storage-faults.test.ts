import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import SQLite from 'better-sqlite3'
import t, { type Test } from 'tap'
import { checkDatabaseBeforeOpening } from '../../src/service/db/database-marker.js'
import { openServiceDatabase } from '../../src/service/db/service-database.js'
import { createKyselyUserStore } from '../../src/accounts/kysely-user-store.js'
import { hashPassword } from '../../src/accounts/passwords.js'
import { ext4Impossible, fillDisk, mountExt4, mountImpossible, mountTmpfs, remount, setImmutable } from './mount-helper.js'
import {
  dbEnv, freePort, httpLogin, httpMe, httpRegister, httpToken, runCli, spawnServer, type LogLine, type ServerProcess, type Teardown
} from './process-helper.js'

// The service's SQLite file on a real, small file system that fails under it: the disk fills
// up, the files stop taking writes, the file is deleted or replaced. Writes and /health/ready
// answer 503 {"detail":"Service unavailable"} (never a 500) while it lasts, the same process
// recovers when the file system does, and a database deleted for good is not silently
// replaced by an empty one at the next start. The real server process (src/service/server.ts).

// Hang limits, not speed assertions: other tests may be loading the machine.
t.setTimeout(300_000)
const START_LIMIT_MS = 60_000

const UNAVAILABLE = { detail: 'Service unavailable' }
const WARN = 40
const ERROR = 50
const RECOVERY_LIMIT_MS = 15_000
const HTTP_TIMEOUT_MS = 10_000

const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
const newPassword = () => `pw-${randomBytes(12).toString('base64url')}`

/** The service on the SQLite file `dir/app.db`, bcrypt at its cheapest, database waits of 1 s. */
const serviceEnv = (dir: string, extra: Record<string, string> = {}) => dbEnv(dir, { DATABASE_TIMEOUT_MS: '1000', ...extra })

/** Spawns the service on a free port of 127.0.0.1 and waits for it to listen. */
async function startServer (t: Teardown, env: NodeJS.ProcessEnv): Promise<{ server: ServerProcess, base: string }> {
  const port = await freePort()
  const server = spawnServer(t, { ...env, HOST: '127.0.0.1', PORT: String(port) })
  await server.waitForListening(START_LIMIT_MS)
  return { server, base: `http://127.0.0.1:${port}` }
}

async function ready (base: string): Promise<Response> {
  return await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
}

async function live (base: string): Promise<Response> {
  return await fetch(`${base}/health`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
}

/** Polls /health/ready until it answers 200; fails after RECOVERY_LIMIT_MS. */
async function waitUntilReady (base: string): Promise<void> {
  const started = Date.now()
  let last = 0
  while (Date.now() - started < RECOVERY_LIMIT_MS) {
    last = (await ready(base)).status
    if (last === 200) return
    await sleep(200)
  }
  throw new Error(`/health/ready still answers ${last} after ${RECOVERY_LIMIT_MS} ms`)
}

/** A 503 with exactly the generic body. */
async function assertUnavailable (t: Test, response: Response, what: string): Promise<void> {
  const body = await response.text()
  t.equal(response.status, 503, `${what}: 503`, { body })
  t.same(JSON.parse(body), UNAVAILABLE, `${what}: {"detail": "Service unavailable"}`)
}

const linesAt = (server: ServerProcess, level: number): LogLine[] => server.logLines().filter((line) => line.level === level)
const unavailableLines = (server: ServerProcess): LogLine[] => server.logLines().filter((line) => line.msg === 'database unavailable')

/** Opens the database file after the service stopped: its integrity check and its usernames. */
function inspect (file: string): { integrity: unknown, usernames: string[] } {
  const sqlite = new SQLite(file, { fileMustExist: true })
  try {
    return {
      integrity: sqlite.pragma('integrity_check', { simple: true }),
      usernames: (sqlite.prepare('select username from users order by username').pluck().all() as string[])
    }
  } finally {
    sqlite.close()
  }
}

/** The log says why writes fail: warn lines with the reason, and no 500s. */
function assertLoggedAsUnavailable (t: Test, server: ServerProcess, reason: RegExp): void {
  const lines = unavailableLines(server)
  t.ok(lines.length > 0, 'the refused requests are logged as "database unavailable"', { log: server.stdout })
  t.ok(lines.every((line) => line.level === WARN), 'at warn level')
  t.ok(lines.some((line) => typeof line.reason === 'string' && reason.test(line.reason)), `with the reason (${String(reason)})`,
    { reasons: lines.map((line) => line.reason) })
  t.notOk(server.logLines().some((line) => line.msg === 'request failed'), 'no request failed with a 500')
}

const impossible = mountImpossible()

if (impossible !== undefined && inCi) {
  t.fail(`${impossible}: the storage fault tests must run in CI`)
} else if (impossible !== undefined) {
  t.test('storage faults', { skip: `${impossible}; these tests mount small file systems and need root` }, async () => {})
} else {
  t.test('a full disk: writes and /health/ready answer 503, and recover once there is space again', async (t) => {
    const dir = mountTmpfs(t, '2m')
    const file = join(dir, 'app.db')
    const { server, base } = await startServer(t, serviceEnv(dir))
    const password = newPassword()
    t.equal((await httpRegister(base, { username: 'before', password })).status, 201, 'registered while there is space')
    const token = await httpLogin(base, 'before', password)
    t.equal((await ready(base)).status, 200, 'ready while there is space')

    const filler = fillDisk(dir)
    const registered = ['before']
    let refused: Response | undefined
    // Writes may still fit into space SQLite already holds; a few more registrations use it up.
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const username = `full_${i}`
      const response = await httpRegister(base, { username, password })
      if (response.status === 201) registered.push(username)
      else refused = response
    }
    t.ok(refused !== undefined, `a registration failed once the disk was full (after ${registered.length - 1} more)`)
    if (refused === undefined) return
    await assertUnavailable(t, refused, 'POST /users/ on a full disk')
    await assertUnavailable(t, await ready(base), 'GET /health/ready on a full disk')
    await assertUnavailable(t, await httpToken(base, 'before', password), 'POST /token (it writes a session) on a full disk')
    t.equal((await live(base)).status, 200, '/health (liveness) stays 200')
    t.equal((await httpMe(base, token)).status, 200, 'reads still work: GET /users/me/ with a token')
    assertLoggedAsUnavailable(t, server, /^SQLITE_FULL\b/)

    rmSync(filler)
    await waitUntilReady(base)
    t.pass('/health/ready is 200 again once the filler is gone, without a restart')
    t.equal((await httpRegister(base, { username: 'after', password })).status, 201, 'registration works again')
    registered.push('after')
    t.equal((await httpToken(base, 'before', password)).status, 200, 'login works again')
    t.same(await server.stop('SIGTERM'), { code: 0, signal: null }, 'stops cleanly')

    const { integrity, usernames } = inspect(file)
    t.equal(integrity, 'ok', 'PRAGMA integrity_check: ok')
    t.same(usernames, [...registered].sort(), 'exactly the registrations answered 201 are stored')
  })

  // Linux refuses `mount -o remount,ro` while a process has files open for writing, and tmpfs
  // lets descriptors already open write whatever the mode or attributes: an ext4 image with the
  // files made immutable fails writes as a file system turned read-only under a running process
  // does (SQLITE_IOERR).
  const noExt4 = ext4Impossible()
  const unwritable = 'the database files made unwritable while running: 503 and not ready, then back without a restart'
  if (noExt4 === undefined) {
    t.test(unwritable, async (t) => {
      const dir = mountExt4(t)
      const file = join(dir, 'app.db')
      const { server, base } = await startServer(t, serviceEnv(dir))
      const password = newPassword()
      t.equal((await httpRegister(base, { username: 'writer', password })).status, 201, 'registered while writable')
      t.equal((await ready(base)).status, 200, 'ready while writable')

      const files = [file, `${file}-wal`]
      setImmutable(files, true)
      t.teardown(() => { try { setImmutable(files, false) } catch {} })
      await assertUnavailable(t, await httpRegister(base, { username: 'refused', password }), 'POST /users/ while unwritable')
      await assertUnavailable(t, await ready(base), 'GET /health/ready while unwritable')
      t.equal((await live(base)).status, 200, '/health (liveness) stays 200')
      assertLoggedAsUnavailable(t, server, /^SQLITE_(IOERR|READONLY)/)

      setImmutable(files, false)
      await waitUntilReady(base)
      t.pass('/health/ready is 200 again once writable, without a restart')
      t.equal((await httpRegister(base, { username: 'again', password })).status, 201, 'registration works again')
      t.same(await server.stop('SIGTERM'), { code: 0, signal: null }, 'stops cleanly')
      const { integrity, usernames } = inspect(file)
      t.equal(integrity, 'ok', 'PRAGMA integrity_check: ok')
      t.same(usernames, ['again', 'writer'])
    })
  } else if (inCi) {
    t.fail(`${noExt4}: the unwritable-files case must run in CI`)
  } else {
    t.test(unwritable, { skip: `${noExt4}; this case needs an ext4 image on a loop device` }, async () => {})
  }

  t.test('a read-only file system at start: start-up fails naming the database, and succeeds once writable', async (t) => {
    const dir = mountTmpfs(t, '2m')
    const file = join(dir, 'app.db')
    const password = newPassword()
    await createDatabaseWithUser(file, 'keeper', password)

    remount(dir, 'ro')
    const env = serviceEnv(dir, { JWT_SECRET: randomBytes(48).toString('base64url') })
    const refused = spawnServer(t, { ...env, HOST: '127.0.0.1', PORT: '0' })
    const exit = await refused.waitForExit(START_LIMIT_MS)
    t.same(exit, { code: 1, signal: null }, 'exit code 1', { output: refused.output })
    t.match(refused.stderr, `Cannot use the database ${file}: EROFS: read-only file system`, 'names the database and the cause')
    t.notMatch(refused.stderr, /\n\s+at /, 'a message, not a stack trace')
    t.notMatch(refused.stdout, /Server listening/)

    remount(dir, 'rw')
    const { server, base } = await startServer(t, env)
    t.equal((await ready(base)).status, 200, 'ready once writable')
    t.equal((await httpToken(base, 'keeper', password)).status, 200, 'the account is still there')
    t.same(await server.stop('SIGTERM'), { code: 0, signal: null })
  })

  t.test('the database file deleted while running: 503 and not ready, said once; the next start refuses an empty database', async (t) => {
    const dir = mountTmpfs(t, '2m')
    const file = join(dir, 'app.db')
    const marker = `${file}.created`
    const env = serviceEnv(dir)
    const password = newPassword()
    const { server, base } = await startServer(t, env)
    t.equal((await httpRegister(base, { username: 'keeper', password })).status, 201)
    const token = await httpLogin(base, 'keeper', password)
    t.ok(existsSync(marker), `the service marked the database it created (${marker})`)

    rmSync(file)
    await assertUnavailable(t, await ready(base), 'GET /health/ready once the file is gone')
    await assertUnavailable(t, await httpRegister(base, { username: 'lost', password }), 'POST /users/ once the file is gone')
    await assertUnavailable(t, await httpToken(base, 'keeper', password), 'POST /token once the file is gone')
    await assertUnavailable(t, await ready(base), 'GET /health/ready, asked again')
    t.equal((await httpMe(base, token)).status, 200, 'reads still answer from the file the process holds open')
    const said = linesAt(server, ERROR)
    t.equal(said.length, 1, 'one error line, however many requests were refused', { log: server.stdout })
    t.equal(said[0]?.path, file, 'naming the path')
    t.match(said[0]?.msg, /was deleted or moved away while the service was running/)
    t.match(said[0]?.msg, /outside the service/, 'saying that it was done to the service, not by it')
    assertLoggedAsUnavailable(t, server, /^DATABASE_FILE_DELETED\b/)
    t.same(await server.stop('SIGTERM'), { code: 0, signal: null }, 'stops cleanly')

    const refused = spawnServer(t, { ...env, HOST: '127.0.0.1', PORT: '0' })
    const [cli, exit] = await Promise.all([runCli(['list'], { env, timeoutMs: START_LIMIT_MS }), refused.waitForExit(START_LIMIT_MS)])
    t.equal(cli.code, 1, 'the CLI refuses too (exit 1)', { stderr: cli.stderr })
    t.match(cli.stderr, /Refusing to start/)
    t.same(exit, { code: 1, signal: null }, 'the next start fails with exit code 1', { output: refused.output })
    t.match(refused.stderr, `the database ${file} does not exist, but ${marker} shows that the service created its database there before`,
      'saying what it found')
    t.match(refused.stderr, /restore it \(from a backup\)/, 'and how to proceed')
    t.match(refused.stderr, /ALLOW_EMPTY_DATABASE=true/, 'naming the override')
    t.notMatch(refused.stdout, /Server listening/)
    t.notOk(existsSync(file), 'no empty database was created')

    const allowed = await startServer(t, { ...env, ALLOW_EMPTY_DATABASE: 'true' })
    const warned = allowed.server.logLines().find((line) => /ALLOW_EMPTY_DATABASE=true: started an empty database/.test(line.msg ?? ''))
    t.equal(warned?.level, WARN, 'with ALLOW_EMPTY_DATABASE=true it starts empty, with a warning')
    t.equal((await httpRegister(allowed.base, { username: 'keeper', password })).status, 201, 'the old account is gone: its name is free')

    // Replaced under the running process: the path names another file than the one open.
    copyFileSync(file, `${file}.copy`)
    renameSync(`${file}.copy`, file)
    await assertUnavailable(t, await ready(allowed.base), 'GET /health/ready once the file is replaced')
    await assertUnavailable(t, await httpRegister(allowed.base, { username: 'other', password }), 'POST /users/ once the file is replaced')
    const replaced = linesAt(allowed.server, ERROR)
    t.equal(replaced.length, 1, 'one error line', { log: allowed.server.stdout })
    t.equal(replaced[0]?.path, file, 'naming the path')
    t.match(replaced[0]?.msg, /was replaced while the service was running/)
    t.match(replaced[0]?.msg, /Restart the service/, 'saying how to proceed')
    t.same(await allowed.server.stop('SIGTERM'), { code: 0, signal: null })

    t.equal(checkDatabaseBeforeOpening(file, { allowEmpty: false, timeoutMs: 1000 }), 'existing',
      'the next start, without the override, takes the file at the path')
  })
}

/** A service database at `file` as a start of the service leaves it (migrated, marked) with one account. */
async function createDatabaseWithUser (file: string, username: string, password: string): Promise<void> {
  const db = await openServiceDatabase(`sqlite:${file}`, { allowEmpty: false })
  try {
    await createKyselyUserStore(db).create({ username, hashedPassword: await hashPassword(password, 4), email: null, fullName: null, disabled: false })
  } finally {
    await db.destroy()
  }
}
