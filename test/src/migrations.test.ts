import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { createDatabase } from '../../src/db/database.js'
import { migrateService } from '../../src/service/db/service-database.js'
import { engines, forEachEngine, freshDatabaseUrl, postgresUrl } from '../helper.js'
import { entryArgs } from '../support/entries.js'

const run = promisify(execFile)
const repo = new URL('../..', import.meta.url).pathname

/** `npm run cli -- migrate` as a deploy pipeline (or a starting instance) runs it: its own process. */
async function migrateProcess (databaseUrl: string) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl }
  return await run(process.execPath, [...entryArgs('cli'), 'migrate'], { cwd: repo, env, timeout: 60_000 })
}

const newUser = (username: string) => ({ username, hashed_password: 'h', disabled: 0, created_at: 'now', updated_at: 'now', email: null, full_name: null })

forEachEngine(t, async (t, engine) => {
  const url = await freshDatabaseUrl(t, engine, { shared: true })

  t.test('four processes migrating one empty database at once: all succeed, each migration applied once', async (t) => {
    const results = await Promise.allSettled(Array.from({ length: 4 }, async () => await migrateProcess(url)))
    for (const result of results) {
      t.equal(result.status, 'fulfilled', result.status === 'rejected' ? String(result.reason) : 'exit 0')
      if (result.status === 'fulfilled') t.match(result.value.stdout, /Migrations applied/)
    }

    const db = createDatabase(url)
    t.teardown(async () => await db.destroy())
    const applied = await sql<{ name: string }>`select name from auth_migrations union all select name from items_migrations union all select name from health_migrations`.execute(db)
    t.same(applied.rows.map((r) => r.name).sort(), ['0001_create_health_probe', '0001_create_items', '0001_create_users', '0002_add_token_version', '0003_create_sessions', '0004_drop_token_version', '0005_add_refresh_token_replays'], 'each migration recorded once')
    await db.insertInto('users').values(newUser('someone')).execute()
    await t.rejects(db.insertInto('users').values(newUser('SomeOne')).execute(), 'the case-insensitive unique index exists')

    // Starting again later is a no-op that keeps the data.
    await migrateService(db)
    t.equal((await db.selectFrom('users').select('username').execute()).length, 1)
  })
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
  for (let i = 0; i < 40; i++) {
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
