import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { test } from 'tap'
import { serviceFastifyOptions } from '../../src/fastify-options.js'
import service from '../../src/service.js'
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
  t.ok(events.every((line) => line.level === 30 && line.client === CLIENT && line.msg === `audit: ${String(line.audit)}`),
    'each at info, with the client address and the event in the message')
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
