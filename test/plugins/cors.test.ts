import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { CORS_MAX_AGE_SECONDS } from '../../src/service/plugins/cors.js'
import { bearer, buildApp, createUser, johndoe, login, requestToken } from '../helper.js'

// CORS on the standalone service (CORS_ORIGINS) as a browser meets it: preflights, the headers
// on every answer of an allowed origin, nothing for any other origin or when unset.

const APP = 'https://app.example.com'
const OTHER_APP = 'http://127.0.0.1:5173'
const form = { 'content-type': 'application/x-www-form-urlencoded' }

/** Every route family of the service, as [method, path] a browser app would call. */
const ROUTES: Array<[string, string]> = [
  ['POST', '/token'],
  ['POST', '/revoke'],
  ['POST', '/logout'],
  ['POST', '/users/'],
  ['GET', '/users/me/'],
  ['PATCH', '/users/me'],
  ['DELETE', '/users/me/'],
  ['POST', '/users/me/password'],
  ['GET', '/users/me/sessions'],
  ['DELETE', '/users/me/sessions/0123456789abcdef0123456789abcdef'],
  ['GET', '/users/me/items/?limit=5'],
  ['POST', '/users/me/items/'],
  ['GET', '/users/me/items/1'],
  ['DELETE', '/users/me/items/1'],
  ['GET', '/health/ready'],
  ['GET', '/openapi.json']
]

const corsHeaders = (response: LightMyRequestResponse) =>
  Object.fromEntries(Object.entries(response.headers).filter(([name]) => name.startsWith('access-control-')))

const varies = (response: LightMyRequestResponse) =>
  String(response.headers.vary ?? '').split(',').map((part) => part.trim().toLowerCase()).includes('origin')

async function preflight (app: FastifyInstance, method: string, url: string, origin = APP, headers = 'authorization, content-type'): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'OPTIONS',
    url,
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers }
  })
}

/** The headers that let a page of `origin` read an actual answer. */
function readableBy (t: Test, response: LightMyRequestResponse, origin: string, what: string) {
  t.equal(response.headers['access-control-allow-origin'], origin, `${what}: Access-Control-Allow-Origin is the page's origin`)
  t.match(response.headers['access-control-expose-headers'], /WWW-Authenticate, Retry-After, Link, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset/,
    `${what}: the headers a client needs are exposed`)
  t.notOk('access-control-allow-credentials' in response.headers, `${what}: no credentials`)
  t.ok(varies(response), `${what}: Vary: Origin`)
}

t.test('unset: no CORS at all', async (t) => {
  for (const corsOrigins of [undefined, []]) {
    const app = await buildApp(t, { corsOrigins })
    const what = corsOrigins === undefined ? 'unset' : 'an empty list'
    const answer = await app.inject({ method: 'GET', url: '/users/me/', headers: { origin: APP } })
    t.equal(answer.statusCode, 401)
    t.same(corsHeaders(answer), {}, `${what}: no CORS header on an answer`)
    t.notOk(varies(answer), `${what}: no Vary: Origin`)
    const pre = await preflight(app, 'POST', '/token')
    t.equal(pre.statusCode, 404, `${what}: a preflight is not answered as a success`)
    t.same(pre.json(), { detail: 'Not Found' })
    t.same(corsHeaders(pre), {})
  }
})

t.test('an allowed origin: the preflight of every route family succeeds', async (t) => {
  const app = await buildApp(t, { corsOrigins: [APP, OTHER_APP] })
  for (const [method, url] of ROUTES) {
    const pre = await preflight(app, method, url)
    const what = `OPTIONS ${url} for ${method}`
    t.equal(pre.statusCode, 204, what)
    t.equal(pre.body, '', `${what}: no body`)
    t.equal(pre.headers['access-control-allow-origin'], APP, `${what}: the origin is reflected`)
    t.equal(pre.headers['access-control-allow-methods'], 'GET, HEAD, POST, PATCH, DELETE', `${what}: the API's methods allowed`)
    t.equal(pre.headers['access-control-allow-headers'], 'Authorization, Content-Type', `${what}: Authorization and Content-Type allowed`)
    t.equal(pre.headers['access-control-max-age'], String(CORS_MAX_AGE_SECONDS), `${what}: cached for two hours`)
    t.notOk('access-control-allow-credentials' in pre.headers, `${what}: no credentials`)
    t.ok(varies(pre), `${what}: Vary: Origin`)
  }
  const other = await preflight(app, 'GET', '/users/me/', OTHER_APP)
  t.equal(other.headers['access-control-allow-origin'], OTHER_APP, 'each listed origin is answered as itself, never "*"')
})

t.test('another origin: no allow headers, and its preflight is a 404', async (t) => {
  const app = await buildApp(t, { corsOrigins: [APP] })
  await createUser(app, johndoe)
  const token = await login(app, johndoe)
  const lookalikes = ['https://evil.example.com', 'http://app.example.com', 'https://app.example.com:8443', 'https://app.example.com.evil.example',
    'https://APP.example.com', 'null']
  for (const origin of lookalikes) {
    const pre = await preflight(app, 'GET', '/users/me/', origin)
    t.equal(pre.statusCode, 404, `${origin}: preflight refused`)
    t.same(pre.json(), { detail: 'Not Found' })
    t.same(corsHeaders(pre), {}, `${origin}: no CORS header on the preflight`)
    const answer = await app.inject({ method: 'GET', url: '/users/me/', headers: { origin, ...bearer(token) } })
    t.equal(answer.statusCode, 200, `${origin}: the server still answers (the browser withholds it)`)
    t.same(corsHeaders(answer), {}, `${origin}: no CORS header on the answer`)
    t.ok(varies(answer), `${origin}: Vary: Origin, so no cache serves it to the allowed origin`)
  }
  const none = await app.inject({ method: 'GET', url: '/users/me/', headers: bearer(token) })
  t.same(corsHeaders(none), {}, 'no Origin (same origin, curl): no CORS header')
  t.ok(varies(none), 'but Vary: Origin')
})

t.test('unknown paths stay 404s, preflight or not', async (t) => {
  const app = await buildApp(t, { corsOrigins: [APP] })
  const unknown = await app.inject({ method: 'GET', url: '/nowhere', headers: { origin: APP } })
  t.equal(unknown.statusCode, 404)
  t.same(unknown.json(), { detail: 'Not Found' })
  readableBy(t, unknown, APP, 'GET /nowhere')
  for (const [method, url] of [['GET', '/nowhere'], ['PUT', '/users/me/'], ['PATCH', '/token'], ['OPTIONS', '/token'], ['TRACE', '/users/me/']]) {
    const pre = await preflight(app, method as string, url as string)
    t.equal(pre.statusCode, 404, `a preflight for ${method} ${url}, which no route answers`)
    t.same(pre.json(), { detail: 'Not Found' })
    t.same(corsHeaders(pre), {})
  }
  const plain = await app.inject({ method: 'OPTIONS', url: '/token', headers: { origin: APP } })
  t.equal(plain.statusCode, 404, 'an OPTIONS that is no preflight (no Access-Control-Request-Method)')
  t.same(plain.json(), { detail: 'Not Found' })
})

t.test('answers an allowed page can read: successes and errors, with the security headers', async (t) => {
  const app = await buildApp(t, { corsOrigins: [APP] })
  await createUser(app, johndoe)
  const origin = { origin: APP }
  const loggedIn = await app.inject({ method: 'POST', url: '/token', headers: { ...form, ...origin }, payload: `username=johndoe&password=${johndoe.password}` })
  t.equal(loggedIn.statusCode, 200)
  readableBy(t, loggedIn, APP, 'a login')
  const token = loggedIn.json().access_token as string

  const answers: Array<[string, LightMyRequestResponse, number]> = [
    ['a wrong password', await app.inject({ method: 'POST', url: '/token', headers: { ...form, ...origin }, payload: 'username=johndoe&password=wrong-password' }), 401],
    ['no token', await app.inject({ method: 'GET', url: '/users/me/', headers: origin }), 401],
    ['a bad token', await app.inject({ method: 'GET', url: '/users/me/', headers: { ...origin, ...bearer('not-a-token') } }), 401],
    ['GET /users/me/', await app.inject({ method: 'GET', url: '/users/me/', headers: { ...origin, ...bearer(token) } }), 200],
    ['an invalid item', await app.inject({ method: 'POST', url: '/users/me/items/', headers: { ...origin, ...bearer(token) }, payload: { title: '' } }), 422],
    ['an invalid registration', await app.inject({ method: 'POST', url: '/users/', headers: origin, payload: { username: 'x' } }), 422],
    ['a form that is not one', await app.inject({ method: 'POST', url: '/token', headers: { ...form, ...origin }, payload: '' }), 400]
  ]
  for (const [what, answer, status] of answers) {
    t.equal(answer.statusCode, status, `${what}: ${status}`)
    readableBy(t, answer, APP, what)
    t.equal(answer.headers['cross-origin-resource-policy'], 'same-origin', `${what}: the security headers are still there`)
    t.equal(answer.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'")
    if (status >= 400) t.type(answer.json().detail, status === 422 ? Array : 'string', `${what}: the detail`)
  }
  t.equal(answers[0]?.[1].headers['www-authenticate'], 'Bearer', 'a 401 says how to authenticate, and it is exposed')
})

t.test('the OpenAPI document gains no OPTIONS operation', async (t) => {
  const withCors = (await (await buildApp(t, { corsOrigins: [APP] })).inject('/openapi.json')).json()
  const without = (await (await buildApp(t)).inject('/openapi.json')).json()
  t.same(withCors.paths, without.paths)
})

t.test('with throttling on, preflights cost nothing: not the /token limit, not the login backoff', async (t) => {
  const app = await buildApp(t, { corsOrigins: [APP], throttle: { token: { max: 3, windowSeconds: 60 }, loginBackoffAfter: 3 } })
  await createUser(app, johndoe)
  const preflights = async () => {
    for (let i = 0; i < 10; i++) t.equal((await preflight(app, 'POST', '/token', APP, 'content-type')).statusCode, 204)
  }
  const attempt = async (password: string) => await app.inject({
    method: 'POST', url: '/token', headers: { ...form, origin: APP }, payload: new URLSearchParams({ username: johndoe.username, password }).toString()
  })
  await preflights()
  const first = await attempt('wrong-password')
  t.equal(first.statusCode, 401)
  t.equal(first.headers['x-ratelimit-remaining'], '2', 'ten preflights later, the first login is the first to count')
  await preflights()
  const second = await attempt('wrong-password')
  t.equal(second.headers['x-ratelimit-remaining'], '1')
  await preflights()
  const third = await attempt(johndoe.password)
  t.equal(third.statusCode, 200, 'two failures and thirty preflights: the login is not held back')
  t.equal(third.headers['x-ratelimit-remaining'], '0')

  t.equal((await preflight(app, 'POST', '/token')).statusCode, 204, 'over the limit, the preflight still succeeds')
  const over = await attempt(johndoe.password)
  t.equal(over.statusCode, 429)
  readableBy(t, over, APP, 'the 429')
  t.ok(Number(over.headers['retry-after']) >= 1, 'with Retry-After, which the page may read')
  t.match(over.json(), { detail: /^Too many requests: retry in \d+ s$/ })
  t.equal((await requestToken(app, { username: 'johndoe', password: johndoe.password })).statusCode, 429, 'the same address, without Origin: the same limit')
})
