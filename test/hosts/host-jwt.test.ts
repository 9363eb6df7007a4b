import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import tokenAuth, { userOf } from '../../src/index.js'
import { testSecret, type TestContext } from '../helper.js'
import { get, hostUser, newHost, pluginOptions, signUp } from './support.js'

/* A host with @fastify/jwt of its own (its own secret, its own tokens), before or after the plugin. */

interface HostClaims {
  sub: string
  role: string
}

const HOST_SIGN_OPTIONS = { expiresIn: '10m', iss: 'host-app' }

async function buildHost (t: TestContext, order: 'before' | 'after', hostSecret = testSecret()): Promise<FastifyInstance> {
  const host = newHost(t)
  const registerJwt = async () => { await host.register(fastifyJwt, { secret: hostSecret, sign: HOST_SIGN_OPTIONS }) }
  if (order === 'before') await registerJwt()
  await host.register(tokenAuth, pluginOptions())
  if (order === 'after') await registerJwt()

  // The host's own route, verified by the host's own @fastify/jwt.
  host.get('/host/claims', async (request) => {
    const claims = await request.jwtVerify<HostClaims>()
    return { sub: claims.sub, role: claims.role }
  })
  host.get('/api/private', { onRequest: host.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
  await host.ready()
  return host
}

for (const order of ['before', 'after'] as const) {
  t.test(`@fastify/jwt registered by the host ${order} the plugin`, async (t) => {
    const hostSecret = testSecret()
    const host = await buildHost(t, order, hostSecret)
    const hostToken = host.jwt.sign({ sub: hostUser.username, role: 'admin' })
    const pluginToken = await signUp(host)

    t.test("the host's jwt decorator is the host's", async (t) => {
      t.equal(host.hasDecorator('jwt'), true)
      t.equal(host.hasRequestDecorator('user'), true, "request.user is the host's @fastify/jwt's")
      t.equal(host.hasRequestDecorator('jwtVerify'), true)
      t.notOk('tokenAuth' in host.jwt, 'no tokenAuth key on host.jwt')
      t.same(Object.keys(host.jwt).sort(), ['cookie', 'decode', 'lookupToken', 'options', 'sign', 'verify'], "host.jwt holds @fastify/jwt's own members only")
      t.same(host.jwt.options.sign, HOST_SIGN_OPTIONS, "host.jwt.options are the host's")
      t.match(host.jwt.verify(hostToken), { sub: hostUser.username, role: 'admin', iss: 'host-app' }, 'host.jwt verifies with the host secret')
      t.throws(() => host.jwt.verify(pluginToken), 'host.jwt does not verify the plugin token')
      t.equal(host.hasRequestDecorator('tokenAuthJwtVerify'), false, "the plugin's @fastify/jwt stays in its own context")
    })

    t.test('both kinds of token keep working', async (t) => {
      const claims = await get(host, '/host/claims', hostToken)
      t.equal(claims.statusCode, 200, "the host's token on the host's route")
      t.same(claims.json(), { sub: hostUser.username, role: 'admin' })
      const privateRoute = await get(host, '/api/private', pluginToken)
      t.equal(privateRoute.statusCode, 200, "the plugin's token on a plugin-guarded route")
      t.same(privateRoute.json(), { hello: hostUser.username })
      t.equal((await get(host, '/auth/users/me/', pluginToken)).statusCode, 200, 'and on /auth/users/me/')
    })

    t.test('neither is accepted in the other\'s place', async (t) => {
      for (const url of ['/api/private', '/auth/users/me/']) {
        const response = await get(host, url, hostToken)
        t.equal(response.statusCode, 401, `the host's token on ${url}`)
        t.same(response.json(), { detail: 'Could not validate credentials' })
        t.equal(response.headers['www-authenticate'], 'Bearer error="invalid_token"')
      }
      // Even a host token that copies every claim the plugin checks: it is signed with the host's secret.
      const mimic = host.jwt.sign({ sub: hostUser.username, ver: 0, aud: 'fastify-token-auth' }, { iss: 'fastify-token-auth' })
      t.match(host.jwt.decode(mimic), { sub: hostUser.username, ver: 0, iss: 'fastify-token-auth', aud: 'fastify-token-auth' })
      t.equal((await get(host, '/api/private', mimic)).statusCode, 401, 'a host token with the plugin\'s claims')

      const response = await get(host, '/host/claims', pluginToken)
      t.equal(response.statusCode, 401, "the plugin's token on the host's jwtVerify route")
      t.equal(response.json().code, 'FST_JWT_AUTHORIZATION_TOKEN_INVALID', "refused by the host's @fastify/jwt")
      t.equal((await get(host, '/host/claims')).statusCode, 401, 'no token on the host route')
    })

    t.test("userOf gives the plugin's account, request.user stays the host's claims", async (t) => {
      const seen = newHost(t)
      await seen.register(fastifyJwt, { secret: hostSecret })
      await seen.register(tokenAuth, pluginOptions())
      seen.get('/who', { onRequest: seen.currentActiveUser }, async (request) => ({ account: userOf(request), user: request.user ?? 'untouched' }))
      seen.get('/claims', async (request) => { await request.jwtVerify(); return { user: request.user } })
      await seen.ready()
      const token = await signUp(seen)
      t.same((await get(seen, '/who', token)).json(), { account: { username: hostUser.username, email: null, email_verified: false, full_name: null, disabled: false }, user: 'untouched' })
      t.match((await get(seen, '/claims', seen.jwt.sign({ sub: 'svc', role: 'batch' }))).json(), { user: { sub: 'svc', role: 'batch' } })
    })
  })
}

t.test('a host whose @fastify/jwt shares the plugin\'s secret', async (t) => {
  const secret = testSecret()
  const host = newHost(t)
  await host.register(fastifyJwt, { secret })
  await host.register(tokenAuth, pluginOptions({ secret }))
  host.get('/api/private', { onRequest: host.currentActiveUser }, async (request) => ({ hello: userOf(request).username }))
  await host.ready()
  await signUp(host)
  // The plugin insists on its issuer, audience and token version: the host's other JWTs are not access tokens.
  const response = await get(host, '/api/private', host.jwt.sign({ sub: hostUser.username }))
  t.equal(response.statusCode, 401, "a host JWT for the same user, without the plugin's claims, is refused")
  t.same(response.json(), { detail: 'Could not validate credentials' })
})
