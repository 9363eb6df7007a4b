import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

// Secrets kept at rest (the private signing keys, the TOTP secrets) are sealed with AES-256-GCM
// under a key derived from the plugin's secret (HKDF-SHA256, a fresh salt per seal), bound to
// what they belong to by the associated data: a seal moved to another row does not open.

const SEAL_VERSION = 'v1'

/** What a seal is for: the HKDF `info` (one per kind of secret) and the associated data (the row it belongs to). */
export interface SealContext {
  info: string
  aad: string
}

function sealingKey (secret: string, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, 32))
}

/** `plain` sealed under `secret`: `v1.salt.iv.tag.ciphertext`, base64url parts. */
export function seal (plain: string, secret: string, context: SealContext): string {
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealingKey(secret, salt, context.info), iv)
  cipher.setAAD(Buffer.from(context.aad))
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return [SEAL_VERSION, ...[salt, iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.')
}

/** What a seal holds, or undefined when `secret` (or the context) is not the one it was sealed with, or it was altered. */
export function unseal (sealed: string, secret: string, context: SealContext): string | undefined {
  const [version, salt, iv, tag, ciphertext, extra] = sealed.split('.')
  if (version !== SEAL_VERSION || salt === undefined || iv === undefined || tag === undefined || ciphertext === undefined || extra !== undefined) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(secret, Buffer.from(salt, 'base64url'), context.info), Buffer.from(iv, 'base64url'))
    decipher.setAAD(Buffer.from(context.aad))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
