export const MIN_SECRET_BYTES = 32

/** The one rule for a JWT secret, wherever it comes from (environment, plugin option, file). */
export function isLongEnoughSecret (secret: unknown): secret is string {
  return typeof secret === 'string' && Buffer.byteLength(secret, 'utf8') >= MIN_SECRET_BYTES
}
