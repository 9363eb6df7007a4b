import { Type, type Static } from '@sinclair/typebox'
import { MFA_GRANT_TYPE } from '../mfa/mfa.js'
import { answerBody, errors } from '../errors.js'
import { OAuth2Error } from './errors.js'
import { PASSWORD_EXAMPLE, USERNAME_EXAMPLE } from './user.js'

const ACCESS_TOKEN_EXAMPLE = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJqb2huZG9lIn0.c2lnbmF0dXJl'
const REFRESH_TOKEN_EXAMPLE = 'q3Vn0d0vX9mT2wJfY8cKp1sR4uE6hA7bL5zN0xQyW2E'
export const MFA_TOKEN_EXAMPLE = 'Hx2c9QmZ0vT7yR4kW1pN8sL3fJ6dB5aE0gU2iO9tK7c'
const RECOVERY_CODE_EXAMPLE = '7k2m-q9xd-4hv0-bn3s'

// The OAuth2 token request (RFC 6749 §4.3.2 password grant, §6 refresh), form-encoded. Which
// fields a grant needs, and whether they are empty, is checked by the token route itself, so
// that every problem gets an RFC 6749 error code.
export const TokenForm = Type.Object({
  grant_type: Type.Optional(Type.String({
    description: `\`password\` (the default), \`refresh_token\`, or \`${MFA_GRANT_TYPE}\` for the second step of a login that answered \`mfa_required\``,
    examples: ['password']
  })),
  username: Type.Optional(Type.String({ description: 'For the password grant. Case-sensitive', examples: [USERNAME_EXAMPLE] })),
  password: Type.Optional(Type.String({ format: 'password', description: 'For the password grant', examples: [PASSWORD_EXAMPLE] })),
  refresh_token: Type.Optional(Type.String({ description: 'For the refresh_token grant: the refresh token of the last token response', examples: [REFRESH_TOKEN_EXAMPLE] })),
  mfa_token: Type.Optional(Type.String({
    description: `For the \`${MFA_GRANT_TYPE}\` grant: the \`mfa_token\` of the password grant's \`mfa_required\` answer (single use, 5 minutes)`,
    examples: [MFA_TOKEN_EXAMPLE]
  })),
  otp: Type.Optional(Type.String({ description: 'For the second step: the 6-digit code the authenticator app shows now', examples: ['123456'] })),
  recovery_code: Type.Optional(Type.String({ description: 'For the second step, instead of `otp`: one of the recovery codes (spent by its use)', examples: [RECOVERY_CODE_EXAMPLE] })),
  scope: Type.Optional(Type.String({
    description: 'Space-separated scopes to grant (RFC 6749 §3.3). Password grant: absent or empty, every scope the account may have but `admin`; ' +
      'a scope the account may not have is left out. Refresh grant: absent or empty, the session\'s; fewer narrow the session for good',
    examples: ['']
  })),
  // Empty examples, so that generated requests send nothing in them.
  client_id: Type.Optional(Type.String({
    description: 'Optional: the client the login is for, which its access tokens carry as `client_id` (at most 255 printable ASCII characters); ' +
      'empty or absent, the server\'s first-party client. Not authenticated: this server has public clients only',
    examples: ['']
  })),
  client_secret: Type.Optional(Type.String({ format: 'password', description: 'Not needed: leave it empty (any value is accepted and ignored)', examples: [''] }))
}, {
  $id: 'TokenAuth.TokenForm',
  description: 'OAuth2 token request: the password grant, the refresh_token grant, or the second step of a login with TOTP',
  examples: [
    { grant_type: 'password', username: USERNAME_EXAMPLE, password: PASSWORD_EXAMPLE },
    { grant_type: MFA_GRANT_TYPE, mfa_token: MFA_TOKEN_EXAMPLE, otp: '123456' }
  ]
})
export type TokenForm = Static<typeof TokenForm>

export const Token = Type.Object({
  access_token: Type.String({ description: 'A JWT signed with HS256', examples: [ACCESS_TOKEN_EXAMPLE] }),
  token_type: Type.Literal('bearer', { description: 'Always `bearer`: send the access token as `Authorization: Bearer <access_token>`', examples: ['bearer'] }),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires', examples: [1800] }),
  refresh_token: Type.String({
    description: 'Opaque; exchange it at the token endpoint (grant_type=refresh_token) for a new pair. Each one is spent by its first use.',
    examples: [REFRESH_TOKEN_EXAMPLE]
  }),
  scope: Type.String({ description: 'The scopes granted, space-separated: also the access token\'s `scope` claim', examples: ['me items'] })
}, {
  $id: 'TokenAuth.Token',
  description: 'A token response (RFC 6749 §5.1)',
  examples: [{ access_token: ACCESS_TOKEN_EXAMPLE, token_type: 'bearer', expires_in: 1800, refresh_token: REFRESH_TOKEN_EXAMPLE, scope: 'me items' }]
})
export type Token = Static<typeof Token>

// RFC 7009 token revocation request, form-encoded.
export const RevokeForm = Type.Object({
  token: Type.Optional(Type.String({ description: 'A refresh token or an access token', examples: [REFRESH_TOKEN_EXAMPLE] })),
  token_type_hint: Type.Optional(Type.String({ description: '`refresh_token` or `access_token`; any other hint is ignored', examples: ['refresh_token'] })),
  client_id: Type.Optional(Type.String({ description: 'Not needed: leave it empty (any value is accepted and ignored)', examples: [''] })),
  client_secret: Type.Optional(Type.String({ format: 'password', description: 'Not needed: leave it empty (any value is accepted and ignored)', examples: [''] }))
}, {
  $id: 'TokenAuth.RevokeForm',
  description: 'OAuth2 token revocation request (RFC 7009)',
  examples: [{ token: REFRESH_TOKEN_EXAMPLE, token_type_hint: 'refresh_token' }]
})
export type RevokeForm = Static<typeof RevokeForm>

// The password grant's answer for an account with TOTP on: an OAuth2 error with the token of the second step.
export const MfaRequired = Type.Object({
  ...OAuth2Error.properties,
  mfa_token: Type.Optional(Type.String({
    description: `With \`mfa_required\`: send it with \`otp\` (or \`recovery_code\`) and \`grant_type=${MFA_GRANT_TYPE}\` within 5 minutes. Single use`,
    examples: [MFA_TOKEN_EXAMPLE]
  }))
}, {
  $id: 'TokenAuth.MfaRequired',
  description: 'A 403 of the token endpoint: `mfa_required` (with an `mfa_token`), or another RFC 6749 error',
  examples: [{ ...answerBody(errors.MFA_REQUIRED.answer(), true), mfa_token: MFA_TOKEN_EXAMPLE }]
})
export type MfaRequired = Static<typeof MfaRequired>
