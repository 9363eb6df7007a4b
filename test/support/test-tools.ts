import { spawnSync } from 'node:child_process'
import { existsSync, lstatSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { repoRoot } from './harness.js'

// The packages only the tests use (the OpenAPI linters and converter, the OAuth2 client
// libraries, Playwright) are test/tools/package.json's, not the repository's: a clone's
// `npm ci && npm start` does not fetch them. They are installed into test/tools/node_modules, and
// test/node_modules links there, so any file under test/ imports them as from its own node_modules.
// `npm test` installs them when they are missing or older than test/tools' lock;
// `npm run test:tools` does it alone.

export const TOOLS_DIR = join(repoRoot, 'test', 'tools')
const INSTALLED = join(TOOLS_DIR, 'node_modules', '.package-lock.json')
const LINK = join(repoRoot, 'test', 'node_modules')

/** Whether test/tools/node_modules was installed since test/tools/package.json and its lock last changed. */
export function testToolsCurrent (): boolean {
  if (!existsSync(INSTALLED)) return false
  const installedAt = statSync(INSTALLED).mtimeMs
  return ['package.json', 'package-lock.json'].every((file) => statSync(join(TOOLS_DIR, file)).mtimeMs <= installedAt)
}

/** Installs the test tools unless current (`npm ci`, no install scripts: none of them needs one), and links test/node_modules to them. */
export function ensureTestTools (): void {
  if (!testToolsCurrent()) {
    process.stdout.write('Installing the packages only the tests use (test/tools/package.json)\n')
    const result = spawnSync('npm', ['ci', '--prefix', TOOLS_DIR, '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: 'inherit' })
    if (result.status !== 0) throw new Error(`npm ci --prefix test/tools failed: ${result.status ?? result.signal ?? result.error?.message}`)
  }
  const link = lstatSync(LINK, { throwIfNoEntry: false })
  if (link?.isSymbolicLink() !== true) {
    rmSync(LINK, { recursive: true, force: true })
    symlinkSync(join('tools', 'node_modules'), LINK, 'dir')
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) ensureTestTools()
