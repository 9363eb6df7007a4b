import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { pino } from 'pino'
import t from 'tap'
import { serviceFastifyOptions } from '../../src/fastify-options.js'
import { fastifyLogger, loggableUrl, loggerOptions } from '../../src/logger.js'
import service from '../../src/service.js'
import { bearer, johndoe, testSecret } from '../helper.js'

t.test('credentials are redacted wherever a log line carries them', async (t) => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const log = pino(loggerOptions('info'), sink)
  log.info({ req: { method: 'POST', headers: { authorization: 'Bearer tok.en.sig', cookie: 'sid=abc' }, body: { username: 'u', password: 'pw-1', client_secret: 'cs-1' } } }, 'request')
  log.info({ body: { password: 'pw-2', client_secret: 'cs-2' }, headers: { authorization: 'Bearer other' } }, 'body')
  log.info({ password: 'pw-3', client_secret: 'cs-3', access_token: 'at-3', secret: 'sec-3' }, 'top level')
  const output = lines.join('')
  for (const secret of ['tok.en.sig', 'sid=abc', 'pw-1', 'cs-1', 'pw-2', 'cs-2', 'Bearer other', 'pw-3', 'cs-3', 'at-3', 'sec-3']) {
    t.notMatch(output, secret, `${secret} redacted`)
  }
  t.match(output, /"username":"u"/, 'everything else is kept')
  t.equal(output.match(/\[redacted\]/g)?.length, 11)
})

t.test('at debug, a whole session leaves no password and no token in the log', async (t) => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = Fastify({ ...serviceFastifyOptions('debug'), logger: { ...fastifyLogger('debug') as object, stream: sink } })
  await app.register(service, { secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4 })
  t.teardown(async () => await app.close())
  const form = (fields: Record<string, string>) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() })
  const json = (payload: object) => ({ payload })

  t.equal((await app.inject({ method: 'POST', url: '/users/', ...json({ username: johndoe.username, password: johndoe.password }) })).statusCode, 201)
  const login = (await app.inject({ method: 'POST', url: '/token', ...form({ username: johndoe.username, password: johndoe.password }) })).json()
  const refreshed = (await app.inject({ method: 'POST', url: '/token', ...form({ grant_type: 'refresh_token', refresh_token: login.refresh_token }) })).json()
  const newPassword = 'a-brand-new-password'
  t.equal((await app.inject({
    method: 'POST', url: '/users/me/password', headers: bearer(refreshed.access_token), ...json({ current_password: johndoe.password, new_password: newPassword })
  })).statusCode, 204)
  // A spent token presented in the URL's query too: the query is dropped from the log.
  t.equal((await app.inject({ method: 'POST', url: `/revoke?token=${refreshed.refresh_token as string}`, ...form({ token: refreshed.refresh_token }) })).statusCode, 200)

  const output = lines.join('')
  t.ok(lines.length > 5, 'the requests were logged')
  for (const [what, value] of [
    ['the password', johndoe.password], ['the new password', newPassword],
    ['the first refresh token', login.refresh_token], ['the second refresh token', refreshed.refresh_token],
    ['the first access token', login.access_token], ['the second access token', refreshed.access_token]
  ] as const) {
    t.notOk(output.includes(value), `${what} appears nowhere in the log`)
  }
})

t.test('a URL whose query carries a credential is logged without its query', async (t) => {
  t.equal(loggableUrl('/token?username=a&password=hunter2'), '/token?[redacted]')
  t.equal(loggableUrl('/x?access_token=abc'), '/x?[redacted]')
  t.equal(loggableUrl('/users/me/items/?limit=5&offset=10'), '/users/me/items/?limit=5&offset=10', 'other queries are kept')
  t.equal(loggableUrl('/users/me/'), '/users/me/')
})
