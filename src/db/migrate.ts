import { Migrator, type Kysely, type Migration } from 'kysely'

/**
 * Applies a set of migrations. Each owner (the auth plugin, the items resource) keeps its own
 * migration table, so a host that embeds the plugin gets only the plugin's tables.
 */
export async function migrateToLatest (
  db: Kysely<any>,
  migrations: Record<string, Migration>,
  tableName: string
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: tableName,
    migrationLockTableName: `${tableName}_lock`
  })
  const { error, results } = await migrator.migrateToLatest()
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName
    throw new Error(`Migration ${failed ?? ''} of ${tableName} failed: ${String(error)}`, { cause: error })
  }
}
