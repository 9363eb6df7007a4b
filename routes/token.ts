import formbody from '@fastify/formbody'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorHandler, HttpError } from '../plugins/errors.js'
import { documentTransform, operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import type { Internals } from '../plugins/internals.js'
import { addressLimit } from '../plugins/throttle.js'
import { AUTH_TAGS } from '../src/openapi/openapi-text.js'
import { pathVariants } from '../src/route-paths.js'
import { startCurrentSession } from '../src/sessions/session-gate.js'
import type { OAuth2Error } from '../src/schemas/errors.js'
import { noContent, ref } from '../src/schemas/ref.js'
import { oauth2Error, oauth2Example, unavailable } from '../src/schemas/responses.js'
import { RevokeForm, Token, TokenForm } from '../src/schemas/token.js'

type OAuth2ErrorCode = OAuth2Error['error']

/** An RFC 6749 §5.2 error, with the tutorial's `detail` beside it. */
export class OAuth2RequestError extends Error {
  constructor (readonly statusCode: number, readonly code: OAuth2ErrorCode, readonly description: string,
    readonly headers: Record<string, string> = {}) {
    super(description)
    this.name = 'OAuth2RequestError'
  }
}

const badCredentials = () => new OAuth2RequestError(401, 'invalid_grant', 'Incorrect username or password')
const missingFields = (fields: string[]) =>
  new OAuth2RequestError(400, 'invalid_request', `Missing required field${fields.length > 1 ? 's' : ''}: ${fields.join(', ')}`)

/**
 * Turns a schema or parser failure on the form into the RFC's invalid_request, naming the
 * field; undefined for failures that are not the client's doing.
 */
function toOAuth2Error (error: FastifyError): OAuth2RequestError | undefined {
  if (error instanceof OAuth2RequestError) return error
  // A limit or a backoff: RFC 6749 has no code of its own for it; 429 and Retry-After say it.
  if (error instanceof HttpError && error.statusCode === 429) return new OAuth2RequestError(429, 'invalid_request', error.detail, error.headers)
  const issues = error.validation ?? []
  const missing = issues.filter((issue) => issue.keyword === 'required').map((issue) => String(issue.params.missingProperty))
  if (missing.length > 0) return missingFields(missing)
  const fields = [...new Set(issues.map((issue) => issue.instancePath.replace(/^\//, '')).filter((field) => field !== ''))]
  if (fields.length > 0) {
    return new OAuth2RequestError(400, 'invalid_request', `${fields.length > 1 ? 'Fields' : 'Field'} ${fields.join(', ')} must be given once, as text`)
  }
  // A database failure has a 5xx (or no) status; a client's connection error (ECONNRESET from a
  // body cut short) is the client's doing, whatever its code says.
  const status = error.statusCode ?? 500
  if (status >= 500) return undefined
  if (status === 413) return new OAuth2RequestError(413, 'invalid_request', 'Request body is too large')
  return new OAuth2RequestError(400, 'invalid_request', 'The request body must be a form (application/x-www-form-urlencoded)')
}

async function oauth2ErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const problem = toOAuth2Error(error)
  // Not the client's doing: the one error handler words it (503 or 500, nothing internal).
  if (problem === undefined) return errorHandler(error, request, reply)
  if (problem.statusCode === 401) reply.header('www-authenticate', 'Bearer')
  return await reply.code(problem.statusCode).headers(problem.headers)
    .send({ detail: problem.description, error: problem.code, error_description: problem.description })
}

export interface TokenRoutesOptions {
  internals: Internals
  /** The security scheme the token route defines and where it is documented from, or false to leave it out of every document. */
  docs: (Exclude<RouteDocs, false> & { tokenUrl: string }) | false
}

const REFRESH_FAILURES: Record<'unknown' | 'expired' | 'reused', string> = {
  unknown: 'The refresh token is invalid or has been revoked',
  expired: 'The session has expired: log in again',
  reused: 'The refresh token was already used: its session has ended, log in again'
}

// A token request is a few short fields; a revocation may carry an access token (a guard refuses
// bearer tokens over 8 KB).
const TOKEN_BODY_LIMIT = 4096
const REVOKE_BODY_LIMIT = 12_288

const invalidGrant = (description: string) => new OAuth2RequestError(400, 'invalid_grant', description)

/** A form field as given, or undefined when absent or empty (RFC 6749 §3.1: a parameter without a value is omitted). */
const given = (value: string | undefined) => value === undefined || value === '' ? undefined : value

const tokenRoutes: FastifyPluginAsyncTypebox<TokenRoutesOptions> = async function tokenRoutes (app, opts) {
  const { users, sessions: sessionStore, passwords, tokens, audit, throttle: { admittedPasswordCheck } } = opts.internals
  // This context accepts only the OAuth2 form encoding: a JSON body is an invalid_request.
  app.removeAllContentTypeParsers()
  await app.register(formbody)
  app.setErrorHandler(oauth2ErrorHandler)
  // RFC 6749 §5.1: token responses must not be cached.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  })

  const gateParts = { users, sessions: sessionStore, passwords }

  async function passwordGrant (form: TokenForm, request: FastifyRequest): Promise<Token> {
    const username = given(form.username)
    const password = given(form.password)
    if (username === undefined || password === undefined) {
      throw missingFields(Object.entries({ username, password }).filter(([, value]) => value === undefined).map(([field]) => field))
    }
    // Counted by the name as typed, before anyone looks it up: an unknown name waits just the same.
    const checked = await admittedPasswordCheck(request, username, async () => {
      // No stored username holds a NUL (and PostgreSQL could not even compare one): no such user.
      const found = username.includes('\0') ? undefined : await users.findByUsername(username)
      // Always one bcrypt comparison, user or not: same answer, same time.
      const valid = await passwords.verify(password, found?.hashedPassword)
      return { valid: valid && found !== undefined, user: found }
    })
    let user = checked.user
    if (user === undefined || !checked.valid) {
      // A name nobody has is not logged: it may be a password typed in the wrong field.
      audit(request, 'login.failed', user === undefined ? { reason: 'unknown_user' } : { username: user.username, reason: 'wrong_password' })
      throw badCredentials()
    }
    if (users.replacePassword !== undefined && passwords.needsRehash(user.hashedPassword)) {
      // Only over the hash just checked: a password changed meanwhile stays changed.
      const rehashed = await passwords.hash(password)
      if (await users.replacePassword(user.username, user.hashedPassword, rehashed)) user = { ...user, hashedPassword: rehashed }
    }
    const started = await startCurrentSession(gateParts, user, password, request.headers['user-agent'])
    if (started === undefined) {
      // The password changed, or the account was disabled or deleted, while this login was checked.
      audit(request, 'login.failed', { username: user.username, reason: 'credentials_changed' })
      throw badCredentials()
    }
    const { session, refreshToken } = started
    audit(request, 'login.succeeded', { username: user.username, session: session.id })
    return tokens.issue(session, refreshToken)
  }

  async function refreshGrant (form: TokenForm, request: FastifyRequest): Promise<Token> {
    const token = given(form.refresh_token)
    if (token === undefined) throw new OAuth2RequestError(400, 'invalid_request', 'Missing required field: refresh_token')
    const outcome = await sessionStore.refresh(token)
    if (!outcome.ok) {
      if (outcome.reason === 'reused') audit(request, 'token.reuse_detected', { username: outcome.username, session: outcome.sessionId })
      throw invalidGrant(REFRESH_FAILURES[outcome.reason])
    }
    const { session, refreshToken } = outcome
    // A deleted account's sessions are gone with it; over a host's store, or for an account
    // disabled without ending its sessions, the session ends here.
    const user = await users.findByUsername(session.username)
    if (user === undefined || user.disabled) {
      await sessionStore.end(session.username, session.id)
      throw invalidGrant(user === undefined ? REFRESH_FAILURES.unknown : 'Inactive user')
    }
    audit(request, 'token.refreshed', { username: session.username, session: session.id })
    return tokens.issue(session, refreshToken)
  }

  await app.register(async function tokenEndpoint (scope: typeof app) {
    await scope.register(addressLimit, { throttle: opts.internals.throttle, limit: 'token' })
    for (const { url, ...variant } of pathVariants(scope, '/token')) {
      scope.post(url, {
        bodyLimit: TOKEN_BODY_LIMIT,
        config: opts.docs === false ? {} : { swaggerTransform: documentTransform(opts.docs.scheme, opts.docs.tokenUrl, AUTH_TAGS) },
        schema: {
          ...operationDocs(opts.docs, variant, 'token', 'none'),
          summary: 'Log in, or refresh (OAuth2 token endpoint)',
          description: 'The password grant (`username`, `password`) opens a session and answers an access token (a JWT) ' +
            'with a refresh token. The refresh_token grant (`grant_type=refresh_token&refresh_token=…`) exchanges a refresh ' +
            'token for a new pair in the same session; the one presented is spent. Form-encoded, as RFC 6749 asks.',
          tags: ['auth'],
          consumes: ['application/x-www-form-urlencoded'],
          body: ref(TokenForm),
          response: {
            200: ref(Token, 'Logged in (password grant) or refreshed (refresh_token grant): a new access token, and a new refresh token ' +
              'in the same session. Sent with `Cache-Control: no-store`'),
            400: oauth2Error('`invalid_request`: a field is missing or given twice, or the body is not a form; ' +
              '`unsupported_grant_type`: neither password nor refresh_token; `invalid_grant`: the refresh token is unknown, ' +
              'expired, revoked, or was already used (then its session has ended too), or its user is disabled or gone', {
              missingField: oauth2Example('A field is missing', 'invalid_request', 'Missing required field: password'),
              unsupportedGrant: oauth2Example('Another grant type', 'unsupported_grant_type', 'Only grant_type=password and grant_type=refresh_token are supported'),
              refreshTokenReused: oauth2Example('A refresh token used again', 'invalid_grant', REFRESH_FAILURES.reused)
            }),
            401: oauth2Error('Password grant: wrong username or password (the same answer for both, in the same time); ' +
              '`WWW-Authenticate: Bearer`', {
              badCredentials: oauth2Example('Wrong username or password', 'invalid_grant', 'Incorrect username or password')
            }),
            413: oauth2Error('`invalid_request`: the body is larger than a token request can be', {
              tooLarge: oauth2Example('The body is too large', 'invalid_request', 'Request body is too large')
            }),
            429: oauth2Error('Too many requests from this address, or too many failed logins for this username: ' +
              'retry after the `Retry-After` seconds (no password is checked meanwhile)', {
              limited: oauth2Example('Over the limit', 'invalid_request', 'Too many requests: retry in 42 s')
            }),
            503: unavailable
          }
        }
      }, async (request) => {
        const form = request.body
        const grant = given(form.grant_type) ?? 'password'
        if (grant === 'password') return await passwordGrant(form, request)
        if (grant === 'refresh_token') return await refreshGrant(form, request)
        throw new OAuth2RequestError(400, 'unsupported_grant_type', 'Only grant_type=password and grant_type=refresh_token are supported')
      })
    }
  })

  await app.register(async function revocationEndpoint (scope: typeof app) {
    await scope.register(addressLimit, { throttle: opts.internals.throttle, limit: 'revoke' })
    for (const { url, ...variant } of pathVariants(scope, '/revoke')) {
      scope.post(url, {
        bodyLimit: REVOKE_BODY_LIMIT,
        schema: {
          ...operationDocs(opts.docs, variant, 'revokeToken', 'none'),
          summary: 'Revoke a token (RFC 7009)',
          description: 'Ends the session a refresh token or an access token belongs to: its refresh tokens stop working at once, ' +
            'its access tokens on their next request. Answers 200 whether or not the token was known, as RFC 7009 asks.',
          tags: ['auth'],
          consumes: ['application/x-www-form-urlencoded'],
          body: ref(RevokeForm),
          response: {
            200: noContent('Done, or the token was not known: nothing to revoke. Empty body'),
            400: oauth2Error('`invalid_request`: no token, or the body is not a form', {
              missingToken: oauth2Example('No token', 'invalid_request', 'Missing required field: token')
            }),
            413: oauth2Error('`invalid_request`: the body is larger than a revocation request can be', {
              tooLarge: oauth2Example('The body is too large', 'invalid_request', 'Request body is too large')
            }),
            429: oauth2Error('Too many requests from this address: retry after the `Retry-After` seconds', {
              limited: oauth2Example('Over the limit', 'invalid_request', 'Too many requests: retry in 42 s')
            }),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const token = given(request.body.token)
        if (token === undefined) throw new OAuth2RequestError(400, 'invalid_request', 'Missing required field: token')
        // The hint only says which kind to try first (RFC 7009 §2.1); an unknown one is ignored.
        const accessFirst = request.body.token_type_hint === 'access_token'
        const revokeAccess = async () => {
          const claims = tokens.claimsOf(token)
          return claims !== undefined && await sessionStore.end(claims.sub, claims.sid)
        }
        const revokeRefresh = async () => await sessionStore.endByRefreshToken(token)
        const revoked = accessFirst
          ? await revokeAccess() || await revokeRefresh()
          : await revokeRefresh() || await revokeAccess()
        if (revoked) audit(request, 'token.revoked')
        // RFC 7009 §2.2: the client ignores the body. It is empty, typed as JSON: clients that
        // parse every answer strictly (simple-oauth2) read an empty JSON body as nothing.
        reply.type('application/json; charset=utf-8')
        return await reply.code(200).send()
      })
    }
  })
}

export default tokenRoutes
