import fp from 'fastify-plugin'
import type { DatabaseOptions } from '../src/core/db/database.js'
import { migrateToLatest } from '../src/core/db/migrate.js'
import { usersMigrations } from '../src/core/db/migrations/users.js'
import { createKyselyUserStore } from '../src/core/kysely-user-store.js'
import type { UserStore } from '../src/core/user-store.js'
import { openDatabase, type DatabasePluginOptions } from './database.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokenAuthUsers: UserStore
  }
}

export type UserStorePluginOptions =
  | { store: UserStore }
  | { store?: undefined, database: DatabasePluginOptions['database'], databaseOptions?: Omit<DatabaseOptions, 'onPoolError'> }

/** The plugin's user store: the host's own, or the built-in store on a database (its `users` table migrated first). */
export default fp<UserStorePluginOptions>(async function userStore (app, opts) {
  if (opts.store !== undefined) {
    app.decorate('tokenAuthUsers', opts.store)
    return
  }
  const db = openDatabase(app, opts)
  await migrateToLatest(db, usersMigrations, 'auth_migrations')
  app.decorate('tokenAuthUsers', createKyselyUserStore(db))
}, { name: 'token-auth/user-store', fastify: '5.x' })
