import { accessSync, constants, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Kysely } from 'kysely'
import { applyMigrations, createDatabase, DatabaseUnavailableError, databaseUnavailableReason, isDatabaseUnavailable, migrate, parseDatabaseUrl, type AppliedMigration, type DatabaseOptions } from '../../index.js'
import { checkDatabaseBeforeOpening, DatabaseStartError, markDatabase } from './database-marker.js'
import { healthMigrations } from './migrations/health.js'
import { itemsMigrations } from './migrations/items.js'
import { checkWriteAheadLog, recordWalOwner } from './wal-owner.js'

export interface ServiceDatabaseOptions extends DatabaseOptions {
  /** Start on an empty SQLite database even where the marker says one existed. */
  allowEmpty: boolean
  /** Told when an empty database is started on purpose where one existed, or another file's -wal and -shm are set aside. */
  warn?: (message: string) => void
  /** Told the migrations this open applied (an empty list: nothing to apply). */
  migrated?: (applied: AppliedMigration[]) => void
}

// File system errors that mean the database's file or directory cannot be created, written or read.
const STORAGE_CODES = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT', 'EIO', 'ENOENT', 'ENOTDIR'])

function isStorageError (error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, cause } = error as { code?: unknown, cause?: unknown }
  // A failed migration wraps the driver's error.
  return isDatabaseUnavailable(error) || (typeof code === 'string' && STORAGE_CODES.has(code)) || isStorageError(cause)
}

/** Why this process cannot write the file's directory (SQLite creates files beside it) or the file: the file system's own words, or undefined. */
function writeProblem (file: string): string | undefined {
  for (const target of existsSync(file) ? [dirname(file), file] : [dirname(file)]) {
    try {
      accessSync(target, constants.W_OK)
    } catch (error) {
      return (error as Error).message
    }
  }
  return undefined
}

/**
 * The standalone service's database as its process entry and its CLI open it: a SQLite file's
 * -wal and -shm are set aside when they belong to another file (see checkWriteAheadLog), the file
 * is checked against its marker (see checkDatabaseBeforeOpening), then everything is migrated,
 * then the marker and the owner of the log are written. A SQLite file that cannot be created, written or read
 * becomes a DatabaseStartError naming it. The caller owns the result and must `destroy()` it.
 */
export async function openServiceDatabase (url: string, opts: ServiceDatabaseOptions): Promise<Kysely<any>> {
  const { allowEmpty, warn, migrated, ...databaseOptions } = opts
  const location = parseDatabaseUrl(url)
  const file = location.engine === 'sqlite' && location.path !== ':memory:' ? location.path : undefined
  const timeoutMs = opts.timeoutMs ?? 5000
  let db: Kysely<any> | undefined
  try {
    // Before anything opens the file: opening it replays the log beside it.
    const log = file === undefined ? undefined : checkWriteAheadLog(file, { timeoutMs })
    const found = file === undefined ? 'new' : checkDatabaseBeforeOpening(file, { allowEmpty, timeoutMs })
    // A new database is created where the file is missing: a log left there belongs to the one gone.
    const stray = file !== undefined && log?.found === 'no-file' ? checkWriteAheadLog(file, { timeoutMs, missing: 'set-aside' }) : log
    if (stray?.found === 'stray') warn?.(stray.message)
    db = createDatabase(url, databaseOptions)
    const applied = await migrateService(db)
    migrated?.(applied)
    if (file !== undefined) {
      recordWalOwner(file, timeoutMs)
      if (found === 'empty-allowed') warn?.(`ALLOW_EMPTY_DATABASE=true: started an empty database at ${file}, where one existed before`)
      markDatabase(file, { replace: found === 'empty-allowed' })
    }
    return db
  } catch (error) {
    await db?.destroy()
    if (file === undefined || error instanceof DatabaseStartError || !isStorageError(error)) throw error
    throw new DatabaseStartError(
      `Cannot use the database ${file}: ${writeProblem(file) ?? databaseUnavailableReason(error)}. ` +
      'Check that the file and its directory can be written by this user, on a writable file system with free space ' +
      '(for a lock: that no other process keeps the database locked), then start again.', { cause: error })
  }
}

/**
 * Every migration of the standalone service: all of the auth plugin's (its throttling counters
 * included, though Redis may hold them), the items table, the readiness probe's table.
 */
export async function migrateService (db: Kysely<any>): Promise<AppliedMigration[]> {
  return [...await migrate(db), ...await applyMigrations(db, itemsMigrations), ...await applyMigrations(db, healthMigrations)]
}

/** Where a PostgreSQL URL points, for messages (never its password): `PostgreSQL at HOST:PORT (database D, user U)`. */
export function postgresTarget (url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'PostgreSQL (an unparsable DATABASE_URL)'
  }
  const host = parsed.searchParams.get('host') ?? (parsed.hostname === '' ? 'localhost' : parsed.hostname)
  const port = parsed.searchParams.get('port') ?? (parsed.port === '' ? '5432' : parsed.port)
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''))
  const user = decodeURIComponent(parsed.username)
  const details = [database === '' ? undefined : `database ${database}`, user === '' ? undefined : `user ${user}`].filter((part) => part !== undefined)
  return `PostgreSQL at ${host}:${port}${details.length === 0 ? '' : ` (${details.join(', ')})`}`
}

/** Why a database could not be used, in one line: the innermost error's code and message. */
export function startFailureReason (error: unknown): string {
  // Through the wrappers that say only "unavailable", to the driver's reason; an error of ours
  // that says what to do is the reason itself.
  let inner = error
  while (inner instanceof DatabaseUnavailableError && inner.cause !== undefined) inner = inner.cause
  // A host name with several addresses fails as an AggregateError, whose own message is empty.
  const errors = inner instanceof AggregateError ? inner.errors : []
  const reason = databaseUnavailableReason(errors[0] ?? inner).replace(/\s+/g, ' ').trim()
  return reason.replace(/:\s*$/, '') || 'unknown error'
}

/** Whether a failure to open a database is one that waiting may cure: the server unreachable, starting or full. */
export function isUnreachable (error: unknown): boolean {
  for (let inner = error; typeof inner === 'object' && inner !== null; inner = (inner as { cause?: unknown }).cause) {
    if (isDatabaseUnavailable(inner)) return true
  }
  return false
}
