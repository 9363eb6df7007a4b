import { createRequire } from 'node:module'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import { migrateToLatest } from '../src/core/db/migrate.js'
import { throttleMigrations } from '../src/core/db/migrations/throttle.js'
import { loginKeys, type LoginAttemptStore, type LoginThrottlePolicy } from '../src/core/login-throttle.js'
import { createRedisLoginAttemptStore } from '../src/core/redis-throttle-store.js'
import { createDatabaseThrottleStore } from '../src/core/throttle-store.js'
import { audit } from './audit.js'
import { HttpError } from './errors.js'

/** At most `max` requests per client address in each window of `windowSeconds`. */
export interface AddressLimit {
  max: number
  windowSeconds: number
}

/** The routes limited per client address. */
export type LimitName = 'token' | 'registration' | 'revoke' | 'passwordChange'

export interface ThrottlePluginOptions {
  /** Per route group; false: unlimited. */
  limits: Record<LimitName, AddressLimit | false>
  /** Failed logins per username; false: no backoff. */
  login: LoginThrottlePolicy | false
  /** Where the counters live; the plugin's database without one. */
  redis?: Redis
  /** Key prefix in Redis. */
  redisPrefix: string
}

/** The login side of the throttling, for the token route. */
export interface LoginThrottle {
  /** 0 when an attempt for `username` from `ip` may go ahead (it then counts as a failure until `succeeded`), else the wait in ms. */
  admit (username: string, ip: string): Promise<number>
  succeeded (username: string, ip: string): Promise<void>
}

interface Throttle {
  readonly options: ThrottlePluginOptions
  readonly logins: LoginThrottle
  /** @fastify/rate-limit's store for one limit, shared by every route and process that counts it. */
  readonly storeFor: (name: LimitName) => NonNullable<RateLimitPluginOptions['store']> | undefined
  readonly degraded: DegradedLog
}

declare module 'fastify' {
  interface FastifyInstance {
    tokenAuthThrottle: Throttle
  }
}

/** The 429 of a limit or a backoff: `Retry-After` and a detail in seconds. */
export function tooManyRequests (waitMs: number): HttpError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000))
  return new HttpError(429, `Too many requests: retry in ${seconds} s`, { 'retry-after': String(seconds) })
}

const DEGRADED_LOG_INTERVAL_MS = 60_000
const SWEEP_INTERVAL_MS = 10 * 60_000

interface DegradedLog {
  failed (error: unknown): void
  ok (): void
}

/** Says (at most once a minute) that the counters cannot be reached and requests go unthrottled, and when they can again. */
function degradedLog (log: FastifyBaseLogger, where: string): DegradedLog {
  let since = 0
  let lastLog = 0
  return {
    failed (error) {
      const now = Date.now()
      if (since === 0) since = now
      if (now - lastLog < DEGRADED_LOG_INTERVAL_MS) return
      lastLog = now
      log.warn({ err: error, counters: where }, `throttling degraded: the ${where} holding the counters fails; requests are answered unthrottled`)
    },
    ok () {
      if (since === 0) return
      log.info({ counters: where, degradedMs: Date.now() - since }, `throttling restored: the ${where} answers again`)
      since = 0
      lastLog = 0
    }
  }
}

interface StoreContract {
  incr (key: string, callback: (error: Error | null, result?: { current: number, ttl: number }) => void, timeWindow: number, max: number): void
  child (): StoreContract
}

type RedisStoreClass = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, prefix: string) => StoreContract
// @fastify/rate-limit's own Redis store (its script and key layout), which the package does not re-export.
const RedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as RedisStoreClass

/** A store that reports failures to `degraded`, and is one counter for every route it is given to. */
function reportingStore (inner: Pick<StoreContract, 'incr'>, degraded: DegradedLog): NonNullable<RateLimitPluginOptions['store']> {
  const store: StoreContract = {
    incr (key, callback, timeWindow, max) {
      inner.incr(key, (error, result) => {
        if (error !== null) degraded.failed(error)
        else degraded.ok()
        callback(error, result)
      }, timeWindow, max)
    },
    child: () => store
  }
  // @fastify/rate-limit constructs the store it is given; a constructor may return any object.
  return function SharedStore () { return store } as unknown as NonNullable<RateLimitPluginOptions['store']>
}

/**
 * The throttling counters and the login backoff, for the token and account routes; the limits
 * themselves are registered with `addressLimit` in the context of each limited route.
 */
export default fp<ThrottlePluginOptions>(async function throttle (app, opts) {
  const where = opts.redis === undefined ? 'database' : 'Redis'
  const degraded = degradedLog(app.log, where)
  let attempts: LoginAttemptStore
  let storeFor: Throttle['storeFor']
  if (opts.redis === undefined) {
    const db = app.tokenAuthDatabase
    await migrateToLatest(db, throttleMigrations, 'auth_throttle_migrations')
    const counters = createDatabaseThrottleStore(db)
    attempts = counters
    storeFor = (name) => reportingStore({
      incr (key, callback, timeWindow) {
        const now = Date.now()
        counters.hit(`${name}:${key}`, timeWindow, now).then(
          ({ hits, resetsAt }) => { callback(null, { current: hits, ttl: resetsAt - now }) },
          (error: Error) => { callback(error) })
      }
    }, degraded)
    const sweep = setInterval(() => {
      counters.sweep(Date.now()).catch((error: unknown) => { degraded.failed(error) })
    }, SWEEP_INTERVAL_MS).unref()
    app.addHook('onClose', async () => { clearInterval(sweep) })
  } else {
    const redis = opts.redis
    attempts = createRedisLoginAttemptStore(redis, opts.redisPrefix)
    storeFor = (name) => reportingStore(new RedisStore(false, false, redis, `${opts.redisPrefix}${name}:`), degraded)
  }

  const policy = opts.login
  const logins: LoginThrottle = {
    async admit (username, ip) {
      if (policy === false) return 0
      try {
        const wait = await attempts.admit(loginKeys(username, ip), policy, Date.now())
        degraded.ok()
        return wait
      } catch (error) {
        degraded.failed(error)
        return 0
      }
    },
    async succeeded (username, ip) {
      if (policy === false) return
      try {
        await attempts.succeeded(loginKeys(username, ip))
      } catch (error) {
        degraded.failed(error)
      }
    }
  }
  app.decorate('tokenAuthThrottle', { options: opts, logins, storeFor, degraded })
}, { name: 'token-auth/throttle', fastify: '5.x', dependencies: ['token-auth/storage'] })

export interface AddressLimitOptions {
  limit: LimitName
}

/**
 * Limits every route later added to the context it is registered in to the named limit, per
 * client address (`request.ip`: behind a proxy, set Fastify's trustProxy). Over it: 429.
 */
export const addressLimit = fp<AddressLimitOptions>(async function addressLimit (app, opts) {
  const throttle = app.tokenAuthThrottle
  const limit = throttle.options.limits[opts.limit]
  if (limit === false) return
  await app.register(rateLimit, {
    global: true,
    max: limit.max,
    timeWindow: limit.windowSeconds * 1000,
    hook: 'onRequest',
    // The counters unreachable: the request goes on, and the log says so.
    skipOnError: true,
    store: throttle.storeFor(opts.limit),
    onExceeded: (request: FastifyRequest) => {
      audit(request, 'request.throttled', { limit: opts.limit })
    },
    errorResponseBuilder: (_request, context) => tooManyRequests(context.ttl)
  })
}, { name: 'token-auth/address-limit', fastify: '5.x', dependencies: ['token-auth/throttle'] })
