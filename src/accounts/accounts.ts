import type { SessionStore } from '../sessions/session-store.js'
import { checkNewAccount, checkProfile } from './account-rules.js'
import { passwordLengthProblem, PasswordRuleError, type PasswordHasher } from './passwords.js'
import type { NewUser, ProfileChanges, UserRecord, UserStore } from './user-store.js'

/** The audit events of account changes. */
export type AccountEvent =
  | 'user.registered' | 'user.created' | 'user.disabled' | 'user.enabled' | 'user.deleted'
  | 'password.changed' | 'password.check_failed' | 'sessions.revoked'

export interface AccountAuditFields {
  username: string
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
  sessions: Pick<SessionStore, 'endAll'>
  passwords: Pick<PasswordHasher, 'hash' | 'verify'>
}

/** A bcrypt hash of a new password by the plugin's hasher, or a PasswordRuleError. */
async function hashNew (passwords: Pick<PasswordHasher, 'hash'>, password: string): Promise<string> {
  const problem = passwordLengthProblem(password)
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
export function createAccounts ({ users, sessions, passwords }: AccountParts) {
  async function stored (user: NewUser, audit: AccountAudit, event: 'user.registered' | 'user.created'): Promise<UserRecord> {
    const record = await users.create(user)
    audit(event, event === 'user.created' && record.disabled ? { username: record.username, disabled: true } : { username: record.username })
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
    audit('password.changed', { username })
    return await endSessions(username, audit)
  }

  async function newAccount (account: NewAccount): Promise<NewUser> {
    checkNewAccount(account)
    const { password, ...profile } = account
    return { ...profile, hashedPassword: await hashNew(passwords, password) }
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
        (newPassword === currentPassword ? 'The new password must differ from the current one' : undefined)
      if (problem !== undefined) throw new PasswordRuleError(problem)
      await verified(username, currentPassword, 'password_change', change)
      if (!await users.setPassword(username, await passwords.hash(newPassword))) throw new NoSuchUserError(username)
      const endedSessions = await sessions.endAll(username, { except: change.session })
      change.audit('password.changed', { username, session: change.session, endedSessions })
      return { endedSessions }
    },

    /** A new password set by an administrator: every session of the user ends. Undefined when there is no such user. */
    async setPassword (username: string, password: string, audit: AccountAudit): Promise<AccountChange | undefined> {
      return await setPasswordHash(username, await hashNew(passwords, password), audit)
    },

    /** As setPassword, with the hash made already (the public API's `users.setPassword`). */
    setPasswordHash,

    /** Disables (every session of the user ends) or enables an account. Undefined when there is no such user. */
    async setDisabled (username: string, disabled: boolean, audit: AccountAudit): Promise<AccountChange | undefined> {
      if (!await users.setDisabled(username, disabled)) return undefined
      audit(disabled ? 'user.disabled' : 'user.enabled', { username })
      return disabled ? await endSessions(username, audit) : { endedSessions: 0 }
    },

    /** The owner's deletion of their account, confirmed with the password. */
    async deleteOwn (username: string, password: string, change: OwnerChange): Promise<void> {
      await verified(username, password, 'account_deletion', change)
      // The built-in store's foreign keys take the sessions with the account; a host's store may
      // not, and after the account is gone no login can open another.
      if (!await users.delete(username)) throw new NoSuchUserError(username)
      change.audit('user.deleted', { username, session: change.session })
      await sessions.endAll(username)
    },

    /** An account deleted by an administrator, with its sessions; false when there is no such user. */
    async delete (username: string, audit: AccountAudit): Promise<boolean> {
      if (!await users.delete(username)) return false
      audit('user.deleted', { username })
      await sessions.endAll(username)
      return true
    },

    /** Profile changes, under PATCH /users/me/'s rules (AccountRuleError); undefined when there is no such user. */
    async update (username: string, changes: ProfileChanges): Promise<UserRecord | undefined> {
      checkProfile(changes)
      return await users.update(username, changes)
    }
  }
}

export type Accounts = ReturnType<typeof createAccounts>
