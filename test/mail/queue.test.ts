import Fastify from 'fastify'
import t from 'tap'
import tokenAuth, { createMailQueue, linkWithToken, type MailMessage } from '../../src/index.js'
import { ConfigError, loadConfig } from '../../src/service/config.js'
import { recordingLog, startSmtpServer, until } from './support.js'
import { smtpSend } from '../../src/service/mail/transport.js'
import { testSecret } from '../helper.js'

// The queue's bound and its shutdown, the link builder, the plugin's `mail` option and the
// service's mail settings.

const message = (to: string, token = 'tok-secret-1'): MailMessage => ({
  to, subject: 'Reset', text: `https://app.example/#token=${token}`, html: '<p>x</p>', kind: 'password_reset', url: `https://app.example/#token=${token}`
})

t.test('past its bound the queue drops a mail, says so without its link, and delivers the rest', async (t) => {
  const smtp = await startSmtpServer(t)
  const { log, lines } = recordingLog()
  const queue = createMailQueue({ send: smtpSend({ url: smtp.url, from: 'a@example.com', timeoutMs: 10_000, rejectUnauthorized: true }), log, maxQueued: 2 })
  t.teardown(queue.close)
  t.ok(queue.enqueue(message('one@example.org')))
  t.ok(queue.enqueue(message('two@example.org')))
  t.notOk(queue.enqueue(message('three@bound.example', 'tok-dropped')), 'the third is refused at once')
  t.match(lines.filter((line) => line.level === 'warn'), [{ fields: { mail: 'password_reset', domain: 'bound.example' }, message: /2 mails are queued already/ }])
  t.notOk(lines.some((line) => line.level === 'warn' && JSON.stringify(line).includes('tok-dropped')), 'the warning holds no token')
  await until(() => smtp.received.length === 2, 'the two mails')
  t.same(smtp.received.map((mail) => mail.subject), ['Reset', 'Reset'])
  // The server has a mail before the client hears its answer: the queue empties a moment later.
  await until(() => queue.size === 0, 'the queue to empty')
  t.equal(queue.size, 0)
})

t.test("close() waits for the mails being sent, and a host's hook that never settles does not hold it", async (t) => {
  const { log, lines } = recordingLog()
  let settle: (() => void) | undefined
  const sent: string[] = []
  const queue = createMailQueue({
    log,
    closeTimeoutMs: 100,
    send: async (mail) => {
      if (mail.to.startsWith('never')) return await new Promise(() => {})
      await new Promise<void>((resolve) => { settle = resolve })
      sent.push(mail.to)
    }
  })
  queue.enqueue(message('soon@example.org'))
  await until(() => settle !== undefined, 'the delivery to start')
  const closing = queue.close()
  settle?.()
  await closing
  t.same(sent, ['soon@example.org'], 'the mail in flight was delivered before close() returned')
  t.same(lines.filter((line) => line.level === 'warn'), [], 'nothing lost')

  const stuck = createMailQueue({ log, closeTimeoutMs: 100, send: async () => await new Promise(() => {}) })
  stuck.enqueue(message('never@stuck.example'))
  await stuck.close()
  t.match(lines.filter((line) => line.level === 'warn'), [{ fields: { domain: 'stuck.example' }, message: /still unsent 100 ms into shutdown/ }], 'close() gave up at its bound and said so')
})

t.test('linkWithToken puts the token in the fragment, keeping the path and query', async (t) => {
  t.equal(linkWithToken('https://app.example.com/reset?lang=en', 'a b/c+d'), 'https://app.example.com/reset?lang=en#token=a+b%2Fc%2Bd')
  t.equal(linkWithToken('https://app.example.com', 'x'), 'https://app.example.com/#token=x')
  t.equal(new URLSearchParams(new URL(linkWithToken('http://localhost:5173/r/', 'a b/c+d')).hash.slice(1)).get('token'), 'a b/c+d', 'read back as given')
})

t.test('the plugin takes a mail option checked by shape, and closes its queue with the app', async (t) => {
  const bad = Fastify({ logger: false })
  await t.rejects(async () => await bad.register(tokenAuth, { secret: testSecret(), database: 'sqlite::memory:', mail: { send: 'smtp://x' as never, resetUrl: 'https://app.example/reset#x' } }).ready(),
    { message: /mail\.send must be a function, got a string; mail\.resetUrl must be an absolute http:\/\/ or https:\/\/ URL without credentials or fragment/ })
  await bad.close()
  const sent: MailMessage[] = []
  const app = Fastify({ logger: false })
  await app.register(tokenAuth, {
    secret: testSecret(),
    database: 'sqlite::memory:',
    bcryptCost: 4,
    mail: { send: async (mail) => { sent.push(mail) }, serviceName: 'Acme', templates: { password_changed: () => ({ subject: 's', text: 't', html: 'h' }) } }
  })
  await app.ready()
  await app.close()
  t.pass('registered and closed')
  const unknown = Fastify({ logger: false })
  await t.rejects(async () => await unknown.register(tokenAuth, { secret: testSecret(), database: 'sqlite::memory:', mail: { send: async () => {}, templates: { welcome: () => ({}) } as never } }).ready(),
    { message: /unknown option mail\.templates\.welcome/ })
  await unknown.close()
})

t.test('the mail settings: SMTP_URL needs MAIL_FROM, the log transport is refused in production, no password is echoed', async (t) => {
  t.throws(() => loadConfig({ SMTP_URL: 'smtp://127.0.0.1:2525' }), new ConfigError(['MAIL_FROM: required with SMTP_URL, the From of the mails (Example <no-reply@example.com>)']))
  t.equal(loadConfig({ MAIL_TRANSPORT: 'log' }).MAIL_TRANSPORT, 'log', 'the log transport, in development')
  t.throws(() => loadConfig({ MAIL_TRANSPORT: 'log', NODE_ENV: 'production' }), { message: /MAIL_TRANSPORT="log": .*refused with NODE_ENV=production/ })
  t.throws(() => loadConfig({ MAIL_TRANSPORT: 'smtp' }), { message: /MAIL_TRANSPORT="smtp": needs SMTP_URL/ })
  let error: unknown
  try {
    loadConfig({ SMTP_URL: 'smtp://mailer:hunter2-secret@smtp.example.com/extra path', MAIL_FROM: 'a@example.com' })
  } catch (thrown) { error = thrown }
  t.type(error, ConfigError)
  t.match((error as Error).message, /SMTP_URL="smtp:\/\/mailer:\*\*\*@/, 'named, its password masked')
  t.notMatch((error as Error).message, 'hunter2', 'the password is not echoed')
  t.throws(() => loadConfig({ RESET_URL: 'app.example.com/reset' }), { message: /RESET_URL=.*absolute http/ })
})
