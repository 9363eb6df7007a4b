import t from 'tap'
import { createKyselyUserStore } from '../../src/accounts/kysely-user-store.js'
import { toPublicUser, UsernameTakenError } from '../../src/accounts/user-store.js'
import { createDatabase } from '../../src/db/database.js'
import { applyMigrations } from '../../src/db/migrate.js'
import { usersMigrations } from '../../src/db/migrations/users.js'
import type { Engine } from '../../src/db/dialect.js'
import { forEachEngine, freshDatabaseUrl, type TestContext } from '../helper.js'

async function repository (t: TestContext, engine: Engine) {
  const db = createDatabase(await freshDatabaseUrl(t, engine))
  t.teardown(async () => await db.destroy())
  await applyMigrations(db, usersMigrations)
  return createKyselyUserStore(db)
}

forEachEngine(t, async (t, engine) => {
  t.test('create and find', async (t) => {
    const users = await repository(t, engine)
    const created = await users.create({ username: 'Tim', hashedPassword: 'h1', email: 'tim@example.com', fullName: 'Tim T' })
    t.match(created, { username: 'Tim', email: 'tim@example.com', fullName: 'Tim T', disabled: false, hashedPassword: 'h1' })
    t.same(await users.findByUsername('Tim'), created)
    t.equal(await users.findByUsername('tim'), undefined, 'lookups are case-sensitive')
    t.equal(await users.findByUsername('nobody'), undefined)
    t.same(toPublicUser(created), { username: 'Tim', email: 'tim@example.com', email_verified: false, full_name: 'Tim T', disabled: false })
  })

  t.test('usernames are unique ignoring case', async (t) => {
    const users = await repository(t, engine)
    await users.create({ username: 'tim', hashedPassword: 'h' })
    for (const username of ['tim', 'TIM', 'Tim']) {
      await t.rejects(users.create({ username, hashedPassword: 'h' }), UsernameTakenError, username)
    }
    t.equal(await users.count(), 1)
  })

  t.test('password and disabled flag updates', async (t) => {
    const users = await repository(t, engine)
    await users.create({ username: 'ann', hashedPassword: 'old' })
    t.equal(await users.setPassword('ann', 'new'), true)
    t.equal((await users.findByUsername('ann'))?.hashedPassword, 'new')
    t.equal(await users.setDisabled('ann', true), true)
    t.equal((await users.findByUsername('ann'))?.disabled, true)
    t.equal(await users.setDisabled('ann', false), true)
    t.equal((await users.findByUsername('ann'))?.disabled, false)
    t.equal(await users.setPassword('ghost', 'x'), false)
    t.equal(await users.setDisabled('ghost', true), false)
  })

  t.test('list is sorted by username; count counts', async (t) => {
    const users = await repository(t, engine)
    t.equal(await users.count(), 0)
    for (const username of ['carol', 'alice', 'bob']) await users.create({ username, hashedPassword: 'h', disabled: username === 'bob' })
    t.same((await users.list()).map((u) => [u.username, u.disabled]), [['alice', false], ['bob', true], ['carol', false]])
    t.equal(await users.count(), 3)
  })

  t.test('migrations can run twice on the same database', async (t) => {
    const db = createDatabase(await freshDatabaseUrl(t, engine))
    t.teardown(async () => await db.destroy())
    await applyMigrations(db, usersMigrations)
    await applyMigrations(db, usersMigrations)
    await createKyselyUserStore(db).create({ username: 'once', hashedPassword: 'h' })
    t.equal(await createKyselyUserStore(db).count(), 1)
  })
})

forEachEngine(t, async (t, engine) => {
  t.test('the database handle supports nested transactions (savepoints) for hosts that use it', async (t) => {
    const db = createDatabase(await freshDatabaseUrl(t, engine))
    t.teardown(async () => await db.destroy())
    await applyMigrations(db, usersMigrations)
    const users = createKyselyUserStore(db)
    const trx = await db.startTransaction().execute()
    await createKyselyUserStore(trx).create({ username: 'outer', hashedPassword: 'h' })
    const inner = await trx.savepoint('inner').execute()
    await createKyselyUserStore(inner).create({ username: 'rolled', hashedPassword: 'h' })
    await inner.rollbackToSavepoint('inner').execute()
    await trx.commit().execute()
    t.same((await users.list()).map((u) => u.username), ['outer'])
  })
})
