import type { Kysely } from 'kysely'
import type { MigrationSet } from '../../../index.js'

/** The standalone service's readiness probe writes its one row here: a read alone cannot tell that writes fail. */
export const healthMigrations: MigrationSet = {
  table: 'health_migrations',
  migrations: {
    '0001_create_health_probe': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('health_probe')
          .addColumn('id', 'integer', (col) => col.primaryKey())
          .addColumn('checked_at', 'text', (col) => col.notNull())
          .execute()
      },
      async down (db: Kysely<any>) {
        await db.schema.dropTable('health_probe').execute()
      }
    }
  }
}
