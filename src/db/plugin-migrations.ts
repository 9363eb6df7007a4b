import type { Kysely } from 'kysely'
import { applyMigrations, type AppliedMigration, type MigrationSet } from './migrate.js'
import { sessionMigrations } from './migrations/sessions.js'
import { throttleMigrations } from './migrations/throttle.js'
import { usersMigrations } from './migrations/users.js'

export interface MigrateOptions {
  /**
   * The built-in user store's `users` table with the sessions; false: the sessions alone, for a
   * host's own user store (the plugin's `store` option). Default true.
   */
  users?: boolean
  /** The throttling counters' tables, which the plugin uses unless Redis holds the counters. Default true. */
  throttle?: boolean
}

/** The plugin's migration sets for a deployment, in the order they apply. */
export function pluginMigrationSets ({ users = true, throttle = true }: MigrateOptions = {}): MigrationSet[] {
  return [users ? usersMigrations : sessionMigrations, ...(throttle ? [throttleMigrations] : [])]
}

/**
 * Creates or updates every table the plugin uses in `database`: for a deploy step run as the
 * database's owner, after which the plugin needs only the rights to read and write rows (at
 * start it finds everything applied and changes no schema). The plugin also runs this itself at
 * start, so a deployment that lets it create tables needs no separate step. Answers the
 * migrations it applied, and logs nothing.
 */
export async function migrate (database: Kysely<any>, options: MigrateOptions = {}): Promise<AppliedMigration[]> {
  const applied: AppliedMigration[] = []
  for (const set of pluginMigrationSets(options)) applied.push(...await applyMigrations(database, set))
  return applied
}
