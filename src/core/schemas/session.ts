import { Type, type Static } from '@sinclair/typebox'
import { nullable } from './ref.js'

const time = (description: string) => Type.String({ format: 'date-time', description, examples: ['2026-12-01T09:30:00.000Z'] })

export const Session = Type.Object({
  id: Type.String({ description: 'The session id (the `sid` of its access tokens)', examples: ['n4bQgcGh1hZ3PmGH3nNk9A'] }),
  created_at: time('When the login opened it'),
  last_used_at: time('The last login or refresh'),
  expires_at: time('When it ends unless refreshed before (never later than its absolute limit)'),
  user_agent: nullable(Type.String({ description: 'The User-Agent of the login', examples: ['Mozilla/5.0 (X11; Linux x86_64)'] })),
  current: Type.Boolean({ description: 'True for the session of the token that asked', examples: [true] })
}, { $id: 'TokenAuth.Session', description: 'A live session: a login and the refreshes since' })
export type Session = Static<typeof Session>

export const SessionList = Type.Array(Type.Unsafe<Session>(Type.Ref('TokenAuth.Session')), { $id: 'TokenAuth.SessionList' })

export const LogoutQuery = Type.Object({
  scope: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('others'), Type.Literal('global')], {
    default: 'local',
    description: '`local`: this session; `others`: every other session of the user; `global`: all of them'
  }))
}, { additionalProperties: false })
export type LogoutQuery = Static<typeof LogoutQuery>

export const SessionParams = Type.Object({
  session_id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'A session id from GET /users/me/sessions (base64url)' })
})
export type SessionParams = Static<typeof SessionParams>
