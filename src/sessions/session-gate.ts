import type { PasswordHasher } from '../accounts/passwords.js'
import type { SessionRecord, SessionStore } from './session-store.js'
import type { UserRecord, UserStore } from '../accounts/user-store.js'

export interface SessionGateParts {
  users: Pick<UserStore, 'findByUsername'>
  sessions: Pick<SessionStore, 'start' | 'end' | 'endBeyondCap'>
  passwords: Pick<PasswordHasher, 'verify'>
}

/**
 * Opens a session for a login whose password was checked against `granted`, only if those
 * credentials are still current once the session is stored; undefined otherwise.
 *
 * Every account change writes the account first and ends its sessions after, and this stores
 * the session first and reads the account after: whichever comes second sees the other, so a
 * login in flight across a password change, a disabling or a deletion never keeps a session.
 */
export async function startCurrentSession (parts: SessionGateParts, granted: UserRecord, password: string,
  login: { userAgent: string | undefined, scope: string, clientId: string | null, amr: string }): Promise<{ session: SessionRecord, refreshToken: string } | undefined> {
  const started = await parts.sessions.start(granted.username, login.userAgent, login.scope, login.clientId, login.amr)
  if (started === undefined) return undefined
  const now = await parts.users.findByUsername(granted.username)
  if (now === undefined || !await stillCurrent(parts, granted, now, password)) {
    await parts.sessions.end(granted.username, started.session.id)
    return undefined
  }
  await parts.sessions.endBeyondCap(granted.username)
  return started
}

async function stillCurrent (parts: SessionGateParts, granted: UserRecord, now: UserRecord, password: string): Promise<boolean> {
  if (now.disabled && !granted.disabled) return false
  // Admin rights revoked meanwhile: the scopes were granted on rights the account no longer has.
  if (granted.isAdmin === true && now.isAdmin !== true) return false
  if (now.hashedPassword === granted.hashedPassword) return true
  // Another hash of the same password (a rehash at a new cost by a concurrent login) is still
  // the same credential; any other new hash is a new password.
  return await parts.passwords.verify(password, now.hashedPassword)
}
