import formbody from '@fastify/formbody'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorHandler } from '../plugins/errors.js'
import { securitySchemeTransform } from '../plugins/openapi-security.js'
import { isUnavailable } from '../src/core/db/errors.js'
import { pathVariants } from '../src/core/route-paths.js'
import { OAuth2Error } from '../src/core/schemas/errors.js'
import { ref } from '../src/core/schemas/ref.js'
import { Token, TokenForm } from '../src/core/schemas/token.js'

type OAuth2ErrorCode = OAuth2Error['error']

/** An RFC 6749 §5.2 error, with the tutorial's `detail` beside it. */
export class OAuth2RequestError extends Error {
  constructor (readonly statusCode: number, readonly code: OAuth2ErrorCode, readonly description: string) {
    super(description)
    this.name = 'OAuth2RequestError'
  }
}

const badCredentials = () => new OAuth2RequestError(401, 'invalid_grant', 'Incorrect username or password')

/**
 * Turns a schema or parser failure on the form into the RFC's invalid_request, naming the
 * field; undefined for failures that are not the client's doing.
 */
function toOAuth2Error (error: FastifyError): OAuth2RequestError | undefined {
  if (error instanceof OAuth2RequestError) return error
  const issue = error.validation?.[0]
  if (issue !== undefined) {
    const field = issue.keyword === 'required'
      ? String(issue.params.missingProperty)
      : issue.instancePath.replace(/^\//, '')
    if (issue.keyword === 'required') return new OAuth2RequestError(400, 'invalid_request', `Missing required field: ${field}`)
    if (field !== '') return new OAuth2RequestError(400, 'invalid_request', `Field ${field} must be given once, as text`)
  }
  const status = error.statusCode ?? 500
  if (status >= 500 || isUnavailable(error)) return undefined
  if (status === 413) return new OAuth2RequestError(413, 'invalid_request', 'Request body is too large')
  return new OAuth2RequestError(400, 'invalid_request',
    'The request body must be a form (application/x-www-form-urlencoded) with username and password')
}

async function oauth2ErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const problem = toOAuth2Error(error)
  // Not the client's doing: the one error handler words it (503 or 500, nothing internal).
  if (problem === undefined) return errorHandler(error, request, reply)
  if (problem.statusCode === 401) reply.header('www-authenticate', 'Bearer')
  return await reply.code(problem.statusCode)
    .send({ detail: problem.description, error: problem.code, error_description: problem.description })
}

export interface TokenRoutesOptions {
  /** The security scheme the token route defines and where it is documented from, or false to leave it out of every document. */
  docs: { scheme: string, tokenUrl: string } | false
}

const tokenRoutes: FastifyPluginAsyncTypebox<TokenRoutesOptions> = async function tokenRoutes (app, opts) {
  // This context accepts only the OAuth2 form encoding: a JSON body is an invalid_request.
  app.removeAllContentTypeParsers()
  await app.register(formbody)
  app.setErrorHandler(oauth2ErrorHandler)
  // RFC 6749 §5.1: token responses must not be cached.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  })

  for (const { url, hide } of pathVariants(app, '/token')) {
    app.post(url, {
      config: opts.docs === false ? {} : { swaggerTransform: securitySchemeTransform(opts.docs.scheme, opts.docs.tokenUrl) },
      schema: {
        hide: hide || opts.docs === false,
        summary: 'Log in (OAuth2 password grant)',
        description: 'Exchanges a username and password for a bearer access token (a JWT).',
        tags: ['auth'],
        consumes: ['application/x-www-form-urlencoded'],
        body: ref(TokenForm),
        response: {
          200: ref(Token),
          400: ref(OAuth2Error),
          401: ref(OAuth2Error)
        }
      }
    }, async (request) => {
      const form = request.body
      // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
      if (form.grant_type !== undefined && form.grant_type !== '' && form.grant_type !== 'password') {
        throw new OAuth2RequestError(400, 'unsupported_grant_type', 'Only grant_type=password is supported')
      }
      if (form.username === '') throw new OAuth2RequestError(400, 'invalid_request', 'Missing required field: username')
      if (form.password === '') throw new OAuth2RequestError(400, 'invalid_request', 'Missing required field: password')

      // No stored username holds a NUL (and PostgreSQL could not even compare one): no such user.
      const user = form.username.includes('\0') ? undefined : await app.tokenAuthUsers.findByUsername(form.username)
      // Always one bcrypt comparison, user or not: same answer, same time.
      const valid = await app.tokenAuthPasswords.verify(form.password, user?.hashedPassword)
      if (user === undefined || !valid) throw badCredentials()
      if (app.tokenAuthPasswords.needsRehash(user.hashedPassword)) {
        await app.tokenAuthUsers.replaceHash(user.username, await app.tokenAuthPasswords.hash(form.password))
      }
      return app.tokenAuthTokens.issue(user)
    })
  }
}

export default tokenRoutes
