import { userInfo } from 'node:os'
import { pino } from 'pino'
import { loggerOptions } from './logger.js'

/** The account changes the CLI makes, one audit line each. */
export type CliAuditEvent = 'user.created' | 'password.changed' | 'user.disabled' | 'user.enabled' | 'sessions.revoked'

export type CliAudit = (event: CliAuditEvent, fields: { username: string, endedSessions?: number, disabled?: boolean }) => void

/** Who ran the command: the system user's name, or the uid of one the system cannot name. */
function operator (): string {
  try {
    return userInfo().username
  } catch {
    return `uid ${String(process.getuid?.() ?? 'unknown')}`
  }
}

/**
 * The CLI's audit lines: the service's log format (pino JSON, with its redaction) on standard
 * error, so a log collector takes them with the service's own audit lines. `actor` is 'cli' (the
 * service's lines name a `client` address instead), `operator` who ran the command and, under
 * sudo, `sudoUser` who called sudo (as sudo says: a claim, not a proof).
 */
export function cliAudit (): CliAudit {
  const log = pino(loggerOptions('info'), pino.destination({ dest: 2, sync: true }))
  const sudoUser = process.env.SUDO_USER
  const who = { actor: 'cli', operator: operator(), ...(sudoUser !== undefined && sudoUser !== '' ? { sudoUser } : {}) }
  return (event, fields) => { log.info({ audit: event, ...who, ...fields }, `audit: ${event}`) }
}
