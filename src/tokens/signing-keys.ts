import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { seal, unseal } from './seal.js'

// The keys that sign access tokens under an asymmetric algorithm: made here, named by their
// RFC 7638 thumbprint, published as RFC 7517 JWKs, and their private halves sealed with
// AES-256-GCM under a key derived from the plugin's secret before they are stored.

/** The algorithms an instance may sign with: `HS256` with the shared secret, or a key pair. */
export const SIGNING_ALGORITHMS = ['HS256', 'ES256', 'EdDSA', 'RS256'] as const
export type SigningAlgorithm = typeof SIGNING_ALGORITHMS[number]
export type AsymmetricAlgorithm = Exclude<SigningAlgorithm, 'HS256'>

/** A public key as the JWKS publishes it (RFC 7517): its type's public members only. */
export interface PublicJwk {
  kty: string
  kid: string
  alg: AsymmetricAlgorithm
  use: 'sig'
  /** EC and OKP. */
  crv?: string
  x?: string
  /** EC. */
  y?: string
  /** RSA. */
  n?: string
  e?: string
}

export interface NewSigningKey {
  kid: string
  publicJwk: PublicJwk
  /** PKCS#8 PEM: seal it before it goes anywhere. */
  privatePem: string
}

// The members RFC 7638 hashes for each key type, in its lexicographic order.
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] }

/** The RFC 7638 thumbprint of a public JWK (SHA-256, base64url): a `kid` that names the key itself. */
export function jwkThumbprint (jwk: Readonly<Record<string, unknown>>): string {
  const members = THUMBPRINT_MEMBERS[String(jwk.kty)]
  if (members === undefined) throw new Error(`fastify-token-auth: no thumbprint for a ${String(jwk.kty)} key`)
  const canonical = JSON.stringify(Object.fromEntries(members.map((name) => [name, jwk[name]])))
  return createHash('sha256').update(canonical).digest('base64url')
}

function generatePair (algorithm: AsymmetricAlgorithm) {
  switch (algorithm) {
    case 'ES256': return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    case 'EdDSA': return generateKeyPairSync('ed25519')
    case 'RS256': return generateKeyPairSync('rsa', { modulusLength: 2048 })
  }
}

/** A fresh key pair for `algorithm`, named by its thumbprint. */
export function generateSigningKey (algorithm: AsymmetricAlgorithm): NewSigningKey {
  const { publicKey, privateKey } = generatePair(algorithm)
  const exported = publicKey.export({ format: 'jwk' }) as Record<string, string | undefined>
  const kid = jwkThumbprint(exported)
  const { crv, x, y, n, e } = exported
  return {
    kid,
    publicJwk: { kty: String(exported.kty), kid, alg: algorithm, use: 'sig', ...Object.fromEntries(Object.entries({ crv, x, y, n, e }).filter(([, value]) => value !== undefined)) },
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  }
}

/** The `kid` of the HS256 key: names the secret without revealing it (a token's signature already tests any guess). */
export function secretKeyId (secret: string): string {
  return createHash('sha256').update(`fastify-token-auth hs256 kid\0${secret}`).digest('base64url').slice(0, 22)
}

/** A sealed private key could not be opened: it was sealed under another secret (or altered). */
export class KeyUnsealError extends Error {
  constructor (readonly kid: string) {
    super(`fastify-token-auth: the signing key ${kid} cannot be opened with this secret`)
    this.name = 'KeyUnsealError'
  }
}

const SEAL = (kid: string) => ({ info: 'fastify-token-auth signing key seal v1', aad: kid })

/** The private key sealed under `secret` (see seal.ts; its `kid` as associated data). */
export function sealPrivateKey (privatePem: string, secret: string, kid: string): string {
  return seal(privatePem, secret, SEAL(kid))
}

/** The private key a seal holds, or a KeyUnsealError when `secret` (or the `kid`) is not the one it was sealed with. */
export function openPrivateKey (sealed: string, secret: string, kid: string): KeyObject {
  const pem = unseal(sealed, secret, SEAL(kid))
  if (pem === undefined) throw new KeyUnsealError(kid)
  try {
    return createPrivateKey(pem)
  } catch {
    throw new KeyUnsealError(kid)
  }
}
