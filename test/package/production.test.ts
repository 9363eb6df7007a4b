import { execFile } from 'node:child_process'
import { copyFile, lstat, mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { INSTALL_DIR, readServiceUnit, STATE_DIR } from '../deploy/systemd-unit.js'
import { builtTree, copyBuiltTree, type TreeBuild } from '../support/built-tree.js'
import { docBlock } from '../support/doc-blocks.js'
import { cleanEnv, freePort, httpLogin, httpMe, httpRegister, repoRoot, tempDir } from '../src/process-helper.js'
import { answers, describeRun, LongRunning, npmEnv, randomSecret, run, type RunResult } from './support.js'

// The production tree a deploy makes: the repository, built, then `npm prune --omit=dev`, then
// docs/deployment.md's line for the optional packages (here better-sqlite3, for SQLite). It must
// run the service (`npm start`) and the CLI (its bin, `npm run cli`) without any of the
// development tooling, and say plainly what is missing: the build, or an optional package.
//
// Everything happens in a copy of the tree tap's `before` built as `npm run build` does
// (test/support/built-tree.ts): the prune removes packages from the copy's node_modules only.

t.setTimeout(300_000)

const execFileAsync = promisify(execFile)
const work = await tempDir(t)
const app = join(work, 'app')

/**
 * node_modules is hard-linked (`cp -al`, same filesystem: about a second instead of copying
 * hundreds of MB), else copied (`cp -a`). npm rewrites node_modules/.package-lock.json in place,
 * which through a hard link would change the repository's own: that one file is copied. A
 * node_modules that is a link (a work tree sharing another's) is copied from where it points:
 * `cp -a` would copy the link, and the prune would empty the shared folder.
 */
async function copyNodeModules (): Promise<'hard links' | 'copy'> {
  const from = await realpath(join(repoRoot, 'node_modules'))
  const to = join(app, 'node_modules')
  try {
    await execFileAsync('cp', ['-al', from, to], { timeout: 120_000 })
    const hidden = join(to, '.package-lock.json')
    if ((await stat(hidden).catch(() => undefined)) !== undefined) {
      await rm(hidden)
      await copyFile(join(from, '.package-lock.json'), hidden)
    }
    return 'hard links'
  } catch {
    await rm(to, { recursive: true, force: true })
    await execFileAsync('cp', ['-a', from, to], { timeout: 120_000 })
    return 'copy'
  }
}

const prepared: { how?: string, build?: TreeBuild, prune?: RunResult } = {}
prepared.build = await builtTree()
if (prepared.build.code === 0) {
  await copyBuiltTree(app)
  prepared.how = await copyNodeModules()
  prepared.prune = await run('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund'], { cwd: app, env: npmEnv(), timeoutMs: 120_000 })
}
const notPruned = prepared.prune?.code !== 0 && 'the build or the prune failed'

/** docs/deployment.md's line installing the optional packages into the pruned tree. */
function optionalPackagesLine (): string {
  const { code } = docBlock('docs/deployment.md', 'Production install', 'sh')
  const line = code.split('\n').find((text) => text.startsWith('npm install --no-save --save-prod --omit=dev better-sqlite3@'))
  if (line === undefined) throw new Error('docs/deployment.md: no line installing better-sqlite3 under Production install')
  return line.replace(/\s+#.*$/, '')
}

const exists = async (path: string) => (await stat(path).catch(() => undefined)) !== undefined

t.test('the copy builds and prunes to production dependencies', async (t) => {
  t.comment(`node_modules copied as ${prepared.how ?? '?'}; prune ${prepared.prune?.ms ?? 0} ms`)
  t.equal(prepared.build?.code, 0, 'npm run build succeeds', { output: prepared.build?.output })
  t.equal(prepared.prune?.code, 0, 'npm prune --omit=dev succeeds', prepared.prune === undefined ? {} : describeRun('npm prune', prepared.prune))
  if (notPruned !== false) return
  for (const tool of ['typescript', 'tsx', 'tap', 'esbuild']) {
    t.notOk(await exists(join(app, 'node_modules', tool)), `${tool} is gone`)
  }
  for (const dependency of ['fastify', '@node-rs/bcrypt']) {
    t.ok(await exists(join(app, 'node_modules', dependency)), `${dependency} stays`)
  }
  t.ok(await exists(join(repoRoot, 'node_modules', 'typescript')), "the repository's own node_modules is untouched")
  t.notOk((await lstat(join(app, 'node_modules'))).isSymbolicLink(), "the pruned node_modules is a folder of the copy's own, not a link")
  for (const optional of ['better-sqlite3', 'pg', 'ioredis', 'redoc']) {
    t.notOk(await exists(join(app, 'node_modules', optional)), `${optional}, an optional peer, is not installed`)
  }
})

t.test("without better-sqlite3, npm start on SQLite stops naming it; docs/deployment.md's line installs it", { skip: notPruned }, async (t) => {
  const env = npmEnv({ PORT: String(await freePort()), HOST: '127.0.0.1', DATABASE_URL: `sqlite:${join(work, 'never.db')}`, JWT_SECRET: randomSecret() })
  const result = await run('npm', ['start'], { cwd: app, env, timeoutMs: 30_000 })
  t.not(result.code, 0, 'npm start fails', describeRun('npm start', result))
  t.match(result.stderr, /^fastify-token-auth: a sqlite: database needs the optional better-sqlite3 package: npm install better-sqlite3@12$/m,
    'with one line naming the package and the command', describeRun('npm start', result))
  t.notMatch(result.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'and no stack trace')
  t.notOk(await exists(join(work, 'never.db')), 'no database file was made')

  // npm's cache and no install scripts: the repository's built binary (same pinned version) is copied in.
  const line = optionalPackagesLine()
  const install = await run('sh', ['-c', line], { cwd: app, env: npmEnv({ NPM_CONFIG_PREFER_OFFLINE: 'true', NPM_CONFIG_IGNORE_SCRIPTS: 'true' }), timeoutMs: 120_000 })
  t.equal(install.code, 0, `${line} succeeds`, describeRun(line, install))
  t.comment(`the optional packages' install took ${install.ms} ms`)
  if (install.code !== 0) return
  const versionOf = async (root: string) => (JSON.parse(await readFile(join(root, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string }).version
  t.equal(await versionOf(app), await versionOf(repoRoot), "the version installed is the repository's, whose build is copied in")
  const binary = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')
  await mkdir(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true })
  await copyFile(join(repoRoot, binary), join(app, binary))
  for (const tool of ['typescript', 'tsx', 'tap']) t.notOk(await exists(join(app, 'node_modules', tool)), `and ${tool} stays out`)
})

const port = await freePort()
const base = `http://127.0.0.1:${port}`
const databaseUrl = `sqlite:${join(work, 'app.db')}`
const user = { username: 'produser', password: `pw-${randomSecret().slice(0, 16)}` }

t.test('npm start serves the API and SIGTERM stops it with exit code 0', { skip: notPruned }, async (t) => {
  const server = new LongRunning(t, 'npm', ['start'], {
    cwd: app,
    env: npmEnv({ PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, JWT_SECRET: randomSecret(), LOG_LEVEL: 'info' })
  })
  await server.waitForListening(30_000)

  const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(10_000) })
  t.equal(health.status, 200, '/health answers')
  t.equal((await httpRegister(base, user)).status, 201, 'POST /users/ registers')
  const token = await httpLogin(base, user.username, user.password)
  const me = await httpMe(base, token)
  t.equal(me.status, 200, '/users/me/ answers with the token')
  t.match(await me.json(), { username: user.username, disabled: false }, 'with the user')

  // Without the optional redoc package the service still serves its docs, and says ReDoc is off.
  t.equal((await fetch(`${base}/docs/`, { signal: AbortSignal.timeout(10_000) })).status, 200, '/docs answers')
  t.equal((await fetch(`${base}/redoc`, { signal: AbortSignal.timeout(10_000) })).status, 404, '/redoc is not served')
  t.match(server.output, /ReDoc is off: install the optional redoc package/, 'and the start-up log says why')

  // SIGTERM to npm itself, as a container runtime or a process manager sends it.
  const exit = await server.stop('SIGTERM', 15_000)
  t.same(exit, { code: 0, signal: null }, 'npm start exits 0 on SIGTERM', { output: server.output })
  t.notOk(await answers(`${base}/health`), 'and the server is gone: nothing answers on its port')
  t.match(server.output, /"msg":"closing"/, 'the service logged its graceful close')
  await server.killGroup()
})

t.test("deploy/token-auth.service's command line and environment serve from the pruned tree", { skip: notPruned }, async (t) => {
  // What systemd would run, with the install and state directories moved into this test's
  // (the hardening itself needs systemd as PID 1: test/deploy/systemd.test.ts checks the file).
  const unit = await readServiceUnit()
  const state = join(work, 'state')
  await mkdir(state, { mode: 0o700 })
  const place = (value: string) => value.replaceAll(INSTALL_DIR, app).replaceAll(STATE_DIR, state)
  const unitPort = await freePort()
  const env: NodeJS.ProcessEnv = { ...cleanEnv(), ...Object.fromEntries(Object.entries(unit.environment).map(([key, value]) => [key, place(value)])), PORT: String(unitPort) }
  if (unit.environment.ENV_FILE === undefined) delete env.ENV_FILE
  // A .env left in the install directory is not read: settings come from the unit.
  await writeFile(join(app, '.env'), 'REGISTRATION=closed\n')
  t.teardown(async () => { await rm(join(app, '.env'), { force: true }) })
  t.equal(unit.workingDirectory, INSTALL_DIR)
  const [node, ...args] = unit.execStart.map(place)
  t.equal(node, '/usr/bin/node', 'ExecStart names node by its absolute path')
  // UMask=0077 as systemd applies it.
  const service = new LongRunning(t, 'sh', ['-c', 'umask 077 && exec "$0" "$@"', process.execPath, ...args], { cwd: place(unit.workingDirectory), env })
  await service.waitForListening(30_000)
  const unitBase = `http://127.0.0.1:${unitPort}`
  t.equal((await fetch(`${unitBase}/health/ready`, { signal: AbortSignal.timeout(10_000) })).status, 200, 'ready')
  t.equal((await httpRegister(unitBase, { username: 'unituser', password: user.password })).status, 201, 'registration open: the .env was not read')
  t.equal((await stat(join(state, 'app.db'))).mode & 0o777, 0o600, 'the database is in the state directory, mode 0600')
  t.equal((await stat(join(state, 'app.db.jwt-secret'))).mode & 0o777, 0o600, 'and so is the generated secret')
  t.same(await service.stop('SIGTERM', 15_000), { code: 0, signal: null }, 'SIGTERM (KillMode=mixed sends it to this process only): exit 0')
})

t.test('the CLI runs from the pruned tree: its bin through npx, and npm run cli', { skip: notPruned }, async (t) => {
  const env = npmEnv({ DATABASE_URL: databaseUrl })
  const list = await run('npx', ['--no-install', 'fastify-token-auth', 'list'], { cwd: app, env, timeoutMs: 60_000 })
  t.equal(list.code, 0, 'npx --no-install fastify-token-auth list succeeds', describeRun('npx fastify-token-auth list', list))
  t.match(list.stdout, new RegExp(`^${user.username}\\t`, 'm'), 'and lists the user registered over HTTP')

  const password = `pw-${randomSecret().slice(0, 16)}`
  const created = await run('npx', ['--no-install', 'fastify-token-auth', 'create-user', 'cliuser', '--password-stdin'],
    { cwd: app, env, timeoutMs: 60_000, input: password })
  t.equal(created.code, 0, 'create-user --password-stdin succeeds', describeRun('npx fastify-token-auth create-user', created))

  const viaScript = await run('npm', ['run', 'cli', '--', 'list'], { cwd: app, env, timeoutMs: 60_000 })
  t.equal(viaScript.code, 0, 'npm run cli -- list succeeds', describeRun('npm run cli -- list', viaScript))
  t.match(viaScript.stdout, new RegExp(`^${user.username}\\t`, 'm'), 'and lists the first user')
  t.match(viaScript.stdout, /^cliuser\t/m, 'and the one the CLI created')
  t.notOk(created.stdout.includes(password) || created.stderr.includes(password), 'the password is never printed')
})

t.test('a postgres:// DATABASE_URL without pg, a REDIS_URL without ioredis: start-up errors naming them', { skip: notPruned }, async (t) => {
  const start = async (env: Record<string, string>) => await run('npm', ['start'], {
    cwd: app, env: npmEnv({ PORT: String(await freePort()), HOST: '127.0.0.1', JWT_SECRET: randomSecret(), ...env }), timeoutMs: 30_000
  })
  const [pg, redis] = await Promise.all([
    start({ DATABASE_URL: 'postgres://app@127.0.0.1:1/app' }),
    start({ DATABASE_URL: `sqlite:${join(work, 'redis.db')}`, REDIS_URL: 'redis://127.0.0.1:1' })
  ])
  t.not(pg.code, 0, 'npm start fails on PostgreSQL', describeRun('npm start', pg))
  t.match(pg.stderr, /^fastify-token-auth: a postgres:\/\/ database needs the optional pg package: npm install pg@8$/m, 'naming the package to install', describeRun('npm start', pg))
  t.not(redis.code, 0, 'npm start fails with Redis', describeRun('npm start', redis))
  t.match(redis.stderr, /^fastify-token-auth: REDIS_URL needs the optional ioredis package: npm install ioredis@6$/m, 'naming the package to install', describeRun('npm start', redis))
})

t.test('the pruned tree runs from a directory whose path has a space', { skip: notPruned }, async (t) => {
  const spaced = join(work, 'deployed app')
  await rename(app, spaced)
  t.teardown(async () => { await rename(spaced, app) })
  const list = await run('npm', ['run', 'cli', '--', 'list'], { cwd: spaced, env: npmEnv({ DATABASE_URL: databaseUrl }), timeoutMs: 60_000 })
  t.equal(list.code, 0, 'npm run cli -- list succeeds', describeRun('npm run cli -- list', list))
  t.match(list.stdout, new RegExp(`^${user.username}\\t`, 'm'), 'and lists the user')
})

t.test('without dist/, npm start and npm run cli fail fast with a clear message', { skip: notPruned }, async (t) => {
  await rm(join(app, 'dist'), { recursive: true, force: true })
  const env = npmEnv({ PORT: String(await freePort()), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, JWT_SECRET: randomSecret() })
  for (const [what, args] of [['npm start', ['start']], ['npm run cli -- list', ['run', 'cli', '--', 'list']]] as const) {
    const result = await run('npm', [...args], { cwd: app, env, timeoutMs: 30_000 })
    t.not(result.code, 0, `${what} fails`, describeRun(what, result))
    t.ok(result.ms < 10_000, `${what} fails fast (${result.ms} ms)`)
    t.match(result.stderr, /There is no build \(dist\/\)/, 'saying there is no build', describeRun(what, result))
    t.notMatch(result.stdout + result.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'without a stack trace')
    t.notMatch(result.stdout + result.stderr, /error TS\d+|tsc: not found/, 'and without trying to run tsc')
  }
})
