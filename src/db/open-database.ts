import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import { createDatabase, type DatabaseOptions } from './database.js'

export interface DatabasePluginOptions {
  /** A `DATABASE_URL` to open (and close on shutdown), or a Kysely instance the caller owns. */
  database: string | Kysely<any>
  /** Pool size and timeouts, when `database` is a URL. */
  databaseOptions?: Omit<DatabaseOptions, 'onPoolError' | 'onFileLost' | 'onFileBack'>
}

/** The Kysely instance for a URL (opened here and closed with `app`) or the caller's own instance (left open). */
export function openDatabase (app: FastifyInstance, opts: DatabasePluginOptions): Kysely<any> {
  if (typeof opts.database !== 'string') return opts.database
  const db = createDatabase(opts.database, {
    ...opts.databaseOptions,
    onPoolError: (err) => { app.log.warn({ err }, 'an idle database connection failed; the pool will reconnect') },
    onFileLost: (message, path) => { app.log.error({ path }, message) },
    onFileBack: (path) => { app.log.warn({ path }, 'the database file is back at its path: writes resume') }
  })
  app.addHook('onClose', async () => { await db.destroy() })
  return db
}
