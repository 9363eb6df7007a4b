import { Type, type Static } from '@sinclair/typebox'

// The OAuth2 password grant request (RFC 6749 §4.3.2), form-encoded. Presence and emptiness
// are checked by the token route itself so that every problem gets an RFC 6749 error code.
export const TokenForm = Type.Object({
  grant_type: Type.Optional(Type.String({ description: 'Must be `password` when given', examples: ['password'] })),
  username: Type.String({ description: 'Case-sensitive' }),
  password: Type.String({ format: 'password' }),
  scope: Type.Optional(Type.String({ description: 'Space-separated scopes (accepted, none defined yet)' })),
  client_id: Type.Optional(Type.String()),
  client_secret: Type.Optional(Type.String({ format: 'password' }))
}, { $id: 'TokenAuth.TokenForm', description: 'OAuth2 password request form' })
export type TokenForm = Static<typeof TokenForm>

export const Token = Type.Object({
  access_token: Type.String({ description: 'A JWT signed with HS256' }),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires' })
}, { $id: 'TokenAuth.Token' })
export type Token = Static<typeof Token>
