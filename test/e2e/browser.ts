import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext } from 'playwright-core'
import tap from 'tap'

// What the browser tests share: Debian's Chromium (never a downloaded browser), the flags it
// needs as root on a machine without network, the bounds of every wait, and the rule that a
// missing Chromium skips the tests outside CI and fails them under CI.

export const CHROMIUM = '/usr/bin/chromium'
export const LAUNCH_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]
/** Bounds for every wait: a page load, and one UI step. */
export const LOAD_TIMEOUT = 10_000
export const STEP_TIMEOUT = 5_000

export const isCI = (process.env.CI ?? '') !== '' && process.env.CI !== 'false' && process.env.CI !== '0'

/** Why the browser tests cannot run here, or false when Chromium is installed. */
export const missingChromium: string | false = existsSync(CHROMIUM)
  ? false
  : `Chromium not found at ${CHROMIUM}: install Debian's chromium package (browsers are never downloaded)`

/** Debian's Chromium, headless, closed when the test ends. */
export async function launchChromium (t: { teardown: (fn: () => unknown) => void }): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS, timeout: LOAD_TIMEOUT })
  t.teardown(async () => await browser.close())
  return browser
}

let shared: Promise<Browser> | undefined
/** One Chromium for every test of a file that asks (each in a fresh context), closed when the file's tests end. */
export async function sharedChromium (): Promise<Browser> {
  shared ??= launchChromium(tap)
  return await shared
}

/** A fresh context (no shared auth state, cookies or cache) with the step and load bounds. */
export async function freshContext (browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext()
  context.setDefaultTimeout(STEP_TIMEOUT)
  context.setDefaultNavigationTimeout(LOAD_TIMEOUT)
  return context
}
