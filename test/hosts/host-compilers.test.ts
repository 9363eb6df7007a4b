import t from 'tap'
import tokenAuth, { userOf } from '../../src/index.js'
import { bearer, get, hostUser, newHost, pluginOptions, registerUser, requestToken, signUp } from './support.js'

// A host whose schemas are not JSON Schema for Ajv (a Zod type provider sets compilers like
// these), with its own response serializer and reply serializer. The plugin's routes keep
// validating and answering as documented; the host's routes keep the host's compilers.

/** A validator compiler that knows only the host's own schema shape, as a Zod compiler would. */
function hostValidatorCompiler ({ schema }: { schema: unknown }) {
  const marker = (schema as { hostSchema?: string }).hostSchema
  if (marker === undefined) throw new Error('host compiler: not a host schema')
  return (data: unknown) => typeof (data as Record<string, unknown> | null)?.[marker] === 'string'
    ? { value: data }
    : { error: new Error(`${marker} is required`) }
}

t.test('a host with its own validator, serializer and reply serializer compilers', async (t) => {
  const host = newHost(t)
  host.setValidatorCompiler(hostValidatorCompiler)
  host.setSerializerCompiler(() => (data) => JSON.stringify({ wrapped: data }))
  host.setReplySerializer((payload) => JSON.stringify({ replied: payload }))
  await host.register(tokenAuth, pluginOptions())
  host.post('/api/things', { schema: { body: { hostSchema: 'name' } } }, async () => ({ ok: true }))
  host.get('/api/private', { onRequest: host.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
  await host.ready()

  const created = await registerUser(host)
  t.equal(created.statusCode, 201, "registration validates with the plugin's schemas")
  t.same(created.json(), { username: hostUser.username, email: null, email_verified: false, full_name: null, disabled: false }, 'serialized as documented')
  const invalid = await registerUser(host, { username: 'x', password: 'short' })
  t.equal(invalid.statusCode, 422, 'an invalid registration is refused by the plugin’s own validation')
  t.ok(Array.isArray(invalid.json().detail), 'with the FastAPI-style body')

  const login = await requestToken(host)
  t.equal(login.statusCode, 200)
  t.same(Object.keys(login.json()).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'], 'the token response is not wrapped')
  const missing = await host.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=a' })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'invalid_request', 'RFC 6749 error body, unwrapped')

  const token = login.json().access_token as string
  const me = await get(host, '/auth/users/me/', token)
  t.same(me.json(), { username: hostUser.username, email: null, email_verified: false, full_name: null, disabled: false })
  const unknown = await host.inject({ method: 'GET', url: '/auth/users/me/', headers: bearer('nope') })
  t.same(unknown.json(), { detail: 'Could not validate credentials' }, 'an error without a response schema is plain JSON too')

  // The host's own routes keep the host's compilers.
  const things = await host.inject({ method: 'POST', url: '/api/things', payload: { name: 'a' } })
  t.same(things.json(), { replied: { ok: true } }, "the host's reply serializer on its own route")
  const badThing = await host.inject({ method: 'POST', url: '/api/things', payload: {} })
  t.equal(badThing.statusCode, 400, "the host's validator on its own route")
  const privateRoute = await get(host, '/api/private', await signUp(host, { username: 'second', password: 'second-password' }))
  t.equal(privateRoute.statusCode, 200, 'a guarded host route')
})
