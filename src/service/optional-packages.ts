import { createRequire } from 'node:module'
import type SQLite from 'better-sqlite3'
import { errors } from '../index.js'

// better-sqlite3 and ioredis are optional peer dependencies: the service loads each only when
// its setting asks for it (a sqlite: DATABASE_URL, a REDIS_URL).

const require = createRequire(import.meta.url)

/**
 * What to throw when loading the package `name` failed: the package's MISSING_PACKAGE error,
 * naming the install command, when the package itself is not installed; else the failure.
 */
export function loadFailure (error: unknown, name: string, use: string, major: number): unknown {
  const { code, message } = error as { code?: unknown, message?: unknown }
  const missing = (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && typeof message === 'string' && message.includes(`'${name}'`)
  return missing ? Object.assign(errors.MISSING_PACKAGE.create(use, name, major), { cause: error }) : error
}

/** better-sqlite3, for the checks beside a SQLite database file. */
export function loadSqlite (): typeof SQLite {
  try {
    return require('better-sqlite3') as typeof SQLite
  } catch (error) {
    throw loadFailure(error, 'better-sqlite3', 'a sqlite: database', 12)
  }
}
