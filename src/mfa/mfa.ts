import type { AccountAudit } from '../accounts/accounts.js'
import { errors, type ErrorEntry } from '../errors.js'
import type { SessionStore } from '../sessions/session-store.js'
import { credentialOf, MFA_TOKEN_PATTERN, type MfaChallenge, type MfaFactor, type MfaStore } from './mfa-store.js'
import { newRecoveryCodes, normalRecoveryCode, recoveryCodeHash } from './recovery-codes.js'
import { newTotpSecret, OTP_PATTERN, totpStep, totpUri } from './totp.js'

/** The `grant_type` of a login's second step (an RFC 6749 §4.5 extension grant). */
export const MFA_GRANT_TYPE = 'urn:fastify-token-auth:grant-type:mfa'
/** An `mfa_token` lives this long, and dies after this many wrong codes. */
export const MFA_TOKEN_MINUTES = 5
export const MFA_TOKEN_MAX_FAILURES = 5

const HOUR_MS = 3_600_000
// As a session keeps it.
const USER_AGENT_MAX_LENGTH = 512

/** A code given to prove the factor: one from the authenticator app, or a recovery code. */
export type MfaCode = { otp: string } | { recoveryCode: string }

/** How a code proved the factor: a TOTP code, with its time step, or a recovery code. */
export type MfaProof = { method: 'totp', step: number } | { method: 'recovery_code' }

/** A code that did not prove the factor, as the client sees it. */
export class MfaCodeRefused extends Error {
  constructor (readonly entry: ErrorEntry<[], string>, readonly reason: string, readonly username: string) {
    super(entry.detail())
    this.name = 'MfaCodeRefused'
  }
}

export interface MfaParts {
  store: MfaStore
  sessions: Pick<SessionStore, 'endAll'>
  /** The issuer an authenticator app shows beside the account. */
  issuer: string
  /** Wrong codes per account in an hour before its codes are no longer checked; false: no limit. */
  failuresPerHour: number | false
}

export interface MfaStatus {
  totp_enabled: boolean
  recovery_codes_remaining: number
}

/**
 * A code as typed, sorted: six digits are a TOTP code, anything else must be a recovery code.
 * A malformed one is refused before anything is checked or counted.
 */
export function codeOf (typed: string): MfaCode {
  return OTP_PATTERN.test(typed) ? { otp: typed } : { recoveryCode: typed }
}

/**
 * The second factor of the accounts: enrolment, its codes, and turning it off. Every change
 * writes its audit line and ends the sessions it must, as the accounts module does for the rest.
 */
export function createMfa ({ store, sessions, issuer, failuresPerHour }: MfaParts) {
  /** The wait, in ms, before the account's codes are checked again; 0 when they may be now. */
  function lockedFor (factor: MfaFactor, now: number): number {
    if (failuresPerHour === false || factor.failuresSince === undefined || factor.failures < failuresPerHour) return 0
    return Math.max(0, factor.failuresSince + HOUR_MS - now)
  }

  async function refused (factor: MfaFactor, entry: ErrorEntry<[], string>, reason: string): Promise<never> {
    await store.failed(factor.username, HOUR_MS)
    throw new MfaCodeRefused(entry, reason, factor.username)
  }

  /**
   * Checks a code against the factor, and spends it: a TOTP code's time step (no code of that
   * step or an earlier one is taken again), or the recovery code. Throws TOO_MANY_REQUESTS while
   * the account is over its limit (nothing checked), the shape's error for a malformed code, and
   * MfaCodeRefused (counted against the account) for a wrong or used one.
   */
  async function prove (factor: MfaFactor, code: MfaCode): Promise<MfaProof> {
    const recovery = 'otp' in code ? undefined : normalRecoveryCode(code.recoveryCode)
    checkShape(code)
    const wait = lockedFor(factor, Date.now())
    if (wait > 0) throw errors.TOO_MANY_REQUESTS.create(Math.ceil(wait / 1000))
    if (recovery !== undefined) {
      if (!factor.enabled) return await refused(factor, errors.RECOVERY_CODE_INVALID, 'recovery_code_invalid')
      const spent = await store.spendCode(factor.username, recoveryCodeHash(recovery))
      if (spent === 'used') return await refused(factor, errors.RECOVERY_CODE_USED, 'recovery_code_used')
      if (spent === 'unknown') return await refused(factor, errors.RECOVERY_CODE_INVALID, 'recovery_code_invalid')
      return { method: 'recovery_code' }
    }
    const step = await totpStep(factor.secret, (code as { otp: string }).otp)
    if (step === undefined) return await refused(factor, errors.OTP_INVALID, 'otp_invalid')
    if (factor.lastStep !== undefined && step <= factor.lastStep) return await refused(factor, errors.OTP_REPLAYED, 'otp_replayed')
    // Claimed by one statement: of two requests with the same code, one gets it. A pending
    // factor's first code is claimed as the factor is turned on.
    if (factor.enabled && !await store.claimStep(factor.username, step)) return await refused(factor, errors.OTP_REPLAYED, 'otp_replayed')
    return { method: 'totp', step }
  }

  /** The shape of a code, checked before anything is looked up or counted. */
  function checkShape (code: MfaCode): void {
    if ('otp' in code) {
      if (!OTP_PATTERN.test(code.otp)) throw errors.OTP_MALFORMED.create()
    } else if (normalRecoveryCode(code.recoveryCode) === undefined) throw errors.RECOVERY_CODE_MALFORMED.create()
  }

  /** The user's factor when it is on; MFA_NOT_ENABLED otherwise. */
  async function enabledFactor (username: string): Promise<MfaFactor> {
    const factor = await store.factorOf(username)
    if (factor?.enabled !== true) throw errors.MFA_NOT_ENABLED.create()
    return factor
  }

  async function newCodes (): Promise<{ shown: string[], hashes: string[] }> {
    const shown = newRecoveryCodes()
    return { shown, hashes: shown.map((code) => recoveryCodeHash(normalRecoveryCode(code) as string)) }
  }

  return {
    /** Whether the user's TOTP is on: the one query a password grant adds. */
    isOn: async (username: string) => await store.isOn(username),

    /** An `mfa_token` for the second step of a login whose password was right (checked against `hashedPassword`). */
    async challenge (user: { username: string, hashedPassword: string }, login: { scope: string, clientId: string | null, userAgent: string | undefined }): Promise<string> {
      return await store.challenge({
        username: user.username,
        credential: credentialOf(user.hashedPassword),
        scope: login.scope,
        clientId: login.clientId,
        userAgent: login.userAgent === undefined || login.userAgent === '' ? null : login.userAgent.slice(0, USER_AGENT_MAX_LENGTH)
      }, MFA_TOKEN_MINUTES * 60_000)
    },

    /**
     * The second step of a login: the `mfa_token`'s challenge, its code proven and spent, and the
     * token spent. Shapes first (nothing counted); MFA_TOKEN_INVALID for a token that is no good;
     * a wrong code is an MfaCodeRefused, counted against the token (gone at the fifth) and the account.
     */
    async secondStep (mfaToken: string, code: MfaCode): Promise<{ challenge: MfaChallenge, proof: MfaProof }> {
      if (!MFA_TOKEN_PATTERN.test(mfaToken)) throw errors.MFA_TOKEN_MALFORMED.create()
      checkShape(code)
      const challenge = await store.peekChallenge(mfaToken)
      if (challenge === undefined) throw errors.MFA_TOKEN_INVALID.create()
      const factor = await store.factorOf(challenge.username)
      if (factor?.enabled !== true) {
        await store.spendChallenge(mfaToken)
        throw errors.MFA_TOKEN_INVALID.create()
      }
      let proof: MfaProof
      try {
        proof = await prove(factor, code)
      } catch (error) {
        if (error instanceof MfaCodeRefused) await store.challengeFailed(mfaToken, MFA_TOKEN_MAX_FAILURES)
        throw error
      }
      if (!await store.spendChallenge(mfaToken)) throw errors.MFA_TOKEN_INVALID.create()
      return { challenge, proof }
    },

    /** Whether a login's second step still stands: the password it was checked against is the account's, and TOTP is still on. */
    async stillCurrent (challenge: MfaChallenge, now: { hashedPassword: string }): Promise<boolean> {
      return credentialOf(now.hashedPassword) === challenge.credential && await store.isOn(challenge.username)
    },

    /** How many of the user's recovery codes are unused. */
    codesLeft: async (username: string) => await store.codesLeft(username),

    /** Whether the user's TOTP is on, and how many recovery codes are left. */
    async status (username: string): Promise<MfaStatus> {
      const on = await store.isOn(username)
      return { totp_enabled: on, recovery_codes_remaining: on ? await store.codesLeft(username) : 0 }
    },

    /** Starts an enrolment (replacing a pending one): the secret and its `otpauth://` URI. MFA_ALREADY_ENABLED when TOTP is on. */
    async enrol (username: string, audit: AccountAudit): Promise<{ secret: string, otpauth_uri: string }> {
      const secret = newTotpSecret()
      if (!await store.begin(username, secret)) throw errors.MFA_ALREADY_ENABLED.create()
      audit('mfa.enrolment_started', { username })
      return { secret, otpauth_uri: totpUri(issuer, username, secret) }
    },

    /**
     * Turns the pending factor on with its first code: the recovery codes (shown this once), and
     * every other session of the user ends. MFA_NOT_PENDING without a pending enrolment.
     */
    async activate (username: string, otp: string, session: string, audit: AccountAudit): Promise<string[]> {
      const factor = await store.factorOf(username)
      if (factor === undefined || factor.enabled) throw errors.MFA_NOT_PENDING.create()
      const proof = await prove(factor, { otp })
      const codes = await newCodes()
      if (proof.method !== 'totp' || !await store.activate(username, proof.step, codes.hashes)) throw errors.MFA_NOT_PENDING.create()
      const endedSessions = await sessions.endAll(username, { except: session })
      audit('mfa.enabled', { username, session, endedSessions })
      return codes.shown
    },

    /** New recovery codes in place of the old, after a code proves the factor. */
    async replaceCodes (username: string, code: MfaCode, audit: AccountAudit): Promise<string[]> {
      const factor = await enabledFactor(username)
      await prove(factor, code)
      const codes = await newCodes()
      if (!await store.replaceCodes(username, codes.hashes)) throw errors.MFA_NOT_ENABLED.create()
      audit('mfa.recovery_codes_replaced', { username })
      return codes.shown
    },

    /** The owner turns TOTP off after a code proves it (the password is the caller's to check): every other session ends. */
    async disable (username: string, code: MfaCode, session: string, audit: AccountAudit): Promise<void> {
      const factor = await enabledFactor(username)
      await prove(factor, code)
      await store.remove(username)
      const endedSessions = await sessions.endAll(username, { except: session })
      audit('mfa.disabled', { username, session, endedSessions })
    },

    /** An operator turns the user's second factor off (a lost authenticator), or drops a pending enrolment; false when there was neither. */
    async reset (username: string, audit: AccountAudit): Promise<boolean> {
      if (!await store.remove(username)) return false
      audit('mfa.reset', { username })
      return true
    }
  }
}

export type Mfa = ReturnType<typeof createMfa>
