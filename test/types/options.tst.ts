import Fastify, { type FastifyPluginCallback } from 'fastify'
import type { Redis } from 'ioredis'
import type { Kysely } from 'kysely'
import type { Static } from '@sinclair/typebox'
import tokenAuth, { tokenAuth as namedTokenAuth, TokenAuthOptionsSchema, type ThrottleRedisClient, type TokenAuthOptions, type UserStore } from 'fastify-token-auth'
import { describe, expect, test } from 'tstyche'

const app = Fastify()
const secret = 'a-secret-of-at-least-thirty-two-bytes'
declare const store: UserStore
declare const db: Kysely<{ users: { username: string } }>
declare const redis: Redis

test('the default export is a Fastify plugin taking TokenAuthOptions', () => {
  expect(tokenAuth).type.toBeAssignableTo<FastifyPluginCallback<TokenAuthOptions>>()
  expect(namedTokenAuth).type.toBe(tokenAuth)
})

test('the exported options schema types every TokenAuthOptions', () => {
  expect<TokenAuthOptions>().type.toBeAssignableTo<Static<typeof TokenAuthOptionsSchema>>()
  expect<Static<typeof TokenAuthOptionsSchema>['throttle']>().type.toBe<false | {
    token?: false | { max: number, windowSeconds: number }
    registration?: false | { max: number, windowSeconds: number }
    revoke?: false | { max: number, windowSeconds: number }
    passwordChange?: false | { max: number, windowSeconds: number }
    sessions?: false | { max: number, windowSeconds: number }
    introspect?: false | { max: number, windowSeconds: number }
    recovery?: false | { max: number, windowSeconds: number }
    mfa?: false | { max: number, windowSeconds: number }
    otpFailuresPerHour?: number | false
    loginBackoffAfter?: number | false
    loginBackoffMaxSeconds?: number
    loginFailuresPerHour?: number
    redis?: ThrottleRedisClient
  } | undefined>()
})

test('an ioredis client is a ThrottleRedisClient: the option needs no ioredis type', () => {
  expect<Redis>().type.toBeAssignableTo<ThrottleRedisClient>()
  expect<{ eval: Redis['eval'] }>().type.not.toBeAssignableTo<ThrottleRedisClient>()
})

describe('app.register accepts', () => {
  test('a database URL', () => {
    expect(app.register(tokenAuth, { secret, database: 'sqlite::memory:' })).type.not.toRaiseError()
    expect(app.register(tokenAuth, { secret, database: 'postgres://localhost/auth', databaseOptions: { poolSize: 5, timeoutMs: 1000 } })).type.not.toRaiseError()
  })

  test('a Kysely instance the host owns', () => {
    expect(app.register(tokenAuth, { secret, database: db })).type.not.toRaiseError()
  })

  test("a host's own store, with a database for the sessions", () => {
    expect(app.register(tokenAuth, { secret, database: 'sqlite::memory:', store })).type.not.toRaiseError()
  })

  test('every other option', () => {
    expect(app.register(tokenAuth, {
      secret,
      database: 'sqlite::memory:',
      prefix: '/auth',
      accessTokenExpireMinutes: 15,
      refreshTokenExpireDays: 7,
      sessionMaxDays: 30,
      refreshTokenReuseSeconds: 5,
      bcryptCost: 4,
      registration: 'closed',
      issuer: 'me',
      audience: 'you',
      docs: { title: 'Auth', version: '1.0.0', description: 'Accounts', redoc: true, securityScheme: 'StaffPassword', operationIdPrefix: 'staff' },
      publicUrl: 'https://api.example.com',
      decorators: { authenticate: 'tokenAuthenticate', currentActiveUser: false },
      throttle: { token: { max: 30, windowSeconds: 60 }, registration: false, loginBackoffAfter: 10, loginBackoffMaxSeconds: 600, loginFailuresPerHour: 50, redis }
    })).type.not.toRaiseError()
    expect(app.register(tokenAuth, { secret, database: db, throttle: false })).type.not.toRaiseError()
    expect(app.register(tokenAuth, { secret, database: db, store, docs: false })).type.not.toRaiseError()
  })

  test('the options through a TokenAuthOptions variable', () => {
    const opts: TokenAuthOptions = { secret, database: db, store }
    expect(app.register(tokenAuth, opts)).type.not.toRaiseError()
  })
})

describe('app.register refuses', () => {
  test('options without a secret', () => {
    expect(app.register(tokenAuth, { database: 'sqlite::memory:' })).type.toRaiseError(2769)
    expect({ database: 'sqlite::memory:' } satisfies TokenAuthOptions).type.toRaiseError("Property 'secret' is missing")
  })

  test('a store without a database for the sessions', () => {
    expect(app.register(tokenAuth, { secret, store })).type.toRaiseError(2769)
    expect({ secret, store } satisfies TokenAuthOptions).type.toRaiseError(1360)
  })

  test('no database', () => {
    expect(app.register(tokenAuth, { secret })).type.toRaiseError(2769)
    expect({ secret } satisfies TokenAuthOptions).type.toRaiseError(1360)
  })

  test('databaseOptions with a store', () => {
    expect({ secret, store, databaseOptions: { poolSize: 2 } } satisfies TokenAuthOptions).type.toRaiseError(1360)
  })

  test('an unknown registration mode', () => {
    expect(app.register(tokenAuth, { secret, store, registration: 'maybe' })).type.toRaiseError(2769)
    expect({ secret, store, registration: 'maybe' } satisfies TokenAuthOptions).type.toRaiseError('Type \'"maybe"\' is not assignable to type \'"open" | "closed"')
  })

  test('a decorator name that is not a string or false', () => {
    expect(app.register(tokenAuth, { secret, store, decorators: { authenticate: 1 } })).type.toRaiseError(2769)
    expect({ secret, store, decorators: { authenticate: 1 } } satisfies TokenAuthOptions).type.toRaiseError("Type 'number' is not assignable to type 'string | false")
    expect({ secret, store, decorators: { authenticate: true } } satisfies TokenAuthOptions).type.toRaiseError()
  })

  test('a limit without its window, or a Redis URL where a client belongs', () => {
    expect({ secret, database: db, throttle: { token: { max: 5 } } } satisfies TokenAuthOptions).type.toRaiseError("Property 'windowSeconds' is missing")
    expect({ secret, database: db, throttle: { redis: 'redis://localhost' } } satisfies TokenAuthOptions).type.toRaiseError(2322)
  })

  test('a secret or docs of the wrong type', () => {
    expect({ secret: Buffer.from(secret), store } satisfies TokenAuthOptions).type.toRaiseError(2322)
    expect({ secret, store, docs: 'yes' } satisfies TokenAuthOptions).type.toRaiseError(2322)
    expect({ secret, database: db, publicUrl: new URL('https://api.example.com') } satisfies TokenAuthOptions).type.toRaiseError(2322)
  })
})
