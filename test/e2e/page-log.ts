import type { Page } from 'playwright-core'

/** Everything a page did that a user (or their network admin) could notice. */
export interface PageLog {
  requests: string[]
  /** Requests the browser gave up on, with Chromium's reason ('csp' when the CSP blocked it). */
  failed: Array<{ url: string, error: string }>
  consoleErrors: string[]
  /** Console messages of any level that speak of the Content Security Policy. */
  cspMessages: string[]
  pageErrors: string[]
  /** securitypolicyviolation events: what the CSP blocked, and by which directive. */
  cspViolations: Array<{ blockedURI: string, directive: string }>
}

/** Starts recording a fresh page's log; call before its first navigation. */
export async function watch (page: Page): Promise<PageLog> {
  const log: PageLog = { requests: [], failed: [], consoleErrors: [], cspMessages: [], pageErrors: [], cspViolations: [] }
  page.on('request', (request) => { log.requests.push(request.url()) })
  page.on('requestfailed', (request) => {
    log.failed.push({ url: request.url(), error: request.failure()?.errorText ?? 'unknown' })
  })
  page.on('console', (message) => {
    if (message.type() === 'error') log.consoleErrors.push(message.text())
    if (/content.security.policy/i.test(message.text())) log.cspMessages.push(message.text())
  })
  page.on('pageerror', (error) => { log.pageErrors.push(error.message) })
  // Bindings and init scripts are injected over CDP, so the page's own CSP does not stop them.
  await page.exposeFunction('__reportCspViolation', (blockedURI: string, directive: string) => {
    log.cspViolations.push({ blockedURI, directive })
  })
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { __reportCspViolation: (uri: string, directive: string) => void }).__reportCspViolation
      report(event.blockedURI, event.effectiveDirective)
    })
  })
  return log
}
