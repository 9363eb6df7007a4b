import { randomBytes } from 'node:crypto'
import fastifyJwt, { type JWT } from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import type { Token } from '../src/schemas/token.js'
import { createVerifiedTokenCache, type RememberedClaims, type VerifiedClaims } from '../src/tokens/verified-tokens.js'

const JWT_ALGORITHM = 'HS256'
const JWT_NAMESPACE = 'tokenAuth'

export interface AccessTokens {
  /** The token response for a session: an access token for it and its scopes (expiring with it at the latest) beside its new refresh token. */
  issue (session: { id: string, username: string, expiresAt: string }, refreshToken: string, scope: string): Token
  /** The claims of a usable access token (signature, algorithm, `exp`, `iss`, `aud` checked), else undefined. */
  claimsOf (token: string): RememberedClaims | undefined
}

export interface AccessTokensOptions {
  /** HMAC key for HS256, at least 32 bytes (src/token-auth.ts checks the options). */
  secret: string
  expireMinutes: number
  /**
   * `iss` and `aud` of the access tokens, both checked on every request: another JWT signed with
   * the same secret (a host's reset-password token, say) is not an access token.
   */
  issuer: string
  audience: string
}

/**
 * Signs and verifies access tokens with @fastify/jwt, registered in `app` under its own namespace
 * in a context of its own: a host's `jwt` decorator, `request.user` and `FastifyJWT` types are
 * never touched, and the host never sees this one.
 */
export async function registerAccessTokens (app: FastifyInstance, opts: AccessTokensOptions): Promise<AccessTokens> {
  const lifetime = opts.expireMinutes * 60
  let jwt: JWT | undefined
  await app.register(async function jwtContext (context) {
    // @fastify/jwt adds its namespace to whatever `jwt` object the context has, the host's
    // included: this context gets one of its own first.
    Object.defineProperty(context, 'jwt', { value: Object.create(null), enumerable: true })
    await context.register(fastifyJwt, {
      secret: opts.secret,
      namespace: JWT_NAMESPACE,
      // `exp` is set per token (see issue), so no default lifetime here.
      sign: { algorithm: JWT_ALGORITHM, iss: opts.issuer, aud: opts.audience },
      // Only the configured algorithm (so never `none`), and no token without an expiry, a
      // numeric issue time no older than the lifetime, a subject, a session, and this service as
      // issuer and audience. An issue time in the future is refused by claimsOf.
      verify: {
        algorithms: [JWT_ALGORITHM],
        requiredClaims: ['exp', 'iat', 'sub', 'sid', 'iss', 'aud'],
        // Seconds: @fastify/jwt converts a number to fast-jwt's milliseconds.
        maxAge: lifetime,
        allowedIss: opts.issuer,
        allowedAud: opts.audience
      }
    })
    jwt = (context.jwt as unknown as Record<string, JWT>)[JWT_NAMESPACE]
  })
  if (jwt === undefined) throw new Error('@fastify/jwt did not register its namespace')
  const signer = jwt

  return {
    issue (session, refreshToken, scope) {
      const now = Math.floor(Date.now() / 1000)
      // Never outliving its session: near the session's absolute limit the token is shorter.
      const expiresIn = Math.max(1, Math.min(lifetime, Math.floor(Date.parse(session.expiresAt) / 1000) - now))
      // jti: every token is new, a refresh within the same second included.
      const accessToken = signer.sign({ sub: session.username, sid: session.id, scope, jti: randomBytes(12).toString('base64url'), exp: now + expiresIn })
      return { access_token: accessToken, token_type: 'bearer', expires_in: expiresIn, refresh_token: refreshToken, scope }
    },
    claimsOf: createVerifiedTokenCache((token) => signer.verify<VerifiedClaims>(token))
  }
}
