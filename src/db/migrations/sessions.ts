import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely'
import type { MigrationSet } from '../migrate.js'

/**
 * The sessions a password grant opens and the refresh tokens that rotate within them. With
 * `usersTable`, a session belongs to a row of the plugin's `users` table and goes with it; over
 * a host's own user store there is no table to point at.
 */
export function createSessionTables (usersTable: boolean): Migration {
  return {
    async up (db: Kysely<any>) {
      await db.schema.createTable('sessions')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('username', 'text', (col) => usersTable
          ? col.notNull().references('users.username').onDelete('cascade')
          : col.notNull())
        .addColumn('user_agent', 'text')
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('last_used_at', 'text', (col) => col.notNull())
        // The sooner of the idle limit (moved on by each refresh) and the absolute limit.
        .addColumn('expires_at', 'text', (col) => col.notNull())
        .addColumn('absolute_expires_at', 'text', (col) => col.notNull())
        .execute()
      await db.schema.createIndex('sessions_username').on('sessions').column('username').execute()
      await db.schema.createIndex('sessions_expires_at').on('sessions').column('expires_at').execute()
      await db.schema.createTable('refresh_tokens')
        // SHA-256 of the token: the token itself is never stored.
        .addColumn('token_hash', 'text', (col) => col.primaryKey())
        .addColumn('session_id', 'text', (col) => col.notNull().references('sessions.id').onDelete('cascade'))
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('spent_at', 'text')
        .execute()
      await db.schema.createIndex('refresh_tokens_session_id').on('refresh_tokens').column('session_id').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropTable('refresh_tokens').execute()
      await db.schema.dropTable('sessions').execute()
    }
  }
}

/** When a spent refresh token was presented again within the reuse window: it mints one more successor, not a family. */
export const addRefreshTokenReplays: Migration = {
  async up (db: Kysely<any>) {
    await db.schema.alterTable('refresh_tokens').addColumn('replayed_at', 'text').execute()
  },
  async down (db: Kysely<any>) {
    await db.schema.alterTable('refresh_tokens').dropColumn('replayed_at').execute()
  }
}

/**
 * The scopes a session was granted, space-separated; null for a session opened before scopes
 * existed, which holds the default (non-admin) scopes.
 */
export const addSessionScope: Migration = {
  async up (db: Kysely<any>) {
    await db.schema.alterTable('sessions').addColumn('scope', 'text').execute()
  },
  async down (db: Kysely<any>) {
    await db.schema.alterTable('sessions').dropColumn('scope').execute()
  }
}

/** The OAuth2 client a login named, which its access tokens carry as `client_id`. */
export const addSessionClient: Migration = {
  async up (db: Kysely<any>) {
    await db.schema.alterTable('sessions').addColumn('client_id', 'text').execute()
  },
  async down (db: Kysely<any>) {
    await db.schema.alterTable('sessions').dropColumn('client_id').execute()
  }
}

/** The signing keys of an asymmetric algorithm (see SigningKeysTable). */
export const createSigningKeys: Migration = {
  async up (db: Kysely<any>) {
    await db.schema.createTable('signing_keys')
      .addColumn('kid', 'text', (col) => col.primaryKey())
      .addColumn('generation', 'integer', (col) => col.notNull().unique())
      .addColumn('algorithm', 'text', (col) => col.notNull())
      .addColumn('public_jwk', 'text', (col) => col.notNull())
      .addColumn('private_key', 'text', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('signs_from', 'text', (col) => col.notNull())
      .execute()
  },
  async down (db: Kysely<any>) {
    await db.schema.dropTable('signing_keys').execute()
  }
}

/**
 * One-time tokens of account recovery (a password reset, an email verification), stored as
 * SHA-256 hashes only: one live token per user and purpose, a new one replacing the last.
 */
export function createAccountTokens (usersTable: boolean): Migration {
  return {
    async up (db: Kysely<any>) {
      await db.schema.createTable('account_tokens')
        .addColumn('token_hash', 'text', (col) => col.primaryKey())
        .addColumn('purpose', 'text', (col) => col.notNull())
        .addColumn('username', 'text', (col) => usersTable
          ? col.notNull().references('users.username').onDelete('cascade')
          : col.notNull())
        // The address an email verification proves; null for a password reset.
        .addColumn('email', 'text')
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('expires_at', 'text', (col) => col.notNull())
        .execute()
      await db.schema.createIndex('account_tokens_username_purpose').on('account_tokens').columns(['username', 'purpose']).unique().execute()
      await db.schema.createIndex('account_tokens_expires_at').on('account_tokens').column('expires_at').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropTable('account_tokens').execute()
    }
  }
}

/**
 * A second factor (TOTP) per user with its recovery codes, the pending second steps of logins
 * (`mfa_token`s), and how each session was authenticated (its tokens' `amr`). Secrets are sealed
 * and codes and tokens stored as SHA-256 hashes only.
 */
export function createMfaTables (usersTable: boolean): Migration {
  const owner = (col: ColumnDefinitionBuilder) => usersTable ? col.notNull().references('users.username').onDelete('cascade') : col.notNull()
  return {
    async up (db: Kysely<any>) {
      await db.schema.createTable('mfa_factors')
        .addColumn('username', 'text', (col) => owner(col).primaryKey())
        // Sealed with AES-256-GCM under a key derived from the plugin's secret.
        .addColumn('totp_secret', 'text', (col) => col.notNull())
        .addColumn('created_at', 'text', (col) => col.notNull())
        // Null while the enrolment waits for its first code.
        .addColumn('enabled_at', 'text')
        // The last time step a code was accepted for: an older or equal one is a replay.
        .addColumn('last_step', 'bigint')
        // Wrong codes in the window that started at failures_since.
        .addColumn('failures', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('failures_since', 'text')
        .execute()
      await db.schema.createTable('mfa_recovery_codes')
        .addColumn('code_hash', 'text', (col) => col.primaryKey())
        .addColumn('username', 'text', (col) => owner(col))
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('used_at', 'text')
        .execute()
      await db.schema.createIndex('mfa_recovery_codes_username').on('mfa_recovery_codes').column('username').execute()
      await db.schema.createTable('mfa_challenges')
        .addColumn('token_hash', 'text', (col) => col.primaryKey())
        .addColumn('username', 'text', (col) => owner(col))
        // SHA-256 of the password hash the login was checked against: a new password voids it.
        .addColumn('credential', 'text', (col) => col.notNull())
        .addColumn('scope', 'text', (col) => col.notNull())
        .addColumn('client_id', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('failures', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('expires_at', 'text', (col) => col.notNull())
        .execute()
      await db.schema.createIndex('mfa_challenges_username').on('mfa_challenges').column('username').execute()
      await db.schema.createIndex('mfa_challenges_expires_at').on('mfa_challenges').column('expires_at').execute()
      // Space-separated RFC 8176 methods; null for a session opened before they were recorded, or by a host's issueToken.
      await db.schema.alterTable('sessions').addColumn('amr', 'text').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.alterTable('sessions').dropColumn('amr').execute()
      await db.schema.dropTable('mfa_challenges').execute()
      await db.schema.dropTable('mfa_recovery_codes').execute()
      await db.schema.dropTable('mfa_factors').execute()
    }
  }
}

/** The session tables alone, in a database of their own beside a host's user store. */
export const sessionMigrations: MigrationSet = {
  table: 'auth_session_migrations',
  migrations: {
    '0001_create_sessions': createSessionTables(false),
    '0002_add_refresh_token_replays': addRefreshTokenReplays,
    '0003_add_session_scope': addSessionScope,
    '0004_add_session_client': addSessionClient,
    '0005_create_signing_keys': createSigningKeys,
    '0006_create_account_tokens': createAccountTokens(false),
    '0007_create_mfa': createMfaTables(false)
  }
}
