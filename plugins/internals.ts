import type { Accounts } from '../src/accounts/accounts.js'
import type { Mailer } from '../src/mail/index.js'
import type { Mfa } from '../src/mfa/mfa.js'
import type { AfterAnswer } from '../src/recovery/after-answer.js'
import type { Recovery } from '../src/recovery/recovery.js'
import type { PasswordHasher } from '../src/accounts/passwords.js'
import type { UserStore } from '../src/accounts/user-store.js'
import type { ScopeRules } from '../src/scopes/scopes.js'
import type { SessionLookup } from '../src/sessions/session-lookup.js'
import type { SessionStore } from '../src/sessions/session-store.js'
import type { AccessTokens } from './access-tokens.js'
import type { Audit } from './audit.js'
import type { Guards } from './guards.js'
import type { Throttle } from './throttle.js'

/**
 * What one plugin instance's route plugins are handed as options: its stores and machinery.
 * Internals travel this way, never as decorators, so a host's instance sees none of them.
 */
export interface Internals {
  /** Every change of an account goes through it. */
  readonly accounts: Accounts
  readonly users: UserStore
  readonly sessions: SessionStore
  readonly passwords: PasswordHasher
  readonly tokens: AccessTokens
  readonly guards: Guards
  /** The session behind an access token, with its user: what the guards look up on every request. */
  readonly live: SessionLookup
  readonly scopes: ScopeRules
  readonly throttle: Throttle
  readonly audit: Audit
  /** Composes and queues mail; absent without the `mail` option, and so are the routes that send it. */
  readonly mail?: Mailer
  /** Password reset and email verification; absent without the `mail` option. */
  readonly recovery?: Recovery
  /** The second factor (TOTP and recovery codes) of the accounts, and the second step of their logins. */
  readonly mfa: Mfa
  /** Work a route does once its answer is sent (mail, mostly); waited for at close. */
  readonly afterAnswer: AfterAnswer
}
