import { createHash, randomBytes } from 'node:crypto'

// Recovery codes: 80 random bits each, shown once as four groups of four Crockford base32
// characters, and stored as SHA-256 hashes. At 80 bits, a stolen table of hashes is not worth
// searching, so no slow hash is needed.

export const RECOVERY_CODE_COUNT = 10

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
const LENGTH = 16

/** A code as typed: its characters with hyphens or spaces between, in either case. */
export const RECOVERY_CODE_PATTERN = /^[0-9a-zA-Z][0-9a-zA-Z -]{14,30}[0-9a-zA-Z]$/

function newCode (): string {
  const bytes = randomBytes(10)
  let bits = 0n
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte)
  let code = ''
  for (let i = LENGTH - 1; i >= 0; i--) code += ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)]
  return code.match(/.{4}/g)?.join('-') ?? code
}

/** A new set of codes, as shown to the user. */
export const newRecoveryCodes = (): string[] => Array.from({ length: RECOVERY_CODE_COUNT }, newCode)

/**
 * The code in its one stored form, or undefined when it cannot be one: hyphens and spaces
 * dropped, lower case, and the letters Crockford base32 reads as digits (i, l → 1; o → 0) mapped.
 */
export function normalRecoveryCode (typed: string): string | undefined {
  if (!RECOVERY_CODE_PATTERN.test(typed)) return undefined
  const code = typed.toLowerCase().replace(/[ -]/g, '').replace(/[il]/g, '1').replace(/o/g, '0')
  return code.length === LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : undefined
}

/** What is stored for a code in its normal form. */
export const recoveryCodeHash = (normal: string): string => createHash('sha256').update(`recovery-code\0${normal}`).digest('base64url')
