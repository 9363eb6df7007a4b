import { errors } from '../errors.js'

/** The database cannot be reached or answered too late: clients get 503, and may retry. */
export class DatabaseUnavailableError extends Error {
  readonly statusCode = errors.UNAVAILABLE.statusCode
  readonly code = errors.UNAVAILABLE.code
  constructor (cause: unknown) {
    super(errors.UNAVAILABLE.detail(), { cause })
    this.name = 'DatabaseUnavailableError'
  }
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN'])
// PostgreSQL SQLSTATEs: 08 connection exceptions, 57P01-03 shutting down or starting up,
// 57014 statement timeout, 53300 too many connections.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57014', '53300'])
const UNAVAILABLE_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|Query read timeout|connection timeout|Client has encountered a connection error/i
// SQLite: another process holds the write lock for longer than busy_timeout.
const SQLITE_BUSY = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_TIMEOUT', 'SQLITE_LOCKED'])
// SQLite: the disk is full, or the file or its directory cannot be written or read (read-only,
// permissions, I/O errors), with every extended code of each.
const SQLITE_STORAGE = /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN)(_|$)/

/** True for failures of reaching the database or its storage, as opposed to errors in a query. */
export function isUnavailable (error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true
  if (typeof error !== 'object' || error === null) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    if (UNREACHABLE_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08') || SQLITE_BUSY.has(code) || SQLITE_STORAGE.test(code)) return true
  }
  const message = (error as { message?: unknown }).message
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message)
}

/** The error as callers should see it: a DatabaseUnavailableError when the database could not be reached. */
export function asUnavailable (error: unknown): unknown {
  return isUnavailable(error) && !(error instanceof DatabaseUnavailableError) ? new DatabaseUnavailableError(error) : error
}

/** Why the database is unavailable, for the log: the driver's code and message (`SQLITE_FULL: database or disk is full`). */
export function unavailableReason (error: unknown): string {
  let cause = error
  while (cause instanceof DatabaseUnavailableError && cause.cause !== undefined) cause = cause.cause
  if (typeof cause !== 'object' || cause === null) return String(cause)
  const { code, message } = cause as { code?: unknown, message?: unknown }
  const text = typeof message === 'string' ? message : String(cause)
  return typeof code === 'string' && code !== '' ? `${code}: ${text}` : text
}

/** True when the error is a violated UNIQUE constraint, in either engine. */
export function isUniqueViolation (error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const code = (error as { code?: unknown }).code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505'
}
