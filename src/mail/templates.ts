import type { MailKind } from './message.js'

/** One account a mail links to, with the link and its token. */
export interface MailAccountLink {
  username: string
  url: string
}

/**
 * What a template is given. `url` is the link with its token (absent for `password_changed`).
 * `accounts` lists each account the mail has a link for: `username` with `url` alone, except in
 * a reset mail to an address several accounts share, which has one link for each.
 */
export interface MailTemplateInput {
  serviceName: string
  username: string
  url?: string
  accounts: readonly MailAccountLink[]
}

/** What a template makes: a subject and the two parts of the body. */
export interface MailContent {
  subject: string
  text: string
  html: string
}

/** Makes one kind of mail. A host's own must escape what it puts in `html` (see `escapeHtml`). */
export type MailTemplate = (input: MailTemplateInput) => MailContent

export type MailTemplates = Record<MailKind, MailTemplate>

/** The service's name when the host gives none. */
export const DEFAULT_SERVICE_NAME = 'fastify-token-auth'

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text made safe for HTML, in an element or a quoted attribute. */
export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] as string)
}

function page (serviceName: string, paragraphs: string[], ...links: Array<{ url: string, label: string }>): string {
  const name = escapeHtml(serviceName)
  const button = links.map((link) => `<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>\n`).join('')
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${name}</title></head><body>\n` +
    paragraphs.map((text) => `<p>${escapeHtml(text)}</p>\n`).join('') + button +
    `<p>— ${name}</p>\n</body></html>\n`
}

const text = (serviceName: string, lines: string[]) => `${lines.join('\n\n')}\n\n— ${serviceName}\n`

/** The plugin's own templates, in English. */
export const defaultMailTemplates: Readonly<MailTemplates> = Object.freeze({
  password_reset: ({ serviceName, username, url = '', accounts }) => {
    const ignore = 'If it was not you, ignore this mail: the password stays as it is.'
    if (accounts.length > 1) {
      const intro = `Someone asked to reset the password of the accounts at ${serviceName} that use this address. Each has a link of its own.`
      return {
        subject: `Reset your ${serviceName} password`,
        text: text(serviceName, [intro, ...accounts.map((account) => `Choose a new password for ${account.username} here:\n${account.url}`), ignore]),
        html: page(serviceName, [intro, ignore], ...accounts.map((account) => ({ url: account.url, label: `Choose a new password for ${account.username}` })))
      }
    }
    const intro = `Someone asked to reset the password of ${username} at ${serviceName}.`
    return {
      subject: `Reset your ${serviceName} password`,
      text: text(serviceName, [intro, `Choose a new password here:\n${url}`, ignore]),
      html: page(serviceName, [intro, ignore], { url, label: 'Choose a new password' })
    }
  },
  password_changed: ({ serviceName, username }) => {
    const lines = [
      `The password of ${username} at ${serviceName} was changed, and its sessions were ended.`,
      'If it was not you, reset your password now and tell the administrators.'
    ]
    return { subject: `Your ${serviceName} password was changed`, text: text(serviceName, lines), html: page(serviceName, lines) }
  },
  email_verification: ({ serviceName, username, url = '' }) => {
    const intro = `Confirm that this address belongs to ${username} at ${serviceName}.`
    const ignore = 'If you did not sign up, ignore this mail.'
    return {
      subject: `Confirm your ${serviceName} email address`,
      text: text(serviceName, [intro, `Confirm it here:\n${url}`, ignore]),
      html: page(serviceName, [intro, ignore], { url, label: 'Confirm the address' })
    }
  }
})

/** The plugin's templates with the host's in place of any it gives. */
export function mailTemplates (overrides: Partial<MailTemplates> = {}): MailTemplates {
  return { ...defaultMailTemplates, ...Object.fromEntries(Object.entries(overrides).filter(([, template]) => template !== undefined)) }
}
