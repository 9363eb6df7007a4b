import fp from 'fastify-plugin'
import { Kysely } from 'kysely'
import { createDatabase, type DatabaseOptions } from '../src/db/database.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { usersMigrations } from '../src/db/migrations/users.js'
import type { AuthDatabase } from '../src/db/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<AuthDatabase>
  }
}

export interface DatabasePluginOptions {
  /** A `DATABASE_URL` to open (and close on shutdown), or a Kysely instance the host owns. */
  database: string | Kysely<any>
  /** Pool size and timeouts, when `database` is a URL. */
  databaseOptions?: Omit<DatabaseOptions, 'onPoolError'>
}

export default fp<DatabasePluginOptions>(async function database (app, opts) {
  const owned = typeof opts.database === 'string'
  const db: Kysely<AuthDatabase> = typeof opts.database === 'string'
    ? createDatabase(opts.database, {
      ...opts.databaseOptions,
      onPoolError: (err) => { app.log.warn({ err }, 'an idle database connection failed; the pool will reconnect') }
    })
    : opts.database
  if (owned) app.addHook('onClose', async () => { await db.destroy() })
  await migrateToLatest(db, usersMigrations, 'auth_migrations')
  app.decorate('db', db)
}, { name: 'token-auth/database', fastify: '5.x' })
