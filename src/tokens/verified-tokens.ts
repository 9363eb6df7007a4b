export interface VerifiedClaims {
  sub: string
  exp: number
  /** Seconds since the epoch, as `exp`. */
  iat: number
  /** The session the token belongs to. */
  sid: string
  /** The scopes granted, space-separated (RFC 6749 §3.3). */
  scope: string
  /** The OAuth2 client the login named (absent from tokens issued before RFC 9068 claims). */
  client_id?: string
  jti?: string
  /** How the login was authenticated (RFC 8176), where the session recorded it. */
  amr?: string[]
}

/** Verified claims as remembered: with the granted scopes split once, for every request the token makes. */
export interface RememberedClaims extends VerifiedClaims {
  readonly scopes: readonly string[]
}

/** How far ahead of this clock another instance's may be. */
const CLOCK_SKEW_MS = 5000

/**
 * Remembers, for tokens already verified (signature, algorithm, claims), their claims until
 * their `exp`, so a client reusing its token skips the HMAC and JSON work on later requests.
 * Keyed by the exact token string; a hit is honoured only while `now < exp`, so a token is
 * still refused from the second it expires. Failures are never remembered. Bounded: the oldest
 * entry goes first when full. `clock` is for the tests: milliseconds since the epoch.
 */
export function createVerifiedTokenCache (verify: (token: string) => VerifiedClaims, maxEntries = 10_000, clock: () => number = Date.now) {
  const entries = new Map<string, RememberedClaims>()
  /** The token's claims, or undefined when it is unusable. */
  return function claimsOf (token: string): RememberedClaims | undefined {
    const now = clock()
    const hit = entries.get(token)
    if (hit !== undefined) {
      if (now < hit.exp * 1000) return hit
      entries.delete(token)
      return undefined
    }
    let claims: VerifiedClaims
    try {
      claims = verify(token)
    } catch {
      return undefined
    }
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || typeof claims.sid !== 'string' || typeof claims.scope !== 'string') return undefined
    // Issued in the future: not by this service, whose instances' clocks agree within the skew.
    if (typeof claims.iat !== 'number' || claims.iat * 1000 > now + CLOCK_SKEW_MS) return undefined
    const remembered = {
      sub: claims.sub,
      exp: claims.exp,
      iat: claims.iat,
      sid: claims.sid,
      scope: claims.scope,
      ...(typeof claims.client_id === 'string' && { client_id: claims.client_id }),
      ...(typeof claims.jti === 'string' && { jti: claims.jti }),
      ...(Array.isArray(claims.amr) && claims.amr.every((method) => typeof method === 'string') && { amr: claims.amr }),
      scopes: Object.freeze(claims.scope.split(' '))
    }
    if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string)
    entries.set(token, remembered)
    return remembered
  }
}
