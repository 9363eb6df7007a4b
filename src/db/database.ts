import { randomInt } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type SQLite from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect, type CompiledQuery, type Dialect, type KyselyConfig } from 'kysely'
import { errors } from '../errors.js'
import { loadPg, loadSqlite } from './drivers.js'
import { asUnavailable, unavailableReason } from './errors.js'
import { watchFileIdentity, type FileIdentity } from './file-identity.js'
import type { AuthDatabase } from './types.js'
import { translatingUnavailable } from './unavailable-dialect.js'

/** Where a DATABASE_URL points: a SQLite file (or memory), or a PostgreSQL server. */
export type DatabaseLocation =
  | { engine: 'sqlite', /** Absolute file path, or `:memory:`. */ path: string }
  | { engine: 'postgres', url: string }

/** Parses `sqlite:PATH`, `sqlite::memory:` and `postgres://…`; relative SQLite paths are taken from the working directory. */
export function parseDatabaseUrl (url: string): DatabaseLocation {
  if (/^postgres(ql)?:\/\//.test(url)) return { engine: 'postgres', url }
  const match = /^sqlite:(.+)$/.exec(url)
  if (match === null) throw new Error('Unsupported DATABASE_URL: expected sqlite:PATH, sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DATABASE')
  const path = match[1] as string
  return { engine: 'sqlite', path: path === ':memory:' ? path : resolve(path) }
}

export interface DatabaseOptions {
  /** PostgreSQL connections per process. Default 10. */
  poolSize?: number
  /** Longest wait for a connection, a lock or a query before answering 503. Default 5000 ms. */
  timeoutMs?: number
  /** Told about errors of idle pooled connections (say, the server restarted), which would otherwise crash the process. */
  onPoolError?: (error: Error) => void
  /** Told once when a SQLite file's path stops naming the file opened (deleted, replaced): what happened and what to do. */
  onFileLost?: (message: string, path: string) => void
  /** Told when that path names the file opened again. */
  onFileBack?: (path: string) => void
}

/** What a database opened by createDatabase can do beyond Kysely's query building. */
interface DatabaseCapabilities {
  /** SQLite: the connection itself, for prepared reads answered at once, the change watch and backups. */
  readonly sqlite?: SQLite.Database
  /** A SQLite file: whether its path still names the file opened. */
  readonly fileIdentity?: FileIdentity
  /** PostgreSQL: the pool, for its usage gauges. */
  readonly pool?: import('pg').Pool
}

let opened: (config: KyselyConfig, capabilities: DatabaseCapabilities) => OpenedDatabase
let capabilitiesOf: (db: Kysely<any>) => DatabaseCapabilities

/**
 * A Kysely instance opened by createDatabase: it knows what more it can do. A host's own Kysely
 * can do none of it. Its capabilities are private (the published types name no driver's types).
 */
export class OpenedDatabase<DB = AuthDatabase> extends Kysely<DB> {
  readonly #capabilities: DatabaseCapabilities
  private constructor (config: KyselyConfig, capabilities: DatabaseCapabilities) {
    super(config)
    this.#capabilities = capabilities
  }

  static {
    opened = (config, capabilities) => new OpenedDatabase(config, capabilities)
    capabilitiesOf = (db) => db instanceof OpenedDatabase ? db.#capabilities : {}
  }
}

function sqliteDialect (sqlite: SQLite.Database, timeoutMs: number, identity: FileIdentity | undefined): Dialect {
  // WAL lets readers run beside a writer; the busy timeout makes a second writer (another
  // worker process) wait for the lock instead of failing at once.
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma(`busy_timeout = ${timeoutMs}`)
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  return new SqliteDialect({ database: withStatementCache(sqlite, identity) })
}

const STATEMENT_CACHE_SIZE = 256

/**
 * Each query text is prepared once and reused: Kysely's SQLite driver would prepare it anew on
 * every run, and the service's queries are a small fixed set (better-sqlite3 runs one statement
 * at a time, and Kysely does not stream here). A statement that writes runs only while the
 * file's path still names the file opened.
 */
function withStatementCache (sqlite: SQLite.Database, identity: FileIdentity | undefined) {
  const statements = new Map<string, SQLite.Statement>()
  return {
    close: () => { sqlite.close() },
    prepare (text: string) {
      let statement = statements.get(text)
      if (statement === undefined) {
        statement = sqlite.prepare(text)
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value as string)
        statements.set(text, statement)
      }
      if (!statement.readonly) identity?.assertUnchanged()
      return statement
    }
  }
}

function postgresPool (url: string, opts: DatabaseOptions, timeoutMs: number): import('pg').Pool {
  const pg = loadPg()
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    // Bounded waits everywhere: a down or stuck server turns into a 503, never a hang.
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    idleTimeoutMillis: 30_000
  })
  pool.on('error', opts.onPoolError ?? (() => {}))
  return pool
}

/**
 * Opens a Kysely database for a DATABASE_URL, as the plugin does for its `database` option: a
 * SQLite file (created private to its user, in WAL mode, with a busy timeout) or a PostgreSQL
 * pool whose waits are all bounded. Failures to reach it become DatabaseUnavailableErrors. The
 * caller owns it and must `destroy()` it.
 */
export function createDatabase (url: string, opts: DatabaseOptions = {}): OpenedDatabase {
  const location = parseDatabaseUrl(url)
  const timeoutMs = opts.timeoutMs ?? 5000
  if (location.engine === 'postgres') {
    const pool = postgresPool(location.url, opts, timeoutMs)
    return opened({ dialect: translatingUnavailable(new PostgresDialect({ pool })) }, { pool })
  }
  const Database = loadSqlite()
  if (location.path !== ':memory:') {
    ensureDirectory(location.path, url)
    // It holds password hashes: private to the service's user (SQLite gives its -wal and -shm files the same mode).
    closeSync(openSync(location.path, 'a', 0o600))
  }
  const sqlite = new Database(location.path)
  const { path } = location
  const identity = path === ':memory:'
    ? undefined
    : watchFileIdentity(path, {
      onLost: (message) => { opts.onFileLost?.(message, path) },
      onBack: () => { opts.onFileBack?.(path) }
    })
  return opened({ dialect: translatingUnavailable(sqliteDialect(sqlite, timeoutMs, identity)) }, { sqlite, fileIdentity: identity })
}

/** The SQLite file's directory: `./data` (the service's default) is made when missing; any other must exist, so a mistyped path makes nothing. */
function ensureDirectory (path: string, url: string): void {
  const dir = resolve(dirname(path))
  if (existsSync(dir)) return
  if (dir !== resolve('data')) throw errors.OPTIONS.create(`database ${url}: the directory ${dir} does not exist; create it first (only ./data is made when missing)`)
  mkdirSync(dir)
}

/** A generation for a copy of a database: random, never 0 (a database never backed up) nor `previous`. */
export function freshGeneration (previous: number): number {
  let generation: number
  do generation = randomInt(1, 2 ** 31); while (generation === previous)
  return generation
}

/** Why a backup was not written: the message says what to do. */
export class BackupError extends Error {
  readonly code = errors.BACKUP.code
  constructor (message: string) {
    super(message)
    this.name = 'BackupError'
  }
}

/**
 * For a SQLite file database opened here: writes a consistent copy of it, taken with SQLite's
 * online backup while other processes go on using it, to `destination`, a new file private to
 * this user, with no -wal beside it. The copy gets a fresh generation (the header's
 * user_version): restored later, it is never taken for the file whose -wal is left at the path.
 */
export async function backupSqliteDatabase (db: Kysely<any>, destination: string): Promise<void> {
  const { sqlite } = capabilitiesOf(db)
  if (sqlite === undefined || sqlite.memory) throw new BackupError('backup copies a SQLite database file; for PostgreSQL use pg_dump')
  if (resolve(destination) === resolve(sqlite.name)) throw new BackupError(`${destination} is the database itself: choose another path`)
  if (existsSync(destination)) throw new BackupError(`${destination} exists already: choose a new path (a backup never overwrites a file)`)
  // Written beside the destination and renamed into place: a backup cut short is never at that path.
  const partial = `${destination}.partial-${process.pid}`
  try {
    mkdirSync(dirname(destination), { recursive: true })
    closeSync(openSync(partial, 'wx', 0o600))
    // In one step, a snapshot: copied in steps, a write by the service between two restarts the copy.
    await sqlite.backup(partial, { progress: () => 0x7fffffff })
    const Database = loadSqlite()
    const copy = new Database(partial, { fileMustExist: true })
    try {
      copy.pragma(`user_version = ${freshGeneration(sqlite.pragma('user_version', { simple: true }) as number)}`)
      // One self-contained file: the copy's log is checkpointed into it and removed.
      copy.pragma('journal_mode = DELETE')
    } finally {
      copy.close()
    }
    if (existsSync(destination)) throw new BackupError(`${destination} appeared while the backup was written: choose a new path`)
    renameSync(partial, destination)
  } catch (error) {
    if (error instanceof BackupError) throw error
    // Node's own messages start with their code already.
    throw new BackupError(`Cannot write the backup ${destination}: ${unavailableReason(error).replace(/^(\w+): \1: /, '$1: ')}`)
  } finally {
    for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${partial}${suffix}`, { force: true })
  }
}

/** How a connection pool is used right now. */
export interface PoolUsage {
  /** Connections open, idle or lent out. */
  total: number
  idle: number
  /** Queries waiting for a connection. */
  waiting: number
  max: number
}

/** For a PostgreSQL database opened here, its pool's usage now; undefined for any other database (SQLite has no pool). */
export function poolUsage (db: Kysely<any>): PoolUsage | undefined {
  const { pool } = capabilitiesOf(db)
  if (pool === undefined) return undefined
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 }
}

/**
 * For a SQLite file database opened here: throws a DatabaseUnavailableError unless its path
 * still names the file opened, looking now. Nothing for any other database.
 */
export function assertDatabaseFileUnchanged (db: Kysely<any>): void {
  capabilitiesOf(db).fileIdentity?.assertUnchanged(true)
}

export type MaybePromise<T> = T | Promise<T>

export function isPromise<T> (value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise
}

/**
 * The first row of a read query compiled once by Kysely, run with new parameters. On a SQLite
 * database opened here it runs as a prepared better-sqlite3 statement and answers at once, not
 * with a promise, which keeps the lookup behind every authenticated request off Kysely's
 * per-query machinery. Anywhere else (PostgreSQL, a
 * host's own Kysely) it runs through Kysely and answers with a promise. It takes no Kysely
 * connection lock: inside a transaction someone holds open on this handle, it reads that
 * transaction's state.
 */
export function preparedFirstRow<R> (db: Kysely<any>, compiled: CompiledQuery<R>): (parameters: readonly unknown[]) => MaybePromise<R | undefined> {
  const { sqlite } = capabilitiesOf(db)
  if (sqlite === undefined) {
    return async (parameters) => (await db.executeQuery<R>({ ...compiled, parameters })).rows[0]
  }
  let statement: SQLite.Statement | undefined
  return (parameters) => {
    try {
      statement ??= sqlite.prepare(compiled.sql)
      return statement.get(...parameters) as R | undefined
    } catch (error) {
      throw asUnavailable(error)
    }
  }
}

/**
 * For a SQLite database opened here, a function answering whether anything in the database may
 * have changed since its last call: every call compares this connection's own change count (a
 * fraction of a microsecond), and at most every `intervalMs` SQLite's `data_version`, which moves
 * when another connection (another worker, process or CLI) commits. Undefined for any other
 * database. Writes of this connection are seen at once, other connections' within `intervalMs`.
 */
export function sqliteChangeWatch (db: Kysely<any>, intervalMs: number): (() => boolean) | undefined {
  const { sqlite } = capabilitiesOf(db)
  if (sqlite === undefined) return undefined
  const ownChanges = sqlite.prepare('select total_changes()').pluck()
  const dataVersion = sqlite.prepare('pragma data_version').pluck()
  let changes: unknown
  let version: unknown
  let checkedAt = -Infinity
  return () => {
    try {
      let changed = false
      const nowChanges = ownChanges.get()
      if (nowChanges !== changes) {
        changes = nowChanges
        changed = true
      }
      const now = performance.now()
      if (now - checkedAt >= intervalMs) {
        checkedAt = now
        const nowVersion = dataVersion.get()
        if (nowVersion !== version) {
          version = nowVersion
          changed = true
        }
      }
      return changed
    } catch (error) {
      throw asUnavailable(error)
    }
  }
}
