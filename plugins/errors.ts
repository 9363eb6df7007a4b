import type { FastifyContextConfig, FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { COMMON_PASSWORD_PROBLEM } from '../src/accounts/common-passwords.js'
import { passwordLengthProblem, type PasswordRuleError } from '../src/accounts/passwords.js'
import { isUnavailable, unavailableReason } from '../src/db/errors.js'
import { answerBody, errors, sendError, tableErrorOf, type ErrorAnswer, type ErrorReply } from '../src/errors.js'
import type { ValidationIssue } from '../src/schemas/errors.js'

/**
 * How the error handler words a route's errors: `detail`, FastAPI's `{"detail": …}`; `oauth2`,
 * RFC 6749 §5.2's (the token and revocation endpoints): a client's error is a 400
 * `invalid_request` unless the table gives it an `error` of its own, and the body has `error`
 * and `error_description` beside `detail`.
 */
export type ErrorFormat = 'detail' | 'oauth2'

/** The route config that selects the OAuth2 wording: `config: { ...OAUTH2_ERRORS }`. */
export const OAUTH2_ERRORS = { tokenAuthErrors: 'oauth2' } as const satisfies { tokenAuthErrors: ErrorFormat }

/**
 * A route's config (`config: newPasswordFields({ password: 'password_length' })`) naming its
 * body's new-password fields, each with the `type` of its issue: a 422 for any other field lists
 * the password's length problem too (8 to 72 bytes in UTF-8, a rule no schema keyword a host's
 * Ajv accepts can state), so one answer names every problem.
 */
export function newPasswordFields (fields: Record<string, string>): FastifyContextConfig & { tokenAuthNewPasswords: Record<string, string> } {
  return { tokenAuthNewPasswords: fields }
}

/** The 422 of a new password at `body.<field>` that breaks a rule: `password_too_common` for a listed one, else `type`. */
export function passwordRuleAnswer (error: PasswordRuleError, field: string, type: string) {
  return errors.VALIDATION.create([{ loc: ['body', field], msg: error.problem, type: error.problem === COMMON_PASSWORD_PROBLEM ? 'password_too_common' : type }])
}

/**
 * Refuses a JSON body with fields its schema does not name (422, one issue each): the validator
 * would drop them, and a client that misspelt a field would never hear of it.
 */
export function onlyFieldsOf (schema: { properties: Record<string, unknown> }) {
  const known = new Set(Object.keys(schema.properties))
  return async function onlyKnownFields (request: FastifyRequest): Promise<void> {
    const body = request.body
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return
    const extra = Object.keys(body).filter((field) => !known.has(field))
    if (extra.length > 0) throw errors.VALIDATION.create(extra.map((field) => ({ loc: ['body', field], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' })))
  }
}

interface ErrorRouteConfig {
  tokenAuthErrors?: ErrorFormat
  tokenAuthNewPasswords?: Record<string, string>
}

const routeConfigOf = (request: FastifyRequest) => (request.routeOptions.config ?? {}) as ErrorRouteConfig

function formatOf (request: FastifyRequest): ErrorFormat {
  return routeConfigOf(request).tokenAuthErrors ?? 'detail'
}

/** The length problems of a body's new passwords that its schema's issues do not already name. */
function passwordIssues (request: FastifyRequest, error: FastifyError, issues: readonly ValidationIssue[]): ValidationIssue[] {
  const fields = routeConfigOf(request).tokenAuthNewPasswords
  const body = request.body as Record<string, unknown> | null | undefined
  if (fields === undefined || error.validationContext !== 'body' || typeof body !== 'object' || body === null) return []
  const named = new Set(issues.map((issue) => issue.loc.join('.')))
  return Object.entries(fields).flatMap(([field, type]) => {
    const value = body[field]
    const msg = typeof value === 'string' && !named.has(`body.${field}`) ? passwordLengthProblem(value) : undefined
    return msg === undefined ? [] : [{ loc: ['body', field], msg, type }]
  })
}

interface AjvIssue {
  instancePath: string
  keyword: string
  params: Record<string, unknown>
  message?: string
}

const CONTEXTS: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }

/** Where an ajv error points, as FastAPI writes it: `["body", "title"]`. */
export function issueLocation (context: string | undefined, issue: AjvIssue): Array<string | number> {
  const path = issue.instancePath.split('/').slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => /^\d+$/.test(part) ? Number(part) : part)
  if (issue.keyword === 'required') path.push(String(issue.params.missingProperty))
  if (issue.keyword === 'additionalProperties') path.push(String(issue.params.additionalProperty))
  return [CONTEXTS[context ?? 'body'] ?? context ?? 'body', ...path]
}

/** A message and a type in FastAPI's words for each ajv keyword. */
function describe (issue: AjvIssue): { msg: string, type: string } {
  const p = issue.params
  switch (issue.keyword) {
    case 'required': return { msg: 'Field required', type: 'missing' }
    case 'minLength': return { msg: `String should have at least ${String(p.limit)} character${p.limit === 1 ? '' : 's'}`, type: 'string_too_short' }
    case 'maxLength': return { msg: `String should have at most ${String(p.limit)} characters`, type: 'string_too_long' }
    case 'minimum': return { msg: `Input should be greater than or equal to ${String(p.limit)}`, type: 'greater_than_equal' }
    case 'maximum': return { msg: `Input should be less than or equal to ${String(p.limit)}`, type: 'less_than_equal' }
    case 'pattern': return { msg: `String should match pattern '${String(p.pattern)}'`, type: 'string_pattern_mismatch' }
    case 'format': return { msg: `Input should be a valid ${String(p.format)}`, type: `${String(p.format)}_invalid` }
    case 'additionalProperties': return { msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }
    case 'type': {
      const expected = String(p.type)
      const names: Record<string, string> = { integer: 'a valid integer', number: 'a valid number', string: 'a valid string', boolean: 'a valid boolean', object: 'a valid object', array: 'a valid list', null: 'null' }
      return { msg: `Input should be ${names[expected] ?? expected}`, type: `${expected === 'integer' ? 'int' : expected}_type` }
    }
    default: return { msg: issue.message ?? 'Invalid value', type: issue.keyword }
  }
}

export function validationIssues (error: FastifyError): ValidationIssue[] {
  const issues = (error.validation ?? []) as AjvIssue[]
  // A union (such as `string | null`) fails once per branch; keep one issue per location.
  const seen = new Set<string>()
  const result: ValidationIssue[] = []
  for (const issue of issues) {
    if (issue.keyword === 'anyOf' || issue.keyword === 'oneOf') continue
    const loc = issueLocation(error.validationContext, issue)
    const key = JSON.stringify(loc)
    if (seen.has(key)) continue
    seen.add(key)
    result.push({ loc, ...describe(issue) })
  }
  return result
}

/** The 400 of a form that failed its schema: the fields missing, or those given twice; undefined when it names no field. */
function formFieldAnswer (error: FastifyError): ErrorAnswer | undefined {
  const issues = error.validation ?? []
  const missing = issues.filter((issue) => issue.keyword === 'required').map((issue) => String(issue.params.missingProperty))
  if (missing.length > 0) return errors.MISSING_FIELD.answer(missing)
  const fields = [...new Set(issues.map((issue) => issue.instancePath.replace(/^\//, '')).filter((field) => field !== ''))]
  return fields.length > 0 ? errors.REPEATED_FIELD.answer(fields) : undefined
}

/** The table's answer to an error that is the client's doing (or a route's on purpose); undefined for a failure of ours. */
function answerOf (error: FastifyError, request: FastifyRequest, format: ErrorFormat): ErrorAnswer | undefined {
  // Whatever was thrown (a store may reject with nothing at all).
  if (typeof error !== 'object' || error === null) return undefined
  const listed = tableErrorOf(error)
  // An error meant only for a host's code is a failure here, whatever its status.
  if (listed !== undefined) return listed.entry.use === 'thrown' ? undefined : listed
  if (error.validation !== undefined) {
    if (format === 'oauth2') return formFieldAnswer(error) ?? errors.NOT_A_FORM.answer()
    const issues = validationIssues(error)
    return errors.VALIDATION.answer([...issues, ...passwordIssues(request, error, issues)])
  }
  switch (error.code) {
    // FastAPI answers a body that is not JSON at all like any other invalid body: 422.
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return errors.VALIDATION.answer([{ loc: ['body'], msg: `JSON decode error: ${error.message}`, type: 'json_invalid' }])
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return errors.VALIDATION.answer([{ loc: ['body'], msg: 'Field required', type: 'missing' }])
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return errors.BODY_TOO_LARGE.answer()
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return errors.UNSUPPORTED_MEDIA_TYPE.answer()
  }
  // A database failure has a 5xx (or no) status; a client's connection error (ECONNRESET from a
  // body cut short) is the client's doing, whatever its code says.
  const status = error.statusCode ?? 500
  // Fastify's other refusals (and a host plugin's) keep their status and say what is wrong.
  if (status >= 400 && status < 500) return { ...errors.CLIENT_ERROR.answer(error.message), statusCode: status }
  return undefined
}

/**
 * The one error handler: every answer comes from the error table, `{"detail": …}` (FastAPI's
 * 422 for validation), or with RFC 6749's fields on a route whose config asks for them
 * (OAUTH2_ERRORS); nothing internal in a 5xx.
 */
export function errorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const format = formatOf(request)
  const found = answerOf(error, request, format)
  if (found === undefined) return sendServerError(error, request, reply)
  // RFC 6749 has no 422 and no code for most of Fastify's refusals: they are an invalid_request.
  const answer = format === 'oauth2' && found.entry.error === undefined && found.statusCode < 500 ? errors.NOT_A_FORM.answer() : found
  return reply.code(answer.statusCode).headers({ ...answer.headers }).send(answerBody(answer, format === 'oauth2'))
}

/**
 * Answers a failure that is not the client's doing: 503 for an unavailable dependency (logged at
 * warn with the reason: unreachable, full, read-only, deleted), else 500, logged as an error;
 * nothing internal in the body.
 */
export function sendServerError<R extends ErrorReply<R>> (error: unknown, request: Pick<FastifyRequest, 'log'>, reply: R): R {
  if (isUnavailable(error) || (error as { statusCode?: unknown } | null)?.statusCode === 503) {
    request.log.warn({ err: error, reason: unavailableReason(error) }, 'database unavailable')
    return sendError(reply, errors.UNAVAILABLE)
  }
  request.log.error({ err: error }, 'request failed')
  return sendError(reply, errors.INTERNAL)
}

export async function notFoundHandler (request: FastifyRequest, reply: FastifyReply) {
  return await sendError(reply, errors.NOT_FOUND)
}

export interface ErrorsPluginOptions {
  /** Also answer unknown paths with 404 `{"detail": "Not Found"}` (the standalone service does). */
  notFound?: boolean
}

/**
 * The error handler of the plugin's context, for a host's too: every error answered from the
 * error table, as the plugin's own routes answer theirs.
 */
export default fp<ErrorsPluginOptions>(async function errors (app, opts) {
  app.setErrorHandler(errorHandler)
  if (opts.notFound === true) app.setNotFoundHandler(notFoundHandler)
}, { name: 'token-auth/errors', fastify: '5.x' })
