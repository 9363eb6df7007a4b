import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely'
import { asUnavailable } from './errors.js'

function translate (error: unknown): never {
  throw asUnavailable(error)
}

/** Runs a driver call, translating its failure whether it throws or rejects (better-sqlite3 throws). */
async function translated<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    translate(error)
  }
}

class TranslatingConnection implements DatabaseConnection {
  constructor (readonly inner: DatabaseConnection) {}

  async executeQuery<R> (query: CompiledQuery): Promise<QueryResult<R>> {
    return await translated(async () => await this.inner.executeQuery<R>(query))
  }

  streamQuery<R> (query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize)
  }
}

class TranslatingDriver implements Driver {
  readonly #connections = new WeakMap<DatabaseConnection, TranslatingConnection>()
  savepoint?: Driver['savepoint']
  rollbackToSavepoint?: Driver['rollbackToSavepoint']
  releaseSavepoint?: Driver['releaseSavepoint']

  constructor (readonly inner: Driver) {
    // Savepoints (nested transactions) pass through where the driver has them.
    for (const method of ['savepoint', 'rollbackToSavepoint', 'releaseSavepoint'] as const) {
      const call = inner[method]?.bind(inner)
      if (call !== undefined) {
        this[method] = async (connection, name, compile) => {
          await translated(async () => { await call((connection as TranslatingConnection).inner, name, compile) })
        }
      }
    }
  }

  async init () { await translated(async () => { await this.inner.init() }) }
  async destroy () { await this.inner.destroy() }

  async acquireConnection (): Promise<DatabaseConnection> {
    const connection = await translated(async () => await this.inner.acquireConnection())
    let wrapped = this.#connections.get(connection)
    if (wrapped === undefined) {
      wrapped = new TranslatingConnection(connection)
      this.#connections.set(connection, wrapped)
    }
    return wrapped
  }

  async releaseConnection (connection: DatabaseConnection) {
    await this.inner.releaseConnection((connection as TranslatingConnection).inner)
  }

  async beginTransaction (connection: DatabaseConnection, settings: TransactionSettings) {
    await translated(async () => { await this.inner.beginTransaction((connection as TranslatingConnection).inner, settings) })
  }

  async commitTransaction (connection: DatabaseConnection) {
    await translated(async () => { await this.inner.commitTransaction((connection as TranslatingConnection).inner) })
  }

  async rollbackTransaction (connection: DatabaseConnection) {
    await translated(async () => { await this.inner.rollbackTransaction((connection as TranslatingConnection).inner) })
  }
}

/**
 * Wraps a dialect so that every failure to reach the database, in either engine, surfaces as
 * one DatabaseUnavailableError (a 503) and nothing above this layer has to know driver codes.
 */
export function translatingUnavailable (dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new TranslatingDriver(dialect.createDriver()),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db)
  }
}
