import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { test } from 'tap'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service from '../../src/service/app.js'
import { bearer, createUser, johndoe, testSecret } from '../helper.js'

// The audit trail: one structured info line per security-relevant action, naming the user,
// the client address and the session, and never a password or a token.

const CLIENT = '203.0.113.7'
const form = { 'content-type': 'application/x-www-form-urlencoded' }

test('every security-relevant action leaves one audit event, with nothing secret in the log', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString())
      lines.push(JSON.parse(chunk.toString()))
      done()
    }
  })
  const app: FastifyInstance = Fastify({ ...serviceFastifyOptions('silent'), logger: { level: 'info', stream } })
  await app.register(service, {
    secret: testSecret(),
    bcryptCost: 4,
    database: 'sqlite::memory:',
    refreshTokenReuseSeconds: 0,
    throttle: { token: false, revoke: { max: 2, windowSeconds: 60 }, loginBackoffAfter: 3 }
  })
  t.teardown(async () => await app.close())
  await createUser(app, johndoe)
  const send = async (method: 'POST' | 'DELETE', url: string, payload: string | Record<string, unknown>, headers: Record<string, string> = {}) =>
    await app.inject({ method, url, remoteAddress: CLIENT, headers: typeof payload === 'string' ? { ...form, ...headers } : headers, payload })
  const loginAs = async (username: string, password: string) => await send('POST', '/token', new URLSearchParams({ username, password }).toString())

  const secrets: string[] = [johndoe.password, 'wrong-password', 'typed-a-password-here', 'brand-new-password']
  const registered = await send('POST', '/users/', { username: 'newcomer', password: 'newcomer-password' })
  t.equal(registered.statusCode, 201)
  secrets.push('newcomer-password')
  await loginAs('typed-a-password-here', 'wrong-password')
  await loginAs('johndoe', 'wrong-password')
  await loginAs('johndoe', 'wrong-password')
  await loginAs('johndoe', 'wrong-password')
  t.equal((await loginAs('johndoe', johndoe.password)).statusCode, 429, 'held after three failures')
  const first = (await loginAs('newcomer', 'newcomer-password')).json()
  const second = (await loginAs('newcomer', 'newcomer-password')).json()
  const third = (await loginAs('newcomer', 'newcomer-password')).json()
  secrets.push(first.access_token, first.refresh_token, second.access_token, second.refresh_token, third.access_token, third.refresh_token)
  const refreshed = (await send('POST', '/token', `grant_type=refresh_token&refresh_token=${first.refresh_token as string}`)).json()
  secrets.push(refreshed.access_token, refreshed.refresh_token)
  t.equal((await send('POST', '/token', `grant_type=refresh_token&refresh_token=${first.refresh_token as string}`)).statusCode, 400, 'a spent token again')
  t.equal((await send('POST', '/revoke', `token=${second.refresh_token as string}`)).statusCode, 200)
  await send('POST', '/revoke', 'token=unknown')
  t.equal((await send('POST', '/revoke', 'token=unknown')).statusCode, 429, 'over the revocation limit')
  const sessionId = (await app.inject({ url: '/users/me/sessions', headers: bearer(third.access_token) })).json()[0].id as string
  const fourth = (await loginAs('newcomer', 'newcomer-password')).json()
  secrets.push(fourth.access_token, fourth.refresh_token)
  t.equal((await send('DELETE', `/users/me/sessions/${sessionId}`, {}, bearer(fourth.access_token))).statusCode, 204)
  t.equal((await send('POST', '/users/me/password', { current_password: 'newcomer-password', new_password: 'brand-new-password' }, bearer(fourth.access_token))).statusCode, 204)
  const fifth = (await loginAs('newcomer', 'brand-new-password')).json()
  secrets.push(fifth.access_token, fifth.refresh_token)
  t.equal((await app.inject({ method: 'POST', url: '/logout', remoteAddress: CLIENT, headers: bearer(fifth.access_token) })).statusCode, 204)
  t.equal((await send('DELETE', '/users/me/', { password: 'brand-new-password' }, bearer(fourth.access_token))).statusCode, 204)

  const events = lines.filter((line) => typeof line.audit === 'string')
  const pick = (event: string) => events.filter((line) => line.audit === event)
  const byHost = events.filter((line) => line.actor !== undefined)
  t.same(byHost.map(({ level, time, pid, hostname, ...line }) => line), [{ audit: 'user.created', actor: 'host', username: 'johndoe', msg: 'audit: user.created' }],
    'the account the host created through tokenAuth.users: its actor, no client address')
  t.ok(events.filter((line) => line.actor === undefined).every((line) => line.level === 30 && line.client === CLIENT && line.msg === `audit: ${String(line.audit)}`),
    'each request\'s at info, with the client address and the event in the message')
  t.match(pick('user.registered'), [{ username: 'newcomer' }])
  t.match(pick('login.failed'), [{ reason: 'unknown_user' }, { username: 'johndoe', reason: 'wrong_password' }, {}, {}], 'each failure, with its reason')
  t.notOk('username' in (pick('login.failed')[0] ?? {}), 'a name nobody has is not logged (it may be a password)')
  t.equal(pick('login.throttled').length, 1, 'the held attempt')
  t.equal(pick('login.succeeded').length, 5, 'each login')
  t.ok(pick('login.succeeded').every((line) => line.username === 'newcomer' && typeof line.session === 'string'), 'with user and session')
  t.match(pick('token.refreshed'), [{ username: 'newcomer' }])
  t.match(pick('token.reuse_detected'), [{ username: 'newcomer' }], 'the reuse, naming the user whose session ended')
  t.equal(pick('token.revoked').length, 1, 'a revocation that ended a session (the unknown token is not one)')
  t.match(pick('request.throttled'), [{ limit: 'revoke' }])
  t.match(pick('session.ended'), [{ username: 'newcomer', endedSession: sessionId }])
  t.match(pick('password.changed'), [{ username: 'newcomer' }])
  t.match(pick('logout'), [{ username: 'newcomer', scope: 'local', endedSessions: 1 }])
  t.match(pick('user.deleted'), [{ username: 'newcomer' }])

  const log = raw.join('')
  for (const secret of secrets) t.notOk(log.includes(secret), `the log never holds ${secret.slice(0, 12)}…`)
})

test('a flood of throttled requests writes a few lines and a summary per client, not lines per request', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  const options = serviceFastifyOptions('info')
  const app: FastifyInstance = Fastify({ ...options, logger: { level: 'info', stream } })
  app.addHook('onClose', async () => { options.logController.flush() })
  await app.register(service, {
    secret: testSecret(),
    bcryptCost: 4,
    database: 'sqlite::memory:',
    throttle: { token: { max: 2, windowSeconds: 60 }, loginBackoffAfter: false }
  })
  await createUser(app, johndoe)
  const FLOOD = 300
  const login = async (ip: string) => await app.inject({
    method: 'POST', url: '/token', remoteAddress: ip, headers: form, payload: new URLSearchParams({ username: 'johndoe', password: 'wrong-password' }).toString()
  })
  const statuses = []
  for (let i = 0; i < FLOOD; i++) statuses.push((await login(CLIENT)).statusCode)
  const other = await login('198.51.100.9')
  await app.close()

  t.same(statuses.slice(0, 3), [401, 401, 429], 'two checked, then held')
  t.equal(statuses.filter((s) => s === 429).length, FLOOD - 2)
  t.equal(other.statusCode, 401, 'another client is not held')
  const fromClient = lines.filter((line) => line.client === CLIENT || (line.req as { remoteAddress?: string } | undefined)?.remoteAddress === CLIENT)
  t.ok(lines.length < 30, `${FLOOD} requests from one client wrote ${lines.length} lines in all`)
  const audits = fromClient.filter((line) => line.audit === 'request.throttled')
  t.equal(audits.length, 2, 'the throttled audit event: the first in full, then one summary')
  t.equal(audits[1]?.repeats, FLOOD - 3, 'the summary counts every other throttled request')
  const completed = lines.filter((line) => line.msg === 'request completed' && (line.res as { statusCode?: number }).statusCode === 429)
  t.equal(completed.length, 1, 'one completion line for a 429')
  const summary = lines.filter((line) => String(line.msg).startsWith('request throttled:'))
  t.equal(summary.length, 1, 'and one summary of the rest')
  t.equal(summary[0]?.repeats, FLOOD - 3)
  t.equal(summary[0]?.client, CLIENT)
  const arrivals = lines.filter((line) => line.msg === 'incoming request').length
  t.ok(arrivals <= 4, `arrival lines stop once the client is answered 429 (${arrivals})`)
})
