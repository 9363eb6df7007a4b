import { userInfo } from 'node:os'
import { pino, type Logger } from 'pino'
import type { AuditActor } from '../index.js'
import { loggerOptions } from './logger.js'

/** Who ran the command: the system user's name, or the uid of one the system cannot name. */
function operator (): string {
  try {
    return userInfo().username
  } catch {
    return `uid ${String(process.getuid?.() ?? 'unknown')}`
  }
}

/**
 * Who the CLI's audit lines name: `actor` 'cli' (the service's own lines name a `client`
 * address instead), `operator` who ran the command and, under sudo, `sudoUser` who called sudo
 * (as sudo says: a claim, not a proof).
 */
export function cliActor (env: NodeJS.ProcessEnv): AuditActor {
  const sudoUser = env.SUDO_USER
  return { actor: 'cli', operator: operator(), ...(sudoUser !== undefined && sudoUser !== '' ? { sudoUser } : {}) }
}

/**
 * The logger the CLI's audit lines go to: the service's log format (pino JSON, with its
 * redaction) on standard error, so a log collector takes them with the service's own.
 */
export function cliLogger (stderr: NodeJS.WritableStream): Logger {
  return pino(loggerOptions('info'), stderr)
}
