import { test } from 'tap'
import { bearer, buildApp, createUser, johndoe, login } from '../helper.js'

// Each route takes a body no larger than what it can need: beyond it, 413 with a detail, before
// anything is parsed or stored.

test('bodies over a route\'s limit are refused with 413 and a detail', async (t) => {
  const app = await buildApp(t)
  await createUser(app, johndoe)
  const token = await login(app, johndoe)
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const tooLarge = { detail: 'Request body is too large' }

  const tokenRes = await app.inject({ method: 'POST', url: '/token', headers: form, payload: `username=johndoe&password=${'x'.repeat(5000)}` })
  t.equal(tokenRes.statusCode, 413, '/token: over 4 KB')
  t.same(tokenRes.json(), { ...tooLarge, error: 'invalid_request', error_description: 'Request body is too large' }, 'with the RFC 6749 fields')

  const register = await app.inject({ method: 'POST', url: '/users/', payload: { username: 'bob', password: 'long-enough-password', full_name: 'b'.repeat(9000) } })
  t.equal(register.statusCode, 413, '/users/: over 8 KB')
  t.same(register.json(), tooLarge)
  t.equal((await app.inject({ method: 'POST', url: '/token', headers: form, payload: 'username=bob&password=long-enough-password' })).statusCode, 401, 'and nobody was registered')

  const change = await app.inject({ method: 'POST', url: '/users/me/password', headers: bearer(token), payload: { current_password: johndoe.password, new_password: 'n'.repeat(5000) } })
  t.equal(change.statusCode, 413, '/users/me/password: over 4 KB')
  t.equal((await app.inject({ method: 'POST', url: '/token', headers: form, payload: `username=johndoe&password=${johndoe.password}` })).statusCode, 200, 'the password is unchanged')

  const item = await app.inject({ method: 'POST', url: '/users/me/items/', headers: bearer(token), payload: { title: 't', description: '\u2603'.repeat(10_000) } })
  t.equal(item.statusCode, 201, 'an item with the longest description, in three-byte characters, fits')
  const huge = await app.inject({ method: 'POST', url: '/users/me/items/', headers: bearer(token), payload: { title: 't', description: 'd'.repeat(70_000) } })
  t.equal(huge.statusCode, 413, 'items: over 64 KB')
  t.same(huge.json(), tooLarge)
})
