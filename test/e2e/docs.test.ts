/**
 * Real-browser checks of the documentation pages: Swagger UI at /docs and ReDoc at /redoc,
 * driven through Debian's Chromium with playwright-core (no browser download).
 *
 * Set DOCS_E2E_SCREENSHOT=/tmp/docs-e2e.png to save a full-page screenshot of /docs after
 * the Execute step.
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import type { Page } from 'playwright-core'
import { buildApp, createUser, johndoe, type TestContext } from '../helper.js'
import { freshContext, isCI, launchChromium, LOAD_TIMEOUT, missingChromium, STEP_TIMEOUT } from './browser.js'
import { watch, type PageLog } from './page-log.js'
import { authorize, execute, operation, shows } from './swagger-ui.js'

/** The operations that need a bearer token, each with a lock icon in Swagger UI. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
const PROTECTED_OPERATIONS = 25

if (missingChromium !== false && isCI) {
  t.fail(`${missingChromium}. The docs e2e tests cannot run in CI without it.`)
}

// The service's policy on JSON, and what the doc pages' own policies begin with.
const API_CSP = "default-src 'none';frame-ancestors 'none'"
const DOCS_CSP = /^default-src 'self'; /

/**
 * The lock icons of the operations, once all PROTECTED_OPERATIONS of them show `label`
 * (Swagger UI resolves the spec lazily, so they appear, and flip, a moment after the page).
 */
async function lockLabels (page: Page, label: string): Promise<Array<string | null>> {
  await page.waitForFunction(({ label, count }) =>
    document.querySelectorAll(`.opblock .authorization__btn[aria-label="${label}"]`).length === count,
  { label, count: PROTECTED_OPERATIONS }, { timeout: STEP_TIMEOUT }).catch(() => {})
  return await page.locator('.opblock .authorization__btn').evaluateAll((buttons) => buttons.map((b) => b.getAttribute('aria-label')))
}

t.test('documentation pages in a real browser', { skip: missingChromium }, async (t) => {
  const browser = await launchChromium(t)
  const app = await buildApp(t)
  await createUser(app, johndoe)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  /** A fresh browser context per test: no shared auth state, cookies or cache. */
  async function open (t: TestContext): Promise<{ page: Page, log: PageLog }> {
    const context = await freshContext(browser)
    t.teardown(async () => await context.close())
    const page = await context.newPage()
    return { page, log: await watch(page) }
  }

  async function openDocs (t: TestContext) {
    const opened = await open(t)
    const response = await opened.page.goto(`${origin}/docs`)
    await opened.page.locator('.opblock').first().waitFor({ timeout: LOAD_TIMEOUT })
    return { ...opened, response }
  }

  /** Nothing the page did broke its policy: no violation event, no CSP message on the console. */
  function noCspViolations (t: Test, log: PageLog, when: string) {
    t.same(log.cspViolations, [], `no securitypolicyviolation events ${when}`)
    t.same(log.cspMessages, [], `no console message about the CSP ${when}`)
  }

  t.test('Swagger UI: Authorize with the password flow, then Execute GET /users/me/, under the CSP', async (t) => {
    const { page, log, response: docs } = await openDocs(t)
    t.match(await docs?.headerValue('content-security-policy'), DOCS_CSP, '/docs is served with the Swagger UI policy')
    t.same(await lockLabels(page, 'authorization button unlocked'), Array(PROTECTED_OPERATIONS).fill('authorization button unlocked'),
      'before authorizing, every protected operation shows an open lock')

    const tokenResponse = page.waitForResponse((r) => r.url() === `${origin}/token`, { timeout: STEP_TIMEOUT })
    const modal = await authorize(page, johndoe.username, johndoe.password)
    t.ok(await shows(modal.getByRole('heading', { name: 'Authorized' })), 'the modal says Authorized')
    t.match(await modal.innerText(), /client_id and client_secret are not needed and can be left empty/, 'the dialog says what it needs')
    t.equal(await (await tokenResponse).headerValue('content-security-policy'), API_CSP, 'POST /token answers with the JSON policy')
    const { refresh_token: refreshToken } = await (await tokenResponse).json() as { refresh_token: string }
    t.ok(refreshToken.length >= 43, 'the login answered a refresh token')
    // Swagger UI keeps the tokens in memory only: the refresh token is on no page, in no storage.
    const stored = await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie]))
    t.notOk(stored.includes(refreshToken), 'not in localStorage, sessionStorage or a cookie')
    t.notOk((await page.content()).includes(refreshToken), 'not in the page')
    t.notOk((await page.context().cookies()).some((cookie) => cookie.value.includes(refreshToken)), 'not in any cookie of the context')
    t.ok(await shows(modal.getByRole('button', { name: 'Remove authorization' })), 'the modal offers Logout')
    t.notOk(await modal.locator('.errors').isVisible(), 'no auth error in the modal')
    await modal.getByRole('button', { name: 'Close', exact: true }).click()
    t.ok(await shows(page.locator('.auth-wrapper button.authorize.locked')), 'the top Authorize button shows a closed lock')
    t.notOk(await modal.isVisible(), 'the modal is closed')
    t.same(await lockLabels(page, 'authorization button locked'), Array(PROTECTED_OPERATIONS).fill('authorization button locked'),
      'every protected operation shows a closed lock')

    const op = operation(page, 'get', '/users/me/')
    t.equal(await op.count(), 1, 'one GET /users/me/ operation')
    const sent = page.waitForRequest((request) => request.url() === `${origin}/users/me/`, { timeout: STEP_TIMEOUT })
    const answered = page.waitForResponse((r) => r.url() === `${origin}/users/me/`, { timeout: STEP_TIMEOUT })
    const response = await execute(op)
    t.match((await sent).headers().authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, 'Execute sends the bearer token')
    t.equal(await (await answered).headerValue('content-security-policy'), API_CSP, 'GET /users/me/ answers with the JSON policy')
    t.ok(await shows(response), 'a live response appears')
    t.equal((await response.locator('.response-col_status').innerText()).trim(), '200', 'status 200')
    const body = JSON.parse(await response.locator('.highlight-code code').first().innerText())
    t.match(body, { username: johndoe.username, email: johndoe.email, email_verified: false, full_name: johndoe.fullName, disabled: false },
      'the body is the logged-in user')
    t.notOk('hashed_password' in body || 'password' in body, 'no password or hash in the body')
    t.notOk((await page.content()).includes(refreshToken), 'after Execute, still not in the page')

    if (process.env.DOCS_E2E_SCREENSHOT !== undefined && process.env.DOCS_E2E_SCREENSHOT !== '') {
      await page.screenshot({ path: process.env.DOCS_E2E_SCREENSHOT, fullPage: true })
    }
    noCspViolations(t, log, 'from the page load to the answer')
    t.same(log.consoleErrors, [], 'no console errors')
    t.same(log.pageErrors, [], 'no uncaught page errors')
  })

  t.test('Swagger UI: the Authorize dialog lists the scopes; only me ticked, the items routes answer 403', async (t) => {
    const { page } = await openDocs(t)
    await page.locator('.auth-wrapper button.authorize').click()
    const dialog = page.locator('.modal-ux')
    await dialog.locator('.scopes .checkbox label').first().waitFor({ timeout: STEP_TIMEOUT })
    const listed = await dialog.locator('.scopes .checkbox label').allInnerTexts()
    t.same(listed.map((text) => text.split('\n')[0]?.trim()), ['me', 'items', 'admin'], 'every scope has a checkbox, in order')
    t.match(await dialog.innerText(), /Read and change your own items/, 'with its description')
    await dialog.getByRole('button', { name: 'Close', exact: true }).click()

    const tokenRequest = page.waitForRequest((r) => r.url() === `${origin}/token`, { timeout: STEP_TIMEOUT })
    const modal = await authorize(page, johndoe.username, johndoe.password, ['me'])
    t.equal(new URLSearchParams((await tokenRequest).postData() ?? '').get('scope'), 'me', 'the token request asks for me')
    t.ok(await shows(modal.getByRole('heading', { name: 'Authorized' })), 'authorized')
    await modal.getByRole('button', { name: 'Close', exact: true }).click()

    const me = await execute(operation(page, 'get', '/users/me/'))
    t.ok(await shows(me), 'GET /users/me/ answers')
    t.equal((await me.locator('.response-col_status').innerText()).trim(), '200', 'GET /users/me/: 200')
    const items = await execute(operation(page, 'get', '/users/me/items/'))
    t.ok(await shows(items), 'GET /users/me/items/ answers')
    t.equal((await items.locator('.response-col_status').innerText()).trim(), '403', 'GET /users/me/items/: 403')
    t.same(JSON.parse(await items.locator('.highlight-code code').first().innerText()), { detail: 'Not enough permissions' }, 'the detail is shown')
  })

  t.test('Swagger UI: Authorize with nothing ticked gets the default scopes', async (t) => {
    const { page } = await openDocs(t)
    const tokenResponse = page.waitForResponse((r) => r.url() === `${origin}/token`, { timeout: STEP_TIMEOUT })
    const modal = await authorize(page, johndoe.username, johndoe.password)
    const answer = await (await tokenResponse).json() as { scope: string }
    t.equal(answer.scope, 'me items', 'every scope but admin')
    t.ok(await shows(modal.getByRole('heading', { name: 'Authorized' })), 'authorized')
    await modal.getByRole('button', { name: 'Close', exact: true }).click()
    const items = await execute(operation(page, 'get', '/users/me/items/'))
    t.ok(await shows(items), 'GET /users/me/items/ answers')
    t.equal((await items.locator('.response-col_status').innerText()).trim(), '200', 'GET /users/me/items/: 200')
  })

  t.test('Swagger UI: a wrong password shows an auth error and does not authorize', async (t) => {
    const { page, log } = await openDocs(t)
    const tokenResponse = page.waitForResponse((r) => r.url() === `${origin}/token`, { timeout: STEP_TIMEOUT })
    const modal = await authorize(page, johndoe.username, 'not-the-password')
    t.equal((await tokenResponse).status(), 401, 'POST /token answers 401')
    const error = modal.locator('.errors')
    t.ok(await shows(error), 'the modal shows an error')
    const errorText = await error.innerText()
    t.match(errorText, /auth error/i, 'it is an auth error')
    t.match(errorText, /Incorrect username or password/, 'it carries the server\'s description')
    t.notOk(await modal.getByRole('heading', { name: 'Authorized' }).isVisible(), 'the modal does not say Authorized')
    t.ok(await modal.getByRole('button', { name: 'Apply given OAuth2 credentials' }).isVisible(), 'Authorize is still offered')

    await modal.getByRole('button', { name: 'Close', exact: true }).click()
    t.ok(await page.locator('.auth-wrapper button.authorize.unlocked').isVisible(), 'the top Authorize button still shows an open lock')
    t.same(await lockLabels(page, 'authorization button unlocked'), Array(PROTECTED_OPERATIONS).fill('authorization button unlocked'),
      'every protected operation still shows an open lock')

    const sent = page.waitForRequest((request) => request.url() === `${origin}/users/me/`, { timeout: STEP_TIMEOUT })
    const response = await execute(operation(page, 'get', '/users/me/'))
    t.equal((await sent).headers().authorization, undefined, 'Execute sends no Authorization header')
    t.ok(await shows(response), 'a live response appears')
    t.equal((await response.locator('.response-col_status').innerText()).trim(), '401', 'GET /users/me/ is 401')
    t.match(await response.locator('.highlight-code code').first().innerText(), /Not authenticated/, 'body says Not authenticated')
    noCspViolations(t, log, 'during the refused flow')
    t.same(log.pageErrors, [], 'no uncaught page errors')
  })

  t.test('ReDoc renders the API title and every operation, under its nonce-based CSP', async (t) => {
    const { page, log } = await open(t)
    const response = await page.goto(`${origin}/redoc`)
    const policy = await response?.headerValue('content-security-policy')
    t.match(policy, DOCS_CSP, '/redoc is served with its own policy')
    t.match(policy, /style-src 'self' 'nonce-[A-Za-z0-9+/=]+'/, 'its styles allowed by nonce')
    t.notMatch(policy, /unsafe-inline|unsafe-eval/, 'no unsafe-inline, no unsafe-eval')
    const title = page.locator('h1', { hasText: 'Token authentication API' })
    t.ok(await shows(title, LOAD_TIMEOUT), 'the API title is shown')
    t.match(await title.innerText(), `Token authentication API (${VERSION})`, "with the package's version")
    // ReDoc has no Authorize button: the description says how to log in, and shows the scheme.
    const text = await page.locator('body').innerText()
    t.match(text, /In ReDoc \(\/redoc\), which has no Authorize button, .* get a token from the token endpoint, POST \/token/)
    t.match(text, /OAuth2PasswordBearer\s+OAuth2 password flow[\s\S]*client_id and client_secret are not needed[\s\S]*Token URL: \/token/, 'and the OAuth2 scheme')
    const operations = [
      'Log in, or refresh (OAuth2 token endpoint)', 'The current user', 'Register a new user', 'Log out', 'Revoke a token (RFC 7009)',
      'List my items', 'Create an item', 'Get one of my items', 'Delete one of my items'
    ]
    // ReDoc renders each operation as an <h2> (after an empty permalink anchor) in the middle panel.
    t.ok(await shows(page.locator('h2', { hasText: operations.at(-1) })), 'the operations are rendered')
    const headings = (await page.locator('h2').allInnerTexts()).map((text) => text.trim())
    for (const name of operations) t.ok(headings.includes(name), `operation "${name}" is shown`)
    // ReDoc's styles are <style> elements it inserts: blocked, they would hold no rules.
    const rules = await page.evaluate(() => [...document.querySelectorAll('style')].reduce((sum, style) => sum + (style.sheet?.cssRules.length ?? 0), 0))
    t.ok(rules > 100, `its inserted styles apply (${rules} rules)`)
    // The search box asks the index, which runs in a blob: worker.
    await page.getByPlaceholder('Search...').fill('revoke')
    t.ok(await shows(page.locator('[data-role="search:results"] [role="menuitem"]', { hasText: 'Revoke a token (RFC 7009)' })), 'search finds an operation')
    noCspViolations(t, log, 'while it renders and searches')
    t.same(log.pageErrors, [], 'no uncaught page errors')
  })

  for (const { path, ready } of [
    { path: '/docs', ready: '.opblock' },
    { path: '/redoc', ready: 'h2' }
  ]) {
    t.test(`${path} loads nothing from another origin and breaks no CSP rule`, async (t) => {
      const { page, log } = await open(t)
      const response = await page.goto(`${origin}${path}`)
      t.equal(response?.status(), 200, `${path} answers 200`)
      t.match(response?.headers()['content-security-policy'], DOCS_CSP, 'the page is served with the docs CSP')
      await page.locator(ready).first().waitFor({ timeout: LOAD_TIMEOUT })
      // Let late requests (spec, fonts, workers, images) happen before judging them.
      await page.waitForLoadState('networkidle', { timeout: LOAD_TIMEOUT })

      t.ok(log.requests.includes(`${origin}${path}`), 'the recorder saw the page itself')
      const foreign = log.requests.filter((url) => !url.startsWith(`${origin}/`) && !/^(data|blob):/.test(url))
      t.same(foreign, [], 'the page asks nothing of another origin (ReDoc\'s CDN logo included)')
      noCspViolations(t, log, 'while it loads')
      t.same(log.consoleErrors, [], 'no console errors (CSP, missing favicon or otherwise)')
      t.same(log.pageErrors, [], 'no uncaught page errors')
    })
  }
})
