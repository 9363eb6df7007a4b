import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import t from 'tap'
import tokenAuth, { AccountRuleError, createDatabase, errors, type AuditActor, type AuthDatabase, type UserRecord, type UserStore } from '../../src/index.js'
import type { Engine } from '../../src/db/dialect.js'
import { forEachEngine, freshDatabaseUrl, type TestContext } from '../helper.js'
import { get, memoryStore, newHost, pluginOptions, type Json } from './support.js'

// The admin operations of the public accounts API (`app.tokenAuth.accounts`), on both engines:
// pages of accounts with their live sessions, admin rights and what revoking them ends, an
// administrator's update all or nothing, ending every session but one, the rule that an admin
// cannot take their own rights, disable or delete themselves, and one audit line per action.

const PASSWORD = 'admin-test-password'
const boss: AuditActor = { actor: 'boss', via: 'admin-console' }

/** A host on a database the test holds too (to read rows and give sessions their scope), its audit lines kept. */
async function buildHost (t: TestContext, engine: Engine, store?: UserStore) {
  const db: Kysely<AuthDatabase> = createDatabase(await freshDatabaseUrl(t, engine))
  t.teardown(async () => await db.destroy())
  const lines: Json[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  const host = newHost(t, { logger: { level: 'info', stream } })
  await host.register(tokenAuth, pluginOptions({ database: db, ...(store !== undefined && { store }) }))
  await host.ready()
  /** The audit lines since the last call, without pino's own fields. */
  const audited = () => lines.splice(0).filter((line) => line.audit !== undefined).map(({ level, time, pid, hostname, msg, ...line }) => line)
  /** A session opened for the user, as a login opens one, granted `scope`: its access token and id. */
  const session = async (username: string, scope: string | null = null) => {
    const token = await host.tokenAuth.issueToken(username)
    const id = JSON.parse(Buffer.from(token.access_token.split('.')[1] as string, 'base64url').toString()).sid as string
    await db.updateTable('sessions').set({ scope }).where('id', '=', id).execute()
    return { token: token.access_token, id }
  }
  const user = async (username: string, extra: { email?: string, fullName?: string } = {}) => {
    await host.tokenAuth.accounts.create({ username, password: PASSWORD, ...extra })
  }
  /** Everything stored of the account and its sessions, to compare before and after. */
  const rows = async (username: string) => ({
    user: await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst(),
    sessions: await db.selectFrom('sessions').selectAll().where('username', '=', username).orderBy('id').execute()
  })
  return { host, db, audited, session, user, rows }
}

const works = async (host: FastifyInstance, token: string) => (await get(host, '/auth/users/me/', token)).statusCode

forEachEngine(t, async (t, engine) => {
  t.test('list and get: accounts as an admin sees them, paged, by a username prefix, with live sessions', async (t) => {
    const { host, db, session, user, audited } = await buildHost(t, engine)
    const { accounts } = host.tokenAuth
    for (const name of ['carol', 'ann_x', 'annax', 'Anne', 'bob']) await user(name, name === 'carol' ? { email: 'carol@example.com', fullName: 'Carol C' } : {})
    await accounts.setAdmin('carol', true)
    await accounts.disable('bob')
    await session('carol')
    await session('carol', 'me admin')
    const expired = await session('annax')
    await db.updateTable('sessions').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', expired.id).execute()
    audited()

    const carol = await accounts.get('carol')
    t.same(carol, {
      username: 'carol', email: 'carol@example.com', email_verified: false, full_name: 'Carol C', disabled: false, is_admin: true, created_at: carol?.created_at, live_sessions: 2
    }, 'get: the wire fields, no hash')
    t.ok(Date.parse(carol?.created_at ?? '') > Date.now() - 60_000, 'created_at is when it was created')
    t.equal(await accounts.get('nobody'), undefined)
    t.match(await accounts.get('annax'), { live_sessions: 0 }, 'an expired session is not live')
    t.match(await accounts.get('bob'), { disabled: true, is_admin: false, live_sessions: 0 })

    const names = async (page: Parameters<typeof accounts.list>[0]) => (await accounts.list(page)).map((account) => account.username)
    const everyone = await names({ limit: 10, offset: 0 })
    t.same(everyone.slice().sort(), ['Anne', 'ann_x', 'annax', 'bob', 'carol'], 'every account')
    t.same([...await names({ limit: 2, offset: 0 }), ...await names({ limit: 2, offset: 2 }), ...await names({ limit: 2, offset: 4 })], everyone, 'pages follow each other')
    t.same((await names({ limit: 10, offset: 0, prefix: 'ANN' })).sort(), ['Anne', 'ann_x', 'annax'], 'a prefix, ignoring letter case')
    t.same(await names({ limit: 10, offset: 0, prefix: 'ann_' }), ['ann_x'], '_ in the prefix is an underscore')
    t.same(await names({ limit: 10, offset: 0, prefix: '%' }), [], '% in the prefix is a percent sign')
    t.match(await accounts.list({ limit: 1, offset: 0, prefix: 'car' }), [{ username: 'carol', is_admin: true, live_sessions: 2 }])

    for (const page of [{ limit: 0, offset: 0 }, { limit: 1001, offset: 0 }, { limit: 1.5, offset: 0 }, { limit: Number.NaN, offset: 0 }, { limit: 5, offset: -1 }, { limit: 5, offset: 0, prefix: 'x'.repeat(65) }]) {
      const refused: unknown = await accounts.list(page).catch((error: unknown) => error)
      t.ok(refused instanceof RangeError && errors.PAGE_RANGE.is(refused), `refused with a RangeError: ${JSON.stringify(page)}`, { refused })
    }
    t.same(audited(), [], 'reading is not audited')
  })

  t.test('setAdmin: granting and revoking, which ends only the sessions holding admin', async (t) => {
    const { host, session, user, audited, rows } = await buildHost(t, engine)
    const { accounts } = host.tokenAuth
    await user('dana')
    await user('eve')
    audited()
    t.same(await accounts.setAdmin('dana', true, boss), { endedSessions: 0 })
    t.same(audited(), [{ audit: 'user.admin_granted', actor: 'boss', via: 'admin-console', username: 'dana' }], 'one line: who, what, to whom')
    await accounts.setAdmin('eve', true)
    audited()
    const admin = await session('dana', 'me admin')
    const plain = await session('dana', 'me items')
    const old = await session('dana', null)
    const others = await session('eve', 'admin')

    t.same(await accounts.setAdmin('dana', false, boss), { endedSessions: 1 })
    t.same(audited(), [{ audit: 'user.admin_revoked', actor: 'boss', via: 'admin-console', username: 'dana', endedSessions: 1 }], 'one line, with the sessions it ended')
    t.equal(await works(host, admin.token), 401, 'the session holding admin has ended')
    t.same([await works(host, plain.token), await works(host, old.token), await works(host, others.token)], [200, 200, 200],
      "the user's other sessions, and another admin's, go on")
    t.match((await rows('dana')).user, { is_admin: 0 })
    t.match(await accounts.get('dana'), { is_admin: false, live_sessions: 2 })
    t.equal(await accounts.setAdmin('nobody', true, boss), undefined, 'no such user')
    t.same(audited(), [], 'nothing changed, nothing audited')
  })

  t.test('an admin cannot take their own rights, disable or delete themselves: refused, nothing changed', async (t) => {
    const { host, session, user, audited, rows } = await buildHost(t, engine)
    const { accounts, users } = host.tokenAuth
    await user('boss', { email: 'boss@example.com' })
    await accounts.setAdmin('boss', true)
    const own = await session('boss', 'me admin')
    audited()
    const before = await rows('boss')

    const refusals: Array<[string, () => Promise<unknown>, typeof errors.OWN_ADMIN_RIGHTS]> = [
      ['setAdmin false', async () => await accounts.setAdmin('boss', false, boss), errors.OWN_ADMIN_RIGHTS],
      ['adminUpdate isAdmin false', async () => await accounts.adminUpdate('boss', { isAdmin: false }, boss), errors.OWN_ADMIN_RIGHTS],
      ['adminUpdate disabled, with a profile change', async () => await accounts.adminUpdate('boss', { disabled: true, fullName: 'Gone' }, boss), errors.OWN_ACCOUNT_DISABLED],
      ['disable', async () => await accounts.disable('boss', boss), errors.OWN_ACCOUNT_DISABLED],
      ['delete', async () => await accounts.delete('boss', boss), errors.OWN_ACCOUNT_DELETED]
    ]
    for (const [what, attempt, entry] of refusals) {
      await t.rejects(attempt(), { code: entry.code, statusCode: 400, message: entry.detail() }, `${what}: ${entry.detail()}`)
    }
    t.match(errors.OWN_ADMIN_RIGHTS.answer(), { statusCode: 400, detail: 'An admin cannot remove their own admin rights' }, 'answered 400, saying why')
    t.same(await rows('boss'), before, 'the account and its sessions are as they were')
    t.equal(await works(host, own.token), 200, 'the session goes on')
    t.same(audited(), [], 'nothing audited')

    t.match(await accounts.adminUpdate('boss', { fullName: 'The Boss', isAdmin: true, disabled: false }, boss), { full_name: 'The Boss', is_admin: true, disabled: false },
      'changing what does not lock them out is allowed')
    t.match(await accounts.setAdmin('boss', true, boss), { endedSessions: 0 })
    t.same(audited().map((line) => line.audit), ['user.updated', 'user.admin_granted'])
    t.equal(await users.setDisabled('boss', true), true, "the host's actor ('host') is not the account: allowed")

    // Anyone may register a name like an actor's: an ordinary account is no administrator's own.
    await user('host')
    t.equal(await users.setDisabled('host', true), true, "an ordinary account named 'host' is disabled by the host")
    t.equal(await accounts.delete('host'), true, 'and deleted')
    await user('clerk')
    await accounts.setAdmin('clerk', true)
    await t.rejects(accounts.delete('clerk', { actor: 'clerk' }), { code: errors.OWN_ACCOUNT_DELETED.code }, 'an administrator named as the actor is protected')
  })

  t.test('adminUpdate: all or nothing, disabling ends every session, one audit line', async (t) => {
    const { host, session, user, audited, rows } = await buildHost(t, engine)
    const { accounts } = host.tokenAuth
    await user('fred', { email: 'fred@example.com', fullName: 'Fred F' })
    const sessions = [await session('fred', 'me'), await session('fred', 'me admin')]
    audited()
    const before = await rows('fred')

    await t.rejects(accounts.adminUpdate('fred', { disabled: true, isAdmin: true, email: 'not an email' }, boss),
      { name: 'AccountRuleError', issues: [{ field: 'email', rule: 'format' }] }, 'a bad email refuses the whole change')
    await t.rejects(accounts.adminUpdate('fred', { disabled: true, fullName: 'x'.repeat(201) }, boss), AccountRuleError)
    t.same(await rows('fred'), before, 'nothing half-changed: the account and its sessions are as they were')
    t.same(audited(), [], 'and nothing audited')

    const updated = await accounts.adminUpdate('fred', { disabled: true, isAdmin: true, email: null, fullName: 'Frederick' }, boss)
    t.same(updated, {
      username: 'fred', email: null, email_verified: false, full_name: 'Frederick', disabled: true, is_admin: true, created_at: updated?.created_at, live_sessions: 0
    }, 'every field changed, the account as it is now')
    t.same(audited(), [{ audit: 'user.updated', actor: 'boss', via: 'admin-console', username: 'fred', fields: 'email,full_name,disabled,is_admin', disabled: true, isAdmin: true, endedSessions: 2 }],
      'one line naming the fields, not their values')
    for (const { token } of sessions) t.equal(await works(host, token), 401, 'every session of the user has ended')

    await accounts.adminUpdate('fred', { disabled: false }, boss)
    const kept = await session('fred', 'me')
    const admin = await session('fred', 'admin me')
    audited()
    t.match(await accounts.adminUpdate('fred', { isAdmin: false }, boss), { is_admin: false, disabled: false, live_sessions: 1 })
    t.same(audited(), [{ audit: 'user.updated', actor: 'boss', via: 'admin-console', username: 'fred', fields: 'is_admin', isAdmin: false, endedSessions: 1 }])
    t.same([await works(host, kept.token), await works(host, admin.token)], [200, 401], 'revoking admin rights ends the sessions holding admin only')

    t.match(await accounts.adminUpdate('fred', {}, boss), { username: 'fred' }, 'no change: the account as it is')
    t.equal(await accounts.adminUpdate('nobody', { disabled: true }, boss), undefined, 'no such user')
    t.same(audited(), [], 'neither is audited')
  })

  t.test('endAllSessions ends every session of every user but the one kept', async (t) => {
    const { host, db, session, user, audited } = await buildHost(t, engine)
    for (const name of ['gil', 'hal', 'ida']) await user(name)
    const all = [await session('gil', 'me admin'), await session('gil'), await session('hal'), await session('ida'), await session('ida')]
    const mine = all[0] as { token: string, id: string }
    audited()
    t.equal(await host.tokenAuth.accounts.endAllSessions({ except: mine.id }, boss), 4)
    t.same(audited(), [{ audit: 'sessions.revoked_all', actor: 'boss', via: 'admin-console', endedSessions: 4, keptSession: mine.id }], 'one line')
    t.same((await db.selectFrom('sessions').select('id').execute()).map((row) => row.id), [mine.id], 'only the one kept is left')
    t.equal(await works(host, mine.token), 200, 'and it works')
    for (const { token } of all.slice(1)) t.equal(await works(host, token), 401, 'every other one has ended')
    t.equal(await host.tokenAuth.accounts.endAllSessions(), 1, 'without an exception: every one')
    t.same(audited(), [{ audit: 'sessions.revoked_all', actor: 'host', endedSessions: 1 }])
  })
})

t.test("a host's own store: list from its list(), and what needs setAdmin refused before anything is written", async (t) => {
  const store = memoryStore({ list: true })
  const { host, session, user, audited } = await buildHost(t, 'sqlite', store)
  const { accounts } = host.tokenAuth
  for (const name of ['joe', 'Jill', 'kim']) await user(name, { email: `${name}@example.com` })
  await session('joe')
  audited()
  t.same(await accounts.list({ limit: 5, offset: 0, prefix: 'j' }), [
    { username: 'Jill', email: 'Jill@example.com', email_verified: false, full_name: null, disabled: false, is_admin: false, created_at: null, live_sessions: 0 },
    { username: 'joe', email: 'joe@example.com', email_verified: false, full_name: null, disabled: false, is_admin: false, created_at: null, live_sessions: 1 }
  ], 'filtered and counted; what the store does not keep is false or null')
  t.same((await accounts.list({ limit: 1, offset: 1 })).map((account) => account.username), ['joe'])

  await t.rejects(accounts.setAdmin('joe', true), { code: errors.STORE_LACKS.code, message: 'fastify-token-auth: the user store has no setAdmin method' })
  await t.rejects(accounts.adminUpdate('joe', { email: 'new@example.com', isAdmin: true }), { code: errors.STORE_LACKS.code })
  t.equal((await store.findByUsername('joe'))?.email, 'joe@example.com', 'the email was not changed either')
  t.match(await accounts.adminUpdate('joe', { email: 'new@example.com', disabled: true }), { email: 'new@example.com', disabled: true, live_sessions: 0 })
  t.same(audited().map((line) => line.audit), ['user.updated'])
  t.notOk('setAdmin' in host.tokenAuth.users, "the store's view has no setAdmin where the store has none")

  const bare = memoryStore({ list: true })
  delete (bare as { list?: unknown }).list
  const other = await buildHost(t, 'sqlite', bare)
  await t.rejects(other.host.tokenAuth.accounts.list({ limit: 5, offset: 0 }), { code: errors.STORE_LACKS.code, message: /no page method/ }, 'a store that cannot list')
})

t.test("the admin routes on a host's own store: what it cannot do is not offered, or refused with a 422", async (t) => {
  // The host's store says who is an administrator; it has no setAdmin.
  const withAdmins = (store: UserStore): UserStore => {
    const flagged = (record: UserRecord) => ({ ...record, isAdmin: record.username === 'joe' })
    const { list } = store
    return {
      ...store,
      findByUsername: async (username) => { const record = await store.findByUsername(username); return record && flagged(record) },
      ...(list !== undefined && { list: async () => (await list()).map(flagged) })
    }
  }
  const { host, db, user, audited } = await buildHost(t, 'sqlite', withAdmins(memoryStore({ list: true })))
  const rows = async (username: string) => ({
    user: await host.tokenAuth.users.findByUsername(username),
    sessions: await db.selectFrom('sessions').selectAll().orderBy('id').execute()
  })
  for (const name of ['joe', 'kim']) await user(name)
  const token = (await host.tokenAuth.issueToken('joe', { scope: 'me admin' })).access_token
  t.match((await get(host, '/auth/admin/users', token)).json(), [{ username: 'joe', is_admin: true }, { username: 'kim', is_admin: false }], 'listed from its list()')
  audited()
  const before = await rows('kim')
  const patch = async (body: Json) => await host.inject({ method: 'PATCH', url: '/auth/admin/users/kim', headers: { authorization: `Bearer ${token}` }, payload: body })
  const refused = await patch({ is_admin: true, full_name: 'Kim' })
  t.equal(refused.statusCode, 422, 'setting is_admin, which the store cannot')
  t.same(refused.json(), { detail: [{ loc: ['body', 'is_admin'], msg: 'The user store cannot change admin rights', type: 'store_unsupported' }] })
  t.same(await rows('kim'), before, 'nothing changed, not the full name either')
  t.same(audited(), [])
  t.match((await patch({ disabled: true, full_name: 'Kim' })).json(), { username: 'kim', disabled: true, full_name: 'Kim' }, 'what it can do, it does')

  const lines: Json[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  const bare = withAdmins(memoryStore())
  const other = newHost(t, { logger: { level: 'info', stream } })
  await other.register(tokenAuth, pluginOptions({ store: bare }))
  await other.ready()
  await other.tokenAuth.accounts.create({ username: 'joe', password: PASSWORD })
  const joe = (await other.tokenAuth.issueToken('joe', { scope: 'admin' })).access_token
  t.equal((await get(other, '/auth/admin/users', joe)).statusCode, 404, 'a store that cannot list: no list route')
  t.equal((await get(other, '/auth/admin/users/joe', joe)).statusCode, 200, 'the others are served')
  t.ok(lines.some((line) => /GET \/admin\/users is not served: the user store has neither page nor list/.test(String(line.msg))), 'start-up says why')
})
