import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import tokenAuth, { userOf, AccountRuleError, hashPassword, PasswordRuleError, UsernameTakenError, type UserStore } from '../../src/index.js'
import type { TestContext } from '../helper.js'
import { get, hostUser, loginAs, memoryStore, newHost, pluginOptions, registerUser, requestToken, type Json } from './support.js'

// A host changing accounts through the public API (app.tokenAuth.users and .accounts): each
// change ends the sessions it must, whatever store holds the accounts, and is audited with
// the actor that made it.

/** A host with the plugin under /auth, its log lines kept, and a route only `authenticate` guards (a disabled user passes it). */
async function buildHost (t: TestContext, store?: UserStore) {
  const lines: Json[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  const host = newHost(t, { logger: { level: 'info', stream } })
  await host.register(tokenAuth, pluginOptions(store === undefined ? {} : { store }))
  host.get('/api/authenticated', { onRequest: host.authenticate }, async (request) => ({ hello: userOf(request).username }))
  await host.ready()
  /** The audit lines of changes made through the public API since the last call, without pino's own fields. */
  const audited = () => lines.splice(0).filter((line) => line.actor !== undefined).map(({ level, time, pid, hostname, ...line }) => line)
  return { host, audited }
}

const refresh = async (host: FastifyInstance, refreshToken: string) => await host.inject({
  method: 'POST',
  url: '/auth/token',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString()
})

const username = hostUser.username
const line = (audit: string, fields: Json = {}) => ({ audit, actor: 'host', username, ...fields, msg: `audit: ${audit}` })
const ended = line('sessions.revoked', { endedSessions: 1 })

const changes: Record<string, { change: (host: FastifyInstance) => Promise<unknown>, audit: Json[] }> = {
  'users.setDisabled': { change: async (host) => await host.tokenAuth.users.setDisabled(username, true), audit: [line('user.disabled'), ended] },
  'accounts.disable': { change: async (host) => await host.tokenAuth.accounts.disable(username), audit: [line('user.disabled'), ended] },
  'users.setPassword': {
    change: async (host) => await host.tokenAuth.users.setPassword(username, await host.tokenAuth.hashPassword('a-new-password')),
    audit: [line('password.changed'), ended]
  },
  'accounts.setPassword': { change: async (host) => await host.tokenAuth.accounts.setPassword(username, 'a-new-password'), audit: [line('password.changed'), ended] },
  'users.delete': { change: async (host) => await host.tokenAuth.users.delete(username), audit: [line('user.deleted')] },
  'accounts.delete': { change: async (host) => await host.tokenAuth.accounts.delete(username), audit: [line('user.deleted')] }
}

for (const store of ['the built-in store', "a host's own store"]) {
  t.test(`${store}: a change through the public API refuses the user's live tokens on their next request`, async (t) => {
    for (const [name, { change, audit }] of Object.entries(changes)) {
      const { host, audited } = await buildHost(t, store === 'the built-in store' ? undefined : memoryStore())
      t.equal((await registerUser(host)).statusCode, 201)
      const login = (await requestToken(host)).json()
      t.equal((await get(host, '/api/authenticated', login.access_token)).statusCode, 200, `${name}: the token works before`)
      audited()
      await change(host)
      const after = await get(host, '/api/authenticated', login.access_token)
      t.equal(after.statusCode, 401, `${name}: the access token is refused on the next request`)
      t.same(after.json(), { detail: 'Could not validate credentials' })
      t.equal((await refresh(host, login.refresh_token)).statusCode, 400, `${name}: so is the refresh token`)
      t.same(audited(), audit, `${name}: audited, naming the host as the actor`)
    }
  })
}

t.test('accounts.create applies the rules of registration; every change names its actor', async (t) => {
  const { host, audited } = await buildHost(t)
  const { accounts, sessions } = host.tokenAuth
  const by = { actor: 'admin-console', operator: 'ops-on-call' }

  const refused: Array<[string, () => Promise<unknown>, new (...args: any[]) => Error, Json?]> = [
    ['a username with a space', async () => await accounts.create({ username: 'no spaces', password: 'long-enough' }), AccountRuleError, { issues: [{ field: 'username', rule: 'pattern' }] }],
    ['an email that is not one', async () => await accounts.create({ username: 'mailer', password: 'long-enough', email: 'not an email' }), AccountRuleError, { issues: [{ field: 'email', rule: 'format' }] }],
    ['a 201-character name', async () => await accounts.create({ username: 'named', password: 'long-enough', fullName: 'x'.repeat(201) }), AccountRuleError, { issues: [{ field: 'fullName', rule: 'maxLength', limit: 200 }] }],
    ['a 7-byte password', async () => await accounts.create({ username: 'shorty', password: 'seven77' }), PasswordRuleError, { problem: /at least 8 bytes/ }],
    ['a 74-byte password', async () => await accounts.create({ username: 'longy', password: 'é'.repeat(37) }), PasswordRuleError, { problem: /at most 72 bytes/ }]
  ]
  for (const [what, attempt, type, fields] of refused) await t.rejects(attempt(), fields === undefined ? type : { name: type.name, ...fields }, what)
  t.same(audited(), [], 'nothing refused is audited')

  const created = await accounts.create({ username, password: hostUser.password, email: 'host@example.com', fullName: 'Host User', disabled: true }, by)
  t.match(created, { username, email: 'host@example.com', fullName: 'Host User', disabled: true, hashedPassword: /^\$2[aby]\$04\$/ }, 'stored, hashed at the configured cost')
  await t.rejects(accounts.create({ username: username.toUpperCase(), password: 'long-enough' }), UsernameTakenError, 'a taken name, in any letter case')
  t.same(audited(), [{ audit: 'user.created', actor: 'admin-console', operator: 'ops-on-call', username, disabled: true, msg: 'audit: user.created' }],
    'the creation, naming the caller and its operator')

  const whileDisabled = await loginAs(host)
  t.equal(await accounts.enable(username, by), true, 'enabled')
  t.equal(await accounts.enable('nobody', by), false, 'no such user')
  t.equal((await get(host, '/auth/users/me/', whileDisabled)).statusCode, 200, 'enabling keeps the sessions')
  t.same(audited(), [{ audit: 'user.enabled', actor: 'admin-console', operator: 'ops-on-call', username, msg: 'audit: user.enabled' }])

  await t.rejects(accounts.update(username, { email: 'not-an-email' }), { name: 'AccountRuleError', issues: [{ field: 'email' }] }, 'update: the rules of PATCH /users/me/')
  t.match(await accounts.update(username, { fullName: null }), { username, fullName: null, email: 'host@example.com' })
  t.equal(await accounts.setPassword('nobody', 'long-enough'), undefined, 'setPassword: no such user')
  t.equal(await accounts.disable('nobody'), undefined, 'disable: no such user')
  t.equal(await accounts.delete('nobody'), false, 'delete: no such user')
  t.same(audited(), [], 'nothing that changed nothing is audited')

  const second = await loginAs(host)
  const sessionId = JSON.parse(Buffer.from(second.split('.')[1] as string, 'base64url').toString()).sid as string
  t.equal(await sessions.end(username, sessionId, by), true)
  t.equal(await sessions.endAll(username), 1)
  t.same(audited(), [
    { audit: 'session.ended', actor: 'admin-console', operator: 'ops-on-call', username, endedSession: sessionId, msg: 'audit: session.ended' },
    line('sessions.revoked', { endedSessions: 1 })
  ], 'ending sessions through the public API is audited too')

  await t.rejects(hashPassword('short'), PasswordRuleError, 'the package\'s hashPassword applies the rule')
  t.match(await hashPassword('long-enough', 4), /^\$2[aby]\$04\$/, 'at the cost given')
})
