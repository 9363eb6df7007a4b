import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import t from 'tap'
import { createDatabase } from '../../src/core/db/database.js'
import { migrateService } from '../../src/core/db/migrate.js'
import { forEachEngine, freshDatabaseUrl } from '../helper.js'
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
    t.same(applied.rows.map((r) => r.name).sort(), ['0001_create_health_probe', '0001_create_items', '0001_create_users', '0002_add_token_version', '0003_create_sessions', '0004_drop_token_version'], 'each migration recorded once')
    await db.insertInto('users').values(newUser('someone')).execute()
    await t.rejects(db.insertInto('users').values(newUser('SomeOne')).execute(), 'the case-insensitive unique index exists')

    // Starting again later is a no-op that keeps the data.
    await migrateService(db)
    t.equal((await db.selectFrom('users').select('username').execute()).length, 1)
  })
})
