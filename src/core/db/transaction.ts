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
    let result: T
    try {
      result = await fn(connection)
    } catch (error) {
      await sql`rollback`.execute(connection)
      throw error
    }
    await sql`commit`.execute(connection)
    return result
  })
}
