import type { Generated } from 'kysely'

/** The built-in user store's accounts. */
export interface UsersTable {
  id: Generated<number>
  username: string
  email: string | null
  full_name: string | null
  hashed_password: string
  // 0 or 1: one representation in every engine.
  disabled: number
  // 0 or 1, as `disabled`.
  is_admin: Generated<number>
  created_at: string
  updated_at: string
  /** The address last proven the owner's; a password reset goes there. */
  verified_email: Generated<string | null>
}

/** A login's lifetime: every access and refresh token belongs to one. Times are ISO 8601 (UTC). */
export interface SessionsTable {
  id: string
  username: string
  user_agent: string | null
  created_at: string
  last_used_at: string
  expires_at: string
  absolute_expires_at: string
  /** The scopes granted, space-separated; null for a session opened before scopes existed (the default ones). */
  scope: Generated<string | null>
  /** The OAuth2 client the login named (its access tokens' `client_id`); null for the configured first-party one. */
  client_id: Generated<string | null>
  /** How the login was authenticated (RFC 8176 methods, space-separated: `pwd`, `pwd otp`); null when not recorded. */
  amr: Generated<string | null>
}

/** The refresh tokens of the sessions, stored as SHA-256 hashes only. */
export interface RefreshTokensTable {
  token_hash: string
  session_id: string
  created_at: string
  /** When it was exchanged for a new one; null while unspent. */
  spent_at: string | null
  /** When, spent, it was presented again within the reuse window and minted its one more successor. */
  replayed_at: string | null
}

/** One-time tokens of account recovery, stored as SHA-256 hashes only; one per user and purpose. */
export interface AccountTokensTable {
  token_hash: string
  /** 'password_reset' or 'email_verification'. */
  purpose: string
  username: string
  /** The address an email verification proves; null for a password reset. */
  email: string | null
  created_at: string
  expires_at: string
}

/** A user's TOTP factor: pending until its first code, then on. Times are ISO 8601 (UTC). */
export interface MfaFactorsTable {
  username: string
  /** The base32 secret, sealed with AES-256-GCM under a key derived from the plugin's secret. */
  totp_secret: string
  created_at: string
  /** Null while the enrolment waits for its first code. */
  enabled_at: string | null
  /** The last time step a code was accepted for (bigint: PostgreSQL answers it as a string). */
  last_step: number | string | null
  /** Wrong codes since `failures_since`, counted against the account's limit. */
  failures: Generated<number>
  failures_since: string | null
}

/** A user's recovery codes, stored as SHA-256 hashes; a used one is kept, marked. */
export interface MfaRecoveryCodesTable {
  code_hash: string
  username: string
  created_at: string
  used_at: string | null
}

/** The second step of a login whose password was right: its `mfa_token` as a SHA-256 hash. */
export interface MfaChallengesTable {
  token_hash: string
  username: string
  /** SHA-256 of the password hash the login was checked against. */
  credential: string
  scope: string
  client_id: string | null
  user_agent: string | null
  failures: Generated<number>
  created_at: string
  expires_at: string
}

/** The tables of the plugin's own (with the built-in user store), for a host's queries on its database. */
export interface AuthDatabase {
  users: UsersTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  signing_keys: SigningKeysTable
  account_tokens: AccountTokensTable
  mfa_factors: MfaFactorsTable
  mfa_recovery_codes: MfaRecoveryCodesTable
  mfa_challenges: MfaChallengesTable
}

/**
 * The key pairs that sign access tokens under an asymmetric algorithm, shared by every instance
 * on the database. Each is published from its insertion and signs from `signs_from` until a
 * newer generation does; times are ISO 8601 (UTC).
 */
export interface SigningKeysTable {
  /** The RFC 7638 thumbprint of its public key. */
  kid: string
  /** 1, 2, 3 …: unique, so two instances rotating at once make one key, not two. */
  generation: number
  algorithm: string
  /** The public key as a JWK (JSON). */
  public_jwk: string
  /** The private key, sealed with AES-256-GCM under a key derived from the plugin's secret. */
  private_key: string
  created_at: string
  signs_from: string
}

/** Fixed-window hit counters (per client address, per username). Times are epoch milliseconds. */
export interface RateLimitsTable {
  key: string
  hits: number
  // bigint columns: PostgreSQL answers them as strings.
  resets_at: number | string
}

/** Consecutive failed logins of a username at one address, and until when it must wait. */
export interface LoginFailuresTable {
  key: string
  failures: number
  blocked_until: number | string
  expires_at: number | string
}

/** The throttling tables, where no Redis holds the counters. */
export interface ThrottleDatabase {
  auth_rate_limits: RateLimitsTable
  auth_login_failures: LoginFailuresTable
}
