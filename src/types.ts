import type { FastifyReply, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerBase, RouteGenericInterface } from 'fastify'
import type { OpenMetricsContentType, Registry } from 'prom-client'
import type { User } from './schemas/user.js'

/** A prom-client registry of the host's, in either exposition format. */
export type MetricsRegistry = Registry | Registry<OpenMetricsContentType>

/**
 * A Redis client of the host's for the throttling counters: an ioredis client (`new Redis(…)`,
 * ioredis 5 or 6) fits. Typed by what the plugin calls, so the package's types need no ioredis.
 */
export interface ThrottleRedisClient {
  eval (script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>
  defineCommand (name: string, definition: { lua: string, numberOfKeys?: number }): void
  on (event: 'ready', listener: () => void): unknown
  off (event: 'ready', listener: () => void): unknown
}

/** The account of a request a guard admitted: what `userOf(request)` gives. */
export type TokenAuthUser = User

/**
 * A guard hook: put it on a route (`onRequest`, `preValidation` or `preHandler`), or await it in
 * a hook of your own (then check `reply.sent`). It answers 401 (400 "Inactive user", 403 for a
 * scope the token lacks) itself, or admits the request, whose account `userOf(request)` then
 * gives. Written as a method, so its parameters are bivariant: a host's own `authenticate`
 * (@fastify/jwt's recipe) may redeclare it.
 */
export type Guard = { guard (request: GuardRequest, reply: GuardReply): Promise<void> }['guard']

/** The request and reply of any route on any server (HTTP/1, HTTPS, HTTP/2): what a guard reads and answers. */
export type GuardRequest = FastifyRequest<RouteGenericInterface, RawServerBase, RawRequestDefaultExpression<RawServerBase>>
export type GuardReply = FastifyReply<RouteGenericInterface, RawServerBase, RawRequestDefaultExpression<RawServerBase>, RawReplyDefaultExpression<RawServerBase>>

/**
 * Type-level settings, for a host to augment so that the types say what its options do:
 *
 * ```ts
 * declare module 'fastify-token-auth' {
 *   interface TokenAuthTypes {
 *     decorators: { authenticate: 'tokenAuthenticate', currentActiveUser: false }  // as in the `decorators` option
 *   }
 * }
 * ```
 */
export interface TokenAuthTypes {}

type Setting<K extends string, Default> = TokenAuthTypes extends { [P in K]: infer T } ? T : Default

interface DecoratorNames {
  authenticate: string | false
  currentActiveUser: string | false
}

type Names = Setting<'decorators', {}> & Partial<DecoratorNames>
type NameOf<K extends keyof DecoratorNames> = Names[K] extends string | false ? Names[K] : K

/** The host's guard decorators, under the names TokenAuthTypes gives (default `authenticate` and `currentActiveUser`). */
export type GuardDecorators = {
  [K in keyof DecoratorNames as NameOf<K> extends string ? NameOf<K> : never]: Guard
}

/** At most `max` requests per client address in each window of `windowSeconds`. */
export interface AddressLimit {
  max: number
  windowSeconds: number
}
