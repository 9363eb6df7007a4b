import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import { test, type Test } from 'tap'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service, { type ServiceOptions } from '../../src/service/app.js'
import { createUser, johndoe, testSecret } from '../helper.js'
import { redisServerBin, startRedis, type RedisServer } from '../support/redis.js'

// A stalled Redis (SIGSTOPped: connected, never answering) must cost logins no more than an
// unreachable one: after one bounded wait the counters are skipped, and probed now and then.

const form = { 'content-type': 'application/x-www-form-urlencoded' }
const A = '203.0.113.10'
const B = '198.51.100.20'
const C = '192.0.2.30'

const login = async (app: FastifyInstance, ip: string): Promise<LightMyRequestResponse> =>
  await app.inject({ method: 'POST', url: '/token', headers: form, remoteAddress: ip, payload: new URLSearchParams({ username: 'johndoe', password: johndoe.password }).toString() })

const sleep = async (ms: number) => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** The service with its log captured (info and above), on an in-memory SQLite database. */
async function loggedApp (t: Test, opts: Partial<ServiceOptions>): Promise<{ app: FastifyInstance, logged: Array<Record<string, unknown>> }> {
  const logged: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { logged.push(JSON.parse(chunk.toString())); done() } })
  const app = Fastify({ ...serviceFastifyOptions('silent'), logger: { level: 'info', stream } })
  await app.register(service, { secret: testSecret(), bcryptCost: 4, database: 'sqlite::memory:', ...opts })
  t.teardown(async () => await app.close())
  await app.ready()
  return { app, logged }
}

const lines = (logged: Array<Record<string, unknown>>, start: string) => logged.filter((line) => String(line.msg).startsWith(start))

/** Scripts Redis has run so far (the throttle's counters are all scripts), through a client of the test's own. */
async function scriptsRun (observer: Redis): Promise<number> {
  const stats = await observer.info('commandstats')
  let calls = 0
  for (const match of stats.matchAll(/^cmdstat_(?:eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro):calls=(\d+)/gm)) calls += Number(match[1])
  return calls
}

async function observe (t: Test, redis: RedisServer): Promise<Redis> {
  const observer = new Redis(redis.url, { lazyConnect: true })
  await observer.connect()
  t.teardown(() => { observer.disconnect() })
  return observer
}

/** Logs in, stalls Redis for `count` logins, resumes it: the statuses, and how many scripts reached Redis meanwhile. */
async function stalledLogins (app: FastifyInstance, redis: RedisServer, client: Redis, observer: Redis, count: number) {
  const before = await scriptsRun(observer)
  redis.pause()
  const statuses: number[] = []
  try {
    for (let i = 0; i < count; i++) statuses.push((await login(app, A)).statusCode)
  } finally {
    redis.resume()
  }
  // Answered in order on the app's connection: everything sent during the stall has run by then.
  await client.ping()
  return { statuses, reached: await scriptsRun(observer) - before }
}

test('Redis stalled: logins are answered unthrottled after one bounded wait, probed, and the limits come back', { skip: redisServerBin === undefined }, async (t) => {
  const redis = await startRedis(t)
  const { app, logged } = await loggedApp(t, { redisUrl: redis.url, throttle: { token: { max: 3, windowSeconds: 60 } } })
  const observer = await observe(t, redis)
  await createUser(app, johndoe)
  t.equal((await login(app, A)).statusCode, 200, 'a login with Redis answering')

  const { statuses, reached } = await stalledLogins(app, redis, app.redis as Redis, observer, 10)
  t.same(statuses, Array(10).fill(200), 'ten logins with Redis stalled: all answered, unthrottled')
  t.equal(lines(logged, 'throttling degraded').length, 1, 'one line says the throttling is degraded')
  t.equal(lines(logged, 'throttling degraded')[0]?.counters, 'Redis', 'naming Redis')
  t.ok(reached <= 3, `the counters skipped while Redis is stalled, but for a probe or two (${reached} scripts reached Redis for 10 logins)`)
  t.notOk(logged.some((line) => Number(line.level) >= 50), 'nothing at error level')

  // Skipped for a while yet; a probe, let through once that is over, finds Redis back.
  const meanwhile = []
  for (let i = 0; i < 40 && lines(logged, 'throttling restored').length === 0; i++) {
    meanwhile.push((await login(app, C)).statusCode)
    await sleep(250)
  }
  t.ok(meanwhile.every((status) => status === 200), 'logins answered until then')
  t.equal(lines(logged, 'throttling restored').length, 1, 'one line says the throttling is restored')
  const after = []
  for (let i = 0; i < 4; i++) after.push((await login(app, B)).statusCode)
  t.same(after, [200, 200, 200, 429], 'the limit counts again')
})

test('a host\'s ioredis client without a command timeout: a stalled Redis does not hold logins', { skip: redisServerBin === undefined }, async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url, { lazyConnect: true })
  await client.connect()
  t.teardown(() => { client.disconnect() })
  const { app, logged } = await loggedApp(t, { throttle: { token: { max: 3, windowSeconds: 60 }, redis: client } })
  const observer = await observe(t, redis)
  await createUser(app, johndoe)
  t.equal((await login(app, A)).statusCode, 200, 'a login with Redis answering')

  const { statuses, reached } = await stalledLogins(app, redis, client, observer, 5)
  t.same(statuses, Array(5).fill(200), 'five logins with Redis stalled: all answered, unthrottled')
  t.equal(lines(logged, 'throttling degraded').length, 1, 'one line says the throttling is degraded')
  t.ok(reached <= 3, `the counters skipped while Redis is stalled (${reached} scripts reached Redis for 5 logins)`)
})
