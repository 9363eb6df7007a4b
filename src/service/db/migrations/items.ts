import type { Kysely, Migration } from 'kysely'
import { withIdColumn } from '../../../db/dialect.js'

export const itemsMigrations: Record<string, Migration> = {
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
