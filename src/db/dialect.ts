import { PostgresAdapter, type ColumnDefinitionBuilder, type CreateTableBuilder, type Kysely } from 'kysely'

// Where SQLite and PostgreSQL differ, the difference is decided here (and, for driver error
// codes, in ./errors.ts); repositories and migrations are otherwise written once.

export type Engine = 'sqlite' | 'postgres'

/** Which engine a Kysely instance talks to. */
export function engineOf (db: Kysely<any>): Engine {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite'
}

/** An auto-numbered `id` primary key, spelled the way each engine wants it. */
export function withIdColumn<T extends string> (db: Kysely<any>, table: CreateTableBuilder<T, never>) {
  return engineOf(db) === 'postgres'
    ? table.addColumn('id', 'serial', (col: ColumnDefinitionBuilder) => col.primaryKey())
    : table.addColumn('id', 'integer', (col: ColumnDefinitionBuilder) => col.primaryKey().autoIncrement())
}
