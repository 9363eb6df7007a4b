import { randomBytes } from 'node:crypto'
import { hash, verify } from '@node-rs/bcrypt'
import { errors } from '../errors.js'
import { COMMON_PASSWORD_PROBLEM, isCommonPassword } from './common-passwords.js'

export const PASSWORD_MIN_BYTES = 8
// bcrypt reads at most 72 bytes; anything after would be silently ignored.
export const PASSWORD_MAX_BYTES = 72

/** Why a new password is unacceptable, or undefined when it is fine. */
export function passwordLengthProblem (password: string): string | undefined {
  const bytes = Buffer.byteLength(password, 'utf8')
  if (bytes < PASSWORD_MIN_BYTES) return `Password must be at least ${PASSWORD_MIN_BYTES} bytes long (UTF-8)`
  if (bytes > PASSWORD_MAX_BYTES) {
    return `Password must be at most ${PASSWORD_MAX_BYTES} bytes long (UTF-8), this one is ${bytes}: bcrypt would ignore the rest`
  }
  return undefined
}

/** Why a new password is unacceptable (its length, or being on the list of common ones), or undefined when it is fine. */
export async function newPasswordProblem (password: string): Promise<string | undefined> {
  return passwordLengthProblem(password) ?? (await isCommonPassword(password) ? COMMON_PASSWORD_PROBLEM : undefined)
}

/** Why a new password is unacceptable: newPasswordProblem's rules, then a check of the breach corpus when there is one. */
export type NewPasswordRules = (password: string) => Promise<string | undefined>

/** The rules of a new password, with a breach check (see breached-passwords.ts) when given. */
export function newPasswordRules (breached?: (password: string) => Promise<boolean>): NewPasswordRules {
  if (breached === undefined) return newPasswordProblem
  return async (password) => await newPasswordProblem(password) ?? (await breached(password) ? COMMON_PASSWORD_PROBLEM : undefined)
}

/** A new password breaks the rule (8 to 72 bytes in UTF-8, not a common one, and for a change, not the current one); `problem` says how. */
export class PasswordRuleError extends RangeError {
  readonly code = errors.PASSWORD_RULE.code
  constructor (readonly problem: string) {
    super(errors.PASSWORD_RULE.detail(problem))
    this.name = 'PasswordRuleError'
  }
}

/**
 * A bcrypt hash of a new password at `cost` (4 to 15, default 12), computed off the event loop;
 * a PasswordRuleError unless the password is 8 to 72 bytes in UTF-8 and not a common one.
 */
export async function hashNewPassword (password: string, cost = 12): Promise<string> {
  const problem = await newPasswordProblem(password)
  if (problem !== undefined) throw new PasswordRuleError(problem)
  return await hashPassword(password, cost)
}

export interface PasswordHasher {
  readonly cost: number
  hash (password: string): Promise<string>
  /**
   * Compares a password with a stored hash. Without a hash (no such user), or with a password
   * too long to have been stored, it still spends one bcrypt comparison on a dummy hash, so the
   * answer takes the same time either way and does not reveal which usernames exist.
   */
  verify (password: string, hashed: string | undefined): Promise<boolean>
  /**
   * True when a stored hash was made at another cost than the configured one. Rehashing such a
   * password at the next successful login keeps every login as slow as the dummy comparison,
   * so timing still tells nothing, and moves old accounts to a raised cost.
   */
  needsRehash (hashed: string): boolean
  /**
   * bcrypt operations started and not yet finished, waiting for a thread of libuv's pool or
   * running on one: the queue a flood of logins builds.
   */
  inFlight (): { hash: number, verify: number }
}

/** The cost factor recorded in a bcrypt hash (`$2b$12$...`), or undefined if it is not one. */
export function bcryptCost (hashed: string): number | undefined {
  const match = /^\$2[abxy]?\$(\d{2})\$/.exec(hashed)
  return match === null ? undefined : Number(match[1])
}

/** A bcrypt hash of a password, computed off the event loop. */
export async function hashPassword (password: string, cost: number): Promise<string> {
  return await hash(password, cost)
}

/** bcrypt runs on libuv's thread pool (@node-rs/bcrypt's async API), never on the event loop. */
export async function createPasswordHasher (cost: number): Promise<PasswordHasher> {
  const placeholder = randomBytes(32).toString('base64')
  // Computed in the background, off the start-up path.
  const dummy = hashPassword(randomBytes(32).toString('base64'), cost)
  dummy.catch(() => {})
  const pending = { hash: 0, verify: 0 }
  return {
    cost,
    async hash (password) {
      pending.hash++
      try {
        return await hashPassword(password, cost)
      } finally {
        pending.hash--
      }
    },
    async verify (password, hashed) {
      const usable = hashed !== undefined && Buffer.byteLength(password, 'utf8') <= PASSWORD_MAX_BYTES
      pending.verify++
      try {
        // An unusable password is not passed to bcrypt at all; a placeholder spends the same time.
        const matches = await verify(usable ? password : placeholder, usable ? hashed : await dummy)
        return usable && matches
      } finally {
        pending.verify--
      }
    },
    needsRehash: (hashed) => bcryptCost(hashed) !== cost,
    inFlight: () => ({ ...pending })
  }
}
