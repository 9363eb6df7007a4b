import createError from '@fastify/error'
import type { OAuth2Error, ValidationIssue } from './schemas/errors.js'

// The error table: every error the plugin answers or throws, once, with its code, status,
// `detail`, headers and RFC 6749 / RFC 7009 `error`. The error handler, the guards, the OpenAPI
// responses and docs/errors.md all read it.

/** An RFC 6749 §5.2 (and RFC 7009 §2.2.1) error code. */
export type OAuth2ErrorCode = OAuth2Error['error']

/** What an error answers as `detail`: a sentence, or for a 422 the list of problems. */
export type ErrorDetail = string | ValidationIssue[]

/**
 * Who gives the error: `answer`, the plugin's routes and guards; `host`, a host that answers
 * with the entry (the standalone service does); `thrown`, never an answer: thrown to a host's code.
 */
export type ErrorUse = 'answer' | 'host' | 'thrown'

type Headers = Readonly<Record<string, string>>

/** An entry as written in a table, for `defineErrors`. */
export interface ErrorSpec<A extends unknown[] = any[], D extends ErrorDetail = ErrorDetail> {
  /** The HTTP status; for a `thrown` error, the one it gets if it reaches an error handler. */
  status: number
  /** The `detail` (and the thrown error's message), or how to word it from the error's arguments. */
  detail: D | ((...args: A) => D)
  /** Headers sent with the answer (in their usual letter case), or how to make them from the arguments. */
  headers?: Headers | ((...args: A) => Headers)
  /** The RFC 6749 `error`, sent beside `detail` where a route answers OAuth2 errors (the token and revocation endpoints). */
  error?: OAuth2ErrorCode
  /** A few words naming the error, for example titles. */
  summary: string
  /** When it is answered, in a sentence: for the OpenAPI document and docs/errors.md. */
  when: string
  /** More for docs/errors.md only: who else throws it, say. */
  note?: string
  /** Arguments of the documented example, when `detail` is worded from arguments. */
  example?: A
  /** Names of the arguments, shown as `{name}` where docs/errors.md gives the pattern of a worded `detail`. */
  params?: string[]
  /** Default `answer`. */
  use?: ErrorUse
  /** The thrown error's class (default Error). */
  base?: ErrorConstructor
}

/** What answering with an entry sends: its status, its headers and its `detail`. */
export interface ErrorAnswer<D extends ErrorDetail = ErrorDetail> {
  readonly entry: ErrorEntry<any[], D>
  readonly statusCode: number
  readonly headers: Headers
  readonly detail: D
}

/**
 * An error of the table, thrown (made with `@fastify/error`): `code` and `statusCode` as every
 * Fastify error has them, and what the one error handler answers for it.
 */
export interface TokenAuthError<D extends ErrorDetail = ErrorDetail> extends Error {
  readonly code: string
  readonly statusCode: number
  readonly answer: ErrorAnswer<D>
}

/** One error of the table. */
export interface ErrorEntry<A extends unknown[] = any[], D extends ErrorDetail = ErrorDetail> {
  /** Its name in the table, such as `INVALID_TOKEN`. */
  readonly name: string
  /** The stable code of its thrown errors, such as `FST_TOKEN_AUTH_INVALID_TOKEN`: switch on this. */
  readonly code: string
  readonly statusCode: number
  /** The RFC 6749 `error` the token and revocation endpoints send beside `detail`, if any. */
  readonly error: OAuth2ErrorCode | undefined
  readonly summary: string
  readonly when: string
  readonly note: string | undefined
  readonly use: ErrorUse
  /** Arguments of the documented example (none for a fixed `detail`). */
  readonly example: A
  /** The `detail` it answers, worded from the arguments, if any. */
  detail (...args: A): D
  headers (...args: A): Headers
  /** Its `detail` with `{name}` for each argument (the fixed text when it has none; empty for a list). */
  readonly pattern: string
  /** Its headers with `{name}` for each argument. */
  readonly headerPattern: Headers
  /** What answering with it sends: for `sendError`, a host that writes the answer itself, or documentation. */
  answer (...args: A): ErrorAnswer<D>
  /** An error to throw: the package's error handler answers it as `answer` says. */
  create (...args: A): TokenAuthError<D>
  /** True for an error of its code: one `create` made, or another the package throws with it (such as DatabaseUnavailableError). */
  is (error: unknown): error is Error & { readonly code: string }
}

type ArgsOf<S> = S extends { detail: (...args: infer A) => unknown } ? A
  : S extends { headers: (...args: infer A) => unknown } ? A : []
type DetailOf<S> = S extends { detail: (...args: any[]) => infer D extends ErrorDetail } ? D : S extends { detail: infer D extends ErrorDetail } ? D : ErrorDetail
type CheckedSpecs<S> = { [K in keyof S]: S[K] & { example?: ArgsOf<S[K]> } }

/** The entries `defineErrors` makes from the specs of a table. */
export type ErrorTable<S> = { readonly [K in keyof S & string]: ErrorEntry<ArgsOf<S[K]>, DetailOf<S[K]>> }

const messageOf = (detail: ErrorDetail) => typeof detail === 'string' ? detail : detail.map((issue) => issue.msg).join('; ')

/**
 * Makes a table of errors: each entry gets the code `${prefix}${name}` and an `@fastify/error`
 * class for its thrown errors. A host may make a table of its own, answered by the same handler.
 */
export function defineErrors<S extends Record<string, ErrorSpec>> (prefix: string, specs: S & CheckedSpecs<S>): ErrorTable<S> {
  const table: Record<string, ErrorEntry> = {}
  for (const [name, spec] of Object.entries<ErrorSpec>(specs)) {
    const code = `${prefix}${name}`
    const { detail, headers } = spec
    if ((typeof detail === 'function' || typeof headers === 'function') && spec.example === undefined) {
      throw new Error(`${code}: an entry worded from arguments needs an example`)
    }
    // Its stack is captured by `create`, from the caller's frame.
    const FastifyError = createError(code, '%s', spec.status, spec.base, false)
    const detailOf = (...args: unknown[]) => typeof detail === 'function' ? detail(...args) : detail
    const fixedHeaders: Headers = Object.freeze(typeof headers === 'object' ? { ...headers } : {})
    const headersOf = (...args: unknown[]) => typeof headers === 'function' ? headers(...args) : fixedHeaders
    // The patterns: the detail and headers worded with `{name}` for each argument (a list as a list of one).
    const placeholders = (spec.example ?? []).map((arg, i) => {
      const placeholder = `{${spec.params?.[i] ?? `arg${i + 1}`}}`
      return Array.isArray(arg) ? [placeholder] : placeholder
    })
    const shown = detailOf(...placeholders)
    function create (...args: unknown[]): TokenAuthError {
      const answer = entry.answer(...args)
      const error = new FastifyError(messageOf(answer.detail)) as unknown as TokenAuthError
      // Not enumerable: a logged error shows its code and message, not the whole entry.
      Object.defineProperty(error, 'answer', { value: answer })
      Error.captureStackTrace(error, create)
      return error
    }
    const entry: ErrorEntry = Object.freeze({
      name,
      code,
      statusCode: spec.status,
      error: spec.error,
      summary: spec.summary,
      when: spec.when,
      note: spec.note,
      use: spec.use ?? 'answer',
      example: spec.example ?? [],
      pattern: typeof shown === 'string' ? shown : '',
      headerPattern: headersOf(...placeholders),
      detail: detailOf,
      headers: headersOf,
      answer: (...args: unknown[]) => ({ entry, statusCode: spec.status, headers: entry.headers(...args), detail: entry.detail(...args) }),
      create,
      is: (error: unknown): error is Error & { code: string } => error instanceof Error && (error as { code?: unknown }).code === code
    })
    table[name] = entry
  }
  return Object.freeze(table) as ErrorTable<S>
}

/** The answer of an error made by an entry's `create`, or undefined for any other error. */
export function tableErrorOf (error: unknown): ErrorAnswer | undefined {
  if (typeof error !== 'object' || error === null || !('answer' in error)) return undefined
  const answer = (error as { answer: unknown }).answer as Partial<ErrorAnswer> | undefined
  return typeof answer?.statusCode === 'number' && answer.entry !== undefined ? answer as ErrorAnswer : undefined
}

/** The body of an answer: `{"detail"}`, and with `oauth2` RFC 6749's `error` and `error_description` beside it when the entry has one. */
export function answerBody (answer: ErrorAnswer, oauth2 = false): { detail: ErrorDetail, error?: OAuth2ErrorCode, error_description?: string } {
  const { detail, entry } = answer
  if (!oauth2 || entry.error === undefined || typeof detail !== 'string') return { detail }
  return { detail, error: entry.error, error_description: detail }
}

/** The part of a reply `sendError` uses: a Fastify reply of any route or server. */
export interface ErrorReply<R, D extends ErrorDetail = ErrorDetail> {
  code (statusCode: number): R
  headers (values: Record<string, string>): R
  send (payload: { detail: D }): R
}

/**
 * Answers with an entry of the table: its status, its headers and `{"detail": …}`, as the
 * plugin answers it. For a guard, a hook or a handler of a host's own.
 */
export function sendError<R extends ErrorReply<R, D>, A extends unknown[], D extends ErrorDetail> (reply: R, entry: ErrorEntry<A, D>, ...args: A): R {
  const answer = entry.answer(...args)
  return reply.code(answer.statusCode).headers({ ...answer.headers }).send({ detail: answer.detail })
}

/** Headers of every answer of the token and revocation endpoints, errors included (RFC 6749 §5.1). */
export const NO_STORE: Headers = Object.freeze({ 'Cache-Control': 'no-store', Pragma: 'no-cache' })

const CLOSE = { Connection: 'close' }

/** The realm of the introspection endpoint's Basic challenge. */
export const INTROSPECTION_REALM = 'token introspection'
const pluralS = (items: readonly unknown[]) => items.length > 1 ? 's' : ''

/** The errors of the plugin, and those it words for a host (`use: 'host'`). */
export const errors = defineErrors('FST_TOKEN_AUTH_', {
  // The guards, on the plugin's routes and on a host's.
  NOT_AUTHENTICATED: {
    status: 401,
    detail: 'Not authenticated',
    headers: { 'WWW-Authenticate': 'Bearer' },
    summary: 'No bearer token',
    when: 'The bearer token is missing: no `Authorization: Bearer …` header'
  },
  INVALID_TOKEN: {
    status: 401,
    detail: 'Could not validate credentials',
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    summary: 'An unusable bearer token',
    when: 'The bearer token is malformed, expired, revoked, of an ended session or of a user who is gone, or longer than 8192 characters',
    note: 'Unusable is also: a bad signature, another algorithm, no `exp`, `iat`, `sub` or `sid`, an `iat` that is not a number, ' +
      'in the future or older than the token lifetime, another `iss` or `aud`, a future `nbf`. An `Authorization` header over ' +
      '`Bearer ` and 8192 characters is refused unread: not matched, decoded, verified or cached'
  },
  INACTIVE_USER: {
    status: 400,
    detail: 'Inactive user',
    error: 'invalid_grant',
    summary: 'The account is disabled',
    when: 'The account is disabled (at the token endpoint: the refresh token\'s account)'
  },
  INSUFFICIENT_SCOPE: {
    status: 403,
    detail: 'Not enough permissions',
    headers: (scope: string) => ({ 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}"` }),
    example: ['items'],
    params: ['scope'],
    summary: 'A scope the token lacks',
    when: 'The bearer token was not granted every scope the operation needs (RFC 6750 §3.1); `scope` names them',
    note: "FastAPI's scopes chapter answers 401 here"
  },

  // The token and revocation endpoints.
  BAD_CREDENTIALS: {
    status: 401,
    detail: 'Incorrect username or password',
    headers: { 'WWW-Authenticate': 'Bearer' },
    error: 'invalid_grant',
    summary: 'Wrong username or password',
    when: 'Password grant: wrong username or password (the same answer for both, in the same time)',
    note: 'As in the FastAPI tutorial; RFC 6749 would say 400'
  },
  MISSING_FIELD: {
    status: 400,
    detail: (fields: string[]) => `Missing required field${pluralS(fields)}: ${fields.join(', ')}`,
    example: [['password']],
    params: ['fields'],
    error: 'invalid_request',
    summary: 'A field is missing',
    when: 'A field of the form is missing or empty'
  },
  REPEATED_FIELD: {
    status: 400,
    detail: (fields: string[]) => `Field${pluralS(fields)} ${fields.join(', ')} must be given once, as text`,
    example: [['username']],
    params: ['fields'],
    error: 'invalid_request',
    summary: 'A field given twice',
    when: 'A field of the form is given more than once'
  },
  NOT_A_FORM: {
    status: 400,
    detail: 'The request body must be a form (application/x-www-form-urlencoded)',
    error: 'invalid_request',
    summary: 'Not a form',
    when: 'The body is not a form, or is not complete'
  },
  UNSUPPORTED_GRANT_TYPE: {
    status: 400,
    detail: 'Only grant_type=password, refresh_token and urn:fastify-token-auth:grant-type:mfa are supported',
    error: 'unsupported_grant_type',
    summary: 'Another grant type',
    when: 'The grant type is not `password`, `refresh_token` or the second step of a login (`urn:fastify-token-auth:grant-type:mfa`)'
  },
  SCOPE_MALFORMED: {
    status: 400,
    detail: (problem: string) => `Malformed scope: ${problem}`,
    example: ['scope is longer than 1024 characters'],
    params: ['problem'],
    error: 'invalid_request',
    summary: 'A malformed scope',
    when: '`scope` is over 1024 characters, holds a character that is not printable ASCII, or a name with `"` or `\\`'
  },
  CLIENT_ID_MALFORMED: {
    status: 400,
    detail: 'Malformed client_id: at most 255 printable ASCII characters',
    error: 'invalid_request',
    summary: 'A malformed client_id',
    when: '`client_id` is over 255 characters or holds a character that is not printable ASCII (RFC 6749 VSCHAR)'
  },
  SCOPE_UNKNOWN: {
    status: 400,
    detail: (names: string[]) => `Unknown scope${pluralS(names)}: ${names.join(', ')}`,
    example: [['orders:write']],
    params: ['names'],
    error: 'invalid_scope',
    summary: 'An unknown scope',
    when: '`scope` names a scope this server does not define'
  },
  SCOPE_NOT_ALLOWED: {
    status: 400,
    detail: 'None of the requested scopes can be granted to this account',
    error: 'invalid_scope',
    summary: 'No scope to grant',
    when: 'Password grant: the account may have none of the scopes asked for (a non-admin asking for `admin` alone); ' +
      'asked for with others, such a scope is left out of the grant instead'
  },
  SCOPE_WIDENED: {
    status: 400,
    detail: (names: string[]) => `The session was not granted ${names.join(', ')}: a refresh may keep or narrow its scopes, not widen them`,
    example: [['admin']],
    params: ['names'],
    error: 'invalid_scope',
    summary: 'A refresh asking for more',
    when: 'Refresh grant: `scope` names a scope the session was not granted'
  },
  REFRESH_TOKEN_INVALID: {
    status: 400,
    detail: 'The refresh token is invalid or has been revoked',
    error: 'invalid_grant',
    summary: 'An unknown refresh token',
    when: 'Refresh grant: the refresh token is unknown or revoked, or its account is gone'
  },
  SESSION_EXPIRED: {
    status: 400,
    detail: 'The session has expired: log in again',
    error: 'invalid_grant',
    summary: 'An expired session',
    when: 'Refresh grant: the session of the refresh token has expired'
  },
  REFRESH_TOKEN_REUSED: {
    status: 400,
    detail: 'The refresh token was already used: its session has ended, log in again',
    error: 'invalid_grant',
    summary: 'A refresh token used again',
    when: 'Refresh grant: the refresh token was spent before (longer ago than `refreshTokenReuseSeconds`): its session ends'
  },

  // The introspection endpoint (RFC 7662): who may ask.
  INVALID_CLIENT: {
    status: 401,
    detail: 'Introspection needs the Basic credentials of a resource server, or a bearer token granted admin',
    headers: { 'WWW-Authenticate': `Basic realm="${INTROSPECTION_REALM}"` },
    error: 'invalid_client',
    summary: 'No or bad caller credentials',
    when: 'Introspection: the caller gave no credentials, a resource server\'s id or secret that does not match, or a bearer ' +
      'token that is unusable (expired, revoked, of a disabled account)',
    note: 'Each such refusal writes one `introspection.refused` audit line (never the credentials)'
  },
  INTROSPECTION_SCOPE: {
    status: 403,
    detail: 'Introspection with a bearer token needs the admin scope',
    headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="admin"' },
    error: 'insufficient_scope',
    summary: 'A bearer token without admin',
    when: 'Introspection: the caller\'s bearer token is valid but was not granted the `admin` scope',
    note: 'Authenticated but not allowed, so 403 (RFC 6750 §3.1), where a caller without usable credentials gets 401 `invalid_client`'
  },

  // The account routes.
  CURRENT_PASSWORD_INCORRECT: {
    status: 400,
    detail: 'Current password is incorrect',
    summary: 'The current password is wrong',
    when: 'The current password given is wrong: nothing changed',
    note: 'At `POST /users/me/password`'
  },
  PASSWORD_INCORRECT: {
    status: 400,
    detail: 'Password is incorrect',
    summary: 'The password is wrong',
    when: 'The password given to confirm is wrong: nothing was deleted',
    note: 'At `DELETE /users/me/`'
  },
  SESSION_NOT_FOUND: {
    status: 404,
    detail: 'Session not found',
    summary: 'No such session',
    when: 'The user has no live session of that id (another user\'s is not found either)',
    note: 'Never 403'
  },
  REGISTRATION_CLOSED: {
    status: 403,
    detail: 'Registration is closed',
    summary: 'Registration is closed',
    when: 'Registration is closed on this server'
  },
  USERNAME_TAKEN: {
    status: 409,
    detail: 'Username already registered',
    summary: 'The username is taken',
    when: 'The username is taken, in some letter case (`Tim` is taken when `tim` exists)',
    note: 'So open registration tells whether a name exists: close it where that matters. A store\'s `UsernameTakenError` has this code'
  },

  // Any route.
  VALIDATION: {
    status: 422,
    detail: (issues: ValidationIssue[]) => issues,
    example: [[{ loc: ['body', 'username'], msg: 'Field required', type: 'missing' }]],
    params: ['issues'],
    summary: 'Field required',
    when: 'The request\'s body, query or path failed validation',
    note: 'As FastAPI answers it: one entry per problem of the part that failed. A new password outside 8 to 72 bytes, too common ("This password is too common"), ' +
      'or the same as the current one, is such a problem, its `msg` saying why'
  },
  BODY_TOO_LARGE: {
    status: 413,
    detail: 'Request body is too large',
    error: 'invalid_request',
    summary: 'The body is too large',
    when: 'The body is larger than the operation accepts'
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    detail: 'Unsupported Media Type',
    summary: 'Not JSON',
    when: 'The body is not JSON: send it with `Content-Type: application/json`'
  },
  TOO_MANY_REQUESTS: {
    status: 429,
    detail: (seconds: number) => `Too many requests: retry in ${seconds} s`,
    headers: (seconds: number) => ({ 'Retry-After': String(seconds) }),
    example: [42],
    params: ['seconds'],
    error: 'invalid_request',
    summary: 'Over the limit',
    when: 'Too many requests from this address, or too many failed logins for this username: retry after the `Retry-After` seconds'
  },
  CLIENT_ERROR: {
    status: 400,
    detail: (message: string) => message,
    example: ['Request body size did not match Content-Length'],
    params: ['message'],
    summary: 'Refused by Fastify',
    when: 'Another refusal of the request by Fastify or a host\'s plugin: its own 4xx status and message'
  },
  UNAVAILABLE: {
    status: 503,
    detail: 'Service unavailable',
    summary: 'The database is down',
    when: 'The database is unavailable or slower than its timeout (a SQLite file on a full disk, read-only, failing, deleted ' +
      'or replaced too): nothing was done, retry later',
    note: 'Logged at warn with the reason; the service recovers by itself when the database is back (a deleted or replaced ' +
      'file takes a restart). A store\'s failure thrown to a host (`DatabaseUnavailableError`) has this code'
  },
  INTERNAL: {
    status: 500,
    detail: 'Internal Server Error',
    summary: 'An unexpected failure',
    when: 'An unexpected failure: logged as an error, nothing internal in the answer'
  },

  // For a host: the standalone service answers these.
  NOT_FOUND: {
    status: 404,
    detail: 'Not Found',
    use: 'host',
    summary: 'No such path',
    when: 'No route has that path (the error plugin\'s `notFound` option)'
  },
  MALFORMED_REQUEST: {
    status: 400,
    detail: 'Malformed HTTP request',
    headers: CLOSE,
    use: 'host',
    summary: 'Malformed HTTP',
    when: 'Node\'s HTTP parser refused the request (a bad header, a bad chunk size): the connection closes',
    note: 'Logged at debug with the parser\'s code only, never the bytes received. Requests received whole before the bad ' +
      'bytes on the same connection are answered first, in order'
  },
  REQUEST_TIMEOUT: {
    status: 408,
    detail: 'The request did not arrive in time',
    headers: CLOSE,
    use: 'host',
    summary: 'Too slow',
    when: 'The request line and headers did not arrive within the server\'s `headersTimeout` or `requestTimeout`',
    note: 'In the service, headers within 20 s and the whole request line and headers within `requestTimeout` (30 s), checked every second'
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    detail: 'The request headers are too large (at most 16 KB in all)',
    headers: CLOSE,
    use: 'host',
    summary: 'Headers too large',
    when: 'The request line and headers are over 16 KB in all (Node\'s `maxHeaderSize`)'
  },
  BODY_TIMEOUT: {
    status: 408,
    detail: 'The request body did not arrive in time',
    headers: CLOSE,
    use: 'host',
    summary: 'A body too slow',
    when: 'The body did not arrive within `requestTimeout` of the headers: the connection closes',
    note: 'Node no longer times a request once Fastify has it. A request already answered (a guard\'s 401, say) just loses ' +
      'its connection; a request without a body costs no timer'
  },
  BAD_URL: {
    status: 400,
    detail: 'The URL is malformed: a percent-escape does not decode',
    use: 'host',
    summary: 'A malformed URL',
    when: 'A percent-escape in the URL does not decode (the path is not echoed: it may hold a token)'
  },
  PARAM_TOO_LONG: {
    status: 414,
    detail: 'A path parameter is too long',
    use: 'host',
    summary: 'A path parameter too long',
    when: 'A path parameter is longer than the router accepts'
  },

  // The admin API (and the accounts module's admin operations, `by.actor` naming an
  // administrator's account): an administrator's change of their own account is refused.
  OWN_ADMIN_RIGHTS: {
    status: 400,
    detail: 'An admin cannot remove their own admin rights',
    summary: 'Removing one\'s own admin rights',
    when: 'An administrator sets their own `is_admin` to false (also thrown by `accounts.setAdmin` and `accounts.adminUpdate` when `by.actor` names the account): nothing changed',
    note: 'So the last administrator cannot lock everyone out by accident: another administrator, or the CLI, can do it'
  },
  OWN_ACCOUNT_DISABLED: {
    status: 400,
    detail: 'An admin cannot disable their own account',
    summary: 'Disabling oneself',
    when: 'An administrator sets their own `disabled` to true (also thrown by `accounts.disable` and `accounts.adminUpdate` when `by.actor` names the account): nothing changed'
  },
  OWN_ACCOUNT_DELETED: {
    status: 400,
    detail: 'An admin cannot delete their own account',
    summary: 'Deleting oneself',
    when: 'An administrator deletes their own account through the admin API (also thrown by `accounts.delete` when `by.actor` names the account): nothing changed',
    note: '`DELETE /users/me/`, with the password, is how an administrator deletes their own account'
  },
  USER_NOT_FOUND: {
    status: 404,
    detail: 'User not found',
    summary: 'No such user',
    when: 'No account has that username'
  },

  // Account recovery: password reset and email verification.
  RECOVERY_TOKEN_INVALID: {
    status: 400,
    detail: 'Invalid or expired token',
    summary: 'A reset or verification token that is no good',
    when: 'The token of a password reset or an email verification is unknown, used already, expired or replaced by a newer one ' +
      '(a verification\'s also when the account\'s email changed since): nothing changed',
    note: 'Ask for a new mail'
  },
  EMAIL_NOT_VERIFIED: {
    status: 403,
    detail: 'Email not verified',
    error: 'invalid_grant',
    summary: 'The account\'s email is not verified',
    when: 'Password grant, with `requireVerifiedEmail`: the password is right, but the account has no verified email: no session was opened',
    note: 'A wrong password answers 401 as ever: this tells nothing until the password is right'
  },
  EMAIL_MISSING: {
    status: 400,
    detail: 'The account has no email address',
    summary: 'No address to verify',
    when: 'A verification mail is asked for (or an administrator sets `email_verified`) for an account without an email address: nothing changed'
  },
  EMAIL_ALREADY_VERIFIED: {
    status: 400,
    detail: 'Email already verified',
    summary: 'Nothing to verify',
    when: 'A verification mail is asked for, but the account\'s email is verified already: no mail was sent'
  },

  MFA_REQUIRED: {
    status: 403,
    detail: 'A second factor is required: send a code from the authenticator app, or a recovery code, with the mfa_token',
    error: 'mfa_required',
    summary: 'The password was right; a second factor is needed',
    when: 'Password grant of an account with TOTP on: the password is right, and no session was opened. The body carries an `mfa_token` ' +
      'for the second step (`grant_type=urn:fastify-token-auth:grant-type:mfa`)',
    note: 'A wrong password answers 401 as ever: this tells nothing until the password is right'
  },
  MFA_TOKEN_MALFORMED: {
    status: 400,
    detail: 'Malformed mfa_token: send it as the password step gave it',
    error: 'invalid_request',
    summary: 'Not an mfa_token',
    when: 'Second step: `mfa_token` is not 43 base64url characters: nothing was spent'
  },
  MFA_TOKEN_INVALID: {
    status: 400,
    detail: 'Invalid or expired mfa_token: log in again',
    error: 'invalid_grant',
    summary: 'An mfa_token that is no good',
    when: 'Second step: the `mfa_token` is unknown, used already, older than 5 minutes, or spent by 5 wrong codes; or the account ' +
      'changed since the password step (a new password, disabled, deleted, its second factor turned off)'
  },
  OTP_MALFORMED: {
    status: 400,
    detail: 'The code must be 6 digits',
    error: 'invalid_request',
    summary: 'Not a TOTP code',
    when: 'A TOTP code that is not six digits: nothing was checked or counted'
  },
  RECOVERY_CODE_MALFORMED: {
    status: 400,
    detail: 'Malformed recovery code: 16 letters and digits, as they were shown (hyphens optional)',
    error: 'invalid_request',
    summary: 'Not a recovery code',
    when: 'A recovery code of another shape: nothing was checked or counted'
  },
  MFA_CODE_CONFLICT: {
    status: 400,
    detail: 'Send otp or recovery_code, not both',
    error: 'invalid_request',
    summary: 'Two codes',
    when: 'Second step: both `otp` and `recovery_code` were given: nothing was checked'
  },
  OTP_INVALID: {
    status: 400,
    detail: 'Invalid code',
    error: 'invalid_grant',
    summary: 'A wrong TOTP code',
    when: 'The TOTP code is not the one for now (or a step either side): counted against the `mfa_token` and the account\'s limit'
  },
  OTP_REPLAYED: {
    status: 400,
    detail: 'Code already used: wait for the next one',
    error: 'invalid_grant',
    summary: 'A TOTP code used before',
    when: 'The TOTP code is right but was accepted once already, or an older one was (RFC 6238 §5.2): counted as a wrong code'
  },
  RECOVERY_CODE_INVALID: {
    status: 400,
    detail: 'Invalid recovery code',
    error: 'invalid_grant',
    summary: 'A wrong recovery code',
    when: 'The recovery code is not one of the account\'s: counted against the `mfa_token` and the account\'s limit'
  },
  RECOVERY_CODE_USED: {
    status: 400,
    detail: 'Recovery code already used',
    error: 'invalid_grant',
    summary: 'A spent recovery code',
    when: 'The recovery code was spent before: counted as a wrong code'
  },
  MFA_ALREADY_ENABLED: {
    status: 409,
    detail: 'TOTP is already on: turn it off first to enrol another authenticator',
    summary: 'TOTP is on already',
    when: 'An enrolment was asked for while the account\'s TOTP is on: nothing changed'
  },
  MFA_NOT_PENDING: {
    status: 400,
    detail: 'No TOTP enrolment is waiting for a code: start one with POST /users/me/mfa/totp',
    summary: 'Nothing to confirm',
    when: 'A first code was sent, but no enrolment is pending (none was started, or TOTP is on already)'
  },
  MFA_NOT_ENABLED: {
    status: 400,
    detail: 'TOTP is not on',
    summary: 'No second factor',
    when: 'New recovery codes, or turning TOTP off, for an account whose TOTP is not on: nothing changed'
  },
  TOTP_SECRET_SEALED: {
    status: 500,
    detail: (username: string) => `fastify-token-auth: the TOTP secret of ${username} cannot be opened with this secret: was the secret changed without the CLI's rekey (a host: resealSecrets)?`,
    example: ['johndoe'],
    params: ['username'],
    use: 'thrown',
    summary: 'A TOTP secret sealed under another secret',
    when: 'The stored TOTP secret of an account does not open with the plugin\'s secret: its codes cannot be checked, and nothing is let through'
  },

  // Thrown to a host, never answered.
  OPTIONS: {
    status: 500,
    detail: (problem: string) => `fastify-token-auth: ${problem}`,
    example: ['secret must be a string of at least 32 bytes, got a string of 9 bytes'],
    params: ['problem'],
    use: 'thrown',
    summary: 'A bad option',
    when: 'Registering the plugin with an option it refuses: the message says which and why'
  },
  UNDEFINED_SCOPE: {
    status: 500,
    detail: (names: string[]) => `fastify-token-auth: requireScopes names ${names.map((name) => `'${name}'`).join(', ')}, ` +
      'no scope of the plugin: define it with the scopes option',
    example: [['orders']],
    params: ['names'],
    use: 'thrown',
    summary: 'A guard for an undefined scope',
    when: 'A route registered after the plugin asks `requireScopes` for a scope the plugin does not define: start-up fails. ' +
      'Registered before it, the route answers 500 and logs this'
  },
  UNKNOWN_USER: {
    status: 500,
    detail: (username: string) => `fastify-token-auth: no user named ${username}`,
    example: ['johndoe'],
    params: ['username'],
    use: 'thrown',
    summary: 'No such user',
    when: '`issueToken` for a username that has no account'
  },
  PASSWORD_RULE: {
    status: 500,
    detail: (problem: string) => `fastify-token-auth: ${problem}`,
    example: ['Password must be at least 8 bytes long (UTF-8)'],
    params: ['problem'],
    use: 'thrown',
    base: RangeError,
    summary: 'A password that breaks the rule',
    when: 'A new password outside 8 to 72 bytes (UTF-8) or on the list of common passwords, for `hashPassword` or `accounts`: a `PasswordRuleError`, a `RangeError`'
  },
  ACCOUNT_RULE: {
    status: 500,
    detail: (problems: string) => `fastify-token-auth: ${problems}`,
    example: ['email must match format "email"'],
    params: ['problems'],
    use: 'thrown',
    summary: 'An account that breaks the rules',
    when: 'An account for `accounts.create` or `accounts.update` breaks a rule of `POST /users/`: an `AccountRuleError`, whose `issues` name each'
  },
  STORE_LACKS: {
    status: 500,
    detail: (method: string) => `fastify-token-auth: the user store has no ${method} method`,
    example: ['setAdmin'],
    params: ['method'],
    use: 'thrown',
    summary: 'The store cannot do it',
    when: 'An admin operation of `accounts` needs an optional method the host\'s user store lacks: `setAdmin`, or `page` (or `list`) for `accounts.list`'
  },
  PAGE_RANGE: {
    status: 500,
    detail: (problem: string) => `fastify-token-auth: ${problem}`,
    example: ['limit must be a whole number from 1 to 1000, got 0'],
    params: ['problem'],
    use: 'thrown',
    base: RangeError,
    summary: 'A page out of range',
    when: '`accounts.list` with a `limit` outside 1 to 1000, an `offset` that is not a whole number from 0, or a `prefix` over 64 characters: a `RangeError`'
  },
  BACKUP: {
    status: 500,
    detail: (problem: string) => problem,
    example: ['backup copies a SQLite database file; for PostgreSQL use pg_dump'],
    params: ['problem'],
    use: 'thrown',
    summary: 'No backup written',
    when: '`backupSqliteDatabase` wrote no backup: a `BackupError`, whose message says what to do'
  },
  ROTATION_NEEDS_KEY_PAIR: {
    status: 500,
    detail: 'fastify-token-auth: HS256 has no key pair to rotate: change the secret, or sign with ES256, EdDSA or RS256',
    use: 'thrown',
    summary: 'Nothing to rotate',
    when: '`app.tokenAuth.keys.rotate()` (or `rotate-key`) under HS256'
  },
  KEYS_SEALED: {
    status: 500,
    detail: (kid: string) => `fastify-token-auth: the signing key ${kid} in the database was sealed under another secret. Start with the secret it was sealed with, or seal the keys again under this one: \`fastify-token-auth rekey\` with the previous secret on stdin (a host calls resealSecrets(db, previousSecret, secret))`,
    example: ['NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'],
    params: ['kid'],
    use: 'thrown',
    summary: 'Keys sealed under another secret',
    when: 'Start-up with an asymmetric `algorithm`, when the secret does not open the key that signs now or one waiting to: the instance does not start'
  },
  MISSING_PACKAGE: {
    status: 500,
    detail: (use: string, name: string, major: number) => `fastify-token-auth: ${use} needs the optional ${name} package: npm install ${name}@${major}`,
    example: ['a sqlite: database', 'better-sqlite3', 12],
    params: ['use', 'package', 'major'],
    use: 'thrown',
    summary: 'An optional package not installed',
    when: 'Opening a `sqlite:` database without `better-sqlite3` installed, or a `postgres://` one without `pg` (the service: ' +
      '`REDIS_URL` without `ioredis`): the message names the command that installs it'
  }
})
