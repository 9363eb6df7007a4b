import { createServer, type AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import * as oauth from 'oauth4webapi'
import t, { type Test } from 'tap'
import tokenAuth, { newResourceServerSecret, resourceServerSecretHash } from '../../src/index.js'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service from '../../src/service/app.js'
import { createUser, forEachEngine, freshDatabaseUrl, johndoe, testSecret } from '../helper.js'

// Discovery, introspection and revocation driven by oauth4webapi over real HTTP on loopback:
// the library finds the endpoints in the RFC 8414 document (no hand-written metadata), then
// introspects with client_secret_basic and revokes as a public client, every answer through the
// library's own checks, unmodified.

// Plain http on loopback: a transport setting only (which URL schemes may be requested).
const insecure = { [oauth.allowInsecureRequests]: true } as const
const RS = 'orders-api'

/** A free port on 127.0.0.1, so that publicUrl can name it before the app listens. */
async function freePort (): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve, reject) => probe.close((error) => { if (error === undefined) resolve(); else reject(error) }))
  return port
}

/** Listens on 127.0.0.1:port, closed by the test's teardown. */
async function listen (t: Test, app: FastifyInstance, port: number): Promise<void> {
  t.teardown(async () => await app.close())
  await app.listen({ host: '127.0.0.1', port })
}

async function flow (t: Test, issuer: URL, appOf: () => FastifyInstance, rsSecret: string) {
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  t.equal(as.issuer, issuer.href.replace(/\/$/, ''), 'the library found the document and checked its issuer')
  t.equal(as.issuer, appOf().tokenAuth.settings.issuer)
  t.ok(as.introspection_endpoint?.startsWith(as.issuer), 'the endpoints are absolute, under the issuer')

  const client: oauth.Client = { client_id: 'oauth4webapi-test' }
  const token = await oauth.processGenericTokenEndpointResponse(as, client, await oauth.genericTokenEndpointRequest(as, client, oauth.None(), 'password',
    new URLSearchParams({ username: johndoe.username, password: johndoe.password }), insecure))
  const resourceServer: oauth.Client = { client_id: RS }
  const introspect = async (value: string) => await oauth.processIntrospectionResponse(as, resourceServer,
    await oauth.introspectionRequest(as, resourceServer, oauth.ClientSecretBasic(rsSecret), value, insecure))

  const active = await introspect(token.access_token)
  t.match(active, { active: true, sub: 'johndoe', token_type: 'Bearer', iss: as.issuer })
  t.same(await introspect(String(token.refresh_token)), { active: false }, 'a refresh token is inactive')

  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.None(), String(token.refresh_token), insecure))
  t.same(await introspect(token.access_token), { active: false }, 'revoked: inactive at once')

  const wrong = await oauth.introspectionRequest(as, resourceServer, oauth.ClientSecretBasic(`${rsSecret}x`), token.access_token, insecure)
  t.equal(wrong.status, 401, 'a wrong secret')
  t.equal(wrong.headers.get('www-authenticate'), 'Basic realm="token introspection"')
}

forEachEngine(t, async (t, engine) => {
  t.test('the service, PUBLIC_URL its address: discover, introspect (client_secret_basic), revoke (none)', async (t) => {
    const port = await freePort()
    const rsSecret = newResourceServerSecret()
    const app = Fastify(serviceFastifyOptions('silent'))
    await app.register(service, {
      secret: testSecret(),
      bcryptCost: 4,
      database: await freshDatabaseUrl(t, engine),
      publicUrl: `http://127.0.0.1:${port}`,
      resourceServers: { [RS]: resourceServerSecretHash(rsSecret) }
    })
    await listen(t, app, port)
    await createUser(app, johndoe)
    await flow(t, new URL(`http://127.0.0.1:${port}`), () => app, rsSecret)
  })

  t.test('a host with the plugin under /auth and metadataAtRoot: discovery where RFC 8414 puts it', async (t) => {
    const port = await freePort()
    const rsSecret = newResourceServerSecret()
    const app = Fastify()
    await app.register(tokenAuth, {
      secret: testSecret(),
      bcryptCost: 4,
      database: await freshDatabaseUrl(t, engine),
      prefix: '/auth',
      publicUrl: `http://127.0.0.1:${port}`,
      metadataAtRoot: true,
      docs: false,
      resourceServers: { [RS]: resourceServerSecretHash(rsSecret) }
    })
    await listen(t, app, port)
    await app.tokenAuth.accounts.create({ username: johndoe.username, password: johndoe.password })
    await flow(t, new URL(`http://127.0.0.1:${port}/auth`), () => app, rsSecret)
  })
})
