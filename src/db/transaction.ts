import { sql, type Kysely } from 'kysely'
import { engineOf } from './dialect.js'

/**
 * Runs `fn` in one transaction that will write: committed if it resolves, rolled back if it
 * throws. On SQLite it begins IMMEDIATE, taking the write lock first (other processes wait for
 * it, within the busy timeout): a deferred transaction that reads and then writes could fail
 * outright when another connection wrote in between. On PostgreSQL, an ordinary transaction.
 */
export async function inWriteTransaction<DB, T> (db: Kysely<DB>, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  if (engineOf(db) === 'postgres') return await db.transaction().execute(fn)
  return await db.connection().execute(async (connection) => {
    await sql`begin immediate`.execute(connection)
    try {
      const result = await fn(connection)
      await sql`commit`.execute(connection)
      return result
    } catch (error) {
      await rollbackIfOpen(connection)
      throw error
    }
  })
}

/**
 * Ends a failed SQLite transaction, and the caller sees the failure itself. A full disk or an I/O
 * error makes SQLite roll back on its own (the ROLLBACK then finds no transaction); a failed
 * COMMIT leaves the transaction open, and the connection could begin no other.
 */
async function rollbackIfOpen (connection: Kysely<any>): Promise<void> {
  try {
    await sql`rollback`.execute(connection)
  } catch {}
}
