import { generateSecret, generateURI, verify } from 'otplib'

// TOTP as authenticator apps do it (RFC 6238: SHA-1, 6 digits, 30 s steps), by otplib.

/** A code as typed: six digits. */
export const OTP_PATTERN = /^[0-9]{6}$/

/** A new secret: 160 random bits, base32 (what authenticator apps take). */
export const newTotpSecret = (): string => generateSecret()

/** The `otpauth://` URI an authenticator app scans: the issuer and the account in its label and parameters. */
export const totpUri = (issuer: string, account: string, secret: string): string => generateURI({ issuer, label: account, secret })

/**
 * The time step `code` is right for, now or one step either side (RFC 6238 §5.2: a clock a
 * little off, a code typed as it changed); undefined when it is not.
 */
export async function totpStep (secret: string, code: string): Promise<number | undefined> {
  if (!OTP_PATTERN.test(code)) return undefined
  const result = await verify({ secret, token: code, epochTolerance: 30 })
  // otplib's functional API answers HOTP's result type too; a TOTP check has its time step.
  return result.valid && 'timeStep' in result ? result.timeStep : undefined
}
