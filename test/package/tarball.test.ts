import { cp, mkdir, readdir, readFile, writeFile, copyFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import t from 'tap'
import { freshDatabaseUrl, postgresUrl } from '../helper.js'
import { freePort, httpRegister, httpToken, repoRoot, tempDir } from '../src/process-helper.js'
import { BUILT_TREE, builtTree, type TreeBuild } from '../support/built-tree.js'
import { docBlock } from '../support/doc-blocks.js'
import { describeRun, LongRunning, npmEnv, randomSecret, run, type RunResult } from './support.js'

// What a user installs: `npm pack` of the repository, installed by npm into a fresh host
// project made from examples/host, compiled with strict TypeScript that checks the package's
// declarations (skipLibCheck false), then run and called over HTTP. The host is first one on
// PostgreSQL, without the optional better-sqlite3 and ioredis; the README's driver line then
// adds better-sqlite3, for the example's SQLite.
//
// The pack runs in the tree tap's `before` built (test/support/built-tree.ts) with npm's
// scripts off: its prepack script is that same build, so running it again would only repeat it.

t.setTimeout(300_000)

const work = await tempDir(t)
const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc')
const repoPkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string, scripts: Record<string, string>, devDependencies: Record<string, string> }

async function pack (): Promise<{ build: TreeBuild, result?: RunResult, tarball?: string }> {
  const build = await builtTree()
  if (build.code !== 0) return { build }
  const out = join(work, 'pack')
  await mkdir(out, { recursive: true })
  const result = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', out], { cwd: BUILT_TREE, env: npmEnv(), timeoutMs: 120_000 })
  const tarball = (await readdir(out)).find((name) => name.endsWith('.tgz'))
  return { build, result, tarball: tarball === undefined ? undefined : join(out, tarball) }
}

const packed = await pack()
const noTarball = packed.tarball === undefined && 'npm pack made no tarball'

/** The host's source files for the type checks: each one a program of its own. */
const jwtHost = `import jwt from '@fastify/jwt'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import tokenAuth, { authenticate as tokenAuthenticate, currentActiveUser, requireScopes, userOf, type Token, type TokenAuthUser } from 'fastify-token-auth'

// @fastify/jwt's recipe, and nothing declared for the plugin: request.user and authenticate are
// the host's, the plugin's account comes from userOf.
interface HostClaims {
  sub: string
  scope: string[]
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: HostClaims
    user: HostClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

const secret = process.env.JWT_SECRET ?? ''
const app = Fastify()
await app.register(jwt, { secret })
app.decorate('authenticate', async (request: FastifyRequest, _reply: FastifyReply) => { await request.jwtVerify() })
await app.register(tokenAuth, { prefix: '/auth', secret, database: 'sqlite::memory:', decorators: { authenticate: false }, scopes: { 'orders:read': 'Read your orders' } })

app.get('/host-token', { onRequest: app.authenticate }, async (request) => {
  const claims: HostClaims = request.user
  return { sub: claims.sub, scope: claims.scope }
})
app.get('/plugin-token', { onRequest: tokenAuthenticate }, async (request) => {
  const account: TokenAuthUser = userOf(request)
  return { username: account.username, disabled: account.disabled }
})
app.get('/active', { onRequest: currentActiveUser }, async (request) => ({ active: !userOf(request).disabled }))
app.get('/orders', { onRequest: requireScopes('orders:read') }, async (request) => ({ owner: userOf(request).username }))

export const hostToken: string = app.jwt.sign({ sub: 'host', scope: ['orders:read'] })
export const pluginToken: Promise<Token> = app.tokenAuth.issueToken('someone', { scope: 'orders:read' })
export const granted: Promise<string> = pluginToken.then((token) => token.scope)
`

const dbHost = `import Fastify from 'fastify'
import { Registry } from 'prom-client'
import tokenAuth, { userOf, type TokenAuthMetricsOptions } from 'fastify-token-auth'

/** The host's own data access, under names the plugin uses inside its own context. */
interface HostDb {
  orders: (owner: string) => Promise<string[]>
}

declare module 'fastify' {
  interface FastifyInstance {
    db: HostDb
    items: Map<string, number>
  }
}

const app = Fastify()
app.decorate('db', { orders: async (owner: string) => [\`\${owner}'s first order\`] } satisfies HostDb)
app.decorate('items', new Map<string, number>())
// The host's own prom-client registry, the address its clients use, and operationIds of its own.
const metrics: TokenAuthMetricsOptions = { registry: new Registry(), prefix: 'shop_auth_' }
await app.register(tokenAuth, { secret: process.env.JWT_SECRET ?? '', database: 'sqlite::memory:', metrics, publicUrl: 'https://shop.acme.test', docs: { operationIdPrefix: 'shop' } })
const operationIdPrefix: string = app.tokenAuth.settings.operationIdPrefix

app.get('/orders', { onRequest: app.currentActiveUser }, async (request) => {
  const orders: string[] = await app.db.orders(userOf(request).username)
  return { orders, stock: app.items.size, ids: operationIdPrefix }
})
`

const storeHost = `import Fastify from 'fastify'
import tokenAuth, { emailVerified, migrate, resealSecrets, UsernameTakenError, type AccountChange, type Resealed, type MailMessage, type NewUser, type ProfileChanges, type SessionRecord, type Token, type TokenAuthOptions, type UserRecord, type UserStore } from 'fastify-token-auth'

/** The host's own accounts; the plugin keeps only its sessions, in a database of their own. */
const accounts = new Map<string, UserRecord>()
const store: UserStore = {
  findByUsername: async (username) => accounts.get(username),
  async create (user: NewUser) {
    if (accounts.has(user.username)) throw new UsernameTakenError(user.username)
    const record: UserRecord = { username: user.username, email: user.email ?? null, fullName: user.fullName ?? null, disabled: user.disabled ?? false, hashedPassword: user.hashedPassword }
    accounts.set(record.username, record)
    return record
  },
  async setPassword (username, hashedPassword) {
    const record = accounts.get(username)
    if (record !== undefined) record.hashedPassword = hashedPassword
    return record !== undefined
  },
  async replacePassword (username, current, next) {
    const record = accounts.get(username)
    if (record === undefined || record.hashedPassword !== current) return false
    record.hashedPassword = next
    return true
  },
  async setDisabled (username, disabled) {
    const record = accounts.get(username)
    if (record !== undefined) record.disabled = disabled
    return record !== undefined
  },
  async update (username, changes: ProfileChanges) {
    const record = accounts.get(username)
    if (record === undefined) return undefined
    if (changes.email !== undefined) record.email = changes.email
    if (changes.email === null) record.verifiedEmail = null
    if (changes.fullName !== undefined) record.fullName = changes.fullName
    return record
  },
  delete: async (username) => accounts.delete(username),
  async setVerifiedEmail (username, email) {
    const record = accounts.get(username)
    if (record === undefined || record.email !== email) return false
    record.verifiedEmail = email
    return true
  },
  findByVerifiedEmail: async (email) => [...accounts.values()].filter((record) => record.verifiedEmail?.toLowerCase() === email.toLowerCase())
}

// Compiled, not registered: account recovery's options as a host writes them.
const recovery: Pick<TokenAuthOptions, 'mail' | 'requireVerifiedEmail' | 'passwordResetMinutes' | 'emailVerificationMinutes' | 'pwnedPasswords'> = {
  mail: { send: async (message: MailMessage) => message.url, resetUrl: 'https://app.example/reset', verifyUrl: 'https://app.example/verify' },
  requireVerifiedEmail: true,
  passwordResetMinutes: 30,
  emailVerificationMinutes: 60,
  pwnedPasswords: { url: 'https://api.pwnedpasswords.com/range', failClosed: false }
}
const proven: boolean = emailVerified({ email: 'a@example.org', verifiedEmail: 'a@example.org' })
void recovery
void proven
// Compiled, not registered: the second factor's options, and sealing its secrets again after a new secret.
const secondFactor: Pick<TokenAuthOptions, 'totpIssuer' | 'throttle'> = { totpIssuer: 'Example Notes', throttle: { mfa: { max: 30, windowSeconds: 3600 }, otpFailuresPerHour: 10 } }
export const resealed: (database: Parameters<typeof resealSecrets>[0], previous: string, current: string) => Promise<Resealed> = resealSecrets
void secondFactor

const secret = process.env.JWT_SECRET ?? ''
const app = Fastify()
// @ts-expect-error a store needs a database beside it for the sessions
await app.register(tokenAuth, { secret, store })
await app.register(tokenAuth, {
  secret,
  store,
  database: 'sqlite::memory:',
  refreshTokenExpireDays: 7,
  sessionMaxDays: 30,
  refreshTokenReuseSeconds: 5,
  maxSessionsPerUser: 20,
  throttle: { sessions: { max: 30, windowSeconds: 60 } }
})

app.get('/admin/sessions/:username', async (request) => {
  const { username } = request.params as { username: string }
  const sessions: SessionRecord[] = await app.tokenAuth.sessions.list(username)
  return sessions.map((session) => ({ id: session.id, agent: session.userAgent, until: session.expiresAt }))
})
app.post('/admin/disable/:username', async (request) => {
  const { username } = request.params as { username: string }
  const change: AccountChange | undefined = await app.tokenAuth.accounts.disable(username, { actor: 'admin-api' })
  return { ended: change?.endedSessions ?? 0 }
})
app.post('/admin/mfa-reset/:username', async (request) => {
  const { username } = request.params as { username: string }
  const reset: boolean = await app.tokenAuth.accounts.resetMfa(username, { actor: 'admin-api' })
  return { reset }
})
// A deploy step's migration of a database the host owns: the sessions beside its own store.
export const migrated: (database: Parameters<typeof migrate>[0]) => Promise<void> = async (database) => { await migrate(database, { users: false }) }

export const issued: Promise<Token> = app.tokenAuth.issueToken('someone', { userAgent: 'host-login/1.0' })
export const refreshToken: Promise<string> = issued.then((token) => token.refresh_token)
export const idleDays: number = app.tokenAuth.settings.refreshTokenExpireDays
export const sessionCap: number = app.tokenAuth.settings.maxSessionsPerUser
`

/**
 * A host keeping its accounts itself and the plugin's sessions in PostgreSQL (DATABASE_URL), run
 * with node: it registers, logs in and reads the user, and prints what it saw.
 */
const pgStoreHost = `import Fastify from 'fastify'
import tokenAuth, { UsernameTakenError } from 'fastify-token-auth'

const accounts = new Map()
const change = (username, fields) => {
  const record = accounts.get(username)
  if (record !== undefined) Object.assign(record, fields)
  return record !== undefined
}
const store = {
  findByUsername: async (username) => accounts.get(username),
  async create (user) {
    if (accounts.has(user.username)) throw new UsernameTakenError(user.username)
    const record = { username: user.username, email: user.email ?? null, fullName: user.fullName ?? null, disabled: user.disabled ?? false, hashedPassword: user.hashedPassword }
    accounts.set(record.username, record)
    return record
  },
  setPassword: async (username, hashedPassword) => change(username, { hashedPassword }),
  setDisabled: async (username, disabled) => change(username, { disabled }),
  update: async (username, changes) => change(username, changes) ? accounts.get(username) : undefined,
  delete: async (username) => accounts.delete(username)
}

const app = Fastify()
await app.register(tokenAuth, { secret: process.env.JWT_SECRET, database: process.env.DATABASE_URL, store, bcryptCost: 4 })
const user = { username: 'pg-host-user', password: 'a-long-password' }
const registered = await app.inject({ method: 'POST', url: '/users/', payload: user })
const token = await app.inject({ method: 'POST', url: '/token', payload: new URLSearchParams(user).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
const me = await app.inject({ method: 'GET', url: '/users/me/', headers: { authorization: \`Bearer \${token.json().access_token}\` } })
const sessions = await app.tokenAuth.sessions.list(user.username)
await app.close()
process.stdout.write(JSON.stringify({ registered: registered.statusCode, token: token.statusCode, me: me.json(), inHostStore: accounts.has(user.username), sessions: sessions.length }))
`

/** A line of the README's install block, as written: the one starting with `start`. */
function readmeLine (start: string): string {
  const { code } = docBlock('README.md', 'Embedding in a Fastify service', 'sh')
  const line = code.split('\n').find((text) => text.startsWith(start))
  if (line === undefined) throw new Error(`README.md: no '${start}' line under Embedding in a Fastify service`)
  return line
}

/** The README's install line: `cd your-app && npm install ../fastify-token-auth/….tgz`. */
const readmeInstallLine = () => readmeLine('cd your-app && npm install ')
/** The README's driver line, run in your-app: `npm install better-sqlite3@12`. */
const readmeDriverLine = () => readmeLine('npm install better-sqlite3@')

/** npm's cache, and no install scripts, through the environment. */
const installEnv = () => npmEnv({ NPM_CONFIG_PREFER_OFFLINE: 'true', NPM_CONFIG_IGNORE_SCRIPTS: 'true' })

/**
 * A fresh host from examples/host (as `your-app`, beside a checkout holding the tarball as
 * `npm pack` names it), into which the README's install line installs the package.
 */
async function installHost (tarball: string): Promise<{ dir: string, install: RunResult, problem?: string }> {
  const dir = join(work, 'your-app')
  await cp(join(repoRoot, 'examples', 'host'), dir, { recursive: true, filter: (path) => !/[/\\](node_modules|dist)$/.test(path) })
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string>, devDependencies: Record<string, string> }
  // A host on PostgreSQL: pg, at the project's version (in npm's cache), in place of the example's
  // better-sqlite3, which the README's driver line installs later.
  delete pkg.dependencies['better-sqlite3']
  pkg.dependencies.pg = repoPkg.devDependencies.pg ?? '*'
  const tarballManifest = JSON.parse((await run('tar', ['-xzOf', tarball, 'package/package.json'], { cwd: work, env: npmEnv(), timeoutMs: 30_000 })).stdout) as { dependencies: Record<string, string> }
  // The README's line adds it.
  delete pkg.dependencies['fastify-token-auth']
  // For the @fastify/jwt host below: the version the plugin depends on, so both share one copy.
  pkg.dependencies['@fastify/jwt'] = tarballManifest.dependencies['@fastify/jwt'] ?? '*'
  // The db host's own prom-client: the version the plugin depends on.
  pkg.dependencies['prom-client'] = tarballManifest.dependencies['prom-client'] ?? '*'
  // The project's TypeScript compiles the host (`npm run build` finds it on PATH); @types/node
  // at the project's version, which npm's cache has.
  pkg.devDependencies = { '@types/node': repoPkg.devDependencies['@types/node'] ?? '*' }
  await writeFile(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n')
  await mkdir(join(dir, 'checks'), { recursive: true })
  const checkout = join(work, 'fastify-token-auth')
  await mkdir(checkout, { recursive: true })
  await copyFile(tarball, join(checkout, basename(tarball)))
  // The README's line, run as written from the directory holding both.
  const install = await run('sh', ['-c', readmeInstallLine()], { cwd: work, env: installEnv(), timeoutMs: 120_000 })
  if (install.code !== 0) return { dir, install, problem: 'npm install failed' }

  await writeFile(join(dir, 'checks', 'pg-store-host.mjs'), pgStoreHost)
  for (const [name, source] of [['jwt-host', jwtHost], ['db-host', dbHost], ['store-host', storeHost]] as const) {
    await writeFile(join(dir, 'checks', `${name}.ts`), source)
    await writeFile(join(dir, `tsconfig.${name}.json`), JSON.stringify({
      extends: './tsconfig.json',
      compilerOptions: { rootDir: '.', noEmit: true },
      include: [`checks/${name}.ts`]
    }, null, 2))
  }
  return { dir, install }
}

/**
 * The README's driver line in the host, with the repository's built better_sqlite3.node (same
 * pinned version) copied in: no 2.5-minute compile. (@node-rs/bcrypt ships its binary as an npm package.)
 */
async function installSqlite (dir: string): Promise<{ install: RunResult, problem?: string }> {
  const install = await run('sh', ['-c', readmeDriverLine()], { cwd: dir, env: installEnv(), timeoutMs: 120_000 })
  if (install.code !== 0) return { install, problem: `${readmeDriverLine()} failed` }
  const versionOf = async (root: string) => (JSON.parse(await readFile(join(root, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string }).version
  const [ours, theirs] = [await versionOf(repoRoot), await versionOf(dir)]
  if (ours !== theirs) return { install, problem: `better-sqlite3 ${theirs} installed, the repository has ${ours} built` }
  const binary = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')
  await mkdir(join(dir, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true })
  await copyFile(join(repoRoot, binary), join(dir, binary))
  return { install }
}

const host = packed.tarball === undefined ? undefined : await installHost(packed.tarball)
const noHost = noTarball !== false ? noTarball : host?.problem ?? false

// The three compilations run side by side; each test awaits its own.
const hostEnv = npmEnv({ PATH: `${join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` })
const compiled = host === undefined || noHost !== false
  ? undefined
  : {
      example: run('npm', ['run', 'build'], { cwd: host.dir, env: hostEnv, timeoutMs: 150_000 }),
      jwt: run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.jwt-host.json'], { cwd: host.dir, env: hostEnv, timeoutMs: 150_000 }),
      db: run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.db-host.json'], { cwd: host.dir, env: hostEnv, timeoutMs: 150_000 }),
      store: run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.store-host.json'], { cwd: host.dir, env: hostEnv, timeoutMs: 150_000 })
    }

// better-sqlite3 joins the host once the compilations (which read its node_modules) are done and
// the tests of the host without it have run: the first test that needs it asks.
let sqlite: Promise<{ install: RunResult, problem?: string }> | undefined
async function sqliteInstalled (): Promise<{ install: RunResult, problem?: string }> {
  sqlite ??= Promise.allSettled(Object.values(compiled ?? {})).then(async () => await installSqlite((host as { dir: string }).dir))
  return await sqlite
}

t.test('npm pack builds and packs the package', async (t) => {
  t.equal(repoPkg.scripts.prepack, 'npm run build', 'the prepack script is the build')
  t.equal(packed.build.code, 0, 'which succeeds', { output: packed.build.output })
  t.equal(packed.result?.code, 0, 'npm pack succeeds', packed.result === undefined ? {} : describeRun('npm pack', packed.result))
  t.ok(packed.tarball, 'and writes a tarball')
})

interface PackedManifest {
  private?: boolean
  license?: string
  main?: string
  types?: string
  bin?: Record<string, string>
  exports?: Record<string, string | Record<string, string>>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

t.test('the tarball holds the build, the docs and the licence, and nothing else', { skip: noTarball }, async (t) => {
  const tarball = packed.tarball as string
  const list = await run('tar', ['-tzf', tarball], { cwd: work, env: npmEnv(), timeoutMs: 30_000 })
  t.equal(list.code, 0, 'tar lists the tarball', describeRun('tar -tzf', list))
  const files = list.stdout.split('\n').filter((line) => line !== '')
  for (const file of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/service/bin.js', 'LICENSE', 'README.md', 'CHANGELOG.md', 'SECURITY.md', 'package.json']) {
    t.ok(files.includes(`package/${file}`), `has ${file}`)
  }
  t.same(files.filter((file) => file.startsWith('package/test/')), [], 'no tests')
  t.same(files.filter((file) => file.startsWith('package/bench/')), [], 'no benchmarks')
  t.same(files.filter((file) => /\.[cm]?ts$/.test(file) && !/\.d\.[cm]?ts$/.test(file)), [], 'no TypeScript sources, only declarations')
  t.same(files.filter((file) => file.endsWith('.map')), [], 'no source maps')

  const show = await run('tar', ['-xzOf', tarball, 'package/package.json'], { cwd: work, env: npmEnv(), timeoutMs: 30_000 })
  const manifest = JSON.parse(show.stdout) as PackedManifest
  t.equal(manifest.private, undefined, 'the packed package.json is not private')
  t.equal(manifest.license, 'MIT', 'license MIT')
  t.ok(manifest.peerDependencies?.fastify, 'fastify is a peer dependency')
  t.equal(manifest.dependencies?.fastify, undefined, 'and not a dependency')

  // Every entry point the manifest names is in the tarball; the bin runs under node.
  const targets = [manifest.main, manifest.types, ...Object.values(manifest.bin ?? {}),
    ...Object.values(manifest.exports ?? {}).flatMap((target) => typeof target === 'string' ? [target] : Object.values(target))]
  for (const target of targets) {
    if (target === undefined) continue
    t.ok(files.includes(`package/${target.replace(/^\.\//, '')}`), `${target} (named in package.json) is packed`)
  }
  const cli = await run('tar', ['-xzOf', tarball, 'package/dist/src/service/bin.js'], { cwd: work, env: npmEnv(), timeoutMs: 30_000 })
  t.ok(cli.stdout.startsWith('#!/usr/bin/env node\n'), 'the bin has a node shebang')
})

t.test("the README's install line installs the tarball into a fresh host", { skip: noTarball }, async (t) => {
  t.equal(host?.install.code, 0, `${readmeInstallLine()} succeeds`, host === undefined ? {} : describeRun(readmeInstallLine(), host.install))
  const manifest = host === undefined ? undefined : JSON.parse(await readFile(join(host.dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  t.match(manifest?.dependencies['fastify-token-auth'], /^file:\.\.\/fastify-token-auth\/fastify-token-auth-.*\.tgz$/, 'and records the tarball as the dependency')
  t.notOk(host?.problem, host?.problem ?? 'npm install succeeds')
  t.comment(`npm install took ${host?.install.ms ?? 0} ms`)
  if (host === undefined || host.problem !== undefined) return
  const installed = JSON.parse(await readFile(join(host.dir, 'node_modules', 'fastify-token-auth', 'package.json'), 'utf8')) as { version: string }
  t.equal(installed.version, repoPkg.version, 'the packed version is installed')
  // npm's engine warnings name only the packages docs/deployment.md says to expect, and why.
  const guide = await readFile(join(repoRoot, 'docs', 'deployment.md'), 'utf8')
  const start = guide.indexOf('\n## Node.js versions and install warnings\n')
  t.ok(start >= 0, 'docs/deployment.md has its Node.js versions section')
  const end = guide.indexOf('\n## ', start + 1)
  const section = guide.slice(start, end === -1 ? undefined : end)
  const warned = new Set([...host.install.stderr.matchAll(/EBADENGINE\s+package: '((?:@[^/']+\/)?[^@']+)@/g)].map((match) => match[1] as string))
  for (const name of warned) t.match(section, `| \`${name}\``, `the EBADENGINE warning for ${name} is explained in docs/deployment.md`)
  if (process.versions.node.startsWith('20.')) t.ok(warned.has('cookie'), "on Node.js 20 cookie's warning is seen: the pattern still reads npm's output", { stderr: host.install.stderr })
})

t.test('a host on PostgreSQL installs neither better-sqlite3 nor ioredis; on SQLite it stops, naming the package', { skip: noHost }, async (t) => {
  const dir = (host as { dir: string }).dir
  const lock = JSON.parse(await readFile(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> }
  const installed = Object.keys(lock.packages).map((path) => path.replace(/^.*node_modules\//, ''))
  for (const name of ['better-sqlite3', 'ioredis']) t.notOk(installed.includes(name), `no ${name} in the host's install`)
  t.ok(installed.includes('pg'), 'pg, the driver the host chose, is there')

  const build = await (compiled as NonNullable<typeof compiled>).example
  if (build.code === 0) {
    const data = await tempDir(t)
    const started = await run(process.execPath, ['dist/main.js'], {
      cwd: dir,
      env: npmEnv({ PORT: String(await freePort()), JWT_SECRET: randomSecret(), DATABASE_URL: `sqlite:${join(data, 'host.db')}` }),
      timeoutMs: 30_000
    })
    t.not(started.code, 0, 'the example host, given a sqlite: database, does not start', describeRun('node dist/main.js', started))
    t.match(started.stderr, 'fastify-token-auth: a sqlite: database needs the optional better-sqlite3 package: npm install better-sqlite3@12', 'the error names the package and the command')
    t.match(started.stderr, 'FST_TOKEN_AUTH_MISSING_PACKAGE', 'with its code')
    t.same(await readdir(data), [], 'and no database file was made')
  }

  const inCI = (process.env.CI ?? 'false') !== 'false' && process.env.CI !== ''
  t.test('its own user store, the sessions in PostgreSQL', { skip: postgresUrl === undefined && !inCI && 'no PostgreSQL server (TEST_POSTGRES_URL unset; npm test starts one when PostgreSQL is installed)' }, async (t) => {
    const databaseUrl = await freshDatabaseUrl(t, 'postgres')
    const result = await run(process.execPath, ['checks/pg-store-host.mjs'], { cwd: dir, env: npmEnv({ JWT_SECRET: randomSecret(), DATABASE_URL: databaseUrl }), timeoutMs: 60_000 })
    t.equal(result.code, 0, 'the host runs', describeRun('node checks/pg-store-host.mjs', result))
    if (result.code !== 0) return
    t.same(JSON.parse(result.stdout), { registered: 201, token: 200, me: { username: 'pg-host-user', email: null, email_verified: false, full_name: null, disabled: false }, inHostStore: true, sessions: 1 },
      "registration lands in the host's store, the login opens a session in PostgreSQL, the token reads the user")
  })
})

t.test('the example host compiles and serves: registration, token, its own guarded route, docs, a clean stop', { skip: noHost }, async (t) => {
  const build = await (compiled as NonNullable<typeof compiled>).example
  t.equal(build.code, 0, 'npm run build (tsc: strict, nodenext, skipLibCheck false) succeeds', describeRun('npm run build', build))
  t.comment(`tsc took ${build.ms} ms`)
  if (build.code !== 0) return
  const driver = await sqliteInstalled()
  t.equal(driver.install.code, 0, `${readmeDriverLine()} succeeds`, describeRun(readmeDriverLine(), driver.install))
  t.notOk(driver.problem, driver.problem ?? 'the built better-sqlite3 fits')
  t.comment(`npm install better-sqlite3 took ${driver.install.ms} ms`)
  if (driver.problem !== undefined) return

  const dir = host?.dir as string
  const data = await tempDir(t)
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  // The start script's command, run directly: a signal then reaches the host itself.
  const server = new LongRunning(t, process.execPath, ['dist/main.js'], {
    cwd: dir,
    env: npmEnv({ HOST: '127.0.0.1', PORT: String(port), JWT_SECRET: randomSecret(), DATABASE_URL: `sqlite:${join(data, 'host.db')}`, LOG_LEVEL: 'info' })
  })
  await server.waitForListening()

  const user = { username: 'packaged', password: `pw-${randomSecret().slice(0, 16)}` }
  const created = await httpRegister(`${base}/auth`, user)
  t.equal(created.status, 201, 'POST /auth/users/ creates the account')
  const tokenResponse = await httpToken(`${base}/auth`, user.username, user.password)
  t.equal(tokenResponse.status, 200, 'POST /auth/token answers')
  const login = await tokenResponse.json() as { access_token: string, token_type: string, refresh_token: string }
  t.equal(login.token_type, 'bearer', 'with a bearer token')
  t.type(login.refresh_token, 'string', 'and a refresh token')
  const refreshed = await fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: login.refresh_token }),
    signal: AbortSignal.timeout(10_000)
  })
  t.equal(refreshed.status, 200, 'the refresh grant answers')
  const token = await refreshed.json() as { access_token: string, refresh_token: string }
  t.not(token.refresh_token, login.refresh_token, 'with a new refresh token')

  const anonymous = await fetch(`${base}/api/orders`, { signal: AbortSignal.timeout(10_000) })
  t.equal(anonymous.status, 401, "the host's guarded route refuses a request without a token")
  t.equal(anonymous.headers.get('www-authenticate'), 'Bearer', 'and asks for a bearer token')
  const orders = await fetch(`${base}/api/orders`, { headers: { authorization: `Bearer ${token.access_token}` }, signal: AbortSignal.timeout(10_000) })
  t.equal(orders.status, 200, 'and answers with the token')
  t.same(await orders.json(), { owner: user.username, orders: [] }, 'with userOf(request).username')
  const logout = await fetch(`${base}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token.access_token}` }, signal: AbortSignal.timeout(10_000) })
  t.equal(logout.status, 204, 'POST /auth/logout ends the session')
  const after = await fetch(`${base}/api/orders`, { headers: { authorization: `Bearer ${token.access_token}` }, signal: AbortSignal.timeout(10_000) })
  t.equal(after.status, 401, "and the host's guarded route refuses its token next")

  const docs = await fetch(`${base}/auth/docs`, { signal: AbortSignal.timeout(10_000) })
  t.equal(docs.status, 200, 'GET /auth/docs answers')
  t.match(await docs.text(), /swagger-ui/i, 'with Swagger UI')

  const exit = await server.stop('SIGTERM', 10_000)
  t.same(exit, { code: 0, signal: null }, 'SIGTERM stops the host and it exits 0', { output: server.output })
  t.notOk(server.output.includes(user.password), 'the password is never logged')

  // The package's bin, installed into the host, on the host's database.
  const list = await run('npx', ['--no-install', 'fastify-token-auth', 'list'],
    { cwd: dir, env: npmEnv({ DATABASE_URL: `sqlite:${join(data, 'host.db')}` }), timeoutMs: 60_000 })
  t.equal(list.code, 0, 'the installed fastify-token-auth bin runs', describeRun('npx fastify-token-auth list', list))
  t.match(list.stdout, new RegExp(`^${user.username}\\t`, 'm'), 'and lists the account made over HTTP')
})

t.test('a host with its own @fastify/jwt, request.user and authenticate decorator compiles against the package with no declaration for it', { skip: noHost }, async (t) => {
  const check = await (compiled as NonNullable<typeof compiled>).jwt
  t.equal(check.code, 0, 'tsc --noEmit (skipLibCheck false) reports nothing', describeRun('tsc --noEmit -p tsconfig.jwt-host.json', check))
  t.equal(check.stdout.trim(), '', 'no tsc errors')
})

t.test('a host with its own user store, the session API and the session options compiles against the package', { skip: noHost }, async (t) => {
  const check = await (compiled as NonNullable<typeof compiled>).store
  t.equal(check.code, 0, 'tsc --noEmit (skipLibCheck false) reports nothing', describeRun('tsc --noEmit -p tsconfig.store-host.json', check))
  t.equal(check.stdout.trim(), '', 'no tsc errors, the @ts-expect-error for a store without a database included')
})

t.test("a host with decorators named like the plugin's internal ones (db, items) compiles against the package", { skip: noHost }, async (t) => {
  const check = await (compiled as NonNullable<typeof compiled>).db
  t.equal(check.code, 0, 'tsc --noEmit (skipLibCheck false) reports nothing', describeRun('tsc --noEmit -p tsconfig.db-host.json', check))
  t.equal(check.stdout.trim(), '', 'no tsc errors')
})
