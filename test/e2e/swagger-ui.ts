import type { Locator, Page } from 'playwright-core'
import { STEP_TIMEOUT } from './browser.js'

// Steps through Swagger UI as a user does: find an operation, Authorize, Try it out, Execute.

/** Waits, within a bound, for the locator to be visible: true if it showed up. */
export async function shows (locator: Locator, timeout = STEP_TIMEOUT): Promise<boolean> {
  try {
    await locator.first().waitFor({ state: 'visible', timeout })
    return true
  } catch {
    return false
  }
}

/** Swagger UI operation block, found by method and its data-path (the shown path has <wbr>s). */
export const operation = (page: Page, method: string, path: string) =>
  page.locator(`.opblock.opblock-${method}:has(> .opblock-summary [data-path="${path}"])`)

/** Opens the Authorize modal and submits the password flow form, with `scopes` ticked. */
export async function authorize (page: Page, username: string, password: string, scopes: string[] = []): Promise<Locator> {
  await page.locator('.auth-wrapper button.authorize').click()
  const modal = page.locator('.modal-ux')
  await modal.getByLabel('username:', { exact: true }).fill(username)
  await modal.getByLabel('password:', { exact: true }).fill(password)
  // Swagger UI's checkbox is styled away; its label is what a user clicks.
  for (const scope of scopes) await modal.locator(`label[for="${scope}-password-checkbox-OAuth2PasswordBearer"]`).click()
  await modal.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()
  return modal
}

/** Expands an operation, clicks Try it out and Execute, and returns its live response row. */
export async function execute (op: Locator): Promise<Locator> {
  await op.locator('.opblock-summary-control').click()
  await op.getByRole('button', { name: 'Try it out' }).click()
  await op.getByRole('button', { name: 'Execute' }).click()
  return op.locator('.live-responses-table tr.response')
}
