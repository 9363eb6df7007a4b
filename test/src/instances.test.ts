import t from 'tap'
import { bearer, buildApp, forEachEngine, freshDatabaseUrl, login, otherInstancesCatchUp, requestToken, testSecret } from '../helper.js'

// Several instances of the service on one database (workers, or hosts behind a load
// balancer): the database decides, and no instance caches what another may change.
forEachEngine(t, async (t, engine) => {
  const database = await freshDatabaseUrl(t, engine, { shared: true })
  const secret = testSecret()
  const a = await buildApp(t, { database, secret })
  const b = await buildApp(t, { database, secret })
  const register = async (app: typeof a, username: string, password: string) =>
    await app.inject({ method: 'POST', url: '/users/', payload: { username, password } })

  t.test('duplicate registrations racing across instances: exactly one wins', async (t) => {
    const attempts = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      register(i % 2 === 0 ? a : b, i % 3 === 0 ? 'racer' : 'Racer', `password-${i}`)))
    const codes = attempts.map((res) => res.statusCode).sort()
    t.same(codes, [201, ...Array(9).fill(409)])
  })

  t.test('a user registered on one instance logs in on the other, whose token the first accepts', async (t) => {
    t.equal((await register(a, 'shared', 'shared-password')).statusCode, 201)
    const token = await login(b, { username: 'shared', password: 'shared-password' })
    const me = await a.inject({ url: '/users/me/', headers: bearer(token) })
    t.equal(me.statusCode, 200)
    t.equal(me.json().username, 'shared')
  })

  t.test('disabled on A is refused on B at its next request after the staleness bound', async (t) => {
    t.equal((await register(a, 'doomed', 'doomed-password')).statusCode, 201)
    const token = await login(b, { username: 'doomed', password: 'doomed-password' })
    t.equal((await b.inject({ url: '/users/me/', headers: bearer(token) })).statusCode, 200)
    await a.tokenAuth.users.setDisabled('doomed', true)
    await otherInstancesCatchUp()
    const res = await b.inject({ url: '/users/me/', headers: bearer(token) })
    t.equal(res.statusCode, 401, 'its session ended with the disabling')
    t.same(res.json(), { detail: 'Could not validate credentials' })
    const whileDisabled = await login(a, { username: 'doomed', password: 'doomed-password' })
    await otherInstancesCatchUp()
    t.same((await b.inject({ url: '/users/me/', headers: bearer(whileDisabled) })).json(), { detail: 'Inactive user' }, 'a login while disabled is refused on B')
  })

  t.test('a password changed on A: B refuses the old one, and the other sessions, and accepts the new one', async (t) => {
    t.equal((await register(a, 'mover', 'old-password')).statusCode, 201)
    const old = await login(b, { username: 'mover', password: 'old-password' })
    const current = await login(a, { username: 'mover', password: 'old-password' })
    const changed = await a.inject({
      method: 'POST', url: '/users/me/password', headers: bearer(current), payload: { current_password: 'old-password', new_password: 'new-password' }
    })
    t.equal(changed.statusCode, 204, 'changed on A')
    await otherInstancesCatchUp()
    t.equal((await requestToken(b, { username: 'mover', password: 'old-password' })).statusCode, 401)
    t.equal((await b.inject({ url: '/users/me/', headers: bearer(old) })).statusCode, 401, 'the old session ends on B too')
    t.equal((await requestToken(b, { username: 'mover', password: 'new-password' })).statusCode, 200)
  })

  t.test('items written through one instance are read through the other', async (t) => {
    t.equal((await register(b, 'collector', 'collector-password')).statusCode, 201)
    const headers = bearer(await login(a, { username: 'collector', password: 'collector-password' }))
    const created = await a.inject({ method: 'POST', url: '/users/me/items/', headers, payload: { title: 'Shared item' } })
    t.equal(created.statusCode, 201)
    const list = await b.inject({ url: '/users/me/items/', headers })
    t.same(list.json(), [created.json()])
  })
})
