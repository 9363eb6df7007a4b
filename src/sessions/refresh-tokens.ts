import { createHash, randomBytes } from 'node:crypto'

/** A session id: 128 random bits, base64url. */
export const newSessionId = () => randomBytes(16).toString('base64url')

/** An opaque refresh token: 256 random bits, base64url. */
export const newRefreshToken = () => randomBytes(32).toString('base64url')

/** What is stored of a refresh token: its SHA-256 (enough for 256 random bits; nothing to slow down). */
export const refreshTokenHash = (token: string) => createHash('sha256').update(token).digest('base64url')
