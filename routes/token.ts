import formbody from '@fastify/formbody'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { OAUTH2_ERRORS } from '../plugins/errors.js'
import { documentTransform, operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import type { Internals } from '../plugins/internals.js'
import { addressLimit } from '../plugins/throttle.js'
import { AUTH_TAGS } from '../src/openapi/openapi-text.js'
import { pathVariants } from '../src/route-paths.js'
import { startCurrentSession } from '../src/sessions/session-gate.js'
import { errors, NO_STORE } from '../src/errors.js'
import { noContent, ref } from '../src/schemas/ref.js'
import { errorResponse, unavailable } from '../src/schemas/responses.js'
import { parseClientId } from '../src/tokens/client-id.js'
import { emailVerified } from '../src/accounts/user-store.js'
import { RevokeForm, Token, TokenForm } from '../src/schemas/token.js'

export interface TokenRoutesOptions {
  internals: Internals
  /** The security scheme the token route defines and where it is documented from, or false to leave it out of every document. */
  docs: (Exclude<RouteDocs, false> & { tokenUrl: string }) | false
  /** A correct password of an account without a verified email answers 403 (EMAIL_NOT_VERIFIED). */
  requireVerifiedEmail: boolean
}

const REFRESH_FAILURES = {
  unknown: errors.REFRESH_TOKEN_INVALID,
  expired: errors.SESSION_EXPIRED,
  reused: errors.REFRESH_TOKEN_REUSED
} as const

// A token request is a few short fields; a revocation may carry an access token (a guard refuses
// bearer tokens over 8 KB).
const TOKEN_BODY_LIMIT = 4096
const REVOKE_BODY_LIMIT = 12_288

/** A form field as given, or undefined when absent or empty (RFC 6749 §3.1: a parameter without a value is omitted). */
const given = (value: string | undefined) => value === undefined || value === '' ? undefined : value

const tokenRoutes: FastifyPluginAsyncTypebox<TokenRoutesOptions> = async function tokenRoutes (app, opts) {
  const { users, sessions: sessionStore, passwords, tokens, audit, scopes, throttle: { admittedPasswordCheck } } = opts.internals
  // This context accepts only the OAuth2 form encoding: a JSON body is an invalid_request.
  app.removeAllContentTypeParsers()
  await app.register(formbody)
  // RFC 6749 §5.1: token responses must not be cached.
  app.addHook('onSend', async (_request, reply) => {
    reply.headers({ ...NO_STORE })
  })

  const gateParts = { users, sessions: sessionStore, passwords }

  async function passwordGrant (form: TokenForm, request: FastifyRequest): Promise<Token> {
    const username = given(form.username)
    const password = given(form.password)
    if (username === undefined || password === undefined) {
      throw errors.MISSING_FIELD.create(Object.entries({ username, password }).filter(([, value]) => value === undefined).map(([field]) => field))
    }
    // A malformed client_id, or a malformed or unknown scope, is refused before anything else.
    const clientId = parseClientId(form.client_id)
    const requested = scopes.parse(form.scope)
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
      throw errors.BAD_CREDENTIALS.create()
    }
    if (users.replacePassword !== undefined && passwords.needsRehash(user.hashedPassword)) {
      // Only over the hash just checked: a password changed meanwhile stays changed.
      const rehashed = await passwords.hash(password)
      if (await users.replacePassword(user.username, user.hashedPassword, rehashed)) user = { ...user, hashedPassword: rehashed }
    }
    // Only now that the password is right: a wrong one answers the same for every account.
    if (opts.requireVerifiedEmail && !emailVerified(user)) {
      audit(request, 'login.failed', { username: user.username, reason: 'email_not_verified' })
      throw errors.EMAIL_NOT_VERIFIED.create()
    }
    const granted = scopes.grant(requested, user.isAdmin === true)
    if (granted === '') {
      audit(request, 'login.failed', { username: user.username, reason: 'scope_not_allowed' })
      throw errors.SCOPE_NOT_ALLOWED.create()
    }
    const started = await startCurrentSession(gateParts, user, password, { userAgent: request.headers['user-agent'], scope: granted, clientId })
    if (started === undefined) {
      // The password changed, or the account was disabled or deleted, while this login was checked.
      audit(request, 'login.failed', { username: user.username, reason: 'credentials_changed' })
      throw errors.BAD_CREDENTIALS.create()
    }
    const { session, refreshToken } = started
    audit(request, 'login.succeeded', { username: user.username, session: session.id, scope: granted })
    return tokens.issue(session, refreshToken, granted)
  }

  async function refreshGrant (form: TokenForm, request: FastifyRequest): Promise<Token> {
    const token = given(form.refresh_token)
    if (token === undefined) throw errors.MISSING_FIELD.create(['refresh_token'])
    const requested = scopes.parse(form.scope)
    // Narrowing is checked against the session's scopes before the refresh token is spent.
    const outcome = await sessionStore.refresh(token, {
      narrowTo: requested.kind === 'names' ? requested.names : undefined,
      unrecorded: scopes.grant({ kind: 'default' }, false)
    })
    if (!outcome.ok) {
      if (outcome.reason === 'reused') audit(request, 'token.reuse_detected', { username: outcome.username, session: outcome.sessionId })
      if (outcome.reason === 'widened') throw errors.SCOPE_WIDENED.create(outcome.names)
      throw REFRESH_FAILURES[outcome.reason].create()
    }
    const { session, refreshToken } = outcome
    // A deleted account's sessions are gone with it; over a host's store, or for an account
    // disabled without ending its sessions, the session ends here.
    const user = await users.findByUsername(session.username)
    if (user === undefined || user.disabled) {
      await sessionStore.end(session.username, session.id)
      throw (user === undefined ? errors.REFRESH_TOKEN_INVALID : errors.INACTIVE_USER).create()
    }
    const granted = session.scope ?? ''
    audit(request, 'token.refreshed', { username: session.username, session: session.id, scope: granted })
    return tokens.issue(session, refreshToken, granted)
  }

  await app.register(async function tokenEndpoint (scope: typeof app) {
    await scope.register(addressLimit, { throttle: opts.internals.throttle, limit: 'token' })
    for (const { url, ...variant } of pathVariants(scope, '/token')) {
      scope.post(url, {
        bodyLimit: TOKEN_BODY_LIMIT,
        config: { ...OAUTH2_ERRORS, ...(opts.docs !== false && { swaggerTransform: documentTransform(opts.docs.scheme, opts.docs.tokenUrl, AUTH_TAGS, scopes.all) }) },
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
            400: errorResponse([errors.MISSING_FIELD, errors.REPEATED_FIELD, errors.NOT_A_FORM, errors.UNSUPPORTED_GRANT_TYPE,
              errors.CLIENT_ID_MALFORMED, errors.SCOPE_MALFORMED, errors.SCOPE_UNKNOWN, errors.SCOPE_NOT_ALLOWED, errors.SCOPE_WIDENED,
              errors.REFRESH_TOKEN_INVALID, errors.SESSION_EXPIRED, errors.REFRESH_TOKEN_REUSED, errors.INACTIVE_USER], { oauth2: true }),
            401: errorResponse([errors.BAD_CREDENTIALS], { oauth2: true }),
            ...(opts.requireVerifiedEmail && { 403: errorResponse([errors.EMAIL_NOT_VERIFIED], { oauth2: true }) }),
            413: errorResponse([errors.BODY_TOO_LARGE], { oauth2: true, description: 'The body is larger than a token request can be' }),
            429: errorResponse([errors.TOO_MANY_REQUESTS], {
              oauth2: true,
              description: 'Too many requests from this address, or too many failed logins for this username: ' +
                'retry after the `Retry-After` seconds (no password is checked meanwhile)'
            }),
            503: unavailable
          }
        }
      }, async (request) => {
        const form = request.body
        const grant = given(form.grant_type) ?? 'password'
        if (grant === 'password') return await passwordGrant(form, request)
        if (grant === 'refresh_token') return await refreshGrant(form, request)
        throw errors.UNSUPPORTED_GRANT_TYPE.create()
      })
    }
  })

  await app.register(async function revocationEndpoint (scope: typeof app) {
    await scope.register(addressLimit, { throttle: opts.internals.throttle, limit: 'revoke' })
    for (const { url, ...variant } of pathVariants(scope, '/revoke')) {
      scope.post(url, {
        bodyLimit: REVOKE_BODY_LIMIT,
        config: { ...OAUTH2_ERRORS },
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
            400: errorResponse([errors.MISSING_FIELD.answer(['token']), errors.REPEATED_FIELD.answer(['token']), errors.NOT_A_FORM], { oauth2: true }),
            413: errorResponse([errors.BODY_TOO_LARGE], { oauth2: true, description: 'The body is larger than a revocation request can be' }),
            429: errorResponse([errors.TOO_MANY_REQUESTS], { oauth2: true, description: 'Too many requests from this address: retry after the `Retry-After` seconds' }),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const token = given(request.body.token)
        if (token === undefined) throw errors.MISSING_FIELD.create(['token'])
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
