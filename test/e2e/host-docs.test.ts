/**
 * A host's own Swagger UI (its @fastify/swagger registered before the plugin) in a real
 * Chromium: Authorize through the plugin's token route, then run the host's guarded operation.
 * And the plugin's own doc pages under a host's helmet.
 */
import type { AddressInfo } from 'node:net'
import fastifyHelmet from '@fastify/helmet'
import t from 'tap'
import type { Page } from 'playwright-core'
import tokenAuth from '../../src/index.js'
import { hostUser, newHost, pluginOptions, swaggerHost } from '../hosts/support.js'
import { freshContext, isCI, LOAD_TIMEOUT, missingChromium, sharedChromium, STEP_TIMEOUT } from './browser.js'
import { watch } from './page-log.js'
import { authorize, execute, operation as swaggerOperation, shows } from './swagger-ui.js'

if (missingChromium !== false && isCI) {
  t.fail(`${missingChromium}. The host docs e2e test cannot run in CI without it.`)
}

/** Swagger UI operation block, found by method and its data-path (the shown path has <wbr>s). */
const operation = (page: Page, method: string, path: string) =>
  page.locator(`.opblock.opblock-${method}:has(> .opblock-summary [data-path="${path}"])`)

t.test("the host's Swagger UI: Authorize with the plugin's password flow, then the host's guarded operation", { skip: missingChromium }, async (t) => {
  const host = await swaggerHost(t)
  await host.listen({ host: '127.0.0.1', port: 0 })
  const origin = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`

  const registered = await fetch(`${origin}/auth/users/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(hostUser)
  })
  t.equal(registered.status, 201, 'the user registers through POST /auth/users/')

  const context = await freshContext(await sharedChromium())
  t.teardown(async () => await context.close())
  const page = await context.newPage()
  const requests: string[] = []
  const pageErrors: string[] = []
  page.on('request', (request) => { requests.push(`${request.method()} ${request.url()}`) })
  page.on('pageerror', (error) => { pageErrors.push(error.message) })

  await page.goto(`${origin}/docs`)
  await page.locator('.opblock').first().waitFor({ timeout: LOAD_TIMEOUT })
  t.ok(await page.locator('.info .title', { hasText: 'Host API' }).isVisible(), "the host's title")

  const op = operation(page, 'get', '/api/private')
  t.equal(await op.count(), 1, 'one GET /api/private operation')
  t.equal(await op.locator('.authorization__btn').getAttribute('aria-label'), 'authorization button unlocked', 'it shows an open lock')
  t.equal(await operation(page, 'get', '/api/open').locator('.authorization__btn').count(), 0, 'the open host route shows no lock')

  await page.locator('.auth-wrapper button.authorize').click()
  const modal = page.locator('.modal-ux')
  await modal.getByLabel('username:', { exact: true }).fill(hostUser.username)
  await modal.getByLabel('password:', { exact: true }).fill(hostUser.password)
  const tokenResponse = page.waitForResponse((response) => response.url() === `${origin}/auth/token`, { timeout: STEP_TIMEOUT })
  await modal.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()
  t.equal((await tokenResponse).status(), 200, 'POST /auth/token answers 200')
  await modal.getByRole('heading', { name: 'Authorized' }).waitFor()
  t.notOk(await modal.locator('.errors').isVisible(), 'no auth error in the modal')
  await modal.getByRole('button', { name: 'Close', exact: true }).click()
  t.notOk(await modal.isVisible(), 'the dialog is closed')

  await op.locator('.opblock-summary-control').click()
  await page.waitForFunction((path) => document.querySelector(`.opblock-get:has([data-path="${path}"]) .authorization__btn`)?.getAttribute('aria-label') === 'authorization button locked',
    '/api/private', { timeout: STEP_TIMEOUT })
  t.equal(await op.locator('.authorization__btn').getAttribute('aria-label'), 'authorization button locked', 'the operation shows a closed lock')
  await op.getByRole('button', { name: 'Try it out' }).click()
  const sent = page.waitForRequest((request) => request.url() === `${origin}/api/private`, { timeout: STEP_TIMEOUT })
  await op.getByRole('button', { name: 'Execute' }).click()
  t.match((await sent).headers().authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, 'Execute sends the bearer token')
  const response = op.locator('.live-responses-table tr.response')
  await response.first().waitFor()
  t.equal((await response.locator('.response-col_status').innerText()).trim(), '200', 'status 200')
  t.same(JSON.parse(await response.locator('.highlight-code code').first().innerText()), { hello: hostUser.username }, 'the host greets the user')

  t.ok(requests.includes(`POST ${origin}/auth/token`), 'the network log shows POST /auth/token')
  t.same(requests.filter((request) => !request.includes(`${origin}/`)), [], 'nothing from another origin')
  t.same(pageErrors, [], 'no uncaught page errors')
})

t.test("the plugin's own pages under a host's strict helmet: Authorize, Execute, ReDoc, no CSP violation", { skip: missingChromium }, async (t) => {
  const host = newHost(t)
  const HOST_CSP = "default-src 'none';frame-ancestors 'none'"
  await host.register(fastifyHelmet, { contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } })
  await host.register(tokenAuth, pluginOptions({ docs: { redoc: true } }))
  await host.listen({ host: '127.0.0.1', port: 0 })
  const origin = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`
  const registered = await fetch(`${origin}/auth/users/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hostUser) })
  t.equal(registered.status, 201, 'the user registers')
  t.equal(registered.headers.get('content-security-policy'), HOST_CSP, "the plugin's API answers with the host's policy")

  const context = await freshContext(await sharedChromium())
  t.teardown(async () => await context.close())

  const page = await context.newPage()
  const log = await watch(page)
  const docs = await page.goto(`${origin}/auth/docs`)
  t.match(await docs?.headerValue('content-security-policy'), /^default-src 'self'; /, "/auth/docs replaces the host's policy with its own")
  t.equal(await docs?.headerValue('x-content-type-options'), 'nosniff', "the host's other helmet headers stay")
  await page.locator('.opblock').first().waitFor({ timeout: LOAD_TIMEOUT })
  const tokenResponse = page.waitForResponse((response) => response.url() === `${origin}/auth/token`, { timeout: STEP_TIMEOUT })
  const modal = await authorize(page, hostUser.username, hostUser.password)
  t.equal((await tokenResponse).status(), 200, 'POST /auth/token answers 200')
  t.ok(await shows(modal.getByRole('heading', { name: 'Authorized' })), 'the modal says Authorized')
  await modal.getByRole('button', { name: 'Close', exact: true }).click()
  const op = swaggerOperation(page, 'get', '/auth/users/me/')
  t.equal(await op.count(), 1, 'one GET /auth/users/me/ operation')
  const answer = await execute(op)
  t.ok(await shows(answer), 'a live response appears')
  t.equal((await answer.locator('.response-col_status').innerText()).trim(), '200', 'status 200')
  t.match(JSON.parse(await answer.locator('.highlight-code code').first().innerText()), { username: hostUser.username })
  t.same(log.cspViolations, [], 'no securitypolicyviolation events in Swagger UI')
  t.same(log.cspMessages, [], 'no console message about the CSP')
  t.same(log.pageErrors, [], 'no uncaught page errors')

  const redocPage = await context.newPage()
  const redocLog = await watch(redocPage)
  const redoc = await redocPage.goto(`${origin}/auth/redoc`)
  t.match(await redoc?.headerValue('content-security-policy'), /style-src 'self' 'nonce-/, '/auth/redoc sends its own policy')
  t.ok(await shows(redocPage.locator('h2', { hasText: 'The current user' }), LOAD_TIMEOUT), 'ReDoc renders the operations')
  await redocPage.waitForLoadState('networkidle', { timeout: LOAD_TIMEOUT })
  t.same(redocLog.cspViolations, [], 'no securitypolicyviolation events in ReDoc')
  t.same(redocLog.cspMessages, [], 'no console message about the CSP')
  t.same(redocLog.pageErrors, [], 'no uncaught page errors')
})
