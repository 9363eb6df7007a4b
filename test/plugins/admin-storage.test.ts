import type { Kysely, KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely'
import t from 'tap'
import { createAccounts } from '../../src/accounts/accounts.js'
import { createKyselyUserStore } from '../../src/accounts/kysely-user-store.js'
import { createPasswordHasher } from '../../src/accounts/passwords.js'
import { createDatabase } from '../../src/db/database.js'
import type { Engine } from '../../src/db/dialect.js'
import { applyMigrations } from '../../src/db/migrate.js'
import { sessionMigrations } from '../../src/db/migrations/sessions.js'
import { usersMigrations } from '../../src/db/migrations/users.js'
import type { AuthDatabase } from '../../src/db/types.js'
import { createSessionStore } from '../../src/sessions/session-store.js'
import { forEachEngine, freshDatabaseUrl, type TestContext } from '../helper.js'

// The admin data layer on both engines: the migrations that add `users.is_admin` and
// `sessions.scope` to a database in use, the built-in store's admin flag and pages, and the
// session store's scope-aware ending and live counts.

const POLICY = { refreshTokenExpireDays: 14, sessionMaxDays: 90, refreshTokenReuseSeconds: 10, maxSessionsPerUser: 100 }
const iso = (ms: number) => new Date(ms).toISOString()

async function database (t: TestContext, engine: Engine): Promise<Kysely<AuthDatabase>> {
  const db = createDatabase(await freshDatabaseUrl(t, engine))
  t.teardown(async () => await db.destroy())
  return db
}

async function migrated (t: TestContext, engine: Engine) {
  const db = await database(t, engine)
  await applyMigrations(db, usersMigrations)
  return { db, users: createKyselyUserStore(db), sessions: createSessionStore(db, POLICY) }
}

/** The set's first `count` migrations, under the set's own table: a database as an earlier release left it. */
const firstOf = (set: typeof usersMigrations, count: number) => ({ table: set.table, migrations: Object.fromEntries(Object.entries(set.migrations).slice(0, count)) })

const sessionRow = (id: string, username: string) => {
  const now = Date.now()
  return { id, username, user_agent: 'Old/1.0', created_at: iso(now), last_used_at: iso(now), expires_at: iso(now + 86_400_000), absolute_expires_at: iso(now + 90 * 86_400_000) }
}

/** A Kysely plugin that counts the statements run through it. */
function statementCounter (): KyselyPlugin & { count: number } {
  const counter = {
    count: 0,
    transformQuery: (args: PluginTransformQueryArgs): RootOperationNode => args.node,
    async transformResult (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      counter.count++
      return args.result
    }
  }
  return counter
}

forEachEngine(t, async (t, engine) => {
  t.test('the migrations add is_admin and scope to a database in use: its rows keep working', async (t) => {
    const db = await database(t, engine)
    await applyMigrations(db, firstOf(usersMigrations, 5))
    const now = iso(Date.now())
    await db.insertInto('users').values({ username: 'veteran', hashed_password: 'h', disabled: 0, email: null, full_name: 'Old Timer', created_at: now, updated_at: now } as never).execute()
    await db.insertInto('sessions').values(sessionRow('old-session', 'veteran')).execute()

    const applied = await applyMigrations(db, usersMigrations)
    t.same(applied.map((migration) => migration.name), ['0006_add_users_is_admin', '0007_add_session_scope', '0008_add_session_client', '0009_create_signing_keys',
      '0010_add_users_verified_email', '0011_create_account_tokens', '0012_create_mfa'], 'only the new migrations run')
    const users = createKyselyUserStore(db)
    const sessions = createSessionStore(db, POLICY)
    t.match(await users.findByUsername('veteran'), { username: 'veteran', fullName: 'Old Timer', disabled: false, isAdmin: false, createdAt: now }, 'the account is there, not an admin')
    t.match(await sessions.list('veteran'), [{ id: 'old-session', userAgent: 'Old/1.0', scope: null }], 'its session goes on, with no scope recorded')
    t.equal(await sessions.endHoldingScope('veteran', 'admin'), 0, 'a session from before scopes holds no admin scope')
    t.equal(await users.setAdmin('veteran', true), true)
    t.equal((await users.findByUsername('veteran'))?.isAdmin, true, 'the new flag is written and read')
    t.same(await applyMigrations(db, usersMigrations), [], 'run again: nothing to apply')
  })

  t.test('the sessions-only set gains the scope column too, beside a host store', async (t) => {
    const db = await database(t, engine)
    await applyMigrations(db, firstOf(sessionMigrations, 2))
    await db.insertInto('sessions').values(sessionRow('kept', 'hosted')).execute()
    t.same((await applyMigrations(db, sessionMigrations)).map((migration) => migration.name), ['0003_add_session_scope', '0004_add_session_client', '0005_create_signing_keys', '0006_create_account_tokens', '0007_create_mfa'])
    const sessions = createSessionStore(db, POLICY)
    t.match(await sessions.list('hosted'), [{ id: 'kept', scope: null }], 'the session from before is there')
    await db.updateTable('sessions').set({ scope: 'me admin' }).where('id', '=', 'kept').execute()
    t.equal(await sessions.endHoldingScope('hosted', 'admin'), 1, 'and a scope written to it is matched')
  })

  t.test('setAdmin, and create with isAdmin', async (t) => {
    const { users } = await migrated(t, engine)
    t.match(await users.create({ username: 'chief', hashedPassword: 'h', isAdmin: true }), { isAdmin: true, createdAt: /^\d{4}-\d\d-\d\dT/ })
    t.match(await users.create({ username: 'staff', hashedPassword: 'h' }), { isAdmin: false })
    t.equal(await users.setAdmin('staff', true), true)
    t.equal(await users.setAdmin('chief', false), true)
    t.equal(await users.setAdmin('ghost', true), false, 'no such user')
    t.same((await users.list()).map((user) => [user.username, user.isAdmin]), [['chief', false], ['staff', true]])
  })

  t.test('page: ordered by username, limit and offset, a prefix ignoring case with % _ ! taken literally', async (t) => {
    const { users } = await migrated(t, engine)
    // The store takes any name; the API's rules (no % or !) are the accounts module's.
    const names = ['ann', 'Anna_b', 'annaxb', 'anna%x', 'annayx', 'an!x', 'anx', 'bob', 'carol', 'dave']
    for (const username of names) await users.create({ username, hashedPassword: 'h' })
    const page = async (limit: number, offset: number, prefix?: string) =>
      (await users.page({ limit, offset, ...(prefix !== undefined && { prefix }) })).map((user) => user.username)

    t.same(await page(3, 0, 'b'), ['bob'])
    const lowercase = ['bob', 'carol', 'dave']
    t.same([...await page(2, 7), ...await page(2, 9)], lowercase, 'pages follow each other in username order')
    t.equal((await page(100, 0)).length, names.length, 'a page larger than the table holds every account')
    t.same(await page(10, 10), [], 'past the end: none')
    const sorted = async (prefix: string) => (await page(100, 0, prefix)).sort()
    t.same(await sorted('ANNA'), ['Anna_b', 'anna%x', 'annaxb', 'annayx'], 'letter case ignored')
    t.same(await sorted('anna_'), ['Anna_b'], '_ matches itself only')
    t.same(await sorted('anna%'), ['anna%x'], '% matches itself only')
    t.same(await sorted('an!'), ['an!x'], 'the escape character matches itself')
    t.same(await sorted('%'), [], 'a lone % matches no name')
    t.same(await sorted(''), names.slice().sort(), 'an empty prefix: every account')
    t.same(await page(2, 1, 'ann'), (await page(100, 0, 'ann')).slice(1, 3), 'a prefix pages too')
  })

  t.test('endHoldingScope ends the sessions holding the scope as a whole word, of that user only', async (t) => {
    const { users, sessions, db } = await migrated(t, engine)
    for (const username of ['holder', 'other']) await users.create({ username, hashedPassword: 'h' })
    const scopes: Record<string, string | null> = {
      both: 'me admin', first: 'admin items', alone: 'admin', plural: 'me admins', prefixed: 'superadmin', upper: 'Admin', none: null, me: 'me'
    }
    const ids: Record<string, string> = {}
    for (const [name, scope] of Object.entries(scopes)) {
      const started = await sessions.start('holder', name, 'me')
      ids[name] = started?.session.id as string
      await db.updateTable('sessions').set({ scope }).where('id', '=', ids[name] as string).execute()
    }
    await sessions.start('other', 'x', 'admin')

    t.equal(await sessions.endHoldingScope('holder', 'adm%'), 0, 'a wildcard is no wildcard')
    t.equal(await sessions.endHoldingScope('holder', 'me admin'), 0, 'two names are no scope')
    t.equal(await sessions.endHoldingScope('holder', ''), 0, 'nor is an empty one')
    t.equal(await sessions.endHoldingScope('holder', 'admin'), 3, 'ended: me admin, admin items, admin')
    t.same((await sessions.list('holder')).map((session) => session.userAgent).sort(), ['me', 'none', 'plural', 'prefixed', 'upper'],
      'the others go on: admins, superadmin, Admin, none recorded, me')
    t.same(Object.fromEntries((await sessions.list('holder')).map((session) => [session.userAgent, session.scope])),
      { me: 'me', none: null, plural: 'me admins', prefixed: 'superadmin', upper: 'Admin' }, 'the records carry their scope')
    t.equal((await sessions.list('other')).length, 1, "another user's admin session goes on")
  })

  t.test('countLive counts unexpired sessions per user in one statement; endEveryone ends all but one', async (t) => {
    const { users, sessions, db } = await migrated(t, engine)
    for (const username of ['amy', 'ben', 'cat']) await users.create({ username, hashedPassword: 'h' })
    const amy = [await sessions.start('amy', 'a1', 'me'), await sessions.start('amy', 'a2', 'me')]
    const ben = await sessions.start('ben', 'b1', 'me')
    await db.updateTable('sessions').set({ expires_at: iso(Date.now() - 1000) }).where('id', '=', ben?.session.id as string).execute()
    t.same(Object.fromEntries(await sessions.countLive(['amy', 'ben', 'cat', 'nobody'])), { amy: 2 }, 'an expired session is not live; none, no entry')
    t.same([...await sessions.countLive([])], [], 'no users, no statement needed')

    const kept = amy[0]?.session.id as string
    t.equal(await sessions.endEveryone({ except: kept }), 2, 'every other session ended, the expired one included')
    t.same((await db.selectFrom('sessions').select('id').execute()).map((row) => row.id), [kept], 'only the one kept is left')
    t.equal(await sessions.endEveryone(), 1, 'and without an exception, that one too')
  })

  t.test('accounts.list reads a page and its live sessions in two statements, whatever its size', async (t) => {
    const counter = statementCounter()
    const { db } = await migrated(t, engine)
    const counted = db.withPlugin(counter)
    const users = createKyselyUserStore(counted)
    const sessions = createSessionStore(counted, POLICY)
    const accounts = createAccounts({ users, sessions, passwords: await createPasswordHasher(4) })
    for (let i = 0; i < 12; i++) {
      await users.create({ username: `user${String(i).padStart(2, '0')}`, hashedPassword: 'h', isAdmin: i === 3 })
      if (i % 2 === 0) await sessions.start(`user${String(i).padStart(2, '0')}`, 'ua', 'me')
    }
    counter.count = 0
    const page = await accounts.list({ limit: 10, offset: 0 })
    t.equal(counter.count, 2, 'one statement for the accounts, one for their sessions')
    t.equal(page.length, 10)
    t.same(page.slice(0, 4), [0, 1, 2, 3].map((i) => ({
      username: `user0${i}`, email: null, email_verified: false, full_name: null, disabled: false, is_admin: i === 3, created_at: page[i]?.created_at, live_sessions: i % 2 === 0 ? 1 : 0
    })), 'each account as an admin sees it, with its live sessions')
    t.match(page[0]?.created_at, /^\d{4}-\d\d-\d\dT.*Z$/)
  })
})
