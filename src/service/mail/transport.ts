import { createTransport } from 'nodemailer'
import type { MailMessage, MailOptions, SendMail } from '../../index.js'
import type { Config } from '../config.js'
import { mailTransport } from './mail-settings.js'

export interface SmtpSettings {
  /** smtp:// or smtps://, with URL-encoded credentials if any. */
  url: string
  from: string
  timeoutMs: number
  rejectUnauthorized: boolean
}

/** A SendMail through an SMTP server: a connection per mail, every wait bounded by `timeoutMs`. */
export function smtpSend ({ url, from, timeoutMs, rejectUnauthorized }: SmtpSettings): SendMail {
  const server = new URL(url)
  const secure = server.protocol === 'smtps:'
  const user = decodeURIComponent(server.username)
  const transport = createTransport({
    host: server.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: server.port === '' ? (secure ? 465 : 587) : Number(server.port),
    secure,
    ...(user !== '' && { auth: { user, pass: decodeURIComponent(server.password) } }),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    tls: { rejectUnauthorized }
  })
  return async ({ to, subject, text, html }: MailMessage) => await transport.sendMail({ from, to, subject, text, html })
}

/** Where the log transport writes. */
export interface MailInfoLog { info: (fields: object, message: string) => void }

/** A SendMail for development: the whole mail, link and token included, goes to the log at info. */
export function logSend (log: MailInfoLog): SendMail {
  return async (message) => { log.info({ mail: message }, `mail (MAIL_TRANSPORT=log, not sent): ${message.subject}`) }
}

/** What says at start-up how to have mail sent, when none is configured. */
export const NO_MAIL_HINT = 'Mail is off, so password reset and email verification are too: set SMTP_URL and MAIL_FROM ' +
  'to send through an SMTP server, or for local development MAIL_TRANSPORT=log to write the mails to the log'

/** The plugin's `mail` option from the settings, or undefined when no transport is configured. */
export function serviceMail (config: Config, log: MailInfoLog): MailOptions | undefined {
  const transport = mailTransport(config)
  if (transport === undefined) return undefined
  const send = transport === 'log'
    ? logSend(log)
    : smtpSend({ url: config.SMTP_URL as string, from: config.MAIL_FROM as string, timeoutMs: config.SMTP_TIMEOUT_MS, rejectUnauthorized: config.SMTP_TLS_REJECT_UNAUTHORIZED })
  return {
    send,
    serviceName: config.SERVICE_NAME,
    ...(config.RESET_URL !== undefined && { resetUrl: config.RESET_URL }),
    ...(config.VERIFY_URL !== undefined && { verifyUrl: config.VERIFY_URL })
  }
}
