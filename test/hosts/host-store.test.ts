import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import t from 'tap'
import tokenAuth, { userOf, UsernameTakenError, type NewUser, type ProfileChanges, type UserRecord, type UserStore } from '../../src/index.js'
import { testSecret, type TestContext } from '../helper.js'
import { tempDir } from '../src/process-helper.js'
import { bearer, get, hostUser, loginAs, newHost, openFiles, pluginOptions, registerUser, requestToken } from './support.js'

/* A host with a user store of its own: the plugin keeps only its sessions, in an in-memory database. */

/** The host's store: a Map, unique ignoring case (its own choice), looked up by the exact name. */
class MapUserStore implements UserStore {
  readonly records = new Map<string, UserRecord>()
  /** While set, every method rejects with it. */
  failure: unknown = undefined
  private failed = false

  private exact (username: string): UserRecord | undefined {
    const record = this.records.get(username.toLowerCase())
    return record?.username === username ? record : undefined
  }

  private check (): void {
    if (this.failed) throw this.failure
  }

  fail (failure: unknown): void {
    this.failure = failure
    this.failed = true
  }

  recover (): void {
    this.failed = false
  }

  async findByUsername (username: string): Promise<UserRecord | undefined> {
    this.check()
    const record = this.exact(username)
    return record === undefined ? undefined : { ...record }
  }

  async create (user: NewUser): Promise<UserRecord> {
    this.check()
    const key = user.username.toLowerCase()
    if (this.records.has(key)) throw new UsernameTakenError(user.username)
    const record: UserRecord = {
      username: user.username,
      email: user.email ?? null,
      fullName: user.fullName ?? null,
      disabled: user.disabled ?? false,
      hashedPassword: user.hashedPassword
    }
    this.records.set(key, record)
    return { ...record }
  }

  async setPassword (username: string, hashedPassword: string): Promise<boolean> {
    this.check()
    const record = this.exact(username)
    if (record === undefined) return false
    record.hashedPassword = hashedPassword
    return true
  }

  async setDisabled (username: string, disabled: boolean): Promise<boolean> {
    this.check()
    const record = this.exact(username)
    if (record === undefined) return false
    record.disabled = disabled
    return true
  }

  async update (username: string, changes: ProfileChanges): Promise<UserRecord | undefined> {
    this.check()
    const record = this.exact(username)
    if (record === undefined) return undefined
    if (changes.email !== undefined) record.email = changes.email
    if (changes.fullName !== undefined) record.fullName = changes.fullName
    return { ...record }
  }

  async delete (username: string): Promise<boolean> {
    this.check()
    return this.exact(username) !== undefined && this.records.delete(username.toLowerCase())
  }
}

async function buildHost (t: TestContext, store: UserStore, before?: (host: FastifyInstance) => void, secret = testSecret(), database = 'sqlite::memory:'): Promise<FastifyInstance> {
  const host = newHost(t)
  before?.(host)
  await host.register(tokenAuth, pluginOptions({ store, secret, database }))
  host.get('/api/private', { onRequest: host.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
  await host.ready()
  return host
}

t.test('the whole token flow on the host\'s own store', async (t) => {
  const dir = await tempDir(t)
  const cwd = process.cwd()
  process.chdir(dir)
  t.teardown(() => { process.chdir(cwd) })
  const filesBefore = new Set(openFiles())

  const store = new MapUserStore()
  const host = await buildHost(t, store)
  t.equal(host.hasDecorator('db'), false, 'no db decorator')
  t.equal(host.hasDecorator('tokenAuthUsers'), false)

  const created = await registerUser(host)
  t.equal(created.statusCode, 201, 'POST /auth/users/ registers')
  t.same(created.json(), { username: hostUser.username, email: null, email_verified: false, full_name: null, disabled: false })
  t.match(store.records.get(hostUser.username), { username: hostUser.username, hashedPassword: /^\$2[aby]\$04\$/ }, 'into the store, bcrypt-hashed at the configured cost')
  t.same(await host.tokenAuth.users.findByUsername(hostUser.username), store.records.get(hostUser.username), 'tokenAuth.users reads the host\'s store')
  for (const username of [hostUser.username, hostUser.username.toUpperCase()]) {
    const duplicate = await registerUser(host, { username, password: 'another-password' })
    t.equal(duplicate.statusCode, 409, `${username} again: the store says taken`)
    t.same(duplicate.json(), { detail: 'Username already registered' })
  }

  const login = await requestToken(host)
  t.equal(login.statusCode, 200, 'login')
  const token: string = login.json().access_token

  const wrongPassword = await requestToken(host, { username: hostUser.username, password: 'not-the-password' })
  const unknownUser = await requestToken(host, { username: 'nobody', password: 'not-the-password' })
  const otherCase = await requestToken(host, { username: hostUser.username.toUpperCase(), password: hostUser.password })
  for (const [label, response] of [['a wrong password', wrongPassword], ['an unknown user', unknownUser], ['the name in another case (exact lookup)', otherCase]] as const) {
    t.equal(response.statusCode, 401, label)
    t.equal(response.headers['www-authenticate'], 'Bearer')
  }
  t.same(wrongPassword.json(), { detail: 'Incorrect username or password', error: 'invalid_grant', error_description: 'Incorrect username or password' })
  t.equal(unknownUser.body, wrongPassword.body, 'an unknown user gets the same body as a wrong password')
  t.equal(otherCase.body, wrongPassword.body)

  const privateRoute = await get(host, '/api/private', token)
  t.equal(privateRoute.statusCode, 200, 'the guarded host route')
  t.same(privateRoute.json(), { hello: hostUser.username })
  const me = await get(host, '/auth/users/me/', token)
  t.equal(me.statusCode, 200, 'GET /auth/users/me/')
  t.same(me.json(), { username: hostUser.username, email: null, email_verified: false, full_name: null, disabled: false })

  t.equal(await store.setDisabled(hostUser.username, true), true, 'disabled through the store')
  for (const url of ['/api/private', '/auth/users/me/']) {
    const response = await get(host, url, token)
    t.equal(response.statusCode, 400, `${url} for a disabled user`)
    t.same(response.json(), { detail: 'Inactive user' })
  }
  await store.setDisabled(hostUser.username, false)
  t.equal((await get(host, '/api/private', token)).statusCode, 200, 'enabled again')

  const newPassword = 'brand-new-password'
  t.equal(await host.tokenAuth.users.setPassword(hostUser.username, await host.tokenAuth.hashPassword(newPassword)), true, 'setPassword through tokenAuth.users')
  t.match(store.records.get(hostUser.username), { hashedPassword: /^\$2[aby]\$04\$/ }, 'into the host\'s store')
  for (const url of ['/api/private', '/auth/users/me/']) {
    const stale = await get(host, url, token)
    t.equal(stale.statusCode, 401, `the token from before the change is refused on ${url}`)
    t.same(stale.json(), { detail: 'Could not validate credentials' })
  }
  t.equal(await host.tokenAuth.sessions.endAll(hostUser.username), 0, 'the change ended the user\'s sessions itself')
  t.equal((await requestToken(host)).statusCode, 401, 'the old password no longer logs in')
  const fresh = await loginAs(host, { username: hostUser.username, password: newPassword })
  t.same((await get(host, '/api/private', fresh)).json(), { hello: hostUser.username }, 'the new password does, and its token works')

  t.same(readdirSync(dir), [], 'no file in the working directory')
  const opened = openFiles().filter((file) => !filesBefore.has(file))
  t.same(opened, [], 'and no file (database or other) held open by the process')
})

t.test("sessions beside the host's store: refresh, logout, profile and deletion go through it", async (t) => {
  const store = new MapUserStore()
  const host = await buildHost(t, store)
  t.equal((await registerUser(host)).statusCode, 201)
  const login = (await requestToken(host)).json()
  const form = (fields: Record<string, string>) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() })
  const refresh = async (token: string) => await host.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: token }) })

  const refreshed = await refresh(login.refresh_token)
  t.equal(refreshed.statusCode, 200, 'the refresh grant')
  const pair = refreshed.json()
  t.same((await get(host, '/api/private', pair.access_token)).json(), { hello: hostUser.username }, 'its access token works on the host\'s route')

  const patched = await host.inject({ method: 'PATCH', url: '/auth/users/me', headers: bearer(pair.access_token), payload: { full_name: 'Host User' } })
  t.equal(patched.statusCode, 200, 'PATCH /auth/users/me through the store\'s update')
  t.equal(store.records.get(hostUser.username)?.fullName, 'Host User')

  const other = (await requestToken(host)).json()
  t.equal((await host.inject({ method: 'POST', url: '/auth/logout', headers: bearer(pair.access_token) })).statusCode, 204, 'logout')
  t.equal((await get(host, '/api/private', pair.access_token)).statusCode, 401, 'the session has ended')
  t.equal((await refresh(pair.refresh_token)).statusCode, 400, 'and its refresh token with it')

  await store.setDisabled(hostUser.username, true)
  const disabled = await refresh(other.refresh_token)
  t.equal(disabled.statusCode, 400, 'a user the host disabled cannot refresh')
  t.equal(disabled.json().error, 'invalid_grant')
  await store.setDisabled(hostUser.username, false)

  const last = (await requestToken(host)).json()
  const deleted = await host.inject({ method: 'DELETE', url: '/auth/users/me', headers: bearer(last.access_token), payload: { password: hostUser.password } })
  t.equal(deleted.statusCode, 204, 'DELETE /auth/users/me through the store\'s delete')
  t.equal(store.records.size, 0, 'the account is gone from the store')
  t.same(await host.tokenAuth.sessions.list(hostUser.username), [], 'and its sessions from the plugin\'s database')
  t.equal((await registerUser(host)).statusCode, 201, 'the name can be registered again')
  t.equal((await get(host, '/api/private', last.access_token)).statusCode, 401, 'a new account of the name inherits no session')
})

t.test('a store that fails', async (t) => {
  const store = new MapUserStore()
  const seen: unknown[] = []
  // The hosts share the store, the secret and the sessions' database: one token is good on all of them.
  const secret = testSecret()
  const database = `sqlite:${join(await tempDir(t), 'sessions.db')}`
  const host = await buildHost(t, store, undefined, secret, database)
  // A second host with an error handler of its own.
  const handled = await buildHost(t, store, (host) => {
    host.setErrorHandler((error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      seen.push(error)
      return reply.code(error.statusCode ?? 500).send({ handledBy: 'host' })
    })
  }, secret, database)
  t.equal((await registerUser(host)).statusCode, 201)
  const token = await loginAs(host)

  let unhandled = 0
  const onUnhandled = () => { unhandled++ }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })

  const unavailable = Object.assign(new Error('the user service is down'), { statusCode: 503, code: 'DATABASE_UNAVAILABLE' })
  const cases = [
    { label: 'an Error', failure: new Error('store exploded'), status: 500, detail: 'Internal Server Error' },
    { label: 'a statusCode 503 error (DatabaseUnavailableError-like)', failure: unavailable, status: 503, detail: 'Service unavailable' },
    { label: 'nothing (undefined)', failure: undefined, status: 500, detail: 'Internal Server Error' }
  ]
  for (const { label, failure, status, detail } of cases) {
    t.test(`findByUsername rejects with ${label}`, async (t) => {
      store.fail(failure)
      t.teardown(() => { store.recover() })

      for (const url of ['/auth/users/me/']) {
        const response = await get(host, url, token)
        t.equal(response.statusCode, status, `${url}: ${status}`)
        t.same(response.json(), { detail }, "in the plugin's words, nothing of the store's error")
      }
      const login = await requestToken(host)
      t.equal(login.statusCode, status, `POST /auth/token: ${status}`)
      t.same(login.json(), { detail })
      const register = await registerUser(host, { username: 'another', password: 'another-password' })
      t.equal(register.statusCode, status, `POST /auth/users/: ${status}`)

      // A host route: the guard answers for it, as it does for a missing or bad token.
      const hostRoute = await get(host, '/api/private', token)
      t.equal(hostRoute.statusCode, status, `a guarded host route: ${status}`)
      t.same(hostRoute.json(), { detail }, "in the plugin's words, nothing of the store's error")
      seen.length = 0
      const custom = await get(handled, '/api/private', token)
      t.equal(custom.statusCode, status, 'a host with its own error handler: the same answer')
      t.same(custom.json(), { detail })
      t.equal(seen.length, 0, "the guard answered: the host's handler had nothing to word")
    })
  }

  t.test('a store that throws instead of rejecting', async (t) => {
    const findByUsername = (): Promise<UserRecord | undefined> => { throw new Error('thrown, not rejected') }
    const throwing: UserStore = Object.assign(Object.create(store) as MapUserStore, { findByUsername })
    const sync = newHost(t)
    await sync.register(tokenAuth, pluginOptions({ store: throwing, secret, database }))
    sync.get('/api/private', { onRequest: sync.currentActiveUser }, async () => ({ ok: true }))
    await sync.ready()
    t.same((await get(sync, '/auth/users/me/', token)).json(), { detail: 'Internal Server Error' })
    t.equal((await get(sync, '/api/private', token)).statusCode, 500)
    t.same((await requestToken(sync)).json(), { detail: 'Internal Server Error' })
  })

  t.test('after the failures the process is alive and the host answers', async (t) => {
    t.equal(unhandled, 0, 'no unhandled rejection')
    t.same((await get(host, '/api/private', token)).json(), { hello: hostUser.username })
    t.equal((await requestToken(host)).statusCode, 200)
  })
})
