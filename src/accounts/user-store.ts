import { errors } from '../errors.js'
import type { User } from '../schemas/user.js'

/** A stored account. `hashedPassword` never leaves the server: see toPublicUser. */
export interface UserRecord {
  username: string
  email: string | null
  fullName: string | null
  disabled: boolean
  /** A bcrypt hash. */
  hashedPassword: string
  /** An administrator: a login may be granted the `admin` scope. Absent: false. */
  isAdmin?: boolean
  /** When the account was created (ISO 8601, UTC), where the store knows. */
  createdAt?: string
  /**
   * The address last proven the owner's (by a verification mail, or an administrator), which a
   * password reset goes to; it stays while a new `email` waits to be proven. Absent: none.
   */
  verifiedEmail?: string | null
}

export interface NewUser {
  username: string
  hashedPassword: string
  email?: string | null
  fullName?: string | null
  disabled?: boolean
  /** Absent: false. */
  isAdmin?: boolean
}

/** A page of accounts, ordered by username. */
export interface UserPage {
  /** At most this many. */
  limit: number
  /** After skipping this many. */
  offset: number
  /** Only usernames that start with it, ignoring letter case (`%` and `_` are plain characters). */
  prefix?: string
}

/** Thrown by `UserStore.create` when the username is taken (in any letter case, for the built-in store). */
export class UsernameTakenError extends Error {
  /** The table's code: the plugin answers it 409 `Username already registered`. */
  readonly code = errors.USERNAME_TAKEN.code
  constructor (username: string) {
    super(`Username ${username} is already taken`)
    this.name = 'UsernameTakenError'
  }
}

/** The profile fields an account's owner may change; an absent field stays as it is. */
export interface ProfileChanges {
  email?: string | null
  fullName?: string | null
}

/**
 * Where the plugin keeps its accounts. The built-in store (createKyselyUserStore) keeps them in
 * SQLite or PostgreSQL; a host may pass its own. Every method answers with a promise. Usernames
 * are matched exactly: `TIM` is not `tim`.
 */
export interface UserStore {
  /** The account, or undefined when there is none. Called on every authenticated request. */
  findByUsername (username: string): Promise<UserRecord | undefined>
  /** Stores a new account. Rejects with UsernameTakenError when the name is taken. */
  create (user: NewUser): Promise<UserRecord>
  /** Stores a new hash (a new password, or the same one rehashed at another cost). False when there is no such user. */
  setPassword (username: string, hashedPassword: string): Promise<boolean>
  /**
   * Optional: stores `next` only while the stored hash is still `current` (one conditional
   * write); false otherwise. The plugin rehashes a password at a login (after the cost changed)
   * only through this, so a login can never write an old password back over a new one; a store
   * without it keeps its hashes at the cost they were made with.
   */
  replacePassword? (username: string, current: string, next: string): Promise<boolean>
  /** False when there is no such user. */
  setDisabled (username: string, disabled: boolean): Promise<boolean>
  /** Changes the profile fields given; the updated account, or undefined when there is no such user. */
  update (username: string, changes: ProfileChanges): Promise<UserRecord | undefined>
  /** Removes the account (and, in the built-in store, its sessions and items). False when there is no such user. */
  delete (username: string): Promise<boolean>
  /** Optional: every account, ordered by username (the built-in store has it; the service's CLI `list` uses it). */
  list? (): Promise<UserRecord[]>
  /** Optional: makes the account an administrator or not. False when there is no such user. */
  setAdmin? (username: string, isAdmin: boolean): Promise<boolean>
  /** Optional: a page of the accounts, ordered by username (`accounts.list` uses it, else `list`). */
  page? (page: UserPage): Promise<UserRecord[]>
  /**
   * Optional, for email verification: stores `email` as the account's proven address, only while
   * it is still the account's `email` (one conditional write); false otherwise or when there is
   * no such user. Clearing `email` should clear it too.
   */
  setVerifiedEmail? (username: string, email: string): Promise<boolean>
  /** Optional, for a password reset by address: the accounts whose proven address it is, ignoring letter case. */
  findByVerifiedEmail? (email: string): Promise<UserRecord[]>
}

/** Whether the account's address is proven: it has one, and it is the one last verified. */
export function emailVerified (user: Pick<UserRecord, 'email' | 'verifiedEmail'>): boolean {
  return user.email !== null && user.email === user.verifiedEmail
}

/** The account as its owner sees it (what `userOf(request)` gives): no hash, wire field names. */
export function toPublicUser (user: UserRecord): User {
  return { username: user.username, email: user.email, email_verified: emailVerified(user), full_name: user.fullName, disabled: user.disabled }
}
