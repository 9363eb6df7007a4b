import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import bodyDeadline from './plugins/body-deadline.js'
import cors from './plugins/cors.js'
import database from './plugins/database.js'
import items from './plugins/items.js'
import redis from './plugins/redis.js'
import requestMetrics from './plugins/request-metrics.js'
import securityHeaders from './plugins/security-headers.js'
import healthRoutes from './routes/health.js'
import itemRoutes from './routes/items.js'
import metricsRoute from './routes/metrics.js'
import { itemSchemas } from './items/item-schemas.js'
import { SERVICE_SCOPES } from './items/items-scope.js'
import tokenAuth, { DEFAULT_METRICS_PREFIX, tokenAuthDocs, tokenAuthErrors, type AuthDatabase, type MetricsRegistry, type TagObject, type TokenAuthOptions } from '../index.js'

/** The tags of the service's own operations, after the plugin's. */
const SERVICE_TAGS: TagObject[] = [
  { name: 'items', description: 'The current user\'s items: only their owner sees them.' },
  { name: 'health', description: 'Probes for load balancers and orchestrators; they need no token.' }
]

export interface ServiceMetricsOptions {
  /** Where everything the service measures is recorded: requests per route, and the plugin's own. */
  registry: MetricsRegistry
  /** What `GET /metrics` answers (default: the registry's text); false: no /metrics here (a port of its own serves it). */
  expose?: false | (() => Promise<string>)
}

export type ServiceOptions = Omit<TokenAuthOptions, 'prefix' | 'decorators' | 'docs' | 'store' | 'database' | 'metrics'> & {
  database: string
  /** Keep the throttling counters in this Redis (REDIS_URL) rather than the database. */
  redisUrl?: string
  /** Serve /openapi.json, /docs and (when the redoc package is installed) /redoc. Default true. */
  docs?: boolean
  /** Where clients reach the service (PUBLIC_URL): the document's server, and its absolute token URL. */
  publicUrl?: string
  /**
   * How long a request body may take to arrive after its headers, in ms, before the answer is
   * 408 and the connection closes. Default the server's `requestTimeout`; 0: no bound.
   */
  bodyTimeout?: number
  /** Origins whose pages may call the API (CORS_ORIGINS), exactly as browsers send them. Default none: no CORS. */
  corsOrigins?: readonly string[]
  /** Prometheus metrics; none: nothing is measured. */
  metrics?: ServiceMetricsOptions
  /** Where the start-up hint about a database without users goes. Default: the app's log, as a warning. */
  startupHint?: (message: string) => void
}

/**
 * The standalone service, the plugin's first host: it owns the database, the OpenAPI document
 * and the items resource, and registers the auth plugin as any host would. `src/service/server.ts` runs
 * it; tests build it on an in-memory database. Not encapsulated: it is the root of its server.
 */
export default fp<ServiceOptions>(async function service (app, opts) {
  const { database: url, databaseOptions, docs: withDocs = true, redisUrl, bodyTimeout, corsOrigins = [], metrics, publicUrl, startupHint, ...auth } = opts
  if (metrics !== undefined) await app.register(requestMetrics, { registry: metrics.registry, prefix: DEFAULT_METRICS_PREFIX })
  await app.register(tokenAuthErrors, { notFound: true })
  await app.register(securityHeaders)
  await app.register(cors, { origins: corsOrigins })
  await app.register(bodyDeadline, { timeout: bodyTimeout ?? app.server.requestTimeout })
  await app.register(database, { database: url, databaseOptions })
  if (withDocs) await app.register(tokenAuthDocs, { redoc: 'if-installed', publicUrl, tags: SERVICE_TAGS, registration: opts.registration })
  if (redisUrl !== undefined) await app.register(redis, { url: redisUrl })
  const throttle = auth.throttle === false || app.redis === undefined ? auth.throttle : { ...auth.throttle, redis: app.redis }
  await app.register(tokenAuth, {
    ...auth,
    scopes: SERVICE_SCOPES,
    throttle,
    database: app.db,
    docs: withDocs,
    publicUrl,
    ...(metrics && { metrics: { registry: metrics.registry } })
  })
  for (const schema of itemSchemas) app.addSchema(schema)
  await app.register(items)
  await app.register(itemRoutes)
  await app.register(healthRoutes)
  if (metrics !== undefined && metrics.expose !== false) {
    const { registry, expose } = metrics
    await app.register(metricsRoute, { collect: expose ?? (async () => await registry.metrics()), contentType: registry.contentType })
  }

  app.addHook('onReady', async () => {
    const anyone = await (app.db as Kysely<AuthDatabase>).selectFrom('users').select('id').limit(1).executeTakeFirst()
    if (anyone === undefined) {
      const hint = 'No users yet: create one with `npm run cli -- create-user NAME --password-stdin`' +
        (opts.registration === 'closed' ? '' : ' or POST /users/')
      if (startupHint === undefined) app.log.warn(hint)
      else startupHint(hint)
    }
  })
}, { name: 'token-auth-service', fastify: '5.x' })
