import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { verify } from '@node-rs/bcrypt'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { createKyselyUserStore } from '../../src/accounts/kysely-user-store.js'
import service from '../../src/service/app.js'
import { run } from '../../src/service/cli.js'
import { bearer, createUser, requestToken, testSecret } from '../helper.js'
import { enrolled, mfaToken, oathtool, secondStep } from '../routes/mfa-support.js'
import { dbEnv, runCli, tempDir, type CliResult, type Teardown } from './process-helper.js'

// The CLI on a SQLite file of its own per test, run in this process through run(argv, io) with
// streams of the test's own, and (the last test) as the real bin in a child process: its exit
// code and the password piped to it. Its effect is checked through the service built in this
// process on the same file (logging in at POST /token, GET /users/me/), and through `list --json`.

t.setTimeout(180_000)

/** A stream that keeps what is written to it. */
function collected () {
  let text = ''
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, done) {
      text += chunk.toString()
      done()
    }
  })
  return { stream, text: () => text }
}

/** The CLI run to completion in this process, as the bin runs it: `input` is its standard input. */
async function runInProcess (args: string[], opts: { env: NodeJS.ProcessEnv, input?: string }): Promise<CliResult> {
  const stdout = collected()
  const stderr = collected()
  const code = await run(args, { stdin: Readable.from([opts.input ?? '']), stdout: stdout.stream, stderr: stderr.stream, env: opts.env })
  return { code, signal: null, stdout: stdout.text(), stderr: stderr.text() }
}

/** A password made up at run time, 8 to 72 bytes. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
const newPassword = () => `pw-${randomBytes(12).toString('base64url')}`

interface Setup {
  dir: string
  dbFile: string
  env: NodeJS.ProcessEnv
  cli: (args: string[], input?: string) => Promise<CliResult>
}

async function setup (t: Teardown, extraEnv: Record<string, string> = {}): Promise<Setup> {
  const dir = await tempDir(t)
  const env = dbEnv(dir, extraEnv)
  // One run at a time: better-sqlite3 waits for a lock synchronously, so in one process a run
  // waiting on the file would stop the run holding it.
  let previous: Promise<unknown> = Promise.resolve()
  const cli = async (args: string[], input?: string) => {
    const result = previous.then(async () => await runInProcess(args, { env, input }))
    previous = result.catch(() => {})
    return await result
  }
  return { dir, dbFile: join(dir, 'app.db'), env, cli }
}

/**
 * The service on the CLI's database file, in this process. Opened before the CLI runs, it also
 * creates the tables, so CLI runs side by side never race to migrate a new file.
 */
async function openService (t: Teardown, s: Setup): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(service, { secret: testSecret(), database: `sqlite:${s.dbFile}`, bcryptCost: 4 })
  await app.ready()
  t.teardown(async () => await app.close())
  return app
}

async function loginStatus (app: FastifyInstance, username: string, password: string): Promise<number> {
  return (await requestToken(app, { username, password })).statusCode
}

async function token (app: FastifyInstance, username: string, password: string): Promise<string> {
  const response = await requestToken(app, { username, password })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json().access_token
}

async function usernames (app: FastifyInstance): Promise<string[]> {
  return (await createKyselyUserStore(app.db).list()).map((user) => user.username)
}

/** Asserts an exit code, showing the output when it is not the expected one. */
function exitsWith (t: Pick<typeof import('tap').t, 'equal'>, result: CliResult, code: number, what: string): void {
  t.equal(result.code, code, `${what}: exit ${code}`, { stdout: result.stdout, stderr: result.stderr })
}

/** The audit lines a run wrote to standard error, each parsed, with the fields a run varies in left out. */
function auditLines (result: CliResult): Array<Record<string, unknown>> {
  return result.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => {
    const { level, time, pid, hostname, operator, ...rest } = JSON.parse(line) as Record<string, unknown>
    if (level !== 30 || typeof time !== 'number' || typeof operator !== 'string' || operator === '') throw new Error(`not an audit line at info: ${line}`)
    return rest
  })
}

async function listJson (t: Pick<typeof import('tap').t, 'equal'>, s: Setup): Promise<unknown> {
  const result = await s.cli(['list', '--json'])
  exitsWith(t, result, 0, 'list --json')
  return JSON.parse(result.stdout)
}

t.test('create-user stores an account that logs in with the piped password, one trailing newline dropped', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const password = newPassword()
  const crlfPassword = newPassword()
  const [created, crlf] = await Promise.all([
    s.cli(['create-user', 'johndoe', '--password-stdin', '--email', 'johndoe@example.com', '--full-name', 'John Doe'], `${password}\n`),
    s.cli(['create-user', 'windows-user', '--password-stdin'], `${crlfPassword}\r\n`)
  ])
  exitsWith(t, created, 0, 'create-user')
  t.match(created.stdout, /Created user johndoe/)
  t.same(auditLines(created), [{ audit: 'user.created', actor: 'cli', username: 'johndoe', msg: 'audit: user.created' }],
    'one audit line on stderr, naming the event, the user and who ran it')
  t.equal(created.stderr.trimEnd().split('\n').length, 1, 'and nothing else there')
  t.notOk((created.stdout + created.stderr).includes(password), 'the password is not echoed')
  exitsWith(t, crlf, 0, 'create-user with a CRLF line ending')

  t.equal(await loginStatus(app, 'johndoe', password), 200, 'logs in with the password as typed')
  t.equal(await loginStatus(app, 'johndoe', `${password}\n`), 401, 'the newline was not stored as part of the password')
  t.equal(await loginStatus(app, 'windows-user', crlfPassword), 200, 'a trailing CRLF is dropped too')
  const me = await app.inject({ url: '/users/me/', headers: bearer(await token(app, 'johndoe', password)) })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { username: 'johndoe', email: 'johndoe@example.com', email_verified: false, full_name: 'John Doe', disabled: false })
  const other = await app.inject({ url: '/users/me/', headers: bearer(await token(app, 'windows-user', crlfPassword)) })
  t.same(other.json(), { username: 'windows-user', email: null, email_verified: false, full_name: null, disabled: false })
})

t.test('create-user --disabled creates an account whose token gets 400 Inactive user', async (t) => {
  const s = await setup(t, { SUDO_USER: 'admin-on-call' })
  const app = await openService(t, s)
  const password = newPassword()
  const created = await s.cli(['create-user', 'sleeper', '--password-stdin', '--disabled'], password)
  exitsWith(t, created, 0, 'create-user --disabled')
  t.match(created.stdout, /Created user sleeper \(disabled\)/)
  t.same(auditLines(created), [{ audit: 'user.created', actor: 'cli', sudoUser: 'admin-on-call', username: 'sleeper', disabled: true, msg: 'audit: user.created' }],
    'the audit line says it was created disabled, and names the user who called sudo')
  // As in the tutorial, a disabled user still gets a token; it is the protected routes that refuse.
  const me = await app.inject({ url: '/users/me/', headers: bearer(await token(app, 'sleeper', password)) })
  t.equal(me.statusCode, 400)
  t.same(me.json(), { detail: 'Inactive user' })
})

t.test('a taken username is refused with exit 1, in any letter case', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const password = newPassword()
  await createUser(app, { username: 'alice', password })

  const [again, upper] = await Promise.all([
    s.cli(['create-user', 'alice', '--password-stdin'], newPassword()),
    s.cli(['create-user', 'ALICE', '--password-stdin'], newPassword())
  ])
  exitsWith(t, again, 1, 'same name')
  t.match(again.stderr, /User alice already exists/)
  t.equal(again.stdout, '')
  exitsWith(t, upper, 1, 'same name in capitals')
  t.match(upper.stderr, /User ALICE already exists/)

  t.same(await usernames(app), ['alice'], 'still one account')
  t.equal(await loginStatus(app, 'alice', password), 200, 'its password is unchanged')
})

t.test('an invalid username is refused with exit 1', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const names = ['ab', 'no spaces']
  const results = await Promise.all(names.map(async (name) => await s.cli(['create-user', name, '--password-stdin'], newPassword())))
  names.forEach((name, i) => {
    const result = results[i] as CliResult
    exitsWith(t, result, 1, `create-user ${JSON.stringify(name)}`)
    t.match(result.stderr, /username is 3 to 64 letters, digits, dots, underscores or hyphens/)
  })
  t.same(await usernames(app), [], 'nothing was created')
})

t.test('create-user applies the API rules to --email and --full-name; empty means none', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const refused: Array<[string[], RegExp]> = [
    [['--email', 'not an email'], /--email is not a valid address/],
    [['--email', `${'a'.repeat(250)}@example.com`], /--email must be at most 254 characters/],
    [['--full-name', 'x'.repeat(201)], /--full-name must be at most 200 characters/]
  ]
  for (const [args, message] of refused) {
    const result = await s.cli(['create-user', 'profiled', '--password-stdin', ...args], newPassword())
    exitsWith(t, result, 1, args.join(' '))
    t.match(result.stderr, message)
  }
  t.same(await usernames(app), [], 'nothing was created')
  exitsWith(t, await s.cli(['create-user', 'profiled', '--password-stdin', '--email', '', '--full-name', ' '], newPassword()), 0, 'empty fields')
  t.match(await app.tokenAuth.users.findByUsername('profiled'), { email: null, fullName: null }, 'stored as none, not as empty strings')
})

t.test('the password length is checked in UTF-8 bytes: 8 to 72', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  // 36 'é' are 72 bytes (accepted); 37 are 74 bytes (refused), though fewer than 72 characters.
  const longest = 'é'.repeat(36)
  const [tooShort, tooLong, empty, fits] = await Promise.all([
    s.cli(['create-user', 'shorty', '--password-stdin'], 'seven77\n'),
    s.cli(['create-user', 'longy', '--password-stdin'], 'é'.repeat(37)),
    s.cli(['create-user', 'nopass', '--password-stdin'], ''),
    s.cli(['create-user', 'longest', '--password-stdin'], `${longest}\n`)
  ])
  exitsWith(t, tooShort, 1, '7 bytes')
  t.match(tooShort.stderr, /at least 8 bytes/)
  exitsWith(t, tooLong, 1, '74 bytes')
  t.match(tooLong.stderr, /at most 72 bytes/)
  t.match(tooLong.stderr, /74/, 'says how long it was')
  exitsWith(t, empty, 1, 'empty stdin')
  t.match(empty.stderr, /at least 8 bytes/)
  exitsWith(t, fits, 0, '72 bytes')

  t.same(await usernames(app), ['longest'], 'refused passwords create nothing')
  t.equal(await loginStatus(app, 'longest', longest), 200)
  t.equal(await loginStatus(app, 'longest', 'é'.repeat(35)), 401)
})

t.test('usage errors exit 2 and touch no database; --help and --version exit 0', async (t) => {
  const s = await setup(t)
  // None of these gets as far as opening the database, so they can run side by side.
  const cases: Array<{ args: string[], code: number, stderr?: RegExp, stdout?: RegExp }> = [
    { args: ['create-user', 'bob'], code: 2, stderr: /create-user needs --password-stdin/ },
    { args: ['frobnicate'], code: 2, stderr: /Unknown command: frobnicate/ },
    { args: ['list', '--bogus'], code: 2, stderr: /Unknown option '--bogus'/ },
    { args: ['create-user', '--password-stdin'], code: 2, stderr: /create-user needs a username/ },
    { args: ['list', 'extra'], code: 2, stderr: /Unexpected argument: extra/ },
    { args: [], code: 2, stdout: /Usage: fastify-token-auth/ },
    { args: ['--help'], code: 0, stdout: /create-user NAME --password-stdin/ },
    { args: ['--version'], code: 0, stdout: new RegExp(`^fastify-token-auth ${VERSION.replaceAll('.', '\\.')}\n$`) },
    { args: ['-v'], code: 0, stdout: new RegExp(`^fastify-token-auth ${VERSION.replaceAll('.', '\\.')}\n$`) }
  ]
  const results = await Promise.all(cases.map(async (c) => await s.cli(c.args, newPassword())))
  cases.forEach((c, i) => {
    const result = results[i] as CliResult
    const what = `cli ${c.args.join(' ')}`
    exitsWith(t, result, c.code, what)
    if (c.stderr !== undefined) {
      t.match(result.stderr, c.stderr, `${what}: says why`)
      t.match(result.stderr, /Usage: fastify-token-auth/, `${what}: shows the usage`)
    }
    if (c.stdout !== undefined) t.match(result.stdout, c.stdout, `${what}: prints the usage`)
  })
  t.notOk(existsSync(s.dbFile), 'no database file was created')
})

t.test('set-password replaces the password; an unknown user exits 1', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const oldPassword = newPassword()
  const newPass = newPassword()
  await createUser(app, { username: 'carol', password: oldPassword })

  const session = await token(app, 'carol', oldPassword)
  const changed = await s.cli(['set-password', 'carol', '--password-stdin'], `${newPass}\n`)
  exitsWith(t, changed, 0, 'set-password')
  t.match(changed.stdout, /Password changed for carol \(1 session ended\)/)
  t.same(auditLines(changed), [
    { audit: 'password.changed', actor: 'cli', username: 'carol', msg: 'audit: password.changed' },
    { audit: 'sessions.revoked', actor: 'cli', username: 'carol', endedSessions: 1, msg: 'audit: sessions.revoked' }
  ], 'audited: the change as soon as it is stored, then the sessions it ended')
  t.notOk(changed.stderr.includes(newPass), 'the audit line holds no password')
  t.equal((await app.inject({ url: '/users/me/', headers: bearer(session) })).statusCode, 401, 'the session opened with the old password has ended')
  t.equal(await loginStatus(app, 'carol', oldPassword), 401, 'the old password no longer works')
  t.equal(await loginStatus(app, 'carol', newPass), 200, 'the new one does')

  const [tooShort, unknown] = await Promise.all([
    s.cli(['set-password', 'carol', '--password-stdin'], 'short'),
    s.cli(['set-password', 'nobody', '--password-stdin'], newPassword())
  ])
  exitsWith(t, tooShort, 1, 'set-password with a short password')
  t.match(tooShort.stderr, /at least 8 bytes/)
  t.equal(await loginStatus(app, 'carol', newPass), 200, 'a refused change keeps the password')
  exitsWith(t, unknown, 1, 'set-password on an unknown user')
  t.match(unknown.stderr, /No user named nobody/)
  t.same(await usernames(app), ['carol'], 'no account was created')
})

t.test('disable and enable switch an account; an unknown user exits 1', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const password = newPassword()
  await createUser(app, { username: 'dave', password })
  const earlier = await token(app, 'dave', password)
  t.equal((await app.inject({ url: '/users/me/', headers: bearer(earlier) })).statusCode, 200)

  const disabled = await s.cli(['disable', 'dave'])
  exitsWith(t, disabled, 0, 'disable')
  t.match(disabled.stdout, /Disabled dave/)
  t.same(await listJson(t, s), [{ username: 'dave', email: null, email_verified: false, full_name: null, disabled: true, is_admin: false }])
  t.match(disabled.stdout, /\(1 session ended\)/, 'and says it ended the session')
  t.same(auditLines(disabled), [
    { audit: 'user.disabled', actor: 'cli', username: 'dave', msg: 'audit: user.disabled' },
    { audit: 'sessions.revoked', actor: 'cli', username: 'dave', endedSessions: 1, msg: 'audit: sessions.revoked' }
  ], 'audited: the change, then the sessions it ended')
  const before = await app.inject({ url: '/users/me/', headers: bearer(earlier) })
  t.equal(before.statusCode, 401, 'a token issued before: its session has ended')
  t.same(before.json(), { detail: 'Could not validate credentials' })
  // As in the tutorial, a disabled account can still log in; its token is refused with 400.
  const later = await token(app, 'dave', password)
  const after = await app.inject({ url: '/users/me/', headers: bearer(later) })
  t.equal(after.statusCode, 400, 'a token issued after: 400')
  t.same(after.json(), { detail: 'Inactive user' })

  const enabled = await s.cli(['enable', 'dave'])
  exitsWith(t, enabled, 0, 'enable')
  t.match(enabled.stdout, /Enabled dave/)
  t.same(auditLines(enabled), [{ audit: 'user.enabled', actor: 'cli', username: 'dave', msg: 'audit: user.enabled' }], 'audited')
  t.same(await listJson(t, s), [{ username: 'dave', email: null, email_verified: false, full_name: null, disabled: false, is_admin: false }])
  const me = await app.inject({ url: '/users/me/', headers: bearer(later) })
  t.equal(me.statusCode, 200, 'the token issued while disabled works once enabled')
  t.equal(me.json().username, 'dave')

  const unknown = await Promise.all([s.cli(['disable', 'nobody']), s.cli(['enable', 'nobody'])])
  for (const [i, command] of ['disable', 'enable'].entries()) {
    exitsWith(t, unknown[i] as CliResult, 1, `${command} nobody`)
    t.match((unknown[i] as CliResult).stderr, /No user named nobody/)
    t.same(auditLines(unknown[i] as CliResult), [], `${command} nobody: nothing changed, nothing audited`)
  }
})

t.test('sessions lists a user\'s live sessions; revoke-sessions ends them all', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const password = newPassword()
  await createUser(app, { username: 'gina', password })
  await createUser(app, { username: 'hank', password })
  const agent = 'Agent\twith a tab'
  const tokens = []
  for (const userAgent of [agent, 'Second/1.0']) {
    const response = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent },
      payload: new URLSearchParams({ username: 'gina', password }).toString()
    })
    tokens.push(response.json().access_token as string)
  }
  const others = await token(app, 'hank', password)

  const [table, json, none] = await Promise.all([s.cli(['sessions', 'gina']), s.cli(['sessions', 'gina', '--json']), s.cli(['sessions', 'nobody'])])
  exitsWith(t, table, 0, 'sessions')
  const lines = table.stdout.trimEnd().split('\n')
  t.equal(lines[0], 'id\tcreated_at\tlast_used_at\texpires_at\tuser_agent', 'a header')
  t.equal(lines.length, 3, 'one line per session')
  for (const line of lines.slice(1)) t.equal(line.split('\t').length, 5, 'five columns, whatever the user agent holds')
  t.match(table.stdout, /Agent with a tab/, 'the user agent, its tab made a space')
  exitsWith(t, json, 0, 'sessions --json')
  const listed = JSON.parse(json.stdout) as Array<Record<string, unknown>>
  t.equal(listed.length, 2)
  t.same(Object.keys(listed[0] ?? {}).sort(), ['created_at', 'expires_at', 'id', 'last_used_at', 'user_agent'])
  t.same(listed.map((session) => session.user_agent).sort(), [agent, 'Second/1.0'])
  exitsWith(t, none, 1, 'sessions of an unknown user')
  t.match(none.stderr, /No user named nobody/)

  const revoked = await s.cli(['revoke-sessions', 'gina'])
  exitsWith(t, revoked, 0, 'revoke-sessions')
  t.match(revoked.stdout, /Ended 2 sessions of gina/)
  t.same(auditLines(revoked), [{ audit: 'sessions.revoked', actor: 'cli', username: 'gina', endedSessions: 2, msg: 'audit: sessions.revoked' }], 'audited')
  for (const [i, tokenOfGina] of tokens.entries()) {
    t.equal((await app.inject({ url: '/users/me/', headers: bearer(tokenOfGina) })).statusCode, 401, `gina's session ${i + 1} has ended`)
  }
  t.equal((await app.inject({ url: '/users/me/', headers: bearer(others) })).statusCode, 200, "hank's session goes on")
  const [empty, unknown] = await Promise.all([s.cli(['sessions', 'gina', '--json']), s.cli(['revoke-sessions', 'nobody'])])
  t.same(JSON.parse(empty.stdout), [], 'no live session left')
  exitsWith(t, unknown, 1, 'revoke-sessions of an unknown user')
})

t.test('grant-admin and revoke-admin switch the admin flag; revoking ends the sessions holding admin', async (t) => {
  const s = await setup(t, { SUDO_USER: 'admin-on-call' })
  const app = await openService(t, s)
  const password = newPassword()
  await createUser(app, { username: 'iris', password })
  await createUser(app, { username: 'jack', password })

  const granted = await s.cli(['grant-admin', 'iris'])
  exitsWith(t, granted, 0, 'grant-admin')
  t.equal(granted.stdout, 'iris is an administrator\n')
  t.same(auditLines(granted), [{ audit: 'user.admin_granted', actor: 'cli', sudoUser: 'admin-on-call', username: 'iris', msg: 'audit: user.admin_granted' }], 'one audit line')
  t.match(await listJson(t, s), [{ username: 'iris', is_admin: true }, { username: 'jack', is_admin: false }], 'list shows the flag')

  // Until the token route records scopes, the test gives each session its own.
  const sessionOf = async (scope: string | null) => {
    const access = await token(app, 'iris', password)
    const sid = JSON.parse(Buffer.from(access.split('.')[1] as string, 'base64url').toString()).sid as string
    await app.db.updateTable('sessions').set({ scope }).where('id', '=', sid).execute()
    return access
  }
  const [admin, plain, old] = [await sessionOf('me admin'), await sessionOf('me items'), await sessionOf(null)]
  const revoked = await s.cli(['revoke-admin', 'iris'])
  exitsWith(t, revoked, 0, 'revoke-admin')
  t.equal(revoked.stdout, 'iris is no longer an administrator: ended 1 session holding admin\n', 'says how many sessions it ended')
  t.same(auditLines(revoked), [{ audit: 'user.admin_revoked', actor: 'cli', sudoUser: 'admin-on-call', username: 'iris', endedSessions: 1, msg: 'audit: user.admin_revoked' }])
  const status = async (access: string) => (await app.inject({ url: '/users/me/', headers: bearer(access) })).statusCode
  t.same([await status(admin), await status(plain), await status(old)], [401, 200, 200], 'only the session holding admin has ended')
  t.match(await listJson(t, s), [{ username: 'iris', is_admin: false }])
  const again = await s.cli(['revoke-admin', 'iris'])
  t.equal(again.stdout, 'iris is no longer an administrator: ended 0 sessions holding admin\n')

  const [unknownGrant, unknownRevoke, noName] = await Promise.all([s.cli(['grant-admin', 'nobody']), s.cli(['revoke-admin', 'nobody']), s.cli(['grant-admin'])])
  for (const [what, result] of [['grant-admin nobody', unknownGrant], ['revoke-admin nobody', unknownRevoke]] as const) {
    exitsWith(t, result, 1, what)
    t.match(result.stderr, /No user named nobody/)
    t.same(auditLines(result), [], `${what}: nothing audited`)
  }
  exitsWith(t, noName, 2, 'grant-admin without a name')
  t.match(noName.stderr, /grant-admin needs a username/)

  // The CLI's actor is 'cli': a registered account of that name is no administrator acting on itself.
  await createUser(app, { username: 'cli', password })
  exitsWith(t, await s.cli(['disable', 'cli']), 0, "disable an ordinary account named 'cli'")
})

t.test('list prints a tab-separated table and --json an array, never a password or hash', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const [emptyTable, emptyJson] = await Promise.all([s.cli(['list']), s.cli(['list', '--json'])])
  exitsWith(t, emptyTable, 0, 'list on an empty database')
  t.equal(emptyTable.stdout, 'username\tdisabled\tis_admin\temail\temail_verified\tfull_name\n', 'just the header')
  exitsWith(t, emptyJson, 0, 'list --json on an empty database')
  t.same(JSON.parse(emptyJson.stdout), [])

  const passwords = [newPassword(), newPassword()] as const
  await createUser(app, { username: 'frank', password: passwords[1], disabled: true })
  await createUser(app, { username: 'erin', password: passwords[0], email: 'erin@example.com', fullName: 'Erin Example' })
  await app.tokenAuth.accounts.setAdmin('erin', true)

  const [table, json] = await Promise.all([s.cli(['list']), s.cli(['list', '--json'])])
  exitsWith(t, table, 0, 'list')
  t.equal(table.stdout, [
    'username\tdisabled\tis_admin\temail\temail_verified\tfull_name',
    'erin\tfalse\ttrue\terin@example.com\tfalse\tErin Example',
    'frank\ttrue\tfalse\t\tfalse\t',
    ''
  ].join('\n'), 'a header and one row per user, sorted by name')

  exitsWith(t, json, 0, 'list --json')
  const users = JSON.parse(json.stdout) as Array<Record<string, unknown>>
  t.same(users, [
    { username: 'erin', email: 'erin@example.com', email_verified: false, full_name: 'Erin Example', disabled: false, is_admin: true },
    { username: 'frank', email: null, email_verified: false, full_name: null, disabled: true, is_admin: false }
  ])
  for (const user of users) t.same(Object.keys(user).sort(), ['disabled', 'email', 'email_verified', 'full_name', 'is_admin', 'username'], 'exactly the public fields and the admin flag')

  const all = [emptyTable, emptyJson, table, json].map((r) => r.stdout + r.stderr).join('\n')
  for (const password of passwords) t.notOk(all.includes(password), 'no password in any output')
  t.notMatch(all, /\$2[aby]\$/, 'no bcrypt hash in any output')
  t.notMatch(all, /hash|password/i, 'no password or hash field')
})

t.test('new-resource-server prints a fresh secret once and the INTROSPECTION_CLIENTS entry of its SHA-256', async (t) => {
  const s = await setup(t)
  const [first, second] = [await s.cli(['new-resource-server', 'orders-api']), await s.cli(['new-resource-server', 'orders-api'])]
  exitsWith(t, first, 0, 'new-resource-server')
  t.equal(first.stderr, '')
  const lines = first.stdout.trim().split('\n')
  const secret = lines[1] as string
  t.match(secret, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url')
  t.equal(lines[3], `orders-api:${createHash('sha256').update(secret).digest('hex')}`, 'the entry: the name and the SHA-256 of the secret')
  t.notOk(lines[3]?.includes(secret), 'the entry holds no secret')
  t.not(second.stdout.split('\n')[1], secret, 'each run a new secret')
  t.notOk(existsSync(s.dbFile), 'no database opened')
  const bad = await s.cli(['new-resource-server', 'orders api:x'])
  exitsWith(t, bad, 2, 'a name that cannot be a client id')
  t.match(bad.stderr, /1 to 64 letters, digits/)
  exitsWith(t, await s.cli(['new-resource-server']), 2, 'no name')
})

t.test('rotate-key publishes a key that signs later; rekey seals the keys again after JWT_SECRET changed', async (t) => {
  const first = testSecret()
  const s = await setup(t, { JWT_ALGORITHM: 'ES256', JWT_SECRET: first, JWKS_CACHE_SECONDS: '60' })
  const rotated = await s.cli(['rotate-key'])
  exitsWith(t, rotated, 0, 'rotate-key')
  const kid = /^Published signing key ([\w-]{43}); it signs from (\S+)\n$/.exec(rotated.stdout)
  t.ok(kid, rotated.stdout)
  t.ok(Date.parse(kid?.[2] ?? '') - Date.now() > 60_000, 'it signs after more than the JWKS cache lifetime')
  t.match(auditLines(rotated), [{ audit: 'signing_key.rotated', actor: 'cli', kid: kid?.[1], signsFrom: kid?.[2] }], 'one audit line')
  const again = await s.cli(['rotate-key'])
  exitsWith(t, again, 0, 'a second rotate-key')
  t.equal(again.stdout, `A new signing key is waiting already: ${kid?.[1] ?? ''} signs from ${kid?.[2] ?? ''}\n`)

  s.env.JWT_SECRET = testSecret()
  const sealed = await s.cli(['rotate-key'])
  exitsWith(t, sealed, 1, 'another secret')
  t.match(sealed.stderr, /was sealed under another secret.*fastify-token-auth rekey/)
  const wrong = await s.cli(['rekey', '--old-secret-stdin'], `${testSecret()}\n`)
  exitsWith(t, wrong, 1, 'rekey with a secret that opens nothing')
  t.match(wrong.stderr, /does not open signing key .* either: nothing was changed/)
  t.equal((await s.cli(['rekey'])).code, 2, 'rekey without --old-secret-stdin')
  const rekeyed = await s.cli(['rekey', '--old-secret-stdin'], `${first}\n`)
  exitsWith(t, rekeyed, 0, 'rekey')
  t.equal(rekeyed.stdout, 'Sealed 2 signing keys and 0 TOTP secrets again under the current JWT_SECRET\n')
  t.match(auditLines(rekeyed), [{ audit: 'signing_key.resealed', actor: 'cli', keys: 2 }])
  t.match((await s.cli(['rotate-key'])).stdout, /waiting already/, 'the keys open under the new secret')

  const hs = await setup(t)
  const refused = await hs.cli(['rotate-key'])
  exitsWith(t, refused, 1, 'rotate-key under HS256')
  t.match(refused.stderr, /JWT_ALGORITHM is HS256: there is no key pair to rotate/)
})

t.test('mfa-reset turns a second factor off; rekey seals the TOTP secrets again with the keys', async (t) => {
  const first = testSecret()
  const s = await setup(t, { JWT_SECRET: first })
  const serviceWith = async (secret: string) => {
    const app = Fastify({ logger: false })
    await app.register(service, { secret, database: `sqlite:${s.dbFile}`, bcryptCost: 4, throttle: false })
    t.teardown(async () => await app.close())
    return app
  }
  const app = await serviceWith(first)
  const jane = { username: 'janedoe', password: newPassword() }
  await enrolled(app, jane)
  t.equal(await loginStatus(app, jane.username, jane.password), 403, 'TOTP is on')

  const reset = await s.cli(['mfa-reset', jane.username])
  exitsWith(t, reset, 0, 'mfa-reset')
  t.equal(reset.stdout, 'The second factor of janedoe is off: the next login needs the password only\n')
  t.match(auditLines(reset), [{ audit: 'mfa.reset', actor: 'cli', username: jane.username }], 'audited')
  t.equal(await loginStatus(app, jane.username, jane.password), 200, 'the password alone logs in')
  const again = await s.cli(['mfa-reset', jane.username])
  exitsWith(t, again, 0, 'mfa-reset again')
  t.equal(again.stdout, 'janedoe has no second factor: nothing to turn off\n')
  const nobody = await s.cli(['mfa-reset', 'nobody'])
  exitsWith(t, nobody, 1, 'mfa-reset of nobody')
  t.match(nobody.stderr, /No user named nobody/)

  const bob = { username: 'bobsmith', password: newPassword() }
  const { secret } = await enrolled(app, bob)
  s.env.JWT_SECRET = testSecret()
  const wrong = await s.cli(['rekey', '--old-secret-stdin'], `${testSecret()}\n`)
  exitsWith(t, wrong, 1, 'rekey with a secret that opens no TOTP secret')
  t.match(wrong.stderr, /does not open every stored TOTP secret either: nothing was changed/)
  const rekeyed = await s.cli(['rekey', '--old-secret-stdin'], `${first}\n`)
  exitsWith(t, rekeyed, 0, 'rekey')
  t.equal(rekeyed.stdout, 'Sealed 0 signing keys and 1 TOTP secret again under the current JWT_SECRET\n')
  const moved = await serviceWith(s.env.JWT_SECRET)
  const step = await secondStep(moved, { mfa_token: await mfaToken(moved, bob), otp: await oathtool(secret) })
  t.equal(step.statusCode, 200, 'the service under the new secret checks the codes')
})

t.test('hash-password prints a bcrypt hash at BCRYPT_COST that @node-rs/bcrypt verifies', async (t) => {
  const s = await setup(t)
  const password = newPassword()
  const [result, tooShort] = await Promise.all([
    s.cli(['hash-password', '--password-stdin'], `${password}\n`),
    s.cli(['hash-password', '--password-stdin'], 'short\n')
  ])
  exitsWith(t, result, 0, 'hash-password')
  t.equal(result.stderr, '')
  t.match(result.stdout, /^\$2[aby]\$04\$[./A-Za-z0-9]{53}\n$/, 'one bcrypt hash of cost 04 on a line')
  const hashed = result.stdout.trim()
  t.ok(await verify(password, hashed), 'the hash matches the password')
  t.notOk(await verify(`${password}\n`, hashed), 'the trailing newline was dropped before hashing')

  exitsWith(t, tooShort, 1, 'hash-password with a short password')
  t.match(tooShort.stderr, /at least 8 bytes/)
  t.equal(tooShort.stdout, '')
  t.notOk(existsSync(s.dbFile), 'hashing opens no database')
})

t.test('a bad setting exits 2 with a message naming it', async (t) => {
  const dir = await tempDir(t)
  const cases: Array<{ env: Record<string, string>, args: string[], name: RegExp }> = [
    { env: { BCRYPT_COST: '99' }, args: ['list'], name: /BCRYPT_COST\b.*expected a whole number from 4 to 15/ },
    { env: { DATABASE_URL: 'mysql://localhost/app' }, args: ['list'], name: /DATABASE_URL\b/ }
  ]
  const results = await Promise.all(cases.map(async (c) => await runInProcess(c.args, { env: dbEnv(dir, c.env), input: newPassword() })))
  cases.forEach((c, i) => {
    const result = results[i] as CliResult
    const what = `${JSON.stringify(c.env)} cli ${c.args.join(' ')}`
    exitsWith(t, result, 2, what)
    t.match(result.stderr, /Invalid configuration/, `${what}: says the configuration is wrong`)
    t.match(result.stderr, c.name, `${what}: names the variable`)
    t.equal(result.stdout, '', `${what}: prints nothing on stdout`)
  })
  t.notOk(existsSync(join(dir, 'app.db')), 'no database file was created')
})

t.test('the CLI reads its settings from ENV_FILE too, the environment winning', async (t) => {
  const dir = await tempDir(t)
  const envFile = join(dir, 'cli.env')
  await writeFile(envFile, `DATABASE_URL=sqlite:${join(dir, 'from-file.db')}\nBCRYPT_COST=99\n`)
  const env = dbEnv(dir, { ENV_FILE: envFile, DATABASE_URL: undefined })
  const result = await runInProcess(['migrate'], { env })
  exitsWith(t, result, 0, 'cli migrate')
  t.ok(existsSync(join(dir, 'from-file.db')), "the file's DATABASE_URL is used")
  t.notOk(existsSync(join(dir, 'app.db')))
  t.equal(env.DATABASE_URL, undefined, "the file's settings join the run's environment only")
})

t.test('the bin, in a process of its own: the piped password, and the exit codes', async (t) => {
  const s = await setup(t)
  const app = await openService(t, s)
  const password = newPassword()
  const bin = async (args: string[], input?: string) => await runCli(args, { env: s.env, input, timeoutMs: 30_000 })
  const [created, usage] = await Promise.all([bin(['create-user', 'piped', '--password-stdin'], `${password}\n`), bin(['frobnicate'])])
  exitsWith(t, created, 0, 'create-user')
  t.equal(created.stdout, 'Created user piped\n')
  t.same(auditLines(created), [{ audit: 'user.created', actor: 'cli', username: 'piped', msg: 'audit: user.created' }], 'the audit line on stderr')
  t.notOk((created.stdout + created.stderr).includes(password), 'the password is not echoed')
  t.equal(await loginStatus(app, 'piped', password), 200, 'logs in with the piped password, its newline dropped')
  exitsWith(t, usage, 2, 'an unknown command')
  t.match(usage.stderr, /Unknown command: frobnicate/)
  const taken = await bin(['create-user', 'PIPED', '--password-stdin'], newPassword())
  exitsWith(t, taken, 1, 'a taken name')
  t.match(taken.stderr, /User PIPED already exists/)
})
