import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import auth, { type AuthPluginOptions } from '../plugins/auth.js'
import database, { type DatabasePluginOptions } from '../plugins/database.js'
import docs, { type DocsPluginOptions } from '../plugins/docs.js'
import errors from '../plugins/errors.js'
import passwords from '../plugins/passwords.js'
import users from '../plugins/users.js'
import tokenRoutes from '../routes/token.js'
import userRoutes from '../routes/users.js'
import { isLongEnoughSecret, MIN_SECRET_BYTES } from './config.js'
import { addSchemas, authSchemas } from './schemas/index.js'

export interface AuthApiOptions {
  /** HMAC key for the HS256 access tokens, at least 32 bytes. Required. */
  secret: string
  /** A `DATABASE_URL` (`sqlite:PATH`, `sqlite::memory:`), or a Kysely instance the host owns and closes. */
  database: string | Kysely<any>
  /** PostgreSQL pool size, and the longest wait for the database before answering 503. */
  databaseOptions?: DatabasePluginOptions['databaseOptions']
  /** Lifetime of an access token. Default 30. */
  accessTokenExpireMinutes?: number
  /** bcrypt cost factor, 4 to 15. Default 12. */
  bcryptCost?: number
  /** Whether `POST /users/` creates accounts. Default 'open'. */
  registration?: 'open' | 'closed'
  /** Serve /openapi.json, /docs and /redoc (under the prefix). Default true. */
  docs?: boolean | Omit<DocsPluginOptions, 'prefix'>
  /** `iss` and `aud` of the access tokens, checked on every request. Default 'fastify-token-auth'. */
  issuer?: string
  audience?: string
  /** Rename (or with false, omit) the top-level `authenticate` / `currentActiveUser` decorators. */
  decorators?: AuthPluginOptions['decorators']
  /** Where the token and account routes live, e.g. '/auth'. Default ''. */
  prefix?: string
}

function check (condition: boolean, message: string): void {
  if (!condition) throw new Error(`fastify-token-auth: ${message}`)
}

/**
 * The embeddable plugin: token endpoint, account routes and the decorators that protect a
 * host's own routes. Not encapsulated, so `authenticate`, `currentActiveUser` and
 * `request.user` reach the host; the routes themselves live in a child context under `prefix`.
 */
export default fp<AuthApiOptions>(async function authApi (app, opts) {
  const expireMinutes = opts.accessTokenExpireMinutes ?? 30
  const cost = opts.bcryptCost ?? 12
  const registration = opts.registration ?? 'open'
  const prefix = (opts.prefix ?? '').replace(/\/+$/, '')
  // Checked before anything is opened, so a bad option leaves no database file behind.
  check(isLongEnoughSecret(opts.secret),
    `the secret option must be a string of at least ${MIN_SECRET_BYTES} bytes`)
  check(opts.database !== undefined, 'the database option is required')
  check(Number.isInteger(expireMinutes) && expireMinutes >= 1, 'accessTokenExpireMinutes must be a whole number of at least 1')
  check(Number.isInteger(cost) && cost >= 4 && cost <= 15, 'bcryptCost must be a whole number from 4 to 15')
  check(registration === 'open' || registration === 'closed', "registration must be 'open' or 'closed'")
  check(prefix === '' || prefix.startsWith('/'), "prefix must start with '/'")
  const { poolSize, timeoutMs } = opts.databaseOptions ?? {}
  // 0 would mean "wait for ever" to the PostgreSQL driver: a stuck database must give 503s, not hangs.
  check(timeoutMs === undefined || (Number.isInteger(timeoutMs) && timeoutMs >= 100), 'databaseOptions.timeoutMs must be a whole number of at least 100')
  check(poolSize === undefined || (Number.isInteger(poolSize) && poolSize >= 1), 'databaseOptions.poolSize must be a whole number of at least 1')

  addSchemas(app, authSchemas)
  await app.register(database, { database: opts.database, databaseOptions: opts.databaseOptions })
  await app.register(passwords, { cost })
  await app.register(users)
  await app.register(auth, { secret: opts.secret, expireMinutes, issuer: opts.issuer, audience: opts.audience, decorators: opts.decorators })
  if (opts.docs !== false) {
    await app.register(docs, { ...(typeof opts.docs === 'object' ? opts.docs : {}), prefix })
  }

  await app.register(async function authRoutes (child) {
    await child.register(errors)
    await child.register(tokenRoutes)
    await child.register(userRoutes, { registration })
  }, { prefix })
}, { name: 'fastify-token-auth', fastify: '5.x' })
