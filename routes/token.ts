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
import { answerBody, errors, NO_STORE } from '../src/errors.js'
import { MFA_GRANT_TYPE, MfaCodeRefused } from '../src/mfa/mfa.js'
import { noContent, ref } from '../src/schemas/ref.js'
import { errorResponse, unavailable } from '../src/schemas/responses.js'
import { parseClientId } from '../src/tokens/client-id.js'
import { emailVerified } from '../src/accounts/user-store.js'
import { MFA_TOKEN_EXAMPLE, MfaRequired, RevokeForm, Token, TokenForm } from '../src/schemas/token.js'

export interface TokenRoutesOptions {
  internals: Internals
  /** The security scheme the token route defines and where it is documented from, or false to leave it out of every document. */
  docs: (Exclude<RouteDocs, false> & { tokenUrl: string }) | false
  /** A correct password of an account without a verified email answers 403 (EMAIL_NOT_VERIFIED). */
  requireVerifiedEmail: boolean
}

// RFC 8176 methods of a session's login, which its access tokens carry as `amr`.
const PASSWORD_ONLY = 'pwd'
const PASSWORD_AND_OTP = 'pwd otp'

/** The 403 of the password grant: `mfa_required` with its `mfa_token`, or with requireVerifiedEmail `Email not verified`. */
function mfaRequiredResponse (requireVerifiedEmail: boolean) {
  const shown = [errors.MFA_REQUIRED, ...(requireVerifiedEmail ? [errors.EMAIL_NOT_VERIFIED] : [])]
  const documented = errorResponse(shown, { oauth2: true })
  const examples: Record<string, { summary: string, value: object }> = { ...documented.content['application/json'].examples }
  const mfaRequired = examples.mfaRequired
  if (mfaRequired !== undefined) examples.mfaRequired = { ...mfaRequired, value: { ...mfaRequired.value, mfa_token: MFA_TOKEN_EXAMPLE } }
  return { ...documented, content: { 'application/json': { ...documented.content['application/json'], schema: ref(MfaRequired), examples } } }
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
  const { users, sessions: sessionStore, passwords, tokens, audit, scopes, mfa, throttle: { admittedPasswordCheck } } = opts.internals
  // This context accepts only the OAuth2 form encoding: a JSON body is an invalid_request.
  app.removeAllContentTypeParsers()
  await app.register(formbody)
  // RFC 6749 §5.1: token responses must not be cached.
  app.addHook('onSend', async (_request, reply) => {
    reply.headers({ ...NO_STORE })
  })

  const gateParts = { users, sessions: sessionStore, passwords }

  /** A token pair, or for an account with TOTP on the token of the login's second step. */
  async function passwordGrant (form: TokenForm, request: FastifyRequest): Promise<Token | { mfaToken: string }> {
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
    const login = { userAgent: request.headers['user-agent'], scope: granted, clientId }
    // Only now that the password is right, as above: no session until the second step.
    if (await mfa.isOn(user.username)) {
      const mfaToken = await mfa.challenge(user, login)
      audit(request, 'login.mfa_required', { username: user.username })
      return { mfaToken }
    }
    const started = await startCurrentSession(gateParts, user, password, { ...login, amr: PASSWORD_ONLY })
    if (started === undefined) {
      // The password changed, or the account was disabled or deleted, while this login was checked.
      audit(request, 'login.failed', { username: user.username, reason: 'credentials_changed' })
      throw errors.BAD_CREDENTIALS.create()
    }
    const { session, refreshToken } = started
    audit(request, 'login.succeeded', { username: user.username, session: session.id, scope: granted })
    return tokens.issue(session, refreshToken, granted)
  }

  /** The second step of a login whose password grant answered `mfa_required`: the `mfa_token` and a code. */
  async function mfaGrant (form: TokenForm, request: FastifyRequest): Promise<Token> {
    const mfaToken = given(form.mfa_token)
    const otp = given(form.otp)
    const recoveryCode = given(form.recovery_code)
    if (mfaToken === undefined || (otp === undefined && recoveryCode === undefined)) {
      throw errors.MISSING_FIELD.create([...(mfaToken === undefined ? ['mfa_token'] : []), ...(otp === undefined && recoveryCode === undefined ? ['otp'] : [])])
    }
    if (otp !== undefined && recoveryCode !== undefined) throw errors.MFA_CODE_CONFLICT.create()
    let step
    try {
      step = await mfa.secondStep(mfaToken, otp !== undefined ? { otp } : { recoveryCode: recoveryCode as string })
    } catch (error) {
      if (!(error instanceof MfaCodeRefused)) throw error
      audit(request, 'login.failed', { username: error.username, reason: error.reason })
      throw error.entry.create()
    }
    const { challenge, proof } = step
    const { username } = challenge
    const started = await sessionStore.start(username, challenge.userAgent ?? undefined, challenge.scope, challenge.clientId, PASSWORD_AND_OTP)
    // The account is read after the session is stored, as the login gate does: a change made
    // since the password step (a new password, disabled, deleted, TOTP off) ends it here.
    const now = started === undefined ? undefined : await users.findByUsername(username)
    const current = now !== undefined && await mfa.stillCurrent(challenge, now)
    if (started === undefined || now === undefined || !current || now.disabled) {
      if (started !== undefined) await sessionStore.end(username, started.session.id)
      audit(request, 'login.failed', { username, reason: now?.disabled === true && current ? 'disabled' : 'credentials_changed' })
      throw (now?.disabled === true && current ? errors.INACTIVE_USER : errors.MFA_TOKEN_INVALID).create()
    }
    await sessionStore.endBeyondCap(username)
    const { session, refreshToken } = started
    audit(request, 'login.succeeded', {
      username,
      session: session.id,
      scope: challenge.scope,
      mfa: proof.method,
      ...(proof.method === 'recovery_code' && { recoveryCodesLeft: await mfa.codesLeft(username) })
    })
    return tokens.issue(session, refreshToken, challenge.scope)
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
            'token for a new pair in the same session; the one presented is spent. Form-encoded, as RFC 6749 asks.\n\n' +
            '**Accounts with TOTP on** log in in two steps. The password grant answers 403 `mfa_required` with an `mfa_token` ' +
            `(single use, 5 minutes); the second step sends \`grant_type=${MFA_GRANT_TYPE}\`, the \`mfa_token\` and the 6-digit ` +
            '`otp` from the authenticator app (or a `recovery_code` instead), and answers the token pair; its access tokens carry ' +
            '`amr: ["pwd", "otp"]`. A code works once (RFC 6238 §5.2); five wrong codes spend the `mfa_token`. In *Try it out*: ' +
            'send the username and password, then the same form with `grant_type`, `mfa_token` and `otp` filled in.',
          tags: ['auth'],
          consumes: ['application/x-www-form-urlencoded'],
          body: ref(TokenForm),
          response: {
            200: ref(Token, 'Logged in (password grant) or refreshed (refresh_token grant): a new access token, and a new refresh token ' +
              'in the same session. Sent with `Cache-Control: no-store`'),
            400: errorResponse([errors.MISSING_FIELD, errors.REPEATED_FIELD, errors.NOT_A_FORM, errors.UNSUPPORTED_GRANT_TYPE,
              errors.CLIENT_ID_MALFORMED, errors.SCOPE_MALFORMED, errors.SCOPE_UNKNOWN, errors.SCOPE_NOT_ALLOWED, errors.SCOPE_WIDENED,
              errors.REFRESH_TOKEN_INVALID, errors.SESSION_EXPIRED, errors.REFRESH_TOKEN_REUSED, errors.INACTIVE_USER,
              errors.MFA_TOKEN_MALFORMED, errors.MFA_TOKEN_INVALID, errors.MFA_CODE_CONFLICT, errors.OTP_MALFORMED, errors.OTP_INVALID, errors.OTP_REPLAYED,
              errors.RECOVERY_CODE_MALFORMED, errors.RECOVERY_CODE_INVALID, errors.RECOVERY_CODE_USED], { oauth2: true }),
            401: errorResponse([errors.BAD_CREDENTIALS], { oauth2: true }),
            403: mfaRequiredResponse(opts.requireVerifiedEmail),
            413: errorResponse([errors.BODY_TOO_LARGE], { oauth2: true, description: 'The body is larger than a token request can be' }),
            429: errorResponse([errors.TOO_MANY_REQUESTS], {
              oauth2: true,
              description: 'Too many requests from this address, too many failed logins for this username, or too many wrong ' +
                'second-factor codes for the account: retry after the `Retry-After` seconds (no password or code is checked meanwhile)'
            }),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const form = request.body
        const grant = given(form.grant_type) ?? 'password'
        if (grant === 'password') {
          const answer = await passwordGrant(form, request)
          if (!('mfaToken' in answer)) return answer
          return await reply.code(403).send({ ...answerBody(errors.MFA_REQUIRED.answer(), true), mfa_token: answer.mfaToken })
        }
        if (grant === 'refresh_token') return await refreshGrant(form, request)
        if (grant === MFA_GRANT_TYPE) return await mfaGrant(form, request)
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
