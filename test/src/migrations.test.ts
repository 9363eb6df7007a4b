import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { promisify } from 'node:util'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import t from 'tap'
import type { Engine } from '../../src/db/dialect.js'
import { createDatabase, migrate } from '../../src/index.js'
import { run as runCli } from '../../src/service/cli.js'
import { migrateService } from '../../src/service/db/service-database.js'
import { bearer, buildApp, engines, forEachEngine, freshDatabaseUrl, postgresUrl, requestToken } from '../helper.js'
import { entryArgs } from '../support/entries.js'

const run = promisify(execFile)
const repo = new URL('../..', import.meta.url).pathname

/** `npm run cli -- migrate` as a deploy pipeline (or a starting instance) runs it: its own process. */
async function migrateProcess (databaseUrl: string) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl }
  return await run(process.execPath, [...entryArgs('cli'), 'migrate'], { cwd: repo, env, timeout: 60_000 })
}

/** The tables (not the migrators' own) a database holds, by name. */
async function tablesOf (db: Kysely<any>, engine: Engine): Promise<string[]> {
  const { rows } = engine === 'postgres'
    ? await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(db)
    : await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)
  return rows.map((row) => row.name).filter((name) => !name.endsWith('_migrations') && !name.endsWith('_migrations_lock') && name !== 'sqlite_sequence').sort()
}

const EVERY_TABLE = ['account_tokens', 'auth_login_failures', 'auth_rate_limits', 'health_probe', 'items', 'mfa_challenges', 'mfa_factors', 'mfa_recovery_codes', 'refresh_tokens', 'sessions', 'signing_keys', 'users']

const newUser = (username: string) => ({ username, hashed_password: 'h', disabled: 0, created_at: 'now', updated_at: 'now', email: null, full_name: null })

forEachEngine(t, async (t, engine) => {
  const url = await freshDatabaseUrl(t, engine, { shared: true })

  t.test('four processes migrating one empty database at once: all succeed, each migration applied once', async (t) => {
    const results = await Promise.allSettled(Array.from({ length: 4 }, async () => await migrateProcess(url)))
    const said: string[] = []
    for (const result of results) {
      t.equal(result.status, 'fulfilled', result.status === 'rejected' ? String(result.reason) : 'exit 0')
      if (result.status === 'fulfilled') {
        t.match(result.value.stdout, /^(Migrations applied: \d+|Nothing to apply: every migration was applied before)$/m, 'says what it did')
        said.push(...result.value.stdout.split('\n').filter((line) => line.startsWith('Applied ')))
      }
    }
    const lineOf = new RegExp(`^Applied (\\w+) of (\\w+) \\(${engine}, \\d+ ms\\)$`)
    t.ok(said.every((line) => lineOf.test(line)), 'a line per migration applied: its name, table, engine and duration', { said })
    t.equal(said.length, 15, 'the processes together name each of the 15 migrations once', { said })
    const again = await migrateProcess(url)
    t.equal(again.stdout, 'Nothing to apply: every migration was applied before\n', 'run again, nothing to apply, and it says so')

    const db = createDatabase(url)
    t.teardown(async () => await db.destroy())
    const applied = await sql<{ name: string }>`select name from auth_migrations union all select name from auth_throttle_migrations
      union all select name from items_migrations union all select name from health_migrations`.execute(db)
    t.same(applied.rows.map((r) => r.name).sort(), ['0001_create_health_probe', '0001_create_items', '0001_create_throttle_tables', '0001_create_users',
      '0002_add_token_version', '0003_create_sessions', '0004_drop_token_version', '0005_add_refresh_token_replays',
      '0006_add_users_is_admin', '0007_add_session_scope', '0008_add_session_client', '0009_create_signing_keys', '0010_add_users_verified_email',
      '0011_create_account_tokens', '0012_create_mfa'], 'each migration recorded once')
    t.same(await tablesOf(db, engine), EVERY_TABLE, 'every table the service uses, the throttling counters\' included')
    await db.insertInto('users').values(newUser('someone')).execute()
    await t.rejects(db.insertInto('users').values(newUser('SomeOne')).execute(), 'the case-insensitive unique index exists')

    // Starting again later is a no-op that keeps the data.
    await migrateService(db)
    t.equal((await db.selectFrom('users').select('username').execute()).length, 1)
  })
})

forEachEngine(t, async (t, engine) => {
  t.test("the package's migrate: the plugin's tables, or beside a host's store the sessions alone", async (t) => {
    for (const [options, tables] of [
      [{}, ['account_tokens', 'auth_login_failures', 'auth_rate_limits', 'mfa_challenges', 'mfa_factors', 'mfa_recovery_codes', 'refresh_tokens', 'sessions', 'signing_keys', 'users']],
      [{ users: false }, ['account_tokens', 'auth_login_failures', 'auth_rate_limits', 'mfa_challenges', 'mfa_factors', 'mfa_recovery_codes', 'refresh_tokens', 'sessions', 'signing_keys']],
      [{ users: false, throttle: false }, ['account_tokens', 'mfa_challenges', 'mfa_factors', 'mfa_recovery_codes', 'refresh_tokens', 'sessions', 'signing_keys']]
    ] as const) {
      const db = createDatabase(await freshDatabaseUrl(t, engine))
      try {
        const applied = await migrate(db, options)
        t.same(await migrate(db, options), [], 'the second run applies nothing')
        t.same(await tablesOf(db, engine), tables, `migrate(db, ${JSON.stringify(options)}), twice`)
        t.ok(applied.length > 0 && applied.every((m) => m.engine === engine && m.table.endsWith('_migrations') && m.durationMs >= 0),
          'the first answers what it applied: each migration with its table, engine and duration', { applied })
      } finally {
        await db.destroy()
      }
    }
  })
})

/** A stream that keeps what is written to it. */
function collected () {
  let text = ''
  return { stream: new Writable({ write (chunk: Buffer, _encoding, done) { text += chunk.toString(); done() } }), text: () => text }
}

t.test('postgres: migrated by its owner, the service runs as a role that may only read and write rows, and throttles', { skip: !engines.includes('postgres') }, async (t) => {
  const ownerUrl = await freshDatabaseUrl(t, 'postgres')
  const schema = new URL(ownerUrl).searchParams.get('options')?.replace(/^-c search_path=/, '') as string
  const stdout = collected()
  const stderr = collected()
  const migrated = await runCli(['migrate'], { stdin: Readable.from(['']), stdout: stdout.stream, stderr: stderr.stream, env: { DATABASE_URL: ownerUrl, ENV_FILE: '' } })
  t.equal(migrated, 0, 'cli migrate as the owner', { stderr: stderr.text() })

  const role = `rows_only_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  t.teardown(async () => {
    await admin.query(`drop owned by ${role}`)
    await admin.query(`drop role ${role}`)
    await admin.end()
  })
  await admin.query(`create role ${role} login`)
  await admin.query(`grant usage on schema ${schema} to ${role}`)
  await admin.query(`grant select, insert, update, delete on all tables in schema ${schema} to ${role}`)
  await admin.query(`grant usage, select on all sequences in schema ${schema} to ${role}`)
  const roleUrl = new URL(ownerUrl)
  roleUrl.username = role
  roleUrl.password = ''

  const probe = createDatabase(roleUrl.toString())
  await t.rejects(sql`create table ddl_probe (id integer)`.execute(probe), /permission denied/, 'the role may not create a table')
  await probe.destroy()

  const app = await buildApp(t, {
    database: roleUrl.toString(),
    throttle: { token: { max: 4, windowSeconds: 60 }, loginBackoffAfter: 2 }
  })
  const register = await app.inject({ method: 'POST', url: '/users/', payload: { username: 'rowsonly', password: 'rows-only-password' } })
  t.equal(register.statusCode, 201, 'it starts, and registers')
  const login = await requestToken(app, { username: 'rowsonly', password: 'rows-only-password' })
  t.equal(login.statusCode, 200, 'logs in')
  const item = await app.inject({ method: 'POST', url: '/users/me/items/', headers: bearer(login.json().access_token), payload: { title: 'a row' } })
  t.equal(item.statusCode, 201, 'adds an item (its id from a sequence)')
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'is ready: the probe writes its row')

  const wrong = async () => (await requestToken(app, { username: 'rowsonly', password: 'not-the-password' })).statusCode
  t.same([await wrong(), await wrong()], [401, 401], 'two failed logins')
  const held = await requestToken(app, { username: 'rowsonly', password: 'rows-only-password' })
  t.equal(held.statusCode, 429, 'the login backoff holds the next attempt')
  t.ok(Number(held.headers['retry-after']) >= 1, 'with a Retry-After')
  t.equal((await requestToken(app, { username: 'someone-else', password: 'whatever-password' })).statusCode, 429, 'past the token endpoint\'s limit for the address: 429')
})

t.test('postgres: other schemas created and dropped while the service migrates: every start-up succeeds', { skip: !engines.includes('postgres') }, async (t) => {
  // Kysely's migrator lists the tables of every schema it can see; one dropped meanwhile by
  // someone else (another deployment, a test run) must not fail this deployment's start.
  const churn = new pg.Client({ connectionString: postgresUrl })
  await churn.connect()
  const stop = new AbortController()
  const churning = (async () => {
    for (let i = 0; !stop.signal.aborted; i++) {
      await churn.query(`create schema churn_${i}`)
      await churn.query(`create table churn_${i}.t (id serial primary key)`)
      await churn.query(`drop schema churn_${i} cascade`)
    }
  })()
  t.teardown(async () => { stop.abort(); await churning; await churn.end() })
  const failures: string[] = []
  for (let i = 0; i < 20; i++) {
    const db = createDatabase(await freshDatabaseUrl(t, 'postgres'))
    try {
      await migrateService(db)
    } catch (error) {
      failures.push(String(error))
    } finally {
      await db.destroy()
    }
  }
  t.same(failures, [], 'no migration run failed')
})
