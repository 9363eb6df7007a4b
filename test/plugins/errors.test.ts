import Fastify from 'fastify'
import t from 'tap'
import service from '../../src/service/app.js'
import { bearer, buildApp, createUser, forEachEngine, johndoe, login, testSecret } from '../helper.js'

t.test('unknown paths are 404 {"detail": "Not Found"}', async (t) => {
  const app = await buildApp(t)
  for (const [method, url] of [['GET', '/nope'], ['POST', '/users/me/nothing'], ['PUT', '/token']] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 404, `${method} ${url}`)
    t.same(res.json(), { detail: 'Not Found' })
  }
})

t.test("Fastify's own client errors keep their status with a detail", async (t) => {
  const app = await buildApp(t)
  await createUser(app, johndoe)
  const headers = bearer(await login(app, johndoe))
  const wrongType = await app.inject({ method: 'POST', url: '/users/me/items/', headers: { ...headers, 'content-type': 'application/xml' }, payload: '<title/>' })
  t.equal(wrongType.statusCode, 415)
  t.type(wrongType.json().detail, 'string')
  const tooLarge = await app.inject({ method: 'POST', url: '/users/me/items/', headers, payload: { title: 'x', description: 'y'.repeat(1_100_000) } })
  t.equal(tooLarge.statusCode, 413)
  t.type(tooLarge.json().detail, 'string')
})

t.test('an unexpected failure is a bare 500 that reveals nothing', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(service, { secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4 })
  app.get('/explode', async () => { throw new Error('connection to db-internal:5432 failed for user admin') })
  await app.ready()
  t.teardown(async () => await app.close())
  const res = await app.inject({ url: '/explode' })
  t.equal(res.statusCode, 500)
  t.same(res.json(), { detail: 'Internal Server Error' })
})

forEachEngine(t, async (t, engine) => {
  t.test('a broken database is a 500 without internals, not a hang', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const headers = bearer(await login(app, johndoe))
    await app.db.schema.dropTable('items').execute()
    const res = await app.inject({ url: '/users/me/items/', headers })
    t.equal(res.statusCode, 500)
    t.same(res.json(), { detail: 'Internal Server Error' })
    t.notMatch(res.body, /items|sqlite|table|relation/i)
  })
})
