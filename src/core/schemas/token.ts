import { Type, type Static } from '@sinclair/typebox'

// The OAuth2 token request (RFC 6749 §4.3.2 password grant, §6 refresh), form-encoded. Which
// fields a grant needs, and whether they are empty, is checked by the token route itself, so
// that every problem gets an RFC 6749 error code.
export const TokenForm = Type.Object({
  grant_type: Type.Optional(Type.String({
    description: '`password` (the default) or `refresh_token`',
    examples: ['password']
  })),
  username: Type.Optional(Type.String({ description: 'For the password grant. Case-sensitive', examples: ['johndoe'] })),
  password: Type.Optional(Type.String({ format: 'password', description: 'For the password grant', examples: ['a-long-password'] })),
  refresh_token: Type.Optional(Type.String({ description: 'For the refresh_token grant: the refresh token of the last token response' })),
  scope: Type.Optional(Type.String({ description: 'Space-separated scopes (accepted, none defined yet)' })),
  client_id: Type.Optional(Type.String({ description: 'Not needed: any value is accepted' })),
  client_secret: Type.Optional(Type.String({ format: 'password', description: 'Not needed: any value is accepted' }))
}, { $id: 'TokenAuth.TokenForm', description: 'OAuth2 token request: the password grant, or the refresh_token grant' })
export type TokenForm = Static<typeof TokenForm>

export const Token = Type.Object({
  access_token: Type.String({ description: 'A JWT signed with HS256', examples: ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJqb2huZG9lIn0.c2lnbmF0dXJl'] }),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires', examples: [1800] }),
  refresh_token: Type.String({
    description: 'Opaque; exchange it at the token endpoint (grant_type=refresh_token) for a new pair. Each one is spent by its first use.',
    examples: ['q3Vn0d0vX9mT2wJfY8cKp1sR4uE6hA7bL5zN0xQyW2E']
  })
}, { $id: 'TokenAuth.Token', description: 'A token response (RFC 6749 §5.1)' })
export type Token = Static<typeof Token>

// RFC 7009 token revocation request, form-encoded.
export const RevokeForm = Type.Object({
  token: Type.Optional(Type.String({ description: 'A refresh token or an access token', examples: ['q3Vn0d0vX9mT2wJfY8cKp1sR4uE6hA7bL5zN0xQyW2E'] })),
  token_type_hint: Type.Optional(Type.String({ description: '`refresh_token` or `access_token`; any other hint is ignored', examples: ['refresh_token'] })),
  client_id: Type.Optional(Type.String({ description: 'Not needed: any value is accepted' })),
  client_secret: Type.Optional(Type.String({ format: 'password', description: 'Not needed: any value is accepted' }))
}, { $id: 'TokenAuth.RevokeForm', description: 'OAuth2 token revocation request (RFC 7009)' })
export type RevokeForm = Static<typeof RevokeForm>
