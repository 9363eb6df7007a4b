import type { Kysely } from 'kysely'
import type { MigrationSet } from '../migrate.js'

/**
 * The throttling counters, where no Redis holds them: fixed-window hit counts per client
 * address (and per username), and consecutive failed logins. Times are epoch milliseconds.
 */
export const throttleMigrations: MigrationSet = {
  table: 'auth_throttle_migrations',
  migrations: {
    '0001_create_throttle_tables': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('auth_rate_limits')
          .addColumn('key', 'text', (col) => col.primaryKey())
          .addColumn('hits', 'integer', (col) => col.notNull())
          .addColumn('resets_at', 'bigint', (col) => col.notNull())
          .execute()
        await db.schema.createIndex('auth_rate_limits_resets_at').on('auth_rate_limits').column('resets_at').execute()
        await db.schema.createTable('auth_login_failures')
          .addColumn('key', 'text', (col) => col.primaryKey())
          .addColumn('failures', 'integer', (col) => col.notNull())
          .addColumn('blocked_until', 'bigint', (col) => col.notNull())
          .addColumn('expires_at', 'bigint', (col) => col.notNull())
          .execute()
        await db.schema.createIndex('auth_login_failures_expires_at').on('auth_login_failures').column('expires_at').execute()
      },
      async down (db: Kysely<any>) {
        await db.schema.dropTable('auth_login_failures').execute()
        await db.schema.dropTable('auth_rate_limits').execute()
      }
    }
  }
}
