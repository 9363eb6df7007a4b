import type { Config } from '../config.js'

type MailSettings = Pick<Config, 'SMTP_URL' | 'MAIL_FROM' | 'MAIL_TRANSPORT'>

/** How the service sends mail: through SMTP, to the log (development), or not at all. */
export function mailTransport (config: MailSettings): 'smtp' | 'log' | undefined {
  return config.MAIL_TRANSPORT ?? (config.SMTP_URL === undefined ? undefined : 'smtp')
}

/** The rules between the mail settings, one problem per variable (none where another rule already found one). */
export function mailProblems (config: MailSettings, env: NodeJS.ProcessEnv, problems: ReadonlyMap<string, string>): Array<{ key: string, message: string }> {
  const found: Array<{ key: string, message: string }> = []
  if (problems.has('SMTP_URL') || problems.has('MAIL_TRANSPORT')) return found
  const transport = mailTransport(config)
  if (transport === 'log' && env.NODE_ENV === 'production') {
    found.push({ key: 'MAIL_TRANSPORT', message: 'MAIL_TRANSPORT="log": writes mails, reset links and their tokens to the log, for development only; refused with NODE_ENV=production (set SMTP_URL and MAIL_FROM)' })
  }
  if (transport === 'smtp' && config.SMTP_URL === undefined) {
    found.push({ key: 'MAIL_TRANSPORT', message: 'MAIL_TRANSPORT="smtp": needs SMTP_URL (smtp://HOST:PORT or smtps://…)' })
  }
  if (transport === 'smtp' && config.SMTP_URL !== undefined && config.MAIL_FROM === undefined && !problems.has('MAIL_FROM')) {
    found.push({ key: 'MAIL_FROM', message: 'MAIL_FROM: required with SMTP_URL, the From of the mails (Example <no-reply@example.com>)' })
  }
  return found
}
