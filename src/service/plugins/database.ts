import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { createDatabase, type DatabaseOptions } from '../../index.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<any>
  }
}

export interface DatabasePluginOptions {
  /** The service's DATABASE_URL: opened here and closed with the app. */
  database: string
  /** Pool size and timeouts. */
  databaseOptions?: Pick<DatabaseOptions, 'poolSize' | 'timeoutMs'>
}

/** The standalone service's database, shared by the auth plugin, the items resource and the probes. */
export default fp<DatabasePluginOptions>(async function database (app, opts) {
  const db = createDatabase(opts.database, {
    ...opts.databaseOptions,
    onPoolError: (err) => { app.log.warn({ err }, 'an idle database connection failed; the pool will reconnect') },
    onFileLost: (message, path) => { app.log.error({ path }, message) },
    onFileBack: (path) => { app.log.warn({ path }, 'the database file is back at its path: writes resume') }
  })
  app.addHook('onClose', async () => { await db.destroy() })
  app.decorate('db', db)
}, { name: 'token-auth-service/database', fastify: '5.x' })
