import { createHmac, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { findPostgresBin, startPostgres } from '../support/postgres.js'
import {
  cleanEnv, dbEnv, freePort, httpLogin, httpMe, httpRegister, httpToken, spawnServer, startServer, tempDir, type LogLine, type ServerProcess
} from './process-helper.js'

// The process entry run for real: src/service/server.ts as a child process on a free port of
// 127.0.0.1, talked to with fetch, its pino log read from stdout.

t.setTimeout(120_000)

const WARN = 40
const newSecret = () => randomBytes(48).toString('base64url')
const newPassword = () => `pw-${randomBytes(12).toString('base64url')}`

const messages = (server: ServerProcess) => server.logLines().map((line) => line.msg ?? '')
const findLog = (server: ServerProcess, pattern: RegExp): LogLine | undefined =>
  server.logLines().find((line) => typeof line.msg === 'string' && pattern.test(line.msg))

/** Registers an account over HTTP and returns a token for it. */
async function registerAndLogin (base: string, username: string, password: string): Promise<string> {
  const registered = await httpRegister(base, { username, password })
  if (registered.status !== 201) throw new Error(`register failed: ${registered.status} ${await registered.text()}`)
  return await httpLogin(base, username, password)
}

t.test('bad settings stop start-up with one line per problem, never printing the secret', async (t) => {
  const dir = await tempDir(t)
  const shortSecret = randomBytes(8).toString('hex') // 16 bytes: too short
  const server = spawnServer(t, dbEnv(dir, {
    HOST: '127.0.0.1', PORT: 'abc', BCRYPT_COST: '3', REGISTRATION: 'maybe', JWT_SECRET: shortSecret
  }))
  const exit = await server.waitForExit(20_000)
  t.equal(exit.signal, null, 'exits by itself')
  t.ok(typeof exit.code === 'number' && exit.code > 0, `exits with a failure code (got ${String(exit.code)})`, { stderr: server.stderr })
  const lines = server.stderr.split('\n')
  for (const name of ['PORT', 'BCRYPT_COST', 'REGISTRATION', 'JWT_SECRET']) {
    const naming = lines.filter((line) => new RegExp(`\\b${name}\\b`).test(line))
    t.equal(naming.length, 1, `one line names ${name}`, { stderr: server.stderr })
  }
  t.match(server.stderr, /PORT\b.*abc/, 'shows the bad port')
  t.match(server.stderr, /JWT_SECRET.*at least 32 bytes/, 'says how long a secret must be')
  t.notOk(server.output.includes(shortSecret), 'the secret itself is not printed')
  t.notMatch(server.stdout, /Server listening/)
  t.notOk(existsSync(join(dir, 'app.db')), 'no database was created')
  t.notOk(existsSync(join(dir, 'app.db.jwt-secret')), 'no secret file was created')
})

t.test('without JWT_SECRET a secret file is generated beside the database (0600) and reused on the next start', async (t) => {
  const dir = await tempDir(t)
  const env = dbEnv(dir)
  const secretFile = join(dir, 'app.db.jwt-secret')
  const password = newPassword()

  const first = await startServer(t, env)
  t.equal((await stat(secretFile)).mode & 0o777, 0o600, 'the secret file is private to its owner')
  t.equal((await stat(join(dir, 'app.db'))).mode & 0o777, 0o600, 'so is the database, which holds the password hashes')
  const secret = (await readFile(secretFile, 'utf8')).trim()
  t.ok(Buffer.byteLength(secret) >= 32, 'the generated secret is at least 32 bytes')
  const generated = findLog(first.server, /JWT_SECRET is not set: generated one/)
  t.ok(generated, 'warns that it generated a secret', { log: first.server.stdout })
  t.equal(generated?.level, WARN, 'at warn level')
  t.equal(generated?.file, secretFile, 'names the file')
  const noMail = findLog(first.server, /Mail is off/)
  t.match(noMail?.msg, /SMTP_URL.*MAIL_TRANSPORT=log/, 'without mail, says how to turn on password reset and email verification', { log: first.server.stdout })
  const noUsers = findLog(first.server, /No users yet/)
  t.match(noUsers?.msg, /create-user/, 'an empty users table: says how to create the first user')
  t.match(noUsers?.msg, /POST \/users\//, 'with registration open, mentions POST /users/ too')

  const token = await registerAndLogin(first.base, 'johndoe', password)
  t.equal((await httpMe(first.base, token)).status, 200)
  t.same(await first.server.stop('SIGTERM'), { code: 0, signal: null }, 'first process stopped cleanly')

  const second = await startServer(t, env)
  t.equal((await readFile(secretFile, 'utf8')).trim(), secret, 'the file was not replaced')
  const reused = findLog(second.server, /JWT_SECRET is not set: using the secret stored beside the database/)
  t.ok(reused, 'warns that it uses the stored secret', { log: second.server.stdout })
  t.equal(reused?.level, WARN)
  t.notOk(findLog(second.server, /No users yet/), 'no first-user hint once a user exists')

  const me = await httpMe(second.base, token)
  t.equal(me.status, 200, 'a token of the first process is accepted by the second')
  t.same(await me.json(), { username: 'johndoe', email: null, email_verified: false, full_name: null, disabled: false })

  t.same(await second.server.stop('SIGINT'), { code: 0, signal: null }, 'SIGINT stops it cleanly too')
  t.ok(findLog(second.server, /^closing$/), 'logs that it is closing')
  for (const server of [first.server, second.server]) {
    t.notOk(server.output.includes(secret), 'the secret is never logged')
  }
})

t.test('SIGTERM closes gracefully: exit code 0 within a few seconds, with a closing log line', async (t) => {
  const dir = await tempDir(t)
  const { server, base } = await startServer(t, dbEnv(dir, { JWT_SECRET: newSecret() }))
  t.equal((await httpMe(base)).status, 401, 'serving')
  const started = Date.now()
  const exit = await server.stop('SIGTERM', 5_000)
  const elapsed = Date.now() - started
  t.same(exit, { code: 0, signal: null }, 'exit code 0', { stdout: server.stdout, stderr: server.stderr })
  t.ok(elapsed < 5_000, `ended within 5 s (took ${elapsed} ms)`)
  const closing = findLog(server, /^closing$/)
  t.ok(closing, 'logs a closing line', { log: server.stdout })
  t.equal(closing?.signal, 'SIGTERM', 'naming the signal')
  t.equal(server.stderr, '', 'nothing on stderr')
  await t.rejects(httpMe(base), 'no longer accepts connections')
})

t.test('start-up logs each migration it applies (name, engine, duration), and the next start that there is nothing to apply', async (t) => {
  const dir = await tempDir(t)
  const env = dbEnv(dir, { JWT_SECRET: newSecret() })
  const migrationLines = (server: ServerProcess) => server.logLines().filter((line) => typeof line.msg === 'string' && /^migration/.test(line.msg))
  const first = await startServer(t, env)
  await first.server.stop()
  const applied = migrationLines(first.server)
  t.same(applied.map((line) => line.migration).sort(), ['0001_create_health_probe', '0001_create_items', '0001_create_throttle_tables', '0001_create_users',
    '0002_add_token_version', '0003_create_sessions', '0004_drop_token_version', '0005_add_refresh_token_replays',
    '0006_add_users_is_admin', '0007_add_session_scope', '0008_add_session_client', '0009_create_signing_keys', '0010_add_users_verified_email',
    '0011_create_account_tokens', '0012_create_mfa'], 'one line per migration')
  for (const line of applied) {
    t.match(line, { engine: 'sqlite', table: /_migrations$/, durationMs: Number }, `${String(line.migration)}: its table, engine and duration`)
    t.match(line.msg, new RegExp(`^migration applied: ${String(line.migration)} \\(sqlite, \\d+ ms\\)$`))
  }
  const second = await startServer(t, env)
  await second.server.stop()
  t.same(migrationLines(second.server).map((line) => line.msg), ['migrations: nothing to apply (sqlite)'], 'the next start: nothing to apply, said once')
})

t.test('PostgreSQL out of reach at start: a warning a try, then one line naming the server and why, exit 1', async (t) => {
  // A closed loopback port: connections are refused at once.
  const port = await freePort()
  const password = `pg-${randomBytes(9).toString('base64url')}`
  const server = spawnServer(t, cleanEnv({
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: `postgres://auth:${password}@127.0.0.1:${port}/authdb`,
    JWT_SECRET: newSecret(),
    DATABASE_CONNECT_TIMEOUT_SECONDS: '3'
  }))
  const started = Date.now()
  const exit = await server.waitForExit(30_000)
  const elapsed = Date.now() - started
  t.same(exit, { code: 1, signal: null }, 'exit code 1', { stdout: server.stdout, stderr: server.stderr })
  const lines = server.stderr.trimEnd().split('\n')
  t.equal(lines.length, 1, 'one line on stderr, no stack', { stderr: server.stderr })
  t.match(lines[0], `Cannot use PostgreSQL at 127.0.0.1:${port} (database authdb, user auth): ECONNREFUSED`, 'engine, host, port and the reason')
  t.match(lines[0], /; gave up after \d+ tries in \d+ s \(DATABASE_CONNECT_TIMEOUT_SECONDS=3\)$/, 'and how long it tried')
  const retries = server.logLines().filter((line) => line.level === WARN && typeof line.msg === 'string' && line.msg.includes('trying again in'))
  t.ok(retries.length >= 3, `a warning for each try meanwhile (${retries.length})`, { stdout: server.stdout })
  t.same(retries.map((line) => line.attempt), retries.map((_, i) => i + 1), 'numbered')
  for (const line of retries) t.match(line.msg, new RegExp(`^Cannot use PostgreSQL at 127\\.0\\.0\\.1:${port} \\(database authdb, user auth\\): ECONNREFUSED[^\\n]*; trying again in \\d+ ms$`))
  t.ok(elapsed >= 3000 && elapsed < 20_000, `gave up once the 3 s had passed (after ${elapsed} ms)`)
  t.notOk(server.output.includes(password), 'the password is never printed')
})

t.test('PostgreSQL that comes up within DATABASE_CONNECT_TIMEOUT_SECONDS: start-up waits for it, migrates and serves', { skip: findPostgresBin() === undefined && 'no PostgreSQL server binaries' }, async (t) => {
  const postgres = await startPostgres()
  t.teardown(async () => { await postgres.destroy() })
  await postgres.stop()
  const port = await freePort()
  const server = spawnServer(t, cleanEnv({
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: postgres.url,
    JWT_SECRET: newSecret(),
    DATABASE_CONNECT_TIMEOUT_SECONDS: '120'
  }))
  await server.waitFor('two tries to fail', () => server.logLines().filter((line) => line.attempt === 2).length > 0, 30_000)
  await postgres.start()
  await server.waitForListening(60_000)
  t.ok(findLog(server, /^migration applied: 0001_create_users \(postgres, \d+ ms\)$/), 'the server that came up is migrated', { stdout: server.stdout })
  t.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200, 'and used: ready')
  t.same(await server.stop(), { code: 0, signal: null })
})

t.test('logs never contain a password, an access token or the Authorization header', async (t) => {
  const dir = await tempDir(t)
  const jwtSecret = newSecret()
  const { server, base } = await startServer(t, dbEnv(dir, { JWT_SECRET: jwtSecret, LOG_LEVEL: 'debug' }))
  const password = newPassword()
  const wrongPassword = newPassword()
  const tooLongPassword = `pw-${randomBytes(60).toString('hex')}` // 123 bytes, refused
  const forgedToken = `${randomBytes(20).toString('base64url')}.${randomBytes(20).toString('base64url')}.${randomBytes(20).toString('base64url')}`

  const token = await registerAndLogin(base, 'logwatcher', password)
  const me = await httpMe(base, token)
  t.equal(me.status, 200)
  t.equal((await httpToken(base, 'logwatcher', wrongPassword)).status, 401, 'a wrong password is refused')
  t.equal((await httpRegister(base, { username: 'longpass', password: tooLongPassword })).status, 422, 'a too long password is refused')
  t.equal((await httpMe(base, forgedToken)).status, 401, 'a forged token is refused')
  t.same(await server.stop('SIGTERM'), { code: 0, signal: null })

  const output = server.output
  t.ok(messages(server).includes('incoming request'), 'requests were logged (the scan is not vacuous)')
  t.match(output, /"url":"\/token"/, 'the token request was logged')
  const secrets: Array<[string, string]> = [
    ['the password', password],
    ['a wrong password', wrongPassword],
    ['a refused password', tooLongPassword],
    ['the access token', token],
    ['the access token signature', token.split('.')[2] as string],
    ['the Authorization header value', `Bearer ${token}`],
    ['a forged token', forgedToken],
    ['the JWT secret', jwtSecret]
  ]
  for (const [what, value] of secrets) t.notOk(output.includes(value), `${what} is not in the log`)
  t.notMatch(output, /\$2[aby]\$\d\d\$/, 'no password hash in the log')
})

t.test('with closed registration and no users, the start-up log points to create-user only', async (t) => {
  const dir = await tempDir(t)
  const { server, base } = await startServer(t, dbEnv(dir, { JWT_SECRET: newSecret(), REGISTRATION: 'closed' }))
  const hint = findLog(server, /No users yet/)
  t.ok(hint, 'warns that there are no users', { log: server.stdout })
  t.equal(hint?.level, WARN)
  t.match(hint?.msg, /npm run cli -- create-user NAME --password-stdin/)
  t.notMatch(hint?.msg, /POST \/users\//, 'does not suggest a closed route')
  t.equal((await httpRegister(base, { username: 'hopeful', password: newPassword() })).status, 403)
  t.same(await server.stop('SIGTERM'), { code: 0, signal: null })
})

t.test('sqlite::memory: without JWT_SECRET starts with a warning and serves', async (t) => {
  const { server, base } = await startServer(t, cleanEnv({ DATABASE_URL: 'sqlite::memory:', BCRYPT_COST: '4' }))
  const warning = findLog(server, /JWT_SECRET is not set/)
  t.ok(warning, 'warns about the missing secret', { log: server.stdout })
  t.equal(warning?.level, WARN)
  t.match(warning?.msg, /this process only/, 'says the secret lasts as long as the process')

  const password = newPassword()
  const token = await registerAndLogin(base, 'ephemeral', password)
  const me = await httpMe(base, token)
  t.equal(me.status, 200)
  t.same(await me.json(), { username: 'ephemeral', email: null, email_verified: false, full_name: null, disabled: false })
  t.same(await server.stop('SIGTERM'), { code: 0, signal: null })
})

t.test('an existing secret file is used as it is', async (t) => {
  const dir = await tempDir(t)
  const secretFile = join(dir, 'app.db.jwt-secret')
  const secret = newSecret()
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 })
  const { server, base } = await startServer(t, dbEnv(dir))
  t.ok(findLog(server, /using the secret stored beside the database/), 'says it uses the stored secret')
  t.equal((await readFile(secretFile, 'utf8')), `${secret}\n`, 'the file is left alone')

  // The token is an HS256 JWT signed with the file's secret, trailing newline excluded.
  const token = await registerAndLogin(base, 'filesecret', newPassword())
  const [header, payload, signature] = token.split('.')
  t.equal(createHmac('sha256', secret).update(`${header as string}.${payload as string}`).digest('base64url'), signature,
    'signed with the secret from the file')
  t.same(await server.stop('SIGTERM'), { code: 0, signal: null })
  t.notOk(server.output.includes(secret), 'the secret is never logged')
})

t.test('a secret file others can read is refused: start-up stops and says how to fix it', async (t) => {
  const dir = await tempDir(t)
  const secretFile = join(dir, 'app.db.jwt-secret')
  const secret = newSecret()
  await writeFile(secretFile, `${secret}\n`, { mode: 0o644 })
  const server = spawnServer(t, dbEnv(dir, { HOST: '127.0.0.1', PORT: '0' }))
  const exit = await server.waitForExit(20_000)
  t.equal(exit.code, 1, 'exit code 1', { output: server.output })
  t.match(server.output, /must belong to this user with mode 0600 \(it has 644\)/)
  t.notOk(server.output.includes(secret), 'the secret is never printed')
})

t.test('two databases in one folder get two secrets', async (t) => {
  const dir = await tempDir(t)
  for (const name of ['one', 'two']) {
    const { server } = await startServer(t, cleanEnv({ DATABASE_URL: `sqlite:${join(dir, `${name}.db`)}`, BCRYPT_COST: '4' }))
    t.same(await server.stop('SIGTERM'), { code: 0, signal: null })
  }
  const one = await readFile(join(dir, 'one.db.jwt-secret'), 'utf8')
  const two = await readFile(join(dir, 'two.db.jwt-secret'), 'utf8')
  t.not(one, two)
})

t.test('a port already in use: start-up fails with exit 1 and logs why', async (t) => {
  const dir = await tempDir(t)
  // Hold a port of 127.0.0.1 so the service cannot have it.
  const blocker = createServer()
  await new Promise<void>((resolve, reject) => {
    blocker.once('error', reject)
    blocker.listen(0, '127.0.0.1', resolve)
  })
  t.teardown(async () => await new Promise<void>((resolve) => blocker.close(() => resolve())))
  const port = (blocker.address() as AddressInfo).port

  const server = spawnServer(t, dbEnv(dir, { JWT_SECRET: newSecret(), HOST: '127.0.0.1', PORT: String(port) }))
  const exit = await server.waitForExit(20_000)
  t.same(exit, { code: 1, signal: null }, 'exit code 1', { stdout: server.stdout, stderr: server.stderr })
  const failure = server.logLines().find((line) => line.level === 50)
  t.ok(failure, 'logs an error', { log: server.stdout })
  t.match(JSON.stringify(failure), /EADDRINUSE/, 'naming the cause')
  t.notMatch(server.stdout, /Server listening/)
})

t.test('SIGTERM during a request: the request completes, then the process exits 0 promptly', async (t) => {
  const dir = await tempDir(t)
  // A registration hashes at cost 14 (about a second): long enough to signal during it. On a
  // loaded machine it takes several times that: the request may take as long as the stop below.
  const { server, base } = await startServer(t, dbEnv(dir, { JWT_SECRET: newSecret(), BCRYPT_COST: '14' }))
  const response = httpRegister(base, { username: 'inflight', password: newPassword() }, 20_000)
  await server.waitFor('the registration to arrive', () => server.logLines().some((line) =>
    line.msg === 'incoming request' && (line.req as { url?: string } | undefined)?.url === '/users/'))
  const exit = await server.stop('SIGTERM', 20_000)
  t.equal((await response).status, 201, 'the in-flight request completes')
  t.equal(exit.signal, null, 'not killed by a signal')
  // A keep-alive socket left open would hold close() until close-with-grace's 10 s limit, which exits 1.
  t.equal(exit.code, 0, 'exit code 0: the close was not cut short by the grace timeout', { stderr: server.stderr })
  t.notMatch(server.stderr + server.stdout, /killed by timeout/)
})

t.test('CORS_ORIGINS reaches the served app; "*" stops start-up naming it', async (t) => {
  const dir = await tempDir(t)
  const refused = spawnServer(t, dbEnv(dir, { HOST: '127.0.0.1', PORT: '0', JWT_SECRET: newSecret(), CORS_ORIGINS: '*' }))
  t.ok(((await refused.waitForExit(20_000)).code ?? 0) > 0, 'a failure exit code')
  t.match(refused.stderr, /CORS_ORIGINS="\*": "\*" would let every site call the API/, { stderr: refused.stderr })

  const app = 'https://app.example.com'
  const { base } = await startServer(t, dbEnv(dir, { JWT_SECRET: newSecret(), CORS_ORIGINS: `${app}, http://localhost:5173` }))
  const preflight = await fetch(`${base}/users/me/`, {
    method: 'OPTIONS',
    headers: { origin: app, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    signal: AbortSignal.timeout(10_000)
  })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers.get('access-control-allow-origin'), app)
  const other = await fetch(`${base}/health`, { headers: { origin: 'https://elsewhere.example' }, signal: AbortSignal.timeout(10_000) })
  t.equal(other.status, 200)
  t.equal(other.headers.get('access-control-allow-origin'), null, 'an origin not listed gets none')
})

t.test('settings from an env file, the environment winning; the docs URLs logged once listening', async (t) => {
  const dir = await tempDir(t)
  const port = await freePort()
  const envFile = join(dir, 'service.env')
  // The file's PORT loses to the environment's; its REGISTRATION applies; RATE_LIMIT_TOKENS is a typo, NODE_ENV for others.
  await writeFile(envFile, `DATABASE_URL=sqlite:${join(dir, 'app.db')}\nBCRYPT_COST=4\nPORT=1\nREGISTRATION=closed\nRATE_LIMIT_TOKENS=5/min\nNODE_ENV=production\n`)
  const server = spawnServer(t, cleanEnv({ ENV_FILE: envFile, HOST: '127.0.0.1', PORT: String(port) }))
  await server.waitFor('the docs line', () => findLog(server, /^API docs at /) !== undefined)
  const base = `http://127.0.0.1:${port}`
  t.equal((await httpRegister(base, { username: 'fromfile', password: newPassword() })).status, 403, 'REGISTRATION=closed from the file')
  const line = findLog(server, /^API docs at /)
  t.equal(line?.msg, `API docs at ${base}/docs`)
  t.equal(line?.openapi, `${base}/openapi.json`)
  t.equal(line?.envFile, envFile, 'it names the env file it read')
  t.equal((await fetch(String(line?.docs))).status, 200, 'the logged docs URL serves the page')
  t.same(await server.stop('SIGTERM'), { code: 0, signal: null })
  const typos = server.logLines().filter((line) => line.level === WARN && line.key !== undefined)
  t.same(typos.map(({ key, likely, envFile, msg }) => ({ key, likely, envFile, msg })), [{
    key: 'RATE_LIMIT_TOKENS',
    likely: 'RATE_LIMIT_TOKEN',
    envFile,
    msg: `${envFile}: RATE_LIMIT_TOKENS is not a setting and is ignored; did you mean RATE_LIMIT_TOKEN?`
  }], 'one warning for the mistyped key, naming the setting it likely means; none for NODE_ENV')

  // Behind a proxy the line gives the address clients use.
  const proxied = spawnServer(t, cleanEnv({ ENV_FILE: envFile, HOST: '127.0.0.1', PORT: '0', PUBLIC_URL: 'https://auth.acme.test/' }))
  await proxied.waitFor('the docs line', () => findLog(proxied, /^API docs at /) !== undefined)
  t.equal(findLog(proxied, /^API docs at /)?.msg, 'API docs at https://auth.acme.test/docs', 'PUBLIC_URL, its trailing slash dropped')
  t.same(await proxied.stop('SIGTERM'), { code: 0, signal: null })

  const missing = spawnServer(t, cleanEnv({ ENV_FILE: join(dir, 'nope.env'), HOST: '127.0.0.1', PORT: '0' }))
  t.equal((await missing.waitForExit(20_000)).code, 1, 'a missing ENV_FILE stops the start')
  t.match(missing.stderr, /ENV_FILE=".*nope\.env": cannot be read \(ENOENT\)/)
})

/** A failed login sent from a given loopback source address (Linux routes all of 127/8 to lo); its status. */
async function failedLoginFrom (port: number, from: string, forwardedFor?: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      localAddress: from,
      method: 'POST',
      path: '/token',
      headers: { connection: 'close', 'content-type': 'application/x-www-form-urlencoded', ...(forwardedFor !== undefined && { 'x-forwarded-for': forwardedFor }) },
      timeout: 10_000
    }, (res) => { res.resume(); res.on('end', () => { resolve(res.statusCode ?? 0) }) })
    req.on('error', reject)
    req.on('timeout', () => { req.destroy(new Error('timed out')) })
    req.end('username=nobody&password=wrong-password')
  })
}

const auditClients = (server: ServerProcess) =>
  server.logLines().filter((line) => line.audit === 'login.failed').map((line) => line.client)

t.test('TRUST_PROXY as a hop count or true on a non-loopback HOST: one warning at start, naming the fix', async (t) => {
  const dir = await tempDir(t)
  const start = async (env: Record<string, string>) => {
    const server = spawnServer(t, dbEnv(dir, { PORT: String(await freePort()), RATE_LIMIT_TOKEN: '2/min', LOGIN_BACKOFF_AFTER: '0', ...env }))
    // The docs line comes last at start.
    await server.waitFor('the docs line', () => findLog(server, /^API docs at /) !== undefined)
    return server
  }
  const risky = (server: ServerProcess) => server.logLines().filter((line) => /^TRUST_PROXY=/.test(line.msg ?? ''))

  const hops = await start({ HOST: '0.0.0.0', TRUST_PROXY: '1' })
  const [warning, ...more] = risky(hops)
  t.equal(more.length, 0, 'one line', { log: hops.stdout })
  t.equal(warning?.level, WARN, 'at warn')
  t.match(warning?.msg, /HOST=0\.0\.0\.0/, 'naming the listening address')
  t.match(warning?.msg, /claim any address/, 'saying the risk')
  t.match(warning?.msg, /Set TRUST_PROXY to the addresses or CIDRs of your proxies/, 'and the fix')
  // What the warning is about: a client connecting directly is counted under whatever it claims.
  const port = Number(/:(\d+)$/.exec(findLog(hops, /^Server listening/)?.msg ?? '')?.[1])
  const forged = ['192.0.2.1', '192.0.2.2', '192.0.2.3']
  t.same([await failedLoginFrom(port, '127.0.0.2', forged[0]), await failedLoginFrom(port, '127.0.0.2', forged[1]), await failedLoginFrom(port, '127.0.0.2', forged[2])],
    [401, 401, 401], 'with a hop count, a direct client\'s forged X-Forwarded-For escapes the limit of 2')
  t.same(auditClients(hops), forged, 'and is logged as the addresses it claimed')
  await hops.stop()
  // Which settings warn (true too; never on loopback, an address list or false) is config.test's, in process.
})

t.test('TRUST_PROXY as an address list: only the listed proxy is believed, a direct client is counted as itself', async (t) => {
  const dir = await tempDir(t)
  const { server, port } = await startServer(t, dbEnv(dir, { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_TOKEN: '2/min', LOGIN_BACKOFF_AFTER: '0' }))
  t.same([
    await failedLoginFrom(port, '127.0.0.2', '192.0.2.1'),
    await failedLoginFrom(port, '127.0.0.2', '192.0.2.2'),
    await failedLoginFrom(port, '127.0.0.2', '192.0.2.3')
  ], [401, 401, 429], 'a direct client on 127.0.0.2 forging X-Forwarded-For: two attempts, then 429')
  t.equal(await failedLoginFrom(port, '127.0.0.1', '198.51.100.7'), 401, 'the listed proxy speaking for another client: that client\'s own allowance')
  t.same(auditClients(server), ['127.0.0.2', '127.0.0.2', '198.51.100.7'], 'the audit lines name the real address, and the one the proxy vouched for')
  t.equal(server.logLines().filter((line) => /^TRUST_PROXY=/.test(line.msg ?? '')).length, 0, 'no warning for an address list')
})

t.test("the README's reset from a terminal: MAIL_TRANSPORT=log writes the mails, their tokens work over HTTP", async (t) => {
  const dir = await tempDir(t)
  const { server, base } = await startServer(t, dbEnv(dir, {
    JWT_SECRET: newSecret(), MAIL_TRANSPORT: 'log', RESET_URL: 'http://localhost:3000/reset', VERIFY_URL: 'http://localhost:3000/verify'
  }))
  t.notOk(findLog(server, /Mail is off/), 'no hint: mail is on')
  const post = async (path: string, body: object) => await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  /** The `count`th mail of `kind` in the log, once it is there. */
  const mailOf = async (kind: string, count = 1): Promise<{ to?: string, subject?: string, text?: string, url?: string }> => {
    for (let i = 0; i < 500; i++) {
      const mails = server.logLines().map((line) => line.mail as { kind?: string } | undefined).filter((mail) => mail?.kind === kind)
      if (mails.length >= count) return mails[count - 1] as object
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error(`no ${kind} mail in the log: ${server.stdout}`)
  }
  const tokenOf = async (kind: string) => new URLSearchParams(new URL((await mailOf(kind)).url ?? 'http://x/').hash.slice(1)).get('token') ?? ''
  t.equal((await post('/users/', { username: 'johndoe', password: 'first-long-password', email: 'johndoe@example.com' })).status, 201)
  t.equal((await post('/email/verify', { token: await tokenOf('email_verification') })).status, 204, 'the address proven with the logged link')

  const reset = await post('/password-reset', { username: 'johndoe' })
  t.equal(reset.status, 202)
  t.same(await reset.json(), { detail: 'If an account matches, a mail is on its way to its verified address' }, 'the README\'s answer')
  const token = await tokenOf('password_reset')
  const logged = await mailOf('password_reset')
  t.match(logged, { to: 'johndoe@example.com', subject: 'Reset your fastify-token-auth password' }, 'the mail as it would have gone out')
  t.match(logged.text, `http://localhost:3000/reset#token=${token}`, 'its link, token in the fragment')
  const confirm = await post('/password-reset/confirm', { token, new_password: 'a-new-long-password' })
  t.equal(confirm.status, 204, 'the new password set')
  t.equal((await httpToken(base, 'johndoe', 'a-new-long-password')).status, 200, 'and it logs in')
  t.match(await mailOf('password_changed'), { to: 'johndoe@example.com' }, 'the notice is logged too')
  t.same(await server.stop('SIGTERM'), { code: 0, signal: null })
})
