import { Migrator, sql, type DatabaseIntrospector, type Kysely, type Migration } from 'kysely'
import { engineOf, type Engine } from './dialect.js'
import { inWriteTransaction } from './transaction.js'

/** One owner's migrations, declared once: what they are and the table recording which ran. */
export interface MigrationSet {
  /** The table Kysely records the applied migrations in (its lock table is this name and `_lock`). */
  readonly table: string
  readonly migrations: Readonly<Record<string, Migration>>
}

/** A migration applied by a run: which, in which owner's table, on which engine, and how long its `up` took. */
export interface AppliedMigration {
  readonly name: string
  readonly table: string
  readonly engine: Engine
  readonly durationMs: number
}

/**
 * Applies a set of migrations and answers those it applied (none when all were applied before);
 * it logs nothing, so a host decides what to say. Each owner (the auth plugin, the items resource) keeps its own
 * migration table, so a host that embeds the plugin gets only the plugin's tables. With every
 * migration applied already it runs no DDL: a role that may only read and write rows can run it.
 *
 * Safe when several instances start at once. On PostgreSQL, Kysely serialises migrators with
 * an advisory lock. On SQLite, Kysely assumes a single connection, so the whole run happens in
 * one `BEGIN IMMEDIATE` transaction: other processes wait for the write lock (busy timeout),
 * then find the migrations applied; and a failed migration leaves nothing half-done.
 */
export async function applyMigrations (db: Kysely<any>, set: MigrationSet): Promise<AppliedMigration[]> {
  const { table: tableName, migrations } = set
  const engine = engineOf(db)
  const durations = new Map<string, number>()
  const timed = Object.fromEntries(Object.entries(migrations).map(([name, migration]) => [name, {
    ...migration,
    up: async (db: Kysely<any>) => {
      const started = performance.now()
      await migration.up(db)
      durations.set(name, performance.now() - started)
    }
  }]))
  const run = async (db: Kysely<any>, schema?: string): Promise<AppliedMigration[]> => {
    const migrator = new Migrator({
      db: schema === undefined ? db : introspectingOnly(db, schema),
      provider: { getMigrations: async () => timed },
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
    return (results ?? []).filter((result) => result.status === 'Success' && result.direction === 'Up').map(({ migrationName: name }) =>
      ({ name, table: tableName, engine, durationMs: Math.round(durations.get(name) ?? 0) }))
  }
  if (engine === 'postgres') return await run(db, await currentSchema(db))
  return await inWriteTransaction(db, async (db) => await run(db))
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
