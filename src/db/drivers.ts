import { createRequire } from 'node:module'
import type SQLite from 'better-sqlite3'
import { errors } from '../errors.js'

// The database drivers are optional peer dependencies: each is loaded when a database URL of
// its engine is first opened, so a host installs only the one it uses.

const require = createRequire(import.meta.url)

/** Whether `error` says that the package `name` itself is not installed (rather than a file it imports). */
export function isMissingPackage (error: unknown, name: string): boolean {
  const { code, message } = error as { code?: unknown, message?: unknown }
  return (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && typeof message === 'string' &&
    (message.includes(`'${name}'`) || message.includes(`'${name}/`))
}

function load<T> (name: string, use: string, major: number): T {
  try {
    return require(name) as T
  } catch (error) {
    if (!isMissingPackage(error, name)) throw error
    throw Object.assign(errors.MISSING_PACKAGE.create(use, name, major), { cause: error })
  }
}

/** better-sqlite3, for a `sqlite:` database. */
export function loadSqlite (): typeof SQLite {
  return load('better-sqlite3', 'a sqlite: database', 12)
}

/** pg, for a `postgres://` database. */
export function loadPg (): typeof import('pg') {
  return load('pg', 'a postgres:// database', 8)
}
