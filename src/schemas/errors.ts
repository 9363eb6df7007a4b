import { Type, type Static } from '@sinclair/typebox'
import { answerBody, errors } from '../errors.js'

// The schemas' own examples come from the error table too.
const notAuthenticated = errors.NOT_AUTHENTICATED.detail()
const badCredentials = answerBody(errors.BAD_CREDENTIALS.answer(), true)

export const HTTPError = Type.Object({
  detail: Type.String({ description: 'What went wrong, or what to fix', examples: [notAuthenticated] })
}, { $id: 'TokenAuth.HTTPError', description: 'An error; `detail` says what went wrong.', examples: [{ detail: notAuthenticated }] })
export type HTTPError = Static<typeof HTTPError>

const issueExample = { loc: ['body', 'username'], msg: 'Field required', type: 'missing' }

export const ValidationIssue = Type.Object({
  loc: Type.Array(Type.Union([Type.String(), Type.Integer()]), { description: 'Where: body, query or path, then the field', examples: [['body', 'username']] }),
  msg: Type.String({ description: 'What is wrong with it', examples: ['Field required'] }),
  type: Type.String({ description: 'The kind of problem, for programs', examples: ['missing'] })
}, { $id: 'TokenAuth.ValidationIssue', description: 'One problem with the request.', examples: [issueExample] })
export type ValidationIssue = Static<typeof ValidationIssue>

export const HTTPValidationError = Type.Object({
  detail: Type.Array(Type.Unsafe<ValidationIssue>(Type.Ref('TokenAuth.ValidationIssue')), { description: 'Every problem found', examples: [[issueExample]] })
}, { $id: 'TokenAuth.HTTPValidationError', description: 'The request did not validate; one entry per problem.', examples: [{ detail: [issueExample] }] })
export type HTTPValidationError = Static<typeof HTTPValidationError>

// RFC 6749 §5.2 error response, with FastAPI's `detail` alongside for tutorial clients.
export const OAuth2Error = Type.Object({
  detail: Type.String({ description: 'The same as `error_description`, for clients of the FastAPI tutorial', examples: [badCredentials.detail] }),
  error: Type.Union([
    Type.Literal('invalid_request'),
    Type.Literal('invalid_grant'),
    Type.Literal('unsupported_grant_type'),
    Type.Literal('invalid_scope'),
    Type.Literal('invalid_client'),
    Type.Literal('insufficient_scope'),
    Type.Literal('mfa_required')
  ], { description: 'The RFC 6749 error code (RFC 6750\'s `insufficient_scope` at the introspection endpoint; `mfa_required` when a password grant needs its second step)', examples: ['invalid_grant'] }),
  error_description: Type.String({ description: 'What went wrong, for people', examples: [badCredentials.error_description] })
}, {
  $id: 'TokenAuth.OAuth2Error',
  description: 'An OAuth2 error (RFC 6749 §5.2).',
  examples: [badCredentials]
})
export type OAuth2Error = Static<typeof OAuth2Error>
