import { errors } from '../errors.js'
import { ADMIN_SCOPE } from '../scopes/scopes.js'
import type { AccountTokenStore } from '../recovery/account-tokens.js'
import type { MfaStore } from '../mfa/mfa-store.js'
import type { SessionStore } from '../sessions/session-store.js'
import { checkNewAccount, checkProfile } from './account-rules.js'
import { newPasswordProblem, passwordLengthProblem, PasswordRuleError, type NewPasswordRules, type PasswordHasher } from './passwords.js'
import { emailVerified, type NewUser, type ProfileChanges, type UserPage, type UserRecord, type UserStore } from './user-store.js'

/** The audit events of account changes. */
export type AccountEvent =
  | 'user.registered' | 'user.created' | 'user.disabled' | 'user.enabled' | 'user.deleted'
  | 'password.changed' | 'password.check_failed' | 'sessions.revoked'
  | 'user.admin_granted' | 'user.admin_revoked' | 'user.updated' | 'sessions.revoked_all'
  | 'password.reset' | 'email.verified'
  | 'password_reset.requested' | 'email.verification_sent' | 'recovery_mail.throttled'
  | 'mfa.enrolment_started' | 'mfa.enabled' | 'mfa.disabled' | 'mfa.reset' | 'mfa.recovery_codes_replaced' | 'mfa.code_failed'

export interface AccountAuditFields {
  /** The account changed; absent for a change of every account (`sessions.revoked_all`). */
  username?: string
  /** The session the owner acted from. */
  session?: string
  endedSessions?: number
  disabled?: boolean
  /** Which password check failed: 'password_change' or 'account_deletion'. */
  check?: string
  [field: string]: string | number | boolean | undefined
}

/** Writes one audit line of an account change; the caller decides where, and whom it names. */
export type AccountAudit = (event: AccountEvent, fields: AccountAuditFields) => void

/**
 * Who makes a change through the public API, for its audit lines: `actor` (such as 'host' or
 * 'cli') and any fields of the caller's own (an operator's name, say). Never a password.
 */
export interface AuditActor {
  readonly actor: string
  readonly [field: string]: string
}

/** A new account, with its password in the clear: it is checked (8 to 72 bytes) and hashed. */
export interface NewAccount {
  username: string
  password: string
  email?: string | null
  fullName?: string | null
  /** Created disabled: it can log in, but the routes that need an active account answer 400. Default false. */
  disabled?: boolean
}

/** What an account change did to the user's sessions. */
export interface AccountChange {
  endedSessions: number
}

/** An account as an administrator sees it: wire field names, never a hash. */
export interface AdminUser {
  username: string
  email: string | null
  /** Whether `email` is proven the owner's. */
  email_verified: boolean
  full_name: string | null
  disabled: boolean
  is_admin: boolean
  /** ISO 8601 (UTC); null where the user store does not keep it. */
  created_at: string | null
  /** How many unexpired sessions the user has. */
  live_sessions: number
}

/** What an administrator changes of an account; an absent field stays as it is, null clears a profile field. */
export interface AdminChanges {
  /** true ends every session of the user. */
  disabled?: boolean
  /** false ends the user's sessions holding the `admin` scope. */
  isAdmin?: boolean
  email?: string | null
  fullName?: string | null
  /** true: the account's address (the new one, when `email` is given too) counts as proven. */
  emailVerified?: true
}

/**
 * Who makes an administrator's change: `actor` names them (an administrator's username, or
 * 'host', 'cli'), and when it names the account itself, an administrator's, taking its own admin
 * rights, disabling or deleting it is refused; `audit` writes the change's line.
 */
export interface AdminActor {
  readonly actor: string
  readonly audit: AccountAudit
}

/** The most accounts one page of `list` holds. */
export const MAX_PAGE_SIZE = 1000
/** The longest `prefix` of `list`. */
export const MAX_PREFIX_LENGTH = 64

/** The password given to confirm an owner's change is not the account's. */
export class WrongPasswordError extends Error {
  constructor () {
    super('fastify-token-auth: the password is not the account\'s')
    this.name = 'WrongPasswordError'
  }
}

/** The account an owner's change was for is gone. */
export class NoSuchUserError extends Error {
  constructor (username: string) {
    super(`fastify-token-auth: no user named ${username}`)
    this.name = 'NoSuchUserError'
  }
}

/** Runs one password check; the routes run it under the token endpoint's admission. */
export type PasswordCheckRunner = <T extends { valid: boolean }>(check: () => Promise<T>) => Promise<T>

/** A change the account's owner makes, from a session of theirs, confirmed with the password. */
export interface OwnerChange {
  audit: AccountAudit
  /** The session the owner acts from: a password change keeps it; the audit line names it. */
  session: string
  /** How the password check runs; default: at once. */
  checkPassword?: PasswordCheckRunner
}

export { PasswordRuleError }

export interface AccountParts {
  users: UserStore
  sessions: Pick<SessionStore, 'endAll' | 'endHoldingScope' | 'endEveryone' | 'countLive'>
  passwords: Pick<PasswordHasher, 'hash' | 'verify'>
  /** The rules of a new password; default newPasswordProblem's (length, the common-password list). */
  newPasswordRules?: NewPasswordRules
  /** The one-time tokens of account recovery: a new password or a deletion revokes the user's. */
  recoveryTokens?: Pick<AccountTokenStore, 'revoke'>
  /** The second factors: a deletion removes the user's (a host's store has no foreign key to take it). */
  mfa?: Pick<MfaStore, 'remove'>
  /**
   * Runs `write` in one transaction, with a store whose writes commit together or not at all
   * (the built-in store); without it, an administrator's update checks everything first.
   */
  transaction?: <T>(write: (users: UserStore) => Promise<T>) => Promise<T>
}

function checkPage ({ limit, offset, prefix }: UserPage): void {
  const whole = (n: unknown, min: number, max: number) => typeof n === 'number' && Number.isSafeInteger(n) && n >= min && n <= max
  if (!whole(limit, 1, MAX_PAGE_SIZE)) throw errors.PAGE_RANGE.create(`limit must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${String(limit)}`)
  if (!whole(offset, 0, Number.MAX_SAFE_INTEGER)) throw errors.PAGE_RANGE.create(`offset must be a whole number from 0, got ${String(offset)}`)
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length > MAX_PREFIX_LENGTH)) {
    throw errors.PAGE_RANGE.create(`prefix must be text of at most ${MAX_PREFIX_LENGTH} characters`)
  }
}

function adminView (user: UserRecord, liveSessions: number): AdminUser {
  return {
    username: user.username,
    email: user.email,
    full_name: user.fullName,
    disabled: user.disabled,
    is_admin: user.isAdmin === true,
    email_verified: emailVerified(user),
    created_at: user.createdAt ?? null,
    live_sessions: liveSessions
  }
}

/** The account was not there to change: the transaction rolls back. */
class Gone extends Error {}

/** A bcrypt hash of a new password by the plugin's hasher, or a PasswordRuleError. */
async function hashNew (passwords: Pick<PasswordHasher, 'hash'>, password: string, rules: NewPasswordRules): Promise<string> {
  const problem = await rules(password)
  if (problem !== undefined) throw new PasswordRuleError(problem)
  return await passwords.hash(password)
}

const atOnce: PasswordCheckRunner = async (check) => await check()

/**
 * Every change of an account, whoever makes it (the routes, the CLI, a host through the public
 * API): each ends the sessions it must and writes its audit lines, after the store's change.
 * The account is written first and its sessions ended after, which the login gate relies on
 * (see src/sessions/session-gate.ts). An audit line follows each write as soon as it is made.
 */
export function createAccounts ({ users, sessions, passwords, newPasswordRules = newPasswordProblem, recoveryTokens, mfa, transaction }: AccountParts) {
  async function stored (user: NewUser, audit: AccountAudit, event: 'user.registered' | 'user.created'): Promise<UserRecord> {
    const record = await users.create(user)
    audit(event, {
      username: record.username,
      ...(event === 'user.created' && record.disabled && { disabled: true }),
      ...(event === 'user.created' && record.isAdmin === true && { isAdmin: true })
    })
    return record
  }

  async function endSessions (username: string, audit: AccountAudit): Promise<AccountChange> {
    const endedSessions = await sessions.endAll(username)
    audit('sessions.revoked', { username, endedSessions })
    return { endedSessions }
  }

  /** The owner's account, its password checked: WrongPasswordError (audited) or NoSuchUserError otherwise. */
  async function verified (username: string, password: string, check: 'password_change' | 'account_deletion', change: OwnerChange) {
    const { account, valid } = await (change.checkPassword ?? atOnce)(async () => {
      const account = await users.findByUsername(username)
      return { account, valid: await passwords.verify(password, account?.hashedPassword) && account !== undefined }
    })
    if (account === undefined) throw new NoSuchUserError(username)
    if (!valid) {
      change.audit('password.check_failed', { username, check })
      throw new WrongPasswordError()
    }
    return account
  }

  async function setPasswordHash (username: string, hashedPassword: string, audit: AccountAudit): Promise<AccountChange | undefined> {
    if (!await users.setPassword(username, hashedPassword)) return undefined
    await recoveryTokens?.revoke(username, 'password_reset')
    audit('password.changed', { username })
    return await endSessions(username, audit)
  }

  /**
   * Refuses an administrator's change that would take their own admin rights, disable or delete
   * them. Only an administrator's own account is protected: an ordinary account that happens to
   * be named like an actor ('host', 'cli') is changed as any other.
   */
  async function refuseOwn (username: string, by: AdminActor, change: { isAdmin?: boolean, disabled?: boolean, deleted?: boolean }): Promise<void> {
    const refusal = change.isAdmin === false
      ? errors.OWN_ADMIN_RIGHTS
      : change.disabled === true ? errors.OWN_ACCOUNT_DISABLED : change.deleted === true ? errors.OWN_ACCOUNT_DELETED : undefined
    if (refusal === undefined || by.actor.toLowerCase() !== username.toLowerCase()) return
    // The stored name, as the store matches it (`ROOT` is root's account in the built-in store).
    const account = await users.findByUsername(username)
    if (account?.isAdmin === true && account.username === by.actor) throw refusal.create()
  }

  /** The account as an administrator sees it, or undefined. */
  async function get (username: string): Promise<AdminUser | undefined> {
    const user = await users.findByUsername(username)
    if (user === undefined) return undefined
    return adminView(user, (await sessions.countLive([user.username])).get(user.username) ?? 0)
  }

  async function newAccount (account: NewAccount): Promise<NewUser> {
    checkNewAccount(account)
    const { password, ...profile } = account
    return { ...profile, hashedPassword: await hashNew(passwords, password, newPasswordRules) }
  }

  return {
    /** Registration by the account's future owner (POST /users/): audited as user.registered. */
    async register (account: Omit<NewAccount, 'disabled'>, audit: AccountAudit): Promise<UserRecord> {
      return await stored(await newAccount(account), audit, 'user.registered')
    },

    /**
     * An account created by an administrator. The username, email and full name must pass the
     * rules of POST /users/ (AccountRuleError), the password 8 to 72 bytes (PasswordRuleError); a
     * taken name is a UsernameTakenError.
     */
    async create (account: NewAccount, audit: AccountAudit): Promise<UserRecord> {
      return await stored(await newAccount(account), audit, 'user.created')
    },

    /** An account stored as given, its password hashed already (the public API's `users.create`). */
    async createHashed (user: NewUser, audit: AccountAudit): Promise<UserRecord> {
      return await stored(user, audit, 'user.created')
    },

    /**
     * The owner's password change: needs the current password, keeps the session it is made
     * from and ends every other; how many ended.
     */
    async changePassword (username: string, currentPassword: string, newPassword: string, change: OwnerChange): Promise<AccountChange> {
      const problem = passwordLengthProblem(newPassword) ??
        (newPassword === currentPassword ? 'The new password must differ from the current one' : undefined) ??
        await newPasswordRules(newPassword)
      if (problem !== undefined) throw new PasswordRuleError(problem)
      await verified(username, currentPassword, 'password_change', change)
      if (!await users.setPassword(username, await passwords.hash(newPassword))) throw new NoSuchUserError(username)
      // A reset link mailed before the change would undo it.
      await recoveryTokens?.revoke(username, 'password_reset')
      const endedSessions = await sessions.endAll(username, { except: change.session })
      change.audit('password.changed', { username, session: change.session, endedSessions })
      return { endedSessions }
    },

    /** A new password set by an administrator: every session of the user ends. Undefined when there is no such user. */
    async setPassword (username: string, password: string, audit: AccountAudit): Promise<AccountChange | undefined> {
      return await setPasswordHash(username, await hashNew(passwords, password, newPasswordRules), audit)
    },

    /** As setPassword, with the hash made already (the public API's `users.setPassword`). */
    setPasswordHash,

    /**
     * A new password chosen with a password reset token (spent already): every session of the
     * user ends. Audited as password.reset. Undefined when there is no such user.
     */
    async resetPassword (username: string, hashedPassword: string, audit: AccountAudit): Promise<AccountChange | undefined> {
      if (!await users.setPassword(username, hashedPassword)) return undefined
      const endedSessions = await sessions.endAll(username)
      audit('password.reset', { username, endedSessions })
      return { endedSessions }
    },

    /**
     * Proves `email` the account's with a verification mail's token, while it still is its
     * address; false otherwise. Audited as email.verified (an administrator's is a user.updated).
     */
    async verifyEmail (username: string, email: string, audit: AccountAudit): Promise<boolean> {
      if (users.setVerifiedEmail === undefined) throw errors.STORE_LACKS.create('setVerifiedEmail')
      if (!await users.setVerifiedEmail(username, email)) return false
      audit('email.verified', { username })
      return true
    },

    /**
     * Disables (every session of the user ends) or enables an account. Undefined when there is no
     * such user; disabling oneself is refused (OWN_ACCOUNT_DISABLED).
     */
    async setDisabled (username: string, disabled: boolean, by: AdminActor): Promise<AccountChange | undefined> {
      await refuseOwn(username, by, { disabled })
      if (!await users.setDisabled(username, disabled)) return undefined
      by.audit(disabled ? 'user.disabled' : 'user.enabled', { username })
      return disabled ? await endSessions(username, by.audit) : { endedSessions: 0 }
    },

    /** The owner's deletion of their account, confirmed with the password. */
    async deleteOwn (username: string, password: string, change: OwnerChange): Promise<void> {
      await verified(username, password, 'account_deletion', change)
      // The built-in store's foreign keys take the sessions with the account; a host's store may
      // not, and after the account is gone no login can open another.
      if (!await users.delete(username)) throw new NoSuchUserError(username)
      change.audit('user.deleted', { username, session: change.session })
      await sessions.endAll(username)
      await recoveryTokens?.revoke(username)
      await mfa?.remove(username)
    },

    /** An account deleted by an administrator, with its sessions; false when there is no such user. Deleting oneself is refused (OWN_ACCOUNT_DELETED). */
    async delete (username: string, by: AdminActor): Promise<boolean> {
      await refuseOwn(username, by, { deleted: true })
      if (!await users.delete(username)) return false
      by.audit('user.deleted', { username })
      await sessions.endAll(username)
      await recoveryTokens?.revoke(username)
      await mfa?.remove(username)
      return true
    },

    /** Profile changes, under PATCH /users/me/'s rules (AccountRuleError); undefined when there is no such user. */
    async update (username: string, changes: ProfileChanges): Promise<UserRecord | undefined> {
      checkProfile(changes)
      return await users.update(username, changes)
    },

    /**
     * A page of the accounts as an administrator sees them, ordered by username; `prefix` keeps
     * the usernames that start with it, ignoring letter case. The live sessions of the whole page
     * are counted in one query.
     */
    async list (page: UserPage): Promise<AdminUser[]> {
      checkPage(page)
      let records: UserRecord[]
      if (users.page !== undefined) records = await users.page(page)
      else if (users.list !== undefined) {
        const prefix = page.prefix?.toLowerCase() ?? ''
        records = (await users.list()).filter((user) => user.username.toLowerCase().startsWith(prefix)).slice(page.offset, page.offset + page.limit)
      } else throw errors.STORE_LACKS.create('page')
      const live = await sessions.countLive(records.map((user) => user.username))
      return records.map((user) => adminView(user, live.get(user.username) ?? 0))
    },

    get,

    /**
     * Makes the account an administrator or not; revoking ends the user's sessions holding the
     * `admin` scope. Undefined when there is no such user; revoking one's own rights is refused
     * (OWN_ADMIN_RIGHTS). Audited as user.admin_granted or user.admin_revoked.
     */
    async setAdmin (username: string, isAdmin: boolean, by: AdminActor): Promise<AccountChange | undefined> {
      await refuseOwn(username, by, { isAdmin })
      if (users.setAdmin === undefined) throw errors.STORE_LACKS.create('setAdmin')
      if (!await users.setAdmin(username, isAdmin)) return undefined
      const endedSessions = isAdmin ? 0 : await sessions.endHoldingScope(username, ADMIN_SCOPE)
      by.audit(isAdmin ? 'user.admin_granted' : 'user.admin_revoked', isAdmin ? { username } : { username, endedSessions })
      return { endedSessions }
    },

    /**
     * An administrator's change of an account, all of it or nothing: the profile under the rules
     * of PATCH /users/me/ (AccountRuleError), and the self-protection rule, are checked before
     * anything is written. Disabling ends every session of the user, revoking admin rights those
     * holding `admin`. The account as it is then, or undefined when there is no such user.
     * Audited as one user.updated line naming the fields changed; no change, no line.
     */
    async adminUpdate (username: string, changes: AdminChanges, by: AdminActor): Promise<AdminUser | undefined> {
      const { disabled, isAdmin, email, fullName, emailVerified: verify } = changes
      await refuseOwn(username, by, { isAdmin, disabled })
      const profile: ProfileChanges = { ...(email !== undefined && { email }), ...(fullName !== undefined && { fullName }) }
      checkProfile(profile)
      if (isAdmin !== undefined && users.setAdmin === undefined) throw errors.STORE_LACKS.create('setAdmin')
      if (verify === true && users.setVerifiedEmail === undefined) throw errors.STORE_LACKS.create('setVerifiedEmail')
      // The address to prove: the one given with it, else the account's own, which must exist.
      const proven = verify === true ? email ?? (await users.findByUsername(username))?.email : undefined
      if (verify === true && email === undefined && proven === undefined) return undefined
      if (verify === true && proven === null) throw errors.EMAIL_MISSING.create()
      const fields = [
        ...(email !== undefined ? ['email'] : []),
        ...(verify === true ? ['email_verified'] : []),
        ...(fullName !== undefined ? ['full_name'] : []),
        ...(disabled !== undefined ? ['disabled'] : []),
        ...(isAdmin !== undefined ? ['is_admin'] : [])
      ]
      if (fields.length === 0) return await get(username)
      // Each write answers whether the account is there: the first that finds none stops the rest.
      const write = async (store: UserStore) => {
        if (Object.keys(profile).length > 0 && await store.update(username, profile) === undefined) throw new Gone()
        if (typeof proven === 'string' && !await (store.setVerifiedEmail as NonNullable<UserStore['setVerifiedEmail']>)(username, proven)) throw new Gone()
        if (disabled !== undefined && !await store.setDisabled(username, disabled)) throw new Gone()
        if (isAdmin !== undefined && !await (store.setAdmin as NonNullable<UserStore['setAdmin']>)(username, isAdmin)) throw new Gone()
      }
      try {
        await (transaction === undefined ? write(users) : transaction(write))
      } catch (error) {
        if (error instanceof Gone) return undefined
        throw error
      }
      // The account is written first and its sessions ended after (see the login gate).
      const endedSessions = disabled === true
        ? await sessions.endAll(username)
        : isAdmin === false ? await sessions.endHoldingScope(username, ADMIN_SCOPE) : 0
      by.audit('user.updated', {
        username,
        fields: fields.join(','),
        ...(disabled !== undefined && { disabled }),
        ...(isAdmin !== undefined && { isAdmin }),
        ...((disabled === true || isAdmin === false) && { endedSessions })
      })
      return await get(username)
    },

    /** Ends every session of every user but `except` (OWASP ASVS 7.4.5); how many ended. Audited as sessions.revoked_all. */
    async endAllSessions ({ except }: { except?: string }, by: AdminActor): Promise<number> {
      const endedSessions = await sessions.endEveryone({ except })
      by.audit('sessions.revoked_all', { endedSessions, ...(except !== undefined && { keptSession: except }) })
      return endedSessions
    }
  }
}

export type Accounts = ReturnType<typeof createAccounts>
