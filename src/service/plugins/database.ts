import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { openDatabase, type DatabaseOptions } from '../../index.js'

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
  app.decorate('db', openDatabase(app, opts))
}, { name: 'token-auth-service/database', fastify: '5.x' })
