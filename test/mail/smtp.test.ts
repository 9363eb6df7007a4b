import t from 'tap'
import { createMailer } from '../../src/mail/index.js'
import { escapeHtml } from '../../src/index.js'
import { loadConfig } from '../../src/service/config.js'
import { serviceMail, smtpSend } from '../../src/service/mail/transport.js'
import { recordingLog, startSilentServer, startSmtpServer, until } from './support.js'

// Mail sent through the service's nodemailer transport and the plugin's queue to a real SMTP
// server on loopback: what is asserted is what arrived over SMTP, parsed by mailparser.

const TOKEN = 'tok-3f9a_Z-secret'
const FROM = 'Example Accounts <no-reply@example.com>'

t.test('a reset mail arrives with both parts, the service name and a link whose fragment holds the token', async (t) => {
  const smtp = await startSmtpServer(t)
  const { log, lines } = recordingLog()
  const config = loadConfig({
    SMTP_URL: smtp.url,
    MAIL_FROM: FROM,
    RESET_URL: 'https://app.example.com/account/reset?lang=en',
    SERVICE_NAME: 'Example <Accounts>'
  })
  const mail = serviceMail(config, log)
  if (mail === undefined) throw new Error('no mail options')
  const mailer = createMailer(mail, log)
  t.teardown(mailer.close)

  t.ok(mailer.send({ kind: 'password_reset', to: 'Jane.Doe@Example.org', username: 'janedoe', token: TOKEN }), 'queued')
  await until(() => smtp.received.length === 1, 'the mail')
  const [received] = smtp.received
  if (received === undefined) throw new Error('no mail')
  const link = 'https://app.example.com/account/reset?lang=en#token=tok-3f9a_Z-secret'
  t.equal(received.from?.text, '"Example Accounts" <no-reply@example.com>', 'from MAIL_FROM')
  const to = Array.isArray(received.to) ? received.to[0] : received.to
  t.same(to?.value.map((entry) => entry.address?.toLowerCase()), ['jane.doe@example.org'], 'to the user')
  t.equal(received.subject, 'Reset your Example <Accounts> password', 'the subject names the service')
  t.match(received.text, link, 'the text part holds the link')
  t.match(received.text, 'Example <Accounts>', 'and the service name')
  t.type(received.html, 'string', 'an HTML part')
  const html = received.html as string
  t.match(html, `href="${escapeHtml(link)}"`, 'the HTML part links to the page, the token in the fragment')
  t.match(html, 'Example &lt;Accounts&gt;', 'the service name, escaped')
  t.notMatch(html, '<Accounts>', 'nothing unescaped')
  const url = new URL(/https:\/\/\S+/.exec(received.text ?? '')?.[0] ?? 'https://missing.invalid/')
  t.equal(url.pathname, '/account/reset', 'the path kept')
  t.equal(url.search, '?lang=en', 'the query kept')
  t.equal(new URLSearchParams(url.hash.slice(1)).get('token'), TOKEN, 'the token in the fragment')
  t.notOk(lines.some((line) => line.level !== 'debug' && JSON.stringify(line).includes(TOKEN)), 'the token is in no log line above debug')
})

t.test('credentials in SMTP_URL log in to the server', async (t) => {
  const logins: Array<{ username?: string, password?: string }> = []
  const smtp = await startSmtpServer(t, {
    authOptional: false,
    allowInsecureAuth: true,
    onAuth (auth, _session, callback) {
      logins.push({ username: auth.username, password: auth.password ?? undefined })
      if (auth.password === 'p@ss:word') callback(null, { user: auth.username })
      else callback(new Error('bad credentials'))
    }
  })
  const send = smtpSend({ url: `smtp://mailer:p%40ss%3Aword@127.0.0.1:${smtp.port}`, from: FROM, timeoutMs: 10_000, rejectUnauthorized: true })
  await send({ to: 'a@example.org', subject: 'Hello', text: 'hi', html: '<p>hi</p>', kind: 'password_changed' })
  t.same(logins, [{ username: 'mailer', password: 'p@ss:word' }], 'the URL-encoded credentials, decoded')
  t.equal(smtp.received.length, 1, 'the mail arrived')
})

t.test("a host's templates are used in place of the plugin's", async (t) => {
  const smtp = await startSmtpServer(t)
  const { log } = recordingLog()
  const send = smtpSend({ url: smtp.url, from: FROM, timeoutMs: 10_000, rejectUnauthorized: true })
  const mailer = createMailer({
    send,
    serviceName: 'Acme',
    verifyUrl: 'https://acme.example/verify',
    templates: {
      email_verification: ({ serviceName, username, url }) => ({
        subject: `${serviceName}: bienvenue ${username}`,
        text: `Confirmez : ${url ?? ''}`,
        html: `<p>Confirmez : <a href="${escapeHtml(url ?? '')}">ici</a></p>`
      })
    }
  }, log)
  t.teardown(mailer.close)
  mailer.send({ kind: 'email_verification', to: 'jo@example.org', username: 'jo', token: TOKEN })
  mailer.send({ kind: 'password_changed', to: 'jo@example.org', username: 'jo' })
  await until(() => smtp.received.length === 2, 'both mails')
  const subjects = smtp.received.map((mail) => mail.subject).sort()
  t.same(subjects, ['Acme: bienvenue jo', 'Your Acme password was changed'], "the host's template for one kind, the plugin's for the other")
  const verification = smtp.received.find((mail) => mail.subject === 'Acme: bienvenue jo')
  t.match(verification?.text, `https://acme.example/verify#token=${TOKEN}`, 'the link the mailer built')
})

t.test('a server refusing the recipient: enqueue returns at once, every attempt is made, the log says what was not delivered', async (t) => {
  let rcpts = 0
  const smtp = await startSmtpServer(t, {
    onRcptTo (_address, _session, callback) {
      rcpts++
      callback(Object.assign(new Error('5.1.1 mailbox unavailable'), { responseCode: 550 }))
    }
  })
  const { log, lines } = recordingLog()
  const send = smtpSend({ url: smtp.url, from: FROM, timeoutMs: 10_000, rejectUnauthorized: true })
  const mailer = createMailer({ send, resetUrl: 'https://app.example.com/reset' }, log, { attempts: 3, backoffMs: 20 })
  t.teardown(mailer.close)

  t.ok(mailer.send({ kind: 'password_reset', to: 'someone@refused.example', username: 'someone', token: TOKEN }), 'queued')
  t.equal(rcpts, 0, 'enqueue returned before the server was even asked')
  await until(() => lines.some((line) => line.level === 'warn'), 'the warning')
  t.equal(rcpts, 3, 'three attempts reached the server')
  t.equal(smtp.received.length, 0, 'nothing delivered')
  const warnings = lines.filter((line) => line.level === 'warn')
  t.equal(warnings.length, 1, 'one warning')
  t.match(warnings[0]?.message, /password_reset mail to an address at refused\.example was not delivered: 3 attempts failed/)
  t.match(warnings[0]?.fields, { mail: 'password_reset', domain: 'refused.example', failure: /550/ })
  t.notOk(lines.some((line) => line.level !== 'debug' && JSON.stringify(line).includes(TOKEN)), 'the token is in no log line above debug')
  t.notOk(lines.some((line) => line.level !== 'debug' && JSON.stringify(line).includes('someone@')), 'nor the whole address')
  t.ok(lines.some((line) => line.level === 'debug' && JSON.stringify(line.fields).includes(TOKEN)), 'at debug, the link is there to find')
  t.equal(mailer.queue.size, 0, 'the queue is empty again')
})

t.test('a server that never answers: attempts time out and are retried, and close() returns within its bound', async (t) => {
  const silent = await startSilentServer(t)
  const { log, lines } = recordingLog()
  const mailer = createMailer({ send: smtpSend({ url: silent.url, from: FROM, timeoutMs: 300, rejectUnauthorized: true }) }, log, { attempts: 2, backoffMs: 20 })
  t.teardown(mailer.close)
  t.ok(mailer.send({ kind: 'password_changed', to: 'x@slow.example', username: 'x' }), 'queued')
  await until(() => lines.some((line) => line.level === 'warn'), 'the warning')
  t.equal(silent.connections, 2, 'two attempts, each a connection')
  t.match(lines.find((line) => line.level === 'warn'), { fields: { mail: 'password_changed', domain: 'slow.example' }, message: /2 attempts failed/ })

  // SMTP_TIMEOUT_MS far longer than close's bound: close() must not wait for it.
  const { log: closeLog, lines: closeLines } = recordingLog()
  const slow = createMailer({ send: smtpSend({ url: silent.url, from: FROM, timeoutMs: 60_000, rejectUnauthorized: true }) }, closeLog, { closeTimeoutMs: 200 })
  slow.send({ kind: 'password_changed', to: 'y@slow.example', username: 'y' })
  await until(() => silent.connections === 3 && silent.open === 1, 'the connection')
  await slow.close()
  t.equal(silent.open, 1, 'close() returned while the server still had not answered')
  t.match(closeLines.filter((line) => line.level === 'warn'), [{ fields: { mail: 'password_changed', domain: 'slow.example' }, message: /still unsent/ }],
    'the log says what was not delivered')
  t.notOk(slow.send({ kind: 'password_changed', to: 'z@slow.example', username: 'z' }), 'a closed queue takes no more mail')
})

t.test('MAIL_TRANSPORT=log writes the whole mail to the log, for development', async (t) => {
  const { log, lines } = recordingLog()
  const mail = serviceMail(loadConfig({ MAIL_TRANSPORT: 'log', RESET_URL: 'http://localhost:5173/reset' }), log)
  if (mail === undefined) throw new Error('no mail options')
  const mailer = createMailer(mail, log)
  mailer.send({ kind: 'password_reset', to: 'dev@example.org', username: 'dev', token: TOKEN })
  await until(() => lines.some((line) => line.level === 'info'), 'the log line')
  await mailer.close()
  const line = lines.find((entry) => entry.level === 'info')
  t.match(line?.fields, { mail: { to: 'dev@example.org', kind: 'password_reset', url: `http://localhost:5173/reset#token=${TOKEN}` } }, 'the mail with its link')
  t.match(line?.fields, { mail: { text: /localhost:5173\/reset#token=/, html: /<a href=/ } }, 'both parts')
})
