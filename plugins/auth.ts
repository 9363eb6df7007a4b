import fastifyJwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { isLongEnoughSecret, MIN_SECRET_BYTES } from '../src/config.js'
import { isPromise, type MaybePromise } from '../src/db/database.js'
import type { Token } from '../src/schemas/token.js'
import type { User } from '../src/schemas/user.js'
import { createVerifiedTokenCache, type VerifiedClaims } from '../src/verified-tokens.js'
import type { UserProfile } from './users.js'

export const SECURITY_SCHEME = 'OAuth2PasswordBearer'
export const JWT_ALGORITHM = 'HS256'
export const DEFAULT_TOKEN_ISSUER = 'fastify-token-auth'

/** What the service signs; `exp`, `iat`, `iss` and `aud` come from the signer's options. */
export type AccessTokenPayload = Omit<VerifiedClaims, 'exp'>

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenPayload
    user: User
  }
}

/**
 * A guard for `onRequest` (or `preValidation`, `preHandler`). Fastify calls it with `done`, so a
 * check that finishes at once (the SQLite lookup) costs no promise. Called by hand without
 * `done`, as in `await app.authenticate(request, reply)`, it returns a promise that settles once
 * the request may go on or has been answered.
 */
export type AuthHook = onRequestHookHandler & ((request: FastifyRequest, reply: FastifyReply) => Promise<void>)

export interface Auth {
  /** A valid bearer token of an existing user, or 401. Sets `request.user`. */
  authenticate: AuthHook
  /** `authenticate`, then 400 "Inactive user" for a disabled account. */
  currentActiveUser: AuthHook
  issueAccessToken (user: { username: string, tokenVersion: number }): Token
}

declare module 'fastify' {
  interface FastifyInstance {
    auth: Auth
    authenticate: AuthHook
    currentActiveUser: AuthHook
  }
}

export interface AuthPluginOptions {
  /** HMAC key for HS256, at least 32 bytes. */
  secret: string
  expireMinutes: number
  /**
   * `iss` and `aud` of the access tokens, both checked on every request: another JWT signed with
   * the same secret (a host's reset-password token, say) is not an access token. Default
   * 'fastify-token-auth' for both.
   */
  issuer?: string
  audience?: string
  /** Other names for the `authenticate` and `currentActiveUser` decorators, or false for none. */
  decorators?: { authenticate?: string | false, currentActiveUser?: string | false }
}

/** Something `done` takes as a failure: an empty rejection must not pass for success. */
function failure (error: unknown): Error {
  return error instanceof Error ? error : new Error(`user lookup failed: ${String(error)}`)
}

function notAuthenticated (reply: FastifyReply) {
  return reply.code(401).header('www-authenticate', 'Bearer').send({ detail: 'Not authenticated' })
}

function invalidToken (reply: FastifyReply) {
  return reply.code(401)
    .header('www-authenticate', 'Bearer error="invalid_token"')
    .send({ detail: 'Could not validate credentials' })
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235), or undefined. */
function bearerToken (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (header === undefined) return undefined
  const match = /^Bearer +(\S+) *$/i.exec(header)
  return match?.[1]
}

export default fp<AuthPluginOptions>(async function auth (app, opts) {
  if (!isLongEnoughSecret(opts.secret)) {
    throw new Error(`The JWT secret must be a string of at least ${MIN_SECRET_BYTES} bytes`)
  }
  const expiresIn = opts.expireMinutes * 60

  const issuer = opts.issuer ?? DEFAULT_TOKEN_ISSUER
  const audience = opts.audience ?? DEFAULT_TOKEN_ISSUER
  await app.register(fastifyJwt, {
    secret: opts.secret,
    sign: { algorithm: JWT_ALGORITHM, expiresIn, iss: issuer, aud: audience },
    // Only the configured algorithm (so never `none`), and no token without an expiry, a
    // subject, and this service as issuer and audience.
    verify: { algorithms: [JWT_ALGORITHM], requiredClaims: ['exp', 'sub', 'ver', 'iss', 'aud'], allowedIss: issuer, allowedAud: audience }
  })

  const claimsOf = createVerifiedTokenCache((token) => app.jwt.verify<VerifiedClaims>(token))

  /**
   * Admits the request (true, with `request.user` set) or answers it (false: 401, or 400 for a
   * disabled account when `active`). Synchronous unless the user lookup is asynchronous.
   */
  function check (request: FastifyRequest, reply: FastifyReply, active: boolean): MaybePromise<boolean> {
    const token = bearerToken(request)
    if (token === undefined) {
      notAuthenticated(reply)
      return false
    }
    const claims = claimsOf(token)
    if (claims === undefined) {
      invalidToken(reply)
      return false
    }
    // The user (unlike the token) is looked up on every request, so a disabled or deleted
    // account, or a changed password, is refused at once, by every instance.
    const found = app.users.findProfile(claims.sub)
    return isPromise(found)
      ? found.then((profile) => admit(request, reply, active, claims, profile))
      : admit(request, reply, active, claims, found)
  }

  function admit (request: FastifyRequest, reply: FastifyReply, active: boolean, claims: VerifiedClaims, found: UserProfile | undefined): boolean {
    if (found === undefined || found.tokenVersion !== claims.ver) {
      invalidToken(reply)
      return false
    }
    request.user = found.user
    if (active && found.user.disabled) {
      reply.code(400).send({ detail: 'Inactive user' })
      return false
    }
    return true
  }

  /** Runs `check` for a hook: through `done` when Fastify gave one, else as a promise. */
  function guard (request: FastifyRequest, reply: FastifyReply, active: boolean, done: HookHandlerDoneFunction | undefined): Promise<void> | undefined {
    if (done === undefined) {
      return (async () => {
        if (!await check(request, reply, active)) await reply
      })()
    }
    // Having answered, a callback hook must not call `done`: Fastify would go on to the handler.
    let admitted: MaybePromise<boolean>
    try {
      admitted = check(request, reply, active)
    } catch (error) {
      done(failure(error))
      return undefined
    }
    if (admitted === true) done()
    else if (admitted !== false) admitted.then((ok) => { if (ok) done() }, (error: unknown) => { done(failure(error)) })
    return undefined
  }

  const authenticate = function authenticate (request: FastifyRequest, reply: FastifyReply, done?: HookHandlerDoneFunction) {
    return guard(request, reply, false, done)
  } as AuthHook
  const currentActiveUser = function currentActiveUser (request: FastifyRequest, reply: FastifyReply, done?: HookHandlerDoneFunction) {
    return guard(request, reply, true, done)
  } as AuthHook

  const hooks = new Set<unknown>([authenticate, currentActiveUser])

  app.decorate('auth', {
    authenticate,
    currentActiveUser,
    issueAccessToken (user: { username: string, tokenVersion: number }): Token {
      return { access_token: app.jwt.sign({ sub: user.username, ver: user.tokenVersion }), token_type: 'bearer', expires_in: expiresIn }
    }
  })
  const names = opts.decorators ?? {}
  if (names.authenticate !== false) app.decorate(names.authenticate ?? 'authenticate', authenticate)
  if (names.currentActiveUser !== false) app.decorate(names.currentActiveUser ?? 'currentActiveUser', currentActiveUser)

  // Any route guarded by these hooks, the host's included, is marked as protected in OpenAPI.
  app.addHook('onRoute', (route) => {
    const guards = [route.onRequest, route.preValidation, route.preHandler].flat()
    if (!guards.some((hook) => hooks.has(hook))) return
    route.schema ??= {}
    ;(route.schema as { security?: unknown }).security ??= [{ [SECURITY_SCHEME]: [] }]
  })
}, { name: 'token-auth/auth', dependencies: ['token-auth/users'], fastify: '5.x' })
