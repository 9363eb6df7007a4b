import { answerBody, errors, type ErrorAnswer, type ErrorEntry } from '../errors.js'
import { HTTPError, HTTPValidationError, OAuth2Error, type ValidationIssue } from './errors.js'
import { ref } from './ref.js'

// The error responses of the operations, built from the error table: when each status is
// answered, and a named example of each entry it can carry (Swagger UI and ReDoc show them by name).

/** An entry of the table (shown with its documented example), or an answer of one (shown as it is). */
export type Shown = ErrorEntry | ErrorAnswer

export interface ErrorResponseOptions {
  /** When the status is answered, in the operation's words; default: the entries' own. */
  description?: string
  /** RFC 6749's body, with `error` and `error_description` (the token and revocation endpoints). */
  oauth2?: boolean
}

const answerOf = (shown: Shown): ErrorAnswer => 'entry' in shown ? shown : shown.answer(...shown.example)
const camelCase = (name: string) => name.toLowerCase().replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase())
const lowerFirst = (text: string) => /^[A-Z][a-z]/.test(text) ? text[0]?.toLowerCase() + text.slice(1) : text

/** When an answer is given, with its `detail` (and RFC 6749 `error`) and headers in code font. */
function describe (answer: ErrorAnswer, oauth2: boolean): string {
  const { entry, detail } = answer
  const code = oauth2 && entry.error !== undefined ? `\`${entry.error}\`: ` : ''
  const shown = typeof detail === 'string' ? ` (\`${entry.pattern === '' ? detail : entry.pattern}\`)` : ''
  const headers = Object.entries(entry.headerPattern).map(([name, value]) => `\`${name}: ${value}\``)
  return `${code}${entry.when}${shown}${headers.length > 0 ? `, with ${headers.join(' and ')}` : ''}`
}

/**
 * The response of one status (or range, such as `4xx`): one named example per entry, its body
 * as the error handler sends it, and a description saying when each is answered. The `content`
 * form is Fastify's per-media-type response schema, which @fastify/swagger copies as it is: the
 * only way to give one response examples of its own beside a `$ref`.
 */
export function errorResponse (shown: readonly Shown[], options: ErrorResponseOptions = {}) {
  const oauth2 = options.oauth2 === true
  const answers = shown.map(answerOf)
  const list = answers.some((answer) => typeof answer.detail !== 'string')
  const schema = list ? HTTPValidationError : oauth2 ? OAuth2Error : HTTPError
  const examples = Object.fromEntries(answers.map((answer) => {
    const summary = typeof answer.detail === 'string' ? answer.entry.summary : answer.detail[0]?.msg ?? answer.entry.summary
    return [camelCase(answer.entry.name), { summary, value: answerBody(answer, oauth2) }]
  }))
  const description = options.description ??
    answers.map((answer, i) => i === 0 ? describe(answer, oauth2) : lowerFirst(describe(answer, oauth2))).join('; or ')
  return { description, content: { 'application/json': { schema: ref(schema), examples } } }
}

/** The guards' 401, on every operation that needs a bearer token. */
export const unauthorized = errorResponse([errors.NOT_AUTHENTICATED, errors.INVALID_TOKEN])

/** The 403 of a guard that needs scopes the token lacks. */
export const forbidden = errorResponse([errors.INSUFFICIENT_SCOPE])

/** The 400 of the guard that wants an active account, after the operation's own 400s, if any. */
export const badRequest = (...reasons: ErrorEntry[]) => errorResponse([...reasons, errors.INACTIVE_USER])

/** The 422 of an operation with a body, a query or a path: `because` names the rules a schema cannot show. */
export function validationFailed (because: string | undefined, issue: ValidationIssue) {
  return errorResponse([errors.VALIDATION.answer([issue])], {
    description: errors.VALIDATION.when + (because === undefined ? '' : ` (${because})`) + '; `detail` lists every problem'
  })
}

/** The 413 of an operation with a body. */
export const payloadTooLarge = (what: string) => errorResponse([errors.BODY_TOO_LARGE], { description: `The body is larger than ${what} can be` })

/** The 415 of an operation with a JSON body (`curl -d` sends a form unless told otherwise). */
export const unsupportedMediaType = errorResponse([errors.UNSUPPORTED_MEDIA_TYPE])

/** The 429 of a limited operation. */
export const tooManyRequests = (what: string) => errorResponse([errors.TOO_MANY_REQUESTS], {
  description: `Too many ${what} from this address: retry after the \`Retry-After\` seconds`
})

/** The 503 of every operation that reaches the database. */
export const unavailable = errorResponse([errors.UNAVAILABLE])

/**
 * The service's answers to requests that never reach a route (src/service/client-errors.ts): any
 * operation can get them, and one that has no 4xx of its own (the probes) says so.
 */
export const refusedByServer = errorResponse([errors.MALFORMED_REQUEST, errors.REQUEST_TIMEOUT, errors.HEADERS_TOO_LARGE], {
  description: 'The HTTP server refused the request before it reached the operation: malformed HTTP or URL (400), ' +
    'not complete in time (408), or headers over 16 KB (431)'
})
