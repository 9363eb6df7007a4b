import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

// The resource servers that may introspect tokens: a client id and the SHA-256 of a random
// secret. A secret of 32 random bytes needs no slow hash: no guess can find it.

/** How many random bytes a new secret has. */
const SECRET_BYTES = 32

/** The lowercase hex SHA-256 of a secret, as `resourceServers` and INTROSPECTION_CLIENTS hold it. */
export function resourceServerSecretHash (secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** A fresh secret for a resource server: 32 random bytes, base64url (43 characters, nothing to escape). */
export function newResourceServerSecret (): string {
  return randomBytes(SECRET_BYTES).toString('base64url')
}

/** The id and secret of an `Authorization: Basic …` header (scheme case-insensitive), or undefined when there is none. */
export function basicCredentials (header: string | undefined): { id: string, secret: string } | undefined {
  const match = header === undefined ? null : /^Basic +([A-Za-z0-9+/=_-]+) *$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  // RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined.
  return { id: formDecoded(decoded.slice(0, colon)), secret: formDecoded(decoded.slice(colon + 1)) }
}

function formDecoded (text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

/** Whether `secret` is the secret of the resource server `id`; the same work whether or not the id is known. */
export function createResourceServerCheck (servers: Readonly<Record<string, string>>): (id: string, secret: string) => boolean {
  const hashes = new Map(Object.entries(servers).map(([id, hash]) => [id, Buffer.from(hash, 'hex')]))
  const nobody = Buffer.alloc(32)
  return (id, secret) => {
    const expected = hashes.get(id)
    const given = createHash('sha256').update(secret, 'utf8').digest()
    return timingSafeEqual(given, expected ?? nobody) && expected !== undefined
  }
}
