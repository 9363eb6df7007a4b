import { errors, sendError } from '../src/errors.js'
import { sendServerError } from './errors.js'
import type { Guard, GuardReply, GuardRequest, TokenAuthUser } from '../src/types.js'
import { isPromise, type LiveSession, type SessionLookup } from '../src/sessions/session-lookup.js'
import type { ScopeRules } from '../src/scopes/scopes.js'
import type { RememberedClaims } from '../src/tokens/verified-tokens.js'
import type { AccessTokens } from './access-tokens.js'

export interface Guards {
  /** A valid bearer token of an existing user, or 401. Admits the request with its user for `userOf`. */
  authenticate: Guard
  /** `authenticate`, then 400 "Inactive user" for a disabled account. */
  currentActiveUser: Guard
  /** `currentActiveUser`, then 403 unless the token was granted every one of `scopes` (names this instance defines). */
  requireScopes (scopes: readonly string[]): Guard
  /** The session id of a request a guard admitted (for the session routes); throws on any other. */
  sessionOf (request: GuardRequest): string
}

const notAuthenticated = (reply: GuardReply) => sendError(reply, errors.NOT_AUTHENTICATED)
const invalidToken = (reply: GuardReply) => sendError(reply, errors.INVALID_TOKEN)

/** The longest bearer token the guards read; ours are a few hundred characters. */
export const MAX_TOKEN_LENGTH = 8192
// An Authorization header longer than "Bearer " and such a token is refused as an invalid
// token before it is matched, decoded, verified or used as a cache key.
export const MAX_AUTHORIZATION_LENGTH = 'Bearer '.length + MAX_TOKEN_LENGTH

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235), or undefined. */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const match = /^Bearer +(\S+) *$/i.exec(header)
  return match?.[1]
}

const SETTLED: Promise<void> = Promise.resolve()

// Now as an ISO string, worked out once per millisecond (requests under load share it).
let nowMs = 0
let nowIso = ''
function isoNow (): string {
  const ms = Date.now()
  if (ms !== nowMs) {
    nowMs = ms
    nowIso = new Date(ms).toISOString()
  }
  return nowIso
}

/**
 * The request property the guards keep the admitted user in: a symbol, so that no host
 * decorator (`request.user` of @fastify/jwt or @fastify/passport) is claimed or overwritten.
 */
export const ADMITTED_USER = Symbol('fastify-token-auth.user')

type AdmittedRequest = GuardRequest & { [ADMITTED_USER]?: TokenAuthUser | null }

/**
 * The account of a request a guard of the plugin admitted. Throws on a request no guard
 * admitted (a route without `authenticate` or `currentActiveUser`): a programming error.
 */
export function userOf (request: GuardRequest): TokenAuthUser {
  const user = (request as AdmittedRequest)[ADMITTED_USER]
  if (user == null) throw new Error(`fastify-token-auth: userOf() on ${request.method} ${request.routeOptions.url ?? request.url}, a route no guard of the plugin admitted`)
  return user
}

// The guards of the plugin instance registered on an app, for the exported guards to find.
const guardsOfInstance = new WeakMap<object, Guards>()

/** The guards the exported `authenticate` and `currentActiveUser` use on `instance` and its child contexts. */
export function registerGuards (instance: object, guards: Guards): void {
  guardsOfInstance.set(instance, guards)
}

/** The guards of the nearest plugin instance above a route's context (a child context inherits from its parent). */
function guardsFor (server: object): Guards | undefined {
  for (let level: object | null = server; level !== null; level = Object.getPrototypeOf(level) as object | null) {
    const guards = guardsOfInstance.get(level)
    if (guards === undefined) continue
    if (level !== server) guardsOfInstance.set(server, guards)
    return guards
  }
  return undefined
}

/**
 * A guard that exists before any plugin instance does, so a route can never get `undefined` as
 * its hook: it finds the plugin's guards at request time, and answers 500 (never lets the
 * request through) when no instance is registered where the route can see it.
 */
function exportedGuard (pick: (guards: Guards) => Guard): Guard {
  return async function tokenAuthGuard (request, reply) {
    const guards = guardsFor(request.server)
    if (guards !== undefined) return await pick(guards)(request, reply)
    request.log.error(`fastify-token-auth: ${request.method} ${request.routeOptions.url ?? request.url} is guarded, but no fastify-token-auth is registered in its context or above it: the request is refused`)
    sendError(reply, errors.INTERNAL)
  }
}

/** A valid bearer token of an existing user, or 401; `userOf(request)` then gives the account. Usable before the plugin is registered. */
export const authenticate: Guard = exportedGuard((guards) => guards.authenticate)
/** `authenticate`, then 400 "Inactive user" for a disabled account. Usable before the plugin is registered. */
export const currentActiveUser: Guard = exportedGuard((guards) => guards.currentActiveUser)

const unknownScopes = (names: string[]) => errors.UNDEFINED_SCOPE.create(names)

// The scopes each exported requireScopes guard needs, for the docs and the start-up check.
const scopesOfGuard = new WeakMap<Guard, readonly string[]>()

/** The scopes a guard of `requireScopes` needs, or undefined for any other hook. */
export function scopesOf (hook: unknown): readonly string[] | undefined {
  return typeof hook === 'function' ? scopesOfGuard.get(hook as Guard) : undefined
}

/**
 * `currentActiveUser`, then 403 `insufficient_scope` unless the bearer token was granted every
 * one of `names`. Usable before the plugin is registered; a name the plugin does not define
 * stops start-up (for a route registered after the plugin) or answers 500 (before it).
 */
export function requireScopes (...names: string[]): Guard {
  const needed = Object.freeze([...new Set(names)])
  const perInstance = new WeakMap<Guards, Guard>()
  const guard = exportedGuard((guards) => {
    let bound = perInstance.get(guards)
    if (bound === undefined) {
      bound = guards.requireScopes(needed)
      perInstance.set(guards, bound)
    }
    return bound
  })
  scopesOfGuard.set(guard, needed)
  return guard
}

/** Whether the scopes a token was granted hold every one of `needed`. */
function grants (granted: readonly string[], needed: readonly string[]): boolean {
  for (const name of needed) if (!granted.includes(name)) return false
  return true
}

/** The guard hooks, built on the access tokens, the per-request session lookup and the instance's scopes. */
export function createGuards (tokens: AccessTokens, lookup: SessionLookup, scopes: ScopeRules): Guards {
  function admit (request: GuardRequest, reply: GuardReply, active: boolean, needed: readonly string[], claims: RememberedClaims, found: LiveSession | undefined): void {
    // An ended session (logout, revocation, a password change, a deleted user) has no row.
    if (found === undefined || found.user.username !== claims.sub || found.expiresAt <= isoNow()) {
      invalidToken(reply)
      return
    }
    if (active && found.user.disabled) {
      sendError(reply, errors.INACTIVE_USER)
      return
    }
    if (!grants(claims.scopes, needed)) {
      sendError(reply, errors.INSUFFICIENT_SCOPE, needed.join(' '))
      return
    }
    ;(request as AdmittedRequest)[ADMITTED_USER] = found.user
  }

  /**
   * Answers the request (401, or 400 for a disabled account when `active`), or keeps the
   * user for `userOf` and lets it go on. A lookup answered at once settles through one shared
   * promise, so an admitted request allocates none of its own.
   */
  function guard (request: GuardRequest, reply: GuardReply, active: boolean, needed: readonly string[]): Promise<void> {
    const header = request.headers.authorization
    if (header !== undefined && header.length > MAX_AUTHORIZATION_LENGTH) {
      invalidToken(reply)
      return SETTLED
    }
    const token = bearerToken(header)
    if (token === undefined) {
      notAuthenticated(reply)
      return SETTLED
    }
    const claims = tokens.claimsOf(token)
    if (claims === undefined) {
      invalidToken(reply)
      return SETTLED
    }
    // The session and its user (unlike the token) are looked up on every request, so an ended
    // session or a disabled account is refused on the next request (by other processes on a
    // shared SQLite file, within the lookup's CHANGE_CHECK_INTERVAL_MS). On a host's route
    // the host's error handler would word a failed lookup: the guard answers in its own words.
    let found
    try {
      found = lookup(claims.sid)
    } catch (error) {
      sendServerError(error, request, reply)
      return SETTLED
    }
    if (isPromise(found)) {
      return found.then((profile) => { admit(request, reply, active, needed, claims, profile) }, (error: unknown) => { sendServerError(error, request, reply) })
    }
    admit(request, reply, active, needed, claims, found)
    return SETTLED
  }

  const NONE: readonly string[] = []
  return {
    authenticate: function authenticate (request, reply) { return guard(request, reply, false, NONE) },
    currentActiveUser: function currentActiveUser (request, reply) { return guard(request, reply, true, NONE) },
    requireScopes (needed) {
      const unknown = needed.filter((name) => !scopes.has(name))
      if (unknown.length > 0) throw unknownScopes(unknown)
      const names = Object.freeze([...new Set(needed)])
      return function requireScopes (request, reply) { return guard(request, reply, true, names) }
    },
    sessionOf (request) {
      const token = bearerToken(request.headers.authorization)
      const claims = token === undefined ? undefined : tokens.claimsOf(token)
      if (claims === undefined) throw new Error('fastify-token-auth: a session route ran without its guard')
      return claims.sid
    }
  }
}
