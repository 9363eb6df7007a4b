import { sql, type CompiledQuery, type Kysely, type Selectable } from 'kysely'
import { engineOf } from '../db/dialect.js'
import { inWriteTransaction } from '../db/transaction.js'
import type { AuthDatabase, SessionsTable } from '../db/types.js'
import { newRefreshToken, newSessionId, refreshTokenHash } from './refresh-tokens.js'

const DAY_MS = 86_400_000
// A user agent is kept for the owner to recognise a session by, not in full.
const USER_AGENT_MAX_LENGTH = 512

export interface SessionPolicy {
  /** A session ends after this long without a refresh. */
  refreshTokenExpireDays: number
  /** A session ends this long after the login, however often it is refreshed. */
  sessionMaxDays: number
  /**
   * A spent refresh token presented again within this many seconds gets one more fresh pair (a
   * retry, a second tab); a later or a further presentation revokes the session.
   */
  refreshTokenReuseSeconds: number
  /** Live sessions one user may have: a login past it ends the least recently used. */
  maxSessionsPerUser: number
}

/** Where a page of a user's sessions starts: after this session in the list's order. */
export interface SessionCursor {
  lastUsedAt: string
  id: string
}

/** A live session, as its owner sees it. Times are ISO 8601 (UTC). */
export interface SessionRecord {
  id: string
  username: string
  userAgent: string | null
  createdAt: string
  lastUsedAt: string
  expiresAt: string
  /** The scopes granted, space-separated; null for a session opened before scopes existed (the default ones). */
  scope: string | null
  /** The OAuth2 client the login named; null for the configured first-party client. */
  clientId: string | null
  /** How the login was authenticated (RFC 8176: `pwd`, `pwd otp`), space-separated; null when not recorded. */
  amr: string | null
}

/** What a refresh does to its session's scopes. */
export interface RefreshScopes {
  /** Keep only these (a name the session was not granted refuses the refresh, before the token is spent); absent: keep them all. */
  narrowTo?: readonly string[]
  /** The scopes of a session opened before scopes were recorded, written to it now. */
  unrecorded: string
}

export type RefreshOutcome =
  | { ok: true, session: SessionRecord, refreshToken: string }
  /** `unknown` covers revoked and never-issued tokens alike. */
  | { ok: false, reason: 'unknown' | 'expired' }
  /** A spent token came back too late: its session was revoked. */
  | { ok: false, reason: 'reused', username: string, sessionId: string }
  /** The refresh asked for scopes its session was not granted: nothing was spent. */
  | { ok: false, reason: 'widened', names: string[] }

function toRecord (row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: row.id,
    username: row.username,
    userAgent: row.user_agent,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    scope: row.scope,
    clientId: row.client_id,
    amr: row.amr
  }
}

const iso = (ms: number) => new Date(ms).toISOString()

/** True for a violated foreign key, in either engine: the session went while a token was being added to it. */
function isForeignKeyViolation (error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503'
}

/** PostgreSQL ended this transaction to break a deadlock with another (SQLSTATE 40P01); run again, it goes through. */
function isDeadlock (error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '40P01'
}

const DEADLOCK_RETRIES = 3

/**
 * Sessions and their refresh tokens in the plugin's database. A login and a refresh are each one
 * write transaction, so concurrent refreshes and logouts, from any number of processes, leave a
 * consistent state: a refresh token is spent by exactly one conditional update, and a token
 * added to a session ended meanwhile fails its foreign key.
 */
export function createSessionStore (db: Kysely<AuthDatabase>, policy: SessionPolicy) {
  const idleMs = policy.refreshTokenExpireDays * DAY_MS
  const reuseMs = policy.refreshTokenReuseSeconds * 1000

  // The statements of a login and a refresh, built and compiled once, not per request; each runs
  // with its parameters in the order they appear.
  const compiled = {
    tokenWithSession: db.selectFrom('refresh_tokens')
      .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
      .select(['refresh_tokens.spent_at', 'sessions.id', 'sessions.username', 'sessions.user_agent', 'sessions.created_at',
        'sessions.last_used_at', 'sessions.expires_at', 'sessions.absolute_expires_at', 'sessions.scope', 'sessions.client_id', 'sessions.amr'])
      .where('refresh_tokens.token_hash', '=', '').compile(),
    spend: db.updateTable('refresh_tokens').set({ spent_at: '' }).where('token_hash', '=', '').where('spent_at', 'is', null).compile(),
    spentAt: db.selectFrom('refresh_tokens').select('spent_at').where('token_hash', '=', '').compile(),
    replay: db.updateTable('refresh_tokens').set({ replayed_at: '' }).where('token_hash', '=', '').where('replayed_at', 'is', null).compile(),
    addToken: db.insertInto('refresh_tokens').values({ token_hash: '', session_id: '', created_at: '', spent_at: '' }).compile(),
    move: db.updateTable('sessions').set({ last_used_at: '', expires_at: '', scope: '' }).where('id', '=', '').compile(),
    end: db.deleteFrom('sessions').where('id', '=', '').compile()
  }
  async function run<R> (trx: Kysely<AuthDatabase>, query: CompiledQuery<R>, parameters: unknown[]) {
    if (parameters.length !== query.parameters.length) throw new Error(`${parameters.length} parameters for ${query.sql}`)
    return await trx.executeQuery<R>({ ...query, parameters })
  }
  const affected = (result: { numAffectedRows?: bigint }) => (result.numAffectedRows ?? 0n) > 0n

  async function addRefreshToken (trx: Kysely<AuthDatabase>, sessionId: string, now: string): Promise<string> {
    const token = newRefreshToken()
    await run(trx, compiled.addToken, [refreshTokenHash(token), sessionId, now, null])
    return token
  }

  async function rotate (trx: Kysely<AuthDatabase>, hash: string, nowMs: number, scopes: RefreshScopes): Promise<RefreshOutcome> {
    const now = iso(nowMs)
    const row = (await run(trx, compiled.tokenWithSession, [hash])).rows[0]
    if (row === undefined) return { ok: false, reason: 'unknown' }
    if (row.expires_at <= now) {
      await run(trx, compiled.end, [row.id])
      return { ok: false, reason: 'expired' }
    }
    let scope = row.scope ?? scopes.unrecorded
    const { narrowTo } = scopes
    if (narrowTo !== undefined) {
      const held = scope.split(' ')
      const widened = narrowTo.filter((name) => !held.includes(name))
      if (widened.length > 0) return { ok: false, reason: 'widened', names: widened }
      scope = held.filter((name) => narrowTo.includes(name)).join(' ')
    }
    let spentAt = row.spent_at
    if (spentAt === null) {
      if (!affected(await run(trx, compiled.spend, [now, hash]))) {
        // Another request spent it first: the same as presenting it again.
        const again = (await run(trx, compiled.spentAt, [hash])).rows[0]
        if (again === undefined) return { ok: false, reason: 'unknown' }
        spentAt = again.spent_at
      }
    }
    // Within the window, counted from when it was spent, a spent token mints one more successor
    // (a retry, a second tab); a window of 0 forgives nothing, and a third presentation is reuse.
    if (spentAt !== null) {
      const forgiven = reuseMs > 0 && nowMs - Date.parse(spentAt) < reuseMs && affected(await run(trx, compiled.replay, [now, hash]))
      if (!forgiven) {
        await run(trx, compiled.end, [row.id])
        return { ok: false, reason: 'reused', username: row.username, sessionId: row.id }
      }
    }
    const refreshToken = await addRefreshToken(trx, row.id, now)
    const expiresAt = iso(Math.min(nowMs + idleMs, Date.parse(row.absolute_expires_at)))
    if (!affected(await run(trx, compiled.move, [now, expiresAt, scope, row.id]))) return { ok: false, reason: 'unknown' }
    return { ok: true, refreshToken, session: toRecord({ ...row, last_used_at: now, expires_at: expiresAt, scope }) }
  }

  return {
    /**
     * Opens a session for a login and issues its first refresh token; undefined when the account
     * was deleted meanwhile (its foreign key fails). Expired sessions are cleared on the way.
     */
    async start (username: string, userAgent: string | undefined, scope: string, clientId: string | null = null, amr: string | null = null): Promise<{ session: SessionRecord, refreshToken: string } | undefined> {
      const nowMs = Date.now()
      const now = iso(nowMs)
      const absolute = nowMs + policy.sessionMaxDays * DAY_MS
      const row = {
        id: newSessionId(),
        username,
        user_agent: userAgent === undefined || userAgent === '' ? null : userAgent.slice(0, USER_AGENT_MAX_LENGTH),
        created_at: now,
        last_used_at: now,
        expires_at: iso(Math.min(nowMs + idleMs, absolute)),
        absolute_expires_at: iso(absolute),
        scope,
        client_id: clientId,
        amr
      }
      try {
        return await inWriteTransaction(db, async (trx) => {
          await trx.deleteFrom('sessions').where('expires_at', '<=', now).execute()
          await trx.insertInto('sessions').values(row).execute()
          return { session: toRecord(row), refreshToken: await addRefreshToken(trx, row.id, now) }
        })
      } catch (error) {
        if (isForeignKeyViolation(error)) return undefined
        throw error
      }
    },

    /**
     * Ends the user's least recently used sessions beyond the cap, after a login opened one (the
     * newest is the most recently used); how many ended.
     */
    async endBeyondCap (username: string): Promise<number> {
      const beyond = await db.selectFrom('sessions').select('id').where('username', '=', username)
        .orderBy('last_used_at', 'desc').orderBy('id', 'desc')
        // A lowered cap is reached over a few logins rather than in one long statement.
        .limit(1000).offset(policy.maxSessionsPerUser).execute()
      if (beyond.length === 0) return 0
      const result = await db.deleteFrom('sessions').where('id', 'in', beyond.map((session) => session.id)).executeTakeFirst()
      return Number(result.numDeletedRows)
    },

    /**
     * Exchanges a refresh token for a new one in the same session (rotation), moving the
     * session's idle expiry on, and narrowing its scopes (see RefreshScopes). A spent token within the reuse window gets a fresh one too;
     * after it, reuse of a stolen token is assumed and the whole session ends.
     */
    async refresh (token: string, scopes: RefreshScopes): Promise<RefreshOutcome> {
      const hash = refreshTokenHash(token)
      for (let attempt = 1; ; attempt++) {
        try {
          return await inWriteTransaction(db, async (trx) => await rotate(trx, hash, Date.now(), scopes))
        } catch (error) {
          // The session ended while the refresh was under way.
          if (isForeignKeyViolation(error)) return { ok: false, reason: 'unknown' }
          // Concurrent refreshes of one token can lock each other on PostgreSQL: the loser runs again.
          if (isDeadlock(error) && attempt < DEADLOCK_RETRIES) continue
          throw error
        }
      }
    },

    /** The session a refresh token belongs to, ended (RFC 7009 revocation). False when the token is unknown. */
    async endByRefreshToken (token: string): Promise<boolean> {
      const row = await db.selectFrom('refresh_tokens').select('session_id').where('token_hash', '=', refreshTokenHash(token)).executeTakeFirst()
      return row !== undefined && affected(await run(db, compiled.end, [row.session_id]))
    },

    /** The user's live sessions, the most recently used first: at most `limit`, after `after` when given. */
    async list (username: string, { limit, after }: { limit?: number, after?: SessionCursor } = {}): Promise<SessionRecord[]> {
      let query = db.selectFrom('sessions').selectAll()
        .where('username', '=', username).where('expires_at', '>', iso(Date.now()))
      if (after !== undefined) {
        query = query.where((eb) => eb.or([
          eb('last_used_at', '<', after.lastUsedAt),
          eb.and([eb('last_used_at', '=', after.lastUsedAt), eb('id', '>', after.id)])
        ]))
      }
      query = query.orderBy('last_used_at', 'desc').orderBy('id')
      if (limit !== undefined) query = query.limit(limit)
      return (await query.execute()).map(toRecord)
    },

    /** Ends one live session of the user (with its refresh tokens). False when the user has no such session. */
    async end (username: string, id: string): Promise<boolean> {
      const result = await db.deleteFrom('sessions')
        .where('id', '=', id).where('username', '=', username).where('expires_at', '>', iso(Date.now()))
        .executeTakeFirst()
      return result.numDeletedRows > 0n
    },

    /** Ends every session of the user, or every one but `except`; how many ended. */
    async endAll (username: string, { except }: { except?: string } = {}): Promise<number> {
      let query = db.deleteFrom('sessions').where('username', '=', username)
      if (except !== undefined) query = query.where('id', '!=', except)
      const result = await query.executeTakeFirst()
      return Number(result.numDeletedRows)
    },

    /**
     * Ends the user's sessions granted `scope`: a whole word of their space-separated scopes,
     * matched exactly (`admin` is neither `admins` nor `Admin`); how many ended. A session with no
     * scope recorded holds none, and a name with a space in it matches nothing.
     */
    async endHoldingScope (username: string, scope: string): Promise<number> {
      if (scope === '' || /\s/.test(scope)) return 0
      // Padded with spaces, a whole word is found as ` word ` (case-sensitive, no wildcards).
      const padded = sql<string>`' ' || ${sql.ref('scope')} || ' '`
      const found = engineOf(db) === 'postgres' ? sql<number>`strpos(${padded}, ${` ${scope} `})` : sql<number>`instr(${padded}, ${` ${scope} `})`
      const result = await db.deleteFrom('sessions').where('username', '=', username).where(found, '>', 0).executeTakeFirst()
      return Number(result.numDeletedRows)
    },

    /** Ends every session of every user, or every one but `except`; how many ended. */
    async endEveryone ({ except }: { except?: string } = {}): Promise<number> {
      let query = db.deleteFrom('sessions')
      if (except !== undefined) query = query.where('id', '!=', except)
      const result = await query.executeTakeFirst()
      return Number(result.numDeletedRows)
    },

    /** How many live sessions each of the users has (one query); a user with none is absent. */
    async countLive (usernames: readonly string[]): Promise<Map<string, number>> {
      if (usernames.length === 0) return new Map()
      const rows = await db.selectFrom('sessions')
        .select((eb) => ['username', eb.fn.countAll<number | string | bigint>().as('count')])
        .where('username', 'in', usernames).where('expires_at', '>', iso(Date.now()))
        .groupBy('username').execute()
      return new Map(rows.map((row) => [row.username, Number(row.count)]))
    }
  }
}

export type SessionStore = ReturnType<typeof createSessionStore>
