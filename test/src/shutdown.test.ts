import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { BUILT_TREE, builtTree } from '../support/built-tree.js'
import { dbEnv, freePort, httpRegister, tempDir, WatchedProcess, type LogLine } from './process-helper.js'

// `npm start` stopped as systemd's default KillMode and most supervisors stop it: SIGTERM to its
// whole process group. npm relays the signal to node, which so gets it twice; the second must not
// cut the drain short. Run from the built tree (test/support/built-tree.ts), as `npm start` runs.

t.setTimeout(300_000)

const built = await builtTree()

const ROUNDS = 10
const AT_ONCE = 2
const IN_FLIGHT = 4
const START_LIMIT_MS = 30_000
const EXIT_LIMIT_MS = 20_000

const isRegistration = (line: LogLine) => (line.req as { url?: string } | undefined)?.url === '/users/'

/** One start of `npm start`, SIGTERM to its group while registrations are in flight; what a user would check. */
async function round (t: Test, n: number): Promise<void> {
  const dir = await tempDir(t)
  const port = await freePort()
  const env = dbEnv(dir, {
    HOST: '127.0.0.1',
    PORT: String(port),
    JWT_SECRET: randomBytes(48).toString('base64url'),
    // Hashing at cost 11 keeps each registration busy for a while after it arrived.
    BCRYPT_COST: '11',
    RATE_LIMIT_REGISTRATION: 'off',
    NPM_CONFIG_UPDATE_NOTIFIER: 'false'
  })
  // Detached: npm leads a process group of its own (npm, the shell it runs the script in, node).
  const child = spawn('npm', ['start', '--silent'], { cwd: BUILT_TREE, env, stdio: 'pipe', detached: true })
  const npm = new WatchedProcess(child)
  const pid = child.pid as number
  t.teardown(async () => {
    if (npm.exit !== undefined) return
    try { process.kill(-pid, 'SIGKILL') } catch {}
    await npm.exited
  })
  await npm.waitForListening(START_LIMIT_MS)
  const base = `http://127.0.0.1:${port}`
  const replies = Array.from({ length: IN_FLIGHT }, async (_, i) =>
    await httpRegister(base, { username: `round${n}user${i}`, password: 'in-flight-password' }).then((reply) => reply.status, (error: Error) => error.message))
  await npm.waitFor(`${IN_FLIGHT} registrations to arrive`, () =>
    npm.logLines().filter((line) => line.msg === 'incoming request' && isRegistration(line)).length === IN_FLIGHT)
  process.kill(-pid, 'SIGTERM')

  const context = { round: n, stdout: npm.stdout, stderr: npm.stderr }
  t.same(await Promise.all(replies), Array(IN_FLIGHT).fill(201), `round ${n}: every registration in flight is answered 201`)
  await npm.waitFor('npm start to exit', () => npm.exit !== undefined, EXIT_LIMIT_MS).catch(() => {})
  const exit = npm.exit
  context.stdout = npm.stdout
  context.stderr = npm.stderr
  t.same(exit, { code: 0, signal: null }, `round ${n}: npm start exits 0`, context)
  const lines = npm.logLines()
  const closing = lines.findIndex((line) => line.msg === 'closing')
  t.ok(closing >= 0, `round ${n}: the closing line is logged`, context)
  const completedAfter = lines.slice(closing + 1).filter((line) => line.msg === 'request completed').length
  t.ok(completedAfter > 0, `round ${n}: registrations were still in flight when the signal arrived`, context)
  t.notOk(existsSync(join(dir, 'app.db-wal')), `round ${n}: the database was closed (no -wal file left)`, context)
  t.notMatch(npm.output, /second SIGTERM|killed by timeout/, `round ${n}: the close was not cut short`, context)
  t.ok(lines.filter((line) => line.msg === 'already closing: signal ignored').length <= 1, `round ${n}: a repeated signal is logged once at most`, context)
}

t.test(`SIGTERM to npm start's process group, ${ROUNDS} times with requests in flight: each drains and closes the database`,
  { skip: built.code !== 0 && 'the build failed' }, async (t) => {
    let next = 0
    const lane = async () => {
      while (next < ROUNDS) await round(t, next++)
    }
    await Promise.all(Array.from({ length: AT_ONCE }, lane))
  })
