import { createMailQueue, type MailLog, type MailQueue, type MailQueueOptions } from './mail-queue.js'
import { linkWithToken } from './links.js'
import type { MailKind, SendMail } from './message.js'
import { DEFAULT_SERVICE_NAME, mailTemplates, type MailTemplates } from './templates.js'

/** The plugin's `mail` option. */
export interface MailOptions {
  /** Delivers one mail; the plugin calls it from a queue after the answer, with retries. */
  send: SendMail
  /** The host's own templates, in place of the plugin's for the kinds given. */
  templates?: Partial<MailTemplates>
  /** The name the mails give the service. Default 'fastify-token-auth'. */
  serviceName?: string
  /** The front-end's page for choosing a new password; the link adds `#token=…`. Without it, no reset mail. */
  resetUrl?: string
  /** The front-end's page for confirming an address; the link adds `#token=…`. Without it, no verification mail. */
  verifyUrl?: string
}

/** What a route asks the mailer to send. */
export interface MailRequest {
  kind: MailKind
  to: string
  username: string
  /** The token the link carries: for password_reset and email_verification. */
  token?: string
  /** A password_reset mail to an address several accounts share: the other accounts, each with its own token. */
  moreAccounts?: ReadonlyArray<{ username: string, token: string }>
}

/** What the routes are handed: composes mails from the templates and queues them. */
export interface Mailer {
  readonly serviceName: string
  /** Whether mails of this kind can be made: a reset or verification mail needs its front-end URL. */
  canSend: (kind: MailKind) => boolean
  /** Composes the mail and queues it, returning at once: false when it was not queued (see the log). */
  send: (request: MailRequest) => boolean
  readonly queue: MailQueue
  close: () => Promise<void>
}

const LINK_BASE: Partial<Record<MailKind, 'resetUrl' | 'verifyUrl'>> = { password_reset: 'resetUrl', email_verification: 'verifyUrl' }

/** A mailer over a queue of its own. */
export function createMailer (options: MailOptions, log: MailLog, queueOptions: Omit<MailQueueOptions, 'send' | 'log'> = {}): Mailer {
  const templates = mailTemplates(options.templates)
  const serviceName = options.serviceName ?? DEFAULT_SERVICE_NAME
  const queue = createMailQueue({ ...queueOptions, send: options.send, log })
  const baseOf = (kind: MailKind) => {
    const setting = LINK_BASE[kind]
    return setting === undefined ? undefined : options[setting]
  }
  const canSend = (kind: MailKind) => LINK_BASE[kind] === undefined || baseOf(kind) !== undefined
  return {
    serviceName,
    canSend,
    send ({ kind, to, username, token, moreAccounts = [] }) {
      const base = baseOf(kind)
      if (!canSend(kind) || (base !== undefined && token === undefined)) {
        log.warn({ mail: kind }, `fastify-token-auth: a ${kind} mail needs ${LINK_BASE[kind] ?? 'a link'} and a token; none was sent`)
        return false
      }
      const url = base === undefined || token === undefined ? undefined : linkWithToken(base, token)
      const accounts = base === undefined || url === undefined
        ? []
        : [{ username, url }, ...moreAccounts.map((account) => ({ username: account.username, url: linkWithToken(base, account.token) }))]
      const content = templates[kind]({ serviceName, username, url, accounts })
      return queue.enqueue({ to, subject: content.subject, text: content.text, html: content.html, kind, ...(url !== undefined && { url }) })
    },
    queue,
    close: async () => { await queue.close() }
  }
}
