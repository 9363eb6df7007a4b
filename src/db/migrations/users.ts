import { sql, type Kysely } from 'kysely'
import { withIdColumn } from '../dialect.js'
import type { MigrationSet } from '../migrate.js'
import { addRefreshTokenReplays, addSessionClient, addSessionScope, createAccountTokens, createMfaTables, createSessionTables, createSigningKeys } from './sessions.js'

/** The built-in user store's `users` table and the sessions that belong to its rows. */
export const usersMigrations: MigrationSet = {
  table: 'auth_migrations',
  migrations: {
    '0001_create_users': {
      async up (db: Kysely<any>) {
        await withIdColumn(db, db.schema.createTable('users'))
          // Unique as typed (login is case-sensitive) and, below, unique ignoring case.
          .addColumn('username', 'text', (col) => col.notNull().unique())
          .addColumn('email', 'text')
          .addColumn('full_name', 'text')
          .addColumn('hashed_password', 'text', (col) => col.notNull())
          .addColumn('disabled', 'integer', (col) => col.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (col) => col.notNull())
          .addColumn('updated_at', 'text', (col) => col.notNull())
          .execute()
        await db.schema.createIndex('users_username_lower_unique')
          .on('users').unique().expression(sql`lower(username)`)
          .execute()
      },
      async down (db: Kysely<any>) {
        await db.schema.dropTable('users').execute()
      }
    },
    // Superseded by sessions (0003): a password change now ends the user's sessions.
    '0002_add_token_version': {
      async up (db: Kysely<any>) {
        await db.schema.alterTable('users').addColumn('token_version', 'integer', (col) => col.notNull().defaultTo(0)).execute()
      },
      async down (db: Kysely<any>) {
        await db.schema.alterTable('users').dropColumn('token_version').execute()
      }
    },
    '0003_create_sessions': createSessionTables(true),
    // Sessions end by revocation now, so tokens carry no version.
    '0004_drop_token_version': {
      async up (db: Kysely<any>) {
        await db.schema.alterTable('users').dropColumn('token_version').execute()
      },
      async down (db: Kysely<any>) {
        await db.schema.alterTable('users').addColumn('token_version', 'integer', (col) => col.notNull().defaultTo(0)).execute()
      }
    },
    '0005_add_refresh_token_replays': addRefreshTokenReplays,
    // 1 for an administrator: a login may be granted the `admin` scope.
    '0006_add_users_is_admin': {
      async up (db: Kysely<any>) {
        await db.schema.alterTable('users').addColumn('is_admin', 'integer', (col) => col.notNull().defaultTo(0)).execute()
      },
      async down (db: Kysely<any>) {
        await db.schema.alterTable('users').dropColumn('is_admin').execute()
      }
    },
    '0007_add_session_scope': addSessionScope,
    '0008_add_session_client': addSessionClient,
    '0009_create_signing_keys': createSigningKeys,
    // The address last proven the owner's (by a verification mail, or an administrator): the
    // one a password reset goes to, kept until a new address is proven.
    '0010_add_users_verified_email': {
      async up (db: Kysely<any>) {
        await db.schema.alterTable('users').addColumn('verified_email', 'text').execute()
        await db.schema.createIndex('users_verified_email_lower').on('users').expression(sql`lower(verified_email)`).execute()
      },
      async down (db: Kysely<any>) {
        await db.schema.dropIndex('users_verified_email_lower').execute()
        await db.schema.alterTable('users').dropColumn('verified_email').execute()
      }
    },
    '0011_create_account_tokens': createAccountTokens(true),
    '0012_create_mfa': createMfaTables(true)
  }
}
