// A mail the plugin sends, and the host's hook that delivers it.

/** What a mail is about. */
export type MailKind = 'password_reset' | 'password_changed' | 'email_verification'

export const MAIL_KINDS: readonly MailKind[] = ['password_reset', 'password_changed', 'email_verification']

/** One mail, ready to send: a plain-text and an HTML part, and the link it carries (which holds a token). */
export interface MailMessage {
  to: string
  subject: string
  text: string
  html: string
  kind: MailKind
  /** The link in the mail, with its token; absent from a mail that carries none. */
  url?: string
}

/**
 * The host's hook that delivers one mail: it resolves once a mail server has taken it and
 * rejects when it could not. The plugin calls it from a queue after the answer, with retries.
 */
export type SendMail = (message: MailMessage) => Promise<unknown>

/** The part of an address after its last @: all of it that is logged above debug. */
export function recipientDomain (address: string): string {
  const at = address.lastIndexOf('@')
  return at === -1 ? '(no domain)' : address.slice(at + 1).toLowerCase()
}
