import fastifyHelmet from '@fastify/helmet'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { redocCsp } from '../../plugins/docs-csp.js'
import { withStyleNonce } from '../../plugins/redoc.js'
import tokenAuth from '../../src/index.js'
import { bearer, buildApp, createUser, johndoe, login } from '../helper.js'
import { newHost, pluginOptions } from '../hosts/support.js'

// The security headers of every answer: the service's (helmet's defaults, a strict policy on
// JSON, each doc page's own policy), and the plugin's doc pages under a host's helmet.

const API_CSP = "default-src 'none';frame-ancestors 'none'"
// Some of helmet's defaults, which every answer of the service carries.
const HELMET = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'SAMEORIGIN',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains'
}

/** The CSP header as directive -> sources; fails on a repeated header. */
function csp (response: LightMyRequestResponse): Map<string, string[]> {
  const header = response.headers['content-security-policy']
  if (typeof header !== 'string') throw new Error(`one content-security-policy header expected, got ${JSON.stringify(header)}`)
  const directives = new Map<string, string[]>()
  for (const part of header.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/)
    if (name !== undefined && name !== '') directives.set(name, sources)
  }
  return directives
}

/** What every doc page's policy holds: nothing from elsewhere, no inline script, no eval, no 'unsafe-inline' styles. */
function checkDocsPolicy (t: Test, response: LightMyRequestResponse): Map<string, string[]> {
  const policy = csp(response)
  t.same(policy.get('default-src'), ["'self'"], 'default-src self')
  t.same(policy.get('script-src'), ["'self'"], 'scripts: files of this server only')
  t.same(policy.get('connect-src'), ["'self'"], 'requests to this server only')
  t.same(policy.get('object-src'), ["'none'"])
  t.same(policy.get('frame-ancestors'), ["'self'"])
  t.notOk(policy.get('style-src')?.includes("'unsafe-inline'"), 'no unsafe-inline styles')
  t.notOk([...policy.values()].flat().some((source) => source === "'unsafe-eval'" || source === '*'), 'no eval, no wildcard')
  return policy
}

t.test('the service', async (t) => {
  const app = await buildApp(t)
  await createUser(app, johndoe)
  const token = await login(app, johndoe)

  const json: Array<[string, () => Promise<LightMyRequestResponse>, number]> = [
    ['POST /token (a login)', async () => await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `username=johndoe&password=${johndoe.password}` }), 200],
    ['POST /token (a wrong password)', async () => await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=johndoe&password=wrong-password' }), 401],
    ['GET /users/me/', async () => await app.inject({ method: 'GET', url: '/users/me/', headers: bearer(token) }), 200],
    ['GET /users/me/ without a token', async () => await app.inject({ method: 'GET', url: '/users/me/' }), 401],
    ['POST /users/ with an invalid body', async () => await app.inject({ method: 'POST', url: '/users/', payload: { username: 'x' } }), 422],
    ['GET /openapi.json', async () => await app.inject({ method: 'GET', url: '/openapi.json' }), 200],
    ['GET /health', async () => await app.inject({ method: 'GET', url: '/health' }), 200],
    ['a 404', async () => await app.inject({ method: 'GET', url: '/no/such/path' }), 404]
  ]
  for (const [name, send, status] of json) {
    t.test(`${name}: the strict policy and helmet's headers`, async (t) => {
      const response = await send()
      t.equal(response.statusCode, status, String(status))
      t.equal(response.headers['content-security-policy'], API_CSP, API_CSP)
      t.match(response.headers, HELMET, "helmet's headers")
    })
  }

  t.test('GET /docs and its assets: the Swagger UI policy', async (t) => {
    for (const url of ['/docs', '/docs/', '/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js']) {
      const response = await app.inject({ method: 'GET', url })
      t.equal(response.statusCode, 200, url)
      const policy = checkDocsPolicy(t, response)
      t.match(policy.get('style-src'), ["'self'", /^'sha256-[A-Za-z0-9+/]+=*'$/], 'styles: files, and the logo\'s <style> by hash')
      t.match(response.headers, HELMET, "helmet's other headers")
    }
  })

  t.test('GET /redoc: a fresh nonce per page, on its policy and its elements', async (t) => {
    const nonces = new Set<string>()
    for (let i = 0; i < 2; i++) {
      const response = await app.inject({ method: 'GET', url: '/redoc' })
      t.equal(response.statusCode, 200)
      const policy = checkDocsPolicy(t, response)
      t.same(policy.get('worker-src'), ['blob:'], 'its search worker, from a blob:')
      const styles = policy.get('style-src') ?? []
      t.equal(styles.length, 2, `style-src ${styles.join(' ')}`)
      const nonce = /^'nonce-([A-Za-z0-9+/=]+)'$/.exec(styles[1] ?? '')?.[1]
      t.ok(nonce !== undefined && nonce.length >= 22, 'a nonce of 128 bits')
      nonces.add(nonce ?? '')
      t.match(response.body, `<style nonce="${nonce}">`, 'on the inline <style>')
      t.match(response.body, `<script nonce="${nonce}" src="/redoc/redoc.standalone.js">`, 'on the <script> that loads the bundle')
      t.match(response.headers, HELMET, "helmet's other headers")
    }
    t.equal(nonces.size, 2, 'another nonce for each page')
    const bundle = await app.inject({ method: 'GET', url: '/redoc/redoc.standalone.js' })
    t.match(bundle.body, '.nc=document.currentScript&&document.currentScript.nonce||void 0;', 'the bundle starts its style nonce from its <script>')
    t.equal(bundle.headers['content-security-policy'], API_CSP, 'the bundle itself, as any file, the strict policy')
  })
})

/** A host with helmet (a strict policy of its own) and the plugin serving its own doc pages. */
async function helmetHost (t: Test): Promise<FastifyInstance> {
  const host = newHost(t)
  await host.register(fastifyHelmet, { contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"] } } })
  await host.register(tokenAuth, pluginOptions({ docs: { redoc: true } }))
  host.get('/api/open', async () => ({ hello: 'world' }))
  await host.ready()
  return host
}

t.test("under a host's helmet, the plugin's own doc pages send their own policy", async (t) => {
  const host = await helmetHost(t)
  const docs = await host.inject({ method: 'GET', url: '/auth/docs' })
  t.equal(docs.statusCode, 200)
  checkDocsPolicy(t, docs)
  t.equal(docs.headers['x-content-type-options'], 'nosniff', "the host's other helmet headers stay")
  const redoc = await host.inject({ method: 'GET', url: '/auth/redoc' })
  t.equal(redoc.statusCode, 200)
  t.match(checkDocsPolicy(t, redoc).get('style-src'), ["'self'", /^'nonce-/])
  t.match(redoc.body, 'src="/auth/redoc/redoc.standalone.js"')
  for (const url of ['/auth/users/me/', '/auth/openapi.json', '/api/open']) {
    const response = await host.inject({ method: 'GET', url })
    t.equal(response.headers['content-security-policy'], "default-src 'none'", `${url}: the host's policy`)
  }
})

t.test('the plugin forces no security headers on a host without helmet', async (t) => {
  const host = newHost(t)
  await host.register(tokenAuth, pluginOptions({ docs: { redoc: true } }))
  await host.ready()
  const api = await host.inject({ method: 'GET', url: '/auth/users/me/' })
  t.equal(api.statusCode, 401)
  for (const header of ['content-security-policy', 'x-content-type-options', 'x-frame-options', 'strict-transport-security']) {
    t.equal(api.headers[header], undefined, `no ${header} on the plugin's API`)
  }
  checkDocsPolicy(t, await host.inject({ method: 'GET', url: '/auth/docs' }))
  checkDocsPolicy(t, await host.inject({ method: 'GET', url: '/auth/redoc' }))
})

t.test('a redoc bundle whose webpack runtime is not found: served as it is, and inline styles on /redoc alone', async (t) => {
  t.same(withStyleNonce('var a=1;r.nc=void 0;var b=2'), { source: 'var a=1;r.nc=document.currentScript&&document.currentScript.nonce||void 0;var b=2', nonced: true })
  for (const source of ['var a=1', 'r.nc=void 0;n.nc=void 0;']) t.same(withStyleNonce(source), { source, nonced: false }, source)
  t.match(redocCsp(undefined), /style-src 'self' 'unsafe-inline'/)
  t.notMatch(redocCsp('abc'), /unsafe-inline/)
})
