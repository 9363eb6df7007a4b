import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { DatabaseOptions } from '../src/db/database.js'
import { migrate } from '../src/db/plugin-migrations.js'
import { inWriteTransaction } from '../src/db/transaction.js'
import { createKyselyUserStore } from '../src/accounts/kysely-user-store.js'
import { createSessionLookup, type SessionLookup } from '../src/sessions/session-lookup.js'
import { createSessionStore, type SessionPolicy, type SessionStore } from '../src/sessions/session-store.js'
import type { UserStore } from '../src/accounts/user-store.js'
import { openDatabase, type DatabasePluginOptions } from '../src/db/open-database.js'

/** The plugin's storage, opened. */
export interface Storage {
  /** The plugin's database, for its other internals (the throttling counters, the pool gauges). */
  db: Kysely<any>
  users: UserStore
  sessions: SessionStore
  /** The session behind an access token, with its user: the per-request check. */
  live: SessionLookup
  /** With the built-in store: runs `write` in one transaction, on a store whose writes commit together. */
  userTransaction?: <T>(write: (users: UserStore) => Promise<T>) => Promise<T>
}

export interface StorageOptions {
  /** Where the sessions live, and the accounts too unless `store` is given. */
  database: DatabasePluginOptions['database']
  databaseOptions?: Omit<DatabaseOptions, 'onPoolError'>
  /** The host's own user store. */
  store?: UserStore
  policy: SessionPolicy
  /** Whether the throttling counters live in this database (no Redis holds them): their tables are migrated too. */
  throttleTables: boolean
}

/**
 * The plugin's storage, opened in `app` (closed with it): its database, migrated (the `users`
 * table and the sessions, or only the sessions beside a host's user store, and the throttling
 * counters unless Redis holds them), the user store, the session store, and the lookup behind
 * every protected request.
 */
export async function openStorage (app: FastifyInstance, opts: StorageOptions): Promise<Storage> {
  const db = openDatabase(app, opts)
  await migrate(db, { users: opts.store === undefined, throttle: opts.throttleTables })
  return {
    db,
    users: opts.store ?? createKyselyUserStore(db),
    sessions: createSessionStore(db, opts.policy),
    live: createSessionLookup(db, opts.store),
    ...(opts.store === undefined && {
      userTransaction: async <T>(write: (users: UserStore) => Promise<T>) => await inWriteTransaction(db, async (trx) => await write(createKyselyUserStore(trx)))
    })
  }
}
