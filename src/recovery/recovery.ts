import type { Accounts, AccountAudit } from '../accounts/accounts.js'
import { newPasswordProblem, PasswordRuleError, type NewPasswordRules, type PasswordHasher } from '../accounts/passwords.js'
import { emailVerified, type UserRecord, type UserStore } from '../accounts/user-store.js'
import { errors } from '../errors.js'
import type { Mailer } from '../mail/index.js'
import type { AccountTokenStore } from './account-tokens.js'

/** Who asks for a password reset: an address, or a username. */
export type ResetRequest = { email: string } | { username: string }

export interface RecoveryParts {
  users: UserStore
  accounts: Accounts
  tokens: AccountTokenStore
  mail: Mailer
  passwords: Pick<PasswordHasher, 'hash'>
  /** The rules of a new password; default newPasswordProblem's. */
  newPasswordRules?: NewPasswordRules
  /** The shared counters: a hit on `key` in a window of `windowMs`, answering the window's hits (undefined: unreachable). */
  hits: (key: string, windowMs: number) => Promise<number | undefined>
  resetMinutes: number
  verificationMinutes: number
}

// Mails of one kind to one account: at most one a minute and a few an hour, whoever asks.
const MAILS_PER_MINUTE = 1
const MAILS_PER_HOUR = 5
// The accounts one reset mail names: an address shared by more gets links for the first ones.
const MAX_ACCOUNTS_PER_MAIL = 10

/**
 * Password reset and email verification over the one-time tokens, the mailer and the accounts
 * module. A reset request does its work after the answer (see AfterAnswer): what it finds never
 * shows in the answer or its timing.
 */
export function createRecovery ({ users, accounts, tokens, mail, passwords, newPasswordRules = newPasswordProblem, hits, resetMinutes, verificationMinutes }: RecoveryParts) {
  /** Whether one more mail of `kind` to the account is within its quota; counted either way. Unreachable counters: allowed. */
  async function mailAllowed (username: string, kind: 'password_reset' | 'email_verification'): Promise<boolean> {
    const minute = await hits(`mail-minute:${kind}:${username}`, 60_000)
    if (minute !== undefined && minute > MAILS_PER_MINUTE) return false
    const hour = await hits(`mail-hour:${kind}:${username}`, 3_600_000)
    return hour === undefined || hour <= MAILS_PER_HOUR
  }

  /** The accounts a reset request is for that have an address to send to (a verified one) and are not disabled. */
  async function resetTargets (request: ResetRequest): Promise<UserRecord[]> {
    const found = 'email' in request
      ? await users.findByVerifiedEmail?.(request.email) ?? []
      : [await users.findByUsername(request.username)].filter((user): user is UserRecord => user !== undefined)
    return found.filter((user) => !user.disabled && typeof user.verifiedEmail === 'string')
  }

  return {
    /** Whether password resets work: the mailer has their link, and the store keeps verified addresses. */
    resets: mail.canSend('password_reset') && users.setVerifiedEmail !== undefined,
    /** Whether email verification works: the mailer has its link, and the store can record the proof. */
    verifications: mail.canSend('email_verification') && users.setVerifiedEmail !== undefined,
    /** Whether the store can find accounts by a verified address (else a reset names a username). */
    byEmail: users.findByVerifiedEmail !== undefined,

    /**
     * Mails a reset link to the verified address of each account the request names, within each
     * account's mail quota; one mail per address, with a link for each of its accounts.
     */
    async requestReset (request: ResetRequest, audit: AccountAudit): Promise<void> {
      const targets = await resetTargets(request)
      if (targets.length === 0) {
        audit('password_reset.requested', { by: 'email' in request ? 'email' : 'username', matched: 0 })
        return
      }
      const byAddress = new Map<string, Array<{ username: string, token: string }>>()
      for (const user of targets.slice(0, MAX_ACCOUNTS_PER_MAIL)) {
        const address = user.verifiedEmail as string
        if (!await mailAllowed(user.username, 'password_reset')) {
          audit('recovery_mail.throttled', { username: user.username, mail: 'password_reset' })
          continue
        }
        const token = await tokens.issue('password_reset', { username: user.username, email: null }, resetMinutes * 60_000)
        audit('password_reset.requested', { username: user.username, by: 'email' in request ? 'email' : 'username' })
        byAddress.set(address, [...byAddress.get(address) ?? [], { username: user.username, token }])
      }
      for (const [to, [first, ...more]] of byAddress) {
        if (first === undefined) continue
        mail.send({ kind: 'password_reset', to, username: first.username, token: first.token, moreAccounts: more })
      }
    },

    /**
     * Sets a new password with a reset token: the password rules first (PasswordRuleError), then
     * the token, spent once (RECOVERY_TOKEN_INVALID); every session of the user ends and a
     * "password changed" mail goes to the verified address.
     */
    async confirmReset (token: string, newPassword: string, audit: AccountAudit): Promise<void> {
      const problem = await newPasswordRules(newPassword)
      if (problem !== undefined) throw new PasswordRuleError(problem)
      // A token that cannot succeed costs no hash.
      if (await tokens.peek('password_reset', token) === undefined) throw errors.RECOVERY_TOKEN_INVALID.create()
      const hashed = await passwords.hash(newPassword)
      // Of concurrent confirms of one token, exactly one spends it.
      const holder = await tokens.spend('password_reset', token)
      if (holder === undefined) throw errors.RECOVERY_TOKEN_INVALID.create()
      const change = await accounts.resetPassword(holder.username, hashed, audit)
      if (change === undefined) throw errors.RECOVERY_TOKEN_INVALID.create()
      const user = await users.findByUsername(holder.username)
      if (typeof user?.verifiedEmail === 'string') mail.send({ kind: 'password_changed', to: user.verifiedEmail, username: user.username })
    },

    /**
     * Mails a link proving the account's current address, within its mail quota; false when no
     * mail was queued (no address, proven already, over the quota, or no verification URL).
     */
    async sendVerification (user: UserRecord, audit: AccountAudit): Promise<boolean> {
      if (user.email === null || emailVerified(user) || !mail.canSend('email_verification')) return false
      if (!await mailAllowed(user.username, 'email_verification')) {
        audit('recovery_mail.throttled', { username: user.username, mail: 'email_verification' })
        return false
      }
      const token = await tokens.issue('email_verification', { username: user.username, email: user.email }, verificationMinutes * 60_000)
      audit('email.verification_sent', { username: user.username })
      return mail.send({ kind: 'email_verification', to: user.email, username: user.username, token })
    },

    /** Proves the address a verification token was issued for, while it is still the account's (RECOVERY_TOKEN_INVALID otherwise). */
    async verifyEmail (token: string, audit: AccountAudit): Promise<void> {
      const holder = await tokens.spend('email_verification', token)
      if (holder?.email == null || !await accounts.verifyEmail(holder.username, holder.email, audit)) {
        throw errors.RECOVERY_TOKEN_INVALID.create()
      }
    }
  }
}

export type Recovery = ReturnType<typeof createRecovery>
