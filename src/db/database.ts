import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import type { AuthDatabase } from './types.js'

export interface DatabaseLocation {
  engine: 'sqlite'
  /** Absolute file path, or `:memory:`. */
  path: string
}

/** Parses `sqlite:PATH` and `sqlite::memory:`; relative paths are taken from the working directory. */
export function parseDatabaseUrl (url: string): DatabaseLocation {
  const match = /^sqlite:(.+)$/.exec(url)
  if (match === null) throw new Error(`Unsupported DATABASE_URL (expected sqlite:PATH or sqlite::memory:): ${url}`)
  const path = match[1] as string
  return { engine: 'sqlite', path: path === ':memory:' ? path : resolve(path) }
}

/** Opens a Kysely database for a URL. The caller owns it and must `destroy()` it. */
export function createDatabase (url: string): Kysely<AuthDatabase> {
  const { path } = parseDatabaseUrl(url)
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const sqlite = new SQLite(path)
  // WAL lets readers run beside a writer; the busy timeout makes a second writer wait, not fail.
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('busy_timeout = 5000')
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  return new Kysely<AuthDatabase>({ dialect: new SqliteDialect({ database: sqlite }) })
}

/** True when the error is a violated UNIQUE constraint. */
export function isUniqueViolation (error: unknown): boolean {
  return typeof error === 'object' && error !== null &&
    (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE'
}
