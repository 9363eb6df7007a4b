import { existsSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import { loadSqlite } from '../optional-packages.js'

/** The marker beside a SQLite database, named after it: it says that the service created its tables there. */
export function markerFileFor (databasePath: string): string {
  return `${databasePath}.created`
}

/** Why the service or the CLI will not use its database; the message says what was found and how to proceed. */
export class DatabaseStartError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'DatabaseStartError'
  }
}

/** Whether the SQLite file holds the service's tables: false when it is missing, empty or not the service's. */
function hasServiceTables (path: string, timeoutMs: number): boolean {
  if (!existsSync(path)) return false
  const Database = loadSqlite()
  const sqlite = new Database(path, { fileMustExist: true, timeout: timeoutMs })
  try {
    return sqlite.prepare("select 1 from sqlite_master where type = 'table' and name = 'auth_migrations'").get() !== undefined
  } finally {
    sqlite.close()
  }
}

export type DatabaseFound = 'existing' | 'new' | 'empty-allowed'

/**
 * Looks at a SQLite database before it is opened and migrated. Without the marker beside it, any
 * state is fine ('new' or 'existing'). With the marker, a missing or empty database means the
 * one created there is gone (deleted, or a volume not mounted): a DatabaseStartError, since
 * carrying on would start an empty database and lose every account, unless `allowEmpty`.
 */
export function checkDatabaseBeforeOpening (path: string, { allowEmpty, timeoutMs }: { allowEmpty: boolean, timeoutMs: number }): DatabaseFound {
  // The marker first: a process creating the database writes it only after its tables are committed.
  const marker = markerFileFor(path)
  const marked = existsSync(marker)
  if (hasServiceTables(path, timeoutMs)) return 'existing'
  if (!marked) return 'new'
  if (allowEmpty) return 'empty-allowed'
  const found = existsSync(path) ? 'has none of the service\'s tables' : 'does not exist'
  throw new DatabaseStartError(
    `Refusing to start: the database ${path} ${found}, but ${marker} shows that the service created its database there before. ` +
    'Starting would begin an empty database, without any of the accounts. ' +
    `If the file was deleted or the volume holding it is not mounted, restore it (from a backup) to ${path}. ` +
    'To start with an empty database on purpose, set ALLOW_EMPTY_DATABASE=true for one start.')
}

/** Writes the marker beside a database whose tables now exist (again, with `replace`, after an empty start was allowed). */
export function markDatabase (path: string, { replace }: { replace: boolean }): void {
  const name = basename(path)
  const text = `The service created its tables in ${name}, beside this file, on ${new Date().toISOString()}.\n` +
    `While this file exists, the service and its CLI refuse to start when ${name} is missing or empty\n` +
    '(a deleted file or an unmounted volume would otherwise start an empty database, without the accounts).\n' +
    'To start with an empty database on purpose, set ALLOW_EMPTY_DATABASE=true for one start.\n'
  try {
    writeFileSync(markerFileFor(path), text, { mode: 0o600, flag: replace ? 'w' : 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
}
