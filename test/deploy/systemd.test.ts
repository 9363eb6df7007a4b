import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import SQLite from 'better-sqlite3'
import t from 'tap'
import { cleanEnv, dbEnv, freePort, httpLogin, httpToken, repoRoot, spawnServer, startCommand, startServer, tempDir, type Teardown } from '../src/process-helper.js'
import { INSTALL_DIR, readServiceUnit, STATE_DIR, UNIT_PATH } from './systemd-unit.js'

// deploy/token-auth.service checked by Debian's systemd tools: `systemd-analyze verify` with
// no complaint at all (it exits 0 on an unknown key, so its output must be empty too), and the
// offline security review. Running it needs systemd as PID 1, which a test machine may lack;
// test/package/production.test.ts runs its command line on a production tree instead, and the
// tests here run its readiness wait against the built service and hold its limits against it.

const run = promisify(execFile)
const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((path) => existsSync(path))
const skip = analyze === undefined && process.env.CI === undefined ? 'systemd-analyze is not installed (apt-get install systemd)' : false

t.test('systemd-analyze verify: no error and no warning', { skip }, async (t) => {
  if (analyze === undefined) throw new Error('systemd-analyze is not installed (.ci/run installs systemd)')
  const unit = await readServiceUnit()
  let path = UNIT_PATH
  // verify checks that the programs exist: where node lives elsewhere, point them there.
  if (!existsSync(unit.execStart[0] as string)) {
    path = join(await tempDir(t), 'token-auth.service')
    await writeFile(path, unit.text.replace(/^(ExecStart(?:Post)?)=\S+/gm, `$1=${process.execPath}`))
  }
  const { stdout, stderr } = await run(analyze, ['verify', path], { timeout: 60_000 })
  t.equal(stdout + stderr, '', 'nothing to report')
})

t.test('systemd-analyze security rates the unit at most 2.0 ("OK")', { skip }, async (t) => {
  if (analyze === undefined) throw new Error('systemd-analyze is not installed (.ci/run installs systemd)')
  const { stdout } = await run(analyze, ['security', '--offline=yes', '--no-pager', UNIT_PATH], { timeout: 60_000 })
  const level = /Overall exposure level for token-auth\.service: ([0-9.]+)/.exec(stdout)
  t.ok(level, 'an overall exposure level', { stdout })
  t.ok(Number(level?.[1]) <= 2, `exposure ${level?.[1] ?? '?'} of 10`, { stdout })
})

t.test('the unit: its own user and state directory, a read-only system, npm start\'s node flags', async (t) => {
  const unit = await readServiceUnit()
  for (const setting of ['DynamicUser=yes', 'StateDirectory=token-auth', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'ProtectHome=yes', 'PrivateTmp=yes', 'KillMode=mixed']) {
    t.match(unit.text, new RegExp(`^${setting}$`, 'm'), setting)
  }
  t.same(unit.execStart.slice(1), startCommand().map((arg) => arg.replace(/^dist\//, `${INSTALL_DIR}/dist/`)),
    'ExecStart runs what npm start runs, from the install directory')
  t.equal(unit.workingDirectory, INSTALL_DIR)
  t.equal(unit.environment.DATABASE_URL, `sqlite:${STATE_DIR}/app.db`, 'the database (and its generated secret) in the state directory')
  t.equal(unit.environment.HOST, '127.0.0.1', 'loopback only, behind deploy/nginx.conf')
  t.equal(unit.environment.TRUST_PROXY, '127.0.0.1', 'believing the local nginx only')
})

/** The unit's program, or this node where the unit's is missing. */
const program = (path: string | undefined) => path !== undefined && existsSync(path) ? path : process.execPath

/** Resolves with the exit code once `child` ends; rejects after `ms`. */
async function exitOf (child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`still running after ${ms} ms`)) }, ms)
    child.once('exit', (code) => { clearTimeout(timer); resolve(code) })
  })
}

t.test('the unit is ready only once /health/ready answers 200 (ExecStartPost), within TimeoutStartSec', async (t) => {
  const unit = await readServiceUnit()
  t.equal(unit.value('Type'), 'exec', 'Type=exec: started once node runs, ready once ExecStartPost ends')
  t.equal(unit.execStartPost[0], unit.execStart[0], 'the readiness wait runs the service\'s node')
  t.match(unit.value('TimeoutStartSec'), /^[1-9]\d*s$/, 'TimeoutStartSec bounds the wait')

  /** The unit's ExecStartPost with the unit's HOST, against `port`; killed when the test ends. */
  const readinessWait = (t: Teardown, port: number) => {
    const [file, ...args] = unit.execStartPost
    const child = spawn(program(file), args, { env: cleanEnv({ HOST: unit.environment.HOST, PORT: String(port) }), stdio: 'ignore' })
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    return child
  }

  const dir = await tempDir(t)
  const port = await freePort()
  const early = readinessWait(t, port)
  await sleep(1000)
  t.equal(early.exitCode, null, 'it waits while nothing listens on the port')
  spawnServer(t, dbEnv(dir, { HOST: '127.0.0.1', PORT: String(port), DATABASE_TIMEOUT_MS: '300' }), { built: true })
  t.equal(await exitOf(early, 15_000), 0, 'and ends with 0 once the service answers')

  // A database that takes no write: the service answers, /health/ready says 503.
  const other = new SQLite(join(dir, 'app.db'))
  t.teardown(() => { if (other.open) other.close() })
  other.pragma('busy_timeout = 0')
  other.exec('BEGIN IMMEDIATE')
  const blocked = readinessWait(t, port)
  await sleep(1500)
  t.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 503, 'the service answers 503 while the database is write-locked')
  t.equal(blocked.exitCode, null, 'and the readiness wait goes on waiting')
  other.exec('ROLLBACK')
  t.equal(await exitOf(blocked, 10_000), 0, 'it ends with 0 once the database takes writes again')
})

/** A systemd size (1024-based suffixes) in bytes. */
function bytes (size: string | undefined): number {
  const match = /^(\d+)([KMGT]?)$/.exec(size ?? '')
  if (match === null) throw new Error(`not a size: ${String(size)}`)
  return Number(match[1]) * 1024 ** ' KMGT'.indexOf(match[2] || ' ')
}

t.test('MemoryMax and TasksMax leave the running service room for a second node process', { skip: existsSync('/proc/self/task') ? false : 'no /proc' }, async (t) => {
  const unit = await readServiceUnit()
  const memoryMax = bytes(unit.value('MemoryMax'))
  const tasksMax = Number(unit.value('TasksMax'))
  t.ok(Number.isInteger(tasksMax) && tasksMax > 0, `TasksMax=${String(unit.value('TasksMax'))}`)

  // As the unit runs it (npm start's flags), after logins have started bcrypt's threads.
  const { server, base } = await startServer(t, dbEnv(await tempDir(t)), { built: true })
  for (let i = 0; i < 8; i++) await httpToken(base, 'nobody', 'wrong-password')
  const pid = server.pid as number
  const tasks = (await readdir(`/proc/${pid}/task`)).length
  const peak = Number(/^VmHWM:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024
  t.ok(2 * tasks <= tasksMax, `TasksMax=${tasksMax}: the service runs ${tasks} threads`)
  t.ok(peak > 0 && 2 * peak <= memoryMax, `MemoryMax=${String(unit.value('MemoryMax'))}: the service's peak resident size is ${Math.round(peak / 2 ** 20)} MB`)
})

/**
 * docs/deployment.md's first-user command, read as the shell and systemd-run read it: the
 * password piped in, systemd-run's unit settings (-p, --working-directory, -E) and the command.
 */
async function firstUserCommand (): Promise<{ password: string, settings: string[], env: Record<string, string>, command: string[] }> {
  const guide = await readFile(join(repoRoot, 'docs', 'deployment.md'), 'utf8')
  const line = /^printf '%s' '([^']*)' \| sudo systemd-run ((?:.*\\\n)*.*)$/m.exec(guide)
  if (line === null) throw new Error('docs/deployment.md has no "printf … | sudo systemd-run …" line')
  const words = (line[2] as string).replace(/\\\n/g, ' ').trim().split(/\s+/)
  if (words.some((word) => /['"$\\]/.test(word))) throw new Error(`quoting this reader does not follow: ${line[0]}`)
  const settings: string[] = []
  const env: Record<string, string> = {}
  let i = 0
  for (; i < words.length && (words[i] as string).startsWith('-'); i++) {
    const word = words[i] as string
    if (word === '-p') settings.push(words[++i] as string)
    else if (word === '-E') {
      const [key, ...value] = (words[++i] as string).split('=')
      env[key as string] = value.join('=')
    } else if (word.startsWith('--working-directory=')) settings.push(`WorkingDirectory=${word.slice('--working-directory='.length)}`)
    else if (!['--pipe', '--wait', '--quiet', '--collect'].includes(word)) throw new Error(`an option this reader does not know: ${word}`)
  }
  return { password: line[1] as string, settings, env, command: words.slice(i) }
}

t.test('docs/deployment.md\'s first user: valid unit settings, and a user the service the unit runs logs in with', { skip }, async (t) => {
  if (analyze === undefined) throw new Error('systemd-analyze is not installed (.ci/run installs systemd)')
  const unit = await readServiceUnit()
  const doc = await firstUserCommand()
  t.equal(doc.env.DATABASE_URL, unit.environment.DATABASE_URL, 'the unit\'s database')
  t.equal(doc.env.ENV_FILE, unit.environment.ENV_FILE, 'and, as the unit, no .env')
  for (const setting of ['DynamicUser=yes', 'StateDirectory=token-auth', `WorkingDirectory=${unit.workingDirectory}`, `EnvironmentFile=${String(unit.value('EnvironmentFile'))}`, `UMask=${String(unit.value('UMask'))}`]) {
    t.ok(doc.settings.includes(setting), `as the unit: ${setting}`)
  }
  t.ok(doc.settings.includes('User=token-auth'), 'the dynamic user the unit gets from its name, shared while both run')

  // systemd-run -p takes unit-file settings: as a unit file they pass verify without a word.
  const dir = await tempDir(t)
  const transient = join(dir, 'first-user.service')
  await writeFile(transient, ['[Service]', ...doc.settings, ...Object.entries(doc.env).map(([key, value]) => `Environment=${key}=${value}`),
    `ExecStart=${[program(doc.command[0]), ...doc.command.slice(1)].join(' ')}`, ''].join('\n'))
  const { stdout, stderr } = await run(analyze, ['verify', transient], { timeout: 60_000 })
  t.equal(stdout + stderr, '', 'systemd-analyze verify: nothing to report')

  // The command itself beside the running service, the state directory moved into the test's.
  const state = join(dir, 'state')
  // StateDirectory=: systemd makes it before the service starts.
  await mkdir(state, { recursive: true })
  const place = (value: string) => value.replaceAll(STATE_DIR, state)
  const { base } = await startServer(t, cleanEnv({ DATABASE_URL: place(unit.environment.DATABASE_URL as string), BCRYPT_COST: '4' }), { built: true })
  const [file, ...args] = doc.command
  const cli = spawn(program(file), args, {
    cwd: repoRoot,
    env: cleanEnv(Object.fromEntries(Object.entries(doc.env).map(([key, value]) => [key, place(value)]))),
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let said = ''
  cli.stdout.setEncoding('utf8').on('data', (chunk: string) => { said += chunk })
  cli.stdin.end(doc.password)
  t.equal(await exitOf(cli, 30_000), 0, 'the CLI exits 0')
  const username = args[args.indexOf('create-user') + 1] as string
  t.equal(said, `Created user ${username}\n`, 'and says so')
  t.ok(await httpLogin(base, username, doc.password), 'the service logs the new user in')
})
