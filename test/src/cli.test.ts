import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { verify } from '@node-rs/bcrypt'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import service from '../../src/service.js'
import { bearer, requestToken, testSecret } from '../helper.js'
import { dbEnv, runCli, tempDir, type CliResult, type Teardown } from './process-helper.js'

// The CLI run for real: `tsx src/cli.ts ...` in a child process, on a SQLite file of its own
// per test. Logging in is checked with the service built in this process on the same file.

// Every CLI call starts a node process with the tsx loader (about a second each).
t.setTimeout(120_000)

/** A password made up at run time, 8 to 72 bytes. */
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
  return { dir, dbFile: join(dir, 'app.db'), env, cli: async (args, input) => await runCli(args, { env, input }) }
}

/** The service on the CLI's database file, in this process. */
async function openService (t: Teardown, dbFile: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(service, { secret: testSecret(), database: `sqlite:${dbFile}`, bcryptCost: 4 })
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

async function listJson (s: Setup): Promise<unknown[]> {
  const result = await s.cli(['list', '--json'])
  if (result.code !== 0) throw new Error(`list --json failed: ${result.code} ${result.stderr}`)
  return JSON.parse(result.stdout) as unknown[]
}

/** Asserts an exit code, showing the output when it is not the expected one. */
function exitsWith (t: Pick<typeof import('tap').t, 'equal'>, result: CliResult, code: number, what: string): void {
  t.equal(result.code, code, `${what}: exit ${code}`, { stdout: result.stdout, stderr: result.stderr })
}

t.test('create-user stores an account that logs in with the piped password, one trailing newline dropped', async (t) => {
  const s = await setup(t)
  const password = newPassword()
  const created = await s.cli(
    ['create-user', 'johndoe', '--password-stdin', '--email', 'johndoe@example.com', '--full-name', 'John Doe'],
    `${password}\n`
  )
  exitsWith(t, created, 0, 'create-user')
  t.match(created.stdout, /Created user johndoe/)
  t.notMatch(created.stdout + created.stderr, password, 'the password is not echoed')

  const crlfPassword = newPassword()
  const crlf = await s.cli(['create-user', 'windows-user', '--password-stdin'], `${crlfPassword}\r\n`)
  exitsWith(t, crlf, 0, 'create-user with a CRLF line ending')

  t.same(await listJson(s), [
    { username: 'johndoe', email: 'johndoe@example.com', full_name: 'John Doe', disabled: false },
    { username: 'windows-user', email: null, full_name: null, disabled: false }
  ])

  const app = await openService(t, s.dbFile)
  t.equal(await loginStatus(app, 'johndoe', password), 200, 'logs in with the password as typed')
  t.equal(await loginStatus(app, 'johndoe', `${password}\n`), 401, 'the newline was not stored as part of the password')
  t.equal(await loginStatus(app, 'windows-user', crlfPassword), 200, 'a trailing CRLF is dropped too')
  const me = await app.inject({ url: '/users/me/', headers: bearer(await token(app, 'johndoe', password)) })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { username: 'johndoe', email: 'johndoe@example.com', full_name: 'John Doe', disabled: false })
})

t.test('create-user --disabled creates an account whose token gets 400 Inactive user', async (t) => {
  const s = await setup(t)
  const password = newPassword()
  const created = await s.cli(['create-user', 'sleeper', '--password-stdin', '--disabled'], password)
  exitsWith(t, created, 0, 'create-user --disabled')
  t.match(created.stdout, /Created user sleeper \(disabled\)/)
  t.same(await listJson(s), [{ username: 'sleeper', email: null, full_name: null, disabled: true }])

  const app = await openService(t, s.dbFile)
  const me = await app.inject({ url: '/users/me/', headers: bearer(await token(app, 'sleeper', password)) })
  t.equal(me.statusCode, 400)
  t.same(me.json(), { detail: 'Inactive user' })
})

t.test('a taken username is refused with exit 1, in any letter case', async (t) => {
  const s = await setup(t)
  const password = newPassword()
  exitsWith(t, await s.cli(['create-user', 'alice', '--password-stdin'], password), 0, 'first create-user')

  const again = await s.cli(['create-user', 'alice', '--password-stdin'], newPassword())
  exitsWith(t, again, 1, 'same name')
  t.match(again.stderr, /User alice already exists/)
  t.equal(again.stdout, '')

  const upper = await s.cli(['create-user', 'ALICE', '--password-stdin'], newPassword())
  exitsWith(t, upper, 1, 'same name in capitals')
  t.match(upper.stderr, /User ALICE already exists/)

  t.same(await listJson(s), [{ username: 'alice', email: null, full_name: null, disabled: false }], 'still one account')
  const app = await openService(t, s.dbFile)
  t.equal(await loginStatus(app, 'alice', password), 200, 'the first password still works')
})

t.test('an invalid username is refused with exit 1', async (t) => {
  const s = await setup(t)
  for (const name of ['ab', 'no spaces', 'x'.repeat(65), 'émile']) {
    const result = await s.cli(['create-user', name, '--password-stdin'], newPassword())
    exitsWith(t, result, 1, `create-user ${JSON.stringify(name)}`)
    t.match(result.stderr, /username is 3 to 64 letters, digits, dots, underscores or hyphens/)
  }
  t.same(await listJson(s), [], 'nothing was created')
})

t.test('the password length is checked in UTF-8 bytes: 8 to 72', async (t) => {
  const s = await setup(t)
  const tooShort = await s.cli(['create-user', 'shorty', '--password-stdin'], 'seven77\n')
  exitsWith(t, tooShort, 1, '7 bytes')
  t.match(tooShort.stderr, /at least 8 bytes/)

  // 37 characters, 74 bytes: too long although fewer than 72 characters.
  const tooLong = await s.cli(['create-user', 'longy', '--password-stdin'], 'é'.repeat(37))
  exitsWith(t, tooLong, 1, '74 bytes')
  t.match(tooLong.stderr, /at most 72 bytes/)
  t.match(tooLong.stderr, /74/)

  const empty = await s.cli(['create-user', 'nopass', '--password-stdin'], '')
  exitsWith(t, empty, 1, 'empty stdin')
  t.match(empty.stderr, /at least 8 bytes/)

  t.same(await listJson(s), [], 'refused passwords create nothing')

  // 36 characters, exactly 72 bytes: accepted, and every byte counts when logging in.
  const longest = 'é'.repeat(36)
  exitsWith(t, await s.cli(['create-user', 'longest', '--password-stdin'], `${longest}\n`), 0, '72 bytes')
  const app = await openService(t, s.dbFile)
  t.equal(await loginStatus(app, 'longest', longest), 200)
  t.equal(await loginStatus(app, 'longest', 'é'.repeat(35)), 401)
})

t.test('usage errors exit 2 and touch no database', async (t) => {
  const s = await setup(t)
  // None of these gets as far as opening the database, so they can run side by side.
  const cases: Array<{ args: string[], stderr?: RegExp, stdout?: RegExp }> = [
    { args: ['create-user', 'bob'], stderr: /create-user needs --password-stdin/ },
    { args: ['set-password', 'bob'], stderr: /set-password needs --password-stdin/ },
    { args: ['hash-password'], stderr: /hash-password needs --password-stdin/ },
    { args: ['frobnicate'], stderr: /Unknown command: frobnicate/ },
    { args: ['list', '--bogus'], stderr: /--bogus/ },
    { args: ['create-user', 'bob', '--password-stdin', '--nope'], stderr: /--nope/ },
    { args: ['create-user', '--password-stdin'], stderr: /create-user needs a username/ },
    { args: ['disable'], stderr: /disable needs a username/ },
    { args: ['enable'], stderr: /enable needs a username/ },
    { args: ['set-password', '--password-stdin'], stderr: /set-password needs a username/ },
    { args: ['list', 'extra'], stderr: /Unexpected argument: extra/ },
    { args: ['disable', 'bob', 'carol'], stderr: /Unexpected argument: carol/ },
    { args: [], stdout: /Usage:/ }
  ]
  const results = await Promise.all(cases.map(async (c) => await s.cli(c.args, newPassword())))
  cases.forEach((c, i) => {
    const result = results[i] as CliResult
    const what = `cli ${c.args.join(' ')}`
    exitsWith(t, result, 2, what)
    if (c.stderr !== undefined) {
      t.match(result.stderr, c.stderr, `${what}: says why`)
      t.match(result.stderr, /Usage: npm run cli/, `${what}: shows the usage`)
    }
    if (c.stdout !== undefined) t.match(result.stdout, c.stdout, `${what}: prints the usage`)
  })
  t.notOk(existsSync(s.dbFile), 'no database file was created')
})

t.test('--help prints the usage and exits 0', async (t) => {
  const s = await setup(t)
  const result = await s.cli(['--help'])
  exitsWith(t, result, 0, '--help')
  t.match(result.stdout, /Usage: npm run cli -- <command>/)
  t.match(result.stdout, /create-user NAME --password-stdin/)
  t.equal(result.stderr, '')
})

t.test('set-password replaces the password; an unknown user exits 1', async (t) => {
  const s = await setup(t)
  const oldPassword = newPassword()
  const newPass = newPassword()
  exitsWith(t, await s.cli(['create-user', 'carol', '--password-stdin'], oldPassword), 0, 'create-user')

  const changed = await s.cli(['set-password', 'carol', '--password-stdin'], `${newPass}\n`)
  exitsWith(t, changed, 0, 'set-password')
  t.match(changed.stdout, /Password changed for carol/)

  const app = await openService(t, s.dbFile)
  t.equal(await loginStatus(app, 'carol', oldPassword), 401, 'the old password no longer works')
  t.equal(await loginStatus(app, 'carol', newPass), 200, 'the new one does')

  const tooShort = await s.cli(['set-password', 'carol', '--password-stdin'], 'short')
  exitsWith(t, tooShort, 1, 'set-password with a short password')
  t.match(tooShort.stderr, /at least 8 bytes/)
  t.equal(await loginStatus(app, 'carol', newPass), 200, 'a refused change keeps the password')

  const unknown = await s.cli(['set-password', 'nobody', '--password-stdin'], newPassword())
  exitsWith(t, unknown, 1, 'set-password on an unknown user')
  t.match(unknown.stderr, /No user named nobody/)
  t.same((await listJson(s)).map((u) => (u as { username: string }).username), ['carol'], 'no account was created')
})

t.test('disable and enable switch an account; an unknown user exits 1', async (t) => {
  const s = await setup(t)
  const password = newPassword()
  exitsWith(t, await s.cli(['create-user', 'dave', '--password-stdin'], password), 0, 'create-user')
  const app = await openService(t, s.dbFile)
  const earlier = await token(app, 'dave', password)
  t.equal((await app.inject({ url: '/users/me/', headers: bearer(earlier) })).statusCode, 200)

  const disabled = await s.cli(['disable', 'dave'])
  exitsWith(t, disabled, 0, 'disable')
  t.match(disabled.stdout, /Disabled dave/)
  t.same(await listJson(s), [{ username: 'dave', email: null, full_name: null, disabled: true }])
  for (const [what, bearerToken] of [['a token issued before', earlier], ['a token issued after', await token(app, 'dave', password)]]) {
    const me = await app.inject({ url: '/users/me/', headers: bearer(bearerToken as string) })
    t.equal(me.statusCode, 400, `${what as string}: 400`)
    t.same(me.json(), { detail: 'Inactive user' })
  }

  const enabled = await s.cli(['enable', 'dave'])
  exitsWith(t, enabled, 0, 'enable')
  t.match(enabled.stdout, /Enabled dave/)
  t.same(await listJson(s), [{ username: 'dave', email: null, full_name: null, disabled: false }])
  const me = await app.inject({ url: '/users/me/', headers: bearer(earlier) })
  t.equal(me.statusCode, 200, 'the same token works again')
  t.equal(me.json().username, 'dave')

  for (const command of ['disable', 'enable']) {
    const unknown = await s.cli([command, 'nobody'])
    exitsWith(t, unknown, 1, `${command} nobody`)
    t.match(unknown.stderr, /No user named nobody/)
  }
})

t.test('list prints a tab-separated table and --json an array, never a password or hash', async (t) => {
  const s = await setup(t)
  const emptyTable = await s.cli(['list'])
  exitsWith(t, emptyTable, 0, 'list on an empty database')
  t.equal(emptyTable.stdout, 'username\tdisabled\temail\tfull_name\n', 'just the header')

  const passwords = [newPassword(), newPassword()]
  const outputs: string[] = [emptyTable.stdout, emptyTable.stderr]
  const frank = await s.cli(['create-user', 'frank', '--password-stdin', '--disabled'], passwords[1])
  const erin = await s.cli(
    ['create-user', 'erin', '--password-stdin', '--email', 'erin@example.com', '--full-name', 'Erin Example'],
    passwords[0]
  )
  exitsWith(t, frank, 0, 'create-user frank')
  exitsWith(t, erin, 0, 'create-user erin')

  const table = await s.cli(['list'])
  exitsWith(t, table, 0, 'list')
  t.equal(table.stdout, [
    'username\tdisabled\temail\tfull_name',
    'erin\tfalse\terin@example.com\tErin Example',
    'frank\ttrue\t\t',
    ''
  ].join('\n'), 'a header and one row per user, sorted by name')

  const json = await s.cli(['list', '--json'])
  exitsWith(t, json, 0, 'list --json')
  const users = JSON.parse(json.stdout) as Array<Record<string, unknown>>
  t.same(users, [
    { username: 'erin', email: 'erin@example.com', full_name: 'Erin Example', disabled: false },
    { username: 'frank', email: null, full_name: null, disabled: true }
  ])
  for (const user of users) t.same(Object.keys(user).sort(), ['disabled', 'email', 'full_name', 'username'], 'exactly the public fields')

  outputs.push(frank.stdout, frank.stderr, erin.stdout, erin.stderr, table.stdout, table.stderr, json.stdout, json.stderr)
  const all = outputs.join('\n')
  for (const password of passwords) t.notOk(all.includes(password as string), 'no password in any output')
  t.notMatch(all, /\$2[aby]\$/, 'no bcrypt hash in any output')
  t.notMatch(all, /hash|password/i, 'no password or hash field')
})

t.test('hash-password prints a bcrypt hash at BCRYPT_COST that @node-rs/bcrypt verifies', async (t) => {
  const s = await setup(t)
  const password = newPassword()
  const result = await s.cli(['hash-password', '--password-stdin'], `${password}\n`)
  exitsWith(t, result, 0, 'hash-password')
  t.equal(result.stderr, '')
  t.match(result.stdout, /^\$2[aby]\$04\$[./A-Za-z0-9]{53}\n$/, 'one bcrypt hash of cost 04 on a line')
  const hashed = result.stdout.trim()
  t.ok(await verify(password, hashed), 'the hash matches the password')
  t.notOk(await verify(`${password}\n`, hashed), 'the trailing newline was dropped before hashing')
  t.notOk(existsSync(s.dbFile), 'hashing opens no database')

  const tooShort = await s.cli(['hash-password', '--password-stdin'], 'short\n')
  exitsWith(t, tooShort, 1, 'hash-password with a short password')
  t.match(tooShort.stderr, /at least 8 bytes/)
  t.equal(tooShort.stdout, '')
})

t.test('a bad setting exits 2 with a message naming it', async (t) => {
  const dir = await tempDir(t)
  const cases: Array<{ env: Record<string, string>, args: string[], name: RegExp }> = [
    { env: { BCRYPT_COST: '99' }, args: ['list'], name: /BCRYPT_COST=99: expected a whole number from 4 to 15/ },
    { env: { BCRYPT_COST: '99' }, args: ['hash-password', '--password-stdin'], name: /BCRYPT_COST/ },
    { env: { DATABASE_URL: 'postgres://localhost/app' }, args: ['list'], name: /DATABASE_URL/ }
  ]
  const results = await Promise.all(cases.map(async (c) => await runCli(c.args, { env: dbEnv(dir, c.env), input: newPassword() })))
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
