import type { Static, TSchema } from '@sinclair/typebox'
import { HTTPError, HTTPValidationError, OAuth2Error, type ValidationIssue } from './errors.js'
import { ref } from './ref.js'

// The error responses of the operations, each declared once: when the status is answered, and
// an example of each `detail` it can carry (Swagger UI and ReDoc show them by name).

export interface Example<T> {
  summary: string
  value: T
}

/**
 * A JSON response of a shared schema, saying when it is answered, with named examples. The
 * `content` form is Fastify's per-media-type response schema, which @fastify/swagger copies as
 * it is: the only way to give one response examples of its own beside a `$ref`.
 */
export function jsonResponse<T extends TSchema> (schema: T, description: string, examples: Record<string, Example<Static<T>>>) {
  return { description, content: { 'application/json': { schema: ref(schema), examples } } }
}

const example = <T> (summary: string, value: T): Example<T> => ({ summary, value })
const detail = (summary: string, text: string) => example(summary, { detail: text })

const INACTIVE = 'The account is disabled (`Inactive user`)'
const inactiveUser = detail('The account is disabled', 'Inactive user')

/** The guards' 401, on every operation that needs a bearer token. */
export const unauthorized = jsonResponse(HTTPError,
  'The bearer token is missing (`Not authenticated`), or malformed, expired, revoked, of an ended session or of a user ' +
  'who is gone (`Could not validate credentials`); `WWW-Authenticate: Bearer` says so too', {
    notAuthenticated: detail('No bearer token', 'Not authenticated'),
    invalidToken: detail('An unusable bearer token', 'Could not validate credentials')
  })

/** The 400 of the guard that wants an active account, after the operation's own reasons for a 400, if any. */
export function badRequest (reasons: Array<{ when: string, name: string, detail: string }> = []) {
  const examples: Record<string, Example<HTTPError>> = {}
  for (const reason of reasons) examples[reason.name] = detail(reason.detail, reason.detail)
  examples.inactiveUser = inactiveUser
  return jsonResponse(HTTPError, [...reasons.map((reason) => reason.when), INACTIVE].join(', or '), examples)
}

/** The 422 of an operation with a body, a query or a path: `because` names the rules a schema cannot show. */
export function validationFailed (because: string | undefined, issue: ValidationIssue) {
  return jsonResponse(HTTPValidationError,
    'The request\'s body, query or path failed validation' + (because === undefined ? '' : ` (${because})`) + '; `detail` lists every problem',
    { invalid: example(issue.msg, { detail: [issue] }) })
}

/** The 413 of an operation with a body. */
export const payloadTooLarge = (what: string) => jsonResponse(HTTPError, `The body is larger than ${what} can be`, {
  tooLarge: detail('The body is too large', 'Request body is too large')
})

/** The 415 of an operation with a JSON body (`curl -d` sends a form unless told otherwise). */
export const unsupportedMediaType = jsonResponse(HTTPError,
  'The body is not JSON: send it with `Content-Type: application/json`', {
    notJson: detail('Not JSON', 'Unsupported Media Type')
  })

/** The 429 of a limited operation. */
export const tooManyRequests = (what: string) => jsonResponse(HTTPError,
  `Too many ${what} from this address: retry after the \`Retry-After\` seconds`, {
    limited: detail('Over the limit', 'Too many requests: retry in 42 s')
  })

/** The 503 of every operation that reaches the database. */
export const unavailable = jsonResponse(HTTPError,
  'The database is unavailable or slower than its timeout: nothing was done, retry later', {
    unavailable: detail('The database is down', 'Service unavailable')
  })

/**
 * The service's answers to requests that never reach a route (src/service/client-errors.ts): any
 * operation can get them, and one that has no 4xx of its own (the probes) says so.
 */
export const refusedByServer = jsonResponse(HTTPError,
  'The HTTP server refused the request before it reached the operation: malformed HTTP or URL (400), ' +
  'not complete in time (408), or headers over 16 KB (431)', {
    malformed: detail('Malformed HTTP', 'Malformed HTTP request'),
    tooSlow: detail('Too slow', 'The request did not arrive in time'),
    headersTooLarge: detail('Headers too large', 'The request headers are too large (at most 16 KB in all)')
  })

/** An RFC 6749 error of the token and revocation endpoints. */
export function oauth2Error (description: string, examples: Record<string, Example<OAuth2Error>>) {
  return jsonResponse(OAuth2Error, description, examples)
}

/** An RFC 6749 error example: its code and description (which `detail` repeats). */
export const oauth2Example = (summary: string, error: OAuth2Error['error'], description: string): Example<OAuth2Error> =>
  example(summary, { detail: description, error, error_description: description })
