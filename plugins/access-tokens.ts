import { randomBytes } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import type { Token } from '../src/schemas/token.js'
import type { KeyRing } from '../src/tokens/key-ring.js'
import { secretKeyId, type PublicJwk, type SigningAlgorithm } from '../src/tokens/signing-keys.js'
import { createVerifiedTokenCache, type RememberedClaims, type VerifiedClaims } from '../src/tokens/verified-tokens.js'

/** The access token's media type (RFC 9068 §2.1): its header's `typ`. */
export const ACCESS_TOKEN_TYPE = 'at+jwt'

// Header parameters that would have a verifier fetch or trust a key the token names: refused.
const KEY_BEARING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256', 'crit']

export interface AccessTokens {
  /** The token response for a session: an access token for it and its scopes (expiring with it at the latest) beside its new refresh token. */
  issue (session: { id: string, username: string, expiresAt: string, clientId: string | null, amr?: string | null }, refreshToken: string, scope: string): Token
  /** The claims of a usable access token (header, signature, algorithm, `exp`, `iss`, `aud` checked), else undefined. */
  claimsOf (token: string): RememberedClaims | undefined
  /** The public keys that verify the tokens, for the JWKS (none under HS256). */
  jwks (): PublicJwk[]
}

export interface AccessTokensOptions {
  /** HMAC key for HS256, at least 32 bytes (src/token-auth.ts checks the options). */
  secret: string
  algorithm: SigningAlgorithm
  /** The signing keys of an asymmetric algorithm. */
  keys?: KeyRing
  expireMinutes: number
  /**
   * `iss` and `aud` of the access tokens, both checked on every request: another JWT signed with
   * the same key (a host's reset-password token, say) is not an access token.
   */
  issuer: string
  audience: string
  /** The `client_id` of a login that named no client: the first-party client. */
  clientId: string
}

type Verify = (token: string) => VerifiedClaims

/** The JOSE header of a compact JWS, or undefined when it is not one. */
function headerOf (token: string): Record<string, unknown> | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'))
    return typeof header === 'object' && header !== null && !Array.isArray(header) ? header as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

class Refused extends Error {}

/**
 * Signs and verifies access tokens (RFC 9068: `typ: at+jwt`, a `kid`, `iss`, `aud`, `sub`, `iat`,
 * `exp`, `jti`, `client_id`, `scope`, `sid`, and `amr` where the session recorded it) with fast-jwt, one signer and verifier per key. The
 * verifier pins the configured algorithm and finds a `kid` among this instance's keys only: a
 * token cannot name a key of its own or where to fetch one, and no lookup leaves the process.
 */
export function createAccessTokens (opts: AccessTokensOptions): AccessTokens {
  const { algorithm, keys } = opts
  if (algorithm !== 'HS256' && keys === undefined) throw new Error(`fastify-token-auth: ${algorithm} needs its key ring`)
  const lifetime = opts.expireMinutes * 60
  // No token without an expiry, an issue time no older than the lifetime, a subject, a session,
  // and this service as issuer and audience; an issue time in the future is refused by claimsOf.
  const verifierOptions = {
    algorithms: [algorithm],
    requiredClaims: ['exp', 'iat', 'sub', 'sid', 'iss', 'aud'],
    maxAge: lifetime * 1000,
    allowedIss: opts.issuer,
    allowedAud: opts.audience
  }
  const hsKid = secretKeyId(opts.secret)
  const hsVerify: Verify | undefined = algorithm === 'HS256' ? createVerifier({ ...verifierOptions, key: opts.secret }) : undefined

  // One verifier per published key, made on first use and dropped with the key.
  const verifiers = new Map<string, { pem: string, verify: Verify }>()
  function verifierOf (kid: string): Verify | undefined {
    if (algorithm === 'HS256') return kid === hsKid ? hsVerify : undefined
    const pem = keys?.publicKey(kid)
    if (pem === undefined) {
      verifiers.delete(kid)
      return undefined
    }
    let entry = verifiers.get(kid)
    if (entry?.pem !== pem) {
      entry = { pem, verify: createVerifier({ ...verifierOptions, key: pem }) }
      verifiers.set(kid, entry)
    }
    return entry.verify
  }

  function verify (token: string): VerifiedClaims {
    const header = headerOf(token)
    if (header === undefined || header.alg !== algorithm || KEY_BEARING_HEADERS.some((name) => name in header)) throw new Refused()
    let verifyWith: Verify | undefined
    if (header.typ === ACCESS_TOKEN_TYPE && typeof header.kid === 'string') verifyWith = verifierOf(header.kid)
    // Tokens issued before RFC 9068 (HS256, no kid) stay valid until they expire.
    else if (algorithm === 'HS256' && header.kid === undefined && (header.typ === undefined || header.typ === 'JWT')) verifyWith = hsVerify
    if (verifyWith === undefined) throw new Refused()
    const claims = verifyWith(token)
    // RFC 9068 §2.2: an access token names its client and has an id.
    if (header.typ === ACCESS_TOKEN_TYPE && (typeof claims.client_id !== 'string' || typeof claims.jti !== 'string')) throw new Refused()
    return claims
  }

  const signers = new Map<string, (payload: Record<string, unknown>) => string>()
  function signerOf (kid: string, key: string) {
    let signer = signers.get(kid)
    if (signer === undefined) {
      signer = createSigner({ key, algorithm, kid, header: { alg: algorithm, typ: ACCESS_TOKEN_TYPE } })
      // Keys retired long ago are not kept.
      if (signers.size > 8) signers.clear()
      signers.set(kid, signer)
    }
    return signer
  }

  return {
    issue (session, refreshToken, scope) {
      const now = Math.floor(Date.now() / 1000)
      // Never outliving its session: near the session's absolute limit the token is shorter.
      const expiresIn = Math.max(1, Math.min(lifetime, Math.floor(Date.parse(session.expiresAt) / 1000) - now))
      const current = keys?.current() ?? { kid: hsKid, privateKey: opts.secret }
      const accessToken = signerOf(current.kid, current.privateKey)({
        iss: opts.issuer,
        aud: opts.audience,
        sub: session.username,
        sid: session.id,
        client_id: session.clientId ?? opts.clientId,
        scope,
        // RFC 8176: how the session's login was authenticated, when it was recorded.
        ...(session.amr != null && { amr: session.amr.split(' ') }),
        // Every token is new, a refresh within the same second included.
        jti: randomBytes(12).toString('base64url'),
        // fast-jwt adds iat.
        exp: now + expiresIn
      })
      return { access_token: accessToken, token_type: 'bearer', expires_in: expiresIn, refresh_token: refreshToken, scope }
    },
    claimsOf: createVerifiedTokenCache(verify),
    jwks: () => keys?.jwks() ?? []
  }
}
