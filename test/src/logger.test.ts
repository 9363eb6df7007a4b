import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { loggableUrl, loggerOptions } from '../../src/logger.js'

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

t.test('a URL whose query carries a credential is logged without its query', async (t) => {
  t.equal(loggableUrl('/token?username=a&password=hunter2'), '/token?[redacted]')
  t.equal(loggableUrl('/x?access_token=abc'), '/x?[redacted]')
  t.equal(loggableUrl('/users/me/items/?limit=5&offset=10'), '/users/me/items/?limit=5&offset=10', 'other queries are kept')
  t.equal(loggableUrl('/users/me/'), '/users/me/')
})
