import { resolve } from 'node:path'

// What a DATABASE_URL may be, apart from the drivers (so the package entry can export it
// without their types).

/** The URLs parseDatabaseUrl takes, as a JSON Schema pattern. */
export const DATABASE_URL_PATTERN = '^(sqlite:.+|postgres(ql)?://.+)$'

/** Where a DATABASE_URL points: a SQLite file (or memory), or a PostgreSQL server. */
export type DatabaseLocation =
  | { engine: 'sqlite', /** Absolute file path, or `:memory:`. */ path: string }
  | { engine: 'postgres', url: string }

/** Parses `sqlite:PATH`, `sqlite::memory:` and `postgres://…`; relative SQLite paths are taken from the working directory. */
export function parseDatabaseUrl (url: string): DatabaseLocation {
  if (!new RegExp(DATABASE_URL_PATTERN).test(url)) {
    throw new Error('Unsupported DATABASE_URL: expected sqlite:PATH, sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DATABASE')
  }
  if (url.startsWith('postgres')) return { engine: 'postgres', url }
  const path = url.slice('sqlite:'.length)
  return { engine: 'sqlite', path: path === ':memory:' ? path : resolve(path) }
}
