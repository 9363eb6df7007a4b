import Fastify from 'fastify'
import { Registry, type OpenMetricsContentType } from 'prom-client'
import tokenAuth, { type TokenAuthMetricsOptions, type TokenAuthOptions } from 'fastify-token-auth'
import { describe, expect, test } from 'tstyche'

const app = Fastify()
const secret = 'a-secret-of-at-least-thirty-two-bytes'
const database = 'sqlite::memory:'
const registry = new Registry()

describe('the metrics option', () => {
  test("takes the host's prom-client registry, and a prefix", () => {
    expect(app.register(tokenAuth, { secret, database, metrics: { registry } })).type.not.toRaiseError()
    expect(app.register(tokenAuth, { secret, database, metrics: { registry, prefix: 'staff_auth_' } })).type.not.toRaiseError()
    expect(app.register(tokenAuth, { secret, database, metrics: { registry: new Registry<OpenMetricsContentType>() } })).type.not.toRaiseError()
  })

  test('is exported as TokenAuthMetricsOptions', () => {
    expect<TokenAuthOptions['metrics']>().type.toBe<TokenAuthMetricsOptions | undefined>()
    expect<TokenAuthMetricsOptions['registry']>().type.toBeAssignableFrom(registry)
  })

  test('refuses no registry, a prefix of the wrong type, or an unknown key', () => {
    expect({ secret, database, metrics: { prefix: 'x_' } } satisfies TokenAuthOptions).type.toRaiseError("Property 'registry' is missing")
    expect({ secret, database, metrics: { registry, prefix: 1 } } satisfies TokenAuthOptions).type.toRaiseError(2322)
    expect({ secret, database, metrics: { registry, labels: {} } } satisfies TokenAuthOptions).type.toRaiseError(2353)
    expect({ secret, database, metrics: true } satisfies TokenAuthOptions).type.toRaiseError(2322)
    expect({ secret, database, metrics: { registry: {} } } satisfies TokenAuthOptions).type.toRaiseError("Type '{}' is not assignable to type 'MetricsRegistry'")
  })
})
