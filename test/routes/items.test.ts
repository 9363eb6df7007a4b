import t from 'tap'
import { alice, bearer, buildApp, createUser, forEachEngine, johndoe, login } from '../helper.js'

forEachEngine(t, async (t, engine) => {
  t.test('items', async (t) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    await createUser(app, { username: 'jane', password: 'janes-password' })
    const john = bearer(await login(app, johndoe))
    const jane = bearer(await login(app, { username: 'jane', password: 'janes-password' }))

    const create = async (headers: Record<string, string>, body: unknown, url = '/users/me/items/') =>
      await app.inject({ method: 'POST', url, headers, payload: body as object })

    t.test('need a token', async (t) => {
      for (const [method, url] of [['GET', '/users/me/items/'], ['POST', '/users/me/items/'], ['GET', '/users/me/items/1'], ['DELETE', '/users/me/items/1']] as const) {
        const res = await app.inject({ method, url })
        t.equal(res.statusCode, 401, `${method} ${url}`)
        t.same(res.json(), { detail: 'Not authenticated' })
        t.equal(res.headers['www-authenticate'], 'Bearer')
      }
    })

    t.test('a new user has no items', async (t) => {
      const res = await app.inject({ url: '/users/me/items/', headers: john })
      t.equal(res.statusCode, 200)
      t.same(res.json(), [])
    })

    t.test('create, read back, list and persist per user', async (t) => {
      const res = await create(john, { title: 'Foo', description: 'The first' })
      t.equal(res.statusCode, 201)
      const item = res.json()
      t.match(item, { owner: 'johndoe', title: 'Foo', description: 'The first' })
      t.type(item.item_id, 'number')
      const noDescription = await create(john, { title: 'Bar' }, '/users/me/items')
      t.equal(noDescription.statusCode, 201)
      t.equal(noDescription.json().description, null)

      const got = await app.inject({ url: `/users/me/items/${item.item_id as number}`, headers: john })
      t.equal(got.statusCode, 200)
      t.same(got.json(), item)
      const withSlash = await app.inject({ url: `/users/me/items/${item.item_id as number}/`, headers: john })
      t.equal(withSlash.statusCode, 200)

      const list = await app.inject({ url: '/users/me/items', headers: john })
      t.same(list.json().map((i: { title: string }) => i.title), ['Foo', 'Bar'])
      t.same(Object.keys(list.json()[0]).sort(), ['description', 'item_id', 'owner', 'title'])
    })

    t.test("another user's item is a 404, never a 403, and cannot be deleted", async (t) => {
      const mine = (await create(john, { title: 'Private' })).json()
      const url = `/users/me/items/${mine.item_id as number}`
      for (const method of ['GET', 'DELETE'] as const) {
        const res = await app.inject({ method, url, headers: jane })
        t.equal(res.statusCode, 404, method)
        t.same(res.json(), { detail: 'Item not found' })
      }
      t.notOk((await app.inject({ url: '/users/me/items/', headers: jane })).json().some((i: { title: string }) => i.title === 'Private'))
      t.equal((await app.inject({ url, headers: john })).statusCode, 200, 'still there for its owner')
    })

    t.test('delete answers 204, then the item is gone', async (t) => {
      const item = (await create(john, { title: 'Doomed' })).json()
      const url = `/users/me/items/${item.item_id as number}`
      const res = await app.inject({ method: 'DELETE', url, headers: john })
      t.equal(res.statusCode, 204)
      t.equal(res.body, '')
      t.equal((await app.inject({ url, headers: john })).statusCode, 404)
      t.equal((await app.inject({ method: 'DELETE', url, headers: john })).statusCode, 404)
    })

    t.test('an item that does not exist is a 404', async (t) => {
      const res = await app.inject({ url: '/users/me/items/999999', headers: john })
      t.equal(res.statusCode, 404)
      t.same(res.json(), { detail: 'Item not found' })
    })

    t.test('limit and offset page through the list', async (t) => {
      await createUser(app, { username: 'pager', password: 'pager-password' })
      const pager = bearer(await login(app, { username: 'pager', password: 'pager-password' }))
      for (let i = 1; i <= 25; i++) await create(pager, { title: `item ${i}` })
      const titles = async (query: string) =>
        (await app.inject({ url: `/users/me/items/${query}`, headers: pager })).json().map((i: { title: string }) => i.title)
      t.equal((await titles('')).length, 20, 'default limit 20')
      t.same(await titles('?limit=3'), ['item 1', 'item 2', 'item 3'])
      t.same(await titles('?limit=2&offset=23'), ['item 24', 'item 25'])
      t.same(await titles('?offset=30'), [])
      t.equal((await titles('?limit=100')).length, 25)
    })

    const invalid: Array<[string, string, string, unknown, Array<string | number>, string]> = [
      ['limit 0', 'GET', '/users/me/items/?limit=0', undefined, ['query', 'limit'], 'greater_than_equal'],
      ['limit 101', 'GET', '/users/me/items/?limit=101', undefined, ['query', 'limit'], 'less_than_equal'],
      ['limit abc', 'GET', '/users/me/items/?limit=abc', undefined, ['query', 'limit'], 'int_type'],
      ['negative offset', 'GET', '/users/me/items/?offset=-1', undefined, ['query', 'offset'], 'greater_than_equal'],
      ['an item_id that is not a number', 'GET', '/users/me/items/abc', undefined, ['path', 'item_id'], 'int_type'],
      ['no title', 'POST', '/users/me/items/', { description: 'x' }, ['body', 'title'], 'missing'],
      ['an empty title', 'POST', '/users/me/items/', { title: '' }, ['body', 'title'], 'string_too_short'],
      ['a 201-character title', 'POST', '/users/me/items/', { title: 'x'.repeat(201) }, ['body', 'title'], 'string_too_long'],
      ['a NUL in the title', 'POST', '/users/me/items/', { title: 'a\u0000b' }, ['body', 'title'], 'string_pattern_mismatch'],
      ['an item_id past the id range', 'GET', '/users/me/items/2147483648', undefined, ['path', 'item_id'], 'less_than_equal'],
      ['an offset past a million', 'GET', '/users/me/items/?offset=100000000000000000000', undefined, ['query', 'offset'], 'less_than_equal'],
      // Numbers too large for a double coerce to Infinity, which the schema's bounds pass over.
      ['limit 1e400', 'GET', '/users/me/items/?limit=1e400', undefined, ['query', 'limit'], 'finite_number'],
      ['limit -1e400', 'GET', '/users/me/items/?limit=-1e400', undefined, ['query', 'limit'], 'finite_number'],
      ['limit Infinity', 'GET', '/users/me/items/?limit=Infinity', undefined, ['query', 'limit'], 'finite_number'],
      ['offset 1e400', 'GET', '/users/me/items/?offset=1e400', undefined, ['query', 'offset'], 'finite_number'],
      ['item_id Infinity', 'GET', '/users/me/items/Infinity', undefined, ['path', 'item_id'], 'finite_number'],
      ['item_id 1e400', 'GET', '/users/me/items/1e400', undefined, ['path', 'item_id'], 'finite_number'],
      ['item_id 1e400, deleting', 'DELETE', '/users/me/items/1e400', undefined, ['path', 'item_id'], 'finite_number']
    ]
    for (const [name, method, url, payload, loc, type] of invalid) {
      t.test(`${name}: 422 in FastAPI's shape`, async (t) => {
        const res = await app.inject({ method: method as 'GET', url, headers: john, payload: payload as object })
        t.equal(res.statusCode, 422)
        const { detail } = res.json()
        t.same(detail[0].loc, loc)
        t.equal(detail[0].type, type)
        t.type(detail[0].msg, 'string')
      })
    }

    t.test('every problem of a part at once: the query, and the body', async (t) => {
      const query = await app.inject({ method: 'GET', url: '/users/me/items/?limit=abc&offset=-1', headers: john })
      t.equal(query.statusCode, 422)
      t.same(query.json().detail.map((issue: { loc: string[] }) => issue.loc).sort(), [['query', 'limit'], ['query', 'offset']])
      const body = await app.inject({ method: 'POST', url: '/users/me/items/', headers: john, payload: { title: '', description: 'a\u0000b' } })
      t.equal(body.statusCode, 422)
      t.same(body.json().detail.map((issue: { type: string }) => issue.type).sort(), ['string_pattern_mismatch', 'string_too_short'])
    })

    t.test('a title of 200 characters is fine', async (t) => {
      t.equal((await create(john, { title: 'x'.repeat(200) })).statusCode, 201)
    })

    t.test('a disabled user gets 400 Inactive user on every items route', async (t) => {
      await createUser(app, alice)
      const token = bearer(await login(app, alice))
      for (const [method, url] of [['GET', '/users/me/items/'], ['POST', '/users/me/items/'], ['GET', '/users/me/items/1'], ['DELETE', '/users/me/items/1']] as const) {
        const res = await app.inject({ method, url, headers: token, payload: method === 'POST' ? { title: 'x' } : undefined })
        t.equal(res.statusCode, 400, `${method} ${url}`)
        t.same(res.json(), { detail: 'Inactive user' })
      }
    })
  })
})
