import { createRequire } from 'node:module'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import { counterGuard } from '../src/throttle/counter-guard.js'
import { clientKey, loginKeys, type LoginAttemptStore, type LoginThrottlePolicy } from '../src/throttle/login-throttle.js'
import { createRedisLoginAttemptStore } from '../src/throttle/redis-throttle-store.js'
import { repeatSummary } from '../src/throttle/repeat-summary.js'
import { createDatabaseThrottleStore } from '../src/throttle/throttle-store.js'
import { errors, type TokenAuthError } from '../src/errors.js'
import type { Kysely } from 'kysely'
import type { Audit, AuditFields } from './audit.js'

// Declared with the public types: the plugin's options name it, and importing this file would
// bring its decorator augmentation into every host's types.
import type { AddressLimit, ThrottleRedisClient } from '../src/types.js'
export type { AddressLimit }

/** The routes limited per client address. */
export type LimitName = 'token' | 'registration' | 'revoke' | 'passwordChange' | 'sessions' | 'introspect' | 'recovery' | 'mfa'

export interface ThrottleOptions {
  /** Per route group; false: unlimited. */
  limits: Record<LimitName, AddressLimit | false>
  /** Failed logins per username; false: no backoff. */
  login: LoginThrottlePolicy | false
  /** Where the counters live; the plugin's database without one. */
  redis?: ThrottleRedisClient
  /** Key prefix in Redis. */
  redisPrefix: string
  /** The plugin's database: the counters without `redis`. */
  db: Kysely<any>
  audit: Audit
}

/** An attempt let through (`done` once its password is checked), or held for `waitMs`. */
export type LoginAdmission = { held: false, done: () => void } | { held: true, waitMs: number, reason: 'backoff' | 'concurrent' }

/** The login side of the throttling, for the token route. */
export interface LoginThrottle {
  /** Lets an attempt for `username` from `ip` go ahead (it counts as a failure until `succeeded`), or says how long it must wait. */
  admit (username: string, ip: string): Promise<LoginAdmission>
  succeeded (username: string, ip: string): Promise<void>
}

/** The throttling of one plugin instance, for the routes it limits. */
export interface Throttle {
  readonly options: ThrottleOptions
  readonly logins: LoginThrottle
  /** Audits a throttled request: the first per client and kind in a minute in full, the rest in one summary line. */
  readonly audited: (request: FastifyRequest, event: 'login.throttled' | 'request.throttled', fields: AuditFields) => void
  /** @fastify/rate-limit's store for one limit, shared by every route and process that counts it. */
  readonly storeFor: (name: LimitName) => NonNullable<RateLimitPluginOptions['store']> | undefined
  readonly degraded: DegradedLog
  /**
   * Runs one password check under the admission every password-checking route shares (the token
   * endpoint, a password change, an account deletion): the per-address cap on checks under way,
   * the backoff per username, and its counts. Held: a 429, audited, and no password checked. The
   * attempt counts as a failure unless `check` answers `valid`.
   */
  readonly admittedPasswordCheck: <T extends { valid: boolean }> (request: FastifyRequest, username: string, check: () => Promise<T>, fields?: AuditFields) => Promise<T>
  /**
   * Counts a hit on `key` in a fixed window of `windowMs` (from its first hit), in the counters
   * every process shares, and answers the window's hits; undefined when the counters cannot be
   * reached (logged as degraded).
   */
  readonly hits: (key: string, windowMs: number) => Promise<number | undefined>
}

/** The 429 of a limit or a backoff: `Retry-After` and a detail in seconds. */
export function tooManyRequests (waitMs: number): TokenAuthError {
  return errors.TOO_MANY_REQUESTS.create(Math.max(1, Math.ceil(waitMs / 1000)))
}

const DEGRADED_LOG_INTERVAL_MS = 60_000
const OVER_LIMIT_MEMORY = 10_000
// Password checks under way at once for one address, per process: a flood from one address
// cannot queue up bcrypt work in front of everybody else's logins.
const CONCURRENT_CHECKS_PER_ADDRESS = 2
const SWEEP_INTERVAL_MS = 10 * 60_000
const THROTTLED_SUMMARY_INTERVAL_MS = 60_000
const THROTTLED_SUMMARY_KEYS = 10_000

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
  incr (key: string, callback: (error: Error | null, result?: { current: number, ttl: number } | null) => void, timeWindow: number, max: number): void
  child (): StoreContract
}

type RedisStoreClass = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: ThrottleRedisClient, prefix: string) => StoreContract
// @fastify/rate-limit's own Redis store (its script and key layout), which the package does not re-export.
const RedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as RedisStoreClass
// The longest a request waits on Redis; after a failure it is skipped this long before a probe.
const REDIS_TIMEOUT_MS = 250
const REDIS_RETRY_MS = 2000

/** A store that reports failures to `degraded`, and is one counter for every route it is given to. */
function reportingStore (inner: Pick<StoreContract, 'incr'>, degraded: DegradedLog): NonNullable<RateLimitPluginOptions['store']> {
  // An address over its limit stays over it until its window ends: answered from memory till
  // then, a flood of refused requests costs the shared store nothing.
  const over = new Map<string, number>()
  const store: StoreContract = {
    incr (key, callback, timeWindow, max) {
      const now = Date.now()
      const until = over.get(key)
      if (until !== undefined) {
        if (until > now) return callback(null, { current: max + 1, ttl: until - now })
        over.delete(key)
      }
      inner.incr(key, (error, result) => {
        if (error !== null) degraded.failed(error)
        else degraded.ok()
        if (error === null && result != null && result.current > max && result.ttl > 0) {
          if (over.size >= OVER_LIMIT_MEMORY) over.delete(over.keys().next().value as string)
          over.set(key, now + result.ttl)
        }
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
export async function createThrottle (app: FastifyInstance, opts: ThrottleOptions): Promise<Throttle> {
  const { audit } = opts
  const where = opts.redis === undefined ? 'database' : 'Redis'
  const degraded = degradedLog(app.log, where)
  let attempts: LoginAttemptStore
  let storeFor: Throttle['storeFor']
  let count: (key: string, windowMs: number) => Promise<number>
  if (opts.redis === undefined) {
    // Its tables are migrated with the rest of the plugin's (see openStorage).
    const counters = createDatabaseThrottleStore(opts.db)
    attempts = counters
    count = async (key, windowMs) => (await counters.hit(`quota:${key}`, windowMs, Date.now())).hits
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
    // Whatever the client's own timeouts, a stalled Redis costs a request at most one bounded wait.
    const guard = counterGuard({ timeoutMs: REDIS_TIMEOUT_MS, retryMs: REDIS_RETRY_MS })
    // A fresh connection answers: no need to wait for the next probe.
    const reconnected = () => { guard.close() }
    redis.on('ready', reconnected)
    app.addHook('onClose', async () => { redis.off('ready', reconnected) })
    attempts = guard.wrap(createRedisLoginAttemptStore(redis, opts.redisPrefix))
    const quotas = new RedisStore(false, false, redis, `${opts.redisPrefix}quota:`)
    count = async (key, windowMs) => await guard.run(async () => await new Promise<number>((resolve, reject) => {
      quotas.incr(key, (error, result) => { if (error === null && result != null) resolve(result.current); else reject(error ?? new Error('no count')) }, windowMs, Number.MAX_SAFE_INTEGER)
    }))
    storeFor = (name) => {
      const store = new RedisStore(false, false, redis, `${opts.redisPrefix}${name}:`)
      return reportingStore({
        incr (key, callback, timeWindow, max) {
          guard.run(async () => await new Promise<{ current: number, ttl: number } | null | undefined>((resolve, reject) => {
            store.incr(key, (error, result) => { if (error === null) resolve(result); else reject(error) }, timeWindow, max)
          })).then((result) => { callback(null, result) }, (error: Error) => { callback(error) })
        }
      }, degraded)
    }
  }

  const policy = opts.login
  const checking = new Map<string, number>()
  const admitted = (address: string) => {
    checking.set(address, (checking.get(address) ?? 0) + 1)
    let released = false
    return {
      held: false as const,
      done () {
        if (released) return
        released = true
        const left = (checking.get(address) ?? 1) - 1
        if (left === 0) checking.delete(address)
        else checking.set(address, left)
      }
    }
  }
  const logins: LoginThrottle = {
    async admit (username, ip) {
      if (policy === false) return { held: false, done () {} }
      const address = clientKey(ip)
      if ((checking.get(address) ?? 0) >= CONCURRENT_CHECKS_PER_ADDRESS) return { held: true, waitMs: 1000, reason: 'concurrent' }
      const admission = admitted(address)
      try {
        const wait = await attempts.admit(loginKeys(username, ip), policy, Date.now())
        degraded.ok()
        if (wait === 0) return admission
        admission.done()
        return { held: true, waitMs: wait, reason: 'backoff' }
      } catch (error) {
        degraded.failed(error)
        return admission
      }
    },
    async succeeded (username, ip) {
      if (policy === false) return
      try {
        await attempts.succeeded(loginKeys(username, ip), policy, Date.now())
      } catch (error) {
        degraded.failed(error)
      }
    }
  }
  // A flood of refused requests writes a line per client and kind a minute, not one per request.
  const throttled = repeatSummary<{ log: FastifyBaseLogger, event: string, client: string, fields: AuditFields }>({
    intervalMs: THROTTLED_SUMMARY_INTERVAL_MS,
    maxKeys: THROTTLED_SUMMARY_KEYS,
    summarize ({ log, event, client, fields }, repeats, overMs) {
      log.info({ audit: event, client, ...fields, repeats, overMs }, `audit: ${event}, ${repeats} more from this client`)
    }
  })
  app.addHook('onClose', async () => { throttled.flush() })
  const audited: Throttle['audited'] = (request, event, fields) => {
    const key = [event, clientKey(request.ip), fields.limit, fields.reason, fields.check, fields.username].map((part) => String(part ?? '')).join('\0')
    if (throttled.first(key, { log: app.log, event, client: request.ip, fields })) audit(request, event, fields)
    else audit.count(event, fields)
  }
  async function admittedPasswordCheck<T extends { valid: boolean }> (request: FastifyRequest, username: string,
    check: () => Promise<T>, fields: AuditFields = {}): Promise<T> {
    const admission = await logins.admit(username, request.ip)
    if (admission.held) {
      audited(request, 'login.throttled', { ...fields, reason: admission.reason, retryAfterMs: admission.waitMs })
      throw tooManyRequests(admission.waitMs)
    }
    let result: T
    try {
      result = await check()
    } finally {
      admission.done()
    }
    if (result.valid) await logins.succeeded(username, request.ip)
    return result
  }
  const hits: Throttle['hits'] = async (key, windowMs) => {
    try {
      const counted = await count(key, windowMs)
      degraded.ok()
      return counted
    } catch (error) {
      degraded.failed(error)
      return undefined
    }
  }
  return { options: opts, logins, audited, storeFor, degraded, admittedPasswordCheck, hits }
}

export interface AddressLimitOptions {
  throttle: Throttle
  limit: LimitName
}

/**
 * Limits every route later added to the context it is registered in to the named limit, per
 * client address (`request.ip`: behind a proxy, set Fastify's trustProxy). Over it: 429.
 */
export const addressLimit = fp<AddressLimitOptions>(async function addressLimit (app, opts) {
  const { throttle } = opts
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
      throttle.audited(request, 'request.throttled', { limit: opts.limit })
    },
    errorResponseBuilder: (_request, context) => tooManyRequests(context.ttl)
  })
}, { name: 'token-auth/address-limit', fastify: '5.x' })
