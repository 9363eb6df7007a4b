import type { Kysely } from 'kysely'
import { withIdColumn, type MigrationSet } from '../../../index.js'

/** The standalone service's items, each owned by a row of the plugin's `users` table. */
export const itemsMigrations: MigrationSet = {
  table: 'items_migrations',
  migrations: {
    '0001_create_items': {
      async up (db: Kysely<any>) {
        await withIdColumn(db, db.schema.createTable('items'))
          .addColumn('owner_id', 'integer', (col) => col.notNull().references('users.id').onDelete('cascade'))
          .addColumn('title', 'text', (col) => col.notNull())
          .addColumn('description', 'text')
          .addColumn('created_at', 'text', (col) => col.notNull())
          .execute()
        await db.schema.createIndex('items_owner_id').on('items').columns(['owner_id', 'id']).execute()
      },
      async down (db: Kysely<any>) {
        await db.schema.dropTable('items').execute()
      }
    }
  }
}
