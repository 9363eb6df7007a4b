import { Type, type Static } from '@sinclair/typebox'
import { nullable } from './ref.js'

const time = (description: string, example: string) => Type.String({ format: 'date-time', description, examples: [example] })
const SESSION_ID_EXAMPLE = 'n4bQgcGh1hZ3PmGH3nNk9A'
const sessionExample = {
  id: SESSION_ID_EXAMPLE,
  created_at: '2026-12-01T09:30:00.000Z',
  last_used_at: '2026-12-03T17:05:12.000Z',
  expires_at: '2026-12-17T17:05:12.000Z',
  user_agent: 'Mozilla/5.0 (X11; Linux x86_64)',
  scope: 'me items',
  current: true
}

export const Session = Type.Object({
  id: Type.String({ description: 'The session id (the `sid` of its access tokens)', examples: [SESSION_ID_EXAMPLE] }),
  created_at: time('When the login opened it', sessionExample.created_at),
  last_used_at: time('The last login or refresh', sessionExample.last_used_at),
  expires_at: time('When it ends unless refreshed before (never later than its absolute limit)', sessionExample.expires_at),
  user_agent: nullable(Type.String({ description: 'The User-Agent of the login', examples: ['Mozilla/5.0 (X11; Linux x86_64)'] })),
  scope: Type.String({ description: 'The scopes the session was granted, space-separated', examples: ['me items'] }),
  current: Type.Boolean({ description: 'True for the session of the token that asked', examples: [true] })
}, { $id: 'TokenAuth.Session', description: 'A live session: a login and the refreshes since', examples: [sessionExample] })
export type Session = Static<typeof Session>

export const SessionList = Type.Array(Type.Unsafe<Session>(Type.Ref('TokenAuth.Session')), {
  $id: 'TokenAuth.SessionList',
  description: 'The live sessions, the most recently used first',
  examples: [[sessionExample, { ...sessionExample, id: 'Zp0s4mHk2vQ8yL1bW6tX3g', created_at: '2026-11-20T08:00:00.000Z', last_used_at: '2026-11-28T21:14:40.000Z', expires_at: '2026-12-12T21:14:40.000Z', user_agent: 'curl/8.5.0', scope: 'items', current: false }]]
})

export const LogoutQuery = Type.Object({
  scope: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('others'), Type.Literal('global')], {
    default: 'local',
    description: '`local`: this session; `others`: every other session of the user; `global`: all of them',
    examples: ['local']
  }))
}, { additionalProperties: false })
export type LogoutQuery = Static<typeof LogoutQuery>

/** A session id as clients may send one back: base64url, at most this long. */
export const SESSION_ID_PATTERN = '^[A-Za-z0-9_-]+$'
export const SESSION_ID_MAX_LENGTH = 64

/** The largest page of GET /users/me/sessions, and its default. */
export const SESSION_PAGE_MAX = 100

export const SessionListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: SESSION_PAGE_MAX,
    default: SESSION_PAGE_MAX,
    description: 'The most sessions in one page',
    examples: [20]
  })),
  cursor: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 256,
    pattern: '^[A-Za-z0-9_-]+$',
    description: 'Where the page starts: the cursor of the previous page\'s `Link: <…>; rel="next"` header',
    examples: ['WyIyMDI2LTEyLTAzVDE3OjA1OjEyLjAwMFoiLCJuNGJRZ2NHaDFoWjNQbUdIM25OazlBIl0']
  }))
}, { additionalProperties: false })
export type SessionListQuery = Static<typeof SessionListQuery>

export const SessionParams = Type.Object({
  session_id: Type.String({ minLength: 1, maxLength: SESSION_ID_MAX_LENGTH, pattern: SESSION_ID_PATTERN, description: 'A session id from a list of sessions (base64url)', examples: [SESSION_ID_EXAMPLE] })
})
export type SessionParams = Static<typeof SessionParams>
