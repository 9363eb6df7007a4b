import { Migrator, sql, type DatabaseIntrospector, type Kysely, type Migration } from 'kysely'
import { engineOf } from './dialect.js'
import { inWriteTransaction } from './transaction.js'

/** One owner's migrations, declared once: what they are and the table recording which ran. */
export interface MigrationSet {
  /** The table Kysely records the applied migrations in (its lock table is this name and `_lock`). */
  readonly table: string
  readonly migrations: Readonly<Record<string, Migration>>
}

/**
 * Applies a set of migrations. Each owner (the auth plugin, the items resource) keeps its own
 * migration table, so a host that embeds the plugin gets only the plugin's tables. With every
 * migration applied already it runs no DDL: a role that may only read and write rows can run it.
 *
 * Safe when several instances start at once. On PostgreSQL, Kysely serialises migrators with
 * an advisory lock. On SQLite, Kysely assumes a single connection, so the whole run happens in
 * one `BEGIN IMMEDIATE` transaction: other processes wait for the write lock (busy timeout),
 * then find the migrations applied; and a failed migration leaves nothing half-done.
 */
export async function applyMigrations (db: Kysely<any>, set: MigrationSet): Promise<void> {
  const { table: tableName, migrations } = set
  const run = async (db: Kysely<any>, schema?: string) => {
    const migrator = new Migrator({
      db: schema === undefined ? db : introspectingOnly(db, schema),
      provider: { getMigrations: async () => migrations },
      migrationTableName: tableName,
      migrationLockTableName: `${tableName}_lock`,
      // Kysely looks for its migration table in every schema unless told which; name the one the
      // connection works in, so two deployments in one PostgreSQL database stay apart.
      migrationTableSchema: schema
    })
    const { error, results } = await migrator.migrateToLatest()
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName
      const what = failed === undefined ? `Migrations of ${tableName}` : `Migration ${failed} of ${tableName}`
      throw new Error(`${what} failed: ${String(error)}`, { cause: error })
    }
  }
  if (engineOf(db) === 'postgres') return await run(db, await currentSchema(db))
  await inWriteTransaction(db, async (db) => { await run(db) })
}

/**
 * `db` as Kysely's migrator sees it, with an introspector that reads only `schema`. Kysely's own
 * PostgreSQL introspector lists the tables of every schema in the database, and fails ("schema
 * … does not exist") when another deployment drops one of them during the query.
 */
function introspectingOnly (db: Kysely<any>, schema: string): Kysely<any> {
  // As Kysely's own introspectors: without the plugins of a host's instance (CamelCasePlugin…).
  const plain = db.withoutPlugins()
  const introspection: DatabaseIntrospector = {
    getSchemas: async () => {
      const { rows } = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace where nspname = ${schema}`.execute(plain)
      return rows
    },
    getTables: async () => {
      // The migrator asks only whether its tables exist: names, without columns.
      const { rows } = await sql<{ name: string, kind: string }>`
        select c.relname as name, c.relkind as kind from pg_catalog.pg_class c
        join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
        where ns.nspname = ${schema} and c.relkind in ('r', 'v', 'p')`.execute(plain)
      return rows.map(({ name, kind }) => ({ name, schema, isView: kind === 'v', columns: [] }))
    },
    getMetadata: async () => ({ tables: await introspection.getTables() })
  }
  return new Proxy(db, {
    get (target, key) {
      if (key === 'introspection') return introspection
      const value: unknown = Reflect.get(target, key, target)
      // Kysely keeps its state in private fields, which only the instance itself can read.
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

async function currentSchema (db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const schema = rows[0]?.schema
  if (schema === undefined || schema === null) throw new Error('The PostgreSQL connection has no current schema (check search_path)')
  return schema
}
