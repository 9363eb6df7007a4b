import { sql, type Kysely, type Migration } from 'kysely'
import { withIdColumn } from '../dialect.js'

export const usersMigrations: Record<string, Migration> = {
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
  // Bumped by every password change; access tokens carry the version they were issued under, so
  // a password change ends every session made with the old one.
  '0002_add_token_version': {
    async up (db: Kysely<any>) {
      await db.schema.alterTable('users').addColumn('token_version', 'integer', (col) => col.notNull().defaultTo(0)).execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.alterTable('users').dropColumn('token_version').execute()
    }
  }
}
