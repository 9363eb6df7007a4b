import fp from 'fastify-plugin'
import { isPromise } from '../src/core/db/database.js'
import { sendServerError } from './errors.js'
import { profileLookupOf, type UserProfile } from '../src/core/profile-lookup.js'
import type { Guard, GuardReply, GuardRequest } from '../src/core/public-types.js'
import type { VerifiedClaims } from '../src/core/verified-tokens.js'

export interface Guards {
  /** A valid bearer token of an existing user, or 401. Sets `request.user`. */
  authenticate: Guard
  /** `authenticate`, then 400 "Inactive user" for a disabled account. */
  currentActiveUser: Guard
}

declare module 'fastify' {
  interface FastifyInstance {
    tokenAuthGuards: Guards
  }
}

function notAuthenticated (reply: GuardReply) {
  return reply.code(401).header('www-authenticate', 'Bearer').send({ detail: 'Not authenticated' })
}

function invalidToken (reply: GuardReply) {
  return reply.code(401)
    .header('www-authenticate', 'Bearer error="invalid_token"')
    .send({ detail: 'Could not validate credentials' })
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235), or undefined. */
function bearerToken (request: GuardRequest): string | undefined {
  const header = request.headers.authorization
  if (header === undefined) return undefined
  const match = /^Bearer +(\S+) *$/i.exec(header)
  return match?.[1]
}

const SETTLED: Promise<void> = Promise.resolve()

/** The two guard hooks, built on the access tokens and the user store of this context. */
export default fp(async function guards (app) {
  const lookup = profileLookupOf(app.tokenAuthUsers)

  function admit (request: GuardRequest, reply: GuardReply, active: boolean, claims: VerifiedClaims, found: UserProfile | undefined): void {
    if (found === undefined || found.tokenVersion !== claims.ver) {
      invalidToken(reply)
      return
    }
    ;(request as { user: unknown }).user = found.user
    if (active && found.user.disabled) reply.code(400).send({ detail: 'Inactive user' })
  }

  /**
   * Answers the request (401, or 400 for a disabled account when `active`), or sets
   * `request.user` and lets it go on. A lookup answered at once settles through one shared
   * promise, so an admitted request allocates none of its own.
   */
  function guard (request: GuardRequest, reply: GuardReply, active: boolean): Promise<void> {
    const token = bearerToken(request)
    if (token === undefined) {
      notAuthenticated(reply)
      return SETTLED
    }
    const claims = app.tokenAuthTokens.claimsOf(token)
    if (claims === undefined) {
      invalidToken(reply)
      return SETTLED
    }
    // The user (unlike the token) is looked up on every request, so a disabled or deleted
    // account, or a changed password, is refused at once, by every instance. On a host's route
    // the host's error handler would word a failed lookup: the guard answers in its own words.
    let found
    try {
      found = lookup(claims.sub)
    } catch (error) {
      sendServerError(error, request, reply)
      return SETTLED
    }
    if (isPromise(found)) {
      return found.then((profile) => { admit(request, reply, active, claims, profile) }, (error: unknown) => { sendServerError(error, request, reply) })
    }
    admit(request, reply, active, claims, found)
    return SETTLED
  }

  app.decorate('tokenAuthGuards', {
    authenticate: function authenticate (request, reply) { return guard(request, reply, false) },
    currentActiveUser: function currentActiveUser (request, reply) { return guard(request, reply, true) }
  } satisfies Guards)
}, { name: 'token-auth/guards', dependencies: ['token-auth/access-tokens', 'token-auth/user-store'], fastify: '5.x' })
