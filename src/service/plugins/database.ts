import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { openDatabase, type DatabasePluginOptions } from '../../db/open-database.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<any>
  }
}

/** The standalone service's database, shared by the auth plugin, the items resource and the probes. */
export default fp<DatabasePluginOptions>(async function database (app, opts) {
  app.decorate('db', openDatabase(app, opts))
}, { name: 'token-auth-service/database', fastify: '5.x' })
