/**
 * A browser app on another origin calling the service, in a real Chromium: a page served on
 * one loopback port logs in with the form-encoded POST /token and calls the API on another,
 * under the service's security headers. Allowed by CORS_ORIGINS, every answer (errors
 * included) is readable; otherwise the browser withholds every answer from the page.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import type { Page } from 'playwright-core'
import type { ServiceOptions } from '../../src/service/app.js'
import tokenAuth from '../../src/index.js'
import { docBlock } from '../support/doc-blocks.js'
import { buildApp, createUser, johndoe, login, testSecret } from '../helper.js'
import { freshContext, isCI, launchChromium, LOAD_TIMEOUT, missingChromium } from './browser.js'
import { watch, type PageLog } from './page-log.js'

if (missingChromium !== false && isCI) {
  t.fail(`${missingChromium}. The CORS e2e test cannot run in CI without it.`)
}

/** What the page's `call` reports: the answer as a script of the page can read it, or the error fetch rejected with. */
type Answer = { status: number, body: any, headers: Record<string, string | null> } | { error: string }

interface ClientPage {
  call: (url: string, init: RequestInit) => Promise<Answer>
  login: (api: string, username: string, password: string) => Promise<Answer>
}

// The browser app: its own origin, its own script, no framework.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>A browser app on another origin</title>
<script>
  async function call (url, init) {
    try {
      const response = await fetch(url, init)
      const text = await response.text()
      const headers = {}
      for (const name of ['www-authenticate', 'retry-after', 'x-ratelimit-remaining']) headers[name] = response.headers.get(name)
      return { status: response.status, body: text === '' ? null : JSON.parse(text), headers }
    } catch (error) {
      return { error: error.name + ': ' + error.message }
    }
  }
  async function login (api, username, password) {
    return await call(api + '/token', { method: 'POST', body: new URLSearchParams({ username, password }) })
  }
</script>
<h1>Client</h1>`

/** The page, served by a plain HTTP server on a loopback port of its own. */
async function servePage (t: Test): Promise<string> {
  const server = createServer((request, response) => {
    if (request.url !== '/') {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** The service on a loopback port of its own, with johndoe registered. */
async function serveApi (t: Test, opts: Partial<ServiceOptions>): Promise<{ app: FastifyInstance, api: string }> {
  const app = await buildApp(t, opts)
  await createUser(app, johndoe)
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, api: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

/** The @fastify/cors options of the CORS recipe in docs/embedding.md, as written there. */
function corsRecipe (): FastifyCorsOptions & { origin: string[], methods?: string[] } {
  const { code } = docBlock('docs/embedding.md', 'CORS in a host')
  const options = /register\(fastifyCors, (\{[\s\S]*?\n\})\)/.exec(code)?.[1]
  if (options === undefined) throw new Error('docs/embedding.md: the CORS recipe registers no fastifyCors options')
  // eslint-disable-next-line no-new-func -- the guide's object literal of plain strings, evaluated as the guide's reader's code would be
  return new Function(`return (${options})`)() as FastifyCorsOptions & { origin: string[], methods?: string[] }
}

/** A host app with @fastify/cors (these options) and the plugin under /auth, on a loopback port of its own. */
async function serveHost (t: Test, cors: FastifyCorsOptions): Promise<string> {
  const host = Fastify()
  t.teardown(async () => await host.close())
  await host.register(fastifyCors, cors)
  await host.register(tokenAuth, { secret: testSecret(), database: 'sqlite::memory:', prefix: '/auth', bcryptCost: 4 })
  await host.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`
}

const corsMessages = (log: PageLog) => log.consoleErrors.filter((message) => /CORS policy/.test(message))

/** The page's own script, run from the page's origin: what a browser app's code would do. */
function browserApp (page: Page): ClientPage {
  return {
    call: async (url, init) => await page.evaluate(async ([url, init]) => await (window as unknown as ClientPage).call(url, init), [url, init] as const),
    login: async (api, username, password) =>
      await page.evaluate(async ([api, username, password]) => await (window as unknown as ClientPage).login(api, username, password), [api, username, password] as const)
  }
}

const bearer = (token: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): RequestInit =>
  ({ ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } })
const json = { 'content-type': 'application/json' }

t.test('a cross-origin browser app', { skip: missingChromium }, async (t) => {
  const browser = await launchChromium(t)
  const pageOrigin = await servePage(t)

  async function openPage (t: Test): Promise<{ page: Page, log: PageLog, client: ClientPage }> {
    const context = await freshContext(browser)
    t.teardown(async () => await context.close())
    const page = await context.newPage()
    const log = await watch(page)
    await page.goto(`${pageOrigin}/`, { timeout: LOAD_TIMEOUT })
    return { page, log, client: browserApp(page) }
  }

  t.test('allowed by CORS_ORIGINS: logs in, calls the API and reads every answer, errors included', async (t) => {
    const { api } = await serveApi(t, { corsOrigins: [pageOrigin], throttle: { token: { max: 3, windowSeconds: 60 }, loginBackoffAfter: false } })
    const { page, log, client } = await openPage(t)

    t.match(await client.login(api, johndoe.username, 'wrong-password'),
      { status: 401, body: { detail: 'Incorrect username or password' }, headers: { 'www-authenticate': 'Bearer', 'x-ratelimit-remaining': '2' } },
      'a wrong password: the 401, its WWW-Authenticate and the rate-limit headers are readable')
    const loggedIn = await client.login(api, johndoe.username, johndoe.password)
    t.match(loggedIn, { status: 200, body: { token_type: 'bearer', access_token: /^[\w-]+\.[\w-]+\.[\w-]+$/ } }, 'the form-encoded login succeeds')
    const token = 'body' in loggedIn ? loggedIn.body.access_token as string : ''

    const answered = page.waitForResponse((response) => response.url() === `${api}/users/me/` && response.request().method() === 'GET')
    t.match(await client.call(`${api}/users/me/`, bearer(token)), { status: 200, body: { username: johndoe.username, email: johndoe.email } },
      'GET /users/me/ with the bearer token (a preflighted request)')
    t.equal(await (await answered).headerValue('cross-origin-resource-policy'), 'same-origin', 'under Cross-Origin-Resource-Policy: same-origin')

    const item = await client.call(`${api}/users/me/items/`, bearer(token, { method: 'POST', headers: json, body: JSON.stringify({ title: 'Buy milk' }) }))
    t.match(item, { status: 201, body: { item_id: Number, title: 'Buy milk' } }, 'a JSON POST')
    const id = 'body' in item ? String(item.body.item_id) : ''
    t.match(await client.call(`${api}/users/me/items/${id}`, bearer(token, { method: 'DELETE' })), { status: 204 }, 'a DELETE')
    t.match(await client.call(`${api}/users/me/items/`, bearer(token, { method: 'POST', headers: json, body: '{"title": ""}' })),
      { status: 422, body: { detail: [{ loc: ['body', 'title'] }] } }, 'a 422 is readable, with its detail')
    t.match(await client.call(`${api}/users/me/`, bearer('not-a-token')),
      { status: 401, body: { detail: 'Could not validate credentials' }, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } },
      'a refused token: the 401 and its WWW-Authenticate are readable')
    t.match(await client.login(api, johndoe.username, 'wrong-password'), { status: 401, headers: { 'x-ratelimit-remaining': '0' } }, 'the third login of the window')
    t.match(await client.login(api, johndoe.username, johndoe.password),
      { status: 429, body: { detail: /^Too many requests: retry in \d+ s$/ }, headers: { 'retry-after': /^\d+$/ } }, 'a 429 and its Retry-After are readable')
    t.same(corsMessages(log), [], 'no CORS complaint on the console')

    t.match(await client.call(`${api}/users/me/`, { ...bearer(token), credentials: 'include' }), { error: /^TypeError/ },
      "credentials: 'include' is refused: the API takes no cookies and allows none")
    t.match(corsMessages(log), [/Access-Control-Allow-Credentials/], 'the console says why')
    t.same(log.pageErrors, [])
  })

  const port = new URL(pageOrigin).port
  const refusals: Array<[string, string[] | undefined]> = [
    ['another origin listed (the same page by another name)', [`http://localhost:${port}`]],
    ['CORS_ORIGINS unset', undefined]
  ]
  t.test("a host following docs/embedding.md's CORS recipe: the page reads, changes and ends its sessions", async (t) => {
    const recipe = corsRecipe()
    t.same(recipe.origin, ['https://app.example'], 'the recipe, read from the guide')
    const api = await serveHost(t, { ...recipe, origin: [pageOrigin] })
    const { log, client } = await openPage(t)
    const user = { username: 'browser-user', password: 'a-long-enough-password' }
    t.match(await client.call(`${api}/auth/users/`, { method: 'POST', headers: json, body: JSON.stringify(user) }), { status: 201 }, 'registers')
    const loggedIn = await client.login(`${api}/auth`, user.username, user.password)
    t.match(loggedIn, { status: 200 }, 'logs in')
    const token = 'body' in loggedIn ? loggedIn.body.access_token as string : ''
    await client.login(`${api}/auth`, user.username, user.password)
    t.match(await client.call(`${api}/auth/users/me/`, bearer(token, { method: 'PATCH', headers: json, body: JSON.stringify({ full_name: 'Browser User' }) })),
      { status: 200, body: { full_name: 'Browser User' } }, 'PATCH /auth/users/me/')
    const sessions = await client.call(`${api}/auth/users/me/sessions`, bearer(token))
    t.match(sessions, { status: 200 }, 'lists its sessions')
    const other = 'body' in sessions ? (sessions.body as Array<{ id: string, current: boolean }>).find((session) => !session.current) : undefined
    t.ok(other, 'the second login among them')
    t.match(await client.call(`${api}/auth/users/me/sessions/${other?.id ?? ''}`, bearer(token, { method: 'DELETE' })), { status: 204 }, 'DELETE of a session')
    t.match(await client.call(`${api}/auth/users/me/`, bearer('not-a-token')), { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } },
      'a refused token: the 401 and its WWW-Authenticate are readable')
    t.same(corsMessages(log), [], 'no CORS complaint on the console')
  })

  t.test("with @fastify/cors's default methods, the same page cannot PATCH or DELETE: why the recipe names them", async (t) => {
    const { methods: _methods, ...defaults } = corsRecipe()
    const api = await serveHost(t, { ...defaults, origin: [pageOrigin] })
    const { log, client } = await openPage(t)
    const user = { username: 'browser-user', password: 'a-long-enough-password' }
    t.match(await client.call(`${api}/auth/users/`, { method: 'POST', headers: json, body: JSON.stringify(user) }), { status: 201 }, 'a POST passes')
    const loggedIn = await client.login(`${api}/auth`, user.username, user.password)
    const token = 'body' in loggedIn ? loggedIn.body.access_token as string : ''
    t.match(await client.call(`${api}/auth/users/me/`, bearer(token, { method: 'PATCH', headers: json, body: '{}' })), { error: /^TypeError/ }, 'a PATCH is refused')
    t.match(corsMessages(log), [/Method PATCH is not allowed/], 'the console says why')
  })

  for (const [what, corsOrigins] of refusals) {
    t.test(`${what}: the browser withholds every answer from the page`, async (t) => {
      const { app, api } = await serveApi(t, { corsOrigins })
      const token = await login(app, johndoe)
      const { log, client } = await openPage(t)
      t.match(await client.login(api, johndoe.username, johndoe.password), { error: /^TypeError: Failed to fetch/ }, 'the login: fetch rejects with a TypeError')
      t.match(await client.call(`${api}/users/me/`, bearer(token)), { error: /^TypeError: Failed to fetch/ },
        'GET /users/me/ with a valid token: fetch rejects too (its preflight is refused)')
      t.equal(corsMessages(log).length, 2, 'the console says CORS blocked both')
    })
  }
})
