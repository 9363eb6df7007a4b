import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { pino } from 'pino'
import t from 'tap'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import { fastifyLogger, loggableUrl, loggerOptions } from '../../src/service/logger.js'
import service from '../../src/service/app.js'
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

t.test('a token is masked wherever it sits in a logged URL, under any name; ordinary URLs stay readable', async (t) => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = Fastify({ ...serviceFastifyOptions('info'), logger: { ...fastifyLogger('info') as object, stream: sink } })
  await app.register(service, { secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4 })
  // An error whose message quotes the URL, as some of Fastify's own do.
  app.get('/fails/*', async (request) => { throw new Error(`cannot serve ${request.url}`) })
  t.teardown(async () => await app.close())
  t.equal((await app.inject({ method: 'POST', url: '/users/', payload: johndoe })).statusCode, 201)
  const pair = (await app.inject({
    method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ username: johndoe.username, password: johndoe.password }).toString()
  })).json<{ access_token: string, refresh_token: string }>()
  const { access_token: jwt, refresh_token: refresh } = pair
  const escaped = (text: string) => [...text].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('')
  const tokenUrls = [
    `/revoke?rt=${refresh}`,
    `/callback?code=${refresh}&state=abc`,
    `/token=${jwt}`,
    `/users/me/sessions/${refresh}`,
    `/files/rt-${refresh}.json`,
    `/x?next=%2Fcb%3Ftoken%3D${jwt.replaceAll('.', '%2E')}`,
    `/x?v=${escaped(refresh)}`,
    `/fails/${jwt}`
  ]
  for (const url of tokenUrls) await app.inject({ url })
  const ordinary = [
    '/users/me/items/?limit=5&offset=10',
    '/articles/how-to-configure-a-reverse-proxy-for-the-service',
    '/items/123e4567-e89b-12d3-a456-426614174000',
    '/users/me/sessions/n4bQgcGh1hZ3PmGH3nNk9A',
    '/files/0123456789abcdef0123456789abcdef.tar.gz'
  ]
  for (const url of ordinary) await app.inject({ url })

  const output = lines.join('')
  t.notOk(output.includes(refresh), 'the refresh token appears nowhere in the log')
  t.notOk(output.includes(jwt), 'nor the access token')
  for (const part of jwt.split('.')) t.notOk(output.includes(part), 'nor any part of it')
  t.notOk(output.includes(escaped(refresh).slice(0, 60)), 'nor the percent-escaped refresh token')
  const urls = lines.map((line) => JSON.parse(line) as { req?: { url: string } }).flatMap((line) => line.req?.url ?? [])
  t.same(urls.slice(-tokenUrls.length - ordinary.length), [
    '/revoke?rt=[redacted]',
    '/callback?code=[redacted]&state=abc',
    '/token=[redacted]',
    '/users/me/sessions/[redacted]',
    '/files/[redacted]',
    '/x?next=[redacted]', // the escaped stretch around the token goes with it
    '/x?v=[redacted]',
    '/fails/[redacted]',
    ...ordinary
  ], 'each request line holds the placeholder in place of the token, and ordinary URLs as they were')
  const failure = lines.map((line) => JSON.parse(line) as { err?: { message: string, stack: string } }).find((line) => line.err !== undefined)
  t.equal(failure?.err?.message, 'cannot serve /fails/[redacted]', 'an error quoting the URL is masked too')
  t.notOk(failure?.err?.stack.includes(jwt.slice(0, 40)), 'in its stack as well')
})
