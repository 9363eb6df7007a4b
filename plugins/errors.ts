import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isUnavailable, unavailableReason } from '../src/db/errors.js'
import type { ValidationIssue } from '../src/schemas/errors.js'

/** An error a route throws on purpose: its status, its `detail`, and any headers. */
export class HttpError extends Error {
  constructor (readonly statusCode: number, readonly detail: string, readonly headers: Record<string, string> = {}) {
    super(detail)
    this.name = 'HttpError'
  }
}

/** A 422 raised by a route for a rule the schema cannot express (such as a length in bytes). */
export class RequestValidationError extends Error {
  readonly statusCode = 422
  constructor (readonly issues: ValidationIssue[]) {
    super(issues.map((issue) => issue.msg).join('; '))
    this.name = 'RequestValidationError'
  }
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

/** The one error handler: `{"detail": ...}` bodies, FastAPI's 422 for validation, no internals in a 5xx. */
export function errorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof RequestValidationError) return reply.code(422).send({ detail: error.issues })
  if (error.validation !== undefined) return reply.code(422).send({ detail: validationIssues(error) })
  if (error instanceof HttpError) return reply.code(error.statusCode).headers(error.headers).send({ detail: error.detail })
  // FastAPI answers a body that is not JSON at all like any other invalid body: 422.
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return reply.code(422).send({ detail: [{ loc: ['body'], msg: `JSON decode error: ${error.message}`, type: 'json_invalid' }] })
  }
  if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return reply.code(422).send({ detail: [{ loc: ['body'], msg: 'Field required', type: 'missing' }] })
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (unparsable JSON, wrong content type, body too large) say what is wrong.
    return reply.code(status).send({ detail: error.message })
  }
  return sendServerError(error, request, reply)
}

/**
 * Answers a failure that is not the client's doing: 503 for an unavailable dependency (logged at
 * warn with the reason: unreachable, full, read-only, deleted), else 500, logged as an error;
 * nothing internal in the body.
 */
export function sendServerError (error: unknown, request: Pick<FastifyRequest, 'log'>, reply: { code: (statusCode: number) => { send: (payload: { detail: string }) => unknown } }) {
  if (isUnavailable(error) || (error as { statusCode?: unknown } | null)?.statusCode === 503) {
    request.log.warn({ err: error, reason: unavailableReason(error) }, 'database unavailable')
    return reply.code(503).send({ detail: 'Service unavailable' })
  }
  request.log.error({ err: error }, 'request failed')
  return reply.code(500).send({ detail: 'Internal Server Error' })
}

export async function notFoundHandler (request: FastifyRequest, reply: FastifyReply) {
  return await reply.code(404).send({ detail: 'Not Found' })
}

export interface ErrorsPluginOptions {
  /** Also answer unknown paths with 404 `{"detail": "Not Found"}` (the standalone service does). */
  notFound?: boolean
}

export default fp<ErrorsPluginOptions>(async function errors (app, opts) {
  app.setErrorHandler(errorHandler)
  if (opts.notFound === true) app.setNotFoundHandler(notFoundHandler)
}, { name: 'token-auth/errors', fastify: '5.x' })
