import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { loadFailure } from '../optional-packages.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's Redis client (REDIS_URL), when it has one. */
    redis?: Redis
  }
}

export interface RedisPluginOptions {
  url: string
}

// No command stays pending for long; the throttle plugin bounds a request's wait itself (shorter).
const COMMAND_TIMEOUT_MS = 500
const READY_WAIT_MS = 2000

/** The Redis client of the standalone service: failing fast while Redis is away, reconnecting on its own, closed with the app. */
export default fp<RedisPluginOptions>(async function redis (app, opts) {
  // Loaded only when there is a REDIS_URL: an optional peer dependency, not installed without one.
  const { Redis } = await import('ioredis').catch((error: unknown) => { throw loadFailure(error, 'ioredis', 'REDIS_URL', 6) })
  const client = new Redis(opts.url, {
    commandTimeout: COMMAND_TIMEOUT_MS,
    // Commands fail at once while disconnected, rather than queue until Redis is back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: true
  })
  let down = false
  client.on('error', (err: Error) => {
    if (down) return
    down = true
    app.log.warn({ err }, 'Redis unreachable: throttling is degraded until it is back')
  })
  client.on('ready', () => {
    if (down) app.log.info('Redis reachable again')
    down = false
  })
  const ready = client.connect().then(() => true, () => false)
  const waited = await Promise.race([ready, new Promise<false>((resolve) => setTimeout(resolve, READY_WAIT_MS, false).unref())])
  if (!waited) app.log.warn('Redis did not answer at start-up: the service starts, throttling degraded until Redis answers')
  app.decorate('redis', client)
  app.addHook('onClose', async () => { client.disconnect() })
}, { name: 'token-auth-service/redis', fastify: '5.x' })
