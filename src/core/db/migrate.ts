import { Migrator, sql, type Kysely, type Migration } from 'kysely'
import { engineOf } from './dialect.js'
import { inWriteTransaction } from './transaction.js'
import { healthMigrations } from './migrations/health.js'
import { itemsMigrations } from './migrations/items.js'
import { usersMigrations } from './migrations/users.js'

/**
 * Applies a set of migrations. Each owner (the auth plugin, the items resource) keeps its own
 * migration table, so a host that embeds the plugin gets only the plugin's tables.
 *
 * Safe when several instances start at once. On PostgreSQL, Kysely serialises migrators with
 * an advisory lock. On SQLite, Kysely assumes a single connection, so the whole run happens in
 * one `BEGIN IMMEDIATE` transaction: other processes wait for the write lock (busy timeout),
 * then find the migrations applied; and a failed migration leaves nothing half-done.
 */
export async function migrateToLatest (
  db: Kysely<any>,
  migrations: Record<string, Migration>,
  tableName: string
): Promise<void> {
  const run = async (db: Kysely<any>) => {
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => migrations },
      migrationTableName: tableName,
      migrationLockTableName: `${tableName}_lock`,
      // Kysely looks for its migration table in every schema unless told which; name the one the
      // connection works in, so two deployments in one PostgreSQL database stay apart.
      migrationTableSchema: engineOf(db) === 'postgres' ? await currentSchema(db) : undefined
    })
    const { error, results } = await migrator.migrateToLatest()
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName
      throw new Error(`Migration ${failed ?? ''} of ${tableName} failed: ${String(error)}`, { cause: error })
    }
  }
  if (engineOf(db) === 'postgres') return await run(db)
  await inWriteTransaction(db, run)
}

async function currentSchema (db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const schema = rows[0]?.schema
  if (schema === undefined || schema === null) throw new Error('The PostgreSQL connection has no current schema (check search_path)')
  return schema
}

/** Every migration of the standalone service: the auth plugin's tables, the items table, the readiness probe's table. */
export async function migrateService (db: Kysely<any>): Promise<void> {
  await migrateToLatest(db, usersMigrations, 'auth_migrations')
  await migrateToLatest(db, itemsMigrations, 'items_migrations')
  await migrateToLatest(db, healthMigrations, 'health_migrations')
}
