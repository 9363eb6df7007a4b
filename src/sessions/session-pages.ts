import { errors } from '../errors.js'
import { SESSION_ID_MAX_LENGTH, SESSION_ID_PATTERN, SESSION_PAGE_MAX, type Session } from '../schemas/session.js'
import type { SessionCursor, SessionRecord, SessionStore } from './session-store.js'

// Pages of a user's live sessions, the most recently used first, for the owner's list and the
// admin API's: a cursor names where the next page starts, in a `Link: <…>; rel="next"` header.

/** The 422 issue of a cursor this service did not give. */
export const BAD_CURSOR = { loc: ['query', 'cursor'], msg: 'Not a cursor from a previous page', type: 'cursor_invalid' }

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const SESSION_ID = new RegExp(SESSION_ID_PATTERN)

const cursorOf = (cursor: SessionCursor) => Buffer.from(JSON.stringify([cursor.lastUsedAt, cursor.id])).toString('base64url')

/** A cursor this service gave, or a 422 naming it. */
function parseCursor (value: string): SessionCursor {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))
  } catch {}
  // Strictly what a page gave: an ISO 8601 time and a session id (no NUL reaches PostgreSQL).
  if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string' &&
    ISO_TIME.test(parsed[0]) && SESSION_ID.test(parsed[1]) && parsed[1].length <= SESSION_ID_MAX_LENGTH) {
    return { lastUsedAt: parsed[0], id: parsed[1] }
  }
  throw errors.VALIDATION.create([BAD_CURSOR])
}

export interface SessionPageRequest {
  /** The page's size; default SESSION_PAGE_MAX. */
  limit?: number
  /** The cursor of the previous page's `Link`, if any. */
  cursor?: string
  /** The URL the page was asked at, for the next page's link. */
  url: string
  /** The session asking, marked `current`. */
  current: string
  /** The scopes of a session opened before scopes were recorded. */
  unrecordedScope: string
}

/** One page of the user's live sessions as clients see them, and the `Link` header of the next, if there is one. */
export async function sessionPage (store: Pick<SessionStore, 'list'>, username: string, page: SessionPageRequest): Promise<{ sessions: Session[], link?: string }> {
  const { limit = SESSION_PAGE_MAX } = page
  const after = page.cursor === undefined ? undefined : parseCursor(page.cursor)
  // One more than the page tells whether there is a next one.
  const found = await store.list(username, { limit: limit + 1, after })
  const sessions = found.slice(0, limit)
  const last = sessions.at(-1)
  const link = found.length > limit && last !== undefined
    ? `<${page.url.split('?')[0] ?? ''}?${new URLSearchParams({ limit: String(limit), cursor: cursorOf(last) }).toString()}>; rel="next"`
    : undefined
  return { sessions: sessions.map((session) => wireSession(session, page)), ...(link !== undefined && { link }) }
}

function wireSession (session: SessionRecord, page: SessionPageRequest): Session {
  return {
    id: session.id,
    created_at: session.createdAt,
    last_used_at: session.lastUsedAt,
    expires_at: session.expiresAt,
    user_agent: session.userAgent,
    scope: session.scope ?? page.unrecordedScope,
    current: session.id === page.current
  }
}
