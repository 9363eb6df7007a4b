import { Type, type Static } from '@sinclair/typebox'

export const HTTPError = Type.Object({
  detail: Type.String()
}, { $id: 'TokenAuth.HTTPError', description: 'An error; `detail` says what went wrong.' })
export type HTTPError = Static<typeof HTTPError>

export const ValidationIssue = Type.Object({
  loc: Type.Array(Type.Union([Type.String(), Type.Integer()]), { description: 'Where: body, query or path, then the field' }),
  msg: Type.String(),
  type: Type.String()
}, { $id: 'TokenAuth.ValidationIssue' })
export type ValidationIssue = Static<typeof ValidationIssue>

export const HTTPValidationError = Type.Object({
  detail: Type.Array(Type.Unsafe<ValidationIssue>(Type.Ref('TokenAuth.ValidationIssue')))
}, { $id: 'TokenAuth.HTTPValidationError', description: 'The request did not validate; one entry per problem.' })
export type HTTPValidationError = Static<typeof HTTPValidationError>

// RFC 6749 §5.2 error response, with FastAPI's `detail` alongside for tutorial clients.
export const OAuth2Error = Type.Object({
  detail: Type.String(),
  error: Type.Union([
    Type.Literal('invalid_request'),
    Type.Literal('invalid_grant'),
    Type.Literal('unsupported_grant_type'),
    Type.Literal('invalid_scope')
  ]),
  error_description: Type.String()
}, { $id: 'TokenAuth.OAuth2Error' })
export type OAuth2Error = Static<typeof OAuth2Error>

/** When the guards' answers happen, for the responses of every protected operation. */
export const GUARD_RESPONSES = {
  unauthorized: 'No bearer token, or one that is unusable: malformed, expired, of an ended session or of an unknown user',
  inactive: '`Inactive user`: the account is disabled'
} as const
