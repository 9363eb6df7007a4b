import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type { DatabaseOptions } from '../src/db/database.js'
import { migrate } from '../src/db/plugin-migrations.js'
import { createKyselyUserStore } from '../src/accounts/kysely-user-store.js'
import { createSessionLookup, type SessionLookup } from '../src/sessions/session-lookup.js'
import { createSessionStore, type SessionPolicy, type SessionStore } from '../src/sessions/session-store.js'
import type { UserStore } from '../src/accounts/user-store.js'
import { openDatabase, type DatabasePluginOptions } from '../src/db/open-database.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The plugin's database, for its other internals (the throttling counters). */
    tokenAuthDatabase: Kysely<any>
    tokenAuthUsers: UserStore
    tokenAuthSessions: SessionStore & {
      /** The session behind an access token, with its user: the per-request check. */
      live: SessionLookup
    }
  }
}

export interface StoragePluginOptions {
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
 * The plugin's storage: its database, migrated (the `users` table and the sessions, or only the
 * sessions beside a host's user store, and the throttling counters unless Redis holds them),
 * the user store, the session store, and the lookup behind every protected request.
 */
export default fp<StoragePluginOptions>(async function storage (app, opts) {
  const db = openDatabase(app, opts)
  await migrate(db, { users: opts.store === undefined, throttle: opts.throttleTables })
  app.decorate('tokenAuthDatabase', db)
  app.decorate('tokenAuthUsers', opts.store ?? createKyselyUserStore(db))
  app.decorate('tokenAuthSessions', { ...createSessionStore(db, opts.policy), live: createSessionLookup(db, opts.store) })
}, { name: 'token-auth/storage', fastify: '5.x' })
