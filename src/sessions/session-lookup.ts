import type { Kysely } from 'kysely'
import { isPromise, preparedFirstRow, sqliteChangeWatch, type MaybePromise } from '../db/database.js'
import type { AuthDatabase } from '../db/types.js'
import type { User } from '../schemas/user.js'
import { emailVerified, toPublicUser, type UserStore } from '../accounts/user-store.js'

// The guards' seam: a lookup answered at once (SQLite opened here) is no promise.
export { isPromise, type MaybePromise }

/** What a protected request needs of its session: whose it is (the public profile) and until when it lives. */
export interface LiveSession {
  user: User
  /** ISO 8601 (UTC). */
  expiresAt: string
}

/** The session behind an access token, with its user, or undefined when either is gone. */
export type SessionLookup = (sessionId: string) => MaybePromise<LiveSession | undefined>

/**
 * The lookup behind every authenticated request, built and compiled once (not per request)
 * and prepared once where the engine allows,
 * so on a SQLite database opened here it answers at once, without a promise. Over the built-in
 * store it is one join of the session with the public columns of its user (no hash is read),
 * remembered on a SQLite database opened here until anything in it changes (see remembering);
 * over a host's store, the session row and then the host's `findByUsername`, every time.
 */
export function createSessionLookup (db: Kysely<AuthDatabase>, hostStore?: UserStore): SessionLookup {
  if (hostStore !== undefined) {
    const sessionById = preparedFirstRow(db, db.selectFrom('sessions').select(['username', 'expires_at']).where('id', '=', '').compile())
    const withUser = async (row: { username: string, expires_at: string } | undefined): Promise<LiveSession | undefined> => {
      if (row === undefined) return undefined
      const record = await hostStore.findByUsername(row.username)
      return record === undefined ? undefined : { user: toPublicUser(record), expiresAt: row.expires_at }
    }
    return (sessionId) => {
      const row = sessionById([sessionId])
      return isPromise(row) ? row.then(withUser) : withUser(row)
    }
  }
  const joined = preparedFirstRow(db, db.selectFrom('sessions')
    .innerJoin('users', 'users.username', 'sessions.username')
    .select(['users.username', 'users.email', 'users.verified_email', 'users.full_name', 'users.disabled', 'sessions.expires_at'])
    .where('sessions.id', '=', '').compile())
  type Row = { username: string, email: string | null, verified_email: string | null, full_name: string | null, disabled: number, expires_at: string } | undefined
  const toLive = (row: Row): LiveSession | undefined => row === undefined
    ? undefined
    : {
        user: {
          username: row.username,
          email: row.email,
          email_verified: emailVerified({ email: row.email, verifiedEmail: row.verified_email }),
          full_name: row.full_name,
          disabled: row.disabled !== 0
        },
        expiresAt: row.expires_at
      }
  const lookup: SessionLookup = (sessionId) => {
    const row = joined([sessionId])
    return isPromise(row) ? row.then(toLive) : toLive(row)
  }
  const changed = sqliteChangeWatch(db, CHANGE_CHECK_INTERVAL_MS)
  return changed === undefined ? lookup : remembering(lookup, changed)
}

/** How stale a remembered session may be, at most, after another process ended it. */
export const CHANGE_CHECK_INTERVAL_MS = 5
const MAX_REMEMBERED = 10_000

/**
 * The lookup with a memory of the live sessions it found, forgotten entirely whenever the
 * database may have changed: at once for a write of this process (a logout, a disabled user,
 * anything), within CHANGE_CHECK_INTERVAL_MS for another's. Only answers given at once are
 * remembered; each request gets its own copy of the user.
 */
function remembering (lookup: SessionLookup, changed: () => boolean): SessionLookup {
  const live = new Map<string, LiveSession>()
  return (sessionId) => {
    if (changed()) live.clear()
    const hit = live.get(sessionId)
    if (hit !== undefined) return { user: { ...hit.user }, expiresAt: hit.expiresAt }
    const found = lookup(sessionId)
    if (found === undefined || isPromise(found)) return found
    if (live.size >= MAX_REMEMBERED) live.delete(live.keys().next().value as string)
    live.set(sessionId, { user: { ...found.user }, expiresAt: found.expiresAt })
    return found
  }
}
